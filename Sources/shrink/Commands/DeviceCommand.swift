import ArgumentParser
import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// `shrink device MODEL.onnx -o DIR [--int8 --calibration calib.npz [--percentile P]]
/// [--data val.npz] [--verify host|qemu] [--device cortex-m4] [--json]`.
struct DeviceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Write a model as a C library for a microcontroller (float32 or int8), with its flash/RAM budget, and check it.",
        discussion: """
        Writes DIR/model.h (the API), DIR/model.c and DIR/shrink_kernels.{h,c}: compile DIR/*.c with \
        -I DIR. With --int8 the model is quantised in TFLite's scheme on --calibration data \
        (min/max ranges, or the --percentile P / 100 − P percentiles) and DIR/model.qdq.onnx is \
        written beside the C sources (onnxruntime runs it).

        Prints flash and RAM computed from the model and, when arm-none-eabi-gcc is installed, \
        measured with arm-none-eabi-size for --device (a notice otherwise). --data (an .npz with \
        "x" and optional "y") adds accuracies: the float model and, for int8, the integer engine. \
        --verify host compiles the library with gcc and runs it on the data; --verify qemu \
        cross-compiles it for Cortex-M4 and runs it on qemu-system-arm (mps2-an386); either way the \
        outputs are compared with the engine (int8: exactly; float32: within 1e-4 relative).

        Exit codes: 0 success; 2 invalid input (unsupported ops, several inputs or outputs, integer \
        inputs — all named at once — bad data, a missing tool for --verify); 3 internal error \
        (the compiled library disagrees with the engine, a compiler error in generated code).
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: [.customShort("o"), .customLong("output")], help: "The directory to write the C library into.")
    var output: String

    @Flag(help: "Quantise to int8 (else a float32 library).")
    var int8 = false

    @Option(help: "Calibration inputs for --int8: an .npz with \"x\" [N, …] float32.")
    var calibration: String?

    @Option(help: "Calibrate to the P-th and (100 − P)-th percentiles instead of min/max (e.g. 99.99).")
    var percentile: Double?

    @Option(help: "Evaluation data (.npz with \"x\" and optional labels \"y\") for accuracy and --verify.")
    var data: String?

    @Option(help: "Compile and run the library and compare it with the engine: host (gcc) or qemu (Cortex-M4).")
    var verify: VerifyTarget?

    @Option(help: "Samples to run for --verify (default: all for host, 100 for qemu).")
    var samples: Int?

    @Option(help: "The target for the budget: \(DeviceProfile.all.map(\.name).joined(separator: ", ")).")
    var device = "cortex-m4"

    @Option(help: "Cores to use (default: all).")
    var threads: Int?

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if percentile != nil && !int8 { throw ValidationError("--percentile applies to --int8 only") }
        if int8 && calibration == nil { throw ValidationError("--int8 needs --calibration calib.npz") }
        if let samples, samples < 1 { throw ValidationError("--samples must be at least 1") }
        if DeviceProfile.named(device) == nil {
            throw ValidationError("--device \(device): expected one of \(DeviceProfile.all.map(\.name).joined(separator: ", "))")
        }
    }

    /// What `--json` prints.
    struct Report: Encodable {
        var model: String
        var output: String
        var precision: String
        var calibration: String?
        var files: [String]
        var layers: [LayerBudget]
        var macs: Int
        var budget: BudgetCheck
        var notices: [String]
        var accuracy: [String: Double]
        var samples: Int?
        var verification: Verification?
        var notes: [String]
    }

    func fail(_ e: DeviceError, file: String? = nil) -> ExitCode {
        CLI.fail(e.inFile(file), code: e.isInvalidInput ? CLI.invalidInput : CLI.internalError)
    }

    func loadInputs(_ path: String, labels: Bool) throws -> Dataset {
        do { return try Dataset.load(npz: path, targetKey: labels ? "y" : nil) } catch {
            if labels, error.message.contains("no array 'y'") { return try loadInputs(path, labels: false) }
            throw CLI.fail(error)
        }
    }

    func run() throws {
        let profile = DeviceProfile.named(device)!
        let cores = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let graph = try CLI.loadGraph(model)
        let calib = try calibration.map { try loadInputs($0, labels: false) }
        let eval = try data.map { try loadInputs($0, labels: true) }
        BLAS.setThreads(cores)  // the integer engine's double GEMMs run on OpenBLAS's threads
        let options = DeviceOptions(int8: int8, calibration: percentile.map { .percentile($0) } ?? .minMax)
        let deviceModel: DeviceModel
        do { deviceModel = try DeviceCompiler.prepare(graph, calibration: calib?.inputs, options: options, threads: cores,
                                                                sampleShape: (calib ?? eval).map { Array($0.inputs.shape.dropFirst()) }) } catch {
            throw fail(error, file: error.kind == .invalidInput ? calibration : model)
        }

        // The library (and the QDQ model) on disk.
        let dir = URL(fileURLWithPath: output)
        let library: CLibrary
        do {
            library = try CExporter.export(deviceModel, source: (model as NSString).lastPathComponent)
            try library.write(to: dir)
        } catch { throw fail(error) }
        var files = library.files.keys.sorted()
        if case .int8(let q) = deviceModel {
            do { try QDQWriter.graph(q).save(to: dir.appendingPathComponent("model.qdq.onnx").path) } catch {
                throw CLI.fail(error, code: CLI.internalError)
            }
            files.append("model.qdq.onnx")
        }

        // Budget: computed, and measured when the cross compiler is installed.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-device-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let runner = DeviceRunner(workDirectory: work)
        let budget = DeviceBudget.compute(deviceModel, device: profile)
        var notices = [String]()
        var measured: MeasuredSize?
        if runner.toolchain.armGCC != nil && runner.toolchain.armSize != nil {
            do { measured = try runner.measure(library, device: profile) } catch { throw fail(error) }
        } else {
            notices.append("arm-none-eabi-gcc/arm-none-eabi-size not found: flash and RAM are computed only (install \(Toolchain.packages))")
        }
        let check = BudgetCheck(computed: budget, measured: measured)
        if !check.agrees {
            notices.append("computed and measured sizes differ by more than \(Int(BudgetCheck.tolerance * 100)) %; please report this model")
        }

        // Accuracy and verification on the data.
        var accuracy = [String: Double]()
        var verification: Verification?
        var verifiedSamples: Int?
        if let eval {
            do {
                if case .classes(let labels) = eval.targets {
                    let session = try Session(graph: graph, options: SessionOptions(threads: cores))
                    guard let out = try session.run(from: [deviceModel.input.name: eval.inputs])[graph.outputs[0].name] else {
                        throw CLI.fail("\(model): the model produced no output", code: CLI.internalError)
                    }
                    accuracy["float"] = Metrics.top1Accuracy(logits: out, labels: labels)
                    if case .int8(let q) = deviceModel {
                        let y = try IntegerEngine(q).run(floats: eval.inputs, threads: cores)
                        accuracy["int8"] = Metrics.top1Accuracy(logits: y, labels: labels)
                    }
                }
            } catch let e as ExitCode {
                throw e
            } catch let e as DeviceError {
                throw fail(e, file: data)
            } catch {
                throw CLI.fail("\(data ?? ""): \(error)")
            }
        }
        if let target = verify {
            guard let source = eval ?? calib else {
                throw CLI.fail("--verify needs data: give --data val.npz (or --calibration)")
            }
            let n = min(source.count, samples ?? (target == .host ? source.count : 100))
            let per = source.inputs.count / max(source.count, 1)
            let inputs = Tensor(shape: [n] + source.inputs.shape.dropFirst(), scalars: Array(source.inputs.scalars.prefix(n * per)))
            do {
                verification = try DeviceVerifier.verify(library, model: deviceModel, reference: graph, inputs: inputs,
                                                         target: target, runner: runner)
                verifiedSamples = n
            } catch { throw fail(error) }
        }

        let precision = int8 ? "int8" : "float32"
        if json {
            let report = Report(model: model, output: output, precision: precision,
                                calibration: int8 ? options.calibration.description : nil, files: files,
                                layers: budget.layers, macs: budget.macs, budget: check, notices: notices,
                                accuracy: accuracy, samples: verifiedSamples, verification: verification, notes: deviceModel.notes)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let text = (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            print(text)
        } else {
            printReport(deviceModel, library: library, files: files, check: check, profile: profile, notices: notices,
                        accuracy: accuracy, verification: verification, precision: precision, options: options)
        }
        if let v = verification, !v.passed {
            throw CLI.fail("the compiled library disagrees with the engine (\(v.differing) of \(v.elements) outputs)", code: CLI.internalError)
        }
    }

    func printReport(_ m: DeviceModel, library: CLibrary, files: [String], check: BudgetCheck, profile: DeviceProfile,
                     notices: [String], accuracy: [String: Double], verification: Verification?, precision: String,
                     options: DeviceOptions) {
        let b = check.computed
        func n(_ x: Int) -> String { x.formatted(.number.grouping(.automatic)) }
        func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
            s.count >= w ? s : (left ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
        }
        print("\(model) → \(output)/ (\(precision)\(m.isInt8 ? ", \(options.calibration) calibration" : ""), \(profile.name))")
        print("wrote \(files.joined(separator: ", "))")
        print("")
        print(pad("layer", 24) + pad("kernel", 16) + pad("MACs", 12, left: true) + pad("flash B", 12, left: true) + pad("activation B", 14, left: true))
        for l in b.layers {
            print(pad(l.name, 24) + pad(l.kernel.rawValue, 16) + pad(n(l.macs), 12, left: true)
                  + pad(n(l.constantBytes), 12, left: true) + pad(n(l.activationBytes), 14, left: true))
        }
        print("")
        let kernels = b.kernelCode.keys.sorted().map { "\($0) \(b.kernelCode[$0]!)" }.joined(separator: ", ")
        print("MACs per sample: \(n(b.macs))")
        print("flash: \(n(b.flash)) B computed (constants \(n(b.constantBytes)), kernels \(n(b.kernelCode.values.reduce(0, +))): \(kernels); glue \(n(b.glueCode)))")
        print("ram:   \(n(b.ram)) B computed (arena \(n(b.arenaBytes)), scratch \(n(b.scratchBytes)))")
        if let me = check.measured {
            print(String(format: "measured (arm-none-eabi-size, %@): flash %@ B (%+.1f %%), ram %@ B (%+.1f %%)",
                         profile.name, n(me.flash), (check.flashError ?? 0) * 100, n(me.ram), (check.ramError ?? 0) * 100))
        }
        if !accuracy.isEmpty {
            let parts = ["float", "int8"].compactMap { k in accuracy[k].map { "\(k) \(String(format: "%.2f", $0 * 100)) %" } }
            print("top-1 on \(data ?? ""): \(parts.joined(separator: ", "))")
        }
        if let v = verification {
            let what = v.int8 ? "exactly" : "within \(Verification.floatTolerance) relative"
            var line = "verify \(v.target.rawValue): \(v.samples) samples, \(v.differing) of \(v.elements) outputs differ from the engine (compared \(what))"
            if let f = v.floatEntryDiffering { line += "; float entry point: \(f) differ" }
            if !v.int8 { line += String(format: "; largest relative difference %.2g", v.maxDifference) }
            print(line + (v.passed ? " — OK" : " — FAILED"))
        }
        for note in m.notes { print("note: \(note)") }
        for notice in notices { print("notice: \(notice)") }
    }
}

extension VerifyTarget: ExpressibleByArgument {}
