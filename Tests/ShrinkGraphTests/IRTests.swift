import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing

@Suite("Graph IR")
struct IRTests {
    static let tensorValues: [TensorValue] = [
        .float(Tensor(shape: [2, 3], scalars: [1, -2, 3.5, .infinity, 0, -0])),
        .float(Tensor(shape: [], scalars: [42])),
        .float(Tensor(shape: [0, 4], scalars: [])),
        .double(shape: [3], values: [1e-300, 2.5, -7]),
        .int64(shape: [2], values: [-1, Int64.max]),
        .int32(shape: [2, 1], values: [Int32.min, 5]),
        .int8(shape: [3], values: [-128, 0, 127]),
        .uint8(shape: [2], values: [0, 255]),
        .bool(shape: [3], values: [true, false, true]),
    ]

    /// Every payload type survives save → load through the protobuf encoding.
    @Test(arguments: tensorValues)
    func initializerRoundTrip(_ value: TensorValue) throws {
        var g = Graph()
        g.setInitializer("t", value)
        g.outputs = [ValueInfo(name: "t", elementType: value.elementType, shape: value.shape.map { .value($0) })]
        let back = try Graph(serializedData: g.serializedData())
        #expect(back.initializers["t"] == value)
        #expect(back.outputs == g.outputs)
    }

    @Test func attributesRoundTrip() throws {
        let attrs: [Attribute] = [
            Attribute("i", .int(-3)), Attribute("f", .float(0.25)), Attribute("s", .string("SAME_UPPER")),
            Attribute("is", .ints([1, 2, 3])), Attribute("fs", .floats([0.5, 1.5])),
            Attribute("ss", .strings(["a", "b"])), Attribute("t", .tensor(.int64Vector([1, -1]))),
        ]
        var g = Graph()
        g.inputs = [Build.input("x", [.symbol("N"), .value(3)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [Node(name: "n", opType: "Custom", domain: "my.domain", inputs: ["x", ""], outputs: ["y"], attributes: attrs)]
        let back = try Graph(serializedData: g.serializedData())
        #expect(back.nodes == g.nodes)
        #expect(back.inputs == g.inputs)
        let n = back.nodes[0]
        #expect(try n.int("i") == -3)
        #expect(try n.string("s") == "SAME_UPPER")
        #expect(try n.ints("is") == [1, 2, 3])
        #expect(try n.float("i") == -3)
        #expect(try n.tensor("t")?.intValues == [1, -1])
        #expect(try n.int("missing", default: 7) == 7)
        #expect(n.input(1) == nil)
        #expect(throws: GraphError.self) { try n.ints("i") }
    }

    /// Fields the IR does not model (metadata, doc strings, unknown fields) survive an edit.
    @Test func unmodelledFieldsSurviveEdits() throws {
        let g0 = Build.lenet()
        var proto = g0.modelProto()
        proto.docString = "model doc"
        var meta = Onnx_StringStringEntryProto()
        meta.key = "author"
        meta.value = "tests"
        proto.metadataProps = [meta]
        proto.graph.node[0].docString = "first conv"
        proto.graph.initializer[0].docString = "conv1 weights"
        // Protobuf concatenation merges: this appends field 127 (varint 1), unknown to onnx.proto.
        var bytes: Data = try proto.serializedBytes()
        bytes.append(contentsOf: [0xF8, 0x07, 0x01])
        var g = try Graph(serializedData: bytes)
        #expect(g.metadata == ["author": "tests"])
        // Edit: rename a value and replace the fc2 weight.
        g.setInitializer("fc2.weight", Build.weight([10, 500], seed: 0.2))
        g.nodes[6].outputs = ["relu_out"]
        g.nodes[7].inputs[0] = "relu_out"
        let out = try Onnx_ModelProto(serializedBytes: g.serializedData())
        #expect(out.docString == "model doc")
        #expect(out.metadataProps == [meta])
        #expect(out.graph.node[0].docString == "first conv")
        #expect(out.graph.initializer[0].docString == "conv1 weights")
        #expect(Array(out.unknownFields.data) == [0xF8, 0x07, 0x01])
        #expect(out.graph.node[7].input[0] == "relu_out")
    }

    @Test func saveIsAtomicAndReloads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-graph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.onnx").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let g = Build.lenet()
        try g.save(to: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.onnx"])
        let back = try Graph.load(contentsOf: path)
        #expect(back.nodes == g.nodes && back.initializers == g.initializers)
        #expect(throws: GraphError.self) { try g.save(to: dir.appendingPathComponent("no/such/dir/m.onnx").path) }
    }

    @Test func externalDataIsAClearError() throws {
        var proto = Build.lenet().modelProto()
        proto.graph.initializer[0].dataLocation = .external
        proto.graph.initializer[0].clearRawData()
        let data: Data = try proto.serializedBytes()
        do {
            _ = try Graph(serializedData: data, file: "big.onnx")
            Issue.record("loaded")
        } catch {
            #expect(error.kind == .unsupported)
            #expect(error.description.hasPrefix("big.onnx: initializer 'conv1.weight' keeps its data in an external file"))
            #expect(error.hint?.contains("save_as_external_data=False") == true)
        }
    }

    /// If branches load as graphs, read enclosing values as implicit inputs, order the If after
    /// their producers, and survive a save/load round trip.
    @Test func subgraphAttributesLoadAndRoundTrip() throws {
        var branch = Onnx_GraphProto()
        branch.name = "then"
        var neg = Onnx_NodeProto()
        neg.opType = "Neg"
        neg.input = ["r"]
        neg.output = ["n"]
        branch.node = [neg]
        var out = Onnx_ValueInfoProto()
        out.name = "n"
        branch.output = [out]
        var proto = Build.lenet().modelProto()
        var node = Onnx_NodeProto()
        node.opType = "If"
        node.name = "branchy"
        node.input = ["cond"]
        node.output = ["b"]
        for name in ["then_branch", "else_branch"] {
            var a = Onnx_AttributeProto()
            a.name = name
            a.type = .graph
            a.g = branch
            node.attribute.append(a)
        }
        proto.graph.node.insert(node, at: 0)  // before the producer of `r`
        var cond = Onnx_ValueInfoProto()
        cond.name = "cond"
        proto.graph.input.append(cond)
        let g = try Graph(model: proto)
        let ifNode = try #require(g.nodes.first { $0.opType == "If" })
        #expect(ifNode.implicitInputs == ["r"])
        #expect(try ifNode.graph("then_branch")?.nodes.map(\.opType) == ["Neg"])
        let order = try g.topologicalOrder()
        let rProducer = try #require(g.producerIndex(of: "r"))
        #expect(order.firstIndex(of: 0)! > order.firstIndex(of: rProducer)!)
        let again = try Graph(serializedData: try g.serializedData())
        #expect(again == g)
        var dangling = g
        dangling.nodes.remove(at: rProducer)
        #expect { try dangling.topologicalOrder() } throws: { ($0 as? GraphError)?.kind == .danglingInput }
    }

    @Test func topologicalOrderRestoresShuffledNodes() throws {
        var g = Build.lenet()
        let expected = g.nodes
        g.nodes.reverse()
        try g.sortTopologically()
        #expect(g.nodes == expected)
    }

    @Test func cycleAndDanglingInputAreErrors() {
        var g = Build.lenet()
        g.nodes[0].inputs[0] = "r" // conv1 now reads relu output: a cycle
        #expect { try g.topologicalOrder() } throws: { ($0 as? GraphError)?.kind == .cycle }
        var h = Build.lenet()
        h.nodes[2].inputs[0] = "nowhere"
        #expect { try h.topologicalOrder() } throws: { error in
            guard let e = error as? GraphError else { return false }
            return e.kind == .danglingInput && e.message.contains("'nowhere'")
        }
    }

    /// The rewrite decomposition performs: Conv → three Convs with new initializers.
    @Test func replaceNodeByChain() throws {
        var g = Build.lenet()
        let i = try #require(g.nodeIndex(named: "/conv2/Conv"))
        let a = g.addInitializer(Build.weight([8, 20, 1, 1]), preferredName: "conv2.weight")
        let b = g.addInitializer(Build.weight([8, 8, 5, 5]), preferredName: "conv2.core")
        let c = g.addInitializer(Build.weight([50, 8, 1, 1]), preferredName: "conv2.core")
        #expect(a == "conv2.weight_1" && b == "conv2.core" && c == "conv2.core_1")
        let m1 = g.uniqueName("conv2_mid"), m2 = g.uniqueName("conv2_mid")
        #expect(m1 != m2)
        try g.replaceNode(at: i, with: [
            Build.conv("conv2_a", "p1", a, nil, m1),
            Build.conv("conv2_b", m1, b, nil, m2),
            Build.conv("conv2_c", m2, c, "conv2.bias", "c2"),
        ])
        g.removeInitializer("conv2.weight")
        #expect(g.removeUnusedInitializers().isEmpty)
        #expect(g.initializerNames.last == c)
        _ = try g.topologicalOrder()
        let t = try LayerTable(graph: g)
        #expect(t.layers.map(\.name) == ["conv1", "conv2.weight_1", "conv2.core", "conv2.core_1", "fc1", "fc2"])
        #expect(try g.inferShapes()["c2"] == [1, 50, 8, 8])
        // A chain that drops a used output is refused.
        #expect(throws: GraphError.self) {
            try g.replaceNode(named: "conv2_c", with: [Build.conv("x", m2, c, nil, "other")])
        }
    }

    @Test func legacyInitializersListedAsInputs() throws {
        var g = Build.lenet()
        g.inputs.append(ValueInfo(name: "conv1.weight", shape: [.value(20), .value(1), .value(5), .value(5)]))
        #expect(g.dataInputs.map(\.name) == ["x"])
        g.removeInitializer("conv1.weight")
        #expect(g.inputs.map(\.name) == ["x"])
    }
}
