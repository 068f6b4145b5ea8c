import Foundation
import Formats
import Tensors
import Tokenization
import Transformer
import Loader
import Decoding

/// One speculative method as Spec-Bench runs it: a name and a function that generates.
struct SpecBenchMethod {
    let name: String
    let run: (any CausalLanguageModel, [Int], StoppingCriteria) throws -> Generation
}

/// The methods `bench --spec-bench` can run, by name.
func specBenchMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let draftLayers = try args.int("draft-layers", default: max(1, model.shape.layerCount / 3), range: 1...model.shape.layerCount)!
    let assistant = try args.int("num-assistant-tokens", default: 4, range: 1...64)!
    let lookupTokens = try args.int("prompt-lookup-num-tokens", default: 10, range: 1...64)!
    let ngram = try args.int("max-matching-ngram-size", default: 2, range: 1...16)!
    let draft = try model.truncated(toLayers: draftLayers)
    var all: [SpecBenchMethod] = [
        SpecBenchMethod(name: "greedy") { m, p, s in try GreedyDecoding.generate(model: m, prompt: p, stopping: s, traceTopK: 0) },
        SpecBenchMethod(name: "prompt-lookup") { m, p, s in
            var d = PromptLookupDrafter(numTokens: lookupTokens, maxMatchingNgramSize: ngram, endOfSequenceIDs: s.endOfSequenceIDs)
            return try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &d, maxDraftTokens: lookupTokens, stopping: s, traceTopK: 0)
        },
        SpecBenchMethod(name: "speculative") { m, p, s in
            var d = DraftModelDrafter(model: draft, numTokens: assistant)
            return try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &d, maxDraftTokens: assistant, stopping: s, traceTopK: 0)
        },
    ]
    all.append(contentsOf: try extraSpecBenchMethods(args, model: model))
    guard let list = args.string("methods") else { return all }
    var chosen: [SpecBenchMethod] = []
    for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        // A base name also selects its variants (`token-recycling` → `token-recycling@4`, …).
        let matching = all.filter { $0.name == name || $0.name.hasPrefix(name + "@") }
        guard !matching.isEmpty else {
            throw CLIError("unknown method '\(name)' in --methods; available: \(all.map(\.name).joined(separator: ", "))")
        }
        chosen.append(contentsOf: matching)
    }
    if chosen.first?.name != "greedy" { chosen.insert(all[0], at: 0) }  // the baseline always runs
    return chosen
}

struct SpecBenchQuestion {
    let id: Int
    let category: String
    let firstTurn: String
}

func readSpecBenchQuestions(_ path: String) throws -> [SpecBenchQuestion] {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw CLIError("cannot read --questions \(path)", usage: false)
    }
    var questions: [SpecBenchQuestion] = []
    for (n, line) in text.split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let category = obj["category"] as? String, let turns = obj["turns"] as? [String], let first = turns.first else {
            throw CLIError("\(path) line \(n + 1): expected {\"question_id\", \"category\", \"turns\": [...]}", usage: false)
        }
        questions.append(SpecBenchQuestion(id: obj["question_id"] as? Int ?? n, category: category, firstTurn: first))
    }
    return questions
}

/// `touchstone bench --spec-bench --questions FILE`: every method on the first turn of each
/// selected question (SmolLM2 chat template, greedy), MAT and tokens/s per category, speedup
/// over greedy measured in the same run, and token identity with greedy checked for every run.
func benchSpecBench(_ args: Arguments) throws {
    guard let path = args.string("questions") else {
        throw CLIError("--spec-bench needs --questions FILE (Spec-Bench question.jsonl)")
    }
    // Defaults: Spec-Bench's protocol (1,024 new tokens), one question per category.
    let perCategory = try args.int("per-category", default: 1, range: 1...10_000)!
    let skip = try args.int("skip-per-category", default: 0, range: 0...10_000)!
    let maxNew = try args.int("max-new-tokens", default: 1024, range: 1...4096)!
    let loaded = try loadModel(args)
    let tokenizer = try requireTokenizer(loaded)
    let methods = try specBenchMethods(args, model: loaded.model)
    var questions = try readSpecBenchQuestions(path)
    var categories: [String] = []
    for q in questions where !categories.contains(q.category) { categories.append(q.category) }
    if let only = args.string("categories") {
        let wanted = only.split(separator: ",").map(String.init)
        categories = categories.filter { wanted.contains($0) }
    }
    questions = categories.flatMap { c in questions.filter { $0.category == c }.dropFirst(skip).prefix(perCategory) }
    let stopping = StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: loaded.endOfSequenceIDs)

    struct Totals { var tokens = 0; var seconds = 0.0; var decodeSeconds = 0.0; var steps = 0; var stepTokens = 0; var mismatches = 0 }
    var totals: [String: [String: Totals]] = [:]  // category → method → totals
    let runCount = questions.count * methods.count
    var done = 0
    let started = monotonicSeconds()
    for q in questions {
        let prompt = tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: q.firstTurn)], addGenerationPrompt: true))
        var reference: [Int]? = nil
        for method in methods {
            let t0 = monotonicSeconds()
            let g = try method.run(loaded.model, prompt, stopping)
            let seconds = monotonicSeconds() - t0
            if reference == nil { reference = g.outputIDs }
            var t = totals[q.category, default: [:]][method.name, default: Totals()]
            t.tokens += g.outputIDs.count
            t.seconds += seconds
            t.decodeSeconds += g.statistics.decodeSeconds
            if g.statistics.verificationSteps > 0 {
                t.steps += g.statistics.verificationSteps
                t.stepTokens += g.statistics.tokensFromVerification
            } else {
                t.steps += max(0, g.outputIDs.count - 1)
                t.stepTokens += max(0, g.outputIDs.count - 1)
            }
            if g.outputIDs != reference! {
                t.mismatches += 1
                printError("\nMISMATCH: \(method.name) differs from greedy on question \(q.id)")
            }
            totals[q.category, default: [:]][method.name] = t
            done += 1
            let elapsed = monotonicSeconds() - started
            FileHandle.standardError.write(String(format: "\r[%d/%d] %@ q%d %@: %d tokens, %.1f tok/s — %.0f s elapsed   ",
                                                  done, runCount, q.category, q.id, method.name, g.outputIDs.count,
                                                  Double(g.outputIDs.count) / max(seconds, 1e-9), elapsed).data(using: .utf8)!)
        }
    }
    FileHandle.standardError.write("\n".data(using: .utf8)!)

    /// MAT; tokens/s and speedup over wall time (prefill included, as Spec-Bench times a
    /// generation); and the same over decoding time only (prefill excluded; identical work for
    /// every method).
    func row(_ t: Totals, baseline: Totals) -> (mat: Double, tps: Double, speedup: Double, decodeTPS: Double, decodeSpeedup: Double) {
        let tps = t.seconds > 0 ? Double(t.tokens) / t.seconds : 0
        let base = baseline.seconds > 0 ? Double(baseline.tokens) / baseline.seconds : 0
        let dtps = t.decodeSeconds > 0 ? Double(t.tokens) / t.decodeSeconds : 0
        let dbase = baseline.decodeSeconds > 0 ? Double(baseline.tokens) / baseline.decodeSeconds : 0
        return (t.steps > 0 ? Double(t.stepTokens) / Double(t.steps) : 0, tps, base > 0 ? tps / base : 0, dtps, dbase > 0 ? dtps / dbase : 0)
    }
    var overall: [String: Totals] = [:]
    for c in categories { for (m, t) in totals[c] ?? [:] {
        var o = overall[m, default: Totals()]
        o.tokens += t.tokens; o.seconds += t.seconds; o.decodeSeconds += t.decodeSeconds; o.steps += t.steps; o.stepTokens += t.stepTokens; o.mismatches += t.mismatches
        overall[m] = o
    } }
    if args.has("json") {
        var cats: [(String, JSONValue)] = []
        for c in categories + ["overall"] {
            let table = c == "overall" ? overall : (totals[c] ?? [:])
            guard let base = table["greedy"] else { continue }
            cats.append((c, .object(methods.compactMap { m in
                guard let t = table[m.name] else { return nil }
                let r = row(t, baseline: base)
                return (m.name, .object([("mat", .double(r.mat)), ("tokens_per_second", .double(r.tps)), ("speedup", .double(r.speedup)),
                                         ("decode_tokens_per_second", .double(r.decodeTPS)), ("decode_speedup", .double(r.decodeSpeedup)),
                                         ("tokens", .int(t.tokens)), ("identical_to_greedy", .bool(t.mismatches == 0))]))
            })))
        }
        printJSON(.object([("questions", .int(questions.count)), ("max_new_tokens", .int(maxNew)),
                           ("threads", .int(ParallelFor.shared.threadCount)), ("categories", .object(cats))]))
        return
    }
    print("Spec-Bench: \(questions.count) questions (first turn, ChatML, greedy), up to \(maxNew) new tokens, \(ParallelFor.shared.threadCount) threads")
    let nameWidth = max(16, methods.map(\.name.count).max() ?? 0)
    for c in categories + ["overall"] {
        let table = c == "overall" ? overall : (totals[c] ?? [:])
        guard let base = table["greedy"] else { continue }
        print("\n\(c)")
        print("  " + "method".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "    MAT   tokens/s  speedup   decode tok/s  decode speedup  identical")
        for m in methods {
            guard let t = table[m.name] else { continue }
            let r = row(t, baseline: base)
            let name = m.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            print("  " + name + String(format: " %6.2f  %9.1f  %6.2f×  %12.1f  %13.2f×  ", r.mat, r.tps, r.speedup, r.decodeTPS, r.decodeSpeedup)
                  + (t.mismatches == 0 ? "yes" : "NO (\(t.mismatches))"))
        }
    }
}
