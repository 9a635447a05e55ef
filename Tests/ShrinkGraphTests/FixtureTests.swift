import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing

@Suite("ONNX op fixtures")
struct OpFixtureTests {
    @Test func opFixturesPresent() {
        #expect(Fixtures.opCases.count >= 100, "Tests/Fixtures/onnx-ops/manifest.json missing or unreadable")
    }

    @Test("loads, and shape inference matches the fixture's output shapes", arguments: Fixtures.opCases)
    func shapes(_ c: Fixtures.Manifest.Case) throws {
        let g = try Graph.load(contentsOf: Fixtures.opsDir + "/" + c.model)
        #expect(g.nodes.map(\.opType) == c.node_ops)
        #expect(g.opsetVersion() == c.opset)
        var given: [String: [Int]] = [:]
        var values: [String: TensorValue] = [:]
        for i in c.inputs { given[i.name] = i.shape }
        // Integer inputs (a Reshape shape, Unsqueeze axes fed at run time) decide output shapes:
        // pass their values from the fixture's data.
        if c.inputs.contains(where: { $0.dtype == "int64" }) {
            let npz = try NPZ.read(URL(fileURLWithPath: Fixtures.opsDir + "/" + c.case + ".npz"))
            for i in c.inputs where i.dtype == "int64" {
                let a = try #require(npz[i.name]?.integersIfIntegral())
                values[i.name] = .int64(shape: i.shape, values: a)
            }
        }
        let shapes = try g.inferShapes(inputShapes: given, inputValues: values)
        #expect(shapes.skippedNodes.isEmpty)
        for o in c.outputs {
            #expect(shapes[o.name] == o.shape, "output \(o.name)")
            let type: ElementType = switch o.dtype {
            case "float32": .float
            case "int64": .int64
            case "int32": .int32
            case "bool": .bool
            default: .undefined
            }
            #expect(shapes.elementTypes[o.name] == type, "output \(o.name) type")
        }
        for i in c.initializers {
            #expect(g.initializers[i.name]?.shape == i.shape, "initializer \(i.name)")
        }
    }

    @Test("save(load(x)) reproduces the file byte for byte", arguments: Fixtures.opCases)
    func byteRoundTrip(_ c: Fixtures.Manifest.Case) throws {
        let path = Fixtures.opsDir + "/" + c.model
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let g = try Graph.load(contentsOf: path)
        #expect(try g.serializedData() == original)
    }
}

@Suite("Example models")
struct ExampleModelTests {
    @Test(arguments: Fixtures.exampleModels)
    func byteRoundTripAndReload(_ model: String) throws {
        let path = Fixtures.path(model)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let g = try Graph.load(contentsOf: path)
        let saved = try g.serializedData()
        #expect(saved == original)
        let again = try Graph(serializedData: saved)
        #expect(again == g)
        #expect(again.modelProto() == g.modelProto())
    }

    @Test(arguments: ["Examples/lenet-mnist/model.onnx", "Examples/lenet-mnist/model_dynamo.onnx"])
    func lenetLayers(_ model: String) throws {
        let g = try Graph.load(contentsOf: Fixtures.path(model))
        let t = try LayerTable(graph: g)
        #expect(t.layers.map(\.name) == ["conv1", "conv2", "fc1", "fc2"])
        #expect(t.layers.map(\.op) == ["Conv", "Conv", "Gemm", "Gemm"])
        // Independent counts: conv1 20·1·25·24·24, conv2 50·20·25·8·8, fc1 800·500, fc2 500·10.
        #expect(t.layers.map(\.macs) == [288_000, 1_600_000, 400_000, 5_000])
        #expect(t.layers.map(\.params) == [520, 25_050, 400_500, 5_010])
        #expect(t.layers.map(\.kernelDescription) == ["5x5", "5x5", nil, nil])
        #expect(t.totalMACs == 2_293_000)
        #expect(t.layerParams == 431_080)
        #expect(t.modelParams == 431_080)
        #expect(t.layers[1].inputShape == [1, 20, 12, 12] && t.layers[1].outputShape == [1, 50, 8, 8])
    }

    @Test func dscnnLayersAndBatchNormParams() throws {
        let g = try Graph.load(contentsOf: Fixtures.path("Examples/dscnn-mnist/model.onnx"))
        let t = try LayerTable(graph: g)
        #expect(t.layers.map(\.name) == ["features.0", "features.3", "features.6", "features.9", "features.12",
                                         "features.15", "features.18", "fc"])
        let dw = try #require(t.layer(named: "features.3"))
        #expect(dw.group == 32 && dw.weightShape == [32, 1, 3, 3])
        // BatchNorm: 4 vectors per BN layer (scale, bias, mean, var) over 32+32+64+64+128+128+128 channels.
        let bn = 4 * (32 + 32 + 64 + 64 + 128 + 128 + 128)
        #expect(t.modelParams == t.layerParams + bn)
        // A depthwise 3×3 conv costs C·9·H·W.
        #expect(dw.macs == 32 * 9 * dw.outputShape[2] * dw.outputShape[3])
    }
}

@Suite("Malformed and unsupported models")
struct BadModelTests {
    @Test(arguments: ["truncated.onnx", "garbage.onnx", "empty.onnx"])
    func rejected(_ file: String) {
        let path = Fixtures.badDir + "/" + file
        do {
            _ = try Graph.load(contentsOf: path)
            Issue.record("\(file) loaded")
        } catch {
            #expect(error.kind == .invalidModel)
            #expect(error.file == path)
            #expect(error.description.hasPrefix("\(path): not a valid ONNX model ("))
        }
    }

    /// Einsum is outside shape inference: its outputs stay unknown and the op is named.
    @Test func unsupportedOpsAreReported() throws {
        let g = try Graph.load(contentsOf: Fixtures.badDir + "/unsupported_op.onnx")
        let s = try g.inferShapes()
        #expect(s.unsupportedOps == ["Einsum"])
        #expect(try LayerTable(graph: g).layers.isEmpty)
    }

    /// Ops the engine does not run but shape inference knows (LpNormalization before a
    /// Conv, Sign after it): the model loads and its layer is costed.
    @Test func layerAfterAnOpTheEngineLacksIsCosted() throws {
        let g = try Graph.load(contentsOf: Fixtures.badDir + "/unsupported_before_layer.onnx")
        let s = try g.inferShapes(inputShapes: ["X": [1, 4, 7, 9]])
        #expect(s.unsupportedOps.isEmpty)
        let table = try LayerTable(graph: g, shapes: s)
        let conv = try #require(table.layer(named: "conv"))
        #expect(conv.outputShape == [1, 5, 7, 9])
        #expect(conv.params == 5 * 4 * 9 + 5)
        #expect(conv.macs == 5 * 7 * 9 * 4 * 9)
        #expect(s[g.outputs[0].name] == [1, 5, 7, 9])
    }

    /// Shape inference covers GELU as torch exports it (Div, Erf, Add, Mul).
    @Test func erfModelLoadsAndInfers() throws {
        let g = try Graph.load(contentsOf: Fixtures.path("Tests/Fixtures/onnx-ops/gelu_erf_chain.onnx"))
        let s = try g.inferShapes()
        #expect(s.unsupportedOps.isEmpty)
        #expect(s[g.outputs[0].name] == [2, 6])
    }

    /// Einsum is outside shape inference: named, not a crash.
    @Test func einsumIsReportedAsUnsupported() throws {
        let g = try Graph.load(contentsOf: Fixtures.badDir + "/unsupported_op.onnx")
        #expect(try g.inferShapes().unsupportedOps == ["Einsum"])
    }

    @Test func missingFile() {
        #expect(throws: GraphError(.unreadable, "no such file", file: "/nonexistent/m.onnx")) {
            try Graph.load(contentsOf: "/nonexistent/m.onnx")
        }
    }

    /// Every prefix of a real model either loads or throws a typed error; none crashes.
    @Test(arguments: [1, 2, 7, 100, 1000, 5000, 20_000, 100_000, 500_000, 1_000_000, 1_725_777])
    func truncatedLenet(_ length: Int) {
        guard let data = FileManager.default.contents(atPath: Fixtures.path("Examples/lenet-mnist/model.onnx")) else {
            Issue.record("fixture missing")
            return
        }
        do {
            _ = try Graph(serializedData: data.prefix(length), file: "lenet.onnx")
            Issue.record("a \(length)-byte prefix loaded")
        } catch {
            #expect(error.kind == .invalidModel)
        }
    }

    /// Every prefix of small models: loads (cut at a field boundary) or throws; whatever loads
    /// goes through ordering, shape inference, costing and saving without crashing.
    @Test(arguments: ["conv_bias.onnx", "mini_cnn.onnx", "shape_gather_reshape_chain.onnx", "constant_value_ints_reshape.onnx"])
    func everyPrefix(_ file: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.opsDir + "/" + file))
        for n in 0..<data.count {
            guard let g = try? Graph(serializedData: data.prefix(n)) else { continue }
            _ = try? g.topologicalOrder()
            _ = try? g.inferShapes()
            _ = try? LayerTable(graph: g)
            _ = try? g.serializedData()
        }
    }

    /// Corrupted bytes never crash the loader, shape inference or costing.
    @Test(arguments: Fixtures.opCases)
    func corruptedBytes(_ c: Fixtures.Manifest.Case) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.opsDir + "/" + c.model))
        var rng = SplitMix(seed: UInt64(original.count))
        for _ in 0..<50 {
            var data = original
            for _ in 0..<3 { data[Int(rng.next() % UInt64(data.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            guard let g = try? Graph(serializedData: data) else { continue }
            _ = try? g.topologicalOrder()
            _ = try? g.inferShapes()
            _ = try? LayerTable(graph: g)
            _ = try? g.serializedData()
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
