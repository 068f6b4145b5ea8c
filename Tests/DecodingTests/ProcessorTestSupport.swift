import XCTest
import Decoding
import Tensors
import Transformer

/// Helpers shared by the processor and sampling tests.
enum ProcessorTestSupport {
    /// Natural-log scores whose softmax is `probabilities` (up to rounding).
    static func logits(_ probabilities: [Double]) -> [Float] {
        probabilities.map { $0 > 0 ? Float(DeterministicMath.log($0)) : -.infinity }
    }

    static func context(_ ids: [Int] = [], promptLength: Int? = nil) -> ProcessorContext {
        ProcessorContext(inputIDs: ids, promptLength: promptLength ?? ids.count)
    }

    /// Applies `processor` and returns the softmax of the result.
    static func processed(_ processor: any LogitsProcessor, _ scores: [Float], _ ctx: ProcessorContext = context()) -> [Float] {
        var s = scores
        processor.process(&s, context: ctx)
        return Sampler.probabilities(from: s)
    }
}

func XCTAssertProbabilities(_ actual: [Float], _ expected: [Double], accuracy: Double = 1e-5, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, message, file: file, line: line)
    for (a, e) in zip(actual, expected) {
        XCTAssertEqual(Double(a), e, accuracy: accuracy, "\(message): got \(actual), expected \(expected)", file: file, line: line)
    }
}
