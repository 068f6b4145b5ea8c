#!/usr/bin/env python3
"""Reference fixtures for the synthetic Qwen2 and GPT-2 models from the independent peer.

No real weights of these families can be fetched here, so Touchstone writes seeded synthetic ones
(Sources/Transformer/SyntheticArchitectures.swift) into Fixtures/models/tiny-qwen2/ and
Fixtures/models/tiny-gpt2/: `model.safetensors` + `config.json` (Hugging Face names and layouts) and
`model.gguf` (llama.cpp's names). This script reads those committed files - it never generates
weights itself - and runs them in Hugging Face transformers (PyTorch, Float32,
attn_implementation="eager", the formula Touchstone implements):

  * Qwen2ForCausalLM / GPT2LMHeadModel from the safetensors directory;
  * the same model from the GGUF with `gguf_file=` (transformers' own GGUF reader and its GPT-2
    transpose), whose logits are compared with the safetensors load and recorded
    (`gguf_vs_safetensors_max_abs`): a check of the GGUF tensor names and layouts that does not
    rely on Touchstone's reader;
  * for each prompt: the logits of every position -> Fixtures/peer/qwen2-gpt2/<model>-<i>.f32
    (little-endian float32, row-major [positions, vocab]), and a greedy continuation of 20 tokens
    (generate(do_sample=False); no EOS, the synthetic models have none), with each step's top-2
    margin so that a divergence can be told from a near-tie.
Writes Fixtures/peer/qwen2-gpt2/reference.json.

The GGUF carries no tokenizer, so `vocab_size` is passed to from_pretrained; transformers maps
`gpt2.context_length` to `n_ctx`, not `n_positions`, so `n_positions` is passed too.

Usage: python3 Scripts/peer_qwen2_gpt2.py
Needs: pip install torch transformers safetensors gguf (measured with transformers 5.25, torch 2.15)
"""
import json, os, sys
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2LMHeadModel, Qwen2ForCausalLM

from peer_common import ROOT, sha256

OUT = os.path.join(ROOT, "Fixtures", "peer", "qwen2-gpt2")
MODELS = [("tiny-qwen2", Qwen2ForCausalLM), ("tiny-gpt2", GPT2LMHeadModel)]
NEW_TOKENS = 20

# Fixed prompts (ids below the vocabulary size, 384); the last one is 64 tokens long so that
# positions far from 0 (RoPE angles, GPT-2's learned positions) are covered.
PROMPTS = [
    [7],
    [1, 45, 300, 2, 99, 383],
    [17, 250, 3, 3, 3, 121, 64, 0, 377, 200, 5, 42, 311, 96, 128, 255],
    [(37 * i + 11) % 384 for i in range(64)],
]


def greedy(model, ids):
    """Greedy continuation with the peer's own cache, and each step's top-2 margin."""
    past, out, margins = None, [], []
    x = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            step = model(x, past_key_values=past, use_cache=True)
            past = step.past_key_values
            last = step.logits[0, -1]
            top2 = torch.topk(last, 2)
            nxt = int(torch.argmax(last))  # first maximum: the lowest id among ties
            out.append(nxt)
            margins.append(float(top2.values[0] - top2.values[1]))
            x = torch.tensor([[nxt]])
        check = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), do_sample=False,
                               max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0)
    assert check[0, len(ids):].tolist() == out, "generate() and the stepwise loop disagree"
    return out, margins


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    models = []
    for name, cls in MODELS:
        directory = os.path.join(ROOT, "Fixtures", "models", name)
        model = cls.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager").eval()
        model.generation_config.eos_token_id = None
        model.generation_config.bos_token_id = None
        overrides = {"vocab_size": model.config.vocab_size}
        if name == "tiny-gpt2":
            overrides["n_positions"] = model.config.n_positions
        from_gguf = AutoModelForCausalLM.from_pretrained(directory, gguf_file="model.gguf", dtype=torch.float32,
                                                         attn_implementation="eager", **overrides).eval()
        assert type(from_gguf) is cls, type(from_gguf)
        gguf_difference = 0.0
        prompts = []
        for i, ids in enumerate(PROMPTS):
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float()
                logits_gguf = from_gguf(torch.tensor([ids])).logits[0].float()
            gguf_difference = max(gguf_difference, float((logits - logits_gguf).abs().max()))
            file = f"{name}-{i}.f32"
            logits.numpy().astype("<f4").tofile(os.path.join(OUT, file))
            out, margins = greedy(model, ids)
            prompts.append({"ids": ids, "logits_file": file, "logits_shape": list(logits.shape),
                            "greedy_output_ids": out, "greedy_top2_margins": margins})
            print(f"{name} prompt {i}: {len(ids)} ids, greedy {out[:8]}..., logit range "
                  f"[{float(logits.min()):.3f}, {float(logits.max()):.3f}]", file=sys.stderr)
        print(f"{name}: GGUF (gguf_file=) vs safetensors max |dlogit| {gguf_difference}", file=sys.stderr)
        models.append({
            "name": name,
            "class": cls.__name__,
            "files": {f: sha256(os.path.join(directory, f)) for f in ("config.json", "model.safetensors", "model.gguf")},
            "vocab_size": int(model.config.vocab_size),
            "gguf_vs_safetensors_max_abs": gguf_difference,
            "prompts": prompts,
        })
    doc = {
        "schema": "touchstone-peer-reference/1",
        "producer": "Scripts/peer_qwen2_gpt2.py (independent peer: Hugging Face transformers, not Touchstone)",
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
                 "attn_implementation": "eager"},
        "greedy_new_tokens": NEW_TOKENS,
        "models": models,
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
