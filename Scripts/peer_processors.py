#!/usr/bin/env python3
"""Processed next-token distributions from the independent peer (Hugging Face transformers).

For three prompts of ours (with repeated tokens, so the penalties and n-gram/bad-word masks
matter) and for each logits processor alone plus one chain, this applies Hugging Face's own
processor classes (transformers 4.52.4 `generation/logits_process.py`) to Hugging Face's own
Float32 logits of SmolLM2-135M-Instruct (the Q4_1 GGUF loaded with `gguf_file=`), takes the
softmax, and stores the peer's last-position logits (logits-<i>.f32, little-endian float32,
[vocab]) so that the processors can be compared on identical inputs, and the support size and the support's probabilities (the 200 most probable
when the support is larger; ids by probability descending, id ascending) in
Fixtures/peer/processors/distributions.json.

Knife edges: a cut-off whose threshold falls within rounding of some token's value could flip
the support between two correct implementations. For every case the script re-applies the
processor to the logits perturbed by ±2e-4 (several seeds) and records `robust_support`
(the support never changed); the parameters below were chosen so that every case is robust.

Usage: python3 Scripts/peer_processors.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers==4.52.4 gguf
"""
import json, os, sys
import torch
import transformers
from transformers.generation import logits_process as lp

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "processors")
PROMPTS = [
    "The cat sat on the mat. The cat sat on the",
    "one two three, one two three, one two",
    "<|im_start|>user\nList three colors: red, green, blue. Again: red, green,<|im_end|>\n<|im_start|>assistant\n",
]
TOP = 200


def cases(prompt_ids, eos):
    """(name, Touchstone SamplingParameters as JSON, list of HF processors)."""
    last, prev = prompt_ids[-1], prompt_ids[-2]
    bias_ids = sorted(set(prompt_ids))[:2]
    return [
        ("repetition_penalty", {"repetition_penalty": 1.3}, [lp.RepetitionPenaltyLogitsProcessor(1.3)]),
        ("temperature", {"temperature": 0.7}, [lp.TemperatureLogitsWarper(0.7)]),
        ("top_k", {"top_k": 40}, [lp.TopKLogitsWarper(40)]),
        ("top_p", {"top_p": 0.9}, [lp.TopPLogitsWarper(0.9)]),
        ("min_p", {"min_p": 0.05}, [lp.MinPLogitsWarper(0.05)]),
        ("typical_p", {"typical_p": 0.9}, [lp.TypicalLogitsWarper(0.9)]),
        ("epsilon_cutoff", {"epsilon_cutoff": 3e-4}, [lp.EpsilonLogitsWarper(3e-4)]),
        ("eta_cutoff", {"eta_cutoff": 2e-3}, [lp.EtaLogitsWarper(2e-3)]),
        ("no_repeat_ngram", {"no_repeat_ngram_size": 2}, [lp.NoRepeatNGramLogitsProcessor(2)]),
        ("bad_words", {"bad_words_ids": [[bias_ids[0]], [prev, last, bias_ids[1]], [eos]], "eos_token_ids": [eos]},
         [lp.NoBadWordsLogitsProcessor([[bias_ids[0]], [prev, last, bias_ids[1]], [eos]], eos_token_id=eos)]),
        ("min_new_tokens", {"min_new_tokens": 2, "eos_token_ids": [eos]},
         [lp.MinNewTokensLengthLogitsProcessor(len(prompt_ids), 2, eos)]),
        ("logit_bias", {"logit_bias": {str(bias_ids[0]): 2.5, str(bias_ids[1]): -1.5}},
         [lp.SequenceBiasLogitsProcessor([[[bias_ids[0]], 2.5], [[bias_ids[1]], -1.5]])]),
        ("suppress_tokens", {"suppress_tokens": [last, eos]}, [lp.SuppressTokensLogitsProcessor([last, eos])]),
        ("chain", {"repetition_penalty": 1.3, "temperature": 0.7, "top_k": 40, "top_p": 0.9, "min_p": 0.05},
         [lp.RepetitionPenaltyLogitsProcessor(1.3), lp.TemperatureLogitsWarper(0.7), lp.TopKLogitsWarper(40),
          lp.TopPLogitsWarper(0.9), lp.MinPLogitsWarper(0.05)]),
    ]


def apply(processors, input_ids, logits):
    scores = logits.clone()[None, :]
    for p in processors:
        scores = p(input_ids, scores)
    return torch.softmax(scores, dim=-1)[0]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=2)
    eos = int(model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else model.config.eos_token_id[0])
    out = {"schema": 1, "generator": "Scripts/peer_processors.py",
           "transformers": transformers.__version__, "torch": torch.__version__,
           "model": {"file": name, "sha256": digest}, "top": TOP, "prompts": []}
    for text in PROMPTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        input_ids = torch.tensor([ids])
        with torch.no_grad():
            logits = model(input_ids).logits[0, -1].float()
        logits_file = f"logits-{len(out['prompts'])}.f32"
        os.makedirs(OUT, exist_ok=True)
        logits.numpy().astype("<f4").tofile(os.path.join(OUT, logits_file))
        entry = {"text": text, "prompt_ids": ids, "logits_file": logits_file, "cases": []}
        for case_name, params, processors in cases(ids, eos):
            probs = apply(processors, input_ids, logits)
            support = torch.nonzero(probs > 0).flatten().tolist()
            robust = True
            for seed in range(4):
                g = torch.Generator().manual_seed(seed)
                noise = (torch.rand(logits.shape, generator=g) * 2 - 1) * 2e-4
                if torch.nonzero(apply(processors, input_ids, logits + noise) > 0).flatten().tolist() != support:
                    robust = False
            ranked = sorted(support, key=lambda i: (-float(probs[i]), i))[:TOP]
            entry["cases"].append({"name": case_name, "parameters": params, "support_size": len(support),
                                   "robust_support": robust,
                                   "ids": ranked, "probabilities": [float(probs[i]) for i in ranked]})
            print(f"{case_name:20s} support {len(support):6d} robust {robust}  prompt {ids[:6]}...")
        out["prompts"].append(entry)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "distributions.json"), "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
