#!/usr/bin/env python3
"""Hugging Face transformers (PyTorch, Float32, the GGUF loaded with `gguf_file=`) as a backend
checked against Touchstone: candidate traces for the golden catalogue's greedy SmolLM2 fixtures and
activation dumps in `touchstone activations`' format.

Writes under Fixtures/backends/transformers/ (or --out):
  greedy-N.json        candidate trace (greedy, one-token decode steps with a KV cache, top-k
                       logits as in the fixture) for `touchstone verify smollm2/greedy-N …`
  dump-greedy-N/       the prompt's activations: embeddings, every block's output (from
                       output_hidden_states, plus a hook for the last block, whose output
                       transformers replaces by final_norm), block --layer's named intermediates
                       (forward hooks; q and k after RoPE recomputed with transformers' own
                       apply_rotary_pos_emb) and final_norm (no logits:
                       the traces carry them); q/k columns converted to GGUF
                       row order
  summary.json         backend versions and the thread / batch dependence checks: the same
                       decoding at 1 and 2 PyTorch threads, and incremental decode steps against one
                       whole-sequence forward pass (max |Δlogit| over the whole vocabulary)

Usage: python3 Scripts/backend_transformers.py [--model GGUF] [--out DIR] [--dump greedy-0,...] [--layer L]
"""
import argparse, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend_common import (DEFAULT_MODEL, OUT, Dump, greedy_fixtures, greedy_candidate, write_json,
                            max_abs_difference, first_token_difference, hf_to_gguf_rows)
from peer_common import load_peer


def incremental(model, torch):
    """A `next_logits` closure over one fresh KV cache."""
    state = {"cache": None, "position": 0}

    def next_logits(ids):
        with torch.no_grad():
            out = model(torch.tensor([ids]), past_key_values=state["cache"], use_cache=True)
        state["cache"] = out.past_key_values
        return out.logits[0, -1].float().numpy()
    return next_logits


def whole_sequence_logits(model, torch, ids):
    """[len(ids), vocab] logits of one forward pass over `ids` (no cache)."""
    with torch.no_grad():
        return model(torch.tensor([ids]), use_cache=False).logits[0].float().numpy()


def dump(model, torch, directory, prompt_ids, layer, model_path):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
    config = model.config
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    layers = config.num_hidden_layers
    block = model.model.layers[layer]
    attention, mlp = block.self_attn, block.mlp
    captured, hooks = {}, []

    def output_of(name):
        def hook(module, args, output):
            captured[name] = (output[0] if isinstance(output, tuple) else output)[0].detach().float().numpy()
        return hook

    def input_of(name):
        def hook(module, args):
            captured[name] = args[0][0].detach().float().numpy()
        return hook

    prefix = f"blk.{layer}."
    hooks += [block.input_layernorm.register_forward_hook(output_of(prefix + "attn_norm")),
              attention.q_proj.register_forward_hook(output_of(prefix + "q_proj")),
              attention.k_proj.register_forward_hook(output_of(prefix + "k_proj")),
              attention.v_proj.register_forward_hook(output_of(prefix + "v")),
              attention.o_proj.register_forward_pre_hook(input_of(prefix + "attn_output")),
              attention.o_proj.register_forward_hook(output_of(prefix + "attn_projection")),
              block.post_attention_layernorm.register_forward_pre_hook(input_of(prefix + "attn_residual")),
              block.post_attention_layernorm.register_forward_hook(output_of(prefix + "ffn_norm")),
              mlp.gate_proj.register_forward_hook(output_of(prefix + "gate")),
              mlp.up_proj.register_forward_hook(output_of(prefix + "up")),
              mlp.down_proj.register_forward_pre_hook(input_of(prefix + "swiglu")),
              mlp.register_forward_hook(output_of(prefix + "mlp_output")),
              model.model.layers[layers - 1].register_forward_hook(output_of(f"blk.{layers - 1}.output"))]
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model(ids, use_cache=False, output_hidden_states=True)
        # q and k after RoPE: transformers applies RoPE inside the attention forward, so recompute
        # it from the hooked projections with the model's own rotary embedding and function.
        t = len(prompt_ids)
        hd = config.hidden_size // heads if getattr(config, "head_dim", None) is None else config.head_dim
        q = torch.from_numpy(captured[prefix + "q_proj"]).view(1, t, heads, hd).transpose(1, 2)
        k = torch.from_numpy(captured[prefix + "k_proj"]).view(1, t, kv_heads, hd).transpose(1, 2)
        cos, sin = model.model.rotary_emb(q, torch.arange(t).unsqueeze(0))
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        captured[prefix + "q"] = q.transpose(1, 2).reshape(t, heads * hd).numpy()
        captured[prefix + "k"] = k.transpose(1, 2).reshape(t, kv_heads * hd).numpy()
    for h in hooks:
        h.remove()
    for name, h in (("q_proj", heads), ("k_proj", kv_heads), ("q", heads), ("k", kv_heads)):
        captured[prefix + name] = hf_to_gguf_rows(captured[prefix + name], h)

    result = Dump(directory, "Hugging Face transformers", model_path, prompt_ids, layer, layers)
    hidden = out.hidden_states
    result.add("embeddings", hidden[0][0].float().numpy())
    for n in range(layers - 1):
        result.add(f"blk.{n}.output", hidden[n + 1][0].float().numpy())
    result.add("final_norm", hidden[layers][0].float().numpy())
    for name, values in captured.items():
        result.add(name, values)
    return result.write()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default=os.path.join(OUT, "transformers"))
    parser.add_argument("--dump", default="greedy-0", help="comma-separated fixture names whose prompts get a dump ('' for none)")
    parser.add_argument("--layer", type=int, default=0, help="block whose intermediates are dumped")
    args = parser.parse_args()
    import torch, transformers
    tok, model, name, digest = load_peer(args.model, 1)
    backend = {"name": "transformers", "version": transformers.__version__, "torch": torch.__version__,
               "dtype": "float32", "model_file": name, "model_sha256": digest}
    summary = {"backend": backend, "fixtures": {}}
    for fixture, prompt_ids, max_new, top_k in greedy_fixtures():
        short = fixture.split("/")[1]
        results = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results[threads] = greedy_candidate(prompt_ids, max_new, top_k, incremental(model, torch),
                                                dict(backend, threads=threads, mode="incremental decode, KV cache"))
        torch.set_num_threads(1)
        candidate, logits = results[1]
        write_json(os.path.join(args.out, short + ".json"), candidate)
        sequence = prompt_ids + candidate["output_ids"][:-1]
        whole = whole_sequence_logits(model, torch, sequence)[len(prompt_ids) - 1:]
        whole_tokens = [int(np.argmax(row)) for row in whole]
        entry = {"threads_1_vs_2": {"max_abs_logit_difference": max_abs_difference(logits, results[2][1]),
                                    "first_token_difference": first_token_difference(candidate["output_ids"], results[2][0]["output_ids"])},
                 "incremental_vs_whole_sequence": {"max_abs_logit_difference": max_abs_difference(logits, whole),
                                                   "argmax_differences": sum(a != b for a, b in zip(whole_tokens, candidate["output_ids"]))}}
        summary["fixtures"][fixture] = entry
        print(fixture, entry, flush=True)
        if short in [x for x in args.dump.split(",") if x]:
            names = dump(model, torch, os.path.join(args.out, "dump-" + short), prompt_ids, args.layer, args.model)
            print(f"  dump-{short}: {len(names)} arrays", flush=True)
    write_json(os.path.join(args.out, "summary.json"), summary)


if __name__ == "__main__":
    main()
