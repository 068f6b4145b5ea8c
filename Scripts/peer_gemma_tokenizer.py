"""Writes Fixtures/tokenizer/gemma3-peer.json: Hugging Face's tokenizer for the Gemma 3 270M GGUF
(`AutoTokenizer.from_pretrained(dir, gguf_file=...)`, a GemmaTokenizer) on a corpus of hand-written
texts (code, multilingual, emoji, whitespace runs, chat markup) and 2,000 seeded fuzz strings.

Ids are `tok(text, add_special_tokens=False)["input_ids"]` (special-token text is parsed, as the
tokenizer does by default); a few texts are also recorded with add_special_tokens=True (BOS).

Usage: python3 Scripts/peer_gemma_tokenizer.py [path/to/gemma-3-270m-q4_k_m.gguf]
"""
import json, os, random, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import ROOT, sha256

CACHE = os.environ.get("TOUCHSTONE_CACHE", os.path.expanduser("~/.cache/touchstone"))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(CACHE, "gemma-3-270m-q4_k_m.gguf")

CORPUS = [
    "The capital of France is", "Hello world", " Hello world", "Hello  world", "hello\tworld", "",
    " ", "  ", "   ", "\n", "\n\n", "\n\n\n", " \n", "\n ", "\t", "\t\t\n", "a\r\nb", "    indented\n        more",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "<html><body><table><tr><td>x</td></tr></table></body></html>",
    "const f = async (x) => { await g(x?.y ?? 0); };",
    "fn main() { println!(\"{}\", 1_000_000u64); }",
    "Déjà vu: naïve café, coöperate, façade.", "Äpfel und Öl für Straße", "¿Dónde está la biblioteca?",
    "Привет, мир! Как дела?", "Γειά σου Κόσμε", "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया",
    "こんにちは世界", "你好，世界！今天天气很好。", "안녕하세요 세계", "ສະບາຍດີ", "ជំរាបសួរ", "Cửa Việt",
    "Xin chào thế giới", "Tiếng Việt có dấu: ặ ề ỗ ữ", "ʻOkina and kahakō: ʻāina",
    "😀😃😄😁", "👩‍💻 coder", "😶‍🌫️", "🇫🇷🇯🇵", "❤️ love", "1️⃣ 2️⃣", "👍🏽👍🏿",
    "e\u0301 vs \u00e9", "A\u030A", "\u200b zero width", "\ufeffBOM", "\u00a0nbsp\u00a0",
    "3", "33", "333", "3333", "3.14159", "1,000,000", "2024-12-06T10:00:00Z", "ied 4 ½ months", "3..3",
    "I'm you're they've we'll it's", "'RE 'Ve a'lL", "(parenthesized) [bracketed] {braced}",
    "!!!???...", "—–-", "a  b   c    d", "trailing spaces   ", "   leading spaces",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<bos>text<eos>", "<unk><pad><mask>",
    "[multimodal] image", "<start_of_turn", "end_of_turn>", "<unused0><unused1>",
    "x" * 300, " " * 40, "\n" * 35, "ab" * 100, "あ" * 50,
    "The quick brown fox jumps over the lazy dog. " * 5,
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
    "ℌ𝔢𝔩𝔩𝔬 𝕎𝕠𝕣𝕝𝕕", "\U0001F600\U0001F64F\U0001F680", "control \x01\x02\x7f chars", "\U000E0001 tag",
]

PIECES = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
          [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", ".", ",", "'", "\"", "!", "?", "-", "_", "(", ")", "{", "}",
           "<", ">", "/", "\\", "#", "@", "$", "%", "&", "*", "+", "=", "é", "ü", "ñ", "ß", "ø", "ą", "ő", "ж", "ы",
           "λ", "ω", "ה", "ع", "ह", "ि", "中", "文", "日", "本", "語", "한", "국", "ก", "ู", "😀", "👍", "🏽", "\u200d",
           "\ufe0f", "\u0301", "\u00a0", "\u3000", "½", "²", "the", "ing", " of", " and", "tion", "<start_of_turn>",
           "<end_of_turn>", "<bos>", "<eos>", "\U0010FFFD", "\U0001D11E", "\x00", "\x1b"])


def fuzz(rng, count):
    texts = []
    for _ in range(count):
        n = rng.randint(1, 24)
        texts.append("".join(rng.choice(PIECES) for _ in range(n)))
    return texts


def main():
    from transformers import AutoTokenizer
    directory, name = os.path.split(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    rng = random.Random(20261206)
    texts = CORPUS + fuzz(rng, 2000)
    entries = [{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"]} for t in texts]
    with_bos = [{"text": t, "ids": tok(t)["input_ids"]} for t in CORPUS[:8]]
    doc = {
        "description": "Hugging Face transformers GemmaTokenizer (gguf_file=) on the Gemma 3 270M GGUF; "
                       "ids without special tokens; with_bos: add_special_tokens=True. Made by Scripts/peer_gemma_tokenizer.py.",
        "transformers": __import__("transformers").__version__,
        "model_file": name, "model_sha256": sha256(path),
        "corpus_count": len(CORPUS), "fuzz_count": len(texts) - len(CORPUS),
        "entries": entries, "with_bos": with_bos,
    }
    out = os.path.join(ROOT, "Fixtures", "tokenizer", "gemma3-peer.json")
    # U+FEFF is written as an escape: Foundation's JSON reader drops a literal one at the start of
    # a string (it reads it as a byte-order mark), which would change the text under test.
    text = json.dumps(doc, ensure_ascii=False, indent=0).replace("\ufeff", "\\ufeff")
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote", out, len(entries), "entries")


if __name__ == "__main__":
    main()
