#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses (Fuzz/, Scripts/fuzz.sh) into
Fixtures/fuzz/<harness>/: small valid and near-valid inputs. Reuses the broken-file corpus
(Fixtures/formats/broken), the tokenizer fixtures and the tiny golden fixtures. Needs the `gguf`
Python package (gguf-py) for the valid GGUF seeds. Usage: python3 Scripts/make_fuzz_seeds.py

Regression inputs (Fixtures/fuzz/regressions/<harness>/) are not written here: they are the
inputs the fuzzers found, committed as they were found.
"""
import glob
import json
import os
import shutil

import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "Fixtures", "fuzz")
BROKEN = os.path.join(ROOT, "Fixtures", "formats", "broken")
TOKENIZERS = os.path.join(ROOT, "Fixtures", "tokenizer")


def corpus(name):
    path = os.path.join(OUT, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def put(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def tokenizer_json(name):
    with open(os.path.join(TOKENIZERS, name)) as f:
        return json.load(f)


def vocabulary(tok):
    """(tokens by id, merges as 'a b', token types) of a tokenizer.json, added tokens as control."""
    vocab = dict(tok["model"]["vocab"])
    for added in tok["added_tokens"]:
        vocab[added["content"]] = added["id"]
    tokens = [None] * (max(vocab.values()) + 1)
    for text, i in vocab.items():
        tokens[i] = text
    tokens = [t if t is not None else f"<unused{i}>" for i, t in enumerate(tokens)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    special = {a["id"] for a in tok["added_tokens"] if a.get("special")}
    types = [3 if i in special else 1 for i in range(len(tokens))]
    return tokens, merges, types


def write_gguf(path, tok, pre, model=None, quantize=False, chat_template=None):
    writer = gguf.GGUFWriter(path, "llama")
    tokens, merges, types = vocabulary(tok)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if chat_template:
        writer.add_chat_template(chat_template)
    if model:
        hidden, heads, kv_heads, ffn, layers = 32, 2, 1, 32, 1
        head_dim = hidden // heads
        writer.add_context_length(64)
        writer.add_embedding_length(hidden)
        writer.add_feed_forward_length(ffn)
        writer.add_block_count(layers)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_rope_freq_base(10000.0)
        rng = np.random.default_rng(13)

        def add(name, rows, columns=None):
            shape = (rows, columns) if columns else (rows,)
            values = (rng.standard_normal(shape) * 0.1).astype(np.float32)
            if quantize and columns:
                data = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
                writer.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                writer.add_tensor(name, values)

        add("token_embd.weight", len(tokens), hidden)
        for i in range(layers):
            p = f"blk.{i}."
            add(p + "attn_norm.weight", hidden)
            add(p + "attn_q.weight", heads * head_dim, hidden)
            add(p + "attn_k.weight", kv_heads * head_dim, hidden)
            add(p + "attn_v.weight", kv_heads * head_dim, hidden)
            add(p + "attn_output.weight", hidden, heads * head_dim)
            add(p + "ffn_norm.weight", hidden)
            add(p + "ffn_gate.weight", ffn, hidden)
            add(p + "ffn_up.weight", ffn, hidden)
            add(p + "ffn_down.weight", hidden, ffn)
        add("output_norm.weight", hidden)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


SMOLLM2_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
                    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
                    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

tiny = tokenizer_json("tiny-tokenizer.json")

# gguf: a tiny valid Llama model (F32 and Q8_0), plus every broken GGUF.
d = corpus("gguf")
write_gguf(os.path.join(d, "tiny-llama-f32.gguf"), tiny, "smollm", model=True)
write_gguf(os.path.join(d, "tiny-llama-q8_0.gguf"), tiny, "smollm", model=True, quantize=True)
for path in sorted(glob.glob(os.path.join(BROKEN, "gguf_*.gguf"))):
    shutil.copy(path, d)

# gguf-vocabulary: vocabulary-only GGUFs for each pre-tokenizer, one with the chat template.
d = corpus("gguf-vocabulary")
write_gguf(os.path.join(d, "tiny-smollm.gguf"), tiny, "smollm", chat_template=SMOLLM2_TEMPLATE)
write_gguf(os.path.join(d, "tiny-llama3.gguf"), tokenizer_json("tiny-llama3-tokenizer.json"), "llama-bpe")
write_gguf(os.path.join(d, "tiny-qwen2.gguf"), tokenizer_json("tiny-qwen2-tokenizer.json"), "qwen2")

# safetensors: the reference files and every broken safetensors file.
d = corpus("safetensors")
for path in sorted(glob.glob(os.path.join(ROOT, "Fixtures", "formats", "safetensors", "*.safetensors"))
                   + glob.glob(os.path.join(BROKEN, "st_*.safetensors"))):
    shutil.copy(path, d)

# config-json: the tiny models' configs and near-valid variants.
d = corpus("config-json")
for model in ["tiny-a", "tiny-b"]:
    shutil.copy(os.path.join(ROOT, "Fixtures", "models", model, "config.json"), os.path.join(d, model + ".json"))
with open(os.path.join(ROOT, "Fixtures", "models", "tiny-a", "config.json")) as f:
    base = json.load(f)
variants = {
    "eos-list": {"eos_token_id": [2, 3], "bos_token_id": 1},
    "eos-out-of-range": {"eos_token_id": 9999},
    "rope-scaling": {"rope_scaling": {"type": "linear", "factor": 2.0}},
    "head-dim": {"head_dim": 16},
    "zero-heads": {"num_attention_heads": 0},
    "huge-layers": {"num_hidden_layers": 2 ** 62},
    "untied": {"tie_word_embeddings": False},
}
for name, change in variants.items():
    put(d, name + ".json", json.dumps({**base, **change}))
put(d, "missing-hidden.json", json.dumps({k: v for k, v in base.items() if k != "hidden_size"}))

# tokenizer-json: the tiny tokenizers (one per pre-tokenizer family).
d = corpus("tokenizer-json")
for name in ["tiny-tokenizer.json", "tiny-llama3-tokenizer.json", "tiny-qwen2-tokenizer.json"]:
    shutil.copy(os.path.join(TOKENIZERS, name), d)

# tokenizer-text: mode byte (0/1 encode, 2 ids, 3 stream) + text from the tokenizer corpus.
d = corpus("tokenizer-text")
with open(os.path.join(TOKENIZERS, "corpus.json")) as f:
    texts = json.load(f)
texts = [t for t in texts if isinstance(t, str)]
picked = texts[:12] + ["<|im_start|>user\nHi<|im_end|>\n", "  \t\n 123 4567 ü 🦙 \u200d", ""]
for i, text in enumerate(picked):
    put(d, f"text-{i:02d}", bytes([i % 4 if i % 4 != 2 else 0]) + text.encode("utf-8")[:512])
put(d, "ids-small", bytes([2]) + b"".join(int(i + 8).to_bytes(2, "little") for i in [1, 45, 300, 2, 99, 383]))
put(d, "ids-out-of-range", bytes([2]) + b"".join(int(i).to_bytes(2, "little") for i in [0, 7, 65535]))

# candidate-trace: golden fixtures (also valid candidates) and small candidate documents.
d = corpus("candidate-trace")
for path in sorted(glob.glob(os.path.join(ROOT, "Fixtures", "golden", "tiny-a", "*.json")))[:4]:
    shutil.copy(path, d)
put(d, "ids-only.json", '{"output_ids": [1, 2, 3]}')
put(d, "with-trace.json", json.dumps({"prompt_ids": [7], "output_ids": [3, 4], "trace": [
    {"token": 3, "logit": 1.5, "top": [[3, 1.5], [9, 1.0]]},
    {"token": 4, "logit": 2.0, "probability": 0.5, "top": [[4, 2.0]], "drafted": [4, 5], "accepted": 1}]}))
put(d, "bad-length.json", '{"output_ids": [1], "trace": []}')

# arguments: first byte = allowed positional count, then NUL-separated argv.
d = corpus("arguments")
argvs = [
    ["--prompt", "Once upon a time", "--max-new-tokens", "8", "--json"],
    ["--prompt-ids=504,3575,282", "--temperature", "0.7", "--top-p=0.9", "--seed", "42"],
    ["--ids", "1,,2", "--threads", "-1"],
    ["--stop-strings", '["a","b"]', "--chat", "--ignore-eos"],
    ["fixture.json", "candidate.json", "--json"],
    ["--max-new-tokens", "8", "--max-new-tokens", "9"],
    ["--json=1", "--unknown"],
]
for i, argv in enumerate(argvs):
    put(d, f"argv-{i}", bytes([2 if i == 4 else 0]) + b"\0".join(a.encode() for a in argv))
