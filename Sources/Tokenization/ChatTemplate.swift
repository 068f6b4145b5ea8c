/// Chat templates: how a conversation becomes prompt text.
///
/// Only ChatML is implemented, by hand (no Jinja engine). `ChatTemplate.chatML` reproduces
/// SmolLM2-Instruct's template (`tokenizer.chat_template` in its GGUF) character for character:
///
///     {% for message in messages %}
///       {% if loop.first and messages[0]['role'] != 'system' %}
///         <|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n
///       {% endif %}
///       <|im_start|>{role}\n{content}<|im_end|>\n
///     {% endfor %}
///     {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}
///
/// The rendered text is then encoded with `parseSpecialTokens: true`, so the markers become
/// their special tokens. Content is inserted verbatim (no trimming, no escaping).
public struct ChatTemplate: Sendable, Equatable {
    /// Inserted as a system message when the first message is not a system message
    /// (nil: never insert one).
    public var defaultSystemMessage: String?
    public var messageStart: String
    public var messageEnd: String

    public init(defaultSystemMessage: String?, messageStart: String = "<|im_start|>", messageEnd: String = "<|im_end|>") {
        self.defaultSystemMessage = defaultSystemMessage
        self.messageStart = messageStart
        self.messageEnd = messageEnd
    }

    /// SmolLM2's default system message.
    public static let smolLM2SystemMessage = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// SmolLM2-Instruct's ChatML template, with its default system message.
    public static let chatML = ChatTemplate(defaultSystemMessage: smolLM2SystemMessage)

    /// Plain ChatML without a default system message.
    public static let plainChatML = ChatTemplate(defaultSystemMessage: nil)

    /// Renders a conversation.
    ///
    /// - Parameters:
    ///   - messages: in order; roles are free-form ("system", "user", "assistant", …).
    ///   - addGenerationPrompt: append `<|im_start|>assistant\n` so the model answers next.
    /// - Returns: the prompt text. An empty conversation gives "" (or only the generation
    ///   prompt), as the Jinja template does: the default system message is only inserted
    ///   before a first message.
    public func apply(messages: [(role: String, content: String)], addGenerationPrompt: Bool) -> String {
        var text = ""
        for (index, message) in messages.enumerated() {
            if index == 0, message.role != "system", let system = defaultSystemMessage {
                text += messageStart + "system\n" + system + messageEnd + "\n"
            }
            text += messageStart + message.role + "\n" + message.content + messageEnd + "\n"
        }
        if addGenerationPrompt { text += messageStart + "assistant\n" }
        return text
    }
}
