import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// Deterministic values in [-1, 1).
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in 2 * rng.nextUnitFloat() - 1 })
}

/// A one-layer model `y = Conv(x)` with the given kernel and geometry on inputs [N, S, H, W].
func singleConvGraph(weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, input: [Int]) -> Graph {
    var graph = Graph(name: "single", opsets: [OpsetImport(domain: "", version: 13)])
    graph.inputs = [ValueInfo(name: "x", shape: [.symbol("N")] + input.map { .value($0) })]
    let out = g.outputSpatial(for: Array(input.dropFirst()))
    graph.outputs = [ValueInfo(name: "y", shape: [.symbol("N"), .value(weight.shape[0])] + out.map { .value($0) })]
    let w = graph.addInitializer(.float(weight), preferredName: "conv.weight")
    var inputs = ["x", w]
    if let bias { inputs.append(graph.addInitializer(.float(bias), preferredName: "conv.bias")) }
    graph.nodes = [Node(name: "conv", opType: "Conv", inputs: inputs, outputs: ["y"], attributes: [
        Attribute("dilations", .ints(g.dilations)), Attribute("group", .int(g.group)),
        Attribute("kernel_shape", .ints(g.kernel)), Attribute("pads", .ints(g.pads)), Attribute("strides", .ints(g.strides)),
    ])]
    return graph
}

/// A one-layer dense model: Gemm(x, B, C) with the given attributes, or MatMul(x, B) + Add(bias).
func singleDenseGraph(gemm: Bool, inFeatures n: Int, outFeatures m: Int, transB: Bool = true, alpha: Float = 1,
                      beta: Float = 1, rows: Int = 1, seed: UInt64 = 7) -> Graph {
    var graph = Graph(name: "dense", opsets: [OpsetImport(domain: "", version: 13)])
    let inShape: [Dim] = gemm || rows == 1 ? [.symbol("N"), .value(n)] : [.symbol("N"), .value(rows), .value(n)]
    graph.inputs = [ValueInfo(name: "x", shape: inShape)]
    graph.outputs = [ValueInfo(name: "y", shape: Array(inShape.dropLast()) + [.value(m)])]
    let b = randomTensor(transB ? [m, n] : [n, m], seed: seed)
    let w = graph.addInitializer(.float(gemm ? b : randomTensor([n, m], seed: seed)), preferredName: "fc.weight")
    let c = graph.addInitializer(.float(randomTensor(gemm ? [1, m] : [m], seed: seed + 1)), preferredName: "fc.bias")
    if gemm {
        graph.nodes = [Node(name: "fc", opType: "Gemm", inputs: ["x", w, c], outputs: ["y"], attributes: [
            Attribute("alpha", .float(alpha)), Attribute("beta", .float(beta)), Attribute("transB", .int(transB ? 1 : 0)),
        ])]
    } else {
        graph.nodes = [
            Node(name: "fc", opType: "MatMul", inputs: ["x", w], outputs: ["h"]),
            Node(name: "fc_bias", opType: "Add", inputs: ["h", c], outputs: ["y"]),
        ]
    }
    return graph
}

/// A geometry case for the runtime equivalence tests.
struct GeometryCase: Sendable, CustomTestStringConvertible {
    var kernel: [Int]
    var strides: [Int]
    var pads: [Int]
    var dilations: [Int]
    var input: [Int]
    var testDescription: String { "k\(kernel) s\(strides) p\(pads) d\(dilations) on \(input)" }
    var geometry: ConvGeometry { ConvGeometry(kernel: kernel, strides: strides, pads: pads, dilations: dilations) }
}

let geometryCases: [GeometryCase] = [
    GeometryCase(kernel: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], input: [11, 10]),
    GeometryCase(kernel: [3, 3], strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 1], input: [11, 10]),
    GeometryCase(kernel: [3, 3], strides: [1, 2], pads: [0, 2, 1, 1], dilations: [2, 1], input: [12, 13]),
    GeometryCase(kernel: [3, 3], strides: [3, 2], pads: [1, 1, 1, 1], dilations: [1, 2], input: [14, 9]),
]

/// Runs the single-layer graph before and after a decomposition on a fixed random batch and
/// returns the relative difference of the outputs.
func outputDifference(_ graph: Graph, choice: LayerChoice, batch: Int = 3, seed: UInt64 = 11) throws -> Double {
    let model = try ModelDecomposer.decompose(graph, choices: [choice], options: FitOptions(iterations: 3000, tolerance: 0))
    let shape = graph.inputs[0].shape?.compactMap(\.fixed) ?? []
    let x = randomTensor([batch] + shape, seed: seed)
    let before = try #require(try run(graph, ["x": x])["y"])
    let after = try #require(try run(model.graph, ["x": x])["y"])
    #expect(before.shape == after.shape)
    return relativeDifference(after, before)
}

@Suite("Graph rewrites run in Shrink's engine")
struct RewriteTests {
    @Test("full-rank svd, tucker2 and spatial-svd reproduce LeNet's layer outputs and logits", arguments: [
        ("fc1", MethodName.svd), ("fc2", .svd), ("conv1", .tucker2), ("conv2", .tucker2), ("conv1", .spatialSVD),
        ("conv2", .spatialSVD),
    ])
    func lenetFullRank(_ name: String, _ method: MethodName) throws {
        let lenet = try lenet()
        let layer = try lenet.layer(name)
        let ref = try lenet.reference(name)
        let choice = LayerChoice(layer: name, method: method, rank: .exact(method.method.fullRank(of: layer)))
        let model = try ModelDecomposer.decompose(lenet.graph, choices: [choice])
        let x = lenet.inputs(64)
        // Distinct names: the runtime refuses (traps on) a repeated output name.
        let wanted = Array(Set([ref.output, "logits"]))
        let before = try run(lenet.graph, ["input": x], outputs: wanted)
        let after = try run(model.graph, ["input": x], outputs: wanted)
        #expect(relativeDifference(try #require(after[ref.output]), try #require(before[ref.output])) < 1e-4)
        #expect(relativeDifference(try #require(after["logits"]), try #require(before["logits"])) < 1e-4)
        #expect(model.warnings.contains { $0.contains("does not save") })
    }

    @Test("per-axis stride, padding and dilation: full-rank tucker2 and spatial-svd", arguments: geometryCases)
    func geometryFullRank(_ c: GeometryCase) throws {
        let weight = randomTensor([12, 8] + c.kernel, seed: 3)
        let graph = singleConvGraph(weight: weight, bias: randomTensor([12], seed: 4), geometry: c.geometry, input: [8] + c.input)
        let tucker = LayerChoice(layer: "conv", method: .tucker2, rank: .exact(.tucker(out: 12, in: 8)))
        let spatial = LayerChoice(layer: "conv", method: .spatialSVD, rank: .exact(Rank(24)))
        #expect(try outputDifference(graph, choice: tucker) < 1e-4)
        #expect(try outputDifference(graph, choice: spatial) < 1e-4)
    }

    @Test("cp and cp4 on kernels of known CP rank, across geometries", arguments: geometryCases)
    func geometryCP(_ c: GeometryCase) throws {
        let k4 = try npy(Paths.linalg.appendingPathComponent("cp_synthetic_4way_r5.npy")).reshaped([16, 12, 3, 3])
        let k3 = try npy(Paths.linalg.appendingPathComponent("cp_synthetic_3way_r6.npy")).reshaped([16, 12, 3, 3])
        let bias = randomTensor([16], seed: 5)
        let g4 = singleConvGraph(weight: k4, bias: bias, geometry: c.geometry, input: [12] + c.input)
        let g3 = singleConvGraph(weight: k3, bias: bias, geometry: c.geometry, input: [12] + c.input)
        #expect(try outputDifference(g4, choice: LayerChoice(layer: "conv", method: .cp4, rank: .exact(Rank(5)))) < 1e-4)
        #expect(try outputDifference(g3, choice: LayerChoice(layer: "conv", method: .cp, rank: .exact(Rank(6)))) < 1e-4)
    }

    @Test("svd respects Gemm transB, alpha and beta, and MatMul + Add on 3-D inputs", arguments: [
        (true, false, Float(0.5), Float(2), 1), (true, true, 1.5, 1, 1), (false, true, 1, 1, 5),
    ])
    func denseVariants(_ gemm: Bool, _ transB: Bool, _ alpha: Float, _ beta: Float, _ rows: Int) throws {
        let graph = singleDenseGraph(gemm: gemm, inFeatures: 24, outFeatures: 18, transB: transB, alpha: alpha, beta: beta, rows: rows)
        #expect(try outputDifference(graph, choice: LayerChoice(layer: "fc", method: .svd, rank: .exact(Rank(18)))) < 1e-4)
        let model = try ModelDecomposer.decompose(graph, choices: [LayerChoice(layer: "fc", method: .svd, rank: .exact(Rank(6)))])
        let table = try LayerTable(graph: model.graph)
        #expect(table.layers.map(\.name) == ["fc.0", "fc.1"])
        #expect(model.after == LayerCost(params: table.modelParams, macs: table.totalMACs))
        #expect(model.after.macs == 6 * (24 + 18) * rows)
    }

    @Test("keep leaves the graph as it was")
    func keep() throws {
        let lenet = try lenet()
        let model = try ModelDecomposer.decompose(lenet.graph, choices: [LayerChoice(layer: "conv2", method: .keep, rank: .exact(.none))])
        #expect(model.graph.nodes == lenet.graph.nodes)
        #expect(model.before == model.after)
    }

    @Test("unknown layers and double choices are typed errors")
    func badChoices() throws {
        let lenet = try lenet()
        do {
            _ = try ModelDecomposer.decompose(lenet.graph, choices: [LayerChoice(layer: "conv3", method: .cp, rank: .exact(Rank(4)))])
            Issue.record("accepted conv3")
        } catch {
            #expect(error.kind == .layerNotFound && error.hint == "did you mean `conv1`?")
        }
        let twice = [LayerChoice(layer: "fc1", method: .svd, rank: .exact(Rank(4))),
                     LayerChoice(layer: "fc1", method: .svd, rank: .exact(Rank(8)))]
        #expect(throws: DecompositionError.self) { try ModelDecomposer.decompose(lenet.graph, choices: twice) }
    }
}

/// The fixed LeNet choices used for cost checks and ONNX fixtures.
let lenetChoiceSets: [(String, [String])] = [
    ("lenet_cp", ["conv2=cp:16"]),
    ("lenet_cp4", ["conv2=cp4:16", "conv1=spatial-svd:2"]),
    ("lenet_tucker2", ["conv1=tucker2:8,1", "conv2=tucker2:16,8"]),
    ("lenet_spatial", ["conv1=spatial-svd:3", "conv2=spatial-svd:10"]),
    ("lenet_svd", ["fc1=svd:32", "fc2=svd:5"]),
    ("lenet_mixed", ["conv1=tucker2:6,1", "conv2=tucker2:20,10", "fc1=svd:0.1", "fc2=keep"]),
]

@Suite("Costs are exact")
struct ExactCostTests {
    @Test("the descriptors' costs equal the graph's layer table")
    func descriptorsMatchTable() throws {
        let lenet = try lenet()
        for ref in lenet.references {
            #expect(try lenet.layer(ref.name).cost == ref.cost, "\(ref.name)")
        }
    }

    @Test("stage params equal the saved initializers; MACs and totals equal the rewritten layer table",
          arguments: lenetChoiceSets.map(\.0))
    func stagesMatchSavedModel(_ setName: String) throws {
        let lenet = try lenet()
        let choices = try #require(lenetChoiceSets.first { $0.0 == setName }).1.map { try LayerChoice(parsing: $0) }
        let model = try ModelDecomposer.decompose(lenet.graph, choices: choices)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-\(setName)-\(UUID()).onnx").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.graph.save(to: path)
        let saved = try Graph.load(contentsOf: path)
        let table = try LayerTable(graph: saved)
        for d in model.layers where d.method != .keep {
            for stage in d.stages {
                let name = "\(d.layer).\(stage.shape.suffix)"
                let weight = try #require(saved.initializers["\(name).weight"], "\(name).weight")
                let bias = saved.initializers["\(name).bias"]
                #expect(weight.count + (bias?.count ?? 0) == stage.shape.cost.params, "\(name)")
                #expect(weight.shape == stage.shape.weightShape)
                let row = try #require(table.layer(named: name), "layer table has no \(name)")
                #expect(row.params == stage.shape.cost.params && row.macs == stage.shape.cost.macs, "\(name)")
                // An independent count from the table's shapes: out·(in/group)·k·positions.
                let positions = row.outputShape.dropFirst(2).reduce(1, *)
                #expect(row.macs == row.weightShape.reduce(1, *) * positions, "\(name)")
            }
            #expect(d.cost == d.stages.map(\.shape.cost).total())
        }
        #expect(model.after == LayerCost(params: table.modelParams, macs: table.totalMACs))
        let original = try LayerTable(graph: lenet.graph)
        #expect(model.before == LayerCost(params: original.modelParams, macs: original.totalMACs))
        // The saved model runs and names its stages as documented.
        let x = lenet.inputs(8)
        let a = try #require(try run(model.graph, ["input": x])["logits"])
        let b = try #require(try run(saved, ["input": x])["logits"])
        // Same graph, same weights; OpenBLAS may round differently when tests running in
        // parallel change its process-wide thread count, so allow float rounding, nothing more.
        #expect(relativeDifference(a, b) <= 1e-6)
        #expect(saved.nodes.allSatisfy { ["Conv", "Gemm", "MatMul", "Relu", "MaxPool", "Flatten", "Add"].contains($0.opType) })
    }
}
