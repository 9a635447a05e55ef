import Foundation
import ShrinkGraph
import Testing

/// `shrink device` as a user runs it (the executable `swift build --build-tests` builds beside
/// the test bundle).
@Suite struct CommandTests {
    static var executable: URL {
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
        return me.deletingLastPathComponent().appendingPathComponent("shrink")
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func shrink(_ args: [String]) throws -> Outcome {
        let p = Process()
        p.executableURL = Self.executable
        p.arguments = args
        p.currentDirectoryURL = Paths.root
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// One command: quantise, write C + QDQ ONNX, budget (computed and measured), accuracies, and
    /// the QEMU check.
    @Test func int8WithQEMUVerification() throws {
        _ = try requiredToolchain()
        let dir = scratchDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try shrink(["device", "Examples/dscnn-mnist/model.onnx", "--int8", "--calibration", "Examples/lenet-mnist/calib.npz",
                            "--data", "Examples/lenet-mnist/val.npz", "--verify", "qemu", "--samples", "16", "-o", dir.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((json["files"] as? [String])?.contains("model.qdq.onnx") == true)
        let v = try #require(json["verification"] as? [String: Any])
        #expect(v["target"] as? String == "qemu" && v["differing"] as? Int == 0 && v["samples"] as? Int == 16)
        let acc = try #require(json["accuracy"] as? [String: Double])
        #expect(acc["int8"]! >= 0.97 && acc["float"]! >= 0.98)
        let budget = try #require(json["budget"] as? [String: Any])
        #expect(budget["measured"] != nil)
        for f in ["model.h", "model.c", "shrink_kernels.h", "shrink_kernels.c", "model.qdq.onnx"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) missing")
        }
        #expect(try Graph.load(contentsOf: dir.appendingPathComponent("model.qdq.onnx").path).nodes.contains { $0.opType == "QuantizeLinear" })
    }

    @Test func floatLibraryWithHostVerification() throws {
        _ = try requiredToolchain()
        let dir = scratchDirectory("clif")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try shrink(["device", "Tests/Fixtures/device/ops1d.onnx", "--verify", "host", "--data", "Tests/Fixtures/device/data.npz",
                            "-o", dir.path])
        // data.npz has no "x": the command says which arrays it holds.
        #expect(r.status == 2 && r.stderr.contains("calib1d"), "\(r.stderr)")
        let ok = try shrink(["device", "Examples/dscnn-mnist/model.onnx", "--verify", "host", "--data", "Examples/lenet-mnist/val.npz",
                             "--samples", "50", "--device", "cortex-m7", "-o", dir.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("verify host: 50 samples, 0 of 500 outputs differ") && ok.stdout.contains("cortex-m7"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.qdq.onnx").path))
    }

    /// Unsupported models exit 2 naming every problem; usage errors exit 2 too.
    @Test func refusalsExitTwo() throws {
        let dir = scratchDirectory("clibad")
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = Graph(name: "bad")
        g.inputs = [ValueInfo(name: "x", elementType: .float, shape: [.symbol("N"), .value(4)])]
        g.nodes = [Node(name: "s", opType: "Sigmoid", inputs: ["x"], outputs: ["a"]),
                   Node(name: "t", opType: "Tanh", inputs: ["a"], outputs: ["b"])]
        g.outputs = [ValueInfo(name: "b", elementType: .float, shape: nil)]
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("bad.onnx").path
        try g.save(to: path)
        let r = try shrink(["device", path, "-o", dir.appendingPathComponent("out").path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("bad.onnx: 2 problems") && r.stderr.contains("Sigmoid") && r.stderr.contains("Tanh"), "\(r.stderr)")
        let usage = try shrink(["device", path, "--int8", "-o", dir.path])
        #expect(usage.status == 2 && usage.stderr.contains("--calibration"))
    }
}
