#!/usr/bin/env python3
"""Peer fixture for the logit lens on SmolLM2-135M-Instruct (Hugging Face transformers, Float32).

For each held-out prompt, runs the model once with `output_hidden_states=True` and reads every
layer ℓ = 0…L of `hidden_states` through the head as Hugging Face would:
`lm_head(model.model.norm(hidden_states[ℓ]))` for ℓ < L (the final RMSNorm, its gain and eps),
`lm_head(hidden_states[L])` for ℓ = L (already normed: the model's logits), and with "no_norm"
`lm_head(hidden_states[ℓ])` for every ℓ (DoLa's convention). Per position and layer it records
the top-K ids with probabilities (softmax in Float64 of the Float32 logits) and
KL(p_L ‖ p_ℓ) in nats (Float64). Writes Fixtures/peer/lens/reference.json.

Usage: python3 Scripts/peer_lens.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install torch transformers gguf
"""
import json, os, sys
import torch
import transformers

from peer_common import ROOT, DEFAULT_MODEL, load_peer

OUT = os.path.join(ROOT, "Fixtures", "peer", "lens")
# Held out: used by no other fixture.
PROMPTS = [
    ("The dog chased the ball across the", True),
    ("Water boils at a temperature of", True),
    ("<|im_start|>user\nWhat is your favourite animal?<|im_end|>\n<|im_start|>assistant\n", False),
]
TOP_K = 5


def readouts(model, hidden, layer_count, norm):
    out = []
    with torch.no_grad():
        final_logits = model.lm_head(hidden[layer_count]).double()
        final_logp = torch.log_softmax(final_logits, dim=-1)
        for layer in range(layer_count + 1):
            h = hidden[layer]
            if norm and layer < layer_count:
                h = model.model.norm(h)
            logits = model.lm_head(h)                           # Float32, as HF computes them
            logp = torch.log_softmax(logits.double(), dim=-1)
            kl = (final_logp.exp() * (final_logp - logp)).sum(-1)  # [T]
            top = torch.topk(logits, TOP_K + 1, dim=-1)
            out.append((logp, kl, top))
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    tok, model, name, digest = load_peer(path, threads=int(os.environ.get("PEER_THREADS", "2")))
    layer_count = model.config.num_hidden_layers
    entries = []
    for text, with_no_norm in PROMPTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            result = model(torch.tensor([ids]), output_hidden_states=True)
        hidden = [h[0] for h in result.hidden_states]
        assert len(hidden) == layer_count + 1
        # Layer L's lens is the model's own logits.
        assert torch.equal(model.lm_head(hidden[layer_count]), result.logits[0])
        modes = [("norm", True)] + ([("no_norm", False)] if with_no_norm else [])
        entry = {"text": text, "prompt_ids": ids}
        for mode, norm in modes:
            per_layer = readouts(model, hidden, layer_count, norm)
            positions = []
            for t in range(len(ids)):
                layers = []
                for layer, (logp, kl, top) in enumerate(per_layer):
                    values, indices = top.values[t].tolist(), top.indices[t].tolist()
                    layers.append({"layer": layer,
                                   "top": [[i, float(logp[t, i].exp())] for i in indices[:TOP_K]],
                                   # logit gap between ranks K and K+1 (a near-tie there may reorder)
                                   "top_logits": values[:TOP_K], "next_logit": values[TOP_K],
                                   "kl_to_final": float(kl[t])})
                positions.append({"position": t, "layers": layers})
            entry[mode] = positions
        entries.append(entry)
        print(f"{len(ids)} ids: {text[:40]!r}", file=sys.stderr)
    doc = {"model": {"file": name, "sha256": digest},
           "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32"},
           "parameters": {"top_k": TOP_K, "layer_count": layer_count,
                          "kl": "KL(p_L || p_layer), nats, float64 log_softmax of float32 logits"},
           "prompts": entries}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.join(OUT, "reference.json"), file=sys.stderr)


if __name__ == "__main__":
    main()
