#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python's binding) as a backend checked against Touchstone: candidate
traces for the golden catalogue's greedy SmolLM2 fixtures and activation dumps in
`touchstone activations`' format, read through llama.cpp's graph evaluation callback (`cb_eval`).

Needs llama-cpp-python (DOCS.md section 7.4 says how it was built; LLAMA_CPP_LIB_PATH may point at
a separately built libllama.so). Writes under Fixtures/backends/llamacpp/ (or --out):
  greedy-N.json              llama.cpp defaults (Q4_1 file, F16 KV cache), 2 threads,
                             n_batch = n_ubatch = 512: one prefill of the prompt, then one-token
                             decode steps
  greedy-N.kv-f32.json       the same with a Float32 KV cache
  greedy-N.f32.json          the GGUF dequantized to all-Float32 by llama.cpp's own quantize API,
                             Float32 KV cache: no quantized dot products and no F16 cache
  dump-greedy-N[.f32]/       the prompt's activations (block --layer's intermediates), for the
                             Q4_1 default and the all-Float32 configuration
  summary.json               versions, and for each fixture and configuration the thread and batch
                             dependence, on one evaluation of the whole sequence (prompt + generated
                             tokens): 1 vs 2 threads, n_ubatch 1 and 7 vs 512 (the sequence in
                             chunks), and the trace's one-token decode steps against that one batch
                             (max |Δlogit| over the whole vocabulary, per position)
  dumps.json                 (--dumps-only) the dumps' array names, and the dump run's logits against
                             a plain prefill (the callback splits the graph at every recorded tensor)

Usage: python3 Scripts/backend_llamacpp.py [--model GGUF] [--out DIR] [--dump greedy-0] [--layer L] [--dumps-only]
"""
import argparse, ctypes, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend_common import (DEFAULT_MODEL, OUT, Dump, greedy_fixtures, greedy_candidate, write_json,
                            max_abs_difference, first_token_difference)

# OpenMP worker threads spin while they wait by default; on a machine whose cores are shared that
# made a run ~20x slower here (DOCS.md section 7.4). Passive waiting changes no arithmetic (results are thread-count
# invariant, see summary.json). Must be set before libgomp starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import llama_cpp
import llama_cpp.llama_cpp as low_level  # the module llama_cpp.Llama calls into
from llama_cpp import Llama


class GGMLTensor(ctypes.Structure):
    """`struct ggml_tensor` of ggml 0.25.x (ggml/include/ggml.h: GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS
    64, GGML_MAX_SRC 10, GGML_MAX_NAME 64)."""
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p),
                ("ne", ctypes.c_int64 * 4), ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int),
                ("op_params", ctypes.c_int32 * 16), ("flags", ctypes.c_int32),
                ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p), ("view_offs", ctypes.c_size_t),
                ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64), ("extra", ctypes.c_void_p),
                ("padding", ctypes.c_char * 8)]


def ggml_base():
    """libggml-base (for ggml_op_name), found beside the libllama llama-cpp-python loaded."""
    directory = os.environ.get("LLAMA_CPP_LIB_PATH") or os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    lib = ctypes.CDLL(os.path.join(directory, "libggml-base.so"))
    lib.ggml_op_name.restype = ctypes.c_char_p
    lib.ggml_op_name.argtypes = [ctypes.c_int]
    return lib


class Recorder:
    """A `cb_eval` callback that copies the named llama.cpp graph tensors of one prefill into
    Touchstone's array names (llama.cpp names tensors `<name>-<layer>`, src/models/llama.cpp)."""

    def __init__(self, layer, tokens, embedding_width):
        self.layer, self.tokens, self.width = layer, tokens, embedding_width
        self.arrays, self.ggml = {}, ggml_base()
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._call)

    def target(self, t):
        name = t.name.decode()
        op = self.ggml.ggml_op_name(t.op).decode()
        if name == "result_norm":
            return "final_norm"
        if op == "GET_ROWS" and t.ne[0] == self.width and t.ne[1] == self.tokens and "embeddings" not in self.arrays:
            return "embeddings"
        if "-" not in name:
            return None
        base, _, index = name.rpartition("-")
        if not index.isdigit():
            return None
        n = int(index)
        if base == "l_out":
            return f"blk.{n}.output"
        if n != self.layer:
            return None
        simple = {"attn_norm": "attn_norm", "kqv_out": "attn_output", "attn_out": "attn_projection",
                  "ffn_inp": "attn_residual", "ffn_norm": "ffn_norm", "ffn_up": "up", "ffn_gate": "gate",
                  "ffn_swiglu": "swiglu"}
        if base in simple and op not in ("RESHAPE", "VIEW"):
            return f"blk.{n}.{simple[base]}"
        by_op = {("Qcur", "MUL_MAT"): "q_proj", ("Kcur", "MUL_MAT"): "k_proj", ("Vcur", "MUL_MAT"): "v",
                 ("Qcur", "ROPE"): "q", ("Kcur", "ROPE"): "k", ("ffn_out", "MUL_MAT"): "mlp_output"}
        if (base, op) in by_op:
            return f"blk.{n}.{by_op[(base, op)]}"
        return None

    def _call(self, pointer, ask, user_data):
        t = GGMLTensor.from_address(pointer)
        name = self.target(t)
        if ask:
            return name is not None
        if name is None or t.type != 0:  # GGML_TYPE_F32 only
            return True
        count = 1
        contiguous = t.nb[0] == 4
        for i in range(4):
            if i > 0 and t.ne[i] > 1 and t.nb[i] != t.nb[i - 1] * t.ne[i - 1]:
                contiguous = False
            count *= t.ne[i]
        if not contiguous or count % self.tokens != 0:
            print(f"  skipped {t.name.decode()} ({name}): not a contiguous [T, width] tensor", file=sys.stderr)
            return True
        values = np.frombuffer(ctypes.string_at(t.data, 4 * count), dtype=np.float32).reshape(self.tokens, -1)
        self.arrays[name] = values.copy()
        return True


def open_model(path, threads, n_batch, n_ubatch, kv_f32, recorder=None):
    """A llama.cpp context (no GPU; flash attention off, as llama-cpp-python's default) over `path`."""
    # Llama.__init__ takes its context parameters from llama_context_default_params() and has no
    # argument for the callback, so hand it parameters with cb_eval set.
    original = low_level.llama_context_default_params
    if recorder is not None:
        def with_callback():
            params = original()
            params.cb_eval = recorder.callback
            return params
        low_level.llama_context_default_params = with_callback
    try:
        kv = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} if kv_f32 else {}
        return Llama(model_path=path, n_ctx=256, n_threads=threads, n_threads_batch=threads, n_batch=n_batch,
                     n_ubatch=n_ubatch, logits_all=True, n_gpu_layers=0, verbose=False, seed=0, **kv)
    finally:
        low_level.llama_context_default_params = original


def incremental(llm):
    llm.reset()

    def next_logits(ids):
        llm.eval(ids)
        return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    return next_logits


def whole_sequence_logits(llm, ids):
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[:len(ids)], dtype=np.float32)


def f32_copy(source, target):
    """The GGUF with every tensor dequantized to Float32 by llama.cpp's quantize API."""
    if not os.path.exists(target):
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = 0  # LLAMA_FTYPE_ALL_F32
        params.allow_requantize = True
        if llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params)) != 0:
            raise SystemExit(f"llama_model_quantize could not write {target}")
    return target


def write_dump(args, path, kv_f32, description, prompt_ids, name):
    """The prompt's activation dump (block args.layer's intermediates) in args.out/dump-<name>, and
    how far the logits of that run (the callback splits the graph) are from a plain prefill."""
    recorder = Recorder(args.layer, len(prompt_ids), 576)
    llm = open_model(path, 2, 512, 512, kv_f32, recorder)
    llm.reset()
    llm.eval(prompt_ids)
    recorded = np.array(llm.scores[:len(prompt_ids)], dtype=np.float32)
    plain = whole_sequence_logits(open_model(path, 2, 512, 512, kv_f32), prompt_ids)
    layers = low_level.llama_model_n_layer(llm.model)
    dump = Dump(os.path.join(args.out, "dump-" + name), "llama.cpp " + description, path, prompt_ids, args.layer, layers)
    for array, values in recorder.arrays.items():
        dump.add(array, values)
    names = dump.write()
    print(f"  dump-{name}: {len(names)} arrays", flush=True)
    return {"dump_run_vs_plain_prefill": {"max_abs_logit_difference": max_abs_difference(recorded, plain)},
            "arrays": names}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default=os.path.join(OUT, "llamacpp"))
    parser.add_argument("--f32-model", default=os.path.join(os.path.dirname(DEFAULT_MODEL), "SmolLM2-135M-Instruct.F32-llamacpp.gguf"),
                        help="where the all-Float32 copy is written (not committed)")
    parser.add_argument("--dump", default="greedy-0")
    parser.add_argument("--layer", type=int, default=0)
    parser.add_argument("--dumps-only", action="store_true", help="write only the activation dumps (and dumps.json)")
    args = parser.parse_args()
    f32 = f32_copy(args.model, args.f32_model)
    version = {"name": "llama.cpp", "llama_cpp_python": llama_cpp.__version__,
               "system_info": llama_cpp.llama_print_system_info().decode().strip()}
    configurations = [("", args.model, False, "Q4_1 file, F16 KV cache (llama.cpp defaults)"),
                      (".kv-f32", args.model, True, "Q4_1 file, F32 KV cache"),
                      (".f32", f32, True, "all-F32 GGUF from llama_model_quantize, F32 KV cache")]
    dumps = [x for x in args.dump.split(",") if x]
    summary = {"backend": version, "fixtures": {}}
    for suffix, path, kv_f32, description in configurations:
        if args.dumps_only:
            if suffix in ("", ".f32"):
                for fixture, prompt_ids, _, _ in greedy_fixtures():
                    short = fixture.split("/")[1]
                    if short in dumps:
                        entry = write_dump(args, path, kv_f32, description, prompt_ids, short + suffix)
                        summary["fixtures"].setdefault(fixture, {})[description] = entry
            continue
        main_llm = open_model(path, 2, 512, 512, kv_f32)
        variants = {"threads_1": open_model(path, 1, 512, 512, kv_f32),
                    "n_ubatch_1": open_model(path, 2, 512, 1, kv_f32),
                    "n_ubatch_7": open_model(path, 2, 512, 7, kv_f32)}
        for fixture, prompt_ids, max_new, top_k in greedy_fixtures():
            short = fixture.split("/")[1]
            backend = dict(version, configuration=description, threads=2, n_batch=512, n_ubatch=512,
                           mode="prompt prefill, then one-token decode steps")
            candidate, logits = greedy_candidate(prompt_ids, max_new, top_k, incremental(main_llm), backend)
            write_json(os.path.join(args.out, short + suffix + ".json"), candidate)
            # Thread and batch dependence, on one evaluation of the whole sequence (prompt and
            # the generated tokens but the last) in each variant, against the default context's.
            sequence = prompt_ids + candidate["output_ids"][:-1]
            whole = whole_sequence_logits(main_llm, sequence)
            entry = {}
            for label, llm in variants.items():
                other = whole_sequence_logits(llm, sequence)
                rows = np.max(np.abs(other.astype(np.float64) - whole), axis=1)
                entry[label + "_vs_default"] = {"max_abs_logit_difference": float(np.max(rows)),
                                                "positions_that_differ": int(np.count_nonzero(rows))}
            rows = np.max(np.abs(whole[len(prompt_ids) - 1:].astype(np.float64) - logits), axis=1)
            entry["incremental_vs_whole_sequence"] = {
                "max_abs_logit_difference": float(np.max(rows)),
                "max_abs_logit_difference_per_step": [float(x) for x in rows],
                "argmax_differences": sum(int(np.argmax(r)) != t for r, t in zip(whole[len(prompt_ids) - 1:], candidate["output_ids"]))}
            summary["fixtures"].setdefault(fixture, {})[description] = entry
            print(fixture, description, entry, flush=True)
        del main_llm, variants
    if not args.dumps_only:
        write_json(os.path.join(args.out, "summary.json"), summary)
    else:
        write_json(os.path.join(args.out, "dumps.json"), summary)


if __name__ == "__main__":
    main()
