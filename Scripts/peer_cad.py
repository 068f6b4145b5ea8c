#!/usr/bin/env python3
"""Peer fixtures for context-aware decoding (CAD) on SmolLM2-135M-Instruct.

Hugging Face transformers has no built-in CAD, so this is the Xu reproduction's patched greedy
`generate` written out with the public model API: two streams, each with its own DynamicCache
(two separate forward calls per step), `z = (1 + alpha) * logits_ctx[:, -1] - alpha *
logits_null[:, -1]` on raw Float32 logits, `argmax(z)` (first index on ties), the token appended to
both streams, stop at EOS (kept) or after NEW_TOKENS tokens. No logits processor.

The streams: for chat cases the user turn is "EVIDENCE\n\nQUERY" (context stream) or "QUERY" (null
stream) through the tokenizer's own chat template (`apply_chat_template`, add_generation_prompt);
for plain cases the context stream is tokens(EVIDENCE) + tokens(QUERY) and the null stream
tokens(QUERY). Writes Fixtures/peer/cad/reference.json.

Usage: python3 Scripts/peer_cad.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers gguf
"""
import json, os, sys
import torch
import transformers
from transformers import DynamicCache

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "cad")
# Held out: none of these is in Fixtures/evidence-qa/cases.json.
CASES = [
    {"chat": True, "context": "The tallest mountain on Earth is Mount Kilimanjaro.",
     "query": "What is the tallest mountain on Earth?"},
    {"chat": True, "context": "Water boils at 40 degrees Celsius at sea level.",
     "query": "At what temperature does water boil at sea level?"},
    {"chat": False, "context": "Context: The inventor of the telephone was Nikola Tesla.\n",
     "query": "Question: Who invented the telephone?\nAnswer:"},
    {"chat": False, "context": "Context: The largest ocean on Earth is the Atlantic Ocean.\n",
     "query": "Question: What is the largest ocean on Earth?\nAnswer:"},
]
ALPHAS = [0.5, 1.0]
NEW_TOKENS = 16


def encode(tok, text, chat):
    if chat:
        return tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True,
                                       return_dict=False)
    return tok(text, add_special_tokens=False)["input_ids"]


def cad_greedy(model, context_ids, null_ids, alpha, eos_ids):
    caches = [DynamicCache(), DynamicCache()]
    inputs = [torch.tensor([context_ids]), torch.tensor([null_ids])]
    out, steps = [], []
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = []
            for s in range(2):
                r = model(input_ids=inputs[s], past_key_values=caches[s], use_cache=True)
                caches[s] = r.past_key_values
                logits.append(r.logits[0, -1].float())
            z = (1 + alpha) * logits[0] - alpha * logits[1]
            token = int(torch.argmax(z).item())
            top2 = torch.topk(z, 2).values
            steps.append({"score": float(z[token].item()), "top2_score_margin": float((top2[0] - top2[1]).item())})
            out.append(token)
            if token in eos_ids:
                break
            inputs = [torch.tensor([[token]]), torch.tensor([[token]])]
    return out, steps


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=int(os.environ.get("PEER_THREADS", "1")))
    eos = model.generation_config.eos_token_id
    eos_ids = sorted(eos if isinstance(eos, list) else ([] if eos is None else [eos]))
    entries = []
    for case in CASES:
        if case["chat"]:
            null_ids = list(encode(tok, case["query"], True))
            context_ids = list(encode(tok, case["context"] + "\n\n" + case["query"], True))
        else:
            null_ids = encode(tok, case["query"], False)
            context_ids = encode(tok, case["context"], False) + null_ids
        for alpha in ALPHAS:
            out, steps = cad_greedy(model, context_ids, null_ids, alpha, eos_ids)
            entries.append({"chat": case["chat"], "context": case["context"], "query": case["query"], "alpha": alpha,
                            "context_stream_ids": context_ids, "null_stream_ids": null_ids, "output_ids": out,
                            "text": tok.decode(out), "steps": steps})
            print(f"alpha {alpha} chat {case['chat']}: {tok.decode(out)!r}", file=sys.stderr)
    doc = {
        "schema": "touchstone-peer-reference/1",
        "producer": "Scripts/peer_cad.py (independent peer: Hugging Face transformers, not Touchstone)",
        "model": {"file": name, "sha256": digest},
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32"},
        "algorithm": "cad",
        "parameters": {"mode": "standard", "greedy": True, "max_new_tokens": NEW_TOKENS, "eos_token_ids": eos_ids,
                       "chat_user_turn": "EVIDENCE\\n\\nQUERY"},
        "cases": entries,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
