import Foundation
import Crypto
import ShrinkTensor

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

/// SHA-256 of bytes as lowercase hex.
func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
