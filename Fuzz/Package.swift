// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for Touchstone's parsers. Not part of the root package: a plain
// `swift build` / `swift test` of Touchstone never sees this directory. Built only by
// Scripts/fuzz.sh, which passes `-sanitize=fuzzer,address -parse-as-library` on the command line
// (so neither this manifest nor the root one carries unsafe flags). See DOCS.md section 8.2.
let package = Package(
    name: "TouchstoneFuzz",
    dependencies: [.package(name: "Touchstone", path: "..")],
    targets: [
        // Shared helpers (input bytes, small bounded loops); no libFuzzer entry point.
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"]),
        .executableTarget(name: "FuzzGGUF", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        .executableTarget(name: "FuzzGGUFVocabulary", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        .executableTarget(name: "FuzzSafetensors", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        .executableTarget(name: "FuzzConfigJSON", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        .executableTarget(name: "FuzzTokenizerJSON", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        .executableTarget(name: "FuzzTokenizerText", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        .executableTarget(name: "FuzzCandidateTrace", dependencies: ["FuzzSupport", .product(name: "Touchstone", package: "Touchstone")]),
        // Compiled together with the CLI's own Sources/touchstone/Arguments.swift (a symlink), so
        // the parser that is fuzzed is the one the executable uses.
        .executableTarget(name: "FuzzArguments", dependencies: ["FuzzSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
