#!/usr/bin/env python3
"""Peer fixture for TidalDecode sparse attention (Yang et al., ICLR 2025, arXiv:2410.05076).

Runs Hugging Face transformers (PyTorch, Float32) on SmolLM2-135M-Instruct (the project's Q4_1
GGUF, dequantized by transformers) with its eager attention replaced by the TidalDecode
reference's masked attention, written here independently of the Swift code from the algorithm
(DOCS.md 3.1):

- a forward whose query length equals its key length (the prefill) attends fully everywhere;
- otherwise layers < s attend fully; layers s and r attend fully and then keep, per query head,
  the K' = min(K, kv_len) positions with the largest raw scores q·k/√d (a stable descending sort:
  the lower position wins a tie); every other layer > s sets the scores of unkept positions to the
  Float32 minimum before the softmax (Float32) and multiplies by V;
- the kept positions are reset at the start of every forward (recomputed each decoding step).

It decodes greedily (one token per step, KV cache) and writes Fixtures/peer/tidal/tidal.json: per
case the prompt ids, K, s, r, the TidalDecode tokens, the full-attention tokens of the same
prompt, and per step the top-2 margin of the TidalDecode logits (so a test can tell a near-tie
from a bug). Only cases whose TidalDecode output differs from full attention are useful; the
script reports that for each case.

    python3 Scripts/peer_tidal.py [--model ~/.cache/touchstone/SmolLM2-135M-Instruct.Q4_1.gguf]

Development tool only: nothing in `swift build` / `swift test` runs it.
"""
import argparse
import json
import os
import sys

import torch
import transformers
import transformers.models.llama.modeling_llama as modeling_llama

from peer_common import DEFAULT_MODEL, load_peer

NEW_TOKENS = 32

# Held-out prompts (not used while developing the Swift code): plain prose, about 150-300 tokens.
PROMPTS = [
    ("tides",
     "The tide is the regular rise and fall of the sea surface caused by the gravity of the Moon and the Sun "
     "acting on the rotating Earth. Most coasts see two high tides and two low tides every lunar day, which "
     "lasts about twenty-four hours and fifty minutes, so the times of high water move later each day. When "
     "the Sun, the Moon and the Earth line up, at new and full moon, their pulls add and the range is largest: "
     "these are spring tides. A week later the Sun and the Moon are at right angles and the range is smallest: "
     "neap tides. The shape of the coast matters as much as the sky. In the Bay of Fundy the water rises by more "
     "than fifteen metres, while parts of the Mediterranean barely notice a change. Harbour masters publish tide "
     "tables a year ahead, and sailors plan their passages around them. To summarise in one sentence, the tide is"),
    ("bread",
     "To bake a simple loaf of bread you need flour, water, salt and yeast. Mix five hundred grams of strong white "
     "flour with ten grams of salt and seven grams of dried yeast, then add three hundred and fifty millilitres "
     "of warm water and stir until no dry flour remains. Knead the dough on a lightly floured surface for ten "
     "minutes, until it is smooth and springs back when pressed. Put it in a bowl, cover it, and leave it in a "
     "warm place for an hour or until it has doubled in size. Knock it back, shape it into a loaf, place it in a "
     "tin and let it rise again for thirty minutes. Bake at two hundred and twenty degrees for thirty minutes, "
     "until the crust is brown and the loaf sounds hollow when tapped underneath. The most important step is"),
    ("lighthouse",
     "The old lighthouse stood on a rock a mile from the shore, and for forty years the same keeper had climbed "
     "its one hundred and twelve steps every evening to light the lamp. He kept a logbook in which he wrote the "
     "weather, the ships he saw and the names of the few visitors who came by boat in summer. One winter night a "
     "storm broke the glass of the lantern room, and the wind blew out the flame three times. Each time he lit it "
     "again with his hands shaking from the cold, because he knew that a freighter was due to pass the reef before "
     "dawn. In the morning the sea was calm, the freighter was safe in the harbour, and the keeper wrote a single "
     "line in his logbook:"),
]

# (token budget K, selection layer s, re-selection layer r) tried per prompt, in order; the first
# whose greedy output differs from full attention with a comfortable margin is kept.
SETTINGS = [(32, 2, 12), (8, 2, 12), (16, 2, 12), (64, 2, 12)]
MARGIN = 0.02  # smallest top-2 logit margin accepted at every step of a kept case (10× the logit tolerance)


class Tidal:
    """The TidalDecode state of one run: parameters, and the kept positions of the current forward."""
    def __init__(self):
        self.on = False
        self.K = self.s = self.r = None
        self.kept = None  # bool [batch, heads, q, kv]


STATE = Tidal()


def tidal_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Replaces transformers' eager attention: query [b, h, q, d], key/value [b, kvh, kv, d]."""
    layer = module.layer_idx
    key_states = modeling_llama.repeat_kv(key, module.num_key_value_groups)
    value_states = modeling_llama.repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key_states.transpose(2, 3)) * scaling  # [b, h, q, kv]
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key_states.shape[-2]]
    q_len, kv_len = query.shape[-2], key_states.shape[-2]
    if layer == 0:
        STATE.kept = None  # pos_dict is reset at the start of every forward
    sparse = STATE.on and q_len != kv_len and layer > STATE.s and layer != STATE.r
    if sparse:
        scores = scores.masked_fill(~STATE.kept, torch.finfo(scores.dtype).min)
    weights = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(weights, value_states).transpose(1, 2).contiguous()
    if STATE.on and q_len != kv_len and (layer == STATE.s or layer == STATE.r) and layer >= STATE.s:
        k = min(kv_len, STATE.K)
        # Stable sort, descending: among equal scores the lower position comes first.
        order = torch.sort(scores, dim=-1, descending=True, stable=True).indices[..., :k]
        kept = torch.zeros_like(scores, dtype=torch.bool)
        kept.scatter_(-1, order, True)
        STATE.kept = kept
    return out, weights


def greedy(model, ids, new_tokens):
    """Greedy decoding with a KV cache, one token per forward after the prefill; returns the
    tokens and each step's top-2 margin."""
    tokens, margins = [], []
    past = transformers.DynamicCache()
    inputs = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(new_tokens):
            out = model(input_ids=inputs, past_key_values=past, use_cache=True)
            logits = out.logits[0, -1].float()
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            nxt = int(torch.argmax(logits))  # torch.argmax returns the first maximum
            tokens.append(nxt)
            past = out.past_key_values
            inputs = torch.tensor([[nxt]])
    return tokens, margins


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Fixtures", "peer", "tidal", "tidal.json"))
    args = parser.parse_args()
    tokenizer, model, name, digest = load_peer(args.model, threads=1)  # 1: OpenMP spinning collapses on a shared machine
    model.config._attn_implementation = "eager"
    modeling_llama.eager_attention_forward = tidal_attention  # looked up at call time
    layers = model.config.num_hidden_layers
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, {layers} layers", file=sys.stderr)

    cases = []
    for label, text in PROMPTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        STATE.on = False
        full, full_margins = greedy(model, ids, NEW_TOKENS)
        chosen = None
        for K, s, r in SETTINGS:
            STATE.on, STATE.K, STATE.s, STATE.r = True, K, s, r
            tidal, margins = greedy(model, ids, NEW_TOKENS)
            differs = tidal != full
            first = next((i for i, (a, b) in enumerate(zip(tidal, full)) if a != b), None)
            print(f"{label}: {len(ids)} prompt tokens, K {K} s {s} r {r}: differs {differs} (first at {first}), "
                  f"min margin {min(margins):.4f}", file=sys.stderr)
            if differs and min(margins) >= MARGIN:
                chosen = dict(name=f"{label}-K{K}", prompt_ids=ids, token_budget=K, selection_layer=s, reselection_layer=r,
                              new_tokens=NEW_TOKENS, output_ids=tidal, margins=margins, full_attention_output_ids=full,
                              first_difference_from_full=first)
                break
        STATE.on = False
        if chosen is None:
            print(f"{label}: no setting differs from full attention with margin ≥ {MARGIN}; left out", file=sys.stderr)
            continue
        cases.append(chosen)

    document = dict(
        schema=1,
        description="TidalDecode (masked reference, written independently in PyTorch) greedy decoding on SmolLM2-135M-Instruct "
                    "(Float32), one token per step after a full-attention prefill; full_attention_output_ids is the same "
                    "prompt without sparse attention; margins are the TidalDecode logits' top-2 gaps per step.",
        transformers_version=transformers.__version__, torch_version=torch.__version__,
        model=dict(file=name, sha256=digest), cases=cases)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
