/// Gemma's instruction format (Gemma 2 and 3), by hand (no Jinja engine):
///
///     <start_of_turn>user\n{system}\n\n{content, trimmed}<end_of_turn>\n
///     <start_of_turn>model\n{content, trimmed}<end_of_turn>\n
///     …
///     <start_of_turn>model\n                      (the generation prompt)
///
/// Role `assistant` is written `model`; other roles as given. A leading system message is not a
/// turn of its own: its text and a blank line open the first user turn (llama.cpp's
/// `LLM_CHAT_TEMPLATE_GEMMA` and the Hub template of the instruction-tuned Gemma 3 models).
/// BOS is not part of the text: encode the result with `addSpecialTokens: true` (the Gemma GGUF
/// says `add_bos_token`). The `gemma-3-270m` GGUF Touchstone fetches is the *base* model and
/// carries no `tokenizer.chat_template`; the format is for instruction-tuned checkpoints and
/// for experiments on the base model. Stop on `<end_of_turn>` (106) as well as `<eos>` (1).
public enum GemmaChatTemplate {
    /// Renders a conversation (see the type's documentation).
    public static func apply(messages: [(role: String, content: String)], addGenerationPrompt: Bool) -> String {
        var text = ""
        var prefix = ""
        var turns = messages[...]
        if let first = turns.first, first.role == "system" {
            prefix = first.content + "\n\n"
            turns = turns.dropFirst()
        }
        for (index, message) in turns.enumerated() {
            let role = message.role == "assistant" ? "model" : message.role
            text += "<start_of_turn>" + role + "\n" + (index == 0 ? prefix : "") + trimmed(message.content) + "<end_of_turn>\n"
        }
        if addGenerationPrompt { text += "<start_of_turn>model\n" }
        return text
    }

    /// Jinja's `trim`: leading and trailing whitespace (Unicode White_Space) removed.
    static func trimmed(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var lo = 0, hi = scalars.count
        while lo < hi && scalars[lo].properties.isWhitespace { lo += 1 }
        while hi > lo && scalars[hi - 1].properties.isWhitespace { hi -= 1 }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[lo..<hi])
        return String(view)
    }
}
