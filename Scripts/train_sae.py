#!/usr/bin/env python3
"""Train a threshold-activated sparse autoencoder (TSAE, "atoms") and a plain ReLU SAE on
SmolLM2-135M-Instruct residuals, report them, and write the peer figure the Swift tests check.

Dev-time only: nothing in `swift build` or `swift test` runs this.

The paper (Hu, Cao, Chen, Liu, Zhao, "Towards Atoms of Large Language Models", 2025,
arXiv:2509.20784) has no code available here, so every training choice below is this script's
own, exposed as a flag and recorded in the file's metadata (DOCS.md 8.4 and 13.12):

  activation   jumprelu: z = a * 1[a > theta], theta = exp(log_theta) per atom, learned with the
               straight-through pseudo-derivative of Rajamanoharan et al. 2024 (arXiv:2407.14435,
               rectangle kernel of width --bandwidth) and an L0 penalty;
               relu: z = max(a, 0) with an L1 penalty on z * ||W_d column|| (the plain SAE).
  loss         mean over tokens of ||x - x_hat||^2 / mean_over_data ||x - mu||^2  +  lambda * penalty
  decoder      columns renormalised to unit Euclidean norm after every step (jumprelu and relu)

Subcommands (run in this order; `all` runs them in sequence):

  collect  --out DIR [--tokens N] [--layer 15] [--window 128]
           Residuals hidden_states[layer] (Hugging Face numbering) of windows of the corpus, the
           first position of every window dropped (attention-sink norm, see DOCS 13.12); writes
           DIR/train.npy (float16) and DIR/heldout.npy (float32) and DIR/corpus.json.
  train    --data DIR --activation jumprelu|relu --seed S --out FILE.safetensors [--atoms 2048] ...
  report   --data DIR --runs A.safetensors,B.safetensors,... (pairs by activation) --out JSON
  peer     --sae FILE --out Fixtures/peer/atoms/reference.json
           R^2 of the SAE's reconstruction of hidden_states[layer] on the fixed peer prompt,
           computed from Hugging Face's Float32 hidden states (the figure SparseAutoencoder tests
           compare Touchstone's with).

Corpus: the documentation strings of the Python 3.11 standard library (modules, classes,
functions, methods, in sorted name order) and the help topics of `pydoc_data.topics` (the
language reference text that ships with CPython). Licence: Python Software Foundation License
Version 2 (the CPython distribution). Windows are checked against Spec-Bench questions and the
golden/peer prompts for shared 8-word sequences; none may overlap (the script fails otherwise).

Needs: pip install torch transformers gguf safetensors numpy matplotlib
"""
import argparse, hashlib, importlib, inspect, json, math, os, pkgutil, re, sys, time, warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import ROOT, DEFAULT_MODEL, load_peer, sha256  # noqa: E402

PEER_PROMPT = "The lighthouse keeper climbed the spiral stairs every evening to light the lamp."

# Modules whose import has side effects (opens windows, prints, starts things) or that are absent.
SKIP_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "__hello__",
                "__phello__", "lib2to3", "ensurepip", "venv", "test", "pydoc_data", "msilib", "winreg", "winsound",
                "_winapi", "nt", "msvcrt", "_msi", "_overlapped", "_wmi", "asyncio.__main__", "sqlite3.__main__",
                "xxsubtype", "xxlimited", "xxlimited_35"}


# ---------------------------------------------------------------- corpus

def corpus_texts():
    """Stdlib docstrings (deduplicated, in a fixed order) and the pydoc help topics."""
    warnings.simplefilter("ignore")
    names = sorted(n for n in sys.stdlib_module_names if n not in SKIP_MODULES)
    seen, texts = set(), []

    def add(doc):
        if not isinstance(doc, str) or not doc:
            return
        doc = inspect.cleandoc(doc)
        if len(doc) < 60 or doc in seen:
            return
        seen.add(doc)
        texts.append(doc)

    modules = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        modules.append(module)
        if hasattr(module, "__path__"):
            for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
                full = f"{name}.{info.name}"
                if info.name.startswith("_") or full in SKIP_MODULES or "test" in info.name:
                    continue
                try:
                    modules.append(importlib.import_module(full))
                except Exception:
                    pass
    for module in modules:
        add(module.__doc__)
        for member_name in sorted(vars(module)):
            if member_name.startswith("__"):
                continue
            member = vars(module)[member_name]
            if getattr(member, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(member) or inspect.isroutine(member):
                add(member.__doc__)
            if inspect.isclass(member):
                for attr in sorted(vars(member)):
                    value = vars(member)[attr]
                    if not attr.startswith("__") and (inspect.isroutine(value) or isinstance(value, property)):
                        add(value.__doc__)
    import pydoc_data.topics as topics
    for key in sorted(topics.topics):
        add(topics.topics[key])
    return texts


def words(text):
    return re.findall(r"[a-z0-9']+", text.lower())


def forbidden_ngrams(n=8):
    """8-word sequences of every Spec-Bench question turn and every prompt text in Fixtures/."""
    grams = set()
    texts = []
    with open(os.path.join(ROOT, "Fixtures", "spec-bench", "question.jsonl")) as f:
        for line in f:
            texts += json.loads(line).get("turns", [])
    for directory, _, files in os.walk(os.path.join(ROOT, "Fixtures")):
        for name in files:
            if name.endswith(".json"):
                try:
                    with open(os.path.join(directory, name)) as f:
                        doc = json.load(f)
                except Exception:
                    continue
                stack = [doc]
                while stack:
                    item = stack.pop()
                    if isinstance(item, dict):
                        for k, v in item.items():
                            if k in ("prompt", "text", "prompt_text", "context") and isinstance(v, str):
                                texts.append(v)
                            else:
                                stack.append(v)
                    elif isinstance(item, list):
                        stack += item
    texts.append(PEER_PROMPT)
    for text in texts:
        w = words(text)
        for i in range(len(w) - n + 1):
            grams.add(tuple(w[i:i + n]))
    return grams


# ---------------------------------------------------------------- collect

def layer_residuals(model, layer, ids_batch):
    """hidden_states[layer] (HF numbering: the output of decoder block layer-1) of a [B, T] batch,
    running only the first `layer` blocks."""
    import torch
    captured = {}

    def hook(_module, _inputs, output):
        captured["h"] = output[0] if isinstance(output, tuple) else output
    handle = model.model.layers[layer - 1].register_forward_hook(hook)
    full = model.model.layers
    try:
        model.model.layers = full[:layer]
        with torch.no_grad():
            model.model(input_ids=ids_batch)
    finally:
        model.model.layers = full
        handle.remove()
    return captured["h"]


def collect(args):
    import torch
    tok, model, name, digest = load_peer(args.model, threads=args.threads)
    texts = corpus_texts()
    stream = []
    for text in texts:
        stream += tok(text + "\n\n", add_special_tokens=False)["input_ids"]
    W = args.window
    windows = [stream[i:i + W] for i in range(0, len(stream) - W + 1, W)]
    grams = forbidden_ngrams()
    for k, window in enumerate(windows):
        w = words(tok.decode(window))
        for i in range(len(w) - 7):
            if tuple(w[i:i + 8]) in grams:
                raise SystemExit(f"window {k} shares the 8-word sequence {' '.join(w[i:i + 8])!r} with a Spec-Bench question or prompt")
    per_window = W - 1
    # Held out: every 20th window (fixed), the rest for training, up to --tokens training positions.
    heldout_windows = windows[::20]
    train_windows = [w for k, w in enumerate(windows) if k % 20 != 0][: max(1, args.tokens // per_window)]
    print(f"corpus: {len(texts)} texts, {len(stream)} tokens, {len(windows)} windows of {W}; "
          f"train {len(train_windows) * per_window} positions, held out {len(heldout_windows) * per_window}", file=sys.stderr)
    # Check the truncated pass against the full model's hidden_states once.
    probe = torch.tensor([train_windows[0]])
    with torch.no_grad():
        reference = model(probe, output_hidden_states=True).hidden_states[args.layer][0]
    mine = layer_residuals(model, args.layer, probe)[0]
    assert torch.equal(reference, mine), "truncated forward differs from hidden_states"
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    for split, chosen, dtype in (("heldout", heldout_windows, np.float32), ("train", train_windows, np.float16)):
        out = np.lib.format.open_memmap(os.path.join(args.out, f"{split}.npy"), mode="w+", dtype=dtype,
                                        shape=(len(chosen) * per_window, model.config.hidden_size))
        B = args.batch
        for b in range(0, len(chosen), B):
            h = layer_residuals(model, args.layer, torch.tensor(chosen[b:b + B]))[:, 1:, :]   # drop position 0
            out[b * per_window:(b + len(h)) * per_window] = h.reshape(-1, h.shape[-1]).numpy().astype(dtype)
            if (b // B) % 20 == 0:
                done = b + len(h)
                print(f"  {split}: {done}/{len(chosen)} windows, {time.time() - start:.0f} s", file=sys.stderr)
        out.flush()
        del out
    meta = {"model": {"file": name, "sha256": digest}, "layer": args.layer, "window": W, "dropped_positions": [0],
            "texts": len(texts), "corpus_tokens": len(stream),
            "corpus": "Python 3.11 standard library docstrings + pydoc_data.topics (PSF License Version 2)",
            "corpus_sha256": hashlib.sha256("\x00".join(texts).encode()).hexdigest(),
            "train_positions": len(train_windows) * per_window, "heldout_positions": len(heldout_windows) * per_window,
            "python": sys.version.split()[0], "seconds": time.time() - start}
    with open(os.path.join(args.out, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta), file=sys.stderr)



# ---------------------------------------------------------------- train

def load_train(data, limit=None):
    """The training positions that were written (collection may be stopped early: rows are
    written in window order, and `written_positions` in corpus.json says how many are valid)."""
    x = np.load(os.path.join(data, "train.npy"), mmap_mode="r")
    with open(os.path.join(data, "corpus.json")) as f:
        meta = json.load(f)
    n = meta["written_positions"]
    # Read into memory once (Float16, ~0.5 GB for 450k positions): random row gathers from the
    # memory map dominated the step time.
    return np.ascontiguousarray(x[: n if limit is None else min(n, limit)]), meta


def jumprelu_functions(torch, bandwidth):
    """JumpReLU and the step function with the rectangle-kernel pseudo-derivatives for theta
    (Rajamanoharan et al. 2024, eqs. 11-12): d/dtheta H(a - theta) = -(1/eps) K((a - theta)/eps),
    d/dtheta [a H(a - theta)] = -(theta/eps) K((a - theta)/eps), K(u) = 1[|u| < 1/2]; d/da is the
    ordinary derivative (H for JumpReLU, 0 for the step)."""
    class JumpReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, theta):
            ctx.save_for_backward(a, theta)
            return a * (a > theta)

        @staticmethod
        def backward(ctx, g):
            a, theta = ctx.saved_tensors
            kernel = ((a - theta).abs() < bandwidth / 2).to(a.dtype)
            return g * (a > theta), (-(theta / bandwidth) * kernel * g).sum(0)

    class Step(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, theta):
            ctx.save_for_backward(a, theta)
            return (a > theta).to(a.dtype)

        @staticmethod
        def backward(ctx, g):
            a, theta = ctx.saved_tensors
            kernel = ((a - theta).abs() < bandwidth / 2).to(a.dtype)
            return torch.zeros_like(a), (-(1.0 / bandwidth) * kernel * g).sum(0)
    return JumpReLU.apply, Step.apply


def train(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_all, meta = load_train(args.data, args.limit)
    N, d = x_all.shape
    n = args.atoms
    # Training units: x / s with s = sqrt(E||x||^2 / d) over the first 20,000 rows (folded back
    # into the saved weights, so the file acts on raw residuals).
    sample = torch.from_numpy(np.asarray(x_all[:20000], dtype=np.float32))
    s = float(sample.pow(2).sum(1).mean().div(d).sqrt())
    mean = (sample / s).mean(0)
    variance = float(((sample / s) - mean).pow(2).sum(1).mean())      # E||x - mu||^2 in training units
    W_d = torch.randn(d, n); W_d /= W_d.norm(dim=0, keepdim=True)
    W_d = torch.nn.Parameter(W_d)
    W_e = torch.nn.Parameter(W_d.detach().t().clone())
    b_e = torch.nn.Parameter(torch.zeros(n))
    b_d = torch.nn.Parameter(mean.clone())
    params = [W_e, b_e, W_d, b_d]
    jump, step = jumprelu_functions(torch, args.bandwidth)
    if args.activation == "jumprelu":
        with torch.no_grad():
            a0 = (sample[:4096] / s - mean) @ W_e.t()
        log_theta = torch.nn.Parameter(torch.full((n,), math.log(float(a0.std()) * args.theta_init)))
        params.append(log_theta)
    optimizer = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999))
    generator = np.random.default_rng(args.seed)
    order = generator.permutation(N)
    curve, start = [], time.time()
    B = args.batch
    for k in range(args.steps):
        rows = np.sort(order[(k * B) % N: (k * B) % N + B])
        x = torch.from_numpy(np.asarray(x_all[rows], dtype=np.float32)) / s
        lr = args.lr * min(1.0, (k + 1) / 20) * (1.0 if k < 0.8 * args.steps else (args.steps - k) / (0.2 * args.steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        a = (x - b_d) @ W_e.t() + b_e
        if args.activation == "jumprelu":
            theta = log_theta.exp()
            z = jump(a, theta)
            sparsity = step(a, theta).sum(1).mean()
        else:
            z = torch.relu(a)
            sparsity = (z * W_d.norm(dim=0)).sum(1).mean()
        x_hat = z @ W_d.t() + b_d
        reconstruction = (x - x_hat).pow(2).sum(1).mean() / variance
        loss = reconstruction + args.sparsity * sparsity
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            W_d /= W_d.norm(dim=0, keepdim=True)
        l0 = float((z > 0).float().sum(1).mean())
        curve.append([k, float(loss), float(reconstruction), l0])
        if k % 50 == 0 or k == args.steps - 1:
            print(f"  {args.activation} seed {args.seed} step {k}: loss {float(loss):.4f} FVU {float(reconstruction):.4f} L0 {l0:.1f} "
                  f"({time.time() - start:.0f} s)", file=sys.stderr)
    seconds = time.time() - start
    # Fold s back: raw a = s * a_train, so b_e and theta scale by s, b_d by s, W_e and W_d unchanged.
    tensors = {"W_e": W_e.detach().contiguous(), "b_e": (b_e.detach() * s).contiguous(),
               "W_d": W_d.detach().contiguous(), "b_d": (b_d.detach() * s).contiguous()}
    tensors["theta"] = (log_theta.detach().exp() * s) if args.activation == "jumprelu" else torch.zeros(n)
    with torch.no_grad():
        tensors["aip_mu"] = (mean * s).contiguous()
    metadata = {"format": "touchstone-sae", "activation": args.activation, "layer": str(meta["layer"]),
                "base_model": meta["model"]["file"], "base_model_sha256": meta["model"]["sha256"],
                "atoms": str(n), "seed": str(args.seed), "steps": str(args.steps), "batch": str(B), "lr": str(args.lr),
                "sparsity_penalty": ("L0" if args.activation == "jumprelu" else "L1") + f" x {args.sparsity}",
                "bandwidth": str(args.bandwidth), "train_positions": str(N), "input_scale": repr(s),
                "corpus": meta["corpus"], "training_seconds": f"{seconds:.0f}", "script": "Scripts/train_sae.py"}
    from safetensors.torch import save_file
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, args.out, metadata=metadata)
    with open(args.out + ".curve.json", "w") as f:
        json.dump({"activation": args.activation, "seed": args.seed, "seconds": seconds, "curve": curve}, f)
    print(f"wrote {args.out} ({seconds:.0f} s)", file=sys.stderr)


# ---------------------------------------------------------------- report

def sae_forward(torch, t, metadata, x):
    a = (x - t["b_d"]) @ t["W_e"].t() + t["b_e"]
    activation = metadata["activation"]
    if activation == "jumprelu":
        z = a * (a > t["theta"])
    elif activation == "shifted-relu":
        z = torch.clamp(a - t["theta"], min=0)
    else:
        z = torch.relu(a)
    return z, z @ t["W_d"].t() + t["b_d"]


def r_squared(x, x_hat):
    """1 - SSE/SST over positions and dimensions, SST about the per-dimension mean (Float64)."""
    x, x_hat = x.double(), x_hat.double()
    sse = (x - x_hat).pow(2).sum()
    sst = (x - x.mean(0)).pow(2).sum()
    return float(1 - sse / sst)


def stability(W_a, W_b, threshold):
    """q*: the fraction of atoms of one run whose decoder column has a partner in the other run
    with cosine >= threshold, averaged over both directions (A->B and B->A)."""
    A = W_a / W_a.norm(dim=0, keepdim=True)
    B = W_b / W_b.norm(dim=0, keepdim=True)
    cos = A.t() @ B
    return float(((cos.max(1).values >= threshold).double().mean() + (cos.max(0).values >= threshold).double().mean()) / 2)


def report(args):
    import torch
    from safetensors import safe_open
    torch.set_num_threads(args.threads)
    held = torch.from_numpy(np.load(os.path.join(args.data, "heldout.npy")))
    runs = {}
    for path in args.runs.split(","):
        with safe_open(path, "pt") as f:
            metadata = f.metadata()
            t = {k: f.get_tensor(k) for k in f.keys()}
        with torch.no_grad():
            z, x_hat = sae_forward(torch, t, metadata, held)
        alive = float(((z > 0).sum(0) > 0).double().mean())
        with open(path + ".curve.json") as f:
            curve = json.load(f)
        entry = {"file": os.path.basename(path), "seed": int(metadata["seed"]), "r2": r_squared(held, x_hat),
                 "mean_l0": float((z > 0).double().sum(1).mean()), "alive_fraction": alive, "seconds": curve["seconds"]}
        runs.setdefault(metadata["activation"], []).append((entry, t["W_d"], curve))
    out = {"heldout_positions": len(held), "threshold": args.threshold, "models": {}}
    for activation, entries in runs.items():
        model = {"runs": [e for e, _, _ in entries]}
        if len(entries) >= 2:
            model["q_star"] = stability(entries[0][1], entries[1][1], args.threshold)
            model["q_star_0.7"] = stability(entries[0][1], entries[1][1], 0.7)
        out["models"][activation] = model
    print(json.dumps(out, indent=1))
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for activation, entries in runs.items():
            for entry, _, curve in entries:
                c = np.array(curve["curve"])
                label = f"{activation} seed {entry['seed']}"
                axes[0].plot(c[:, 0], c[:, 2], label=label, linewidth=0.8)
                axes[1].plot(c[:, 0], c[:, 3], label=label, linewidth=0.8)
        axes[0].set_ylabel("FVU = ||x - x_hat||^2 / E||x - mu||^2 (batch)"); axes[0].set_yscale("log")
        axes[1].set_ylabel("L0 (batch mean)"); axes[1].set_yscale("log")
        for ax in axes:
            ax.set_xlabel("step"); ax.legend(fontsize=7)
        fig.suptitle("SmolLM2-135M-Instruct hidden_states[15]: TSAE (JumpReLU) vs ReLU SAE, 2,048 atoms")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


# ---------------------------------------------------------------- peer

def peer(args):
    import torch
    from safetensors import safe_open
    tok, model, name, digest = load_peer(args.model, threads=args.threads)
    with safe_open(args.sae, "pt") as f:
        metadata = f.metadata()
        t = {k: f.get_tensor(k) for k in f.keys()}
    layer = int(metadata["layer"])
    ids = tok(PEER_PROMPT, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[layer][0]
        z, x_hat = sae_forward(torch, t, metadata, h)
    doc = {"model": {"file": name, "sha256": digest}, "sae": os.path.basename(args.sae), "sae_sha256": sha256(args.sae),
           "layer": layer, "text": PEER_PROMPT, "prompt_ids": ids,
           "r2_from_position_1": r_squared(h[1:], x_hat[1:]), "r2_all_positions": r_squared(h, x_hat),
           "l0": [int(v) for v in (z > 0).sum(1)],
           "peer": {"transformers": __import__("transformers").__version__, "torch": torch.__version__, "dtype": "float32"},
           "made_by": "Scripts/train_sae.py peer (Hugging Face hidden states, PyTorch SAE forward)"}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(json.dumps(doc), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--out", required=True)
    c.add_argument("--model", default=DEFAULT_MODEL)
    c.add_argument("--tokens", type=int, default=600_000)
    c.add_argument("--layer", type=int, default=15)
    c.add_argument("--window", type=int, default=128)
    c.add_argument("--batch", type=int, default=8)
    c.add_argument("--threads", type=int, default=2)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--activation", choices=["jumprelu", "relu"], required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--atoms", type=int, default=2048)
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--batch", type=int, default=1024)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--sparsity", type=float, default=None,
                   help="lambda: L0 weight (jumprelu, default 2e-3) or L1 weight (relu, default 4e-3)")
    t.add_argument("--bandwidth", type=float, default=0.05, help="JumpReLU pseudo-derivative kernel width (training units)")
    t.add_argument("--theta-init", type=float, default=0.5, help="initial theta as a multiple of the initial pre-activation std")
    t.add_argument("--limit", type=int, default=None)
    t.add_argument("--threads", type=int, default=2)
    r = sub.add_parser("report")
    r.add_argument("--data", required=True)
    r.add_argument("--runs", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--plot", default=None)
    r.add_argument("--threshold", type=float, default=0.9)
    r.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("peer")
    p.add_argument("--sae", required=True)
    p.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "peer", "atoms", "reference.json"))
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.command == "train" and args.sparsity is None:
        args.sparsity = 2e-3 if args.activation == "jumprelu" else 4e-3
    {"collect": collect, "train": train, "report": report, "peer": peer}[args.command](args)


if __name__ == "__main__":
    main()
