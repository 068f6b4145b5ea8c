"""Cost per generated token of strategies against greedy, from `touchstone generate --json`
statistics, interleaved over several rounds in one run (dev-time; no Python in the build or tests).

    python3 Scripts/strategy_cost.py [--touchstone .build/release/touchstone] [--rounds 3] [--tokens 32]

Each row runs the same prompt with `--ignore-eos`; the figure is (prefill_seconds + decode_seconds)
/ new tokens, the median over rounds, and its ratio to greedy's median from the same rounds.
"""
import argparse, json, statistics, subprocess

PROMPT = "The history of the printing press begins"
EVIDENCE = "In 2031 the city council renamed the main square after the printer Ada Wren."
ROWS = [
    ("greedy", []),
    ("cad (α 0.5)", ["--strategy", "cad", "--context", EVIDENCE]),
    ("cad --cad-mode official", ["--strategy", "cad", "--context", EVIDENCE, "--cad-mode", "official"]),
    ("contrastive-decoding (code, 5 beams)", ["--strategy", "contrastive-decoding"]),
    ("contrastive-decoding --cd-mode logit", ["--strategy", "contrastive-decoding", "--cd-mode", "logit"]),
    ("lol", ["--strategy", "lol"]),
    ("dola (greedy)", ["--strategy", "dola", "--dola-layers", "high"]),
    ("dola --seed 1 --top-p 0.9", ["--strategy", "dola", "--dola-layers", "high", "--seed", "1", "--top-p", "0.9"]),
    ("greedy --clamp-neuron 0:350:5:gated", ["--clamp-neuron", "0:350:5:gated"]),
    ("sample --seed 1 (DRY + XTC, llama.cpp order)", ["--strategy", "sample", "--seed", "1", "--processor-order", "llama.cpp",
                                                       "--dry-multiplier", "0.8", "--xtc-probability", "0.5", "--xtc-threshold", "0.1"]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--touchstone", default=".build/release/touchstone")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    times = {name: [] for name, _ in ROWS}
    for r in range(a.rounds):
        for name, extra in ROWS:
            out = subprocess.run([a.touchstone, "generate", "--prompt", PROMPT, "--max-new-tokens", str(a.tokens), "--ignore-eos",
                                  "--threads", str(a.threads), "--json"] + extra, capture_output=True, text=True, check=True)
            s = json.loads(out.stdout)["stats"]
            n = len(json.loads(out.stdout)["output_ids"])
            times[name].append((s["prefill_seconds"] + s["decode_seconds"]) / n)
        print(f"round {r + 1}/{a.rounds} done", flush=True)
    base = statistics.median(times["greedy"])
    print(f"| strategy | ms/token (median of {a.rounds}) | vs greedy |\n|---|---|---|")
    for name, _ in ROWS:
        m = statistics.median(times[name])
        print(f"| `{name}` | {m * 1000:.0f} | {m / base:.2f}× |")


if __name__ == "__main__":
    main()
