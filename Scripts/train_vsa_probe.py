#!/usr/bin/env python3
"""Trains the hyperdimensional (VSA) probe's encoder for SmolLM2-135M-Instruct (DOCS.md 13.13).

Data: the word-analogy questions `questions-words.txt` (Mikolov et al. 2013, released with word2vec
under the Apache License 2.0) as shipped in the test data of the PyPI package gensim 4.4.0
(`gensim/test/test_data/questions-words.txt`, fetched with `pip download gensim`). 19,544
analogies "a b c d" in 14 categories.

Pipeline (the same as Sources/Probing/VSAProbe.swift at inference):
  1. codebook: every word of the file, lower-cased, de-duplicated, sorted; one random bipolar
     hypervector of D = 4096 per word from xoshiro256** seeded 101 (component = -1 when the top
     bit of the draw is set), so Swift rebuilds the same codebook from the concept list;
  2. target of "a : b = c : d": normalize((a*b) + (c*d)), normalize = +1 where positive, else -1;
  3. input: the prompt "a : b = c :" (the words as the file spells them), the last token's
     hidden states 15..30 (Hugging Face numbering; 30 is after the final norm) of the frozen
     model, k-means with K = 5 started from rows [15, 8, 5, 0, 11] (torch.randperm(16) with
     seed 101, as the reference seeds it), the sum of the 5 centroids;
  4. encoder: Linear(576, 512) -> ReLU -> Linear(512, 4096) (dropout 0.5 on the hidden layer
     while training), loss 1 - cosine(output, target); the input is divided by a constant scale
     (the mean input norm over the training split), folded into the first layer when saving.
Subset: 5,000 analogies drawn at random (seed 7) from the file, for time (the hidden states of
all 19,544 would take about 2 hours on the shared 2 cores); the codebook still has every word.
Split: a seeded random 80/10/10 split of the analogies (seed 101), as the reference's default
"random" split; analogies share words across the split (each word occurs in many analogies), as
in the reference. Reports on the test split: the reference's query-subset read-out (which consults
the target when choosing its query), a blind read-out (unbind by c, best non-context concept) and
the logit-lens baseline (the model's own top next token equals d, case-insensitive).

Writes: Weights/smollm2-135m-instruct/vsa-probe.safetensors, docs/vsa-loss.png,
Fixtures/vsa/heldout.txt (the test split), Fixtures/vsa/peer.json (inputs, hypervectors and read-outs
of the first test analogies, for the Swift agreement test), and prints the figures.

Usage: python3 Scripts/train_vsa_probe.py [--analogies FILE] [--model GGUF] [--epochs N] [--print-init]
"""
import argparse, json, math, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_vectors import xoshiro256starstar  # noqa: E402
from peer_common import load_peer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = 4096
INIT = [15, 8, 5, 0, 11]


def read_analogies(path):
    out = []
    category = None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            category = line[1:].strip()
            continue
        words = line.split()
        if len(words) == 4:
            out.append((category, words))
    return out


def codebook(concepts, seed=101):
    import numpy as np
    rng = xoshiro256starstar(seed)
    rows = np.empty((len(concepts), D), dtype=np.int8)
    for r in range(len(concepts)):
        rows[r] = [(-1 if next(rng) >> 63 else 1) for _ in range(D)]
    return rows


def kmeans_sum(X, init, iters=1000):
    """Lloyd's algorithm as the Swift code runs it (float64 sums, empty clusters keep their centroid)."""
    import numpy as np
    X = X.astype(np.float64)
    c = X[init].astype(np.float32).astype(np.float64)
    for _ in range(iters):
        d = ((X[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        a = d.argmin(1)
        new = c.copy()
        for k in range(len(init)):
            m = a == k
            if m.any():
                new[k] = (X[m].sum(0) / m.sum()).astype(np.float32)
        if np.all(np.abs(new - c) <= 1e-8 + 1e-5 * np.abs(c)):
            break
        c = new
    return c.astype(np.float32).sum(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--analogies", default="/tmp/gs/gensim/test/test_data/questions-words.txt")
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/touchstone/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-analogies", type=int, default=5000,
                    help="a seeded random subset of the file (the hidden states are the slow part on 2 shared cores)")
    ap.add_argument("--cache", default="/work/data/vsa-inputs.npz", help="inputs cached here between runs")
    ap.add_argument("--print-init", action="store_true")
    args = ap.parse_args()
    import numpy as np
    import torch
    if args.print_init:
        print(torch.randperm(16, generator=torch.Generator().manual_seed(101))[:5].tolist())
        return
    t0 = time.time()
    every = read_analogies(args.analogies)
    # The codebook covers every word of the file; the probe is trained and tested on a subset.
    concepts = sorted({w.lower() for _, ws in every for w in ws})
    pick = list(range(len(every)))
    random.Random(7).shuffle(pick)
    analogies = [every[i] for i in sorted(pick[:args.max_analogies])]
    book = codebook(concepts)
    index = {c: i for i, c in enumerate(concepts)}
    print(f"{len(analogies)} analogies, {len(concepts)} concepts, codebook {time.time() - t0:.0f} s", flush=True)

    def target(ws):
        a, b, c, d = (book[index[w.lower()]].astype(np.int32) for w in ws)
        s = a * b + c * d
        return np.where(s > 0, 1, -1).astype(np.int8)

    tok, model, name, sha = load_peer(args.model, args.threads)
    prompts = [" : ".join(ws[:2]) + " = " + ws[2] + " :" for _, ws in analogies]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    inputs = np.zeros((len(prompts), model.config.hidden_size), dtype=np.float32)
    lens_top = []
    L = model.config.num_hidden_layers
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batch = 64
    t1 = time.time()
    cached = None
    if os.path.exists(args.cache):
        z = np.load(args.cache, allow_pickle=True)
        if list(z["prompts"]) == prompts:
            cached = z
    if cached is not None:
        inputs = cached["inputs"]
        lens_top = list(enumerate(cached["next"].tolist()))
        order = []
    for s in range(0, len(order), batch):
        chunk = order[s:s + batch]
        n = max(len(ids[i]) for i in chunk)
        x = torch.zeros((len(chunk), n), dtype=torch.long)
        m = torch.zeros((len(chunk), n), dtype=torch.long)
        for r, i in enumerate(chunk):
            x[r, :len(ids[i])] = torch.tensor(ids[i])
            m[r, :len(ids[i])] = 1
        with torch.no_grad():
            out = model(input_ids=x, attention_mask=m, output_hidden_states=True)
        hs = torch.stack(out.hidden_states)  # [L+1, B, T, C]
        for r, i in enumerate(chunk):
            t = len(ids[i]) - 1
            rows = hs[L // 2:, r, t].numpy()
            inputs[i] = kmeans_sum(rows, INIT)
            lens_top.append((i, int(out.logits[r, t].argmax())))
        if (s // batch) % 40 == 0:
            print(f"  hidden states {s + len(chunk)}/{len(order)} ({time.time() - t1:.0f} s)", flush=True)
    next_token = dict(lens_top)
    if cached is None:
        np.savez(args.cache, prompts=np.array(prompts, dtype=object), inputs=inputs,
                 next=np.array([next_token[i] for i in range(len(prompts))]))
    print(f"inputs done in {time.time() - t1:.0f} s", flush=True)

    rng = random.Random(101)
    perm = list(range(len(analogies)))
    rng.shuffle(perm)
    n_train, n_val = int(0.8 * len(perm)), int(0.1 * len(perm))
    split = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    Y = np.stack([target(ws) for _, ws in analogies]).astype(np.float32)
    scale = float(np.linalg.norm(inputs[split["train"]], axis=1).mean())
    X = torch.tensor(inputs / scale)
    Yt = torch.tensor(Y)

    torch.manual_seed(101)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 512), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(512, D))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    tr = torch.tensor(split["train"])
    va = torch.tensor(split["val"])
    curve = []
    best = (-1.0, None)
    t2 = time.time()
    for epoch in range(args.epochs):
        net.train()
        g = torch.Generator().manual_seed(1000 + epoch)
        p = tr[torch.randperm(len(tr), generator=g)]
        total = 0.0
        for s in range(0, len(p), 32):
            b = p[s:s + 32]
            loss = (1 - torch.nn.functional.cosine_similarity(net(X[b]), Yt[b])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        net.eval()
        with torch.no_grad():
            out = net(X[va])
            vloss = float((1 - torch.nn.functional.cosine_similarity(out, Yt[va])).mean())
            vsim = float(torch.nn.functional.cosine_similarity(torch.sign(out), Yt[va]).mean())
        curve.append((epoch + 1, total / len(p), vloss, vsim))
        if vsim > best[0]:
            best = (vsim, {k: v.clone() for k, v in net.state_dict().items()}, epoch + 1)
        if epoch % 5 == 0 or epoch == args.epochs - 1:
            print(f"  epoch {epoch + 1}: train {total / len(p):.4f} val {vloss:.4f} val sign-cos {vsim:.4f}", flush=True)
    train_seconds = time.time() - t2
    net.load_state_dict(best[1])
    net.eval()
    print(f"best epoch {best[2]} (val sign-cos {best[0]:.4f}); training {train_seconds:.0f} s", flush=True)

    # Export: fold the input scale into the first layer.
    from safetensors.numpy import save_file
    sd = {k: v.numpy().astype(np.float32) for k, v in net.state_dict().items()}
    tensors = {"layers.0.weight": sd["0.weight"] / scale, "layers.0.bias": sd["0.bias"],
               "layers.1.weight": sd["3.weight"], "layers.1.bias": sd["3.bias"]}
    meta = {"format": "touchstone-vsa-probe", "base_model": "SmolLM2-135M-Instruct", "model_sha256": sha,
            "first_layer": str(L // 2), "last_layer": str(L), "kmeans_k": "5", "seed": "101",
            "dimension": str(D), "concepts": "\n".join(concepts),
            "data": "questions-words.txt (word2vec, Apache-2.0) from gensim 4.4.0 test data"}
    os.makedirs(os.path.join(ROOT, "Weights/smollm2-135m-instruct"), exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.path.join(ROOT, "Weights/smollm2-135m-instruct/vsa-probe.safetensors"), metadata=meta)

    # Evaluation on the test split, with the exported weights (numpy, as Swift computes it).
    def encode(x):
        h = np.maximum(tensors["layers.0.weight"] @ x + tensors["layers.0.bias"], 0)
        y = tensors["layers.1.weight"] @ h + tensors["layers.1.bias"]
        return np.sign(y).astype(np.int8), y

    B = book.astype(np.int32)
    norms = np.sqrt((B * B).sum(1)).astype(np.float64)

    def sims(v):
        v = v.astype(np.int32)
        return (B @ v) / np.maximum(norms * math.sqrt(float((v * v).sum())), 1e-8)

    def reference_readout(v, context, tgt):
        known = [w.lower() for w in context if w.lower() in index]
        from itertools import combinations
        queries = [list(c) for r in range(len(known) + 1) for c in combinations(range(len(known)), r)][::-1]
        ti = index.get(tgt.lower())
        best = None

        def st(s):
            o = np.sort(s)[::-1]
            return o[0], (o[1] if len(o) > 1 else -1), (s[ti] if ti is not None else -math.inf)

        def score(q):
            u = v.astype(np.int32).copy()
            for j in q:
                u *= B[index[known[j]]]
            return sims(u)
        for q in queries:
            s = score(q)
            mx, sec, tv = st(s)
            if any(s[index[known[j]]] > 0.1 for j in q) and tv < mx:
                continue
            if best is None:
                best = (q, s)
                continue
            bmx, bsec, btv = st(best[1])
            if (tv == mx and tv > btv) or (mx > bmx and btv < bmx) or (mx == bmx and bsec < 0.1):
                best = (q, s)
        if best is not None and best[0]:
            bmx, _, btv = st(best[1])
            if bmx < 0.1 and bmx != btv:
                best = ([], score([]))
        s = best[1] if best is not None else score([])
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        return concepts[order[0]], [known[j] for j in (best[0] if best else [])]

    def blind_readout(v, context):
        u = v.astype(np.int32) * B[index[context[-1].lower()]]
        s = sims(u)
        exclude = {w.lower() for w in context}
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        return next(concepts[i] for i in order if concepts[i] not in exclude)

    hits = {"reference": 0, "blind": 0, "lens": 0.0}
    peer = []
    test = split["test"]
    for n, i in enumerate(test):
        cat, ws = analogies[i]
        v, raw = encode(inputs[i])
        ref, query = reference_readout(v, ws[:3], ws[3])
        blind = blind_readout(v, ws[:3])
        hits["reference"] += ref == ws[3].lower()
        hits["blind"] += blind == ws[3].lower()
        tok_text = tok.decode([next_token[i]]).strip().lower()
        lens = 1.0 if tok_text == ws[3].lower() else (0.5 if tok_text and ws[3].lower().startswith(tok_text) else 0.0)
        hits["lens"] += lens
        if n < 12:
            peer.append({"prompt": prompts[i], "prompt_ids": ids[i], "context": ws[:3], "target": ws[3],
                         "input": [float(x) for x in inputs[i]], "hypervector_sign_sum": int(v.astype(np.int32).sum()),
                         "hypervector_hex": np.packbits(v > 0).tobytes().hex(), "min_abs_output": float(np.abs(raw).min()),
                         "reference_readout": ref, "reference_query": query, "blind_readout": blind,
                         "next_token": next_token[i]})
    n = len(test)
    figures = {k: v / n for k, v in hits.items()}
    print(f"test analogies {n}: reference read-out {figures['reference']:.3f}, blind {figures['blind']:.3f}, logit lens {figures['lens']:.3f}")
    os.makedirs(os.path.join(ROOT, "Fixtures/vsa"), exist_ok=True)
    with open(os.path.join(ROOT, "Fixtures/vsa/heldout.txt"), "w") as f:
        f.write("# Test split of questions-words.txt (word2vec, Apache-2.0; from gensim 4.4.0's test data),\n")
        f.write("# held out from the VSA probe's training by Scripts/train_vsa_probe.py. One analogy a b c d per line.\n")
        for i in test:
            f.write(" ".join(analogies[i][1]) + "\n")
    with open(os.path.join(ROOT, "Fixtures/vsa/peer.json"), "w") as f:
        json.dump({"origin": "peer", "note": "PyTorch/numpy, Scripts/train_vsa_probe.py: hidden states from transformers "
                   "(Float32, the GGUF), k-means and encoder in numpy", "model_sha256": sha,
                   "figures": figures, "test_count": n, "cases": peer}, f, indent=1)
        f.write("\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    e = [c[0] for c in curve]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(e, [c[1] for c in curve], label="train loss (1 - cos)")
    ax.plot(e, [c[2] for c in curve], label="validation loss")
    ax.plot(e, [1 - c[3] for c in curve], label="validation 1 - cos(sign(out), target)")
    ax.set_xlabel("epoch")
    ax.set_title("VSA probe encoder, SmolLM2-135M-Instruct, questions-words")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
    fig.savefig(os.path.join(ROOT, "docs/vsa-loss.png"), dpi=100)
    print(json.dumps({"seconds_total": time.time() - t0, "train_seconds": train_seconds, "best_epoch": best[2], **figures}))


if __name__ == "__main__":
    main()
