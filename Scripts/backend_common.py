"""What the backend scripts share (Scripts/backend_llamacpp.py, Scripts/backend_transformers.py):
the golden catalogue's greedy SmolLM2 fixtures, greedy decoding over a backend's logits into a
candidate trace (the schema `touchstone verify` accepts, DOCS.md section 7.1), and activation
dumps in `touchstone activations`' format (DOCS.md section 7.3, "Activation dumps").

A development tool only: nothing in `swift build` or `swift test` runs these scripts.
"""
import glob, json, os
import numpy as np

from peer_common import ROOT, DEFAULT_MODEL, sha256

GOLDEN = os.path.join(ROOT, "Fixtures", "golden", "smollm2")
OUT = os.path.join(ROOT, "Fixtures", "backends")


def greedy_fixtures():
    """[(name, prompt_ids, max_new_tokens, top_k)] for every greedy SmolLM2 fixture, sorted by
    name (`smollm2/greedy-0`, …)."""
    found = []
    for path in sorted(glob.glob(os.path.join(GOLDEN, "*.json"))):
        with open(path) as f:
            fixture = json.load(f)
        if fixture["algorithm"]["name"] != "greedy":
            continue
        top_k = int(fixture["algorithm"]["parameters"].get("trace_top_k", 5))
        found.append((fixture["name"], list(fixture["prompt_ids"]), len(fixture["output_ids"]), top_k))
    return found


def ranked(logits, k):
    """The k best (id, logit) of a 1-D Float32 array: logit descending, then id ascending (D4)."""
    logits = np.asarray(logits, dtype=np.float32)
    # lexsort sorts by the last key first: -logit, then id.
    order = np.lexsort((np.arange(logits.shape[0]), -logits.astype(np.float64)))[:k]
    return [(int(i), float(logits[i])) for i in order]


def greedy_candidate(prompt_ids, max_new_tokens, top_k, next_logits, backend):
    """Greedy decoding (argmax, lowest id among equal maxima; EOS ignored, like the fixtures) over
    `next_logits(token_ids_to_append) -> [vocab] Float32 logits of the last appended position`.
    The first call appends the whole prompt. Returns (candidate dict, [steps, vocab] logits)."""
    steps, all_logits, output = [], [], []
    logits = next_logits(list(prompt_ids))
    for step in range(max_new_tokens):
        logits = np.asarray(logits, dtype=np.float32)
        all_logits.append(logits.copy())
        best = ranked(logits, top_k)
        token = best[0][0]
        output.append(token)
        steps.append({"step": step, "token": token, "logit": float(logits[token]),
                      "top": [[i, x] for i, x in best]})
        if step + 1 < max_new_tokens:
            logits = next_logits([token])
    candidate = {"backend": backend, "prompt_ids": list(prompt_ids), "output_ids": output, "trace": steps}
    return candidate, np.stack(all_logits)


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def max_abs_difference(a, b):
    """max |a - b| over two equal-shape Float32 arrays, in Float64."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def first_token_difference(a, b):
    """The first step where two token lists differ, or None."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


class Dump:
    """An activation dump in `touchstone activations`' format: one `<f4` C-order .npy file per
    `[T, width]` array and a manifest (schema `touchstone-activations/1`), arrays in forward order."""

    OPERATIONS = {
        "attn_norm": "RMSNorm(x) · attn_norm.weight", "q_proj": "Wq · attn_norm (before RoPE)",
        "k_proj": "Wk · attn_norm (before RoPE)", "v": "Wv · attn_norm", "q": "q after RoPE",
        "k": "k after RoPE", "attn_output": "softmax(q·kᵀ/√hd)·v per head, before Wo",
        "attn_projection": "Wo · attn_output", "attn_residual": "x + attn_projection",
        "ffn_norm": "RMSNorm(attn_residual) · ffn_norm.weight", "gate": "Wgate · ffn_norm (before SiLU)",
        "up": "Wup · ffn_norm", "swiglu": "SiLU(gate) ⊙ up", "mlp_output": "Wdown · swiglu",
    }
    ORDER = ["attn_norm", "q_proj", "k_proj", "v", "q", "k", "attn_output", "attn_projection",
             "attn_residual", "ffn_norm", "gate", "up", "swiglu", "mlp_output"]

    def __init__(self, directory, backend, model_path, prompt_ids, layer, layers):
        self.directory, self.backend, self.model_path = directory, backend, model_path
        self.prompt_ids, self.layer, self.layers = list(prompt_ids), layer, layers
        self.arrays = {}

    def add(self, name, values):
        values = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
        if values.ndim != 2 or values.shape[0] != len(self.prompt_ids):
            raise ValueError(f"{self.backend}: array {name} has shape {values.shape}, expected [T={len(self.prompt_ids)}, width]")
        self.arrays[name] = values

    def names_in_forward_order(self):
        names = ["embeddings"]
        for n in range(self.layers):
            if n == self.layer:
                names += [f"blk.{n}.{x}" for x in self.ORDER]
            names.append(f"blk.{n}.output")
        return names + ["final_norm", "logits"]

    def write(self):
        os.makedirs(self.directory, exist_ok=True)
        entries = []
        for name in self.names_in_forward_order():
            if name not in self.arrays:
                continue
            values = self.arrays[name]
            file = name + ".npy"
            np.save(os.path.join(self.directory, file), values)
            layer, index, operation = None, None, name
            if name == "embeddings":
                index, operation = 0, "token embedding rows"
            elif name == "final_norm":
                index, operation = self.layers, "RMSNorm(last block output) · output_norm.weight"
            elif name == "logits":
                operation = "output head · final_norm"
            else:
                _, n, op = name.split(".", 2)
                layer = int(n)
                if op == "output":
                    operation = "attn_residual + mlp_output"
                    index = layer + 1 if layer + 1 < self.layers else None
                else:
                    operation = self.OPERATIONS[op]
            entries.append({"name": name, "file": file, "shape": list(values.shape), "dtype": "float32",
                            "byte_order": "little", "layer": layer, "hidden_state_index": index,
                            "operation": operation})
        manifest = {"schema": "touchstone-activations/1",
                    "model": {"origin": self.backend, "file": os.path.basename(self.model_path),
                              "sha256": sha256(self.model_path), "weights": "native"},
                    "prompt_ids": self.prompt_ids, "intermediates_layer": self.layer,
                    "conventions": "[T, width] Float32 rows, one per prompt token; blk.N is block N (0-based); "
                                   "q, k, q_proj, k_proj in GGUF row order (adjacent RoPE pairs)",
                    "arrays": entries}
        write_json(os.path.join(self.directory, "manifest.json"), manifest)
        return [e["name"] for e in entries]


def hf_to_gguf_rows(x, heads):
    """[T, heads·hd] from Hugging Face's half-rotation column order to GGUF's adjacent-pair order
    (GGUF column 2i + p of a head is Hugging Face's column p·hd/2 + i)."""
    x = np.asarray(x)
    t, width = x.shape
    hd = width // heads
    return x.reshape(t, heads, 2, hd // 2).transpose(0, 1, 3, 2).reshape(t, width)
