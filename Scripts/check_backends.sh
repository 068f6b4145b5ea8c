#!/bin/sh
# Real backends, checked (DOCS.md section 7.4): verify the committed candidate traces of llama.cpp
# and Hugging Face transformers against the golden greedy SmolLM2 fixtures, and explain their
# activation dumps against Touchstone's. Reads only committed files under Fixtures/backends/ and
# Fixtures/golden/, so it needs no Python:
#
#   Scripts/check_backends.sh            verify + explain the committed inputs
#   Scripts/check_backends.sh --regenerate
#                                        first rebuild the inputs: Touchstone's dump (needs the
#                                        cached SmolLM2 GGUF), then the two backend scripts
#                                        (need torch + transformers, and llama-cpp-python; set
#                                        LLAMA_CPP_LIB_PATH to use a separately built libllama.so)
#
# verify and explain exit 1 on a divergence; this script reports every result and exits 0 unless a
# command could not run at all (exit status ≥ 2).
set -u
cd "$(dirname "$0")/.."
T=${TOUCHSTONE:-.build/release/touchstone}
[ -x "$T" ] || swift build -c release --product touchstone || exit 2
B=Fixtures/backends

if [ "${1:-}" = "--regenerate" ]; then
    "$T" activations --prompt-ids 504,3575,282,4649,314 --out $B/touchstone/dump-greedy-0 --no-logits || exit 2
    python3 Scripts/backend_transformers.py || exit 2
    python3 Scripts/backend_llamacpp.py || exit 2
fi

status=0
run() {
    echo "\$ $*"
    "$@"
    rc=$?
    [ $rc -ge 2 ] && status=2
    echo "(exit $rc)"
    echo
}

for candidate in $B/transformers/greedy-*.json $B/llamacpp/greedy-*.json; do
    fixture=$(basename "$candidate" .json)   # greedy-0, greedy-0.kv-f32, greedy-0.f32
    fixture=${fixture%%.*}
    run "$T" verify Fixtures/golden/smollm2/$fixture.json "$candidate"
    # verify stops at the first logit beyond the tolerance; a loose tolerance shows where the
    # tokens themselves first diverge and the logit error before that.
    run "$T" verify Fixtures/golden/smollm2/$fixture.json "$candidate" --tolerance 10
done

for dump in $B/transformers/dump-greedy-0 $B/llamacpp/dump-greedy-0 $B/llamacpp/dump-greedy-0.f32; do
    [ -d "$dump" ] && run "$T" explain $B/touchstone/dump-greedy-0 "$dump"
done
exit $status
