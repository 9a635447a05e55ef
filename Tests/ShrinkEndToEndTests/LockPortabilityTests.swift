import Foundation
import Testing

/// The lock file pins inputs and decisions, not float bytes, so one written on one CPU checks clean
/// on another, and a fresh clone checks it without computing anything.
@Suite(.serialized) struct LockPortabilityTests {
    /// A copy of the repository's bundled pipeline: `pipelines/` (with its recipe and, if asked,
    /// the committed lock) and `Examples/lenet-mnist/`, under a folder with `.git`.
    static func bundled(withLock: Bool) throws -> URL {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("shrink-lock-\(UUID().uuidString)")
        try fm.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("pipelines/recipes"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("Examples/lenet-mnist"), withIntermediateDirectories: true)
        var files = ["pipelines/lenet-mnist.yaml", "pipelines/recipes/lowrank-cnn.yaml",
                     "Examples/lenet-mnist/model.onnx", "Examples/lenet-mnist/val.npz", "Examples/lenet-mnist/calib.npz"]
        if withLock { files.append("pipelines/lenet-mnist.lock") }
        for f in files { try fm.copyItem(at: packageRoot.appendingPathComponent(f), to: root.appendingPathComponent(f)) }
        return root
    }

    static let pipeline = "pipelines/lenet-mnist.yaml"

    /// The checked-in lock of the bundled pipeline is what CI's `status --check` sees in a fresh
    /// clone: clean without a cache (and without making one); an edited input makes it stale,
    /// named, exit 4.
    @Test func committedLockChecksCleanInAFreshClone() throws {
        let box = try Self.bundled(withLock: true)
        defer { try? FileManager.default.removeItem(at: box) }
        let clean = try Shrink.run(["status", Self.pipeline, "--check"], cwd: box)
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.appendingPathComponent(".shrink").path))

        try Data("# a comment changes the bytes\n".utf8).append(to: box.appendingPathComponent("pipelines/recipes/lowrank-cnn.yaml"))
        let stale = try Shrink.run(["status", Self.pipeline, "--check"], cwd: box)
        #expect(stale.status == 4)
        #expect(stale.stdout.contains("pipelines/recipes/lowrank-cnn.yaml changed"), "\(stale.stdout)")
    }

    /// The bundled pipeline under two OpenBLAS kernels (in subprocesses: the variable is read when
    /// OpenBLAS loads): the same ranks, and each lock checks clean under the other kernel, with the
    /// other's cache (decisions and metrics compared) and in a fresh clone (inputs only).
    @Test func decisionsAndLocksHoldAcrossOpenBLASKernels() throws {
        let kernels = ["Haswell", "Sandybridge"]
        let boxes = try kernels.map { _ in try Self.bundled(withLock: false) }
        let fresh = try Self.bundled(withLock: false)
        defer { for b in boxes + [fresh] { try? FileManager.default.removeItem(at: b) } }
        // Concurrently, one core each: the same CPU time as one after the other, half the wait.
        let started = try zip(kernels, boxes).map { k, box in
            try Shrink.start(["run", Self.pipeline, "--json", "--jobs", "1"], cwd: box, env: ["OPENBLAS_CORETYPE": k])
        }
        let runs = started.map { Shrink.finish($0.0, $0.1, $0.2) }
        for (k, r) in zip(kernels, runs) {
            #expect(r.status == 0, "\(k): \(r.stderr)")
            // The bundled pipeline runs clean: no warning a newcomer has to wonder about.
            #expect(!r.stderr.contains("warning"), "\(k): \(r.stderr)")
        }
        func layers(_ r: Shrink.Outcome) -> [String: [String: String]] {
            var out: [String: [String: String]] = [:]
            for t in r.json?["targets"] as? [[String: Any]] ?? [] {
                out[t["target"] as? String ?? "?"] = t["layers"] as? [String: String]
            }
            return out
        }
        #expect(layers(runs[0]).count == 2)
        #expect(layers(runs[0]) == layers(runs[1]))

        let locks = try boxes.map { try Data(contentsOf: $0.appendingPathComponent("pipelines/lenet-mnist.lock")) }
        for (i, k) in kernels.enumerated() {
            let other = locks[1 - i], box = boxes[i]
            // The other kernel's lock, against this kernel's cache: decisions and metrics compared.
            try other.write(to: box.appendingPathComponent("pipelines/lenet-mnist.lock"))
            let check = try Shrink.run(["status", Self.pipeline, "--check"], cwd: box, env: ["OPENBLAS_CORETYPE": k])
            #expect(check.status == 0, "\(kernels[1 - i])'s lock under \(k): \(check.stdout)")
            // In a fresh clone (no cache): inputs only, nothing computed.
            try other.write(to: fresh.appendingPathComponent("pipelines/lenet-mnist.lock"))
            let clone = try Shrink.run(["status", Self.pipeline, "--check"], cwd: fresh, env: ["OPENBLAS_CORETYPE": k])
            #expect(clone.status == 0, "\(kernels[1 - i])'s lock in a fresh clone under \(k): \(clone.stdout)")
        }
    }
}

extension Data {
    /// Appends these bytes to the file at `url`.
    func append(to url: URL) throws {
        let h = try FileHandle(forWritingTo: url)
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: self)
    }
}
