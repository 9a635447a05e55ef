import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing

/// Paths of the committed fixtures, found from this file's location so tests run from anywhere.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static var opsDir: String { path("Tests/Fixtures/onnx-ops") }
    static var badDir: String { path("Tests/Fixtures/onnx-bad") }

    struct Manifest: Decodable {
        struct Value: Decodable {
            var name: String
            var dtype: String
            var shape: [Int]
        }
        struct Case: Decodable, CustomTestStringConvertible {
            var `case`: String
            var model: String
            var opset: Int
            var inputs: [Value]
            var outputs: [Value]
            var initializers: [Value]
            var node_ops: [String]
            var testDescription: String { self.case }
        }
        var cases: [Case]
    }

    /// The op fixture cases; empty (and the parameterised tests then run no case) only if the
    /// fixtures are missing, which `opFixturesPresent` reports as a failure.
    static let opCases: [Manifest.Case] = {
        guard let data = FileManager.default.contents(atPath: opsDir + "/manifest.json"),
              let m = try? JSONDecoder().decode(Manifest.self, from: data) else { return [] }
        return m.cases
    }()

    static let exampleModels = [
        "Examples/lenet-mnist/model.onnx",
        "Examples/lenet-mnist/model_dynamo.onnx",
        "Examples/dscnn-mnist/model.onnx",
        "Examples/vgg-bench/model.onnx",
    ]
}

/// Small graph-building helpers for unit tests.
enum Build {
    static func weight(_ shape: [Int], seed: Float = 0.1) -> TensorValue {
        let n = shape.reduce(1, *)
        return .float(Tensor(shape: shape, scalars: (0..<n).map { Float($0 % 7) * seed - 0.3 }))
    }

    static func input(_ name: String, _ dims: [Dim], type: ElementType = .float) -> ValueInfo {
        ValueInfo(name: name, elementType: type, shape: dims)
    }

    static func conv(_ name: String, _ x: String, _ w: String, _ b: String? = nil, _ y: String,
                     _ attrs: [Attribute] = []) -> Node {
        Node(name: name, opType: "Conv", inputs: [x, w] + (b.map { [$0] } ?? []), outputs: [y], attributes: attrs)
    }

    /// LeNet-5 (Caffe variant) as PyTorch's legacy exporter writes it, weights named
    /// `conv1.weight` …; `nameNodes` false leaves node names empty.
    static func lenet(weightNames: [String] = ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"],
                      nodeNames: [String] = ["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm"],
                      biasNames: [String] = ["conv1.bias", "conv2.bias", "fc1.bias", "fc2.bias"]) -> Graph {
        var g = Graph(name: "lenet")
        g.inputs = [input("x", [.symbol("N"), .value(1), .value(28), .value(28)])]
        g.outputs = [ValueInfo(name: "y", shape: [.symbol("N"), .value(10)])]
        let shapes = [[20, 1, 5, 5], [50, 20, 5, 5], [500, 800], [10, 500]]
        for (n, s) in zip(weightNames, shapes) { g.setInitializer(n, weight(s)) }
        for (n, c) in zip(biasNames, [20, 50, 500, 10]) { g.setInitializer(n, weight([c])) }
        let pool: [Attribute] = [Attribute("kernel_shape", .ints([2, 2])), Attribute("strides", .ints([2, 2]))]
        g.nodes = [
            conv(nodeNames[0], "x", weightNames[0], biasNames[0], "c1", [Attribute("kernel_shape", .ints([5, 5]))]),
            Node(name: "", opType: "MaxPool", inputs: ["c1"], outputs: ["p1"], attributes: pool),
            conv(nodeNames[1], "p1", weightNames[1], biasNames[1], "c2"),
            Node(opType: "MaxPool", inputs: ["c2"], outputs: ["p2"], attributes: pool),
            Node(opType: "Flatten", inputs: ["p2"], outputs: ["f"], attributes: [Attribute("axis", .int(1))]),
            Node(name: nodeNames[2], opType: "Gemm", inputs: ["f", weightNames[2], biasNames[2]], outputs: ["h"],
                 attributes: [Attribute("transB", .int(1))]),
            Node(opType: "Relu", inputs: ["h"], outputs: ["r"]),
            Node(name: nodeNames[3], opType: "Gemm", inputs: ["r", weightNames[3], biasNames[3]], outputs: ["y"],
                 attributes: [Attribute("transB", .int(1))]),
        ]
        return g
    }
}
