#!/usr/bin/env python3
"""Information surplus of SmolLM2-135M-Instruct's hidden states about the token after next.

For a sequence x_0 … x_{T-1} and a position t, the next token x_{t+1} is given (teacher forcing)
and the probe predicts x_{t+2}. Two probes share one output layer, the model's frozen tied
embedding / LM-head matrix E [V, H] and a trainable bias c [V]:

    baseline (next token only):  u = A e(x_{t+1}) + a
    full, at layer l:             u = A e(x_{t+1}) + B rms(h_t^l) + a
    logits = E u + c,   CE = -log softmax(logits)[x_{t+2}]

where e(x) is the model's input embedding of x (row x of E: SmolLM2 ties them), h_t^l is the
hidden state at position t in Hugging Face's `hidden_states` numbering (0 = embeddings, 30 = after
the final norm, as `touchstone lens` numbers them), and rms(h) = h / sqrt(mean(h^2) + 1e-5) with
no gain, so that every layer enters on one scale. surplus_l = mean CE(baseline) - mean CE(full at
l), in nats per position, over held-out sequences.

Training (every probe: the same positions, batch order, optimiser, learning rate and seed):
Adam, no weight decay, with early stopping on a validation split (--validation-fraction of the
training sequences, never trained on): the validation CE is measured before training and every
half epoch, and the probe keeps its best state. The baseline starts from A = 0, a = 0 and c = the
log unigram frequency of the training targets (add-half smoothing) and runs up to
--baseline-epochs. Every full probe copies the best baseline's A, a, c, keeps them frozen, and
trains only B (from 0) for up to --epochs: so the full probe is the baseline plus an additive
logit term W_U B rms(h), its step-0 state is the baseline, and its validation CE is never above the
baseline's. (Re-training A, a, c with a fresh Adam state moved them off the baseline's optimum
and made the full probe worse than the baseline on validation for the first epoch.) A negative
held-out surplus can then only come from validation/held-out noise, not from under-training.

Data: /work/data/selfdistill/data.jsonl (self-written prompts and SmolLM2's own greedy answers,
made by Scripts/selfdistill_generate.py on another branch). Split by sequence (seeded shuffle)
into train and held-out. Only positions whose target x_{t+2} is a response token are used
(t from len(prompt_ids) - 2 to T - 3): the ChatML system prefix is the same in every sequence.

Confidence intervals: paired bootstrap over held-out sequences with the project's generator
(xoshiro256** seeded by SplitMix64, reimplemented below): each resample draws n sequence indices
floor(u * n), u = (next() >> 11) * 2^-53; the statistic is sum over drawn sequences of
(CE_baseline - CE_full) divided by their position count; the same draws serve every layer and the
baseline and full probes alike; the 95% interval is [sorted[floor(0.025 B)], sorted[ceil(0.975 B) - 1]].

Outputs: Fixtures/surplus/report.json, Fixtures/surplus/heldout.json (the first held-out
sequences, for the Swift check, with the figures this script got on them), docs/surplus.png,
Weights/smollm2-135m-instruct/surplus-probes.safetensors (Float32; keys baseline.{A,a,c} and
layer.<l>.{A,B,a,c} for the --ship-layers).

Usage: python3 Scripts/information_surplus.py [--model GGUF] [--data FILE] [--layers 0,5,...]
Needs: pip install torch transformers gguf safetensors matplotlib
"""
import argparse, json, math, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import ROOT, DEFAULT_MODEL, load_peer

EPSILON = 1e-5
MASK = (1 << 64) - 1


class Xoshiro256StarStar:
    """The project's generator (Sources/Tensors/Random.swift), bit for bit."""

    def __init__(self, seed):
        state = seed & MASK
        s = []
        for _ in range(4):
            state = (state + 0x9E3779B97F4A7C15) & MASK
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            s.append(z ^ (z >> 31))
        self.s = s

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def bootstrap(diff_sums, counts, resamples, seed):
    """95% percentile interval of sum(diff)/sum(count) over sequences resampled with replacement."""
    n = len(counts)
    rng = Xoshiro256StarStar(seed)
    stats = []
    for _ in range(resamples):
        d = c = 0.0
        for _ in range(n):
            i = int(rng.uniform() * n)
            d += diff_sums[i]
            c += counts[i]
        stats.append(d / c)
    stats.sort()
    return [stats[int(math.floor(0.025 * resamples))], stats[int(math.ceil(0.975 * resamples)) - 1]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data", default="/work/data/selfdistill/data.jsonl")
    ap.add_argument("--layers", default="0,5,10,15,20,25,30")
    ap.add_argument("--ship-layers", default="10,20,30")
    ap.add_argument("--heldout-fraction", type=float, default=0.15)
    ap.add_argument("--train-positions", type=int, default=30000)
    ap.add_argument("--check-positions", type=int, default=2000)
    ap.add_argument("--validation-fraction", type=float, default=0.1)
    ap.add_argument("--baseline-epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N sequences (smoke test)")
    ap.add_argument("--out", default=ROOT)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    start = time.time()
    layers = [int(x) for x in args.layers.split(",")]
    ship = [int(x) for x in args.ship_layers.split(",")]
    assert all(l in layers for l in ship)
    tok, model, name, digest = load_peer(args.model, threads=args.threads)
    L = model.config.num_hidden_layers
    assert all(0 <= l <= L for l in layers)
    E = model.lm_head.weight.detach()                      # [V, H], tied to the input embedding
    assert torch.equal(E, model.model.embed_tokens.weight.detach())
    V, H = E.shape

    with open(args.data) as f:
        rows = [json.loads(line) for line in f]
    if args.limit:
        rows = rows[:args.limit]
    # No overlap with Spec-Bench questions or golden prompts: check the decoded sequences for
    # each question's opening and each golden prompt's text.
    texts = [tok.decode(r["prompt_ids"] + r["response_ids"]) for r in rows]
    probes_of_overlap = []
    with open(os.path.join(ROOT, "Fixtures", "spec-bench", "question.jsonl")) as f:
        for line in f:
            for turn in json.loads(line).get("turns", []):
                if len(turn) >= 40:
                    probes_of_overlap.append(turn[:40])
    for path, _, files in os.walk(os.path.join(ROOT, "Fixtures", "golden")):
        for fn in files:
            if fn.endswith(".json"):
                with open(os.path.join(path, fn)) as f:
                    doc = json.load(f)
                if "smollm2" in path and doc.get("prompt_ids"):
                    p = tok.decode(doc["prompt_ids"]).strip()
                    if len(p) >= 20:
                        probes_of_overlap.append(p[:40])
    overlaps = sorted({p for p in probes_of_overlap for t in texts if p in t})
    assert not overlaps, f"Spec-Bench/golden openings occur in the data: {overlaps}"

    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    n_held = max(2, int(round(args.heldout_fraction * len(rows))))
    held_idx, rest = order[:n_held], order[n_held:]
    n_val = max(1, int(round(args.validation_fraction * len(rest))))
    val_idx, train_idx = rest[:n_val], rest[n_val:]

    def collect(indices):
        """Per sequence: ids, first position, targets, next ids, rms-normalised states per layer."""
        out = []
        for i in indices:
            r = rows[i]
            ids = r["prompt_ids"] + r["response_ids"]
            first, last = max(0, len(r["prompt_ids"]) - 2), len(ids) - 3
            if last < first:
                continue
            with torch.no_grad():
                hs = model.model(torch.tensor([ids]), output_hidden_states=True).hidden_states
            pos = torch.arange(first, last + 1)
            feats = {}
            for l in layers:
                h = hs[l][0, pos]
                feats[l] = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPSILON)
            t_ids = torch.tensor(ids)
            out.append({"id": r["id"], "ids": ids, "first": first, "next": t_ids[pos + 1],
                        "target": t_ids[pos + 2], "feats": feats})
        return out

    t0 = time.time()
    held = collect(held_idx)
    val = collect(val_idx)
    train = collect(train_idx)
    collect_seconds = time.time() - t0
    print(f"collected {sum(len(s['target']) for s in train)} train / {sum(len(s['target']) for s in held)} held-out "
          f"positions in {collect_seconds:.0f} s", file=sys.stderr)

    # Training positions: all of them, or a seeded subset of --train-positions.
    nxt = torch.cat([s["next"] for s in train])
    tgt = torch.cat([s["target"] for s in train])
    feats = {l: torch.cat([s["feats"][l] for s in train]) for l in layers}
    n_all = len(tgt)
    g = torch.Generator().manual_seed(args.seed)
    if n_all > args.train_positions:
        keep = torch.randperm(n_all, generator=g)[:args.train_positions]
        nxt, tgt = nxt[keep], tgt[keep]
        feats = {l: f[keep] for l, f in feats.items()}
    n_train = len(tgt)
    emb_next = E[nxt]                                        # [N, H]

    def forward(p, e, hn):
        u = e @ p["A"].T + p["a"]
        if hn is not None:
            u = u + hn @ p["B"].T
        return u @ E.T + p["c"]                              # [N, V]

    val_next = torch.cat([s["next"] for s in val])
    val_tgt = torch.cat([s["target"] for s in val])
    val_emb = E[val_next]
    val_feats = {l: torch.cat([s["feats"][l] for s in val]) for l in layers}

    def validation_ce(p, layer):
        with torch.no_grad():
            total = 0.0
            for b in range(0, len(val_tgt), 1024):
                sl = slice(b, b + 1024)
                logits = forward(p, val_emb[sl], None if layer is None else val_feats[layer][sl])
                total += float(F.cross_entropy(logits.double(), val_tgt[sl], reduction="sum"))
            return total / len(val_tgt)

    def train_probe(p, layer, epochs, label, trainable):
        """Adam on p[trainable] from p's state; returns (seconds, best step, validation CE per check)."""
        hn_all = None if layer is None else feats[layer]
        params = [p[k] for k in sorted(trainable)]
        for t in params:
            t.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=args.lr)
        t1 = time.time()
        best_ce, best_step = validation_ce(p, layer), 0
        best = {k: v.detach().clone() for k, v in p.items()}
        curve = [[0, best_ce]]
        step, half = 0, (n_train + 2 * args.batch - 1) // (2 * args.batch)
        for epoch in range(epochs):
            perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(args.seed + epoch))
            for k, b in enumerate(range(0, n_train, args.batch)):
                idx = perm[b:b + args.batch]
                loss = F.cross_entropy(forward(p, emb_next[idx], None if hn_all is None else hn_all[idx]), tgt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if (k + 1) % half == 0 or b + args.batch >= n_train:
                    ce = validation_ce(p, layer)
                    curve.append([step, ce])
                    if ce < best_ce:
                        best_ce, best_step = ce, step
                        best = {k2: v.detach().clone() for k2, v in p.items()}
            print(f"{label} epoch {epoch + 1}: validation CE {curve[-1][1]:.4f}, best {best_ce:.4f} at step {best_step} "
                  f"({time.time() - t1:.0f} s)", file=sys.stderr)
        for k in p:
            p[k] = best[k]
        return time.time() - t1, best_step, curve

    def evaluate(p, layer):
        """Per held-out sequence: the per-position CE (Float64 log-softmax of Float32 logits)."""
        out = []
        with torch.no_grad():
            for s in held:
                logits = forward(p, E[s["next"]], None if layer is None else s["feats"][layer])
                logp = torch.log_softmax(logits.double(), dim=-1)
                out.append(-logp.gather(1, s["target"][:, None])[:, 0])
        return out

    torch.manual_seed(args.seed)
    unigram = torch.bincount(tgt, minlength=V).double()
    c0 = torch.log((unigram + 0.5) / (unigram.sum() + 0.5 * V)).float()
    base = {"A": torch.zeros(H, H), "a": torch.zeros(H), "c": c0}
    times = {"collect_seconds": round(collect_seconds, 1)}
    secs, base_best_step, base_curve = train_probe(base, None, args.baseline_epochs, "baseline", ["A", "a", "c"])
    times["baseline_train_seconds"] = round(secs, 1)
    init = {k: v.clone() for k, v in base.items()}
    t2 = time.time()
    ce_base = evaluate(base, None)
    times["evaluation_seconds"] = time.time() - t2

    counts = [len(x) for x in ce_base]
    n_pos = sum(counts)
    mean_base = float(sum(float(x.sum()) for x in ce_base) / n_pos)
    per_layer, probes, ce_full_by_layer = [], {}, {}
    for l in layers:
        p = {k: v.clone() for k, v in init.items()}
        p["B"] = torch.zeros(H, H)
        secs, best_step, curve = train_probe(p, l, args.epochs, f"layer {l}", ["B"])
        t2 = time.time()
        ce_full = evaluate(p, l)
        times["evaluation_seconds"] += time.time() - t2
        ce_full_by_layer[l] = ce_full
        diff = [float((b - f).sum()) for b, f in zip(ce_base, ce_full)]
        mean_full = float(sum(float(x.sum()) for x in ce_full) / n_pos)
        per_layer.append({"layer": l, "ce_next_only": mean_base, "ce_with_hidden": mean_full,
                          "surplus": mean_base - mean_full,
                          "ci95": bootstrap(diff, counts, args.bootstrap, args.seed),
                          "validation_ce": min(c for _, c in curve), "best_step": best_step,
                          "validation_curve": curve, "train_seconds": round(secs, 1)})
        print(f"layer {l}: surplus {mean_base - mean_full:.4f} nats, CI {per_layer[-1]['ci95']}", file=sys.stderr)
        if l in ship:
            probes[l] = p
    times["evaluation_seconds"] = round(times["evaluation_seconds"], 1)

    # The Swift check: the first held-out sequences up to --check-positions positions.
    check, m = [], 0
    for k, s in enumerate(held):
        if m >= args.check_positions:
            break
        check.append(k)
        m += counts[k]
    check_layers = []
    cb = sum(float(ce_base[k].sum()) for k in check) / m
    for l in ship:
        cf = sum(float(ce_full_by_layer[l][k].sum()) for k in check) / m
        diff = [float((ce_base[k] - ce_full_by_layer[l][k]).sum()) for k in check]
        check_layers.append({"layer": l, "ce_next_only": cb, "ce_with_hidden": cf, "surplus": cb - cf,
                             "ci95": bootstrap(diff, [counts[k] for k in check], args.bootstrap, args.seed),
                             "positions": m})

    os.makedirs(os.path.join(args.out, "Fixtures", "surplus"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "docs"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "Weights", "smollm2-135m-instruct"), exist_ok=True)
    from safetensors.torch import save_file
    tensors = {f"baseline.{k}": v.contiguous() for k, v in base.items()}
    for l, p in probes.items():
        for k, v in p.items():
            tensors[f"layer.{l}.{k}"] = v.contiguous()
    probe_path = os.path.join(args.out, "Weights", "smollm2-135m-instruct", "surplus-probes.safetensors")
    save_file(tensors, probe_path, metadata={
        "format": "touchstone-surplus-probes", "version": "1", "hidden_norm": "rms", "epsilon": str(EPSILON),
        "layers": ",".join(str(l) for l in ship), "model_file": name, "model_sha256": digest,
        "made_by": "Scripts/information_surplus.py"})

    heldout_doc = {
        "made_by": "Scripts/information_surplus.py (held-out sequences it evaluated; the first ones, for the Swift check)",
        "model": {"file": name, "sha256": digest},
        "sequences": [{"id": held[k]["id"], "ids": held[k]["ids"], "first_position": held[k]["first"]} for k in check],
        "positions": m, "bootstrap": args.bootstrap, "seed": args.seed, "layers": check_layers}
    with open(os.path.join(args.out, "Fixtures", "surplus", "heldout.json"), "w") as f:
        json.dump(heldout_doc, f)
        f.write("\n")

    import transformers
    report = {
        "made_by": "Scripts/information_surplus.py (peer fixture: Hugging Face transformers, PyTorch Float32)",
        "model": {"file": name, "sha256": digest},
        "peer": {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32",
                 "threads": args.threads},
        "definition": "surplus_l = CE(probe on x_{t+1}) - CE(probe on (rms(h_t^l), x_{t+1})) for target x_{t+2}, nats per position",
        "data": {"file": os.path.basename(args.data), "source": "self-written prompts + SmolLM2-135M-Instruct greedy answers",
                 "sequences": len(rows), "train_sequences": len(train), "validation_sequences": len(val),
                 "heldout_sequences": len(held), "validation_positions": len(val_tgt),
                 "train_positions_available": n_all, "train_positions": n_train, "heldout_positions": n_pos,
                 "positions": "targets x_{t+2} in the response only (t from len(prompt)-2 to T-3)"},
        "parameters": {"layers": layers, "ship_layers": ship, "heldout_fraction": args.heldout_fraction,
                       "epochs": args.epochs, "baseline_epochs": args.baseline_epochs, "batch": args.batch,
                       "validation_fraction": args.validation_fraction,
                       "early_stopping": "validation CE at step 0 and every half epoch; best state kept",
                       "optimizer": "Adam", "lr": args.lr, "weight_decay": 0.0, "seed": args.seed,
                       "hidden_norm": "rms (no gain)", "epsilon": EPSILON, "init": "baseline: A = 0, a = 0, c = log unigram frequency of the training targets (add-half); full probes: the best baseline's A, a, c frozen, B = 0, only B trained",
                       "bootstrap": args.bootstrap, "bootstrap_generator": "xoshiro256** (SplitMix64 seeding), index floor(u*n)"},
        "baseline_training": {"best_step": base_best_step, "validation_curve": base_curve},
        "layers": per_layer,
        "times": times | {"total_seconds": round(time.time() - start, 1)},
    }
    with open(os.path.join(args.out, "Fixtures", "surplus", "report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = [e["layer"] for e in per_layer]
    ys = [e["surplus"] for e in per_layer]
    lo = [e["surplus"] - e["ci95"][0] for e in per_layer]
    hi = [e["ci95"][1] - e["surplus"] for e in per_layer]
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("layer (hidden_states index; 0 = embeddings, 30 = after final norm)")
    ax.set_ylabel("surplus (nats / position)")
    ax.set_title(f"SmolLM2-135M: information surplus about x_(t+2), 95% CI, {n_pos} held-out positions", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "docs", "surplus.png"), dpi=110)
    print(json.dumps(per_layer, indent=1))


if __name__ == "__main__":
    main()
