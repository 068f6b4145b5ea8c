#!/usr/bin/env python3
"""Writes Fixtures/tokenizer/peer-scalar-classes.json: for every Unicode scalar, which of the
classes \\p{L}, \\p{N}, \\s the peer's regex engine (Oniguruma inside Hugging Face `tokenizers`)
assigns, as ranges [first, last, bits] with bit 1 = \\p{L}, bit 2 = \\p{N}, bit 3 = \\s
(scalars in no class are omitted). The Swift pre-tokenizer is tested against it exhaustively.

Method: `pre_tokenizers.Split(Regex(p), behavior="removed")` over chunks of all scalars; a
scalar the pattern matched is absent from the returned pieces (offsets are in characters).
"""
import json
import os

import tokenizers
from tokenizers import Regex, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fixtures", "tokenizer", "peer-scalar-classes.json")


def matched(pattern, cps):
    text = "".join(chr(c) for c in cps)
    covered = [False] * len(cps)
    for _, (a, b) in pre_tokenizers.Split(Regex(pattern), behavior="removed").pre_tokenize_str(text):
        for i in range(a, b):
            covered[i] = True
    return [not c for c in covered]


def main():
    cps = [c for c in range(0x110000) if not (0xD800 <= c <= 0xDFFF)]
    classes = {}
    for pattern, bit in [(r"\p{L}", 1), (r"\p{N}", 2), (r"\s", 3)]:
        for start in range(0, len(cps), 50000):
            chunk = cps[start:start + 50000]
            for c, hit in zip(chunk, matched(pattern, chunk)):
                if hit:
                    classes[c] = classes.get(c, 0) | (1 << bit)
    ranges = []
    for c in sorted(classes):
        if ranges and ranges[-1][1] == c - 1 and ranges[-1][2] == classes[c]:
            ranges[-1][1] = c
        else:
            ranges.append([c, c, classes[c]])
    with open(OUT, "w") as f:
        json.dump({"tokenizers": tokenizers.__version__, "bits": {"letter": 2, "number": 4, "whitespace": 8},
                   "ranges": ranges}, f, separators=(",", ":"))
        f.write("\n")
    print(len(ranges), "ranges →", OUT)


if __name__ == "__main__":
    main()
