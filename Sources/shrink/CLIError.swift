import ArgumentParser
import Foundation
import ShrinkBuild
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor
import ShrinkWorkflow

/// Reporting failures from commands: one line on stderr, then the documented exit code
/// (2 invalid input, 3 internal error; see `Shrink.configuration`).
enum CLI {
    /// Exit code for invalid input (pipeline, model, data).
    static let invalidInput: Int32 = 2
    /// Exit code for internal errors.
    static let internalError: Int32 = 3

    /// Writes `text` and a newline to stderr.
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Prints `error: <message>` to stderr and returns the exit to throw:
    /// `throw CLI.fail("model.onnx: not a valid ONNX model (…)")`.
    static func fail(_ message: String, code: Int32 = invalidInput) -> ExitCode {
        printError("error: \(message)")
        return ExitCode(code)
    }

    /// `fail` with an error's description (`GraphError` and friends describe themselves for users).
    static func fail(_ error: any Error, code: Int32 = invalidInput) -> ExitCode {
        fail(String(describing: error), code: code)
    }

    /// Ends an interrupted run: one line on stderr, then exit 130 (SIGINT) or 143 (SIGTERM) at
    /// once. `_exit`, not `exit`: stages abandoned by the interrupt may still be running on other
    /// threads, and must not race the library destructors `exit` runs. Nothing of theirs is
    /// published, so this leaves the cache as a kill would.
    static func interrupted(_ error: PipelineInterrupted) -> Never {
        printError(error.description)
        fflush(nil)
        _exit(error.exitStatus)
    }

    /// Parses `--input-shape NAME=DIMS` options (`input=1x3x224x224`) into name → dimensions.
    static func inputShapes(_ specs: [String]) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for spec in specs {
            let parts = spec.split(separator: "=", maxSplits: 1)
            let dims = parts.count == 2 ? parts[1].split(separator: "x").map { Int($0) } : []
            guard parts.count == 2, !dims.isEmpty, dims.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw fail("--input-shape '\(spec)': expected NAME=DIMS such as input=1x3x224x224")
            }
            shapes[String(parts[0])] = dims.compactMap { $0 }
        }
        return shapes
    }

    /// The repository's `shrink-config.yaml` (empty settings when there is none); a broken file is
    /// a pipeline failure carrying every diagnostic, so it exits 2 with file:line:col.
    static func repositoryConfig(root: URL) throws -> RepositoryConfig {
        do { return try RepositoryConfig.load(repositoryRoot: root) } catch {
            throw PipelineError.diagnostics(error.diagnostics)
        }
    }

    /// The documented exit code of a pipeline failure: 2 bad input, 3 internal.
    static func exitCode(for error: PipelineError) -> Int32 {
        switch error {
        case .invalidInput, .diagnostics: return invalidInput
        case .internalError: return internalError
        }
    }

    /// The exit code of a finished run: 0 when every target met its bound, else 1.
    static func exitCode(for outcome: RunOutcome) -> Int32 { outcome.allPassed ? 0 : 1 }

    /// This executable's path, for commands that start more of it (`--executor process`).
    static func executablePath() throws -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let arg = CommandLine.arguments[0]
        guard arg.contains("/") else { throw fail("cannot tell where this shrink executable is; run it by its path", code: internalError) }
        return URL(fileURLWithPath: arg).standardizedFileURL.path
    }

    /// The shapes and small integer values of `graph`'s inputs from sample data (`.npz`, arrays
    /// named after the inputs or `inputKey`; or `.npy` for a one-input model), overridden by
    /// explicit `--input-shape`s; a failure names the file and exits 2.
    static func inputFacts(_ graph: Graph, model: String, data: String?, inputKey: String,
                           inputShapes: [String: [Int]]) throws -> InputFacts {
        var facts = InputFacts()
        if let data {
            var arrays: [String: SampleArray] = [:]
            do {
                let url = URL(fileURLWithPath: data)
                let read = data.hasSuffix(".npy") ? [inputKey: try NPY.read(url)] : try NPZ.read(url)
                for (k, a) in read {
                    let isInt = a.dtype == .int64 || a.dtype == .int32 || a.dtype == .uint8
                    arrays[k] = SampleArray(shape: a.shape, integers: isInt && a.count <= 64 ? a.integersIfIntegral() : nil)
                }
            } catch {
                throw fail("\(data): \(error)")
            }
            do { facts = try graph.inputFacts(arrays, inputKey: inputKey) } catch { throw fail("\(data): \(error.message)\(error.hint.map { "; \($0)" } ?? "")") }
        }
        for (k, v) in inputShapes { facts.shapes[k] = v }
        return facts
    }

    /// `--input-shape` examples for the inputs whose declared shapes are incomplete, ready to paste:
    /// the first size, among sizes models commonly take, for which every layer's shape can be
    /// inferred (an STFT front-end's 512-sample window needs more than 32 samples).
    static func inputShapeExample(_ graph: Graph, given: InputFacts) -> String? {
        let open = graph.dataInputs.filter { i in
            given.shapes[i.name] == nil && given.values[i.name] == nil && (i.shape?.dropFirst().contains { $0.fixed == nil } ?? true)
        }
        func parts(_ size: Int) -> [(String, String)] {
            open.compactMap { i in Graph.exampleShape(i, size: size).map { (i.name, $0) } }
        }
        let sizes = [32, 64, 128, 224, 256, 320, 512, 640, 1024, 2048, 4096, 16000]
        let fits = sizes.first { size in
            var shapes = given.shapes
            for (name, dims) in parts(size) { shapes[name] = dims.split(separator: "x").compactMap { Int($0) } }
            return (try? graph.inferShapes(inputShapes: shapes, inputValues: given.values)) != nil
        }
        let chosen = parts(fits ?? 32).map { "--input-shape \($0.0)=\($0.1)" }
        return chosen.isEmpty ? nil : chosen.joined(separator: " ")
    }

    /// Loads a model file; a failure is one `file: message` line and exit 2.
    static func loadGraph(_ path: String) throws -> Graph {
        do { return try Graph.load(contentsOf: path) } catch { throw fail(error.inFile(path)) }
    }

    /// Gives OpenBLAS one thread for this process (sessions never change it). The runtime splits
    /// its own work over the cores — a large batch in chunks, a small batch's operators (its
    /// OpenBLAS products included) over the kernel pool — and OpenBLAS threads beside those spin
    /// on the same cores: at batch 1 on 2 cores VGG ran at half its speed with them (1,546
    /// against 3,006 img/s), LeNet at 38 %.
    static func ownBLASThreads() {
        BLAS.setThreads(1)
    }

    /// Loads a model and prepares it to run on `threads` cores (default: all).
    static func loadSession(_ path: String, threads: Int?) throws -> Session {
        let graph = try loadGraph(path)
        do {
            return try Session(graph: graph, options: SessionOptions(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount))
        } catch {
            throw fail("\(path): \(error)")
        }
    }
}
