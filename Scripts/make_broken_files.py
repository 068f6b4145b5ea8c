#!/usr/bin/env python3
"""Writes the broken-file corpus Fixtures/formats/broken/*.gguf and *.safetensors plus
manifest.json, which maps each file name to the FormatError case name Touchstone must throw.

Each file is a small valid file with exactly one defect. Usage: python3 Scripts/make_broken_files.py
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "formats", "broken")
manifest = {}


def emit(name, data, expected):
    with open(os.path.join(ROOT, name), "wb") as f:
        f.write(data)
    manifest[name] = expected


# ---- GGUF -------------------------------------------------------------------------------------
U8, U32, STRING, ARRAY = 0, 4, 8, 9
F32, F16, Q4_0 = 0, 1, 2


def gstr(text):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload


def tinfo(name, dims, ttype=F32, offset=0):
    return (gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            + struct.pack("<IQ", ttype, offset))


def gguf(kvs, infos, data, version=3, n_tensors=None, n_kv=None, align=32):
    head = b"GGUF" + struct.pack("<IQQ", version, len(infos) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % align)
    return head + data


ARCH = kv("general.architecture", STRING, gstr("llama"))
W = tinfo("w", [4, 2])
DATA = struct.pack("<8f", *range(8))

valid = gguf([ARCH], [W], DATA)
emit("gguf_empty.gguf", b"", "truncated")
emit("gguf_truncated_header.gguf", valid[:10], "truncated")
emit("gguf_truncated_metadata.gguf", valid[:40], "truncated")
emit("gguf_truncated_tensor_info.gguf", valid[:24 + len(ARCH) + 10], "truncated")
emit("gguf_wrong_magic.gguf", b"GGML" + valid[4:], "badMagic")
emit("gguf_version_1.gguf", gguf([ARCH], [W], DATA, version=1), "unsupportedVersion")
emit("gguf_version_99.gguf", gguf([ARCH], [W], DATA, version=99), "unsupportedVersion")
emit("gguf_absurd_tensor_count.gguf", gguf([ARCH], [W], DATA, n_tensors=2**62), "absurdCount")
emit("gguf_absurd_metadata_count.gguf", gguf([ARCH], [W], DATA, n_kv=2**62), "absurdCount")
emit("gguf_absurd_string_length.gguf",
     gguf([struct.pack("<Q", 2**63) + b"general.architecture" + struct.pack("<I", STRING) + gstr("llama")], [W], DATA),
     "absurdLength")
emit("gguf_absurd_value_string_length.gguf",
     gguf([gstr("general.name") + struct.pack("<I", STRING) + struct.pack("<Q", 2**40) + b"x"], [W], DATA),
     "absurdLength")
emit("gguf_absurd_array_length.gguf",
     gguf([kv("tokenizer.ggml.tokens", ARRAY, struct.pack("<IQ", U32, 2**62) + b"\0" * 8)], [W], DATA),
     "absurdCount")
nested = struct.pack("<IQ", ARRAY, 1) * 9 + struct.pack("<IQ", U8, 0)
emit("gguf_nested_arrays_too_deep.gguf", gguf([kv("deep", ARRAY, nested)], [W], DATA), "nestingTooDeep")
emit("gguf_unknown_value_type.gguf", gguf([kv("k", 13, b"\0" * 8)], [W], DATA), "unknownValueType")
emit("gguf_unknown_array_element_type.gguf", gguf([kv("k", ARRAY, struct.pack("<IQ", 77, 1) + b"\0" * 8)], [W], DATA),
     "unknownValueType")
emit("gguf_duplicate_metadata_key.gguf", gguf([ARCH, ARCH], [W], DATA), "duplicateKey")
emit("gguf_invalid_utf8_key.gguf", gguf([kv(b"general.\xff\xfe", U32, struct.pack("<I", 1))], [W], DATA), "invalidUTF8")
emit("gguf_invalid_utf8_string_value.gguf", gguf([kv("general.name", STRING, gstr(b"\xc3\x28"))], [W], DATA), "invalidUTF8")
emit("gguf_invalid_utf8_tensor_name.gguf", gguf([ARCH], [tinfo(b"w\xed\xa0\x80", [4, 2])], DATA), "invalidUTF8")
emit("gguf_bad_alignment.gguf", gguf([kv("general.alignment", U32, struct.pack("<I", 3))], [W], DATA), "invalidAlignment")
emit("gguf_tensor_offset_past_end.gguf", gguf([ARCH], [tinfo("w", [4, 2], offset=4096)], DATA), "offsetOutOfBounds")
emit("gguf_tensor_offset_huge.gguf", gguf([ARCH], [tinfo("w", [4, 2], offset=2**64 - 32)], DATA), "offsetOutOfBounds")
emit("gguf_misaligned_tensor_offset.gguf", gguf([ARCH], [tinfo("w", [4, 2], offset=4)], DATA + b"\0" * 32), "misaligned")
emit("gguf_unknown_ggml_type.gguf", gguf([ARCH], [tinfo("w", [4, 2], ttype=99)], DATA), "unknownType")
emit("gguf_tensor_data_past_end.gguf", gguf([ARCH], [tinfo("w", [4, 100])], DATA), "truncated")
emit("gguf_zero_dimension.gguf", gguf([ARCH], [tinfo("w", [4, 0])], DATA), "invalidShape")
emit("gguf_no_dimensions.gguf", gguf([ARCH], [tinfo("w", [])], DATA), "invalidShape")
emit("gguf_too_many_dimensions.gguf", gguf([ARCH], [tinfo("w", [1, 1, 1, 1, 8])], DATA), "invalidShape")
emit("gguf_absurd_dimension_count.gguf",
     gguf([ARCH], [gstr("w") + struct.pack("<I", 2**31)], b""), "invalidShape")
emit("gguf_shape_overflow.gguf", gguf([ARCH], [tinfo("w", [2**40, 2**40])], DATA), "invalidShape")
emit("gguf_block_size_mismatch.gguf", gguf([ARCH], [tinfo("w", [31], ttype=Q4_0)], DATA), "invalidShape")
emit("gguf_duplicate_tensor_name.gguf",
     gguf([ARCH], [tinfo("w", [4, 2]), tinfo("w", [4, 2], offset=32)], DATA + DATA), "duplicateName")

# ---- safetensors ------------------------------------------------------------------------------


def st(header, data, length=None):
    raw = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((-len(raw)) % 8)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


D8 = struct.pack("<2f", 1.0, 2.0)
emit("st_too_short.safetensors", b"\x10\0\0", "truncated")
emit("st_header_length_exceeds_file.safetensors", st({"a": entry("F32", [2], 0, 8)}, D8, length=1000), "truncated")
emit("st_header_length_huge.safetensors", st({"a": entry("F32", [2], 0, 8)}, D8, length=2**63), "truncated")
emit("st_invalid_json.safetensors", st(b'{"a": {"dtype": "F32", ', D8), "invalidJSON")
emit("st_not_an_object.safetensors", st(b"[1, 2, 3]", D8), "invalidJSON")
emit("st_invalid_utf8_header.safetensors", st(b'{"\xff": 1}', D8), "invalidUTF8")
emit("st_overlapping_offsets.safetensors",
     st({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, D8 + b"\0" * 4), "overlappingData")
emit("st_gap_between_tensors.safetensors",
     st({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 12, 20)}, D8 + b"\0" * 12), "overlappingData")
emit("st_shape_size_mismatch.safetensors", st({"a": entry("F32", [3], 0, 8)}, D8), "sizeMismatch")
emit("st_unknown_dtype.safetensors", st({"a": entry("Q9", [2], 0, 8)}, D8), "unsupportedDType")
emit("st_unsupported_dtype_i64.safetensors", st({"a": entry("I64", [1], 0, 8)}, D8), "unsupportedDType")
emit("st_offsets_past_end.safetensors", st({"a": entry("F32", [4], 0, 16)}, D8), "truncated")
emit("st_begin_after_end.safetensors", st({"a": entry("F32", [2], 8, 0)}, D8), "invalidHeader")
emit("st_trailing_bytes.safetensors", st({"a": entry("F32", [2], 0, 8)}, D8 + b"\0" * 8), "invalidHeader")
emit("st_missing_data_offsets.safetensors", st({"a": {"dtype": "F32", "shape": [2]}}, D8), "invalidHeader")
emit("st_negative_shape.safetensors", st({"a": entry("F32", [-2], 0, 8)}, D8), "invalidHeader")
emit("st_fractional_offset.safetensors", st(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}', D8), "invalidHeader")
emit("st_metadata_not_strings.safetensors",
     st({"__metadata__": {"format": 1}, "a": entry("F32", [2], 0, 8)}, D8), "invalidHeader")
emit("st_shape_overflow.safetensors", st({"a": entry("F32", [2**32, 2**32, 2**32], 0, 8)}, D8), "invalidShape")

with open(os.path.join(ROOT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"wrote {len(manifest)} broken files")
