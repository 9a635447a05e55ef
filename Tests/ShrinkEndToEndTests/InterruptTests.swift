import Foundation
import Synchronization
import Testing

/// Ctrl-C and SIGTERM stop `shrink run` promptly, with 130 and 143, and leave a cache the next
/// run completes from and `shrink cache verify` finds intact.
@Suite(.serialized) struct InterruptTests {
    /// The bundled pipeline's rules (data-aware Tucker-2 and SVD, budget search), on the sandbox's
    /// copy of the LeNet model and data: long enough to be interrupted mid-search.
    static let pipeline = """
    shrink: 1
    name: e2e
    model: ../model/model.onnx
    data:
      # Searched and checked on the same 400 images: held out, 0.005 would be one image, and
      # this test is about interruption, not about the bound.
      eval: ../model/val.npz
      search: ../model/val.npz
      calibration: ../model/calib.npz
    metric: top1
    accept: { max_drop: 0.005 }
    rules:
      - match: { name: fc2 }
        method: keep
      - match: { op: Conv, kernel: 5x5 }
        method: tucker2
        rank: search
        fit: activations
      - match: { op: Gemm, min_params: 10000 }
        method: svd
        rank: search
        fit: activations
    search: { policy: budget, objective: macs }
    export:
      onnx: ../out/e2e.onnx
      report: ../out/e2e.md
    """

    @Test(arguments: [SIGINT, SIGTERM])
    func signalStopsTheRunWithinTwoSecondsAndTheCacheStaysSound(signal: Int32) throws {
        let box = try Sandbox(pipeline: Self.pipeline, evalSamples: 400, calibration: true)
        defer { box.remove() }
        let (process, out, err) = try Shrink.start(["run", "pipelines/p.yaml", "--jobs", "2"], cwd: box.root)
        let stderr = StreamCollector(err)
        // Wait until stages have run and published (load, calibration, some search candidates).
        let actions = box.url(".shrink/cache/actions")
        let deadline = Date().addingTimeInterval(120)
        func published() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: actions.path)) ?? []).filter { !$0.hasPrefix(".") }.count
        }
        while Date() < deadline, process.isRunning, published() < 6 { usleep(20_000) }
        try #require(process.isRunning, "the run ended before it could be interrupted: \(stderr.text)")
        usleep(200_000)  // into the middle of running stages

        let sent = Date()
        kill(process.processIdentifier, signal)
        let exited = DispatchSemaphore(value: 0)
        Thread { process.waitUntilExit(); exited.signal() }.start()
        if exited.wait(timeout: .now() + 10) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let seconds = Date().timeIntervalSince(sent)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        #expect(process.terminationReason == .exit, "ended by a signal: \(stderr.text)")
        #expect(process.terminationStatus == 128 + signal, "\(stderr.text)")
        #expect(seconds < 8, "exited \(seconds) s after the signal")  // a liveness bound (stops promptly, does not finish the run), loose enough for a loaded machine
        #expect(stderr.text.contains("interrupted"))
        #expect(!FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path))

        let rerun = try box.run()
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.cached > 0)
        let verify = try Shrink.run(["cache", "verify"], cwd: box.root)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("all intact"))
    }

    @Test func secondSignalExitsAtOnce() throws {
        let box = try Sandbox(pipeline: Self.pipeline, evalSamples: 400, calibration: true)
        defer { box.remove() }
        let (process, out, err) = try Shrink.start(["run", "pipelines/p.yaml", "--jobs", "2"], cwd: box.root)
        let stderr = StreamCollector(err)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, process.isRunning, !FileManager.default.fileExists(atPath: box.url(".shrink/cache/actions").path) {
            usleep(20_000)
        }
        usleep(300_000)
        let sent = Date()
        kill(process.processIdentifier, SIGINT)
        usleep(50_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        _ = out.fileHandleForReading.readDataToEndOfFile()
        #expect(Date().timeIntervalSince(sent) < 2)
        #expect(process.terminationReason == .exit, "\(stderr.text)")
        #expect(process.terminationStatus == 130, "\(stderr.text)")
    }
}

/// Reads a pipe on a background thread so the child never blocks on a full pipe, and keeps the text.
final class StreamCollector: Sendable {
    private let buffer = Mutex(Data())

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                self.buffer.withLock { $0.append(chunk) }
            }
        }.start()
    }

    var text: String { buffer.withLock { String(decoding: $0, as: UTF8.self) } }
}
