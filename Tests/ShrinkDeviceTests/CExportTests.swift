import Foundation
import ShrinkCompress
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The exported C: its API and constraints, compiled with gcc on the host (exactly the engine's
/// int8 outputs on the bundled data) and for Cortex-M4 on QEMU (exactly the host's outputs).
@Suite struct CExportTests {
    @Test func headerAndConstraints() throws {
        let e = try Example.lenet.get()
        let lib = try CExporter.export(.int8(e.int8))
        let h = try #require(lib.files["model.h"])
        for s in ["#define SHRINK_MODEL_INPUT_SIZE 784", "#define SHRINK_MODEL_OUTPUT_SIZE 10", "SHRINK_MODEL_INPUT_SCALE",
                  "SHRINK_MODEL_INPUT_ZERO_POINT", "SHRINK_MODEL_OUTPUT_SCALE", "SHRINK_MODEL_OUTPUT_ZERO_POINT",
                  "int shrink_model_run(const float *input, float *output);",
                  "int shrink_model_run_int8(const int8_t *input, int8_t *output);", "NOT REENTRANT"] {
            #expect(h.contains(s), "model.h lacks \(s)")
        }
        #expect(h.contains("#define SHRINK_MODEL_INPUT_ZERO_POINT \(e.int8.inputQuantization.zeroPoint)\n"))
        // No malloc, no stdio, no libm anywhere in the library; weights are static const.
        for (name, text) in lib.files {
            for banned in ["malloc(", "#include <stdio.h>", "#include <math.h>", "printf(", "#include <stdlib.h>"] {
                #expect(!text.contains(banned), "\(name) uses \(banned)")
            }
        }
        #expect(lib.files["model.c"]!.contains("static const int8_t shrink_l5_weights[400000]"))
        // The float library has only the float entry point.
        let f = try CExporter.export(.float(e.float))
        #expect(!f.files["model.h"]!.contains("shrink_model_run_int8") && !f.files["model.h"]!.contains("SCALE"))
    }

    /// Every bundled held-out sample through the host build: the int8 entry point gives exactly the
    /// engine's outputs, and the float entry point the engine's after quantising like QuantizeLinear.
    @Test(arguments: ["lenet-mnist", "dscnn-mnist"]) func hostInt8EqualsEngineOnBundledData(name: String) throws {
        _ = try requiredToolchain()
        let e = try Example.named(name)
        let lib = try CExporter.export(.int8(e.int8))
        let dir = scratchDirectory("host-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try DeviceVerifier.verify(lib, model: .int8(e.int8), reference: e.graph, inputs: e.test, target: .host,
                                          runner: DeviceRunner(workDirectory: dir), floatEntrySamples: 200)
        #expect(v.samples == 1000 && v.elements == 10_000)
        #expect(v.differing == 0 && v.floatEntryDiffering == 0 && v.top1Agreement == 1)
    }

    /// The float32 library against the runtime, within 1e-4 relative.
    @Test(arguments: ["dscnn-mnist", "ops2d", "ops1d"]) func hostFloatWithinToleranceOfEngine(name: String) throws {
        _ = try requiredToolchain()
        let e = try Example.named(name)
        let lib = try CExporter.export(.float(e.float))
        let dir = scratchDirectory("hostf-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try DeviceVerifier.verify(lib, model: .float(e.float), reference: e.graph, inputs: e.head(min(200, e.test.shape[0])),
                                          target: .host, runner: DeviceRunner(workDirectory: dir))
        #expect(v.passed && v.maxDifference <= Verification.floatTolerance, "\(v)")
    }

    /// The synthetic models (every kernel, grouped/dilated/strided/asymmetric convs, reorders,
    /// 1-D) and LeNet after low-rank rewrites, int8 on the host, exactly the engine.
    @Test(arguments: ["ops2d", "ops1d", "lowrank"]) func hostInt8CoversEveryKernel(name: String) throws {
        _ = try requiredToolchain()
        let model: QuantizedModel, graph: Graph, inputs: Tensor
        if name == "lowrank" {
            let e = try Example.lenet.get()
            graph = try ModelDecomposer.decompose(e.graph, choices: [
                try LayerChoice(parsing: "conv1=spatial-svd:4"), try LayerChoice(parsing: "conv2=cp4:12"),
                try LayerChoice(parsing: "fc1=svd:16"),
            ]).graph
            guard case .int8(let q) = try DeviceCompiler.prepare(graph, calibration: e.calibration, options: DeviceOptions()) else { return }
            model = q
            inputs = e.head(200)
        } else {
            let e = try Example.named(name)
            (model, graph, inputs) = (e.int8, e.graph, e.test)
        }
        let dir = scratchDirectory("cover-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try DeviceVerifier.verify(try CExporter.export(.int8(model)), model: .int8(model), reference: graph, inputs: inputs,
                                          target: .host, runner: DeviceRunner(workDirectory: dir))
        #expect(v.passed, "\(v)")
    }

    /// Cross-compiled for Cortex-M4 (-mcpu=cortex-m4 -mthumb -Os) and run on QEMU mps2-an386: the
    /// int8 outputs equal the host build's exactly.
    @Test(arguments: ["lenet-mnist", "dscnn-mnist", "ops2d"]) func qemuEqualsHost(name: String) throws {
        _ = try requiredToolchain()
        let e = try Example.named(name)
        let lib = try CExporter.export(.int8(e.int8))
        let dir = scratchDirectory("qemu-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = DeviceRunner(workDirectory: dir)
        let x = IntegerEngine(e.int8).quantizeInput(e.head(24))
        let onQEMU = try runner.runQEMU(lib, int8: x)
        let onHost = try runner.runHost(lib, int8: x)
        #expect(onQEMU == onHost)
        #expect(onQEMU == (try IntegerEngine(e.int8).run(x)))
    }

    @Test func qemuFloatLibrary() throws {
        _ = try requiredToolchain()
        let e = try Example.ops2d.get()
        let dir = scratchDirectory("qemuf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try DeviceVerifier.verify(try CExporter.export(.float(e.float)), model: .float(e.float), reference: e.graph,
                                          inputs: e.head(8), target: .qemu, runner: DeviceRunner(workDirectory: dir))
        #expect(v.passed, "\(v)")
    }

    /// A hard fault spins forever on the board: QEMU is stopped at its time limit, not left running.
    @Test func qemuTimeoutStopsAHungHarness() throws {
        let toolchain = try requiredToolchain()
        let dir = scratchDirectory("hang")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Board.startup.write(to: dir.appendingPathComponent("startup.c"), atomically: true, encoding: .utf8)
        try Board.linkerScript.write(to: dir.appendingPathComponent("board.ld"), atomically: true, encoding: .utf8)
        // An undefined instruction faults; the fault handler spins.
        try "int main(void) { __builtin_trap(); return 0; }\n".write(to: dir.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
        let elf = dir.appendingPathComponent("hang.elf").path
        let cc = try ToolRunner.run(toolchain.armGCC!, Board.cpuFlags + ["-Os"] + Board.linkFlags
                                    + ["-T", dir.appendingPathComponent("board.ld").path, dir.appendingPathComponent("startup.c").path,
                                       dir.appendingPathComponent("main.c").path, "-o", elf], in: dir, timeout: 60)
        try #require(cc.status == 0, "\(cc.stderr)")
        let r = try ToolRunner.run(toolchain.qemu!, ["-M", Board.machine, "-nographic", "-semihosting", "-kernel", elf], in: dir, timeout: 2)
        #expect(r.timedOut && r.seconds < 10)
    }
}
