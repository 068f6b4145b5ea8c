// swift-tools-version:6.0
import Foundation
import PackageDescription

// Touchstone has no package dependencies: only the Swift toolchain.
// By default the build has no unsafe flags, so other packages can depend on Touchstone by
// version. TOUCHSTONE_NATIVE=1 (read here, when the manifest is evaluated) opts in to
// `-target-cpu native` for release builds of this package as the root package; results do not
// depend on it (D1: no fused multiply-add, explicit SIMD lanes; Scripts/check_build_invariance.sh).
let releaseTuning: [SwiftSetting] = ProcessInfo.processInfo.environment["TOUCHSTONE_NATIVE"] == "1" ? [
    .unsafeFlags(["-target-cpu", "native"], .when(configuration: .release)),
] : []

let package = Package(
    name: "Touchstone",
    products: [
        .executable(name: "touchstone", targets: ["touchstone"]),
        .library(name: "Touchstone", targets: ["Tensors", "Formats", "Tokenization", "Transformer", "Loader", "Decoding", "Golden", "Benchmarks", "Probing"]),
        // XCTest assertions over the Golden API, for other backends' test suites.
        .library(name: "TouchstoneTesting", targets: ["TouchstoneTesting"]),
    ],
    targets: [
        .target(name: "Tensors", swiftSettings: releaseTuning),
        .target(name: "Formats", swiftSettings: releaseTuning),
        .target(name: "Tokenization", dependencies: ["Formats"], swiftSettings: releaseTuning),
        .target(name: "Transformer", dependencies: ["Tensors", "Formats", "Tokenization"], swiftSettings: releaseTuning),
        .target(name: "Loader", dependencies: ["Formats", "Tokenization", "Transformer"], swiftSettings: releaseTuning),
        .target(name: "Decoding", dependencies: ["Tensors", "Formats", "Transformer"], swiftSettings: releaseTuning),
        .target(name: "Golden", dependencies: ["Formats", "Transformer", "Loader", "Decoding"], swiftSettings: releaseTuning),
        .target(name: "Benchmarks", dependencies: ["Tensors", "Formats", "Tokenization", "Transformer", "Decoding"], swiftSettings: releaseTuning),
        .target(name: "Probing", dependencies: ["Tensors", "Formats", "Transformer"], swiftSettings: releaseTuning),
        .target(name: "TouchstoneTesting", dependencies: ["Golden"]),
        .executableTarget(name: "touchstone", dependencies: ["Tensors", "Formats", "Tokenization", "Transformer", "Loader", "Decoding", "Golden", "Benchmarks", "Probing"], swiftSettings: releaseTuning),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "Formats"]),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Loader", "Formats", "Tensors"]),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding", "Transformer", "Loader"]),
        .testTarget(name: "GoldenTests", dependencies: ["Golden", "TouchstoneTesting", "Decoding", "Transformer", "Loader", "Formats"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Decoding", "Transformer", "Tokenization", "Formats", "Tensors"]),
        .testTarget(name: "CLITests", dependencies: ["touchstone"]),
        .testTarget(name: "ProbingTests", dependencies: ["Probing", "Transformer", "Loader", "Tensors", "Formats"]),
        .testTarget(name: "AgreementTests", dependencies: ["Decoding", "Transformer", "Loader", "Formats", "Tensors"]),
    ],
    swiftLanguageModes: [.v5]
)
