#!/usr/bin/env bash
# D1 check: a plain release build (the default: no CPU target flag) and a TOUCHSTONE_NATIVE=1
# build (-target-cpu native, read by Package.swift) must produce bit-identical logits and greedy
# tokens. Each goes in its own scratch directory (.build-plain, .build-native).
# Usage: Scripts/check_build_invariance.sh [model]   (default: smollm2-135m)
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-smollm2-135m}"
env -u TOUCHSTONE_NATIVE swift build -c release --product touchstone --scratch-path .build-plain
TOUCHSTONE_NATIVE=1 swift build -c release --product touchstone --scratch-path .build-native
if ! grep -q -- "-target-cpu" .build-native/release.yaml; then echo "the TOUCHSTONE_NATIVE=1 build has no -target-cpu flag"; exit 1; fi
if grep -q -- "-target-cpu" .build-plain/release.yaml; then echo "the plain build has a -target-cpu flag"; exit 1; fi
out=$(mktemp -d)
status=0
for ids in "1,2,3,4,5,6,7,8" "504,3458,282,4649,314" "28,19556,905,30,216,253,9357"; do
  .build-native/release/touchstone logits --model "$model" --prompt-ids "$ids" --out "$out/native.f32"
  .build-plain/release/touchstone logits --model "$model" --prompt-ids "$ids" --out "$out/plain.f32"
  if cmp -s "$out/native.f32" "$out/plain.f32"; then echo "logits identical for $ids"; else echo "LOGITS DIFFER for $ids"; status=1; fi
  a=$(.build-native/release/touchstone generate --model "$model" --prompt-ids "$ids" --max-new-tokens 24 --ignore-eos --json --top-logits 0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["output_ids"])')
  b=$(.build-plain/release/touchstone generate --model "$model" --prompt-ids "$ids" --max-new-tokens 24 --ignore-eos --json --top-logits 0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["output_ids"])')
  if [ "$a" = "$b" ]; then echo "greedy identical for $ids"; else echo "GREEDY DIFFERS for $ids"; status=1; fi
done
rm -rf "$out"
exit $status
