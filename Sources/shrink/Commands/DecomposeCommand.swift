import ArgumentParser
import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import ShrinkWorkflow

/// `shrink decompose MODEL.onnx --layer NAME=METHOD:RANK … -o OUT.onnx`: factorise chosen layers.
struct DecomposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decompose",
        abstract: "Factorise chosen layers of an ONNX model by low-rank decomposition.",
        discussion: """
        Each --layer is NAME=METHOD:RANK, NAME a layer as `shrink inspect` lists it:
          methods  svd (Gemm, MatMul, 1x1 Conv), cp, cp4, tucker2, spatial-svd (Conv), keep
          RANK     16          an exact rank (tucker2 takes Rout,Rin, e.g. 16,8)
                   0.25        a fraction of the method's full rank (needs a decimal point)
                   e0.95       the smallest rank keeping 95% of the spectral energy (sum of squared
                               singular values; per channel mode for tucker2, largest mode rank for cp)
        Fractions and energies are capped at the break-even rank for --objective; an exact rank
        that makes a layer larger is applied with a warning.
        Stage k of layer conv2 is named conv2.k in the output (initializers conv2.k.weight/.bias).

        --data FILE.npz (array `x`, or --input-key) runs the original model on up to --samples
        samples and reports each layer's relative output error ||(W - W')X|| / ||WX|| (bias excluded)
        besides the weight error ||W - W'|| / ||W||. With --fit activations the factors are also fitted
        to those activations (whitened SVD; data-weighted ALS for cp/cp4/tucker2; see docs/decomposition.md).
        With --fit sequential the layers are fitted in model order, each to the original model's outputs
        from the inputs of the model compressed so far (errors are corrected, not accumulated); its output
        error is then ||WX - W'X'|| / ||WX|| with X' the compressed model's inputs.

        --json prints one object: {"model", "output", "fit", "samples", "layers": [{"name", "method",
        "rank": [..], "weight_error", "output_error" (null without --data), "params_before",
        "params_after", "macs_before", "macs_after", "stages": [{"name", "op", "weight_shape",
        "params", "macs"}], "warnings", "notes"}], "params_before", "params_after", "macs_before",
        "macs_after", "params_ratio", "macs_ratio", "warnings", and with --eval "eval": {"data", "samples",
        "top1_before", "top1_after"}}. Model params count every float
        initializer the model reads; MACs are per sample (as `shrink inspect`).
        Exit codes: 0 done, 2 invalid input, 3 internal (numerical) error.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("layer"), help: ArgumentHelp("A choice NAME=METHOD:RANK (repeatable).", valueName: "choice"))
    var layers: [String] = []

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the decomposed model.", valueName: "OUT.onnx"))
    var output: String?

    @Option(help: ArgumentHelp("What the factors are fitted to: weights, activations (each layer to the original's inputs) or sequential (each layer to the original's outputs from the inputs of the model compressed before it); the last two need --data.", valueName: "target"))
    var fit: String = "weights"

    @Option(help: ArgumentHelp("Calibration inputs (.npz) for output errors and --fit activations.", valueName: "FILE.npz"))
    var data: String?

    @Option(name: .customLong("input-key"), help: "The array in --data holding the inputs.")
    var inputKey: String = "x"

    @Option(help: "At most this many samples of --data are used.")
    var samples: Int = 512

    @Option(help: ArgumentHelp("Ridge λ of data-aware fits: XXᵀ + λ·mean(diag)·I.", valueName: "λ"))
    var ridge: Float = 1e-3

    @Option(help: ArgumentHelp("What fractions and energies are capped by: params or macs.", valueName: "objective"))
    var objective: String = "params"

    @Option(help: "Round fraction and energy ranks to a multiple of this.")
    var multiple: Int = 1

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Shape of a data input whose declared shape is incomplete, e.g. input=1x3x224x224 (repeatable).",
                               valueName: "name=dims"))
    var inputShapes: [String] = []

    @Option(help: ArgumentHelp("Labelled data (.npz with `x` and integer `y`): report top-1 of the model before and after.",
                               valueName: "FILE.npz"))
    var eval: String?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        // Calibration and --eval run batches of 64 and 256 samples: chunked, one BLAS thread each.
        CLI.ownBLASThreads()
        guard let output else { throw CLI.fail("missing -o OUT.onnx: where to write the decomposed model") }
        guard !layers.isEmpty else {
            throw CLI.fail("no --layer given; e.g. --layer conv2=cp:16 (see `shrink inspect \(model)` for layer names)")
        }
        guard ["weights", "activations", "sequential"].contains(fit) else {
            throw CLI.fail("--fit '\(fit)': expected weights, activations or sequential")
        }
        let fitToData = fit != "weights"
        if fitToData && data == nil { throw CLI.fail("--fit \(fit) needs calibration inputs: add --data FILE.npz") }
        guard let objective = CostObjective(rawValue: objective) else {
            throw CLI.fail("--objective '\(self.objective)': expected params or macs")
        }
        guard multiple >= 1, samples >= 1 else { throw CLI.fail("--multiple and --samples must be at least 1") }
        guard ridge.isFinite, ridge > 0 else { throw CLI.fail("--ridge must be a positive number (XXᵀ is often singular)") }
        let explicit = try CLI.inputShapes(inputShapes)

        var choices: [LayerChoice] = []
        for text in layers {
            do { choices.append(try LayerChoice(parsing: text)) } catch { throw Self.fail(error) }
        }
        let loaded = try CLI.loadGraph(model)
        // Symbolic sizes (and small integer inputs) come from the calibration data when given.
        let facts = try CLI.inputFacts(loaded, model: model, data: data, inputKey: inputKey, inputShapes: explicit)
        let shapes = facts.shapes
        var graph = loaded
        if loaded.nodes.contains(where: { $0.opType == "If" }) {
            do {
                graph = try loaded.inliningConstantBranches(inputShapes: shapes, inputValues: facts.values)
            } catch {
                throw CLI.fail(error.inFile(model))
            }
            let folded = loaded.nodes.filter { $0.opType == "If" && graph.nodeIndex(named: $0.name) == nil && !$0.name.isEmpty }
            if !folded.isEmpty && !json {
                CLI.printError("warning: \(model): If node\(folded.count == 1 ? "" : "s") \(folded.map(\.displayName).joined(separator: ", ")) replaced by the branch\(folded.count == 1 ? "" : "es") these inputs take; the output model computes only that branch")
            }
        }

        var statistics: [String: ActivationStatistics] = [:]
        var used = 0
        if let data {
            (statistics, used) = try collect(graph: graph, choices: choices, data: data, inputShapes: shapes)
        }
        var result: DecomposedModel
        do {
            result = try ModelDecomposer.decompose(graph, choices: choices, inputShapes: shapes, statistics: statistics,
                                                   fitToActivations: fitToData, options: FitOptions(regularization: ridge),
                                                   objective: objective,
                                                   rounding: RankRounding(multiple: multiple))
        } catch {
            if error.message.contains("shapes are unknown") || error.message.contains("cannot infer shapes"),
               let example = CLI.inputShapeExample(loaded, given: facts) {
                CLI.printError("note: give sample inputs with --data FILE.npz (symbolic sizes come from them), or sizes, e.g. \(example)")
            }
            throw Self.fail(error)
        }
        if fit == "sequential", let data {
            // The independent fit above checked the choices and shapes; now refit in sequence.
            let calibration = try calibrationSet(data)
            do {
                result = try ModelDecomposer.decomposeSequentially(
                    graph, choices: choices, inputShapes: shapes, options: FitOptions(regularization: ridge), objective: objective,
                    rounding: RankRounding(multiple: multiple)) { [graph] partial, layer in
                        try Calibration.sequentialStatistics(original: graph, partial: partial, layer: layer.name, data: calibration,
                                                             threads: ProcessInfo.processInfo.activeProcessorCount, inputShapes: shapes)
                    }
            } catch {
                if let e = error as? DecompositionError { throw Self.fail(e) }
                throw CLI.fail("\(data): fitting in sequence on the calibration inputs failed: \(error)")
            }
        }
        do { try result.graph.save(to: output) } catch { throw CLI.fail(error.inFile(output)) }
        var report = Report(model: model, output: output, fit: fit, samples: data == nil ? 0 : used, result: result)
        if let eval {
            report.evaluation = try evaluate(before: graph, after: result.graph, data: eval)
        }
        print(json ? report.json() : report.text())
        if !json { for w in result.warnings { CLI.printError("warning: \(w)") } }
    }

    /// Exit 3 for numerical failures, 2 for everything the user can fix.
    static func fail(_ error: DecompositionError) -> ExitCode {
        CLI.fail(error.description, code: error.kind == .numerical ? CLI.internalError : CLI.invalidInput)
    }

    /// Top-1 accuracy of both models on labelled data, with Shrink's engine.
    func evaluate(before: Graph, after: Graph, data: String) throws -> Report.Evaluation {
        let dataset: Dataset
        do { dataset = try Dataset.load(npz: data, inputKey: inputKey, targetKey: "y") } catch { throw CLI.fail(error) }
        // The first input from --input-key, further ones from the arrays named like them.
        guard let inputName = before.dataInputs.first?.name else { throw CLI.fail("\(model): the model has no data input to feed") }
        var scores: [Double] = []
        for graph in [before, after] {
            let acc: MetricAccumulator
            do {
                let session = try Session(graph: graph)
                guard let out = session.outputNames.first else { throw CLI.fail("\(model): the model has no output") }
                acc = try Evaluation.measure(session, input: inputName, output: out, data: dataset, metric: .top1, batch: 256).accumulator
                if let warning = acc.nonFiniteWarning { CLI.printError("warning: \(data): \(warning)") }
            } catch let e as ExitCode {
                throw e
            } catch let e as DatasetError {
                throw CLI.fail(e)
            } catch {
                throw CLI.fail("\(data): evaluating failed: \(error)")
            }
            scores.append(acc.value)
        }
        return Report.Evaluation(data: data, samples: dataset.count, before: scores[0], after: scores[1])
    }

    /// Runs the original model on the calibration inputs and accumulates each chosen layer's
    /// input statistics.
    /// The calibration samples of `--data` (at most `--samples`).
    func calibrationSet(_ data: String) throws -> Dataset {
        let dataset: Dataset
        do { dataset = try Dataset.load(npz: data, inputKey: inputKey, targetKey: nil).prefix(samples) } catch {
            throw CLI.fail(error)
        }
        guard dataset.count > 0 else { throw CLI.fail("\(data): no samples") }
        return dataset
    }

    func collect(graph: Graph, choices: [LayerChoice], data: String,
                 inputShapes: [String: [Int]]) throws -> ([String: ActivationStatistics], Int) {
        let dataset = try calibrationSet(data)
        let layers = choices.filter { $0.method != .keep }.map(\.layer)
        let stats: [String: ActivationStatistics]
        do {
            stats = try Calibration.statistics(graph, layers: layers, data: dataset, threads: ProcessInfo.processInfo.activeProcessorCount,
                                               inputShapes: inputShapes)
        } catch let e as DecompositionError {
            throw Self.fail(e)
        } catch let e as DatasetError {
            throw CLI.fail(e)
        } catch {
            throw CLI.fail("\(data): running \(model) on the calibration inputs failed: \(error)")
        }
        return (stats, dataset.count)
    }
}

/// The printed outcome of `shrink decompose`.
struct Report {
    /// Accuracy of the model before and after on labelled data.
    struct Evaluation {
        var data: String
        var samples: Int
        var before: Double
        var after: Double
    }

    var model: String
    var output: String
    var fit: String
    var samples: Int
    var result: DecomposedModel
    var evaluation: Evaluation?

    func text() -> String {
        var out = ["\(model) → \(output)" + (samples > 0 ? "  (\(fit != "weights" ? "fitted to" : "errors on") \(samples) calibration samples)" : "")]
        out.append("")
        var rows: [[String]] = [["layer", "method", "rank", "weight err", "output err", "params", "", "MACs/sample", ""]]
        for d in result.layers {
            rows.append([d.layer, d.method.rawValue, d.rank.description, Self.err(d.relativeWeightError),
                         d.relativeOutputError.map(Self.err) ?? "-",
                         "\(InspectCommand.grouped(d.original.params)) → \(InspectCommand.grouped(d.cost.params))",
                         Self.ratio(d.original.params, d.cost.params),
                         "\(InspectCommand.grouped(d.original.macs)) → \(InspectCommand.grouped(d.cost.macs))",
                         Self.ratio(d.original.macs, d.cost.macs)])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        let right: Set<Int> = [3, 4, 5, 6, 7, 8]
        for row in rows {
            let cells = row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return right.contains(c) ? pad + cell : cell + pad
            }
            out.append(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        out.append("")
        let (b, a) = (result.before, result.after)
        out.append("model params \(InspectCommand.grouped(b.params)) → \(InspectCommand.grouped(a.params)) (\(Self.ratio(b.params, a.params)))"
                   + ", MACs/sample \(InspectCommand.grouped(b.macs)) → \(InspectCommand.grouped(a.macs)) (\(Self.ratio(b.macs, a.macs)))")
        if let e = evaluation {
            out.append(String(format: "top-1 on %@ (%d samples): %.2f%% → %.2f%% (%+.2f points)", e.data, e.samples,
                              100 * e.before, 100 * e.after, 100 * (e.after - e.before)))
        }
        for d in result.layers where d.method != .keep {
            let names = d.stages.map { "\(d.layer).\($0.shape.suffix)" }.joined(separator: ", ")
            out.append("  \(d.layer): stages \(names)")
        }
        return out.joined(separator: "\n")
    }

    func json() -> String {
        let q = InspectCommand.quote
        let layers = result.layers.map { d -> String in
            let stages = d.method == .keep ? [] : d.stages.map { s in
                "{\"name\": \(q("\(d.layer).\(s.shape.suffix)")), \"op\": \(q(Self.op(s.shape.kind))), "
                    + "\"weight_shape\": [\(s.shape.weightShape.map(String.init).joined(separator: ", "))], "
                    + "\"params\": \(s.shape.cost.params), \"macs\": \(s.shape.cost.macs)}"
            }
            let fields = [
                "\"name\": \(q(d.layer))", "\"method\": \(q(d.method.rawValue))",
                "\"rank\": [\(d.rank.values.map(String.init).joined(separator: ", "))]",
                "\"weight_error\": \(Self.number(d.relativeWeightError))",
                "\"output_error\": \(d.relativeOutputError.map(Self.number) ?? "null")",
                "\"params_before\": \(d.original.params)", "\"params_after\": \(d.cost.params)",
                "\"macs_before\": \(d.original.macs)", "\"macs_after\": \(d.cost.macs)",
                "\"stages\": [\(stages.joined(separator: ", "))]",
                "\"warnings\": [\(d.warnings.map(q).joined(separator: ", "))]",
                "\"notes\": [\(d.notes.map(q).joined(separator: ", "))]",
            ]
            return "{" + fields.joined(separator: ", ") + "}"
        }
        let (b, a) = (result.before, result.after)
        return """
        {
          "model": \(q(model)),
          "output": \(q(output)),
          "fit": \(q(fit)),
          "samples": \(samples),
          "layers": [
            \(layers.joined(separator: ",\n    "))
          ],
          "params_before": \(b.params),
          "params_after": \(a.params),
          "macs_before": \(b.macs),
          "macs_after": \(a.macs),
          "params_ratio": \(Self.number(a.params > 0 ? Double(b.params) / Double(a.params) : 0)),
          "macs_ratio": \(Self.number(a.macs > 0 ? Double(b.macs) / Double(a.macs) : 0)),
          "warnings": [\(result.warnings.map(q).joined(separator: ", "))]\(evaluation.map { e in
            ",\n  \"eval\": {\"data\": \(q(e.data)), \"samples\": \(e.samples), \"top1_before\": \(Self.number(e.before)), "
                + "\"top1_after\": \(Self.number(e.after))}"
        } ?? "")
        }
        """
    }

    static func op(_ kind: StageKind) -> String {
        switch kind {
        case .conv: "Conv"
        case .gemm: "Gemm"
        case .matMul: "MatMul"
        }
    }

    static func err(_ x: Double) -> String { String(format: "%.4f", x) }

    static func ratio(_ before: Int, _ after: Int) -> String {
        after > 0 ? String(format: "%.2f×", Double(before) / Double(after)) : "-"
    }

    static func number(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "null" }
}
