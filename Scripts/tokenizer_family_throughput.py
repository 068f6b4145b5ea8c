#!/usr/bin/env python3
"""Encode throughput per tokenizer family: Touchstone (`touchstone bench --tokenizer`) against
Hugging Face `tokenizers` on the same texts, one thread, measured back to back per vocabulary.

Vocabularies: llama.cpp's suite files `ggml-vocab-*.gguf` (those with an `.inp`, see
Scripts/fetch_llama_vocab_suite.sh) in DIR (default $TOUCHSTONE_LLAMA_VOCAB_DIR, then
<cache>/llama-vocab). Texts: the 1.2 MB prose/code/multilingual corpus of
Scripts/tokenizer_peer_throughput.py (same seed), written to --corpus.

The peer tokenizer per file is what transformers' `gguf_file=` loader builds from it
(`convert_gguf_tokenizer`: every byte-level file gets GPT-2's `ByteLevel` pre-tokenizer, llama/phi3
files a SentencePiece-style BPE with byte fallback, Gemma 4 its own); transformers cannot build
`bert` from a GGUF, so for bert-bge the `tokenizers` library's `BertWordPieceTokenizer` is built from
the file's vocabulary (`▁w` → `w`, bare `w` → `##w`, lowercase and accent stripping on). The Rust
`Tokenizer` is called directly, `encode(doc, add_special_tokens=False)` per document,
RAYON_NUM_THREADS=1. Touchstone is measured under `--convention transformers` (the same
pre-tokenization as the peer) and `--convention llama.cpp` (the file's own `tokenizer.ggml.pre`).
"cold" is the first pass, "warm" the best of 3 more; the ratio column is Touchstone / HF, warm, for
the convention whose token count equals the peer's (transformers 5 follows `tokenizer.ggml.pre` for
some byte-level files); the token counts are printed as a check that the work is alike.

Usage: Scripts/tokenizer_family_throughput.py [DIR] [--corpus F] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_peer_throughput import make_corpus  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peer_tokenizer(path):
    """The `tokenizers.Tokenizer` Hugging Face builds for the GGUF at `path`."""
    import tokenizers
    from transformers.integrations.gguf import convert_gguf_tokenizer, get_gguf_tokenizer
    architecture, tokenizer_dict, _ = get_gguf_tokenizer(path)
    if tokenizer_dict.get("tokenizer_type") == "bert":
        from tokenizers.implementations import BertWordPieceTokenizer
        vocab = {}
        types = tokenizer_dict.get("token_type") or [1] * len(tokenizer_dict["tokens"])
        for i, piece in enumerate(tokenizer_dict["tokens"]):
            if types[i] in (2, 3, 4):
                word = piece
            elif piece.startswith("\u2581"):
                word = piece[1:]
            else:
                word = "##" + piece
            vocab.setdefault(word, i)
        built = BertWordPieceTokenizer(vocab, unk_token="[UNK]", lowercase=True, strip_accents=True)
        return tokenizers.Tokenizer.from_str(built.to_str())
    fast, _ = convert_gguf_tokenizer(architecture, tokenizer_dict)
    return tokenizers.Tokenizer.from_str(fast.to_str())


def measure_peer(tk, docs):
    nbytes = sum(len(d.encode()) for d in docs)
    start = time.perf_counter()
    tokens = sum(len(tk.encode(d, add_special_tokens=False).ids) for d in docs)
    cold = time.perf_counter() - start
    warm = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for d in docs:
            tk.encode(d, add_special_tokens=False)
        warm = min(warm, time.perf_counter() - start)
    return {"tokens": tokens, "cold_mb_per_second": nbytes / cold / 1e6, "warm_mb_per_second": nbytes / warm / 1e6}


def measure_touchstone(binary, path, corpus, convention):
    out = subprocess.run([binary, "bench", "--tokenizer", "--model", path, "--text-file", corpus, "--json",
                          "--convention", convention, "--threads", "1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser()
    cache = os.environ.get("TOUCHSTONE_CACHE", os.path.expanduser("~/.cache/touchstone"))
    parser.add_argument("directory", nargs="?", default=os.environ.get("TOUCHSTONE_LLAMA_VOCAB_DIR") or os.path.join(cache, "llama-vocab"))
    parser.add_argument("--corpus", default="/tmp/touchstone-tokenizer-bench.json")
    parser.add_argument("--binary", default=os.environ.get("TOUCHSTONE_BIN", os.path.join(ROOT, ".build/release/touchstone")))
    parser.add_argument("--only", default="", help="comma-separated family names, e.g. gpt-2,bert-bge")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    docs = make_corpus()
    with open(args.corpus, "w", encoding="utf-8") as f:
        json.dump(docs, f, ensure_ascii=False)
    names = sorted(n[len("ggml-vocab-"):-len(".gguf.inp")] for n in os.listdir(args.directory)
                   if n.startswith("ggml-vocab-") and n.endswith(".gguf.inp"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}; corpus {sum(len(d.encode()) for d in docs)} bytes, {len(docs)} documents", file=sys.stderr)
    rows = []
    for name in names:
        path = os.path.join(args.directory, f"ggml-vocab-{name}.gguf")
        peer = measure_peer(peer_tokenizer(path), docs)
        same = measure_touchstone(args.binary, path, args.corpus, "transformers")
        own = measure_touchstone(args.binary, path, args.corpus, "llama.cpp")
        # Compare with the convention that does the peer's work (equal token count); transformers 5
        # follows tokenizer.ggml.pre for some byte-level files (llama-bpe, qwen2), 4.52 never did.
        matched = same if same["tokens"] == peer["tokens"] else own if own["tokens"] == peer["tokens"] else same
        row = {"family": name, "hf": peer, "touchstone_transformers": same, "touchstone_llama_cpp": own,
               "compared_convention": "transformers" if matched is same else "llama.cpp",
               "same_token_count": matched["tokens"] == peer["tokens"],
               "ratio_warm": matched["warm_mb_per_second"] / peer["warm_mb_per_second"],
               "load_average": os.getloadavg()[0]}
        rows.append(row)
        if not args.json:
            print(f"{name:15s} HF {peer['warm_mb_per_second']:6.2f} MB/s ({peer['tokens']} tokens)  "
                  f"Touchstone transformers {same['warm_mb_per_second']:6.1f} MB/s ({same['tokens']}), "
                  f"llama.cpp {own['warm_mb_per_second']:6.1f} MB/s ({own['tokens']})  "
                  f"ratio {row['ratio_warm']:5.1f}x vs {row['compared_convention']}{'' if row['same_token_count'] else ' (token counts differ)'}  "
                  f"(cold HF {peer['cold_mb_per_second']:.2f}, Touchstone {matched['cold_mb_per_second']:.1f}; load {row['load_average']:.1f})",
                  flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
