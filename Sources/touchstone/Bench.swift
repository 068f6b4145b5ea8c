import Foundation
import Formats
import Tensors
import Tokenization
import Transformer
import Loader
import Decoding

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    if s.isEmpty { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Read bandwidth of this machine now: the best of several parallel sweeps summing a 512 MiB
/// buffer (larger than any cache), in bytes per second.
func measureReadBandwidth(pool: ParallelFor) -> Double {
    let count = 128 << 20  // floats
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    pool.run(count: pool.threadCount) { lower, upper in
        for part in lower..<upper {
            let begin = part * count / pool.threadCount, end = (part + 1) * count / pool.threadCount
            (buffer + begin).initialize(repeating: 1, count: end - begin)
        }
    }
    var best = 0.0
    var sink: Float = 0
    for _ in 0..<5 {
        var partial = [Float](repeating: 0, count: pool.threadCount)
        let start = monotonicSeconds()
        partial.withUnsafeMutableBufferPointer { out in
            pool.run(count: pool.threadCount) { lower, upper in
                for part in lower..<upper {
                    let begin = part * count / pool.threadCount, end = (part + 1) * count / pool.threadCount
                    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                    var i = begin
                    let raw = UnsafeRawPointer(buffer)
                    while i + 64 <= end {
                        a0 = a0 + raw.load(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                        a1 = a1 + raw.load(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                        a2 = a2 + raw.load(fromByteOffset: i * 4 + 128, as: SIMD16<Float>.self)
                        a3 = a3 + raw.load(fromByteOffset: i * 4 + 192, as: SIMD16<Float>.self)
                        i += 64
                    }
                    out[part] = (a0 + a1 + a2 + a3).sum()
                }
            }
        }
        let seconds = monotonicSeconds() - start
        sink += partial.reduce(0, +)
        best = max(best, Double(count * 4) / seconds)
    }
    if sink == -1 { print("") }  // keep the sum alive
    return best
}

struct DecodeMeasurement {
    var prefillTokensPerSecond: Double
    var decodeTokensPerSecond: Double
}

/// Prefill of `promptLength` tokens, then `decodeTokens` single-token steps; medians over runs.
func measureModel(_ model: any CausalLanguageModel, prompt: [Int], decodeTokens: Int, runs: Int, pool: ParallelFor) throws -> DecodeMeasurement {
    var prefill: [Double] = []
    var decode: [Double] = []
    for _ in 0..<runs {
        let cache = KVCache(shape: model.shape, initialCapacity: prompt.count + decodeTokens + 1)
        var start = monotonicSeconds()
        var result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
        prefill.append(Double(prompt.count) / (monotonicSeconds() - start))
        start = monotonicSeconds()
        for _ in 0..<decodeTokens {
            let next = result.logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
            result = try model.forward(tokens: [next], cache: cache, logitRows: .last, pool: pool)
        }
        decode.append(Double(decodeTokens) / (monotonicSeconds() - start))
    }
    return DecodeMeasurement(prefillTokensPerSecond: median(prefill), decodeTokensPerSecond: median(decode))
}

/// Seconds for one forward pass of `batch` new tokens (all rows with logits, as in speculative
/// verification) after a cache of `context` tokens; median over runs.
func measureBatch(_ model: any CausalLanguageModel, context: [Int], batch: Int, runs: Int, pool: ParallelFor) throws -> Double {
    let cache = KVCache(shape: model.shape, initialCapacity: context.count + batch)
    _ = try model.forward(tokens: context, cache: cache, logitRows: .none, pool: pool)
    let tokens = (0..<batch).map { (context[$0 % context.count] + 7 * $0) % model.shape.vocabularySize }
    var times: [Double] = []
    for _ in 0..<runs {
        let start = monotonicSeconds()
        _ = try model.forward(tokens: tokens, cache: cache, logitRows: .all, pool: pool)
        times.append(monotonicSeconds() - start)
        cache.rollback(to: context.count)
    }
    return median(times)
}

func benchCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "bench", raw,
                             valueOptions: commonValueOptions.union(["runs", "prompt-length", "decode-tokens", "text-file", "questions",
                                                                     "per-category", "skip-per-category", "max-new-tokens", "methods", "categories", "draft-layers",
                                                                     "num-assistant-tokens", "prompt-lookup-num-tokens", "max-matching-ngram-size",
                                                                     "tree-nodes", "tree-shape", "tree-stats", "window-size", "ngram-size", "guess-set-size", "sizes", "draft-threshold"]),
                             flagOptions: ["json", "tokenizer", "no-naive", "spec-bench", "batch-sweep"])
    try configureThreads(args)
    if args.has("tokenizer") { return try benchTokenizer(args) }
    if args.has("batch-sweep") { return try benchBatchSweep(args) }
    if args.has("spec-bench") { return try benchSpecBench(args) }
    let runs = try args.int("runs", default: 5, range: 1...100)!
    let promptLength = try args.int("prompt-length", default: 64, range: 1...4096)!
    let decodeTokens = try args.int("decode-tokens", default: 32, range: 1...4096)!
    let loaded = try loadModel(args)
    let model = loaded.model
    let vocab = model.shape.vocabularySize
    // A fixed, deterministic prompt of ordinary token ids.
    let prompt = (0..<promptLength).map { (1000 + 37 * $0) % vocab }
    let threads = ParallelFor.shared.threadCount
    let log = { (s: String) in printError(s) }

    log("measuring read bandwidth…")
    let bandwidth = measureReadBandwidth(pool: .shared)
    let weightBytes = model.weightBytesPerToken
    let bound = bandwidth / Double(weightBytes)

    log("measuring \(threads)-thread prefill (\(promptLength) tokens) and decode (\(decodeTokens) tokens), \(runs) runs…")
    _ = try measureModel(model, prompt: Array(prompt.prefix(8)), decodeTokens: 2, runs: 1, pool: .shared)  // warm-up
    let fast = try measureModel(model, prompt: prompt, decodeTokens: decodeTokens, runs: runs, pool: .shared)
    var single: DecodeMeasurement? = nil
    if threads > 1 {
        log("measuring 1-thread decode…")
        let pool1 = ParallelFor(threadCount: 1)
        single = try measureModel(model, prompt: Array(prompt.prefix(16)), decodeTokens: decodeTokens, runs: max(1, runs / 2), pool: pool1)
    }
    log("measuring an 8-token verification batch against a 1-token step…")
    let oneToken = try measureBatch(model, context: prompt, batch: 1, runs: runs * 2, pool: .shared)
    let eightTokens = try measureBatch(model, context: prompt, batch: 8, runs: runs * 2, pool: .shared)
    var naiveRate: Double? = nil
    if !args.has("no-naive") {
        log("measuring the naive scalar path (one thread, 2 decode steps)…")
        model.useNaiveKernels = true
        defer { model.useNaiveKernels = false }
        let naive = try measureModel(model, prompt: Array(prompt.prefix(2)), decodeTokens: 2, runs: 1, pool: ParallelFor(threadCount: 1))
        naiveRate = naive.decodeTokensPerSecond
    }

    let fraction = fast.decodeTokensPerSecond / bound
    if args.has("json") {
        var stats: [(String, JSONValue)] = [
            ("model", .string(model.origin)),
            ("threads", .int(threads)),
            ("prompt_length", .int(promptLength)),
            ("decode_tokens", .int(decodeTokens)),
            ("runs", .int(runs)),
            ("prefill_tokens_per_second", .double(fast.prefillTokensPerSecond)),
            ("decode_tokens_per_second", .double(fast.decodeTokensPerSecond)),
            ("weight_bytes_per_token", .int(weightBytes)),
            ("read_bandwidth_gb_per_second", .double(bandwidth / 1e9)),
            ("bandwidth_bound_tokens_per_second", .double(bound)),
            ("decode_fraction_of_bandwidth_bound", .double(fraction)),
            ("one_token_forward_seconds", .double(oneToken)),
            ("eight_token_batch_forward_seconds", .double(eightTokens)),
            ("eight_token_batch_cost_ratio", .double(eightTokens / oneToken)),
        ]
        if let single { stats.append(("decode_tokens_per_second_1_thread", .double(single.decodeTokensPerSecond))) }
        if let naiveRate {
            stats.append(("naive_decode_tokens_per_second", .double(naiveRate)))
            stats.append(("speedup_over_naive", .double(fast.decodeTokensPerSecond / naiveRate)))
        }
        printJSON(.object(stats))
    } else {
        print("model                      \(model.origin)")
        print("threads                    \(threads)")
        print(String(format: "prefill (%4d tokens)       %8.1f tokens/s", promptLength, fast.prefillTokensPerSecond))
        print(String(format: "decode                     %8.1f tokens/s", fast.decodeTokensPerSecond))
        if let single { print(String(format: "decode, 1 thread           %8.1f tokens/s", single.decodeTokensPerSecond)) }
        print(String(format: "read bandwidth             %8.1f GB/s (measured now)", bandwidth / 1e9))
        print(String(format: "weights read per token     %8.1f MB", Double(weightBytes) / 1e6))
        print(String(format: "bandwidth bound            %8.1f tokens/s  → decode at %.2f of it", bound, fraction))
        print(String(format: "8-token batch / 1 token    %8.2f×  (%.2f ms vs %.2f ms)", eightTokens / oneToken, eightTokens * 1e3, oneToken * 1e3))
        if let naiveRate {
            print(String(format: "naive scalar path          %8.2f tokens/s  → fast path %.1f× faster", naiveRate, fast.decodeTokensPerSecond / naiveRate))
        }
    }
}

/// Cost of one verification pass of T tokens (all rows with logits) relative to a one-token
/// step, for the T a draft tree may have: the curve that decides which tree size pays on this
/// machine (speedup ≈ MAT / cost ratio).
func benchBatchSweep(_ args: Arguments) throws {
    let runs = try args.int("runs", default: 5, range: 1...100)!
    let promptLength = try args.int("prompt-length", default: 128, range: 1...4096)!
    let model = try loadModel(args).model
    let vocab = model.shape.vocabularySize
    let prompt = (0..<promptLength).map { (1000 + 37 * $0) % vocab }
    var sizes = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 81]
    if let list = args.string("sizes") {
        let parsed = Arguments.commaSeparated(list).map { Int($0) }
        guard parsed.allSatisfy({ $0 != nil && (1...512).contains($0!) }) else {
            throw CLIError("--sizes takes a comma-separated list of token counts in 1...512, e.g. 1,2,3,4; got '\(list)'")
        }
        sizes = [1] + parsed.map { $0! }.filter { $0 != 1 }
    }
    printError("measuring verification passes of \(sizes.map(String.init).joined(separator: ", ")) tokens after \(promptLength) cached, \(runs) runs each…")
    _ = try measureBatch(model, context: prompt, batch: 1, runs: 2, pool: .shared)  // warm-up
    let one = try measureBatch(model, context: prompt, batch: 1, runs: runs * 2, pool: .shared)
    var rows: [(Int, Double)] = []
    for t in sizes {
        let seconds = t == 1 ? one : try measureBatch(model, context: prompt, batch: t, runs: runs, pool: .shared)
        rows.append((t, seconds))
        printError("  \(t) tokens: \(String(format: "%.2f", seconds * 1e3)) ms")
    }
    if args.has("json") {
        printJSON(.object([("threads", .int(ParallelFor.shared.threadCount)), ("context", .int(promptLength)),
                           ("passes", .array(rows.map { .object([("tokens", .int($0.0)), ("seconds", .double($0.1)),
                                                                 ("cost_ratio", .double($0.1 / one))]) }))]))
    } else {
        print("tokens   ms/pass   cost / 1-token step   ms per extra token")
        for (t, s) in rows {
            let extra = t > 1 ? String(format: "%8.3f", (s - one) * 1e3 / Double(t - 1)) : "       -"
            print(String(format: "%6d  %8.2f  %20.2f×  ", t, s * 1e3, s / one) + extra)
        }
    }
}

func benchTokenizer(_ args: Arguments) throws {
    let loaded = try loadModel(args)
    let tokenizer = try requireTokenizer(loaded)
    var texts: [String]
    if let file = args.string("text-file") {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read --text-file \(file)", usage: false) }
        if let array = try? JSONSerialization.jsonObject(with: data) as? [String] {
            texts = array
        } else if let text = String(data: data, encoding: .utf8) {
            texts = text.split(separator: "\n\n", omittingEmptySubsequences: false).map(String.init)
        } else {
            throw CLIError("\(file) is neither a JSON array of strings nor UTF-8 text", usage: false)
        }
    } else {
        texts = syntheticCorpus(bytes: 1 << 20)
    }
    let result = tokenizer.measureEncodeThroughput(texts: texts, warmPasses: 3)
    if args.has("json") {
        printJSON(.object([("bytes", .int(result.bytes)), ("tokens", .int(result.tokens)),
                           ("cold_mb_per_second", .double(result.coldMegabytesPerSecond)),
                           ("warm_mb_per_second", .double(result.warmMegabytesPerSecond))]))
    } else {
        print(String(format: "encoded %d bytes → %d tokens: %.1f MB/s first pass, %.1f MB/s best later pass (1 thread)",
                     result.bytes, result.tokens, result.coldMegabytesPerSecond, result.warmMegabytesPerSecond))
    }
}

/// A deterministic mixed prose/code corpus of about `bytes` bytes, used when no file is given.
func syntheticCorpus(bytes: Int) -> [String] {
    var rng = Xoshiro256StarStar(seed: 2024)
    let words = "the of and to in is that for it as was with be by on not this are or from at which have an they you were one all we their has been would when who will more if out so what up about into than them can only other new some could time these two may then do first any like over even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might great old year off come since against go came right used take three".split(separator: " ")
    let code = ["func", "let", "var", "return", "if", "else", "for", "while", "{", "}", "(", ")", "=", "==", "+=", "->", "[i]", "self.", "0x1F", "42", "3.14159", "// comment", "\"string\"", "\n    ", "\n\t", "import", "struct", "class"]
    let other = ["Über", "déjà", "naïve", "Москва", "東京", "서울", "مرحبا", "😀", "👩‍💻", "1234567", "2026-11-27", "e.g.", "—", "’s", "I'll", "DON'T"]
    var docs: [String] = []
    var total = 0
    while total < bytes {
        var doc = ""
        for _ in 0..<400 {
            let r = rng.next() % 100
            if r < 70 { doc += String(words[Int(rng.next() % UInt64(words.count))]) }
            else if r < 90 { doc += code[Int(rng.next() % UInt64(code.count))] }
            else { doc += other[Int(rng.next() % UInt64(other.count))] }
            doc += rng.next() % 10 == 0 ? ". " : " "
        }
        total += doc.utf8.count
        docs.append(doc)
    }
    return docs
}
