import XCTest
final class PlaceholderDecodingTests: XCTestCase { func testNothing() {} }
