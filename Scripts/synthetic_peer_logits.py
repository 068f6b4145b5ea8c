#!/usr/bin/env python3
"""Peer logits for Touchstone's synthetic models (Fixtures/models/<name>/).

Loads each model directory with Hugging Face transformers in Float32, runs fixed prompts, and
writes Fixtures/models/<name>/peer-logits.json:

    {"schema": 1, "model": <name>, "transformers": ..., "torch": ...,
     "prompts": [{"ids": [...], "logit_positions": [...], "logits": [[V floats] per listed position],
                  "greedy": [20 ids from generate(do_sample=False)]}, ...]}

Short prompts list every position; the long prompt (100 tokens, RoPE far from 0) lists only its
last two positions to keep the file small.

Logits are written with 9 significant digits (enough to round-trip Float32). The synthetic
models carry no tokenizer and no EOS id, so generation never stops early (the LlamaConfig
defaults bos=1 / eos=2 are cleared). Development tool only: `swift test` never runs Python.

Usage: python3 Scripts/synthetic_peer_logits.py [names or directories...]   (default: tiny-a tiny-b)
Prompt ids are taken modulo the model's vocabulary size (a no-op for tiny-a and tiny-b).
"""
import json
import os
import sys

import torch
import transformers
from transformers import LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "models")
GREEDY_TOKENS = 20

# Fixed prompts per model (ids below the smallest vocabulary, 384).
PROMPTS = [
    [7],
    [1, 45, 300, 2, 99, 383],
    [17, 250, 3, 3, 3, 121, 64, 0, 377, 200, 5, 42, 311, 96, 128, 255],
    [(37 * i + 11) % 384 for i in range(100)],
]


def round9(x):
    return float(f"{x:.9g}")


def run(name):
    directory = name if os.path.isdir(name) else os.path.join(ROOT, name)
    model = LlamaForCausalLM.from_pretrained(directory, torch_dtype=torch.float32)
    model.eval()
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    model.generation_config.pad_token_id = 0
    results = []
    for ids in PROMPTS:
        ids = [i % model.config.vocab_size for i in ids]
        input_ids = torch.tensor([ids], dtype=torch.long)
        with torch.no_grad():
            logits = model(input_ids).logits[0]  # [T, V]
            generated = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                       max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS)
        greedy = generated[0, len(ids):].tolist()
        assert len(greedy) == GREEDY_TOKENS, greedy
        positions = list(range(len(ids))) if len(ids) <= 16 else [len(ids) - 2, len(ids) - 1]
        results.append({
            "ids": ids,
            "logit_positions": positions,
            "logits": [[round9(v) for v in logits[t].tolist()] for t in positions],
            "greedy": greedy,
        })
    document = {
        "schema": 1,
        "model": os.path.basename(os.path.normpath(directory)),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "prompts": results,
    }
    path = os.path.join(directory, "peer-logits.json")
    with open(path, "w") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    for name in sys.argv[1:] or ["tiny-a", "tiny-b"]:
        run(name)
