import XCTest
import Formats
@testable import Tokenization

final class ChatTemplateTests: XCTestCase {
    func testChatMLInsertsSmolLM2DefaultSystemMessage() {
        let text = ChatTemplate.chatML.apply(messages: [(role: "user", content: "hi")], addGenerationPrompt: true)
        XCTAssertEqual(text, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(ChatTemplate.chatML.apply(messages: [(role: "system", content: "S")], addGenerationPrompt: false),
                       "<|im_start|>system\nS<|im_end|>\n")
        XCTAssertEqual(ChatTemplate.plainChatML.apply(messages: [(role: "user", content: "x")], addGenerationPrompt: false),
                       "<|im_start|>user\nx<|im_end|>\n")
        XCTAssertEqual(ChatTemplate.chatML.apply(messages: [], addGenerationPrompt: true), "<|im_start|>assistant\n")
    }

    func testChatMLTextAndIDsEqualTransformersApplyChatTemplate() throws {
        let root = try TokenizerFixtures.json("peer-chat.json")
        let conversations = try XCTUnwrap(root["conversations"] as? [[String: Any]])
        XCTAssertEqual(root["chat_template"] as? String, ChatTemplate.smolLM2Source)
        XCTAssertEqual(ChatTemplate.recognizing(ChatTemplate.smolLM2Source), .chatML)
        let tok = try? TokenizerFixtures.smolLM2()
        for conversation in conversations {
            let messages = try XCTUnwrap(conversation["messages"] as? [[String: String]]).map {
                (role: $0["role"] ?? "", content: $0["content"] ?? "")
            }
            let generation = try XCTUnwrap(conversation["add_generation_prompt"] as? Bool)
            let text = ChatTemplate.chatML.apply(messages: messages, addGenerationPrompt: generation)
            XCTAssertEqual(text, conversation["text"] as? String)
            if let tok { XCTAssertEqual(tok.encode(text), conversation["ids"] as? [Int]) }
        }
    }

    func testGGUFChatTemplateIsRecognizedAsChatML() throws {
        _ = try TokenizerFixtures.smolLM2()
        let gguf = try GGUFFile(path: TokenizerFixtures.modelPath)
        let source = try XCTUnwrap(BPETokenizer.chatTemplateSource(in: gguf))
        XCTAssertEqual(ChatTemplate.recognizing(source), .chatML)
    }
}
