#!/usr/bin/env python3
"""Writes Fixtures/formats/safetensors/reference.safetensors with the reference `safetensors`
library (torch backend, for BF16), so tests can check that Touchstone's SafetensorsWriter writes
byte-identical single-dtype files and SafetensorsFile reads them. (For mixed dtypes the
reference orders data by dtype, widest first, then name; Touchstone orders by name only.)

Tensor `name` with shape S holds `np.arange(n, dtype=float32) * float32(0.1) - float32(k)`
(k = 3 for every tensor), narrowed to the tensor's dtype with round-to-nearest-even.

Usage: python3 Scripts/make_safetensors_fixtures.py   (needs numpy, torch, safetensors)
"""
import os
import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "formats", "safetensors")

SPECS = [("a.f32", torch.float32, [7, 13]), ("b.f16", torch.float16, [1]),
         ("c.bf16", torch.bfloat16, [31, 5]), ("Z.upper", torch.float32, [3]),
         ("model.layers.0.weight", torch.float16, [2, 3, 4])]


def values(n):
    return np.arange(n, dtype=np.float32) * np.float32(0.1) - np.float32(3)


def main():
    os.makedirs(ROOT, exist_ok=True)
    tensors = {}
    for name, dtype, shape in SPECS:
        n = int(np.prod(shape))
        tensors[name] = torch.from_numpy(values(n).reshape(shape)).to(dtype).contiguous()
    save_file(tensors, os.path.join(ROOT, "reference.safetensors"), metadata={"format": "pt", "note": "touchstone \"q\""})
    # A single-dtype file: Touchstone's writer must reproduce it byte for byte.
    same = {name: torch.from_numpy(values(int(np.prod(shape))).reshape(shape)).contiguous()
            for name, _, shape in SPECS}
    save_file(same, os.path.join(ROOT, "reference_f32.safetensors"), metadata={"format": "pt"})
    print("wrote reference.safetensors, reference_f32.safetensors")


if __name__ == "__main__":
    main()
