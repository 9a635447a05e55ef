import Foundation
import Testing
@testable import ShrinkWorkflow

/// The lock file pins inputs and decisions; its text round-trips whatever the names hold.
@Suite struct LockFileTests {
    static func sample(layer: String = "conv1", final: Double = 0.979) -> LockFile {
        LockFile(pipeline: "lenet", engine: String(repeating: "ab", count: 32),
                 inputs: ["pipelines/p.yaml": "sha256:" + String(repeating: "1", count: 64),
                          "model/model.onnx": "sha256:" + String(repeating: "2", count: 64)],
                 targets: ["main": .init(passed: true,
                                         metric: .init(name: "top1", original: 0.983, final: final, samples: 1000,
                                                       tolerance: LockFile.tolerance(metric: "top1", value: final, samples: 1000)),
                                         params: .init(before: 431_080, after: 30_981), macs: .init(before: 2_293_000, after: 301_824),
                                         layers: [layer: "tucker2:6,1", "fc1": "svd:18"])])
    }

    /// Names a model may carry that YAML would misread or that would break the file's structure.
    @Test(arguments: ["conv1", "a\nb: evil", "quote\"d", "colon: x", "pipe|name", "- dash", "true", "123", "#hash",
                      "ünïcode", "tab\there", "", "trailing:", "{flow}", "back\\slash", "null"])
    func hostileNamesRoundTrip(_ name: String) throws {
        let lock = Self.sample(layer: name)
        let text = lock.render()
        let parsed = try LockFile.parse(text).get()
        #expect(parsed == lock)
        #expect(parsed.differences(from: lock, decisions: true).isEmpty)
        // Exactly one line per layer: a newline in a name never adds a line to the file.
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count
                == Self.sample().render().split(separator: "\n", omittingEmptySubsequences: false).count)
    }

    @Test func metricsWithinTheToleranceAgreeAndBeyondItDiffer() throws {
        let recorded = Self.sample(final: 0.979)
        #expect(Self.sample(final: 0.978).differences(from: recorded, decisions: true).isEmpty)   // one sample in 1000
        let far = Self.sample(final: 0.975).differences(from: recorded, decisions: true)
        #expect(far.count == 1 && far[0].contains("final top1"), "\(far)")
        // Inputs only: a fresh clone cannot compare decisions.
        #expect(Self.sample(final: 0.5).differences(from: recorded, decisions: false).isEmpty)
    }

    @Test func changedInputsAndDecisionsAreNamed() throws {
        let recorded = Self.sample()
        var now = recorded
        now.inputs["model/model.onnx"] = "sha256:" + String(repeating: "3", count: 64)
        now.inputs["model/val.npz"] = "sha256:" + String(repeating: "4", count: 64)
        now.inputs.removeValue(forKey: "pipelines/p.yaml")
        now.targets["main"]!.layers["fc1"] = "svd:19"
        now.engine = String(repeating: "cd", count: 32)
        let inputs = now.differences(from: recorded, decisions: false)
        #expect(inputs.contains { $0.contains("model/model.onnx") && $0.contains("changed") })
        #expect(inputs.contains { $0.contains("model/val.npz") && $0.contains("new input") })
        #expect(inputs.contains { $0.contains("pipelines/p.yaml") && $0.contains("no longer") })
        #expect(inputs.contains { $0.contains("compute differently") })
        #expect(!inputs.contains { $0.contains("fc1") })
        #expect(now.differences(from: recorded, decisions: true).contains { $0.contains("fc1") && $0.contains("svd:18 → svd:19") })
    }

    @Test(arguments: ["", "lock: 1\npipeline: x\n", "[1, 2]", "lock: 2\npipeline: [unclosed", "lock: 2\n"])
    func unreadableLocksAreReportedNotMisread(_ text: String) {
        guard case .failure(let e) = LockFile.parse(text) else {
            Issue.record("parsed \(text.debugDescription)")
            return
        }
        #expect(!e.reason.isEmpty)
        if text.hasPrefix("lock: 1") { #expect(e.reason.contains("format 1")) }
    }
}
