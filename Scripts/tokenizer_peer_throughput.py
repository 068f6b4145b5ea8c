#!/usr/bin/env python3
"""Generates the tokenizer benchmark corpus and measures Hugging Face tokenizers on it.

The corpus (JSON array of ~4 KB documents, >= 1 MB of UTF-8 in total) is built
deterministically from a seed: English prose with punctuation and numbers, some German/French/
Russian/Chinese sentences and emoji, and source code (Python, C, JavaScript, Rust) with random
identifiers and indentation. It is written to --corpus (default /tmp/touchstone-tokenizer-bench.json)
so the Swift side encodes the same texts: `BPETokenizer.measureEncodeThroughput(texts:)`, reached
through `touchstone bench --tokenizer` (or the dev package's `swift run -c release tokenizer-bench
<corpus>`), which also prints the same id checksum as this script.

Peer measurement: the fast tokenizer transformers builds from the SmolLM2 GGUF, its Rust
`tokenizers.Tokenizer` called directly (`encode(doc, add_special_tokens=False)`), one document
at a time, single-threaded (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false; `encode` of a
single text never uses the thread pool anyway). "cold" is the first pass of a freshly
deserialized tokenizer (empty BPE cache), "warm" the best of 3 further passes.
"""
import argparse
import json
import os
import random
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

WORDS = ("the of and to in a is that for it as was with be by on not he I this are or his from at which "
         "but have an they you were her she there one all we their has been would when who will more no if "
         "out so said what up its about into than them can only other new some could time these two may then "
         "do first any my now such like our over man me even most made after also did many before must through "
         "back years where much your way well down should because each just those people Mr how too little state "
         "good very make world still own see men work long get here between both life being under never day same "
         "another know while last might us great old year off come since against go came right used take three "
         "tokenizer model inference reference implementation deterministic golden fixture backend kernel "
         "attention transformer probability distribution sampling temperature speculative decoding").split()
FOREIGN = [
    "Die Katze schläft auf dem Sofa, während draußen die Sonne scheint.",
    "Le petit déjeuner était délicieux ; nous avons mangé des croissants à Paris.",
    "Быстрая коричневая лиса перепрыгивает через ленивую собаку.",
    "我们今天在图书馆学习了自然语言处理和机器学习。",
    "東京の天気は晴れです。明日は雨が降るでしょう。",
    "Emoji time 😀🎉👍🏽 and a family 👨‍👩‍👧 plus flags 🇫🇷🇯🇵.",
]
CODE = [
    "def {f}({a}, {b}):\n    \"\"\"Return the {w} of {a} and {b}.\"\"\"\n    if {a} is None:\n        return {b}\n    {r} = [{a} * i + {b} for i in range({n})]\n    return sum({r}) / len({r})\n",
    "static int {f}(const char *{a}, size_t {b}) {{\n\tint {r} = 0;\n\tfor (size_t i = 0; i < {b}; i++) {{\n\t\t{r} += {a}[i] * {n};\n\t}}\n\treturn {r};\n}}\n",
    "export function {f}({a}, {b}) {{\n  const {r} = {a}.map((x) => x * {n}).filter(Boolean);\n  return {r}.length > {b} ? {r} : [];\n}}\n",
    "fn {f}({a}: &[u32], {b}: usize) -> Option<u32> {{\n    let {r}: u32 = {a}.iter().take({b}).sum();\n    if {r} > {n} {{ Some({r}) }} else {{ None }}\n}}\n",
]


def make_corpus(seed=1234, target_bytes=1_200_000):
    rng = random.Random(seed)
    docs, total = [], 0
    while total < target_bytes:
        parts = []
        while sum(len(p.encode()) for p in parts) < 4000:
            r = rng.random()
            if r < 0.55:
                words = [rng.choice(WORDS) for _ in range(rng.randint(6, 24))]
                if rng.random() < 0.3:
                    words.insert(rng.randrange(len(words)), str(rng.randint(0, 10 ** rng.randint(1, 7))))
                sentence = " ".join(words)
                parts.append(sentence[0].upper() + sentence[1:] + rng.choice([".", "!", "?", ",", ";", ":"]) +
                             rng.choice([" ", " ", "\n", "\n\n"]))
            elif r < 0.65:
                parts.append(rng.choice(FOREIGN) + "\n")
            else:
                ident = lambda: rng.choice(WORDS).lower() + rng.choice(["", "_", "_" + rng.choice(WORDS).lower(), str(rng.randint(0, 9))])
                parts.append(rng.choice(CODE).format(f=ident(), a=ident(), b=ident(), r=ident(), w=rng.choice(WORDS),
                                                     n=rng.randint(0, 999)) + "\n")
        doc = "".join(parts)
        docs.append(doc)
        total += len(doc.encode())
    return docs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="/tmp/touchstone-tokenizer-bench.json")
    parser.add_argument("--model", default=os.environ.get(
        "TOUCHSTONE_MODEL", os.path.expanduser("~/.cache/touchstone/SmolLM2-135M-Instruct.Q4_1.gguf")))
    args = parser.parse_args()
    docs = make_corpus()
    with open(args.corpus, "w", encoding="utf-8") as f:
        json.dump(docs, f, ensure_ascii=False)
    nbytes = sum(len(d.encode()) for d in docs)

    import tokenizers
    from transformers import AutoTokenizer
    directory, name = os.path.split(args.model)
    serialized = AutoTokenizer.from_pretrained(directory, gguf_file=name).backend_tokenizer.to_str()
    tk = tokenizers.Tokenizer.from_str(serialized)
    start = time.perf_counter()
    encodings = [tk.encode(d, add_special_tokens=False).ids for d in docs]
    cold = time.perf_counter() - start
    ntokens = sum(len(ids) for ids in encodings)
    # Order-sensitive checksum of all ids, printed by the Swift benchmark too.
    checksum = 0
    for ids in encodings:
        for position, token in enumerate(ids):
            checksum = (checksum + (token + 1) * (position + 1)) % 1_000_000_007
    warm = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for d in docs:
            tk.encode(d, add_special_tokens=False)
        warm = min(warm, time.perf_counter() - start)
    print(json.dumps({"corpus": args.corpus, "documents": len(docs), "bytes": nbytes, "tokens": ntokens, "checksum": checksum,
                      "tokenizers": tokenizers.__version__, "threads": 1,
                      "cold_MBps": round(nbytes / cold / 1e6, 2), "warm_MBps": round(nbytes / warm / 1e6, 2)}))


if __name__ == "__main__":
    main()
