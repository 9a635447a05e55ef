// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Shrink",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "shrink", targets: ["shrink"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    ],
    targets: [
        // OpenBLAS (cblas) and LAPACKE behind one system-library shim.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(
            name: "ShrinkTensor",
            dependencies: ["COpenBLAS", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .executableTarget(
            name: "shrink",
            dependencies: ["ShrinkTensor", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "shrink-bench",
            dependencies: ["ShrinkTensor"],
            path: "Benchmarks/shrink-bench"
        ),
        .testTarget(name: "ShrinkTensorTests", dependencies: ["ShrinkTensor"]),
    ],
    swiftLanguageModes: [.v6]
)
