#!/usr/bin/env python3
"""Peer fixtures for DoLa on SmolLM2-135M-Instruct (Hugging Face transformers 4.52).

Runs `model.generate(input_ids, dola_layers="high", repetition_penalty=1.2, do_sample=False,
max_new_tokens=32)` (HF 4.52 `_dola_decoding`, built in; transformers 5 moved it to the Hub) in
Float32 on the Q4_1 GGUF and records, per prompt, the output ids and, per step, the premature layer
HF chose with the Jensen-Shannon divergence of every candidate layer (captured by wrapping HF's own
`_dola_select_contrast`) and the top-2 margin of the processed scores the token was the argmax of.
Writes Fixtures/peer/dola/reference.json.

Usage: python3 Scripts/peer_dola.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers==4.52.4 gguf
"""
import json, os, sys
import torch
import torch.nn.functional as F
import transformers
import transformers.generation.utils as gen_utils

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "dola")
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "<|im_start|>user\nName three planets of the solar system.<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    ",
]
DOLA_LAYERS = "high"
REPETITION_PENALTY = 1.2
NEW_TOKENS = 32

records = []
original_select = gen_utils._dola_select_contrast


def recording_select(candidate_layers, candidate_logits, final_logits):
    # The JS divergences exactly as HF's _dola_select_contrast computes them (batch 1).
    stacked = torch.stack([candidate_logits[i] for i in candidate_layers], dim=0)
    avg = 0.5 * (F.softmax(final_logits, dim=-1)[None, :, :] + F.softmax(stacked, dim=-1))
    kl1 = F.kl_div(F.log_softmax(final_logits, dim=-1)[None, :, :], avg, reduction="none").mean(-1)
    kl2 = F.kl_div(F.log_softmax(stacked, dim=-1), avg, reduction="none").mean(-1)
    js = (0.5 * (kl1 + kl2)).mean(-1)
    records.append({"js_divergences": js.tolist(), "premature_layer": candidate_layers[int(js.argmax().item())]})
    return original_select(candidate_layers, candidate_logits, final_logits)


def finite_or_none(x):
    return x if x == x and abs(x) != float("inf") else None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=int(os.environ.get("PEER_THREADS", "1")))
    eos = model.generation_config.eos_token_id
    eos_ids = sorted(eos if isinstance(eos, list) else ([] if eos is None else [eos]))
    gen_utils._dola_select_contrast = recording_select
    entries = []
    candidates = None
    for i, text in enumerate(PROMPTS):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        records.clear()
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 dola_layers=DOLA_LAYERS, repetition_penalty=REPETITION_PENALTY, do_sample=False,
                                 num_beams=1, max_new_tokens=NEW_TOKENS, pad_token_id=eos_ids[0] if eos_ids else None,
                                 return_dict_in_generate=True, output_scores=True)
        output = out.sequences[0, len(ids):].tolist()
        assert len(records) == len(output) == len(out.scores)
        steps = []
        for t, (rec, scores) in enumerate(zip(records, out.scores)):
            top = torch.topk(scores[0], 2)
            assert int(top.indices[0]) == output[t]
            steps.append({"premature_layer": rec["premature_layer"], "js_divergences": rec["js_divergences"],
                          "selected": output[t], "score": float(top.values[0]),
                          # null when only one token survives the relative-top filter (margin +inf)
                          "top2_score_margin": finite_or_none(float(top.values[0] - top.values[1]))})
        entries.append({"text": text, "prompt_ids": ids, "output_ids": output, "steps": steps})
        print(f"prompt {i}: {len(ids)} ids -> {output}", file=sys.stderr)
        print("   layers", [r["premature_layer"] for r in records], file=sys.stderr)
        print("   ", repr(tok.decode(output)), file=sys.stderr)
    L = model.config.num_hidden_layers
    doc = {
        "schema": "touchstone-peer-reference/1",
        "producer": "Scripts/peer_dola.py (independent peer: Hugging Face transformers, not Touchstone)",
        "model": {"file": name, "sha256": digest},
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32"},
        "algorithm": "dola",
        "parameters": {"dola_layers": DOLA_LAYERS, "candidate_layers": list(range(L // 2, L, 2)),
                       "repetition_penalty": REPETITION_PENALTY, "relative_top": 0.1, "do_sample": False,
                       "max_new_tokens": NEW_TOKENS, "eos_token_ids": eos_ids},
        "prompts": entries,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
