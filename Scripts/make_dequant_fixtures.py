#!/usr/bin/env python3
"""Writes Fixtures/formats/dequant/<TYPE>.blocks and <TYPE>.f32 for Touchstone's Formats tests.

Each .blocks file holds 16 random blocks of one ggml type (seeded numpy RNG); the .f32 file holds
gguf-py's dequantization of them as little-endian float32 (the expected output, compared bit for
bit). Random bytes fill the quant fields; binary16 scale fields are redrawn as finite values in a
sane range, and the last blocks use special scales: zero, subnormal, negative zero, and large.

Usage: python3 Scripts/make_dequant_fixtures.py   (needs `pip install gguf numpy`)
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "formats", "dequant")
BLOCKS = 16

# Byte offsets of binary16 scale fields inside one block.
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
SPECIAL_SCALES = [0.0, 2.0 ** -24, 3 * 2.0 ** -20, -0.0, 60000.0, -1.5e-5]


def random_half(rng, n):
    # Finite binary16 values, magnitude roughly 1e-4 ... 4, either sign.
    mag = np.exp(rng.uniform(np.log(1e-4), np.log(4.0), size=n))
    sign = rng.choice([-1.0, 1.0], size=n)
    return (mag * sign).astype(np.float16)


def make(qtype, rng):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(BLOCKS, type_size), dtype=np.uint8)
    if qtype == T.F32:
        vals = rng.standard_normal(BLOCKS * 8).astype(np.float32)
        special = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-40, 3.4e38, 1.0], dtype=np.float32)
        raw = np.concatenate([vals, special]).view(np.uint8)
        blocks = raw.reshape(-1, 4)
    elif qtype in (T.F16, T.BF16):
        # Random bits with NaNs replaced by finite values, plus specials (zeros, subnormals, max,
        # infinities, and a few NaNs whose payload must be kept bit for bit).
        bits = rng.integers(0, 65536, size=BLOCKS * 16, dtype=np.uint16)
        if qtype == T.F16:
            nan = (bits & 0x7C00) == 0x7C00
        else:
            nan = ((bits & 0x7F80) == 0x7F80) & ((bits & 0x7F) != 0)
        bits[nan] &= 0x83FF if qtype == T.F16 else 0x807F
        special = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x3C00, 0x7C01, 0x7E00, 0xFE01, 0x7D55]
                           if qtype == T.F16 else
                           [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x7F7F, 0x7F80, 0xFF80, 0x3F80, 0xC000, 0x7FC0, 0x7F81, 0xFFC1, 0x7FAA],
                           dtype=np.uint16)
        blocks = np.concatenate([bits, special]).view(np.uint8).reshape(-1, 2)
    else:
        for i, off in enumerate(SCALE_FIELDS[qtype]):
            halves = random_half(rng, BLOCKS)
            # Special blocks at the end: field i of block BLOCKS-1-k gets SPECIAL_SCALES[(k + i) % n].
            for k in range(4):
                halves[BLOCKS - 1 - k] = np.float16(SPECIAL_SCALES[(k + i) % len(SPECIAL_SCALES)])
            raw[:, off:off + 2] = halves.view(np.uint8).reshape(BLOCKS, 2)
        blocks = raw
    data = np.ascontiguousarray(blocks).reshape(-1)
    out = dequantize(data, qtype).astype(np.float32, copy=False).reshape(-1)
    assert out.size * type_size == data.size * block_size, qtype.name
    return data.tobytes(), out.astype("<f4").tobytes()


def main():
    os.makedirs(ROOT, exist_ok=True)
    types = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
             T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
    for qtype in types:
        rng = np.random.default_rng(20240601 + int(qtype))
        blocks, expected = make(qtype, rng)
        with open(os.path.join(ROOT, f"{qtype.name}.blocks"), "wb") as f:
            f.write(blocks)
        with open(os.path.join(ROOT, f"{qtype.name}.f32"), "wb") as f:
            f.write(expected)
        print(f"{qtype.name}: {len(blocks)} bytes -> {len(expected) // 4} floats")


if __name__ == "__main__":
    main()
