import Foundation
import ShrinkCompress
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// ONNX → device graph: what is folded, fused, kept and refused.
@Suite struct LoweringTests {
    func summary(_ g: DeviceGraph) -> [String] {
        g.layers.map { "\($0.name):\($0.op.kernel.rawValue)" }
    }

    @Test func lenet() throws {
        let g = try Example.lenet.get().float
        #expect(summary(g) == ["conv1:conv", "/MaxPool:max_pool", "conv2:conv", "/MaxPool_1:max_pool", "/Flatten:reshape",
                               "fc1:fully_connected", "fc2:fully_connected"])
        #expect(g.input == DeviceTensor(name: "input", shape: [1, 28, 28]))
        #expect(g.output == DeviceTensor(name: "logits", shape: [10]))
        #expect(g.macs == 2_293_000)
        // ReLUs are fused into the layers before them.
        guard case .conv(_, _, _, .relu) = g.layers[0].op, case .fullyConnected(_, _, _, _, .relu) = g.layers[5].op,
              case .fullyConnected(_, _, _, _, Activation.none) = g.layers[6].op else {
            Issue.record("activations not fused: \(g.layers.map(\.op.kernel))")
            return
        }
    }

    @Test func dscnnFoldsBatchNormAndKeepsDepthwise() throws {
        let g = try Example.dscnn.get().float
        #expect(summary(g) == ["features.0:conv", "features.3:depthwise_conv", "features.6:conv", "features.9:depthwise_conv",
                               "features.12:conv", "features.15:depthwise_conv", "features.18:conv",
                               "/pool/GlobalAveragePool:avg_pool", "/Flatten:reshape", "fc:fully_connected"])
        // Conv + BatchNorm + Relu → one layer with a bias.
        #expect(g.layers[0].nodes.count == 3)
        guard case .conv(let geo, _, let bias, .relu) = g.layers[1].op else { Issue.record("\(g.layers[1].op.kernel)"); return }
        #expect(geo.isDepthwise && geo.strideH == 2 && bias?.count == 32)
    }

    @Test func syntheticCoversEveryKernel() throws {
        let g = try Example.ops2d.get().float
        let kinds = Set(g.layers.map(\.op.kernel))
        // lookup and mul (hard-swish, squeeze-excitation) are covered by ElementwiseKernelTests
        // and the real models of RealModelDeviceTests.
        #expect(kinds == Set(KernelKind.allCases).subtracting([.lookup, .mul]))
        // The BatchNorm after a residual Add + Relu stays, as a depthwise 1×1 convolution.
        let bn = try #require(g.layers.first { $0.name == "bn2" })
        guard case .conv(let geo, _, _, _) = bn.op else { Issue.record("bn2 is \(bn.op.kernel)"); return }
        #expect(geo.isDepthwise && geo.kernelH == 1 && geo.kernelW == 1)
        // The MatMul's bias Add is folded; Clip(0, 6) is fused into conv1 with its BatchNorm.
        #expect(!g.layers.contains { $0.name == "mm1_bias" })
        guard case .conv(_, _, _, .clip(0, 6)) = g.layers[0].op else { Issue.record("conv1: \(g.layers[0].op)"); return }
        #expect(g.layers[0].nodes == ["conv1", "bn1", "relu6"])
        let g1 = try Example.ops1d.get().float
        #expect(summary(g1) == ["conv1:conv", "pool1:max_pool", "dw:depthwise_conv", "gap:avg_pool", "flatten:reshape", "fc:fully_connected"])
    }

    /// The low-rank rewrites' shapes — 1×1, k×1/1×k, depthwise, thin Gemm pairs — lower to
    /// plain device layers.
    @Test func lowRankRewritesLower() throws {
        let lenet = try Example.lenet.get()
        let d = try ModelDecomposer.decompose(lenet.graph, choices: [
            try LayerChoice(parsing: "conv1=spatial-svd:4"), try LayerChoice(parsing: "conv2=cp4:12"),
            try LayerChoice(parsing: "fc1=svd:16"),
        ])
        let g = try DeviceGraph.lower(d.graph)
        #expect(g.layers.count == 7 - 3 + 2 + 4 + 2)
        let kernels = g.layers.compactMap { l -> String? in
            guard case .conv(let geo, _, _, _) = l.op else { return nil }
            return "\(geo.kernelH)x\(geo.kernelW)\(geo.isDepthwise ? "dw" : "")"
        }
        #expect(kernels == ["5x1", "1x5", "1x1", "5x1dw", "1x5dw", "1x1"])
        #expect(g.layers.filter { $0.op.kernel == .fullyConnected }.count == 3)
        let t = try DeviceGraph.lower(try ModelDecomposer.decompose(lenet.graph, choices: [try LayerChoice(parsing: "conv2=tucker2:8,6")]).graph)
        #expect(t.layers.count == 9)
    }

    /// A constant added to a Conv output is folded as its bias only when it broadcasts per channel
    /// ([C, 1, 1]); a [C] constant aligns with the width axis in ONNX and is refused.
    @Test func biasAddMustBroadcastPerChannel() throws {
        func graph(_ shape: [Int]) -> Graph {
            var g = Graph(name: "bias")
            g.inputs = [ValueInfo(name: "x", elementType: .float, shape: [.symbol("N"), .value(2), .value(3), .value(3)])]
            g.setInitializer("w", .float(Tensor(shape: [3, 2, 1, 1], scalars: [1, 2, 3, 4, 5, 6])))
            g.setInitializer("b", .float(Tensor(shape: shape, scalars: [0.5, -1, 2])))
            g.nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["c"]),
                       Node(name: "add", opType: "Add", inputs: ["c", "b"], outputs: ["y"])]
            g.outputs = [ValueInfo(name: "y", elementType: .float, shape: nil)]
            return g
        }
        let ok = try DeviceGraph.lower(graph([3, 1, 1]))
        #expect(ok.layers.count == 1 && ok.layers[0].nodes == ["conv", "add"])
        guard case .conv(_, _, let bias, _) = ok.layers[0].op else { Issue.record("not a conv"); return }
        #expect(bias == [0.5, -1, 2])
        #expect(throws: DeviceError.self) { try DeviceGraph.lower(graph([3])) }
    }

    @Test func finalSoftmaxIsLeftOutWithANote() throws {
        var g = try Example.lenet.get().graph
        g.nodes.append(Node(name: "probs", opType: "Softmax", inputs: ["logits"], outputs: ["probs"], attributes: [Attribute("axis", .int(1))]))
        g.outputs = [ValueInfo(name: "probs", elementType: .float, shape: [.symbol("batch"), .value(10)])]
        let d = try DeviceGraph.lower(g)
        #expect(d.output.name == "logits")
        #expect(d.notes.count == 1 && d.notes[0].contains("Softmax"))
    }

    /// Several inputs/outputs, integer inputs, and every op without a kernel are named in one error.
    @Test func refusalsAreListedTogether() throws {
        var g = Graph(name: "bad")
        g.inputs = [ValueInfo(name: "x", elementType: .float, shape: [.symbol("N"), .value(4)]),
                    ValueInfo(name: "ids", elementType: .int64, shape: [.symbol("N"), .value(4)])]
        g.nodes = [Node(name: "s", opType: "Sigmoid", inputs: ["x"], outputs: ["a"]),
                   Node(name: "t", opType: "Tanh", inputs: ["x"], outputs: ["b"])]
        g.outputs = [ValueInfo(name: "a", elementType: .float, shape: nil), ValueInfo(name: "b", elementType: .float, shape: nil)]
        do {
            _ = try DeviceGraph.lower(g)
            Issue.record("lowered")
        } catch {
            #expect(error.kind == .unsupportedModel && error.isInvalidInput)
            #expect(error.problems.count == 3)
            #expect(error.description.contains("2 inputs") && error.description.contains("2 outputs") && error.description.contains("int64"))
        }
        var h = Graph(name: "ops")
        h.inputs = [ValueInfo(name: "x", elementType: .float, shape: [.symbol("N"), .value(4)])]
        h.nodes = [Node(name: "s", opType: "Sigmoid", inputs: ["x"], outputs: ["a"]),
                   Node(name: "t", opType: "Tanh", inputs: ["a"], outputs: ["b"]),
                   Node(name: "e", opType: "Erf", inputs: ["b"], outputs: ["c"])]
        h.outputs = [ValueInfo(name: "c", elementType: .float, shape: nil)]
        do {
            _ = try DeviceGraph.lower(h)
            Issue.record("lowered")
        } catch {
            #expect(error.problems.count == 3)
            #expect(["node s (Sigmoid)", "node t (Tanh)", "node e (Erf)"].allSatisfy(error.description.contains))
            #expect(error.hint?.contains("Conv") == true)
        }
    }
}
