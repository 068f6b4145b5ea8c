"""What the peer scripts share: the default model path, a file's SHA-256, and loading the model in
Hugging Face transformers.

Imported by Scripts/peer_*.py (run them from anywhere; they put this directory on sys.path as
Python does for the script's own directory).
"""
import hashlib, os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(os.environ.get("TOUCHSTONE_CACHE", os.path.expanduser("~/.cache/touchstone")),
                             "SmolLM2-135M-Instruct.Q4_1.gguf")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_peer(path, threads):
    """The GGUF at `path` as a Float32 transformers model in eval mode, with its tokenizer, on
    `threads` PyTorch threads. Returns (tokenizer, model, file name, SHA-256 of the file)."""
    # Imported here so that scripts needing only `sha256` or the paths (the tokenizer fixtures)
    # do not load PyTorch.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    directory, name = os.path.split(os.path.abspath(path))
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32)
    model.eval()
    return tok, model, name, sha256(path)
