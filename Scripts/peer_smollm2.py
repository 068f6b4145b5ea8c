#!/usr/bin/env python3
"""Reference fixtures for SmolLM2-135M-Instruct from the independent peer.

Hugging Face transformers (PyTorch, Float32) loads the same Q4_1 GGUF with `gguf_file=`
(dequantized to Float32) and produces, for each prompt of ours:
  * the logits of every prompt position -> Fixtures/peer/smollm2/logits-<i>.f32
    (little-endian float32, row-major [positions, vocab]);
  * a greedy continuation of 64 tokens (argmax at every step, EOS not treated specially),
    with each step's top-2 logit margin so a divergence can be told from a near-tie.
Everything is summarised in Fixtures/peer/smollm2/reference.json.

Usage: python3 Scripts/peer_smollm2.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers==4.52.4 gguf
"""
import json, os, sys
import numpy as np
import torch
import transformers

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "smollm2")
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "<|im_start|>user\nWhat is 17 times 3?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the sea,",
    "Photosynthesis converts light energy into",
]
NEW_TOKENS = 64


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=2)
    os.makedirs(OUT, exist_ok=True)
    entries = []
    for i, text in enumerate(PROMPTS):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model(torch.tensor([ids]), use_cache=True)
        logits = out.logits[0].float().numpy().astype("<f4")
        logits_file = f"logits-{i}.f32"
        logits.tofile(os.path.join(OUT, logits_file))
        # Greedy continuation with the cache, argmax with lowest-id tie-breaking.
        generated, margins = [], []
        past = out.past_key_values
        last = out.logits[0, -1]
        for _ in range(NEW_TOKENS):
            top2 = torch.topk(last, 2)
            nxt = int(torch.argmax(last))
            generated.append(nxt)
            margins.append(float(top2.values[0] - top2.values[1]))
            with torch.no_grad():
                step = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past = step.past_key_values
            last = step.logits[0, -1]
        entries.append({"text": text, "prompt_ids": ids, "logits_file": logits_file,
                        "positions": len(ids), "greedy_output_ids": generated,
                        "greedy_top2_margins": margins})
        print(f"prompt {i}: {len(ids)} ids, greedy {generated[:8]}...", file=sys.stderr)
    doc = {
        "schema": "touchstone-peer-reference/1",
        "producer": "Scripts/peer_smollm2.py (independent peer: Hugging Face transformers, not Touchstone)",
        "model": {"file": name, "sha256": digest},
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32"},
        "vocab_size": int(logits.shape[1]),
        "greedy_new_tokens": NEW_TOKENS,
        "prompts": entries,
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
