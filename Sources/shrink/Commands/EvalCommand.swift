import ArgumentParser
import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import ShrinkWorkflow

/// `shrink eval MODEL.onnx --data val.npz [--metric top1|top5|mse] [--batch N] [--json]`.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a model's accuracy (or error) on a NumPy dataset, and its speed.",
        discussion: """
        --data is an .npz with inputs under "x" and targets under "y" (see --x-key, --y-key), or an
        .npy of inputs with --labels PATH.npy. A model with several data inputs takes its first from
        "x" and each further one from the array of its name in the same .npz (one entry per sample
        along the input's batch axis, or one array all samples share, such as a sample rate). Targets are integer class labels for top1/top5 and
        float32 reference outputs for mse. uint8 inputs need --scale (e.g. 0.00392156862745098).
        With --json, prints exactly one object: {"metric", "value", "samples", "non_finite",
        "images_per_second"}. images_per_second counts model execution only (not loading).
        Samples whose outputs hold NaN or infinity count as wrong (mse: the value is +inf, null in
        JSON); their number is "non_finite", and a warning on stderr.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "The dataset: an .npz, or an .npy of inputs (with --labels).")
    var data: String

    @Option(help: "Labels (or reference outputs) .npy when --data is an .npy.")
    var labels: String?

    @Option(name: .customLong("x-key"), help: "The inputs' key in the .npz.")
    var xKey = "x"

    @Option(name: .customLong("y-key"), help: "The targets' key in the .npz.")
    var yKey = "y"

    @Option(help: "Multiply uint8 inputs by this factor to get float32.")
    var scale: Float?

    @Option(help: "top1, top5 or mse.")
    var metric: String = "top1"

    @Option(help: "Samples per batch.")
    var batch = 256

    @Option(help: "The graph output to score (default: the first).")
    var output: String?

    @Option(help: "Cores to use (default: all).")
    var threads: Int?

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard let metric = Metric(rawValue: metric) else {
            throw CLI.fail("--metric \(self.metric): expected one of \(Metric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard batch >= 1 else { throw CLI.fail("--batch must be at least 1") }
        let session = try CLI.loadSession(model, threads: threads)
        // The first data input is fed from --x-key; further ones from the arrays named like them.
        guard let input = session.inputs.first else { throw CLI.fail("\(model): the model has no data input to feed") }
        let outputName = output ?? (metric == .mse ? session.outputNames.first ?? "" : session.scoresOutput)
        guard session.outputNames.contains(outputName) else {
            throw CLI.fail("--output \(outputName): the model's outputs are \(session.outputNames.joined(separator: ", "))")
        }
        let dataset: Dataset
        do {
            if data.hasSuffix(".npy") {
                dataset = try Dataset.load(inputs: data, targets: labels, scale: scale)
            } else {
                dataset = try Dataset.load(npz: data, inputKey: xKey, targetKey: yKey, scale: scale)
            }
            try dataset.check(fits: session, input: input.name)
        } catch {
            throw CLI.fail(error)
        }
        CLI.ownBLASThreads()
        let measured: Evaluation.Measurement
        do {
            measured = try Evaluation.measure(session, input: input.name, output: outputName, data: dataset, metric: metric, batch: batch)
        } catch let e as DatasetError {
            throw CLI.fail(e)
        } catch {
            throw CLI.fail("\(model): \(error)")
        }
        let acc = measured.accumulator, seconds = measured.seconds
        let rate = seconds > 0 ? Double(acc.samples) / seconds : 0
        if let warning = acc.nonFiniteWarning { CLI.printError("warning: \(model): \(warning)") }
        if json {
            // JSON has no infinity; an mse made infinite by non-finite outputs is written as null.
            let value = acc.value.isFinite ? "\(acc.value)" : "null"
            print("{\"metric\": \"\(metric.rawValue)\", \"value\": \(value), \"samples\": \(acc.samples), \"non_finite\": \(acc.nonFiniteSamples), \"images_per_second\": \(String(format: "%.1f", rate))}")
        } else {
            let value = metric == .mse ? String(format: "%.6g", acc.value) : String(format: "%.4f", acc.value)
            print("\(metric.rawValue) \(value) on \(acc.samples) samples (\(String(format: "%.0f", rate)) images/s)")
        }
    }
}
