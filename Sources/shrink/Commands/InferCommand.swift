import ArgumentParser
import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// `shrink infer MODEL.onnx --input x.npy [--input NAME=PATH.npy …] --output out.npz`.
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Run a model on NumPy inputs and write every graph output to an .npz.",
        discussion: """
        Each --input is PATH.npy for a model with one data input, or NAME=PATH.npy. Float inputs
        must be float32; integer inputs (int64/int32) feed int64 model inputs. The .npz holds each
        graph output under its output name (float32, or int64 for integer outputs).
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input array: PATH.npy or NAME=PATH.npy (repeatable).", valueName: "[name=]path"))
    var inputs: [String] = []

    @Option(help: "The .npz file to write.")
    var output: String

    @Option(help: "Cores to use (default: all).")
    var threads: Int?

    func run() throws {
        let session = try CLI.loadSession(model, threads: threads)
        let names = session.inputs.map(\.name)
        guard !inputs.isEmpty else {
            throw CLI.fail("give the model's inputs with --input (it takes \(names.map { "'\($0)'" }.joined(separator: ", ")))")
        }
        var feeds = [String: Value]()
        for spec in inputs {
            let (name, path): (String, String)
            if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
                (name, path) = (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
            } else {
                guard names.count == 1 else {
                    throw CLI.fail("--input \(spec): the model has inputs \(names.map { "'\($0)'" }.joined(separator: ", ")); use NAME=PATH")
                }
                (name, path) = (names[0], spec)
            }
            guard names.contains(name) else {
                throw CLI.fail("--input \(spec): the model has no input '\(name)' (it takes \(names.map { "'\($0)'" }.joined(separator: ", ")))")
            }
            guard feeds[name] == nil else { throw CLI.fail("--input: '\(name)' is given twice") }
            let array: NumPyArray
            do { array = try NPY.read(URL(fileURLWithPath: path)) } catch {
                throw CLI.fail("\(path): \(error.message)")
            }
            switch array.dtype {
            case .float32:
                let t = array.tensor()
                do { try Dataset.requireFinite(t, source: path, key: name, converted: false) } catch { throw CLI.fail(error) }
                feeds[name] = .float(t)
            case .int64, .int32: feeds[name] = .int64(IntTensor(shape: array.shape, values: array.integersIfIntegral() ?? []))
            default:
                throw CLI.fail("\(path): dtype \(array.dtype) is not accepted; inputs must be float32 (or int64/int32 for integer inputs)")
            }
        }
        for name in names where feeds[name] == nil {
            throw CLI.fail("no --input for model input '\(name)'")
        }
        CLI.ownBLASThreads()
        let outputs: [String: Value]
        do { outputs = try session.run(values: feeds) } catch { throw CLI.fail("\(model): \(error)") }
        var arrays = [String: NumPyArray]()
        for (name, v) in outputs {
            switch v {
            case .float(let t):
                let bad = Metrics.nonFiniteRows(t)
                if bad > 0 {
                    CLI.printError("warning: \(model): output '\(name)' holds NaN or infinite values in \(bad) of \(t.shape.first ?? 1) samples")
                }
                arrays[name] = NumPyArray(t)
            case .int64(let t): arrays[name] = NumPyArray(integers: t.values, shape: t.shape, dtype: .int64)
            }
        }
        do { try NPZ.write(arrays, to: URL(fileURLWithPath: output)) } catch {
            throw CLI.fail("\(output): cannot write (\(error))")
        }
        for name in session.outputNames {
            print("\(name): \(outputs[name]?.shape.description ?? "?")")
        }
        print("wrote \(output)")
    }
}
