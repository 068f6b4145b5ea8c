#!/usr/bin/env python3
"""Peer fixtures for contrastive decoding (Li et al. 2023, arXiv:2210.15097) on SmolLM2-135M-Instruct.

An independent implementation in Hugging Face transformers + PyTorch (Float32, same GGUF), without
KV caches: every step re-runs each beam's whole sequence. The amateur is the expert truncated to its
first N layers followed by the final norm and the (tied) output head, i.e.
`lm_head(norm(hidden_states[N]))` of a forward pass over the amateur's own input.

Two modes, as DOCS.md section 6.11 states them:
- "code" (the authors' teacher_student beam search): beams B, per step and beam
  e = log_softmax(expert logits); e' = log_softmax(e); theta = min(2nd largest e', max e' + ln alpha);
  e' < theta -> -inf; E = e' + beam score; a = log_softmax(amateur logits) / tau;
  candidates = top 2B of e over (beam, token) (first step: of E); S = E - beta * a; sorted by S;
  the first B become the beams (no end-of-sequence: EOS is not a stop, as the paper's
  min_length = max_length runs); the output is the best beam after the last step.
  The amateur sees only the last prompt token (ignore_prefix = yes).
- "logit" (O'Brien & Lewis 2023): greedy on (1+beta)*s_E - beta*s_A/tau over logits, tokens with
  s_E < max s_E + ln alpha set to -inf; the amateur sees the whole prompt.

Writes Fixtures/peer/contrastive-decoding/reference.json.

Usage: python3 Scripts/peer_contrastive_decoding.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers gguf
"""
import json, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F
import transformers

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "contrastive-decoding")
PROMPTS = [
    "The history of the printing press begins",
    "My favourite thing about winter is",
    "Scientists recently discovered that the ocean",
    "<|im_start|>user\nWhat is a prime number?<|im_end|>\n<|im_start|>assistant\n",
]
NEW_TOKENS = 20
CONFIGS = [
    {"cd_mode": "code", "amateur_layers": 12, "num_beams": 5, "cd_alpha": 0.1, "cd_beta": 1.0,
     "amateur_temperature": 0.5, "ignore_prefix": "yes"},
    {"cd_mode": "logit", "amateur_layers": 8, "cd_alpha": 0.1, "cd_beta": 0.5,
     "amateur_temperature": 1.0, "ignore_prefix": "no"},
]


@torch.no_grad()
def last_logits(model, ids, amateur_layers=None):
    out = model(torch.tensor([ids]), output_hidden_states=amateur_layers is not None, use_cache=False)
    if amateur_layers is None:
        return out.logits[0, -1].float()
    h = out.hidden_states[amateur_layers][0, -1]
    return model.lm_head(model.model.norm(h)).float()


def relative_top(e, alpha, keep=2):
    ep = F.log_softmax(e, dim=-1)
    sorted_ep = torch.sort(ep, descending=True).values
    thr = torch.min(sorted_ep[keep - 1], ep.max() + np.log(alpha))
    return ep.masked_fill(ep < thr, -float("inf"))


def code_mode(model, prompt, cfg):
    B, L, alpha, beta, tau = cfg["num_beams"], cfg["amateur_layers"], cfg["cd_alpha"], cfg["cd_beta"], cfg["amateur_temperature"]
    beams = [[] for _ in range(B)]
    scores = torch.tensor([0.0] + [-1e9] * (B - 1), dtype=torch.float32)
    margins = []
    for t in range(NEW_TOKENS):
        e_rows, E_rows, a_rows = [], [], []
        for b in range(B):
            e = F.log_softmax(last_logits(model, prompt + beams[b]), dim=-1)
            E_rows.append(relative_top(e, alpha) + scores[b])
            e_rows.append(e)
            a = F.log_softmax(last_logits(model, [prompt[-1]] + beams[b], L), dim=-1) / tau
            a_rows.append(a.masked_fill(a == -float("inf"), float("inf")))
        e_all, E_all, a_all = torch.stack(e_rows), torch.stack(E_rows), torch.stack(a_rows)
        V = e_all.shape[1]
        rank_by = (E_all if t == 0 else e_all).view(-1)
        _, idx = torch.topk(rank_by, 2 * B)
        S = E_all.view(-1)[idx] - beta * a_all.view(-1)[idx]
        order = torch.sort(S, descending=True, stable=True)
        idx, S = idx[order.indices], order.values
        finite = S[torch.isfinite(S)]
        margins.append(float(finite[B - 1] - finite[B]) if finite.numel() > B else None)
        beams = [beams[int(i) // V] + [int(i) % V] for i in idx[:B]]
        scores = S[:B].clone()
    return beams[0], float(scores[0]), margins


def logit_mode(model, prompt, cfg):
    L, alpha, beta, tau = cfg["amateur_layers"], cfg["cd_alpha"], cfg["cd_beta"], cfg["amateur_temperature"]
    out, margins = [], []
    for t in range(NEW_TOKENS):
        s = last_logits(model, prompt + out)
        a = last_logits(model, prompt + out, L)
        score = (1 + beta) * s - beta * (a / tau)
        score = score.masked_fill(s < s.max() + np.log(alpha), -float("inf"))
        top2 = torch.topk(score, 2).values
        margins.append(float(top2[0] - top2[1]) if torch.isfinite(top2[1]) else None)
        out.append(int(torch.argmax(score)))
    return out, None, margins


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=int(os.environ.get("PEER_THREADS", "1")))
    cases = []
    for cfg in CONFIGS:
        for text in PROMPTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            run = code_mode if cfg["cd_mode"] == "code" else logit_mode
            output, score, margins = run(model, ids, cfg)
            cases.append({"parameters": cfg, "prompt": text, "prompt_ids": ids, "output_ids": output, "score": score,
                          "step_margins": margins})
            print(cfg["cd_mode"], repr(tok.decode(output)), flush=True)
    os.makedirs(OUT, exist_ok=True)
    doc = {"schema": 1, "model": {"file": name, "sha256": digest},
           "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
                    "script": "Scripts/peer_contrastive_decoding.py"},
           "max_new_tokens": NEW_TOKENS, "eos_token_ids": [],
           "note": "step_margins: code mode, gap between the B-th and (B+1)-th candidate score; logit mode, top-2 score gap",
           "cases": cases}
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
