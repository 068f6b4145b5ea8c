/// The GPT-2 byte-to-unicode mapping used by every byte-level BPE vocabulary.
///
/// Byte-level BPE vocabularies (GPT-2, SmolLM, Llama-3, Qwen) store each token as a string of
/// printable characters, one character per byte of the token's UTF-8 text. The 188 bytes that
/// are printable Latin-1 characters (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to themselves; the other 68
/// bytes (controls, space, DEL, NBSP, soft hyphen) map, in increasing byte order, to U+0100,
/// U+0101, … So byte 0x20 (space) is `Ġ` (U+0120) and byte 0x0A (newline) is `Ċ` (U+010A).
///
/// The tokenizer never builds these strings while encoding: it decodes each vocabulary entry
/// back to raw bytes once, at load time, and then works on bytes only.
public enum ByteLevel {
    /// `characterForByte[b]` is the Unicode scalar that stands for byte `b` in a vocabulary.
    public static let characterForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
                || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `characterForByte`: scalar value → byte, for scalar values below 0x144.
    static let byteForCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in characterForByte.enumerated() {
            table[Int(scalar.value)] = Int16(byte)
        }
        return table
    }()

    /// Encodes raw bytes as a byte-level vocabulary string (`"hi there"` → `"hiĠthere"`).
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(characterForByte[Int(byte)]) }
        return String(scalars)
    }

    /// Decodes a byte-level vocabulary string to raw bytes, or returns nil when the string
    /// contains a character outside the 256-character byte alphabet (an added token such as
    /// `<|im_start|>` is made of alphabet characters; a token like `▁hello` is not).
    public static func decode(_ token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForCharacter.count, byteForCharacter[value] >= 0 else { return nil }
            bytes.append(UInt8(byteForCharacter[value]))
        }
        return bytes
    }
}
