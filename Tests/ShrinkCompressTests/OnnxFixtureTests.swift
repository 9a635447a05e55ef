import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// Decomposed models checked by onnx.checker and onnxruntime
/// (Tests/Fixtures/decompose/check_with_onnxruntime.py), with ORT's outputs committed.
enum OnnxFixtures {
    static let dir = Paths.decompose.appendingPathComponent("models")
    static let regenerate = ProcessInfo.processInfo.environment["SHRINK_REGENERATE_FIXTURES"] == "1"

    /// One fixture model: a graph, its decomposition choices, and how to feed it.
    struct Case {
        var name: String
        var graph: Graph
        var choices: [String]
        var fitToData: Bool
        var input: Tensor
    }

    static func cases() throws -> [Case] {
        let lenet = try lenet()
        // LeNet models weigh ~1.6 MB each (fc1); spatial-svd and tucker2 are also covered below
        // by the small geometry models, so only these LeNet sets are kept as files.
        let kept: Set<String> = ["lenet_cp", "lenet_cp4", "lenet_mixed"]
        var out: [Case] = lenetChoiceSets.filter { kept.contains($0.0) }.map { name, choices in
            Case(name: name, graph: lenet.graph, choices: choices, fitToData: false, input: lenet.inputs(16))
        }
        out.append(Case(name: "lenet_data_aware", graph: lenet.graph,
                        choices: ["conv2=cp4:8", "conv1=spatial-svd:2", "fc1=svd:16", "fc2=svd:4"],
                        fitToData: true, input: lenet.inputs(16)))
        for (i, g) in geometryCases.enumerated() {
            let graph = singleConvGraph(weight: randomTensor([12, 8] + g.kernel, seed: 20 + UInt64(i)),
                                        bias: randomTensor([12], seed: 30 + UInt64(i)), geometry: g.geometry, input: [8] + g.input)
            let x = randomTensor([2, 8] + g.input, seed: 40 + UInt64(i))
            for choice in ["cp:5", "cp4:5", "tucker2:6,4", "spatial-svd:7"] {
                let method = choice.split(separator: ":")[0]
                out.append(Case(name: "geometry\(i)_\(method)", graph: graph, choices: ["conv=\(choice)"], fitToData: false, input: x))
            }
        }
        for (name, graph, rows) in [("gemm_transb0_alpha_beta", singleDenseGraph(gemm: true, inFeatures: 24, outFeatures: 18, transB: false, alpha: 0.5, beta: 2), 1),
                                    ("matmul_add_3d", singleDenseGraph(gemm: false, inFeatures: 24, outFeatures: 18, rows: 5), 5)] {
            let x = randomTensor(rows == 1 ? [3, 24] : [3, rows, 24], seed: 50)
            out.append(Case(name: name, graph: graph, choices: ["fc=svd:6"], fitToData: false, input: x))
        }
        return out
    }

    static func inputName(_ graph: Graph) -> String { graph.dataInputs.first?.name ?? "input" }
}

@Suite("ONNX fixtures")
struct OnnxFixtureTests {
    @Test("regenerate the decomposed-model fixtures (SHRINK_REGENERATE_FIXTURES=1)",
          .enabled(if: OnnxFixtures.regenerate))
    func regenerate() throws {
        try FileManager.default.createDirectory(at: OnnxFixtures.dir, withIntermediateDirectories: true)
        let lenet = try lenet()
        for c in try OnnxFixtures.cases() {
            let choices = try c.choices.map { try LayerChoice(parsing: $0) }
            var stats: [String: ActivationStatistics] = [:]
            if c.fitToData {
                for choice in choices { stats[choice.layer] = try lenet.statistics(choice.layer) }
            }
            let model = try ModelDecomposer.decompose(c.graph, choices: choices, statistics: stats, fitToActivations: c.fitToData)
            try model.graph.save(to: OnnxFixtures.dir.appendingPathComponent("\(c.name).onnx").path)
            try NPZ.write([OnnxFixtures.inputName(c.graph): NumPyArray(c.input)],
                          to: OnnxFixtures.dir.appendingPathComponent("\(c.name).input.npz"))
        }
    }

    @Test("Shrink's engine matches onnxruntime on the committed decomposed models")
    func matchesOnnxruntime() throws {
        let resultsURL = OnnxFixtures.dir.appendingPathComponent("results.json")
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: resultsURL)) as? [String: Any] ?? [:]
        let models = results["models"] as? [String: [String: Any]] ?? [:]
        let expected = try OnnxFixtures.cases().map(\.name)
        #expect(Set(models.keys) == Set(expected), "results.json is stale: rerun the regeneration and the Python check")
        for name in expected.sorted() {
            guard let entry = models[name] else { continue }
            #expect(entry["checker"] as? String == "ok", "\(name): \(entry["checker"] ?? "-")")
            let graph = try Graph.load(contentsOf: OnnxFixtures.dir.appendingPathComponent("\(name).onnx").path)
            let feeds = try npz(OnnxFixtures.dir.appendingPathComponent("\(name).input.npz")).mapValues { $0.tensor() }
            let ort = try npz(OnnxFixtures.dir.appendingPathComponent("\(name).ort.npz")).mapValues { $0.tensor() }
            let ours = try run(graph, feeds, outputs: Array(ort.keys))
            for (output, reference) in ort {
                let mine = try #require(ours[output])
                #expect(mine.shape == reference.shape)
                #expect(relativeDifference(mine, reference) < 1e-4, "\(name) \(output): \(relativeDifference(mine, reference))")
            }
        }
    }
}
