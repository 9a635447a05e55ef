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
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    ],
    targets: [
        // OpenBLAS (cblas) and LAPACKE behind one system-library shim.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        // Tensors, BLAS/LAPACK, factorizations, .npy/.npz.
        .target(
            name: "ShrinkTensor",
            dependencies: ["COpenBLAS", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        // ONNX bindings, Graph IR, shape inference, per-layer cost.
        .target(
            name: "ShrinkGraph",
            dependencies: ["ShrinkTensor", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["ONNX/onnx.proto"]  // the source of the committed onnx.pb.swift
        ),
        // Own float kernels in C with intrinsics (packed GEMM, depthwise), one function per
        // instruction set behind `__attribute__((target))` and CPUID dispatch — no -march flags.
        // Optimised in debug builds too: the tests run every path on real models.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        // Kernels, executor, datasets and metrics.
        .target(name: "ShrinkRuntime", dependencies: ["ShrinkGraph", "ShrinkTensor", "COpenBLAS", "CKernels"]),
        // Decomposition methods as graph rewrites, rank arithmetic, search policies.
        .target(name: "ShrinkCompress", dependencies: ["ShrinkGraph", "ShrinkTensor"]),
        // The pipeline DSL: YAML → located spec → validated plan.
        .target(name: "ShrinkPipeline", dependencies: [
            .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // On the device: int8 quantisation (TFLite's scheme), the integer reference engine, QDQ ONNX,
        // C export, flash/RAM budgets, and the host/QEMU toolchain that checks them.
        // Optimised in debug builds too: the integer engine checks every sample of a data set in
        // the tests, and unoptimised Swift integer loops are ~30× slower.
        .target(name: "ShrinkDevice", dependencies: ["ShrinkGraph", "ShrinkTensor", "ShrinkRuntime", "COpenBLAS"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // The build engine: content-addressed store, stage keys and descriptions, the DAG
        // scheduler, executors. Knows nothing about models.
        .target(name: "ShrinkBuild", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The compression application: typed stage kinds, calibration, evaluation, scoring, lock
        // files, reports, exporters.
        .target(
            name: "ShrinkWorkflow",
            dependencies: [
                "ShrinkTensor", "ShrinkGraph", "ShrinkRuntime", "ShrinkCompress", "ShrinkPipeline", "ShrinkBuild",
                "ShrinkDevice", .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "shrink",
            dependencies: [
                "ShrinkTensor", "ShrinkGraph", "ShrinkRuntime", "ShrinkCompress", "ShrinkPipeline", "ShrinkBuild", "ShrinkWorkflow",
                "ShrinkDevice",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "shrink-bench",
            dependencies: ["ShrinkTensor", "ShrinkGraph", "ShrinkRuntime", "ShrinkCompress", "COpenBLAS"],
            path: "Benchmarks/shrink-bench"
        ),
        .testTarget(name: "ShrinkTensorTests", dependencies: ["ShrinkTensor"]),
        .testTarget(name: "ShrinkGraphTests", dependencies: ["ShrinkGraph", "ShrinkTensor"]),
        .testTarget(name: "ShrinkRuntimeTests", dependencies: ["ShrinkRuntime", "ShrinkGraph", "ShrinkTensor"]),
        .testTarget(name: "ShrinkCompressTests", dependencies: ["ShrinkCompress", "ShrinkRuntime", "ShrinkGraph", "ShrinkTensor"]),
        .testTarget(name: "ShrinkPipelineTests", dependencies: ["ShrinkPipeline"]),
        // The device path: quantisation arithmetic, C export compiled by gcc and run on QEMU, budgets.
        .testTarget(name: "ShrinkDeviceTests",
                    dependencies: ["ShrinkDevice", "ShrinkRuntime", "ShrinkGraph", "ShrinkTensor", "ShrinkCompress"]),
        .testTarget(name: "ShrinkBuildTests", dependencies: ["ShrinkBuild"]),
        .testTarget(name: "ShrinkWorkflowTests", dependencies: ["ShrinkWorkflow", "ShrinkBuild", "ShrinkPipeline", "ShrinkCompress", "ShrinkDevice"]),
        // The command line on real pipelines: caching, crashes, concurrency, exported accuracy. It runs
        // the `shrink` executable that `swift build --build-tests` builds beside the test bundle.
        .testTarget(name: "ShrinkEndToEndTests",
                    dependencies: ["ShrinkWorkflow", "ShrinkBuild", "ShrinkTensor", "ShrinkRuntime", "ShrinkGraph"]),
        // A toy pipeline ShrinkBuildTests runs as separate processes (concurrent runs, crashes, Ctrl-C);
        // `swift build --build-tests` builds it beside the test bundle like every root target.
        .executableTarget(name: "shrink-build-testtool", dependencies: ["ShrinkBuild"], path: "Tests/ShrinkBuildTestTool"),
    ],
    swiftLanguageModes: [.v6]
)
