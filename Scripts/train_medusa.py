#!/usr/bin/env python3
"""Medusa-1 heads for SmolLM2-135M-Instruct, trained on the model's own answers (self-distillation).

Cai et al., "Medusa: Simple LLM Inference Acceleration Framework with Multiple Decoding Heads", 2024,
arXiv:2401.10774. The backbone is frozen; head k (k = 0..K-1) reads the final hidden state h_t after
the final RMSNorm and predicts the token two or more places ahead, x_{t+k+2}:

    head_k(h) = E · ResBlock_k(h),   ResBlock_k(h) = h + SiLU(W_k h + b_k)

with W_k zero-initialised (b_k keeps PyTorch's default Linear init), and the vocab projection E
TIED to the model's own (frozen) LM head, the tied embedding matrix [49152, 576]; only W_k, b_k
train (332,352 numbers per head). Loss = sum_k 0.8^k * CE(head_k(h_t), x_{t+k+2}) over the
response positions t (the last prompt position onwards), ignoring targets past the end.

Input: the output of Scripts/selfdistill_generate.py (data.jsonl + hidden.f32: the final-norm
states of every response position). 5% of the sequences (seeded) are held out for validation.
AdamW (lr 1e-3, weight decay 0), linear warmup over 5% of the steps then cosine decay to 0; the
number of steps is the smaller of --epochs passes and what fits in --minutes (measured on a timing
step before training). The vocab projection runs in bfloat16 (float32 accumulation) during
training for speed; the final held-out accuracies use float32 throughout, as inference does.

Output: a safetensors file with F32 `{k}.0.linear.weight` [576, 576] and `{k}.0.linear.bias` [576]
(no `{k}.1.weight`: tied), metadata format=touchstone-medusa-1; a JSON log; a loss-curve plot.

Usage: python3 Scripts/train_medusa.py [--data DIR] [--out FILE] [--minutes M] [--epochs E]
           [--plot PNG] [--seed N]
"""
import argparse, json, math, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import ROOT, DEFAULT_MODEL, load_peer

HIDDEN = 576
LAMBDA = 0.8


def load_positions(data_dir, heads, seed, val_fraction):
    """Rows of hidden.f32 and their K targets (-100 past the end), split by sequence."""
    import numpy as np
    with open(os.path.join(data_dir, "data.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    hidden = np.fromfile(os.path.join(data_dir, "hidden.f32"), dtype="<f4").reshape(-1, HIDDEN)
    order = np.random.default_rng(seed).permutation(len(rows))
    n_val = max(1, round(val_fraction * len(rows)))
    split = {"val": [rows[i] for i in order[:n_val]], "train": [rows[i] for i in order[n_val:]]}
    out = {}
    for name, seqs in split.items():
        index, targets = [], []
        for r in seqs:
            resp, off = r["response_ids"], r["hidden_offset"]
            n = len(resp)
            # Row j is the state at position len(prompt) - 1 + j; head k's target is x_{t+k+2},
            # i.e. response token j + k + 1. The last row has no target for any head.
            for j in range(n - 1):
                index.append(off + j)
                targets.append([resp[j + k + 1] if j + k + 1 < n else -100 for k in range(heads)])
        out[name] = (np.asarray(index, dtype=np.int64), np.asarray(targets, dtype=np.int64))
        out[name + "_sequences"] = len(seqs)
        out[name + "_response_tokens"] = sum(len(r["response_ids"]) for r in seqs)
    return hidden, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/data/selfdistill")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=os.path.join(ROOT, "Weights", "smollm2-135m-instruct", "medusa-heads.safetensors"))
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "medusa-loss.png"), help="'' for none")
    ap.add_argument("--log", default=None, help="JSON log (default: <data>/medusa-train-log.json)")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--minutes", type=float, default=40, help="training-loop budget (steps are sized to fit)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--final-val-positions", type=int, default=8192,
                    help="held-out positions for the float32 accuracy (seeded sample; 0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--evals", type=int, default=10, help="held-out probes during training (for the curve)")
    ap.add_argument("--probe-positions", type=int, default=1024, help="held-out positions per probe")
    ap.add_argument("--provisional-out", default=None,
                    help="also save the heads here halfway through training (an early file for testing)")
    args = ap.parse_args()

    import numpy as np, torch, torch.nn.functional as F
    torch.manual_seed(args.seed)
    t0 = time.time()
    tok, model, name, digest = load_peer(args.model, threads=args.threads)
    E = model.get_output_embeddings().weight.detach().clone()  # [V, H], float32
    if not torch.equal(E, model.get_input_embeddings().weight.detach()):
        sys.exit("expected the LM head to be tied to the token embeddings (SmolLM2 ties them)")
    del model
    E16 = E.to(torch.bfloat16)
    V = E.shape[0]
    hidden, pos = load_positions(args.data, args.heads, args.seed, args.val_fraction)
    tr_idx, tr_tgt = pos["train"]
    va_idx, va_tgt = pos["val"]
    print(f"train: {pos['train_sequences']} sequences, {len(tr_idx)} positions; held out: "
          f"{pos['val_sequences']} sequences, {len(va_idx)} positions", file=sys.stderr)

    # Heads: ResBlock weights [K, H, H] (zero) and biases [K, H] (nn.Linear's default init).
    W = torch.zeros(args.heads, HIDDEN, HIDDEN)
    b = torch.stack([torch.nn.Linear(HIDDEN, HIDDEN).bias.detach() for _ in range(args.heads)])
    W.requires_grad_(True)
    b.requires_grad_(True)
    weights = [LAMBDA ** k for k in range(args.heads)]

    def resblock(k, x):
        return x + F.silu(x @ W[k].T + b[k])

    def batch_tensors(idx, tgt, sel):
        return torch.from_numpy(hidden[idx[sel]]), torch.from_numpy(tgt[sel])

    def train_step(x, y):
        """Weighted loss; the gradient of each head is accumulated head by head (memory)."""
        per_head = []
        for k in range(args.heads):
            logits = F.linear(resblock(k, x).to(torch.bfloat16), E16).float()  # [B, V]
            ce = F.cross_entropy(logits, y[:, k], ignore_index=-100)
            (weights[k] * ce).backward()
            per_head.append(ce.item())
        return per_head

    def evaluate(x, y, exact):
        """Per-head CE, top-1 and top-5 accuracy (targets past the end skipped)."""
        res = []
        with torch.no_grad():
            for k in range(args.heads):
                ok = y[:, k] >= 0
                r = resblock(k, x[ok])
                logits = F.linear(r, E) if exact else F.linear(r.to(torch.bfloat16), E16).float()
                t = y[ok, k]
                top5 = logits.topk(5, dim=1).indices
                res.append({"ce": float(F.cross_entropy(logits, t)),
                            "top1": float((top5[:, 0] == t).float().mean()),
                            "top5": float((top5 == t[:, None]).any(1).float().mean()),
                            "positions": int(ok.sum())})
        return res

    rng = np.random.default_rng(args.seed)
    val_probe = rng.choice(len(va_idx), size=min(args.probe_positions, len(va_idx)), replace=False)
    xv, yv = batch_tensors(va_idx, va_tgt, val_probe)

    # Size the run: one timed step (gradients discarded) on a real batch.
    sel = rng.choice(len(tr_idx), size=args.batch, replace=False)
    xb, yb = batch_tensors(tr_idx, tr_tgt, sel)
    ts = time.time()
    train_step(xb, yb)
    step_seconds = time.time() - ts
    W.grad = None
    b.grad = None
    te = time.time()
    evaluate(xv, yv, exact=False)
    eval_seconds = time.time() - te
    steps_per_epoch = math.ceil(len(tr_idx) / args.batch)
    want = max(1, round(args.epochs * steps_per_epoch))
    evals = args.evals
    fit = int((args.minutes * 60 - evals * eval_seconds) / step_seconds)
    steps = max(1, min(want, fit))
    warmup = max(1, round(0.05 * steps))
    eval_every = max(1, steps // evals)
    print(f"step {step_seconds:.1f} s, probe eval {eval_seconds:.1f} s: {steps} steps of {args.batch} "
          f"({steps / steps_per_epoch:.2f} epochs; {want} wanted), warmup {warmup}", file=sys.stderr)

    opt = torch.optim.AdamW([W, b], lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    log = {"train": [], "val": [], "config": vars(args), "steps": steps, "warmup": warmup,
           "train_positions": int(len(tr_idx)), "val_positions": int(len(va_idx)),
           "train_sequences": pos["train_sequences"], "val_sequences": pos["val_sequences"],
           "train_response_tokens": pos["train_response_tokens"], "val_response_tokens": pos["val_response_tokens"],
           "model": name, "model_sha256": digest, "torch": torch.__version__}

    def record_val(step):
        v = evaluate(xv, yv, exact=False)
        log["val"].append({"step": step, "heads": v,
                           "loss": sum(w * h["ce"] for w, h in zip(weights, v))})
        print(f"  val @ {step}: " + " ".join(f"h{k} ce {h['ce']:.2f} top1 {h['top1']:.3f}" for k, h in enumerate(v)),
              file=sys.stderr, flush=True)

    record_val(0)
    train_start = time.time()
    perm = np.concatenate([rng.permutation(len(tr_idx)) for _ in range(math.ceil(steps / steps_per_epoch) + 1)])
    for step in range(steps):
        sel = perm[step * args.batch:(step + 1) * args.batch]
        xb, yb = batch_tensors(tr_idx, tr_tgt, sel)
        opt.zero_grad(set_to_none=True)
        ce = train_step(xb, yb)
        opt.step()
        sched.step()
        log["train"].append({"step": step + 1, "ce": ce, "loss": sum(w * c for w, c in zip(weights, ce)),
                             "lr": sched.get_last_lr()[0]})
        if (step + 1) % 10 == 0 or step == 0:
            el = time.time() - train_start
            print(f"step {step + 1}/{steps}: loss {log['train'][-1]['loss']:.3f} "
                  f"({' '.join(f'{c:.2f}' for c in ce)}), {el / 60:.1f} min, "
                  f"eta {el / (step + 1) * (steps - step - 1) / 60:.1f} min", file=sys.stderr, flush=True)
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            record_val(step + 1)
        if args.provisional_out and step + 1 == max(1, steps // 2):
            save_heads(W, b, args.provisional_out)
    log["train_seconds"] = time.time() - train_start

    # Held-out accuracy in float32, as inference computes it.
    fe = time.time()
    n = len(va_idx) if args.final_val_positions == 0 else min(args.final_val_positions, len(va_idx))
    sel = np.sort(np.random.default_rng(args.seed + 1).choice(len(va_idx), size=n, replace=False))
    xf, yf = batch_tensors(va_idx, va_tgt, sel)
    final = []
    for lo in range(0, n, 2048):
        final.append(evaluate(xf[lo:lo + 2048], yf[lo:lo + 2048], exact=True))
    summary = []
    for k in range(args.heads):
        parts = [f[k] for f in final]
        total = sum(p["positions"] for p in parts)
        summary.append({key: sum(p[key] * p["positions"] for p in parts) / total for key in ("ce", "top1", "top5")}
                       | {"positions": total})
    log["final_val"] = summary
    log["final_eval_seconds"] = time.time() - fe
    log["total_seconds"] = time.time() - t0
    for k, s in enumerate(summary):
        print(f"head {k} (predicts x_(t+{k + 2})): held-out top-1 {s['top1']:.4f}, top-5 {s['top5']:.4f}, "
              f"CE {s['ce']:.3f} over {s['positions']} positions", file=sys.stderr)

    save_heads(W, b, args.out)
    log_path = args.log or os.path.join(args.data, "medusa-train-log.json")
    with open(log_path, "w") as f:
        json.dump(log, f)
    if args.plot:
        plot(log, args.plot, args.heads)
        print(f"wrote {args.plot}", file=sys.stderr)


def save_heads(W, b, path):
    """F32 `{k}.0.linear.weight` [H, H] and `{k}.0.linear.bias` [H]; no `{k}.1.weight` (tied)."""
    from safetensors.torch import save_file
    tensors = {}
    for k in range(W.shape[0]):
        tensors[f"{k}.0.linear.weight"] = W[k].detach().clone().contiguous()
        tensors[f"{k}.0.linear.bias"] = b[k].detach().clone().contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(tensors, path, metadata={"format": "touchstone-medusa-1", "tied_lm_head": "true",
                                       "base_model": "SmolLM2-135M-Instruct",
                                       "heads": str(W.shape[0]), "layers": "1"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


def plot(log, path, heads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def smooth(v, w=10):
        v = np.asarray(v)
        if len(v) < w:
            return v
        return np.convolve(v, np.ones(w) / w, mode="valid")

    fig, (a, c) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [t["step"] for t in log["train"]]
    sm = smooth([t["loss"] for t in log["train"]])
    a.plot(steps[len(steps) - len(sm):], sm, label="train (10-step mean)")
    a.plot([v["step"] for v in log["val"]], [v["loss"] for v in log["val"]], "o-", label="held out")
    a.set_xlabel("step (2048 positions)")
    a.set_ylabel("sum_k 0.8^k CE_k")
    a.set_title("Medusa heads, SmolLM2-135M-Instruct: weighted loss")
    a.legend()
    for k in range(heads):
        sm = smooth([t["ce"][k] for t in log["train"]])
        line, = c.plot(steps[len(steps) - len(sm):], sm, alpha=0.6, label=f"head {k} train")
        c.plot([v["step"] for v in log["val"]], [v["heads"][k]["ce"] for v in log["val"]], "o--",
               color=line.get_color(), markersize=3, label=f"head {k} held out")
    c.set_xlabel("step")
    c.set_ylabel("cross-entropy (nats)")
    c.set_title("per head (head k predicts x_{t+k+2})")
    c.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
