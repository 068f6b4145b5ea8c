#!/usr/bin/env python3
"""Same-machine decode speed of llama.cpp on SmolLM2, for comparison with `touchstone bench`.

Needs `pip install llama-cpp-python` (builds llama.cpp from the PyPI source distribution; a
development tool only). Converts the Q4_1 GGUF to an all-Float32 GGUF with llama.cpp's own
quantize API, then times 128 greedy single-token evaluations after a 5-token prompt, best of 3,
at 1 and 2 threads. The Python loop adds a little per-token overhead, so these rates slightly
understate llama.cpp.
"""
import sys, time, ctypes
import numpy as np
import llama_cpp
from llama_cpp import Llama
import os
src = os.path.join(os.environ.get('TOUCHSTONE_CACHE', os.path.expanduser('~/.cache/touchstone')), 'SmolLM2-135M-Instruct.Q4_1.gguf')
f32 = '/tmp/smollm2-f32.gguf'
if not os.path.exists(f32):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = 0  # LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(src.encode(), f32.encode(), ctypes.byref(params))
    print('quantize rc', rc, file=sys.stderr)
def run(path, threads, n=128):
    llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=512, verbose=False, logits_all=True)
    prompt = [504, 3575, 282, 4649, 314]
    best = 0
    for rep in range(3):
        llm.reset(); llm.eval(prompt)
        out = []
        t = time.perf_counter()
        for i in range(n):
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(tok)
            llm.eval([tok])
        rate = n / (time.perf_counter() - t)
        best = max(best, rate)
    return best, out[:12]
for path, name in [(src, 'Q4_1'), (f32, 'F32')]:
    for th in (1, 2):
        rate, out = run(path, th)
        print(f'llama.cpp {name} threads={th}: {rate:.1f} tokens/s (best of 3, 128 tokens) first ids {out}')
