// swift-tools-version:6.0
import PackageDescription

// An example of another backend checking itself against Touchstone from its own test suite.
// It depends on Touchstone by path (this repository); a package elsewhere would write
// `.package(url: "https://…/touchstone.git", from: "0.1.0")` instead.
let package = Package(
    name: "ApproximateBackend",
    products: [
        .library(name: "ApproximateBackend", targets: ["ApproximateBackend"]),
    ],
    dependencies: [
        .package(name: "Touchstone", path: "../.."),
    ],
    targets: [
        .target(name: "ApproximateBackend", dependencies: [.product(name: "Touchstone", package: "Touchstone")]),
        .testTarget(name: "ApproximateBackendTests", dependencies: [
            "ApproximateBackend",
            .product(name: "Touchstone", package: "Touchstone"),
            .product(name: "TouchstoneTesting", package: "Touchstone"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
