#!/usr/bin/env python3
"""Chimera draft weights (trigram encoder + full-context draft layer, tied heads) for
SmolLM2-135M-Instruct, trained on the model's own answers (self-distillation).

Zeng et al., "Chimera: A Lossless Decoding Method for Accelerating Large Language Models Inference by
Fusing all Tokens", 2024, arXiv:2402.15758. The backbone is frozen; the heads are TIED, frozen at the
authors' initialisation [W_lm | W_lm] (zero extra parameters); only `trimlp` (ResBlock(3C) +
Linear(3C, C)) and `fast_layer1` (one Llama decoder layer) train. The function trained is exactly the
one Touchstone's `ChimeraDraft` computes at inference (DOCS 6.15):

    u_j = [e_{j-2}; e_{j-1}; e_j]   (boundary rule u_0 = [e_0; e_0; e_0], u_1 = [e_0; e_1; e_1];
                                     e = the model's embed_tokens rows)
    g_j = W_p (u_j + SiLU(W_r u_j + b_r))
    f_m = Layer([h_0 .. | g_1 ..], positions [0 .. | 1 ..]) at the query g_m (position m)
          Llama layer: RMSNorm (eps 1e-5), q/k/v/o with the target's 9 query / 3 KV heads of
          dimension 64, RoPE on halves (rotate_half, base --rope-theta), causal attention with scale
          1/sqrt(64), residual, RMSNorm, SiLU-gated MLP of width --ffn, residual; no final norm
    head k (k = 0..K-1, chain step k+1) at query g_m: the query sees h_0 .. h_{m-k-1} and
          g_1 .. g_m, reads h_{m-k-1}, and its logits W_lm h_{m-k-1} + W_lm f_m predict x_{m+1}.

Head 0 is the spec's training forward (head 0 at position j reads [h_j ; f_{j+1}], predicts x_{j+2};
here j = m-1). Heads k >= 1 follow Touchstone's chain drafting (step k+1 appends the previous heads'
argmaxes, encodes the trigram of the last three tokens at position n+k and reads h_{n-1}), but
TEACHER-FORCED: the trigram g_m is built from the true tokens x_{m-2}, x_{m-1}, x_m where inference
uses the earlier heads' argmaxes (equal whenever those heads are right, which is the only case in
which a later head's draft can be accepted). Since the draft layer is a single one, keys and values
depend only on each slot's input and position, so one K/V computation serves every head; only the
mask differs. Loss = sum_k 0.8^k L_k over queries whose read state is a response position or the
last prompt position (m-k-1 >= len(prompt)-1) and whose target x_{m+1} exists, with
L_k = (1 - s) CE(head_k, x_{m+1}) + s CE(head_k, softmax(W_lm h_m)), s = --soft: the soft target is
the model's own next-token distribution at position m (whose argmax is x_{m+1}, the data being
greedy), i.e. distillation of the whole distribution rather than of the chosen token. The shipped
file uses s = 0 (the default); a run with s = 1 was not better on new prompts (DOCS 13.16).

Input: Scripts/selfdistill_generate.py's data.jsonl + hidden.f32 (read once; only complete lines
whose hidden rows are complete). h for the prompt positions is not stored: a teacher-forced forward
of the frozen model (Scripts/peer_common.load_peer, the same Q4_1 GGUF dequantized to Float32) over
each prompt gives it, and its last row is compared with the stored row 0 (reported). Response
positions use the stored rows. 5% of the sequences (seeded) are held out.

Init: trimlp's ResBlock weight zero (the authors'), its bias and W_p PyTorch's Linear default;
the draft layer freshly initialised (Linear defaults, norm weights 1) as the authors do, except that
the residual branches' output projections (o_proj, down_proj) start at zero, so that at step 0 the
draft output is f = g and the heads give W_lm h + W_lm g (a random layer adds large logit noise).
Heads k >= 1 see a random --aux-fraction of their positions per step (cost; head 0 sees all).
AdamW (lr --lr, weight decay 0), gradient-norm clip 1, linear warmup over 3% of the steps then
cosine decay to 0; the number of steps is the smaller of --epochs passes and what fits in --minutes
(measured on one timed step). The vocab product runs in bfloat16 (float32 accumulation) during
training for speed; the final held-out accuracies use the F16-rounded weights that are written, in
float32, with the two products W_lm h + W_lm f as Touchstone computes them.

Output: safetensors with F16 tensors (Touchstone widens F16 exactly) under the authors' keys
(trimlp.*, fast_layer1.0.*; no chimera_head.*: tied), metadata format=touchstone-chimera-1,
chimera_num_heads, tied=true, rope_theta, rms_norm_eps; a JSON log; a loss-curve plot.

Usage: python3 Scripts/train_chimera.py [--data DIR] [--out FILE] [--minutes M] [--epochs E]
           [--heads K] [--aux-fraction A] [--soft S] [--limit N] [--steps N] [--ffn F] [--plot PNG] [--seed N] [--threads T]
"""
import argparse, json, math, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import ROOT, DEFAULT_MODEL, load_peer

HIDDEN = 576
LAMBDA = 0.8


def read_data(data_dir):
    """The complete lines of data.jsonl whose hidden rows are all in hidden.f32 (the file may still
    be growing), and hidden.f32 as an array."""
    import numpy as np
    with open(os.path.join(data_dir, "data.jsonl"), "rb") as f:
        raw = f.read()
    hidden = np.fromfile(os.path.join(data_dir, "hidden.f32"), dtype="<f4")
    hidden = hidden[:len(hidden) // HIDDEN * HIDDEN].reshape(-1, HIDDEN)
    rows = []
    for line in raw.split(b"\n")[:-1]:  # the part after the last newline may be incomplete
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r["hidden_offset"] + len(r["response_ids"]) <= len(hidden):
            rows.append(r)
    return rows, hidden


def rms_norm(x, w, eps):
    import torch
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    import torch
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Draft:
    """trimlp + fast_layer1 as plain tensors (the file's keys), and the training forward."""

    def __init__(self, C, heads, kv_heads, hd, ffn, theta, eps, seed):
        import torch
        torch.manual_seed(seed)
        lin = lambda o, i, bias=False: torch.nn.Linear(i, o, bias=bias)
        r = lin(3 * C, 3 * C, bias=True)
        self.p = {
            "trimlp.0.linear.weight": torch.zeros(3 * C, 3 * C),
            "trimlp.0.linear.bias": r.bias.detach().clone(),
            "trimlp.1.weight": lin(C, 3 * C).weight.detach().clone(),
        }
        pre = "fast_layer1.0."
        for name, o, i in (("self_attn.q_proj", heads * hd, C), ("self_attn.k_proj", kv_heads * hd, C),
                           ("self_attn.v_proj", kv_heads * hd, C), ("self_attn.o_proj", C, heads * hd),
                           ("mlp.gate_proj", ffn, C), ("mlp.up_proj", ffn, C), ("mlp.down_proj", C, ffn)):
            self.p[pre + name + ".weight"] = lin(o, i).weight.detach().clone()
        with torch.no_grad():  # residual branches start at zero: f = g at init
            self.p[pre + "self_attn.o_proj.weight"].zero_()
            self.p[pre + "mlp.down_proj.weight"].zero_()
        self.p[pre + "input_layernorm.weight"] = torch.ones(C)
        self.p[pre + "post_attention_layernorm.weight"] = torch.ones(C)
        for t in self.p.values():
            t.requires_grad_(True)
        self.C, self.H, self.KVH, self.hd, self.theta, self.eps = C, heads, kv_heads, hd, theta, eps
        inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        self.inv_freq = inv.float()

    def rope(self, x, pos):
        """x [N, heads, hd] at integer positions pos [N] (Hugging Face's rotate_half convention)."""
        import torch
        ang = pos.float()[:, None] * self.inv_freq[None, :]  # Float32 angle, as Touchstone
        ang = ang.double()
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos().float()[:, None, :], emb.sin().float()[:, None, :]
        return x * cos + rotate_half(x) * sin

    def trigram(self, E, tokens):
        """g_m for m = 1..T-1 of one sequence (tokens [T]) -> [T-1, C]."""
        import torch, torch.nn.functional as F
        T = tokens.shape[0]
        m = torch.arange(1, T)
        a = torch.where(m >= 2, m - 2, torch.zeros_like(m))
        b = torch.where(m >= 2, m - 1, torch.zeros_like(m))  # m = 1: (0, 1, 1)
        b = torch.where(m == 1, torch.ones_like(m), b)
        u = torch.cat((E[tokens[a]], E[tokens[b]], E[tokens[m]]), dim=-1)
        p = self.p
        z = u + F.silu(u @ p["trimlp.0.linear.weight"].T + p["trimlp.0.linear.bias"])
        return z @ p["trimlp.1.weight"].T

    def forward(self, E, tokens, h, queries):
        """One sequence: tokens [T], h [>= T-1, C] (h_0 .. h_{T-2}), queries = list over heads k of
        LongTensor of query positions m. Returns, per head, f [len(m), C]."""
        import torch, torch.nn.functional as F
        p, pre = self.p, "fast_layer1.0."
        T = tokens.shape[0]
        g = self.trigram(E, tokens)                      # rows for m = 1..T-1
        n = T - 1
        X = torch.cat((h[:n], g), dim=0)                 # [h_0..h_{n-1} | g_1..g_n]
        pos = torch.cat((torch.arange(0, n), torch.arange(1, n + 1)))
        xn = rms_norm(X, p[pre + "input_layernorm.weight"], self.eps)
        k = self.rope((xn @ p[pre + "self_attn.k_proj.weight"].T).view(2 * n, self.KVH, self.hd), pos)
        v = (xn @ p[pre + "self_attn.v_proj.weight"].T).view(2 * n, self.KVH, self.hd)
        rep = self.H // self.KVH
        k = k.repeat_interleave(rep, dim=1).transpose(0, 1)  # [H, 2n, hd]; query head i uses KV head i // rep
        v = v.repeat_interleave(rep, dim=1).transpose(0, 1)
        key_is_h = torch.cat((torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)))
        key_idx = torch.cat((torch.arange(0, n), torch.arange(1, n + 1)))  # h_i -> i, g_i -> i
        out = []
        for kk, m in enumerate(queries):
            if len(m) == 0:
                out.append(torch.zeros(0, self.C))
                continue
            x = g[m - 1]                                     # the query rows g_m
            q = self.rope((xn[n + m - 1] @ p[pre + "self_attn.q_proj.weight"].T).view(len(m), self.H, self.hd), m)
            # h_i visible iff i <= m - kk - 1; g_i visible iff i <= m.
            lim = torch.where(key_is_h[None, :], (m - kk - 1)[:, None], m[:, None])
            mask = key_idx[None, :] <= lim                   # [Q, 2n]
            att = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k[None], v[None], attn_mask=mask[None, None],
                                                 scale=1.0 / math.sqrt(self.hd))[0]  # [H, Q, hd]
            att = att.transpose(0, 1).reshape(len(m), self.H * self.hd)
            r = x + att @ p[pre + "self_attn.o_proj.weight"].T
            r2 = rms_norm(r, p[pre + "post_attention_layernorm.weight"], self.eps)
            mlp = (F.silu(r2 @ p[pre + "mlp.gate_proj.weight"].T) * (r2 @ p[pre + "mlp.up_proj.weight"].T)) @ p[pre + "mlp.down_proj.weight"].T
            out.append(r + mlp)
        return out


def queries_and_targets(tokens, b, heads):
    """Per head k: query positions m (b+k <= m <= T-2, so the read state h_{m-k-1} is the last prompt
    position or later and the target x_{m+1} exists) and their targets."""
    import torch
    T = len(tokens)
    qs, ts = [], []
    for k in range(heads):
        m = torch.arange(max(b + k, k + 1), T - 1)
        qs.append(m)
        ts.append(torch.as_tensor(tokens)[m + 1] if len(m) else torch.zeros(0, dtype=torch.long))
    return qs, ts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/data/selfdistill")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=os.path.join(ROOT, "Weights", "smollm2-135m-instruct", "chimera.safetensors"))
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "chimera-loss.png"), help="'' for none")
    ap.add_argument("--log", default=None, help="JSON log (default: <data>/chimera-train-log.json)")
    ap.add_argument("--cache", default=None, help="prompt hidden states cache (default: <data>/chimera-prompt-h.pt)")
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--ffn", type=int, default=1536, help="draft MLP width F (SmolLM2's own intermediate size)")
    ap.add_argument("--rope-theta", type=float, default=100000.0, help="SmolLM2's rope_theta")
    ap.add_argument("--rms-norm-eps", type=float, default=1e-5)
    ap.add_argument("--aux-fraction", type=float, default=0.5, help="share of positions heads k >= 1 train on per step")
    ap.add_argument("--soft", type=float, default=0.0,
                    help="weight of the soft target (the model's own distribution at m) against the hard token x_{m+1}")
    ap.add_argument("--batch-seqs", type=int, default=8, help="sequences per optimiser step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--minutes", type=float, default=25, help="training-loop budget (steps are sized to fit)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--provisional-out", default=None, help="also save the draft after 1/5 and 1/2 of the steps")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N sequences of data.jsonl (0: all)")
    ap.add_argument("--steps", type=int, default=0, help="exact number of steps (0: size them to --minutes/--epochs)")
    ap.add_argument("--evals", type=int, default=8, help="held-out probes during training (for the curve)")
    ap.add_argument("--probe-seqs", type=int, default=8, help="held-out sequences per probe")
    args = ap.parse_args()

    import numpy as np, torch, torch.nn.functional as F
    torch.manual_seed(args.seed)
    t0 = time.time()
    rows, hidden = read_data(args.data)
    if args.limit:
        rows = rows[:args.limit]
    order = np.random.default_rng(args.seed).permutation(len(rows))
    n_val = max(1, round(args.val_fraction * len(rows)))
    val_ids = set(int(i) for i in order[:n_val])
    tok, model, name, digest = load_peer(args.model, threads=args.threads)
    E = model.get_output_embeddings().weight.detach().clone()  # [V, C] float32 = W_lm = embed_tokens
    if not torch.equal(E, model.get_input_embeddings().weight.detach()):
        sys.exit("expected the LM head to be tied to the token embeddings (SmolLM2 ties them)")
    cfg = model.config
    H, KVH, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
    if abs(cfg.rms_norm_eps - args.rms_norm_eps) > 0 or abs(getattr(cfg, "rope_theta", args.rope_theta) - args.rope_theta) > 0:
        print(f"note: model rms_norm_eps {cfg.rms_norm_eps}, rope_theta {getattr(cfg, 'rope_theta', None)}", file=sys.stderr)

    # h for the prompt positions: one teacher-forced pass per prompt (cached by sequence id).
    cache_path = args.cache or os.path.join(args.data, "chimera-prompt-h.pt")
    cache = torch.load(cache_path) if os.path.exists(cache_path) else {}
    tp = time.time()
    worst = 0.0
    seqs = []
    for i, r in enumerate(rows):
        b, R = len(r["prompt_ids"]), len(r["response_ids"])
        if r["id"] not in cache:
            with torch.no_grad():
                cache[r["id"]] = model.model(torch.tensor([r["prompt_ids"]])).last_hidden_state[0].clone()
        hp = cache[r["id"]]
        stored = torch.from_numpy(hidden[r["hidden_offset"]:r["hidden_offset"] + R].copy())
        worst = max(worst, float((hp[b - 1] - stored[0]).abs().max()))
        h = torch.cat((hp[:b - 1], stored), dim=0)  # h_0 .. h_{b+R-2}
        seqs.append({"id": r["id"], "tokens": torch.tensor(r["prompt_ids"] + r["response_ids"]), "b": b, "h": h,
                     "val": i in val_ids})
        if (i + 1) % 50 == 0:
            print(f"prompt states: {i + 1}/{len(rows)}, {time.time() - tp:.0f} s", file=sys.stderr, flush=True)
    torch.save(cache, cache_path)
    prompt_seconds = time.time() - tp
    del model
    print(f"prompt states in {prompt_seconds:.0f} s; max |teacher-forced h_(b-1) - stored row 0| = {worst:.3g}",
          file=sys.stderr)
    train = [s for s in seqs if not s["val"]]
    val = [s for s in seqs if s["val"]]
    for s in seqs:
        s["q"], s["t"] = queries_and_targets(s["tokens"].tolist(), s["b"], args.heads)
    count = lambda ss, k: sum(len(s["q"][k]) for s in ss)
    print(f"train: {len(train)} sequences, {count(train, 0)} head-0 positions; held out: {len(val)} sequences, "
          f"{count(val, 0)} head-0 positions", file=sys.stderr)

    draft = Draft(HIDDEN, H, KVH, hd, args.ffn, args.rope_theta, args.rms_norm_eps, args.seed)
    params = list(draft.p.values())
    weights = [LAMBDA ** k for k in range(args.heads)]
    E16 = E.to(torch.bfloat16)

    def step_loss(batch, exact=False, frac=1.0, soft=0.0):
        """Per-head summed CE, top-1 hits and counts over a list of sequences (heads k >= 1 on a
        random `frac` of their positions)."""
        fs = [[] for _ in range(args.heads)]
        hs = [[] for _ in range(args.heads)]
        ts = [[] for _ in range(args.heads)]
        hm = [[] for _ in range(args.heads)]
        for s in batch:
            q, t = s["q"], s["t"]
            if frac < 1.0:
                keep = [torch.ones(len(q[0]), dtype=torch.bool)] + [torch.rand(len(q[k])) < frac for k in range(1, args.heads)]
                q, t = [a[m] for a, m in zip(q, keep)], [a[m] for a, m in zip(t, keep)]
            out = draft.forward(E, s["tokens"], s["h"], q)
            for k in range(args.heads):
                fs[k].append(out[k])
                hs[k].append(s["h"][q[k] - k - 1])
                ts[k].append(t[k])
                hm[k].append(s["h"][q[k]])
        res = []
        for k in range(args.heads):
            f, h, t = torch.cat(fs[k]), torch.cat(hs[k]), torch.cat(ts[k])
            if exact:
                logits = F.linear(h, E) + F.linear(f, E)  # W_lm h + W_lm f, as Touchstone
            else:
                logits = F.linear((h + f).to(torch.bfloat16), E16).float()
            ce = F.cross_entropy(logits, t, reduction="sum")
            if soft > 0:
                # The model's own next-token distribution at position m (it predicts x_{m+1}).
                with torch.no_grad():
                    teacher = F.softmax(F.linear(torch.cat(hm[k]).to(torch.bfloat16), E16).float(), dim=-1)
                soft_ce = -(teacher * F.log_softmax(logits, dim=-1)).sum()
                ce_train = (1 - soft) * ce + soft * soft_ce
            else:
                ce_train = ce
            hit = int((logits.argmax(-1) == t).sum())
            top5 = int((logits.topk(5, dim=-1).indices == t[:, None]).any(-1).sum())
            res.append((ce, hit, top5, len(t), ce_train))
        return res

    def evaluate(ss, exact=False):
        with torch.no_grad():
            tot = [[0.0, 0, 0, 0] for _ in range(args.heads)]
            for lo in range(0, len(ss), 4):
                for k, (ce, hit, top5, n, _) in enumerate(step_loss(ss[lo:lo + 4], exact)):
                    tot[k][0] += float(ce); tot[k][1] += hit; tot[k][2] += top5; tot[k][3] += n
        return [{"ce": c / max(1, n), "top1": h / max(1, n), "top5": t5 / max(1, n), "positions": n} for c, h, t5, n in tot]

    rng = np.random.default_rng(args.seed)
    probe = [val[i] for i in sorted(rng.choice(len(val), size=min(args.probe_seqs, len(val)), replace=False))]

    def train_step(batch):
        res = step_loss(batch, frac=args.aux_fraction, soft=args.soft)
        n = [max(1, r[3]) for r in res]
        loss = sum(w * r[4] / c for w, r, c in zip(weights, res, n))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        return [float(r[0].detach()) / c for r, c in zip(res, n)], [r[1] / c for r, c in zip(res, n)]

    # Size the run: one timed step (gradients discarded).
    perm_seqs = lambda: [train[i] for i in rng.permutation(len(train))]
    sample = perm_seqs()[:args.batch_seqs]
    ts = time.time()
    train_step(sample)
    step_seconds = time.time() - ts
    for p_ in params:
        p_.grad = None
    te = time.time()
    evaluate(probe)
    eval_seconds = time.time() - te
    steps_per_epoch = math.ceil(len(train) / args.batch_seqs)
    want = max(1, round(args.epochs * steps_per_epoch))
    fit = int((args.minutes * 60 - args.evals * eval_seconds) / step_seconds)
    steps = args.steps or max(1, min(want, fit))
    warmup = max(1, round(0.03 * steps))
    eval_every = max(1, steps // args.evals)
    print(f"step {step_seconds:.1f} s, probe eval {eval_seconds:.1f} s: {steps} steps of {args.batch_seqs} sequences "
          f"({steps / steps_per_epoch:.2f} epochs; {want} wanted), warmup {warmup}", file=sys.stderr, flush=True)

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    log = {"train": [], "val": [], "config": vars(args), "steps": steps, "warmup": warmup,
           "train_sequences": len(train), "val_sequences": len(val),
           "train_positions_head0": count(train, 0), "val_positions_head0": count(val, 0),
           "train_response_tokens": sum(len(s["tokens"]) - s["b"] for s in train),
           "val_response_tokens": sum(len(s["tokens"]) - s["b"] for s in val),
           "prompt_state_seconds": prompt_seconds, "prompt_state_check_max_abs": worst,
           "model": name, "model_sha256": digest, "torch": torch.__version__,
           "step_seconds_timed": step_seconds}

    def record_val(step):
        v = evaluate(probe)
        log["val"].append({"step": step, "heads": v, "loss": sum(w * h["ce"] for w, h in zip(weights, v))})
        print(f"  val @ {step}: " + " ".join(f"h{k} ce {h['ce']:.2f} top1 {h['top1']:.3f}" for k, h in enumerate(v)),
              file=sys.stderr, flush=True)

    record_val(0)
    train_start = time.time()
    order_list = []
    while len(order_list) < steps * args.batch_seqs:
        order_list += perm_seqs()
    for step in range(steps):
        batch = order_list[step * args.batch_seqs:(step + 1) * args.batch_seqs]
        opt.zero_grad(set_to_none=True)
        ce, acc = train_step(batch)
        opt.step()
        sched.step()
        log["train"].append({"step": step + 1, "ce": ce, "top1": acc, "loss": sum(w * c for w, c in zip(weights, ce)),
                             "lr": sched.get_last_lr()[0]})
        if (step + 1) % 10 == 0 or step == 0:
            el = time.time() - train_start
            print(f"step {step + 1}/{steps}: loss {log['train'][-1]['loss']:.3f} ({' '.join(f'{c:.2f}' for c in ce)}), "
                  f"top1 {' '.join(f'{a:.2f}' for a in acc)}, {el / 60:.1f} min, "
                  f"eta {el / (step + 1) * (steps - step - 1) / 60:.1f} min", file=sys.stderr, flush=True)
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            record_val(step + 1)
        if args.provisional_out and (step + 1) in (max(1, steps // 5), max(1, steps // 2)):
            save(draft, args, args.provisional_out)  # early files for testing the inference side
    log["train_seconds"] = time.time() - train_start

    # Round to F16 (what the file stores), then the held-out figures in float32 with W_lm h + W_lm f.
    with torch.no_grad():
        for t in params:
            t.copy_(t.half().float())
    fe = time.time()
    final = evaluate(val, exact=True)
    log["final_val"] = final
    log["final_eval_seconds"] = time.time() - fe
    log["total_seconds"] = time.time() - t0
    for k, s in enumerate(final):
        print(f"head {k} (reads h_j, predicts x_(j+{k + 2})): held-out top-1 {s['top1']:.4f}, top-5 {s['top5']:.4f}, "
              f"CE {s['ce']:.3f} over {s['positions']} positions", file=sys.stderr)

    save(draft, args, args.out)
    log_path = args.log or os.path.join(args.data, "chimera-train-log.json")
    with open(log_path, "w") as f:
        json.dump(log, f)
    print(f"wrote {log_path}", file=sys.stderr)
    if args.plot:
        plot(log, args.plot, args.heads)
        print(f"wrote {args.plot}", file=sys.stderr)


def save(draft, args, path):
    """F16 tensors under the authors' keys; tied heads (no chimera_head.*)."""
    import torch
    from safetensors.torch import save_file
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in draft.p.items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata={"format": "touchstone-chimera-1", "chimera_num_heads": str(args.heads),
                                      "tied": "true", "rope_theta": repr(args.rope_theta),
                                      "rms_norm_eps": repr(args.rms_norm_eps),
                                      "base_model": "SmolLM2-135M-Instruct", "seed": str(args.seed)})
    os.replace(tmp, path)
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
    for k in range(heads):
        sm = smooth([t["ce"][k] for t in log["train"]])
        line, = a.plot(steps[len(steps) - len(sm):], sm, alpha=0.7, label=f"head {k} train (10-step mean)")
        a.plot([v["step"] for v in log["val"]], [v["heads"][k]["ce"] for v in log["val"]], "o--",
               color=line.get_color(), markersize=3, label=f"head {k} held out")
        c.plot([v["step"] for v in log["val"]], [v["heads"][k]["top1"] for v in log["val"]], "o-",
               color=line.get_color(), markersize=3, label=f"head {k} held out")
    a.set_xlabel(f"step ({log['config']['batch_seqs']} sequences)")
    a.set_ylabel("cross-entropy (nats)")
    a.set_title("Chimera draft, SmolLM2-135M-Instruct (tied heads)")
    a.legend(fontsize=7)
    c.set_xlabel("step")
    c.set_ylabel("top-1 accuracy")
    c.set_title("held-out probe (head k reads h_j, predicts x_{j+k+2})")
    c.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
