#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Fuzz/ (a separate package that depends on this one by path)
# with -sanitize=fuzzer,address and runs each for a set time, two at a time, then prints per
# harness: executions, crashes, leaks, timeouts and out-of-memory reports. DOCS.md section 8.2.
#
#   Scripts/fuzz.sh [--time S (600)] [--jobs N (2)] [--rss-limit MB (2048)] [--timeout S (10)]
#                   [--regressions] [harness ...]
#
# Harnesses: gguf gguf-vocabulary safetensors config-json tokenizer-json tokenizer-text
# candidate-trace arguments (default: all). Seeds: Fixtures/fuzz/<harness>/ (copied into a working
# corpus under Fuzz/.build/fuzz/, which grows as libFuzzer finds new coverage; the committed seeds
# are never modified). Findings: Fuzz/.build/fuzz/artifacts/<harness>/{crash,leak,timeout,oom}-*.
# --regressions runs every harness once over Fixtures/fuzz/regressions/<harness>/ instead (the
# inputs earlier runs found; Tests/FormatsTests etc. also feed them through the library in
# `swift test`).
# Run it with `nice` on a shared machine. Nothing here is part of `swift build` or `swift test`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TIME=600 JOBS=2 RSS=2048 TIMEOUT=10 REGRESSIONS=0
HARNESSES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) TIME="$2"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --rss-limit) RSS="$2"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --regressions) REGRESSIONS=1; shift ;;
        -h|--help) sed -n 2,18p "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) HARNESSES+=("$1"); shift ;;
    esac
done
ALL=(gguf gguf-vocabulary safetensors config-json tokenizer-json tokenizer-text candidate-trace arguments)
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=("${ALL[@]}")

product() {  # harness name -> executable product
    case "$1" in
        gguf) echo FuzzGGUF ;; gguf-vocabulary) echo FuzzGGUFVocabulary ;; safetensors) echo FuzzSafetensors ;;
        config-json) echo FuzzConfigJSON ;; tokenizer-json) echo FuzzTokenizerJSON ;;
        tokenizer-text) echo FuzzTokenizerText ;; candidate-trace) echo FuzzCandidateTrace ;;
        arguments) echo FuzzArguments ;;
        *) echo "fuzz.sh: unknown harness '$1' (one of: ${ALL[*]})" >&2; exit 2 ;;
    esac
}
for h in "${HARNESSES[@]}"; do product "$h" >/dev/null; done

echo "== building the harnesses (release, -sanitize=fuzzer,address)" >&2
# Product by product: a plain `swift build` here would also build the root package's `touchstone`
# executable, which cannot be compiled with -parse-as-library.
for h in "${HARNESSES[@]}"; do
    (cd "$ROOT/Fuzz" && swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product "$(product "$h")" >&2)
done
BIN="$ROOT/Fuzz/.build/release"
WORK="$ROOT/Fuzz/.build/fuzz"
mkdir -p "$WORK"

# The tokenizer-text harness uses the real SmolLM2 tokenizer when it is cached.
CACHE="${TOUCHSTONE_CACHE:-$HOME/.cache/touchstone}"
if [ -z "${TOUCHSTONE_FUZZ_TOKENIZER:-}" ]; then
    if [ -f "$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
        export TOUCHSTONE_FUZZ_TOKENIZER="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
    else
        export TOUCHSTONE_FUZZ_TOKENIZER="$ROOT/Fixtures/tokenizer/tiny-tokenizer.json"
    fi
fi
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"  # ASan reports the crash; the Swift backtracer would confuse it
export TOUCHSTONE_FUZZ_FIXTURE="${TOUCHSTONE_FUZZ_FIXTURE:-$ROOT/Fixtures/golden/tiny-a/beam-0.json}"
echo "== tokenizer-text uses $TOUCHSTONE_FUZZ_TOKENIZER" >&2

run() {  # one harness: libFuzzer for $TIME seconds (or once over the regression inputs)
    local h="$1" exe
    # A private copy, so that rebuilding (to test a fix) while other harnesses run is safe.
    exe="$WORK/bin/$(product "$h").$$"
    mkdir -p "$WORK/bin"; cp "$BIN/$(product "$h")" "$exe"
    local artifacts="$WORK/artifacts/$h/" log="$WORK/$h.log"
    rm -rf "$artifacts"; mkdir -p "$artifacts"
    if [ "$REGRESSIONS" = 1 ]; then
        local inputs=("$ROOT/Fixtures/fuzz/regressions/$h"/*)
        [ -e "${inputs[0]}" ] || { echo "no regression inputs" >"$log"; return 0; }
        "$exe" -rss_limit_mb="$RSS" -timeout="$TIMEOUT" -artifact_prefix="$artifacts" "${inputs[@]}" >"$log" 2>&1 || true
        return 0
    fi
    local corpus="$WORK/corpus/$h"
    mkdir -p "$corpus"
    cp -n "$ROOT/Fixtures/fuzz/$h"/* "$corpus"/ 2>/dev/null || true
    # One process; libFuzzer stops at the first crash, leak, timeout or out-of-memory input.
    local start=$SECONDS
    "$exe" "$corpus" -max_total_time="$TIME" -rss_limit_mb="$RSS" -timeout="$TIMEOUT" \
        -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1 || true
    echo $((SECONDS - start)) >"$WORK/$h.seconds"
}

running=0
for h in "${HARNESSES[@]}"; do
    echo "== $h: started $(date -u +%H:%M:%S)" >&2
    run "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true
rm -f "$WORK/bin/"*".$$"

count() { find "$WORK/artifacts/$1" -maxdepth 1 -name "$2-*" 2>/dev/null | wc -l | tr -d ' '; }
printf '%-16s %8s %12s %8s %8s %6s %9s %5s %7s\n' harness seconds executions exec/s crashes leaks timeouts ooms corpus
status=0
for h in "${HARNESSES[@]}"; do
    log="$WORK/$h.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    [ -z "$execs" ] && execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    [ "$REGRESSIONS" = 1 ] && execs=$(grep -c '^Executed ' "$log" || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    secs=$(cat "$WORK/$h.seconds" 2>/dev/null || echo "?")
    corpus=$(find "$WORK/corpus/$h" -type f 2>/dev/null | wc -l | tr -d ' ')
    c=$(count "$h" crash) l=$(count "$h" leak) t=$(count "$h" timeout) o=$(count "$h" oom)
    # A sanitizer report without an artifact (e.g. a leak at exit) counts as a crash.
    if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)' "$log" && [ $((c + l + t + o)) -eq 0 ]; then c=1; fi
    printf '%-16s %8s %12s %8s %8s %6s %9s %5s %7s\n' "$h" "$( [ "$REGRESSIONS" = 1 ] && echo - || echo "$secs")" "${execs:-?}" "${rate:-?}" "$c" "$l" "$t" "$o" "$corpus"
    [ $((c + l + t + o)) -eq 0 ] || status=1
done
echo "logs: $WORK/<harness>.log; findings: $WORK/artifacts/<harness>/" >&2
exit $status
