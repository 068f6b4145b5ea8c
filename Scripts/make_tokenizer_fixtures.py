#!/usr/bin/env python3
"""Writes the tokenizer agreement fixtures from the Hugging Face peer.

Peer: transformers' fast tokenizer built from the SmolLM2 GGUF
(`AutoTokenizer.from_pretrained(dir, gguf_file=name)`), i.e. Hugging Face `tokenizers`
with the pre-tokenizer transformers builds for a GGUF: `ByteLevel(add_prefix_space=False,
use_regex=True)` (plain GPT-2 split, digits NOT isolated), no normalizer.

Encode call: `tok(text, add_special_tokens=False)["input_ids"]` — the GGUF-built tokenizer's
post-processor would otherwise prepend `<|im_start|>` (id 1; transformers maps BOS that way).
`ids_special_as_text` uses `tok(text, add_special_tokens=False, split_special_tokens=True)`
(transformers then sets the backend's `encode_special_tokens`: special-token text is plain text). `decoded` is `tok.decode(ids, clean_up_tokenization_spaces=False)`.

Outputs (Fixtures/tokenizer/):
  corpus.json       the hand-assembled texts
  peer-corpus.json  peer ids for each corpus text
  peer-fuzz.json    ~2000 seeded random strings with peer ids
  peer-chat.json    chat conversations, the peer's apply_chat_template text and ids
  tiny{,-llama3,-qwen2}-tokenizer.json + peer-tiny{,-llama3,-qwen2}.json: small byte-level BPEs
                    trained here with the SmolLM, Llama-3 and Qwen2 (+NFC) pre-tokenizers, to test
                    the tokenizer.json loader and those split patterns; ids from `tokenizers`
                    on the corpus and the fuzz set.

Usage: python3 Scripts/make_tokenizer_fixtures.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import json
import os
import random
import sys

import tokenizers
import transformers
from transformers import AutoTokenizer

from peer_common import sha256

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fixtures", "tokenizer")
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "TOUCHSTONE_MODEL", os.path.expanduser("~/.cache/touchstone/SmolLM2-135M-Instruct.Q4_1.gguf"))


def corpus():
    long_word = "a" * 10000
    texts = [
        "",
        "Hello world",
        "Hello, world! How are you doing today?",
        "The quick brown fox jumps over the lazy dog.",
        # Contractions, including uppercase forms the GPT-2 pattern does not treat specially.
        "it's I'm you're we've they'll he'd don't can't",
        "IT'S I'M YOU'RE WE'VE THEY'LL HE'D DON'T 'S 'LL 'Re",
        "rock 'n' roll, ''s, '''ll, 'twas, l'amour, !'s",
        # European languages with accents.
        "Über die Brücke gehen wir morgen früh, ça va? Je m'appelle François, où est l'hôtel?",
        "Straße, Größe, Ærø, Øresund, naïve café résumé coöperate",
        "Ελληνικά: Καλημέρα κόσμε! Ο αριθμός είναι 42.",
        "Русский текст: Привет, мир! Съешь же ещё этих мягких французских булок.",
        # CJK.
        "中文：你好，世界！我们今天学习自然语言处理。",
        "日本語：こんにちは世界。カタカナとひらがな、漢字を混ぜます。",
        "한국어: 안녕하세요 세계! 자연어 처리를 공부합니다.",
        # RTL and Indic, Thai.
        "العربية: مرحبا بالعالم! هذا نص تجريبي ١٢٣٤٥.",
        "עברית: שלום עולם! זהו טקסט לבדיקה.",
        "हिन्दी: नमस्ते दुनिया! यह एक परीक्षण है। ०१२३४",
        "ภาษาไทย: สวัสดีชาวโลก นี่คือข้อความทดสอบ",
        # Emoji: ZWJ families, skin tones, flags, keycaps, variation selectors.
        "Emoji: 😀😃😄 👍🏽👋🏿 🇺🇸🇩🇪🇯🇵 1️⃣ #️⃣ ❤️ ☺︎",
        "Family: 👨‍👩‍👧‍👦 👩‍❤️‍💋‍👨 🏳️‍🌈 🧑🏻‍💻",
        "🤖🤖🤖 🚀 rocket 🚀rocket rocket🚀",
        # Combining marks, NFC vs NFD.
        "NFC: é ñ ü Å — NFD: e\u0301 n\u0303 u\u0308 A\u030a",
        "Zalgo: Z\u0351\u036b\u0343a\u0352l\u0367g\u0310o\u0364 t\u0311e\u0300x\u0306t",
        "Devanagari clusters: क्षत्रिय, and Hangul jamo: \u1100\u1161\u11a8",
        # Code.
        "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
        "#include <stdio.h>\nint main(void) {\n\tprintf(\"Hello, %s!\\n\", \"world\");\n\treturn 0;\n}\n",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
        "const add = (a, b) => a + b; // arrow function\nconsole.log(add(1, 2) === 3 ? 'ok' : \"fail\");",
        "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%smith%' ORDER BY id DESC;",
        "<html><body><div class=\"x\">&amp; &lt;tag&gt;</div></body></html>",
        "    indented with spaces\n\tindented with a tab\n\t\tdouble tab\n",
        # Numbers.
        "1 12 123 1234 12345 123456 1234567 12345678901234567890",
        "3.14159265358979 -2.5e-10 0x1F 0b1010 1,000,000 10^9 ½ ² ³ Ⅻ",
        "Phone: +1 (555) 123-4567, date 2024-01-15, time 13:45:07.123",
        # Whitespace.
        "  leading spaces",
        "trailing spaces   ",
        "multiple     spaces    between   words",
        "tabs\there\t\tand\t\t\tthere",
        "line one\nline two\r\nline three\rline four\n\n\nend",
        "\n\n\n",
        "   ",
        " ",
        "\t",
        "\r\n",
        "a\u00a0b\u2003c\u3000d\u2028e\u0085f\u000bg\u000ch",
        " \ta \t b\t \tc",
        "space before newline \nand  \n  after",
        # Special tokens and partial specials.
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|><|endoftext|>text<|endoftext|>",
        "<|im_sta",
        "<|im_start",
        "<|im_start|",
        "<<|im_start|>>",
        "x<|im_end|>y <|im_end|> z",
        "<repo_name>touchstone<file_sep>main.swift<filename>a.py<gh_stars>100",
        "<|IM_START|> <|im start|> < |im_start|>",
        # Punctuation runs and symbols.
        "!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}",
        "email@example.com https://example.com/path?query=1&b=2#frag",
        "© ® ™ € £ ¥ ¢ § ¶ † ‡ • … ‰ ′ ″ ‹ › « » ¿ ¡",
        "Math: ∀x∈ℝ, ∃y: x² + y² ≥ 0 ⇒ √(x²) = |x|; ∫₀¹ f(x) dx ≈ ∑ᵢ",
        # Mixed scripts within a word.
        "mixedЛатиница中文abc123def",
        "ABCdefGHI jklMNO",
        # Very long words.
        long_word,
        "x" * 3000 + " " + "ab" * 2000,
        "supercalifragilisticexpialidocious" * 50,
        "9" * 1000,
        "😀" * 500,
        "-" * 2000,
    ]
    return texts


def fuzz(seed=20240611, count=2000):
    rng = random.Random(seed)
    blocks = [
        (0x20, 0x7E), (0x20, 0x7E), (0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A),
        (0xA0, 0xFF), (0x100, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
        (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF),
        (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2150, 0x218F),
        (0x2200, 0x22FF), (0x3000, 0x303F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
        (0xFF00, 0xFFEF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF),
        (0x1F1E6, 0x1F1FF), (0x1F3FB, 0x1F3FF), (0x10000, 0x1007F), (0x1D400, 0x1D7FF),
    ]
    whitespace = [" ", " ", " ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028",
                  "\u0085", "\u000b", "\u000c", "\u1680", "\u200b", "\u180e", "\u202f", "\ufeff"]
    pieces = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im", "|>", "'s", "'S", "'ll", "'LL",
              "'re", "'ve", "'d", "'m", "'t", "\u200d", "\ufe0f", "'", "\"", "123", "  ", "\u0301"]
    texts = []
    for _ in range(count):
        length = rng.choice([0, 1, 2, 3, 5, 8, 13, 21, 34, 55])
        out = []
        for _ in range(length):
            r = rng.random()
            if r < 0.2:
                out.append(rng.choice(whitespace))
            elif r < 0.3:
                out.append(rng.choice(pieces))
            elif r < 0.4:
                # Any assigned-or-not code point except surrogates.
                while True:
                    cp = rng.randrange(0x110000)
                    if not (0xD800 <= cp <= 0xDFFF):
                        break
                out.append(chr(cp))
            else:
                lo, hi = rng.choice(blocks)
                out.append(chr(rng.randint(lo, hi)))
        texts.append("".join(out))
    return texts


def peer_entries(tok, texts):
    entries = []
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        ids_plain = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        decoded = tok.decode(ids, clean_up_tokenization_spaces=False)
        entries.append({"text": text, "ids": ids, "ids_special_as_text": ids_plain, "decoded": decoded})
    return entries


def header(tok, model_path):
    return {
        "schema": 1,
        "peer": "transformers AutoTokenizer.from_pretrained(gguf_file=) (Hugging Face tokenizers)",
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "model": os.path.basename(model_path),
        "model_sha256": sha256(model_path),
        "encode_call": "tok(text, add_special_tokens=False)['input_ids']",
        "special_as_text_call": "tok(text, add_special_tokens=False, split_special_tokens=True)['input_ids']",
        "decode_call": "tok.decode(ids, clean_up_tokenization_spaces=False)",
        "pre_tokenizer": json.loads(tok.backend_tokenizer.to_str())["pre_tokenizer"],
    }


def write(name, obj):
    # Compact, one list entry per line (readable diffs without indentation bloat).
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        if isinstance(obj, dict) and "entries" in obj:
            head = {k: v for k, v in obj.items() if k != "entries"}
            f.write(json.dumps(head, ensure_ascii=True)[:-1] + ',\n"entries": [\n')
            f.write(",\n".join(json.dumps(e, ensure_ascii=True, separators=(",", ":")) for e in obj["entries"]))
            f.write("\n]}\n")
        else:
            json.dump(obj, f, ensure_ascii=True, indent=1)
            f.write("\n")


LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")


def tiny_tokenizer(texts, family="smollm"):
    """A 600-token byte-level BPE trained on the corpus with a family's pre-tokenizer:
    smollm = Digits(individual)+ByteLevel; llama3 / qwen2 = Split(pattern)+ByteLevel(use_regex=False)
    (qwen2 also with an NFC normalizer)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers, decoders, Regex
    tk = Tokenizer(models.BPE())
    if family == "smollm":
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3 if family == "llama3" else QWEN2), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        if family == "qwen2":
            tk.normalizer = normalizers.NFC()
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator([t for t in texts if len(t) < 5000], trainer=trainer)
    tk.add_tokens(["<tool>"])  # a non-special added token
    return tk


def main():
    os.makedirs(OUT, exist_ok=True)
    directory, name = os.path.split(MODEL)
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    head = header(tok, MODEL)

    texts = corpus()
    write("corpus.json", texts)
    write("peer-corpus.json", dict(head, entries=peer_entries(tok, texts)))
    fz = fuzz()
    write("peer-fuzz.json", dict(head, seed=20240611, entries=peer_entries(tok, fz)))

    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
        [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi! How can I help?"},
         {"role": "user", "content": "Tell me a joke about\nnewlines  and spaces. 😀"}],
        [{"role": "assistant", "content": "I speak first."}],
    ]
    chats = []
    for messages in conversations:
        for gen in (True, False):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen)
            chats.append({"messages": messages, "add_generation_prompt": gen, "text": text, "ids": ids})
    write("peer-chat.json", dict(head, chat_template=tok.chat_template, conversations=chats))

    for family, suffix in [("smollm", ""), ("llama3", "-llama3"), ("qwen2", "-qwen2")]:
        tiny = tiny_tokenizer(texts, family)
        tiny.save(os.path.join(OUT, "tiny%s-tokenizer.json" % suffix))
        tiny_entries = [{"text": text, "ids": tiny.encode(text).ids} for text in texts + fz]
        write("peer-tiny%s.json" % suffix, {"schema": 1, "tokenizers": tokenizers.__version__, "family": family,
                                          "encode_call": "Tokenizer.from_file('tiny%s-tokenizer.json').encode(text).ids" % suffix,
                                          "entries": tiny_entries})
    print("wrote fixtures to", OUT)


if __name__ == "__main__":
    main()
