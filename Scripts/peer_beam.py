#!/usr/bin/env python3
"""Peer fixtures for beam search and diverse (group) beam search.

Runs Hugging Face transformers 4.52.x `generate` (PyTorch, Float32) on SmolLM2-135M-Instruct
(the project's Q4_1 GGUF, dequantized by transformers) and writes Fixtures/peer/beam/beam.json:
for each case the prompt ids, every generation parameter, the returned sequences (generated
part only, cut after the first EOS — transformers pads shorter rows) and `sequences_scores`.

    python3 Scripts/peer_beam.py [--model ~/.cache/touchstone/SmolLM2-135M-Instruct.Q4_1.gguf]

Development tool only: nothing in `swift build` / `swift test` runs it.
"""
import argparse
import json
import os
import sys

import torch
import transformers

from peer_common import DEFAULT_MODEL, load_peer

MAX_NEW_TOKENS = 24

TEXT_PROMPTS = [
    # ChatML prompts: the model tends to answer briefly and end with <|im_end|> (id 2), which
    # exercises EOS handling and the early-stopping variants.
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n",
    # Plain continuations: usually run to max_new_tokens.
    "The three primary colors are",
    "def fibonacci(n):\n",
]

# (name, kwargs) — every case uses do_sample=False and max_new_tokens=24.
CASES = [
    ("beam_es_false", dict(num_beams=4, early_stopping=False, length_penalty=1.0, num_return_sequences=4)),
    ("beam_es_true", dict(num_beams=4, early_stopping=True, length_penalty=1.0, num_return_sequences=4)),
    ("beam_es_never", dict(num_beams=4, early_stopping="never", length_penalty=1.0, num_return_sequences=4)),
    ("beam_lp_0.5_nrs2", dict(num_beams=4, early_stopping=False, length_penalty=0.5, num_return_sequences=2)),
    ("group_es_false", dict(num_beams=4, num_beam_groups=2, diversity_penalty=0.5, early_stopping=False,
                            length_penalty=1.0, num_return_sequences=4)),
    ("group_es_true", dict(num_beams=4, num_beam_groups=2, diversity_penalty=0.5, early_stopping=True,
                           length_penalty=1.0, num_return_sequences=2)),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Fixtures", "peer", "beam", "beam.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer, model, name, digest = load_peer(args.model, threads=2)
    gen = model.generation_config
    eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    pad = gen.pad_token_id
    print(f"transformers {transformers.__version__}, eos {eos}, pad {pad}", file=sys.stderr)

    cases = []
    for text in TEXT_PROMPTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert not any(i in eos for i in ids[-1:]), "prompt ends with EOS"
        for case_name, kwargs in CASES:
            input_ids = torch.tensor([ids])
            with torch.no_grad():
                out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                     max_new_tokens=MAX_NEW_TOKENS, return_dict_in_generate=True, output_scores=True,
                                     **kwargs)
            sequences = []
            for row in out.sequences.tolist():
                generated = row[len(ids):]
                cut = next((i + 1 for i, t in enumerate(generated) if t in eos), None)
                if cut is not None:
                    generated = generated[:cut]
                else:
                    assert len(generated) == MAX_NEW_TOKENS, (case_name, generated)
                sequences.append(generated)
            scores = [float(s) for s in out.sequences_scores.tolist()]
            case = dict(name=case_name, prompt_ids=ids, max_new_tokens=MAX_NEW_TOKENS,
                        num_beams=kwargs["num_beams"], num_beam_groups=kwargs.get("num_beam_groups", 1),
                        diversity_penalty=kwargs.get("diversity_penalty", 0.0),
                        early_stopping=kwargs["early_stopping"], length_penalty=kwargs["length_penalty"],
                        num_return_sequences=kwargs["num_return_sequences"],
                        sequences=sequences, sequences_scores=scores)
            cases.append(case)
            print(case_name, repr(text[:30]), [len(s) for s in sequences], ["%.5f" % s for s in scores], file=sys.stderr)

    document = dict(
        schema=1,
        description="Hugging Face transformers beam / group beam search on SmolLM2-135M-Instruct (Float32); "
                    "sequences are the generated ids only, cut after the first EOS.",
        transformers_version=transformers.__version__, torch_version=torch.__version__,
        model=dict(file=name, sha256=digest),
        eos_token_ids=eos, pad_token_id=pad, cases=cases)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
