import Foundation
import Testing
@testable import ShrinkPipeline

/// The device sections: `quantize`, `target`, `search.objective: flash | ram`, `export.c`.
@Suite struct DeviceSpecTests {
    let loader = Fixtures.loader()

    @Test func deviceFixtureResolvesQuantizeTargetAndVariants() throws {
        let loaded = try loader.load(file: Fixtures.valid.appendingPathComponent("device.yaml"))
        let spec = loaded.spec
        #expect(spec.quantize?.value == QuantizeSpec(calibration: .percentile(99.99)))
        #expect(spec.quantize?.location.line == 13)
        let target = try #require(spec.target)
        #expect(target.device.value == .cortexM7)
        #expect(target.flash?.value == 256 * 1024 && target.ram?.value == 65536)
        #expect(target.verify?.value == .qemu)
        #expect(spec.search.objective.value == .flash)
        #expect(spec.export.c?.value.path == Fixtures.valid.appendingPathComponent("out/device-c").standardizedFileURL.path)

        let float = try #require(loaded.spec(variant: "float"))
        #expect(float.quantize == nil, "`quantize: none` in a variant turns quantisation off")
        #expect(float.target?.device.value == .cortexM7, "the variant keeps the pipeline's target")

        let small = try #require(loaded.spec(variant: "small"))
        // Merged key by key: the variant's flash, the pipeline's device and RAM.
        #expect(small.target?.flash?.value == 1_572_864)
        #expect(small.target?.ram?.value == 65536 && small.target?.device.value == .cortexM7)
        #expect(small.search.objective.value == .ram)
        #expect(small.quantize?.value.calibration == .percentile(99.99))
    }

    @Test func recipeSuppliesQuantizeAndTarget() throws {
        let spec = try loadInline("imports: [../recipes/mcu-int8.yaml]")
        #expect(spec.quantize?.value == QuantizeSpec(calibration: .minMax))
        #expect(spec.target?.device.value == .cortexM4 && spec.target?.ram?.value == 65536 && spec.target?.flash == nil)
        #expect(spec.export.c == nil)
        #expect(spec.search.objective.value == .macs)
    }

    /// Every spelling the sections accept, and what each means.
    @Test(arguments: [
        ("quantize: int8", QuantizeSpec(calibration: .minMax)),
        ("quantize: { int8: }", QuantizeSpec(calibration: .minMax)),
        ("quantize: { int8: {} }", QuantizeSpec(calibration: .minMax)),
        ("quantize: { int8: { calibration: minmax } }", QuantizeSpec(calibration: .minMax)),
        ("quantize: { int8: { calibration: { percentile: 99.9 } } }", QuantizeSpec(calibration: .percentile(99.9))),
        ("quantize: { int8: { calibration: { percentile: 100 } } }", QuantizeSpec(calibration: .percentile(100))),
    ])
    func quantizeSpellings(line: String, expected: QuantizeSpec) throws {
        let spec = try loadInline(line)
        #expect(spec.quantize?.value == expected)
    }

    @Test(arguments: [
        ("flash: 65536", 65536), ("flash: 64KiB", 65536), ("flash: 1MiB", 1_048_576), ("flash: 1.5MiB", 1_572_864),
        ("flash: 100B", 100), ("flash: \"2 KiB\"", 2048),
    ])
    func sizes(entry: String, bytes: Int) throws {
        let spec = try loadInline("target: { device: cortex-m4, \(entry) }")
        #expect(spec.target?.flash?.value == bytes)
    }

    /// Each bad value is reported at its place, with the fix.
    @Test(arguments: [
        ("quantize: int4", "1:11: error: `quantize` must be `int8`, `none` or `{ int8: { calibration: minmax | { percentile: P } } }`, found `int4`"),
        ("quantize: { int8: { calibration: { percentile: 50 } } }",
         "1:48: error: `quantize.int8.calibration.percentile` must be a number > 50 and ≤ 100, found `50`"),
        ("target: { device: cortex-m4, flash: 64KB }", "1:37: error: `target.flash` must be a size in bytes like `262144`, `256KiB` or `1MiB`, found `64KB`"),
        ("target: { device: cortex-m4, ram: 0.5B }", "1:35: error: `target.ram` must be a size in bytes like `262144`, `256KiB` or `1MiB`, found `0.5B`"),
        ("target: { device: m4 }", "1:19: error: unknown device `m4`; expected one of `cortex-m4`, `cortex-m7`"),
        ("search: { objective: energy }", "1:22: error: unknown objective `energy`; expected one of `macs`, `params`, `flash`, `ram`"),
        ("export: { c: out/lib.c }", "1:14: error: `export.c` names a folder for the C library (model.h, model.c, …), found `lib.c`"),
    ])
    func badValues(line: String, message: String) throws {
        let lines = diagnostics(line)
        #expect(lines.contains { $0.contains(message) }, "\(lines)")
    }

    @Test func binaryUnitHint() throws {
        let lines = diagnostics("target: { flash: 256KB }")
        #expect(lines.contains { $0.contains("note: write `256KiB` (1024 bytes); sizes are binary") }, "\(lines)")
    }

    // MARK: Helpers

    /// A pipeline whose last line is `line` (line numbers in messages count from it: line 1).
    func source(_ line: String) -> String {
        """
        \(line)
        shrink: 1
        name: inline
        model: ../assets/model.onnx
        data: { eval: ../assets/val.npz }
        accept: { max_drop: 0.01 }
        """
    }

    func loadInline(_ line: String) throws -> PipelineSpec {
        try loader.load(source: source(line), file: Fixtures.valid.appendingPathComponent("inline.yaml")).spec
    }

    func diagnostics(_ line: String) -> [String] {
        do {
            _ = try loader.load(source: source(line), file: Fixtures.valid.appendingPathComponent("inline.yaml"))
            return []
        } catch {
            return error.diagnostics.map { $0.formatted(relativeTo: Fixtures.valid) }
        }
    }
}
