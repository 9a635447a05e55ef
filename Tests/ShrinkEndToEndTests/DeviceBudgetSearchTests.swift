import Foundation
import Testing

/// `target.flash` as a constraint of the search, end to end on LeNet in int8: the search's
/// exact flash is the device-check's (arm-none-eabi-size within 5 %); a budget the accuracy-led
/// search would exceed makes it compress further and still pass; a budget no configuration of
/// the space meets fails the run (exit 1) saying how small the space gets and what to change.
@Suite(.serialized) struct DeviceBudgetSearchTests {
    static func pipeline(flash: String, objective: String) -> String {
        """
        shrink: 1
        name: fit
        model: ../model/model.onnx
        data:
          search: ../model/search.npz
          verify: ../model/search.npz
          calibration: ../model/calib.npz
        metric: top1
        accept: { max_drop: 0.01 }
        rules:
          - match: { name: conv1 }
            method: keep
          - match: { name: conv2 }
            method: tucker2
            rank: { search: { max: 24 } }
          - match: { name: fc1 }
            method: svd
            rank: { search: { max: 48 } }
          - match: { name: fc2 }
            method: keep
        quantize: int8
        target: { device: cortex-m4, flash: \(flash), ram: 16KiB }
        # No sampling margin: on 150 search digits it would exceed this 1-point bound and leave
        # nothing to compress, and this test is about the budget, not the margin.
        search: { objective: \(objective), margin: 0 }
        export:
          onnx: ../out/fit.onnx
          report: ../out/fit.md
        """
    }

    /// The search's note `flash: N B of the … budget`.
    static func searchFlash(_ report: URL) throws -> Int? {
        let md = try String(contentsOf: report, encoding: .utf8)
        guard let line = md.split(separator: "\n").first(where: { $0.hasPrefix("- flash: ") }) else { return nil }
        return Int(line.dropFirst("- flash: ".count).prefix { $0 != " " }.filter(\.isNumber))
    }

    static func device(_ run: Shrink.Outcome) throws -> [String: Any] {
        let target = try #require((run.json?["targets"] as? [[String: Any]])?.first)
        return try #require(target["device"] as? [String: Any])
    }

    @Test func flashBudgetIsAConstraintOfTheSearch() throws {
        let box = try Sandbox(pipeline: Self.pipeline(flash: "64KiB", objective: "flash"), evalSamples: 300, calibration: true)
        defer { box.remove() }
        // Verify on the search samples: the certification then repeats the search's own check, so
        // what this test sees is the budget's doing, not the luck of a held-out draw.
        try DevicePipelineTests.split(box.url("model/val.npz"), into: box.url("model/search.npz"), box.url("model/verify.npz"))

        // objective flash: the search's exact bytes are the quantize stage's and, within 5 %,
        // arm-none-eabi-size's of the compiled library.
        let ranked = try box.run(["--jobs", "2"])
        #expect(ranked.status == 0, "\(ranked.stderr)")
        let d1 = try Self.device(ranked)
        let flash = try #require(d1["flash"] as? Int)
        #expect(try Self.searchFlash(box.url("out/fit.md")) == flash)
        let measured = try #require(d1["measured"] as? [String: Any])
        let size = try #require(measured["text"] as? Int) + (try #require(measured["data"] as? Int))
        #expect(abs(Double(size - flash)) / Double(size) <= 0.05, "computed \(flash), arm-none-eabi-size \(size)")

        // objective MACs within a loose budget: the choice the accuracy bound alone makes.
        try box.write(Self.pipeline(flash: "64KiB", objective: "macs"), to: "pipelines/p.yaml")
        let loose = try box.run(["--jobs", "2"])
        #expect(loose.status == 0, "\(loose.stderr)")
        let macsLed = try #require(try Self.device(loose)["flash"] as? Int)
        #expect(try String(contentsOf: box.url("out/fit.md"), encoding: .utf8).contains("bound by the accuracy bound"))

        // objective MACs, with the flash-led choice's flash as the budget: tight (the MAC-led
        // choice is larger) but feasible (the flash-led choice fits and passed). The search
        // compresses further, fits and passes, and the device-check's figures agree.
        #expect(macsLed > flash, "the MAC-led choice (\(macsLed) B) must not fit \(flash) B for this test to mean anything")
        try box.write(Self.pipeline(flash: "\(flash)", objective: "macs"), to: "pipelines/p.yaml")
        let tight = try box.run(["--jobs", "2"])
        #expect(tight.status == 0, "\(tight.stderr)")
        let d2 = try Self.device(tight)
        let flash2 = try #require(d2["flash"] as? Int)
        #expect(flash2 <= flash && d2["withinBudget"] as? Bool == true)
        let m2 = try #require(d2["measured"] as? [String: Any])
        let size2 = try #require(m2["text"] as? Int) + (try #require(m2["data"] as? Int))
        #expect(abs(Double(size2 - flash2)) / Double(size2) <= 0.05)
        #expect(try Self.searchFlash(box.url("out/fit.md")) == flash2)
        #expect(try String(contentsOf: box.url("out/fit.md"), encoding: .utf8).contains("bound by the device's flash budget"))

        // A budget below the smallest configuration of the space: exit 1 and the message.
        try box.write(Self.pipeline(flash: "8KiB", objective: "flash"), to: "pipelines/p.yaml")
        let over = try box.run(["--jobs", "2"])
        #expect(over.status == 1, "\(over.stderr)")
        #expect(over.stderr.contains("no configuration in the search space fits the flash budget of 8,192 B"), "\(over.stderr)")
        #expect(over.stderr.contains("the smallest flash it reaches is"))
        #expect(over.stderr.contains("quantize: int8") && over.stderr.contains("fc1"))
        let target = try #require((over.json?["targets"] as? [[String: Any]])?.first)
        #expect(target["over_budget"] as? String == "flash" && target["passed"] as? Bool == false)
        // The summary line names the budget, not the accuracy bound, as the reason.
        let plain = try Shrink.run(["run", "pipelines/p.yaml"], cwd: box.root)
        #expect(plain.status == 1 && (plain.stdout + plain.stderr).contains("main: FAILED (no configuration fits the flash budget)"),
                "\(plain.stdout)\(plain.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.url("out/fit.onnx").path))
        #expect(try String(contentsOf: box.url("pipelines/p.lock"), encoding: .utf8).contains("passed: false"))
    }
}
