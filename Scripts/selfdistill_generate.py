#!/usr/bin/env python3
"""Self-distillation data: SmolLM2-135M-Instruct's own greedy answers to the prompts of
Scripts/selfdistill_prompts.py.

The model is the Q4_1 GGUF Touchstone uses, loaded in Hugging Face transformers with `gguf_file=`
(dequantized to Float32, as the peer scripts do), so the targets are that model's behaviour. Each
prompt goes through SmolLM2's ChatML template exactly as `touchstone generate --chat` renders it
(default system message, user turn, generation prompt; special tokens parsed; no BOS, since the file
says add_bos_token = false). Greedy decoding (argmax), up to --max-new-tokens, stopping at the
file's EOS (<|im_end|>, id 2), in batches with left padding and the KV cache, on --threads PyTorch threads (default 2; on a
machine whose cores are already busy, 1 is much faster, since 2 spinning threads then wait on each
other).

Output (not committed): <out>/data.jsonl, one line per prompt:
  {"id", "category", "prompt_ids", "response_ids", "stop": "eos"|"length", "hidden_offset"}
where the sequence is prompt_ids + response_ids (the boundary is len(prompt_ids)) and
response_ids ends with the EOS id when stop == "eos". A rerun resumes after the ids already in
data.jsonl.

With --hidden (the default), <out>/hidden.f32 also receives the model's final hidden states after
the final RMSNorm (what Medusa heads read), little-endian float32 rows of 576: for a sequence with
R response tokens, R rows starting at row `hidden_offset`, row j being the state at position
len(prompt_ids) - 1 + j (the state from which the LM head chose response token j). They are taken
with a forward hook on the final norm while the model generates, which computes the same function
as a teacher-forced pass over prompt + response (causal attention with a KV cache); the
`--check-teacher-forced N` option measures the difference on N sequences. The run stops starting new batches once --target-tokens response tokens are written
or --max-minutes have passed (the batches run in a seeded random order, so a partial run still
covers every category); then <out>/DONE is written with the totals.

Usage: python3 Scripts/selfdistill_generate.py [--prompts FILE] [--out DIR] [--limit N]
           [--batch N] [--max-new-tokens N] [--model GGUF]
"""
import argparse, json, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import DEFAULT_MODEL, load_peer

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
EOS = 2  # <|im_end|>: tokenizer.ggml.eos_token_id of the SmolLM2 GGUF
HIDDEN = 576


def check_teacher_forced(model, data_path, hidden_path, n):
    """Largest difference between the saved hidden states and a teacher-forced forward pass."""
    import numpy as np, torch
    with open(data_path) as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    hidden = np.memmap(hidden_path, dtype="<f4", mode="r").reshape(-1, HIDDEN)
    worst = 0.0
    for r in rows:
        seq = r["prompt_ids"] + r["response_ids"]
        with torch.no_grad():
            h = model.model(torch.tensor([seq])).last_hidden_state[0]  # [T, 576], after the final norm
        b, n_resp = len(r["prompt_ids"]), len(r["response_ids"])
        forced = h[b - 1:b - 1 + n_resp].numpy()
        saved = hidden[r["hidden_offset"]:r["hidden_offset"] + n_resp]
        diff = float(np.abs(forced - saved).max())
        scale = float(np.abs(forced).max())
        worst = max(worst, diff)
        print(f"sequence {r['id']}: {n_resp} rows, max |saved - teacher-forced| = {diff:.3g} "
              f"(max |h| = {scale:.3g})", file=sys.stderr)
    print(f"largest difference over {len(rows)} sequences: {worst:.3g}", file=sys.stderr)


def chatml(user):
    """SmolLM2's chat template with its default system message and the generation prompt."""
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", default="/work/data/selfdistill/prompts.jsonl")
    ap.add_argument("--out", default="/work/data/selfdistill")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N prompts (0: all)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0, help="order in which the length-sorted batches run")
    ap.add_argument("--target-tokens", type=int, default=300_000,
                    help="start no new batch once this many response tokens are written (0: no limit)")
    ap.add_argument("--max-minutes", type=float, default=40,
                    help="start no new batch after this many minutes (0: no limit)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    ap.add_argument("--no-hidden", dest="hidden", action="store_false",
                    help="do not save the final hidden states")
    ap.add_argument("--check-teacher-forced", type=int, default=0, metavar="N",
                    help="only compare the saved hidden states of the first N sequences with a "
                         "teacher-forced forward pass, then exit")
    args = ap.parse_args()

    import numpy as np, torch
    tok, model, name, digest = load_peer(args.model, threads=args.threads)
    if tok.eos_token_id != EOS:
        sys.exit(f"expected EOS id {EOS} (<|im_end|>) in {name}, the tokenizer says {tok.eos_token_id}")
    with open(args.prompts) as f:
        prompts = [json.loads(line) for line in f]
    if args.limit:
        prompts = prompts[:args.limit]
    os.makedirs(args.out, exist_ok=True)
    data_path = os.path.join(args.out, "data.jsonl")
    done_path = os.path.join(args.out, "DONE")
    if os.path.exists(done_path):
        os.remove(done_path)
    hidden_path = os.path.join(args.out, "hidden.f32")
    if args.check_teacher_forced:
        return check_teacher_forced(model, data_path, hidden_path, args.check_teacher_forced)
    done, have_tokens = set(), 0
    if os.path.exists(data_path):
        with open(data_path) as f:
            for line in f:
                row = json.loads(line)
                done.add(row["id"])
                have_tokens += len(row["response_ids"])
    if args.hidden:
        # Rows past the last complete sequence (an interrupted batch) are dropped.
        with open(hidden_path, "ab") as f:
            f.truncate(have_tokens * HIDDEN * 4)
    captured = []
    if args.hidden:
        model.model.norm.register_forward_hook(lambda module, inputs, output: captured.append(output.detach()))
    todo = []
    for p in prompts:
        if p["id"] in done:
            continue
        ids = tok(chatml(p["prompt"]), add_special_tokens=False)["input_ids"]
        todo.append((p, ids))
    # Length-sorted batches (little padding), run in a seeded random order so that a partial run
    # still covers every category and length.
    todo.sort(key=lambda x: len(x[1]))
    batches = [todo[i:i + args.batch] for i in range(0, len(todo), args.batch)]
    random.Random(args.seed).shuffle(batches)
    print(f"{name} sha256 {digest[:12]}…: {len(done)} prompts done, {len(todo)} to go in {len(batches)} "
          f"batches of {args.batch}", file=sys.stderr)

    start, new_tokens, prompt_tokens = time.time(), 0, 0
    hidden_file = open(hidden_path, "ab") if args.hidden else None
    with open(data_path, "a") as out:
        for b, batch in enumerate(batches):
            if args.target_tokens and have_tokens + new_tokens >= args.target_tokens:
                print(f"stopping: {args.target_tokens} response tokens reached", file=sys.stderr)
                break
            if args.max_minutes and time.time() - start > args.max_minutes * 60:
                print(f"stopping: {args.max_minutes} minutes used", file=sys.stderr)
                break
            width = max(len(ids) for _, ids in batch)
            input_ids = torch.full((len(batch), width), EOS, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (_, ids) in enumerate(batch):  # left padding
                input_ids[r, width - len(ids):] = torch.tensor(ids)
                mask[r, width - len(ids):] = 1
            captured.clear()
            with torch.no_grad():
                gen = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=False,
                                     max_new_tokens=args.max_new_tokens, eos_token_id=EOS, pad_token_id=EOS,
                                     use_cache=True, temperature=None, top_p=None, top_k=None)
            if args.hidden:
                # captured[0]: prefill [B, width, 576]; then one [B, 1, 576] per generated token but
                # the last. Column j of `states` is the state at position width - 1 + j.
                states = torch.cat([captured[0][:, -1:]] + captured[1:], dim=1).numpy().astype("<f4")
            for r, (p, ids) in enumerate(batch):
                resp = gen[r, width:].tolist()
                stop = "length"
                if EOS in resp:
                    resp = resp[:resp.index(EOS) + 1]
                    stop = "eos"
                if args.hidden:
                    assert states.shape[1] >= len(resp), (states.shape, len(resp))
                    hidden_file.write(np.ascontiguousarray(states[r, :len(resp)]).tobytes())
                out.write(json.dumps({"id": p["id"], "category": p["category"], "prompt_ids": ids,
                                      "response_ids": resp, "stop": stop,
                                      "hidden_offset": have_tokens + new_tokens}) + "\n")
                new_tokens += len(resp)
                prompt_tokens += len(ids)
            if args.hidden:
                hidden_file.flush()
            out.flush()
            el = time.time() - start
            eta = el / (b + 1) * (len(batches) - b - 1)
            print(f"batch {b + 1}/{len(batches)}: {new_tokens} response tokens, {new_tokens / el:.0f} tok/s, "
                  f"elapsed {el / 60:.1f} min, eta {eta / 60:.1f} min", file=sys.stderr, flush=True)

    with open(data_path) as f:
        rows = [json.loads(line) for line in f]
    # DONE once the prompts are used up or a budget stopped the run; a crash leaves no DONE.
    summary = {"sequences": len(rows), "prompts_available": len(prompts),
               "prompt_tokens": sum(len(r["prompt_ids"]) for r in rows),
               "response_tokens": sum(len(r["response_ids"]) for r in rows),
               "stopped_at_eos": sum(r["stop"] == "eos" for r in rows),
               "max_new_tokens": args.max_new_tokens, "model": name, "model_sha256": digest,
               "torch": torch.__version__, "transformers": __import__("transformers").__version__}
    with open(done_path, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"DONE: {summary}", file=sys.stderr)


if __name__ == "__main__":
    main()
