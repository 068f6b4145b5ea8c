import Foundation
import Formats
import Tensors
import Tokenization

/// `touchstone bench --tokenizer`: single-thread encode throughput on a file's texts or on a
/// generated corpus.
public enum TokenizerBenchmark {
    /// The texts of `path`: a JSON array of strings as given, otherwise the file's UTF-8 text cut
    /// into paragraphs (`paragraphs(of:)`), so that for plain text the texts' UTF-8 bytes,
    /// concatenated, are exactly the file's bytes (a byte-order mark included).
    public static func texts(contentsOfFile path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchmarkError.textFileUnreadable(path: path) }
        if let array = try? JSONSerialization.jsonObject(with: data) as? [String] { return array }
        guard let text = String(validating: data, as: UTF8.self) else { throw BenchmarkError.textFileNotText(path: path) }
        return paragraphs(of: text)
    }

    /// `text` cut after every `\n\n` (scanning left to right; the separator stays at the end of
    /// the paragraph it closes), so the pieces concatenate to `text` byte for byte. No piece is
    /// empty; an empty text gives no pieces. O(bytes).
    public static func paragraphs(of text: String) -> [String] {
        let bytes = Array(text.utf8)
        var pieces: [String] = []
        var start = 0
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") && bytes[i + 1] == UInt8(ascii: "\n") {
                // A cut after an ASCII byte is a scalar boundary: the piece is valid UTF-8.
                pieces.append(String(decoding: bytes[start..<(i + 2)], as: UTF8.self))
                start = i + 2
                i = start
            } else {
                i += 1
            }
        }
        if start < bytes.count { pieces.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return pieces
    }

    /// A deterministic mixed prose/code corpus of at least `bytes` UTF-8 bytes (whole documents
    /// of 400 words from a fixed seed; the last may overshoot), used when no file is given.
    public static func syntheticCorpus(bytes: Int) -> [String] {
        var rng = Xoshiro256StarStar(seed: 2024)
        let words = "the of and to in is that for it as was with be by on not this are or from at which have an they you were one all we their has been would when who will more if out so what up about into than them can only other new some could time these two may then do first any like over even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might great old year off come since against go came right used take three".split(separator: " ")
        let code = ["func", "let", "var", "return", "if", "else", "for", "while", "{", "}", "(", ")", "=", "==", "+=", "->", "[i]", "self.", "0x1F", "42", "3.14159", "// comment", "\"string\"", "\n    ", "\n\t", "import", "struct", "class"]
        let other = ["Über", "déjà", "naïve", "Москва", "東京", "서울", "مرحبا", "😀", "👩‍💻", "1234567", "2026-11-27", "e.g.", "—", "’s", "I'll", "DON'T"]
        var docs: [String] = []
        var total = 0
        while total < bytes {
            var doc = ""
            for _ in 0..<400 {
                let r = rng.next() % 100
                if r < 70 { doc += String(words[Int(rng.next() % UInt64(words.count))]) }
                else if r < 90 { doc += code[Int(rng.next() % UInt64(code.count))] }
                else { doc += other[Int(rng.next() % UInt64(other.count))] }
                doc += rng.next() % 10 == 0 ? ". " : " "
            }
            total += doc.utf8.count
            docs.append(doc)
        }
        return docs
    }

    /// Encodes `texts` on the calling thread, cold then `warmPasses` times warm
    /// (`BPETokenizer.measureEncodeThroughput`).
    public static func run(tokenizer: any Tokenizer, texts: [String], warmPasses: Int = 3) -> TokenizerBenchmarkReport {
        TokenizerBenchmarkReport(throughput: tokenizer.measureEncodeThroughput(texts: texts, warmPasses: warmPasses))
    }
}

/// What `TokenizerBenchmark.run` measured.
public struct TokenizerBenchmarkReport: Sendable {
    public var throughput: EncodeThroughput

    /// `{"bytes", "tokens", "cold_mb_per_second", "warm_mb_per_second"}`.
    public func json() -> JSONValue {
        .object([("bytes", .int(throughput.bytes)), ("tokens", .int(throughput.tokens)),
                 ("cold_mb_per_second", .double(throughput.coldMegabytesPerSecond)),
                 ("warm_mb_per_second", .double(throughput.warmMegabytesPerSecond))])
    }

    /// `encoded B bytes → T tokens: X MB/s first pass, Y MB/s best later pass (1 thread)`.
    public func line() -> String {
        String(format: "encoded %d bytes → %d tokens: %.1f MB/s first pass, %.1f MB/s best later pass (1 thread)",
               throughput.bytes, throughput.tokens, throughput.coldMegabytesPerSecond, throughput.warmMegabytesPerSecond)
    }
}
