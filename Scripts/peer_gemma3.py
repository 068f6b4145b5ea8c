#!/usr/bin/env python3
"""Reference fixtures for Gemma 3 270M (Q4_K_M GGUF) from the independent peer.

Hugging Face transformers (PyTorch, Float32, attn_implementation="eager", which is the formula
Touchstone implements; the default "sdpa" kernel differs from it by ~7e-5) loads the same GGUF with
`gguf_file=` (every tensor dequantized to Float32 by gguf-py) and produces, for each prompt of ours:
  * the prompt ids (BOS prepended by the GGUF tokenizer, as `add_special_tokens=True` does);
  * the full logits of the last prompt position -> Fixtures/peer/gemma3/last-logits-<i>.f32
    (little-endian float32, [vocab]) - the vocabulary has 262,144 entries, so the positions keep
    only a sample: every 64th logit (ids 0, 64, 128, ...) and the top 32 (id, logit) pairs, in the
    JSON, for every position of a short prompt and every 16th and the last 4 of a long one;
  * a greedy continuation of 64 tokens (argmax, lowest id on ties, EOS not treated specially),
    each step's top-2 margin, so a divergence can be told from a near-tie.
One prompt is longer than the 512-token sliding window of the local layers, so the window
matters for its later positions.

The Gemma 3 weights are under the Gemma terms of use: this script reads the file from the cache
(`touchstone fetch --model gemma3-270m`); the file itself is never committed.

Usage: python3 Scripts/peer_gemma3.py [path/to/gemma-3-270m-q4_k_m.gguf]
Needs: pip install torch transformers gguf accelerate (measured with transformers 5.25, torch 2.15)
"""
import json, os, sys
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from peer_common import ROOT, sha256

OUT = os.path.join(ROOT, "Fixtures", "peer", "gemma3")
DEFAULT_MODEL = os.path.join(os.environ.get("TOUCHSTONE_CACHE", os.path.expanduser("~/.cache/touchstone")),
                             "gemma-3-270m-q4_k_m.gguf")
STRIDE = 64
TOP = 32
NEW_TOKENS = 64

# A long text of our own (a made-up field log), so the last prompt passes the 512-token window.
LONG = "".join(
    f"Day {d}: the weather station on the ridge logged {10 + d % 7} degrees at dawn, wind from the "
    f"{['north', 'east', 'south', 'west'][d % 4]}, and the river gauge read {d * 3 % 11} centimetres above "
    f"its summer mark. The crew replaced sensor {d % 5} and noted that the path to the hut was "
    f"{['dry', 'muddy', 'icy'][d % 3]}.\n"
    for d in range(1, 19)) + "Summary of the season: the river"

PROMPTS = [
    "The capital of France is",
    "def quicksort(items):\n    ",
    "<start_of_turn>user\nName three colours of the rainbow.<end_of_turn>\n<start_of_turn>model\n",
    "La recette traditionnelle du pain de campagne commence par",
    LONG,
]


def kept_positions(n):
    """The positions whose samples are kept: all of a prompt of at most 128 ids; of a longer
    one every 16th and the last 4 (a 600-token prompt would otherwise add ~50 MB of JSON)."""
    return [p for p in range(n) if n <= 128 or p % 16 == 0 or p >= n - 4]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    directory, name = os.path.split(os.path.abspath(path))
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    cfg = model.config
    print(f"{type(model).__name__}: layer_types {cfg.layer_types}, sliding_window {cfg.sliding_window}, "
          f"query_pre_attn_scalar {cfg.query_pre_attn_scalar}, rope {cfg.rope_parameters}", file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    entries = []
    vocab = None
    for i, text in enumerate(PROMPTS):
        ids = tok(text, add_special_tokens=True)["input_ids"]
        with torch.no_grad():
            out = model(torch.tensor([ids]), use_cache=True)
        logits = out.logits[0].float()
        vocab = int(logits.shape[1])
        last_file = f"last-logits-{i}.f32"
        logits[-1].numpy().astype("<f4").tofile(os.path.join(OUT, last_file))
        positions = []
        for p in kept_positions(len(ids)):
            row = logits[p]
            top = torch.topk(row, TOP)
            # topk does not promise lowest-id-first among ties; sort (value desc, id asc).
            pairs = sorted(zip(top.values.tolist(), top.indices.tolist()), key=lambda vi: (-vi[0], vi[1]))
            positions.append({
                "position": p,
                "top_ids": [int(i_) for _, i_ in pairs],
                "top_logits": [float(v) for v, _ in pairs],
                "strided_logits": [float(v) for v in row[::STRIDE].tolist()],
                "min": float(row.min()), "max": float(row.max()),
            })
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
        entries.append({"text": text, "prompt_ids": ids, "last_logits_file": last_file,
                        "positions": positions, "greedy_output_ids": generated,
                        "greedy_top2_margins": margins,
                        "greedy_text": tok.decode(generated)})
        print(f"prompt {i}: {len(ids)} ids, greedy {generated[:8]}... {tok.decode(generated[:12])!r}", file=sys.stderr)
    doc = {
        "schema": "touchstone-peer-reference/1",
        "producer": "Scripts/peer_gemma3.py (independent peer: Hugging Face transformers, not Touchstone)",
        "model": {"file": name, "sha256": sha256(path)},
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
                 "attn_implementation": "eager"},
        "vocab_size": vocab,
        "strided_every": STRIDE,
        "top_count": TOP,
        "greedy_new_tokens": NEW_TOKENS,
        "prompts": entries,
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f)
        f.write("\n")


if __name__ == "__main__":
    main()
