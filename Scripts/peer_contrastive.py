#!/usr/bin/env python3
"""Peer fixtures for contrastive search on SmolLM2-135M-Instruct (Hugging Face transformers 4.52).

Runs `model.generate(input_ids, penalty_alpha=0.6, top_k=4, max_new_tokens=32)` (HF 4.52
`_contrastive_search`, built in; transformers 5 moved it to the Hub) in Float32 on the Q4_1 GGUF
and records, per prompt, the output ids and, per step, the k candidates with their probability,
degeneration penalty and contrastive score (captured by wrapping HF's own `_ranking_fast`), so a
divergence can be told from a near-tie. Writes Fixtures/peer/contrastive/reference.json.

Usage: python3 Scripts/peer_contrastive.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers==4.52.4 gguf
"""
import json, os, sys
import torch
import transformers
import transformers.generation.utils as gen_utils

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "contrastive")
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "<|im_start|>user\nName three planets of the solar system.<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    ",
]
PENALTY_ALPHA = 0.6
TOP_K = 4
NEW_TOKENS = 32

records = []
original_ranking = gen_utils._ranking_fast


def recording_ranking(context_hidden, next_hidden, next_top_k_probs, cosine_matrix_mask, alpha, beam_width):
    # Same arithmetic as HF's _ranking_fast (batch 1), keeping the per-candidate values.
    norm_context = context_hidden / context_hidden.norm(dim=2, keepdim=True)
    norm_next = next_hidden / next_hidden.norm(dim=2, keepdim=True)
    cosine = torch.matmul(norm_context, norm_next.transpose(1, 2)).squeeze(-1)
    mask = (1 - cosine_matrix_mask.to(dtype=cosine.dtype)) * torch.finfo(cosine.dtype).min
    penalty, _ = torch.max(cosine + mask, dim=-1)
    probs = next_top_k_probs.view(-1)
    score = (1.0 - alpha) * probs - alpha * penalty
    records.append({"probabilities": probs.tolist(), "penalties": penalty.tolist(), "scores": score.tolist()})
    selected = original_ranking(context_hidden, next_hidden, next_top_k_probs, cosine_matrix_mask, alpha, beam_width)
    assert int(selected[0]) == int(torch.argmax(score)), "recorded scores disagree with HF's selection"
    return selected


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=int(os.environ.get("PEER_THREADS", "1")))
    eos = model.generation_config.eos_token_id
    eos_ids = sorted(eos if isinstance(eos, list) else ([] if eos is None else [eos]))
    gen_utils._ranking_fast = recording_ranking
    entries = []
    for i, text in enumerate(PROMPTS):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        records.clear()
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 penalty_alpha=PENALTY_ALPHA, top_k=TOP_K, max_new_tokens=NEW_TOKENS,
                                 do_sample=False, num_beams=1, pad_token_id=eos_ids[0] if eos_ids else None,
                                 return_dict_in_generate=True, output_scores=True)
        output = out.sequences[0, len(ids):].tolist()
        assert len(records) == len(output) == len(out.scores)
        steps = []
        for t, (rec, scores) in enumerate(zip(records, out.scores)):
            probs = torch.softmax(scores[0], dim=-1)
            cand = torch.topk(probs, TOP_K).indices.tolist()
            s = rec["scores"]
            order = sorted(range(TOP_K), key=lambda j: -s[j])
            steps.append({"candidates": cand, "probabilities": rec["probabilities"], "penalties": rec["penalties"],
                          "scores": s, "selected": output[t], "top2_score_margin": s[order[0]] - s[order[1]]})
            assert cand[order[0]] == output[t]
        entries.append({"text": text, "prompt_ids": ids, "output_ids": output, "steps": steps})
        print(f"prompt {i}: {len(ids)} ids -> {output}", file=sys.stderr)
        print("   ", repr(tok.decode(output)), file=sys.stderr)
    doc = {
        "schema": "touchstone-peer-reference/1",
        "producer": "Scripts/peer_contrastive.py (independent peer: Hugging Face transformers, not Touchstone)",
        "model": {"file": name, "sha256": digest},
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32"},
        "algorithm": "contrastive_search",
        "parameters": {"penalty_alpha": PENALTY_ALPHA, "top_k": TOP_K, "max_new_tokens": NEW_TOKENS,
                       "eos_token_ids": eos_ids},
        "prompts": entries,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
