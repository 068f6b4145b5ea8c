import XCTest
@testable import Tokenization

final class PreTokenizerTests: XCTestCase {
    func testGPT2PatternMatchesHuggingFaceByteLevelSplit() {
        // Expected words from tokenizers' ByteLevel(add_prefix_space=False).pre_tokenize_str.
        XCTAssertEqual(PreTokenizer.gpt2.split("it's  'S a\t\tb \u{a0}x 12 !'s"),
                       ["it", "'s", " ", " '", "S", " a", "\t", "\t", "b", " ", "\u{a0}", "x", " 12", " !'", "s"])
    }

    func testWhitespaceRunsLeaveTheirLastSpaceToTheNextWord() {
        XCTAssertEqual(PreTokenizer.gpt2.split("a   b"), ["a", "  ", " b"])
        XCTAssertEqual(PreTokenizer.gpt2.split("a \n b"), ["a", " \n", " b"])
        XCTAssertEqual(PreTokenizer.gpt2.split("a\n\nb"), ["a", "\n", "\n", "b"])
        XCTAssertEqual(PreTokenizer.gpt2.split("end   "), ["end", "   "])
        XCTAssertEqual(PreTokenizer.gpt2.split(" "), [" "])
        XCTAssertEqual(PreTokenizer.gpt2.split(""), [])
    }

    func testContractionsAreLowercaseOnly() {
        XCTAssertEqual(PreTokenizer.gpt2.split("we'll WE'LL I'm"), ["we", "'ll", " WE", "'", "LL", " I", "'m"])
        XCTAssertEqual(PreTokenizer.gpt2.split("'re've'd"), ["'re", "'ve", "'d"])
    }

    func testLettersNumbersAndOtherFormSeparateRuns() {
        XCTAssertEqual(PreTokenizer.gpt2.split("abc123def ²x 中文。"), ["abc", "123", "def", " ²", "x", " 中文", "。"])
        XCTAssertEqual(PreTokenizer.gpt2.split("e\u{301}"), ["e", "\u{301}"])  // a combining mark is "other"
    }

    func testSmolLMIsolatesEveryDigitBeforeTheGPT2Split() {
        XCTAssertEqual(PreTokenizer.smolLM.split("a12b 3"), ["a", "1", "2", "b", " ", "3"])
        XCTAssertEqual(PreTokenizer.smolLM.split("x²٣"), ["x", "²", "٣"])
    }

    func testLlama3PatternMatchesTokenizersSplit() {
        // Expected words from tokenizers' Split(Regex(llama-3 pattern), "isolated").
        XCTAssertEqual(PreTokenizer.llama3.split("it'S  hello\n\n world!!\r\n\tx 12345 ..abc \u{17f}x '\u{17f} \n "),
                       ["it", "'S", " ", " hello", "\n\n", " world", "!!\r\n", "\tx", " ", "123", "45", " ..", "abc",
                        " \u{17f}x", " '", "\u{17f}", " \n", " "])
        XCTAssertEqual(PreTokenizer.llama3.split("a \n b\r\n\r\nc"), ["a", " \n", " b", "\r\n\r\n", "c"])
        XCTAssertEqual(PreTokenizer.llama3.split("x'\u{17f}am x'LLama"), ["x", "'\u{17f}", "am", " x", "'LL", "ama"])
        XCTAssertEqual(PreTokenizer.qwen2.split("12345"), ["1", "2", "3", "4", "5"])
    }
}
