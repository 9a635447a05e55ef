import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The package root, from this file's location.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs the `shrink` executable built beside the test bundle.
enum Shrink {
    struct Outcome {
        var status: Int32
        var killed: Bool
        var stdout: String
        var stderr: String
        var json: [String: Any]? {
            guard let line = stdout.split(separator: "\n").last else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
        var executed: Int { json?["executed"] as? Int ?? -1 }
        var cached: Int { json?["cached"] as? Int ?? -1 }
    }

    static var executable: URL {
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
        return me.deletingLastPathComponent().appendingPathComponent("shrink")
    }

    static func start(_ args: [String], cwd: URL, env: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.currentDirectoryURL = cwd
        var e = ProcessInfo.processInfo.environment
        e.removeValue(forKey: "SHRINK_TEST_KILL_AT")
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    static func finish(_ p: Process, _ out: Pipe, _ err: Pipe) -> Outcome {
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, killed: p.terminationReason == .uncaughtSignal,
                       stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func run(_ args: [String], cwd: URL, env: [String: String] = [:]) throws -> Outcome {
        let (p, o, e) = try start(args, cwd: cwd, env: env)
        return finish(p, o, e)
    }
}

/// A throwaway repository holding the bundled LeNet model, a small slice of its data and a pipeline.
struct Sandbox {
    let root: URL

    /// `evalSamples` images of the held-out set; `pipeline` is the YAML text.
    init(pipeline: String, evalSamples: Int = 200, calibration: Bool = false) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-e2e-\(UUID().uuidString)")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("pipelines"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("model"), withIntermediateDirectories: true)
        let example = packageRoot.appendingPathComponent("Examples/lenet-mnist")
        try fm.copyItem(at: example.appendingPathComponent("model.onnx"), to: root.appendingPathComponent("model/model.onnx"))
        let val = try NPZ.read(example.appendingPathComponent("val.npz"))
        func head(_ a: NumPyArray, _ n: Int) throws -> NumPyArray {
            var shape = a.shape
            shape[0] = n
            let per = a.count / a.shape[0] * a.dtype.itemSize
            return try NumPyArray(dtype: a.dtype, shape: shape, bytes: a.bytes.prefix(n * per))
        }
        try NPZ.write(["x": try head(val["x"]!, evalSamples), "y": try head(val["y"]!, evalSamples)],
                      to: root.appendingPathComponent("model/val.npz"))
        if calibration {
            try fm.copyItem(at: example.appendingPathComponent("calib.npz"), to: root.appendingPathComponent("model/calib.npz"))
        }
        try write(pipeline, to: "pipelines/p.yaml")
    }

    func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: root.appendingPathComponent(path), options: .atomic)
    }

    func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    func run(_ extra: [String] = [], env: [String: String] = [:]) throws -> Shrink.Outcome {
        try Shrink.run(["run", "pipelines/p.yaml", "--json"] + extra, cwd: root, env: env)
    }

    /// Every exported file's bytes, by path.
    func outputs() throws -> [String: Data] {
        var out: [String: Data] = [:]
        let dir = root.appendingPathComponent("out")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] {
            out[name] = try Data(contentsOf: dir.appendingPathComponent(name))
        }
        out["p.lock"] = try? Data(contentsOf: url("pipelines/p.lock"))
        return out
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// A pipeline with fixed ranks: every stage kind but the search, fast on 200 images.
let fixedPipeline = """
shrink: 1
name: e2e
model: ../model/model.onnx
data:
  eval: ../model/val.npz
metric: top1
accept: { max_drop: 0.05 }
rules:
  - match: { name: conv2 }
    method: tucker2
    rank: [16, 8]
  - match: { name: fc1 }
    method: svd
    rank: 32
export:
  onnx: ../out/e2e.onnx
  report: ../out/e2e.md
"""

/// Shrink's engine on an exported model against onnxruntime's scores for the same samples
/// (committed by the fixture scripts, measured on the export of the machine that made them).
///
/// Exports differ between CPUs in their last bits (OpenBLAS rounds differently per kernel), so the
/// comparison is by value: every score within `1e-4 · max(1, max|reference|)`, and the predicted
/// class the same except on near-ties (the reference's two best scores closer than twice that).
struct ScoreComparison {
    /// The largest |Shrink − onnxruntime| over all scores, and the tolerance it must stay within.
    var maxDifference: Float, tolerance: Float
    /// Samples whose predicted class differs, and how many of them are not near-ties.
    var disagreements: Int, disagreementsOutsideTies: Int
    /// Samples compared.
    var samples: Int

    /// Runs `model` on `inputs` and compares its scores output with `reference` ([samples, classes]).
    init(model: URL, inputs: Tensor, reference: Tensor) throws {
        let session = try Session(graph: try Graph.load(contentsOf: model.path), options: SessionOptions(threads: 2))
        let scores = try #require(try session.run(from: [session.inputs[0].name: inputs], outputs: [session.scoresOutput])[session.scoresOutput])
        try #require(scores.shape == reference.shape, "scores \(scores.shape), onnxruntime \(reference.shape)")
        let n = reference.shape[0], classes = reference.shape[1]
        tolerance = 1e-4 * max(1, reference.scalars.map(abs).max() ?? 0)
        maxDifference = zip(scores.scalars, reference.scalars).map { abs($0 - $1) }.max() ?? 0
        samples = n
        disagreements = 0
        disagreementsOutsideTies = 0
        for i in 0..<n {
            let a = Array(scores.scalars[(i * classes)..<((i + 1) * classes)]), r = Array(reference.scalars[(i * classes)..<((i + 1) * classes)])
            let best = r.indices.max { r[$0] < r[$1] || (r[$0] == r[$1] && $0 > $1) }!
            let mine = a.indices.max { a[$0] < a[$1] || (a[$0] == a[$1] && $0 > $1) }!
            guard best != mine else { continue }
            disagreements += 1
            let second = r.indices.filter { $0 != best }.map { r[$0] }.max() ?? -.infinity
            if r[best] - second > 2 * tolerance { disagreementsOutsideTies += 1 }
        }
    }
}

/// Two exported models compared by value, never by bytes (float bytes differ between CPUs): the
/// same nodes in order, the same initializers, every float weight within
/// `1e-5 · max(1, |reference|)`.
func expectSameModel(_ a: URL, _ b: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let ga = try Graph.load(contentsOf: a.path), gb = try Graph.load(contentsOf: b.path)
    #expect(ga.nodes.map(\.opType) == gb.nodes.map(\.opType), "\(a.lastPathComponent): nodes", sourceLocation: sourceLocation)
    #expect(ga.initializerNames == gb.initializerNames, "\(a.lastPathComponent): initializers", sourceLocation: sourceLocation)
    for name in ga.initializerNames {
        guard let ta = ga.initializers[name]?.floatTensor, let tb = gb.initializers[name]?.floatTensor else {
            #expect(ga.initializers[name] == gb.initializers[name], "\(name)", sourceLocation: sourceLocation)
            continue
        }
        #expect(ta.shape == tb.shape, "\(name)", sourceLocation: sourceLocation)
        let worst = zip(ta.scalars, tb.scalars).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
        #expect(worst <= 1e-5, "\(name): max relative difference \(worst)", sourceLocation: sourceLocation)
    }
}

/// Two run reports (`export.report`'s `.json`) compared by decisions and values: the same layers
/// (method, rank, costs) and passed flag, metrics within 1e-9.
func expectSameReport(_ a: URL, _ b: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let ra = try JSONSerialization.jsonObject(with: Data(contentsOf: a)) as? [String: Any] ?? [:]
    let rb = try JSONSerialization.jsonObject(with: Data(contentsOf: b)) as? [String: Any] ?? [:]
    #expect(!ra.isEmpty, "\(a.path)", sourceLocation: sourceLocation)
    #expect(ra["passed"] as? Bool == rb["passed"] as? Bool && ra["samples"] as? Int == rb["samples"] as? Int, sourceLocation: sourceLocation)
    // Per layer the decisions and exact costs; fitting errors are floats and are not compared.
    func decisions(_ r: [String: Any]) -> [String] {
        (r["layers"] as? [[String: Any]] ?? []).map { l in
            let after = l["after"] as? [String: Any]
            return [l["name"] as? String ?? "-", l["method"] as? String ?? "-", "\(l["rank"] as? [Int] ?? [])",
                    "\(after?["params"] as? Int ?? -1)", "\(after?["macs"] as? Int ?? -1)"].joined(separator: " ")
        }
    }
    #expect(!decisions(ra).isEmpty && decisions(ra) == decisions(rb), "layers", sourceLocation: sourceLocation)
    for key in ["baseline", "final", "searchBaseline", "searchFinal"] {
        let va = try #require(ra[key] as? Double, "\(key)", sourceLocation: sourceLocation), vb = try #require(rb[key] as? Double, sourceLocation: sourceLocation)
        #expect(abs(va - vb) <= 1e-9, "\(key): \(va) vs \(vb)", sourceLocation: sourceLocation)
    }
}

