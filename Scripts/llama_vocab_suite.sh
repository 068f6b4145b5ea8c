#!/usr/bin/env bash
# Runs llama.cpp's tokenizer conformance suite (models/ggml-vocab-*.gguf with .inp/.out, as
# tests/test-tokenizer-0.cpp runs it: add_special = false, parse_special = false) through the
# release CLI: one `touchstone tokenize --model FILE --convention llama.cpp --no-special
# --texts-file J` per vocabulary, ids compared exactly with the .out lines.
# Prints passed/total per vocabulary and overall; exits 1 on any mismatch.
#
# Usage: Scripts/llama_vocab_suite.sh [DIR]
#   DIR: llama.cpp's models/ directory (default $TOUCHSTONE_LLAMA_VOCAB_DIR, then
#   ${TOUCHSTONE_CACHE:-~/.cache/touchstone}/llama-vocab, filled by Scripts/fetch_llama_vocab_suite.sh).
#   TOUCHSTONE_BIN: the CLI (default .build/release/touchstone, built if missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${TOUCHSTONE_CACHE:-$HOME/.cache/touchstone}"
dir="${1:-${TOUCHSTONE_LLAMA_VOCAB_DIR:-$cache/llama-vocab}}"
if [ ! -f "$dir/ggml-vocab-gpt-2.gguf.inp" ]; then
    echo "llama.cpp's vocabulary suite is not in $dir: run Scripts/fetch_llama_vocab_suite.sh or give llama.cpp's models/ directory" >&2
    exit 2
fi
bin="${TOUCHSTONE_BIN:-$root/.build/release/touchstone}"
if [ ! -x "$bin" ]; then (cd "$root" && swift build -c release --product touchstone); fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
passed_all=0
total_all=0
for inp in "$dir"/ggml-vocab-*.gguf.inp; do
    base="${inp%.inp}"
    name="$(basename "$base" .gguf)"
    name="${name#ggml-vocab-}"
    # The inputs as test-tokenizer-0 reads them (split on "\n__ggml_vocab_test__\n"), as a JSON array.
    python3 - "$inp" "$work/texts.json" <<'PY'
import json, sys
data = open(sys.argv[1], "rb").read().decode("utf-8")
texts = data.split("\n__ggml_vocab_test__\n")
# read_tests stops at the end of the data: a separator closing the file starts no case (a plain
# split would add an empty 47th text, the source of the issue's count of 708 = 694 + 14).
if len(texts) > 1 and texts[-1] == "": texts.pop()
json.dump(texts, open(sys.argv[2], "w"), ensure_ascii=True)
PY
    if ! "$bin" tokenize --model "$base" --convention llama.cpp --no-special --texts-file "$work/texts.json" > "$work/got.txt"; then
        echo "$name: touchstone tokenize failed" >&2
        status=1
        continue
    fi
    read -r passed total < <(python3 - "$base.out" "$work/got.txt" "$work/texts.json" "$name" <<'PY'
import json, sys
expected = [line.split() for line in open(sys.argv[1], encoding="utf-8").read().split("\n")]
if expected and expected[-1] == []: expected.pop()
got = [line.split(",") if line else [] for line in open(sys.argv[2], encoding="utf-8").read().split("\n")]
if got and got[-1] == []: got.pop()
texts = json.load(open(sys.argv[3]))
name = sys.argv[4]
if len(expected) != len(texts):
    print(f"{name}: {len(texts)} inputs but {len(expected)} expected lines", file=sys.stderr)
passed = 0
for i, want in enumerate(expected):
    have = got[i] if i < len(got) else None
    if have == want:
        passed += 1
    else:
        text = texts[i] if i < len(texts) else None
        print(f"{name}: case {i} {text!r}: got {have}, expected {want}", file=sys.stderr)
print(passed, max(len(expected), len(texts)))
PY
)
    echo "$name: $passed/$total"
    passed_all=$((passed_all + passed))
    total_all=$((total_all + total))
    if [ "$passed" != "$total" ]; then status=1; fi
done
echo "overall: $passed_all/$total_all"
exit $status
