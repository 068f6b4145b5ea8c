#!/usr/bin/env python3
"""Parallel prompt decoding (PPD) prompt embeddings for SmolLM2-135M-Instruct, trained by
self-distillation on the model's own answers.

Chen et al., "Hardware-Aware Parallel Prompt Decoding for Memory-Efficient Acceleration of LLM
Inference", 2024, arXiv:2405.18628. The model is frozen; only K prompt-token embeddings P_0..P_{K-1}
(V = 1 virtual token each, the only form the authors' inference path supports) train: K x 576
numbers. For a sequence x_0..x_{T-1} cut after x_t, the input is embed(x_0..x_t) ++ P_0..P_{K-1}
at positions 0..t+K with a causal mask, and the output at P_i must imitate the model's own
distribution for x_{t+2+i}, i.e. its logits at position t+1+i of the uncut sequence (the teacher).
Loss, as the authors' DistillationTrainer: sum_i 0.8^i KL(teacher_i || student_i) / K.

Many cuts per forward pass: one pass holds the whole sequence and G groups of K prompt tokens; a
boolean 4-D mask lets group j see x_0..x_{t_j} and the earlier prompt tokens of its own group only,
at positions t_j+1..t_j+K, while the sequence itself sees only its own causal past. So the
sequence's outputs are exactly the teacher's logits (computed without gradient in the same
pass) and each group's outputs are exactly what a separate cut would give (`--check` measures the
difference against separate plain passes).

Data: Scripts/selfdistill_generate.py's data.jsonl (prompt_ids + response_ids: the model's greedy
answers to prompts that share no word 10-gram with Spec-Bench or the fixtures). Cuts t_j are drawn
(seeded) inside the response, with room for the K teacher positions. 5% of the sequences (seeded)
are held out; the held-out figure is top-1 agreement of each prompt token's argmax with the
teacher's argmax (the model's own greedy token there), what PPD's greedy acceptance needs.
Initialisation: the embeddings of the tokens of "Next 2 word" (PEFT's TEXT init in the authors'
recipe), repeated or cut to K. AdamW lr 1e-2 (the authors' value), cosine decay, no warmup.

Output: safetensors with F32 `prompt_embeddings` [K, 576] (the authors' PEFT tensor name),
metadata format=touchstone-ppd-1, base_model=<GGUF name>, model_sha256, hidden_size,
num_special_tokens = K, virtual_tokens_per_special_token = 1, seed;
a JSON log beside it; a loss-curve plot.

Usage: python3 Scripts/train_ppd.py [--data DIR] [--out FILE] [--minutes M] [--prompt-tokens K]
           [--groups G] [--seed N] [--plot PNG] [--check N]
"""
import argparse, json, math, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import ROOT, DEFAULT_MODEL, load_peer


def read_sequences(data_dir):
    rows = []
    with open(os.path.join(data_dir, "data.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            rows.append((r["prompt_ids"], r["response_ids"]))
    return rows


def build_batch(seq, cuts, k, torch):
    """Input ids of the sequence, per-position group/prompt index, positions and the 4-D mask."""
    t_len = len(seq)
    n = t_len + len(cuts) * k
    positions = list(range(t_len))
    allowed = torch.zeros(n, n, dtype=torch.bool)
    allowed[:t_len, :t_len] = torch.tril(torch.ones(t_len, t_len, dtype=torch.bool))
    for j, t in enumerate(cuts):
        base = t_len + j * k
        for i in range(k):
            row = base + i
            allowed[row, : t + 1] = True            # the real prefix x_0..x_t
            allowed[row, base : base + i + 1] = True  # its own group's earlier prompt tokens and itself
            positions.append(t + 1 + i)
    return positions, allowed[None, None]


def forward(model, embeds, positions, mask, torch, rows=None):
    """Logits of every position, or of `rows` only (the LM head is the costly part of a pass)."""
    out = model.model(inputs_embeds=embeds, position_ids=torch.tensor([positions]), attention_mask=mask)
    hidden = out.last_hidden_state[0]
    return model.lm_head(hidden if rows is None else hidden[rows])


def step_loss(model, table, prompts, seq, cuts, k, torch, decay=0.8):
    import torch.nn.functional as F
    seq = seq[: max(cuts) + k + 1]  # positions past the last teacher row are not needed
    positions, mask = build_batch(seq, cuts, k, torch)
    with torch.no_grad():
        real = table[torch.tensor(seq)]
    embeds = torch.cat([real] + [prompts] * len(cuts), dim=0)[None]
    t_len = len(seq)
    n_rows = len(cuts) * k
    teacher_rows = [t + 1 + i for t in cuts for i in range(k)]
    logits = forward(model, embeds, positions, mask, torch, rows=torch.tensor(teacher_rows + list(range(t_len, t_len + n_rows))))
    teacher = logits[:n_rows].detach()
    student = logits[n_rows:]
    kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True, reduction="none").sum(-1)
    weights = torch.tensor([decay ** i for i in range(k)] * len(cuts))
    loss = (kl * weights).sum() / (k * len(cuts))
    agree = (student.argmax(-1) == teacher.argmax(-1)).view(len(cuts), k).float().sum(0)
    return loss, agree


def draw_cuts(prompt, response, k, groups, rng):
    t_len = len(prompt) + len(response)
    low, high = len(prompt) - 1, t_len - k - 1  # teacher rows t+1..t+k must exist
    if high < low:
        return []
    choices = list(range(low, high + 1))
    rng.shuffle(choices)
    return sorted(choices[:groups])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/data/selfdistill")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=os.path.join(ROOT, "Weights", "smollm2-135m-instruct", "ppd-prompts.safetensors"))
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "ppd-loss.png"), help="'' for none")
    ap.add_argument("--prompt-tokens", type=int, default=3)
    ap.add_argument("--groups", type=int, default=48, help="cuts per sequence per pass")
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--accumulate", type=int, default=4, help="sequences per optimizer step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--check", type=int, default=2, help="compare N groups with separate plain passes (0: skip)")
    args = ap.parse_args()
    import torch
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tok, model, name, digest = load_peer(args.model, args.threads)
    for p in model.parameters():
        p.requires_grad_(False)
    table = model.model.embed_tokens.weight
    k = args.prompt_tokens
    init_ids = tok("Next 2 word", add_special_tokens=False)["input_ids"]
    init_ids = (init_ids * k)[:k]
    prompts = torch.nn.Parameter(table[torch.tensor(init_ids)].detach().clone())

    rows = read_sequences(args.data)
    order = list(range(len(rows)))
    random.Random(args.seed + 1).shuffle(order)
    n_val = max(1, int(len(rows) * args.val_fraction))
    val, train = [rows[i] for i in order[:n_val]], [rows[i] for i in order[n_val:]]
    val_cuts = [draw_cuts(p, r, k, args.groups, random.Random(1000 + i)) for i, (p, r) in enumerate(val)]
    print(f"{name}: {len(train)} training and {len(val)} held-out sequences, K = {k}, init {init_ids}", file=sys.stderr)

    if args.check:
        # Each group of the packed pass against a plain causal pass over the cut input.
        p, r = train[0]
        seq = p + r
        cuts = draw_cuts(p, r, k, args.groups, random.Random(7))[: args.check]
        with torch.no_grad():
            positions, mask = build_batch(seq, cuts, k, torch)
            packed = forward(model, torch.cat([table[torch.tensor(seq)]] + [prompts] * len(cuts))[None], positions, mask, torch)
            worst = 0.0
            for j, t in enumerate(cuts):
                plain_in = torch.cat([table[torch.tensor(seq[: t + 1])], prompts])[None]
                plain = forward(model, plain_in, list(range(t + 1 + k)), None, torch)
                worst = max(worst, float((packed[len(seq) + j * k: len(seq) + (j + 1) * k] - plain[t + 1:]).abs().max()))
                teacher_plain = forward(model, table[torch.tensor(seq)][None], list(range(len(seq))), None, torch)
                worst = max(worst, float((packed[: len(seq)] - teacher_plain).abs().max()))
        print(f"check: packed groups and teacher rows vs separate plain passes, max |diff| = {worst:.3g}", file=sys.stderr)
        if worst > 1e-3:
            raise SystemExit("the packed pass does not reproduce separate passes: the 4-D mask is not honoured")

    def evaluate():
        agree = torch.zeros(k)
        total = 0.0
        count = 0
        with torch.no_grad():
            for (p, r), cuts in zip(val, val_cuts):
                if not cuts:
                    continue
                loss, a = step_loss(model, table, prompts, p + r, cuts, k, torch)
                agree += a
                total += float(loss) * len(cuts)
                count += len(cuts)
        return total / max(count, 1), (agree / max(count, 1)).tolist()

    opt = torch.optim.AdamW([prompts], lr=args.lr, weight_decay=0.0)
    # Time one optimizer step to fit the budget.
    start = time.time()
    steps_per_epoch = len(train) // args.accumulate
    wanted = int(steps_per_epoch * args.epochs)
    log = {"model": name, "model_sha256": digest, "k": k, "groups": args.groups, "seed": args.seed, "lr": args.lr,
           "train_sequences": len(train), "val_sequences": len(val), "steps": [], "val": []}
    val_loss, val_agree = evaluate()
    log["val"].append({"step": 0, "loss": val_loss, "top1": val_agree})
    print(f"step 0: held-out loss {val_loss:.4f}, top-1 {['%.3f' % a for a in val_agree]}", file=sys.stderr)
    eval_time = time.time() - start
    step = 0
    total_steps = wanted
    budget = args.minutes * 60
    pos = 0
    epoch_rng = random.Random(args.seed + 2)
    train_order = list(range(len(train)))
    epoch_rng.shuffle(train_order)
    step_times = []
    while step < total_steps:
        t0 = time.time()
        opt.zero_grad()
        loss_sum = 0.0
        for _ in range(args.accumulate):
            if pos >= len(train_order):
                epoch_rng.shuffle(train_order)
                pos = 0
            p, r = train[train_order[pos]]
            pos += 1
            cuts = draw_cuts(p, r, k, args.groups, rng)
            if not cuts:
                continue
            loss, _ = step_loss(model, table, prompts, p + r, cuts, k, torch)
            (loss / args.accumulate).backward()
            loss_sum += float(loss.detach()) / args.accumulate
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        step += 1
        step_times.append(time.time() - t0)
        if step == 3:
            per_step = sum(step_times) / len(step_times)
            fit = int((budget - (time.time() - start) - 6 * eval_time) / per_step) + step
            total_steps = min(wanted, max(step + 1, fit))
            print(f"{per_step:.2f} s per step: {total_steps} steps ({wanted} wanted)", file=sys.stderr)
        log["steps"].append({"step": step, "loss": loss_sum, "lr": lr})
        if step % max(1, total_steps // 6) == 0 or step == total_steps:
            val_loss, val_agree = evaluate()
            log["val"].append({"step": step, "loss": val_loss, "top1": val_agree})
            print(f"step {step}/{total_steps}: train {loss_sum:.4f}, held-out {val_loss:.4f}, top-1 {['%.3f' % a for a in val_agree]}"
                  f" ({(time.time() - start) / 60:.1f} min)", file=sys.stderr)
    log["minutes"] = (time.time() - start) / 60
    from safetensors.torch import save_file
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    save_file({"prompt_embeddings": prompts.detach().contiguous()}, args.out,
              metadata={"format": "touchstone-ppd-1", "base_model": name, "model_sha256": digest,
                        "hidden_size": str(prompts.shape[1]), "num_special_tokens": str(k),
                        "virtual_tokens_per_special_token": "1", "seed": str(args.seed)})
    with open(os.path.splitext(args.out)[0] + ".log.json", "w") as f:
        json.dump(log, f, indent=1)
    print(f"wrote {args.out} ({log['minutes']:.1f} min)", file=sys.stderr)
    if args.plot:
        plot(log, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)


def plot(log, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = [s["step"] for s in log["steps"]]
    a.plot(steps, [s["loss"] for s in log["steps"]], lw=0.8, label="train (per step)")
    a.plot([v["step"] for v in log["val"]], [v["loss"] for v in log["val"]], "o-", label="held out")
    a.set_xlabel("optimizer step")
    a.set_ylabel("0.8-decayed KL to the model (nats)")
    a.legend()
    for i in range(log["k"]):
        b.plot([v["step"] for v in log["val"]], [v["top1"][i] for v in log["val"]], "o-", label=f"prompt token {i} (x_(t+{i + 2}))")
    b.set_xlabel("optimizer step")
    b.set_ylabel("held-out top-1 agreement with the model")
    b.legend()
    fig.suptitle(f"PPD prompt embeddings for {log['model']} (K = {log['k']}, seed {log['seed']})")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
