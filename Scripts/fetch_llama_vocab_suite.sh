#!/usr/bin/env bash
# Fetches llama.cpp's tokenizer conformance suite (models/ggml-vocab-*.gguf with .inp/.out, 75 MB,
# never committed) from the llama-cpp-python 0.3.36 source distribution into
# ${TOUCHSTONE_CACHE:-~/.cache/touchstone}/llama-vocab, where LlamaCppVocabularySuiteTests finds it.
# `--no-binary llama-cpp-python` (not `:all:`) so pip does not build cmake from source.
set -euo pipefail
cache="${TOUCHSTONE_CACHE:-$HOME/.cache/touchstone}"
dest="$cache/llama-vocab"
if [ -f "$dest/ggml-vocab-gpt-2.gguf.inp" ]; then echo "llama.cpp vocabulary suite already in $dest"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d "$work"
echo "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e  $work/llama_cpp_python-0.3.36.tar.gz" | sha256sum -c -
mkdir -p "$dest"
tar -xzf "$work"/llama_cpp_python-0.3.36.tar.gz -C "$work" --wildcards 'llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-*'
mv "$work"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-* "$dest"/
echo "llama.cpp vocabulary suite in $dest ($(ls "$dest" | wc -l) files)"
