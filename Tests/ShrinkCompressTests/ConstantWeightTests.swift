import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// Weights in `Constant` nodes (paddle2onnx keeps every weight there) are layer weights like
/// initializers: exact params before and after, the replaced constants leave the file.
@Suite struct ConstantWeightTests {
    /// `singleConvGraph` with its weight and bias moved into Constant nodes, as Paddle exports.
    static func paddleStyle() -> Graph {
        var g = singleConvGraph(weight: randomTensor([12, 6, 3, 3], seed: 3), bias: randomTensor([12], seed: 4),
                                geometry: ConvGeometry(kernel: [3, 3], strides: nil, pads: [1, 1, 1, 1], dilations: nil, group: 1),
                                input: [6, 9, 7])
        var constants: [Node] = []
        for name in ["conv.weight", "conv.bias"] {
            let v = g.initializers[name]!
            g.removeInitializer(name)
            constants.append(Node(name: "const_\(name)", opType: "Constant", inputs: [], outputs: [name],
                                  attributes: [Attribute("value", .tensor(v))]))
        }
        g.nodes = constants + g.nodes
        return g
    }

    @Test func constantWeightsAreParamsAndTheRewriteRemovesThem() throws {
        let g = Self.paddleStyle()
        let table = try LayerTable(graph: g)
        #expect(table.modelParams == 12 * 6 * 9 + 12)
        #expect(table.layers.first?.params == 12 * 6 * 9 + 12)
        let result = try ModelDecomposer.decompose(g, choices: [try LayerChoice(parsing: "conv=tucker2:4,3")])
        #expect(result.before.params == table.modelParams)
        let after = try LayerTable(graph: result.graph)
        #expect(result.after.params == after.modelParams)
        #expect(result.after.params < result.before.params)
        // The Constant holding the old weight is gone; the one holding the bias is still read.
        #expect(!result.graph.nodes.contains { $0.name == "const_conv.weight" })
        #expect(result.graph.nodes.filter { $0.opType == "Constant" }.allSatisfy { n in
            result.graph.nodes.contains { $0.inputs.contains(n.outputs[0]) }
        })
        #expect(try result.graph.serializedData().count < g.serializedData().count)
        let x = randomTensor([2, 6, 9, 7], seed: 5)
        let before = try run(g, ["x": x])["y"]!, rewritten = try run(result.graph, ["x": x])["y"]!
        #expect(before.shape == rewritten.shape)
    }

    @Test func deadNodesArePruned() throws {
        var g = Self.paddleStyle()
        g.nodes.append(Node(name: "dead", opType: "Relu", inputs: ["y"], outputs: ["unused"]))
        g.nodes.append(Node(name: "dead_const", opType: "Constant", inputs: [], outputs: ["unused_c"],
                            attributes: [Attribute("value", .tensor(.float(Tensor(zeros: [100]))))]))
        #expect(g.removeDeadNodes() == 2)
        #expect(g.nodes.count == 3)
    }
}

/// Rewrites on a real Paddle export (rapidocr's PP-OCRv4 detector: weights in Constant nodes,
/// Resize and ConvTranspose in the neck and head), fetched by scripts/fetch-models.sh.
@Suite struct RealModelRewriteTests {
    static var detector: String {
        let cache = ProcessInfo.processInfo.environment["SHRINK_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/shrink-models").path
        return cache + "/rapidocr-onnxruntime-1.4.4/ocr-det-ppocrv4.onnx"
    }

    @Test func decomposedPaddleModelIsSmallerWithExactParams() throws {
        guard FileManager.default.fileExists(atPath: Self.detector) else {
            Issue.record("\(Self.detector) is missing: run scripts/fetch-models.sh (make test does)")
            return
        }
        let g = try Graph.load(contentsOf: Self.detector)
        let shapes = ["x": [1, 3, 96, 160]]
        let table = try LayerTable(graph: g, inputShapes: shapes)
        let big = table.layers.sorted { $0.macs > $1.macs }.prefix(4)
        let choices = try big.map { l in try LayerChoice(parsing: "\(l.name)=\(l.kernel.allSatisfy { $0 == 1 } ? "svd" : "tucker2"):0.25") }
        let result = try ModelDecomposer.decompose(g, choices: choices, inputShapes: shapes)
        #expect(result.before.params == table.modelParams)
        #expect(result.before.params == 1_171_841)
        let after = try LayerTable(graph: result.graph, inputShapes: shapes)
        #expect(result.after.params == after.modelParams)
        #expect(result.after.macs == after.totalMACs)
        #expect(result.after.params < result.before.params)
        let bytesBefore = try g.serializedData().count, bytesAfter = try result.graph.serializedData().count
        #expect(bytesAfter < bytesBefore, "\(bytesBefore) → \(bytesAfter) bytes")
        let x = randomTensor([1, 3, 96, 160], seed: 9)
        let y = try Session(graph: result.graph).run(inputs: ["x": x])
        #expect(y.values.first?.shape == [1, 1, 96, 160])
    }
}
