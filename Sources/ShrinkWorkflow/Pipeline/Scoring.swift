import Foundation
import ShrinkBuild
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor

/// The metric of a pipeline in the form stages carry in their parameters.
struct MetricRef: Sendable, Hashable, Codable {
    /// How a metric is computed.
    enum Kind: String, Codable, Sendable {
        /// Top-k accuracy against integer labels.
        case topk
        /// Mean squared error against float targets or the original model's outputs.
        case mse
        /// A user's evaluator command.
        case command
        /// Fidelity to the original model's outputs (`fidelity`).
        case fidelity
    }

    /// How it is computed.
    var kind: Kind
    /// k for top-k.
    var k: Int?
    /// The external evaluator.
    var command: CommandMetric?
    /// Content digests of the files the evaluator command names (its script, its data), so
    /// editing the evaluator reruns every evaluation — paths alone would not.
    var commandFiles: [String: String] = [:]
    /// The label-free comparison with the original model.
    var fidelity: FidelityMetric?

    init(_ spec: MetricSpec) {
        switch spec {
        case .top1: kind = .topk; k = 1
        case .top5: kind = .topk; k = 5
        case .topK(let n): kind = .topk; k = n
        case .mse: kind = .mse
        case .command(let c):
            kind = .command
            command = c
            commandFiles = Self.files(named: c)
        case .fidelity(let f):
            kind = .fidelity
            fidelity = f
        }
    }

    /// Words of the command that name existing files (relative to its working directory).
    static func files(named c: CommandMetric) -> [String: String] {
        let words: [String]
        switch c.command {
        case .argv(let a): words = a
        case .shell(let line): words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        var out: [String: String] = [:]
        for w in words where !w.hasPrefix("-") {
            let url = w.hasPrefix("/") ? URL(fileURLWithPath: w) : c.workingDirectory.appendingPathComponent(w)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
               let digest = try? Digest.ofFile(at: url) {
                out[w] = digest.hex
            }
        }
        return out
    }

    private enum Keys: String, CodingKey { case kind, k, command, metric, goal, files, fidelity }

    /// Encodes what selects the result, never the evaluator's working directory (an absolute
    /// path would make a moved repository miss the cache).
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        try c.encodeIfPresent(k, forKey: .k)
        try c.encodeIfPresent(fidelity, forKey: .fidelity)
        if let command {
            switch command.command {
            case .argv(let a): try c.encode(a, forKey: .command)
            case .shell(let line): try c.encode(line, forKey: .command)
            }
            try c.encodeIfPresent(command.metric, forKey: .metric)
            try c.encode(command.goal.rawValue, forKey: .goal)
            try c.encode(commandFiles, forKey: .files)
        }
    }

    /// Decodes what `encode(to:)` wrote. The evaluator's working directory is not in it (nor in
    /// the key): a stage rebuilt by key gets it from its description (`running(in:)`).
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        k = try c.decodeIfPresent(Int.self, forKey: .k)
        fidelity = try c.decodeIfPresent(FidelityMetric.self, forKey: .fidelity)
        if c.contains(.command) {
            let line: CommandLineSpec
            if let argv = try? c.decode([String].self, forKey: .command) { line = .argv(argv) } else {
                line = .shell(try c.decode(String.self, forKey: .command))
            }
            let goal = MetricGoal(rawValue: try c.decode(String.self, forKey: .goal)) ?? .maximize
            command = CommandMetric(command: line, metric: try c.decodeIfPresent(String.self, forKey: .metric), goal: goal,
                                    workingDirectory: URL(fileURLWithPath: "/", isDirectory: true))
            commandFiles = try c.decode([String: String].self, forKey: .files)
        }
    }

    /// This metric with its evaluator running in `checkout` (when given).
    func running(in checkout: URL?) -> MetricRef {
        guard let checkout, command != nil else { return self }
        var copy = self
        copy.command!.workingDirectory = checkout
        return copy
    }

    var higherIsBetter: Bool {
        switch kind {
        case .topk: true
        case .mse: false
        case .command: (command?.goal ?? .maximize) == .maximize
        case .fidelity: fidelity?.measure != .relativeL2
        }
    }
}

/// Scores a model on a data set, reusing the original model's activations up to the first
/// changed layer where it can.
enum Scoring {
    /// Metric value and sample count.
    struct Score: Sendable, Codable, Hashable {
        var value: Double
        var samples: Int
        /// Samples whose outputs held NaN or infinity (scored as wrong; mse +inf).
        var nonFinite: Int?
        /// Standard deviation of the per-sample values the metric averages (for the search's
        /// sampling margin); nil when not measured.
        var deviation: Double?
    }

    static func score(candidate: Graph, original: Graph, originalKey: String, changedLayers: [String],
                      layerInputs: [String: String], data: Dataset, dataKey: String, metric: MetricRef,
                      threads: Int) throws -> Score {
        if metric.kind == .command, let command = metric.command {
            return Score(value: try ExternalEvaluator.run(command, graph: candidate), samples: data.count)
        }
        let session = try Session(graph: candidate, options: SessionOptions(threads: threads))
        let input = try LayerWork.inputName(of: session)
        try data.check(fits: session, input: input)
        if let fidelity = metric.fidelity {
            return try scoreFidelity(fidelity, session: session, input: input, candidate: candidate, original: original,
                                     originalKey: originalKey, changedLayers: changedLayers, layerInputs: layerInputs,
                                     data: data, dataKey: dataKey, threads: threads)
        }
        let feeds = try prefixFeeds(candidate: candidate, original: original, originalKey: originalKey,
                                    changedLayers: changedLayers, layerInputs: layerInputs, data: data,
                                    dataKey: dataKey, threads: threads)
        let reference = metric.kind == .mse && !data.hasFloatTargets
            ? try referenceOutputs(original: original, originalKey: originalKey, data: data, dataKey: dataKey, threads: threads)
            : nil
        var acc = MetricAccumulator(metric.kind == .mse ? .mse : (metric.k == 5 ? .top5 : .top1))
        var correct = 0, seen = 0, nonFinite = 0
        var perSample = SpreadAccumulator()
        let outputName = metric.kind == .topk ? session.scoresOutput : session.outputNames[0]
        for batch in data.batches(size: 256) {
            let fed: [String: Tensor]
            if let feeds {
                fed = feeds.mapValues { slice($0, batch.range) }
            } else {
                fed = batch.feeds(primary: input, session: session)
            }
            let out = try session.run(from: fed, outputs: [outputName])[outputName]!
            switch metric.kind {
            case .topk:
                guard case .classes(let labels) = batch.targets else {
                    throw PipelineError.invalidInput("\(data.source): the metric needs integer labels (y)")
                }
                do { try Metrics.requireScores(out, name: outputName) } catch { throw PipelineError.invalidInput(error.message) }
                if batch.range.lowerBound == 0 { try data.checkLabels(classes: out.shape[1]) }
                correct += Metrics.topKCorrect(logits: out, labels: labels, k: metric.k ?? 1)
                nonFinite += Metrics.nonFiniteRows(out)
                seen += batch.range.count
            default:
                if let reference {
                    let r = slice(reference, batch.range)
                    try acc.add(outputs: out, targets: .values(r))
                    perSample.addSquaredErrors(out, r)
                } else {
                    try acc.add(outputs: out, targets: batch.targets)
                    if case .values(let r) = batch.targets { perSample.addSquaredErrors(out, r) }
                }
            }
        }
        if metric.kind == .topk {
            let p = Double(correct) / Double(max(seen, 1))
            return Score(value: p, samples: seen, nonFinite: nonFinite, deviation: (p * (1 - p)).squareRoot())
        }
        return Score(value: acc.value, samples: acc.samples, nonFinite: acc.nonFiniteSamples, deviation: perSample.deviation)
    }

    /// The original model's activations at the cut before the first changed layer, for all of
    /// `data`; nil when reuse is impossible or too large to hold.
    static func prefixFeeds(candidate: Graph, original: Graph, originalKey: String, changedLayers: [String],
                            layerInputs: [String: String], data: Dataset, dataKey: String,
                            threads: Int) throws -> [String: Tensor]? {
        guard !changedLayers.isEmpty, let order = try? original.topologicalOrder() else { return nil }
        let nodes = order.map { original.nodes[$0] }
        // The first node in execution order that the candidate does not contain unchanged (the
        // rewritten layer's node): it and everything after it rerun. Compared by op, inputs and
        // outputs, not by layer name, since layers need not be named after their nodes.
        let kept = Set(candidate.nodes.map(nodeSignature))
        guard let firstIndex = nodes.firstIndex(where: { !kept.contains(nodeSignature($0)) }) else { return nil }
        let prefixNames = Set(nodes[..<firstIndex].map(\.name))
        if prefixNames.isEmpty { return nil }
        let produced = Set(nodes[..<firstIndex].flatMap(\.outputs))
        let suffixNodes = candidate.nodes.filter { !prefixNames.contains($0.name) || $0.name.isEmpty }
        var cut = Set<String>()
        for n in suffixNodes { for i in n.inputs where produced.contains(i) { cut.insert(i) } }
        for o in candidate.outputs where produced.contains(o.name) { cut.insert(o.name) }
        let dataInputs = Set(candidate.dataInputs.map(\.name))
        if suffixNodes.contains(where: { n in n.inputs.contains { dataInputs.contains($0) } }) { return nil }
        if cut.isEmpty { return nil }
        let names = cut.sorted()
        let key = "cut:\(originalKey):\(dataKey):\(names.joined(separator: ","))"
        let feeds = try ArtifactMemo.shared.tensors(key) {
            let session = try ArtifactMemo.shared.session(originalKey, threads: threads) {
                try Session(graph: original, options: SessionOptions(threads: threads))
            }
            let input = try LayerWork.inputName(of: session)
            var parts: [String: [Tensor]] = [:]
            for batch in data.batches(size: 256) {
                // A cut the session cannot hand back per sample (a fixed-batch model whose
                // activations there are not batch-major, e.g. sequence-first attention) means no
                // reuse: the candidate then runs whole, and reports any real failure itself.
                guard let out = try? session.run(values: batch.feeds(primary: input, session: session).mapValues { Value.float($0) }, outputs: names) else { return [:] }
                for (k, v) in out {
                    // Only batch-leading float activations can be sliced per batch.
                    guard case .float(let t) = v, t.shape.first == batch.range.count else { return [:] }
                    parts[k, default: []].append(t)
                }
            }
            var total = 0
            var joined: [String: Tensor] = [:]
            for (k, ts) in parts {
                let t = concat(ts)
                total += t.count
                joined[k] = t
            }
            // Hold at most ~1 GB of activations; beyond that, rerunning the prefix is cheaper.
            return total > 256_000_000 ? [:] : joined
        }
        return feeds.isEmpty ? nil : feeds
    }

    /// What identifies a node across the original and a rewritten graph.
    static func nodeSignature(_ node: Node) -> String {
        ([node.domain, node.opType] + node.inputs + ["→"] + node.outputs + ["\(node.attributes)"]).joined(separator: "\u{1}")
    }

    /// The original model's outputs on `data` (MSE against the original when there are no targets).
    static func referenceOutputs(original: Graph, originalKey: String, data: Dataset, dataKey: String,
                                 threads: Int, output: String? = nil) throws -> Tensor {
        let out = try ArtifactMemo.shared.tensors("ref:\(originalKey):\(dataKey):\(output ?? "")") {
            let session = try Session(graph: original, options: SessionOptions(threads: threads))
            let input = try LayerWork.inputName(of: session)
            let name = output ?? session.outputNames[0]
            var parts: [Tensor] = []
            for batch in data.batches(size: 256) {
                parts.append(try session.run(from: batch.feeds(primary: input, session: session), outputs: [name])[name]!)
            }
            return ["out": concat(parts)]
        }
        return out["out"]!
    }

    static func slice(_ t: Tensor, _ range: Range<Int>) -> Tensor {
        let per = t.count / max(t.shape[0], 1)
        var shape = t.shape
        shape[0] = range.count
        return Tensor(shape: shape, scalars: Array(t.scalars[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    static func concat(_ parts: [Tensor]) -> Tensor {
        guard var shape = parts.first?.shape else { return Tensor(zeros: [0]) }
        shape[0] = parts.reduce(0) { $0 + $1.shape[0] }
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts { scalars += p.scalars }
        return Tensor(shape: shape, scalars: scalars)
    }
}

extension Dataset {
    /// Whether the targets are reference outputs rather than labels.
    var hasFloatTargets: Bool {
        if case .values = targets { return true }
        return false
    }
}

/// The `metric: { command: … }` evaluator failed or printed no usable number; reported at the
/// pipeline's `metric` entry.
struct EvaluatorCommandError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs a user's evaluator command on a candidate model and reads its metric from the JSON it prints.
enum ExternalEvaluator {
    static func run(_ command: CommandMetric, graph: Graph) throws -> Double {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("candidate.onnx")
        try graph.save(to: model.path)
        let process = Process()
        switch command.command {
        case .argv(let argv):
            let args = argv.map { $0.replacingOccurrences(of: "{model}", with: model.path) }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = args.contains { $0.contains(model.path) } ? args : args + [model.path]
        case .shell(let line):
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            let text = line.contains("{model}") ? line.replacingOccurrences(of: "{model}", with: "'\(model.path)'") : line + " '\(model.path)'"
            process.arguments = ["-c", text]
        }
        process.currentDirectoryURL = command.workingDirectory
        // stdout through a pipe read to the end; stderr into a file, so an evaluator that writes
        // much to stderr cannot fill a pipe nobody reads yet and block forever.
        let out = Pipe()
        let errFile = dir.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let err = try FileHandle(forWritingTo: errFile)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? err.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errText = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw EvaluatorCommandError(message: "evaluator command exited with \(process.terminationStatus): \(errText.suffix(500))")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if command.metric == nil, let v = Double(text) { return v }
        guard let last = text.split(separator: "\n").last,
              let obj = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw EvaluatorCommandError(message: "evaluator command printed no JSON object on its last line: \(text.suffix(200))")
        }
        let key = command.metric ?? "metric"
        guard let v = (obj[key] as? NSNumber)?.doubleValue else {
            throw EvaluatorCommandError(message: "evaluator JSON has no number under \"\(key)\" (keys: \(obj.keys.sorted().joined(separator: ", ")))")
        }
        return v
    }
}

extension Scoring {
    /// A label-free score: the candidate's output against the original model's on the same inputs.
    static func scoreFidelity(_ f: FidelityMetric, session: Session, input: String, candidate: Graph, original: Graph,
                              originalKey: String, changedLayers: [String], layerInputs: [String: String], data: Dataset,
                              dataKey: String, threads: Int) throws -> Score {
        let name = f.output ?? session.outputNames[0]
        guard session.outputNames.contains(name) else {
            throw PipelineError.invalidInput("the metric compares output '\(name)', but the model's outputs are \(session.outputNames.joined(separator: ", "))")
        }
        let reference = try referenceOutputs(original: original, originalKey: originalKey, data: data, dataKey: dataKey,
                                             threads: threads, output: name)
        let feeds = try prefixFeeds(candidate: candidate, original: original, originalKey: originalKey,
                                    changedLayers: changedLayers, layerInputs: layerInputs, data: data,
                                    dataKey: dataKey, threads: threads)
        var total = Fidelity()
        for batch in data.batches(size: 256) {
            let fed = feeds.map { $0.mapValues { slice($0, batch.range) } } ?? batch.feeds(primary: input, session: session)
            let out = try session.run(from: fed, outputs: [name])[name]!
            try total.add(out, reference: slice(reference, batch.range), metric: f)
        }
        return Score(value: total.value, samples: total.samples, nonFinite: total.nonFinite, deviation: total.spread.deviation)
    }
}

/// The standard deviation of per-sample values, accumulated one sample at a time.
struct SpreadAccumulator {
    private var n = 0
    private var sum = 0.0, squares = 0.0

    /// Adds one sample's value.
    mutating func add(_ v: Double) {
        guard v.isFinite else { return }
        n += 1
        sum += v
        squares += v * v
    }

    /// Adds each sample's mean squared error of `y` against `reference` (both [samples, …]).
    mutating func addSquaredErrors(_ y: Tensor, _ reference: Tensor) {
        guard y.shape == reference.shape, let rows = y.shape.first, rows > 0 else { return }
        let per = y.count / rows
        for i in 0..<rows {
            var e = 0.0
            for j in (i * per)..<((i + 1) * per) { let d = Double(y.scalars[j]) - Double(reference.scalars[j]); e += d * d }
            add(e / Double(max(per, 1)))
        }
    }

    /// The population standard deviation; nil before any sample.
    var deviation: Double? {
        guard n > 0 else { return nil }
        let mean = sum / Double(n)
        return max(squares / Double(n) - mean * mean, 0).squareRoot()
    }
}

/// Accumulates a fidelity metric over batches.
struct Fidelity {
    private(set) var samples = 0
    /// The per-sample values (a sequence's agreement is the share of its positions that agree).
    private(set) var spread = SpreadAccumulator()
    private(set) var nonFinite = 0
    private var sum = 0.0
    private var positions = 0

    /// The metric so far.
    var value: Double { positions == 0 ? 0 : sum / Double(positions) }

    /// Adds a batch: the candidate's outputs and the original's, both [samples, …].
    mutating func add(_ y: Tensor, reference y0: Tensor, metric f: FidelityMetric) throws {
        guard y.shape == y0.shape, let n = y.shape.first, n > 0 else {
            throw PipelineError.invalidInput("the compared output has shape \(y.shape), the original's \(y0.shape)")
        }
        let per = y.count / n
        for i in 0..<n {
            let a = y.scalars[(i * per)..<((i + 1) * per)], b = y0.scalars[(i * per)..<((i + 1) * per)]
            let finite = a.allSatisfy(\.isFinite)
            if !finite { nonFinite += 1 }
            samples += 1
            switch f.measure {
            case .relativeL2:
                var d = 0.0, r = 0.0
                for (p, q) in zip(a, b) { d += Double(p - q) * Double(p - q); r += Double(q) * Double(q) }
                let v = finite ? d.squareRoot() / max(r.squareRoot(), 1e-12) : .infinity
                sum += v
                spread.add(v)
                positions += 1
            case .cosine:
                var ab = 0.0, aa = 0.0, bb = 0.0
                for (p, q) in zip(a, b) { ab += Double(p) * Double(q); aa += Double(p) * Double(p); bb += Double(q) * Double(q) }
                let v = finite && aa > 0 && bb > 0 ? ab / (aa.squareRoot() * bb.squareRoot()) : (finite && aa == bb ? 1 : -1)
                sum += v
                spread.add(v)
                positions += 1
            case .agreement:
                let shape = Array(y.shape.dropFirst())
                guard !shape.isEmpty else {
                    throw PipelineError.invalidInput("`agreement` needs outputs with a class axis; this one is one number per sample")
                }
                var axis = f.axis ?? -1
                if axis < 0 { axis += shape.count + 1 }
                guard axis >= 1, axis <= shape.count else {
                    throw PipelineError.invalidInput("`agreement` axis \(f.axis ?? -1) is outside the output's \(shape.count + 1) dimensions \(y.shape)")
                }
                let classes = shape[axis - 1]
                let inner = shape[axis...].reduce(1, *), outer = shape[..<(axis - 1)].reduce(1, *)
                func argmaxes(_ v: ArraySlice<Float>) -> [Int] {
                    var out: [Int] = []
                    out.reserveCapacity(outer * inner)
                    let base = v.startIndex
                    for o in 0..<outer {
                        for j in 0..<inner {
                            // Ties go to the lower index, as NumPy's argmax.
                            var best = 0, bestValue = v[base + o * classes * inner + j]
                            for c in 1..<max(classes, 1) {
                                let x = v[base + (o * classes + c) * inner + j]
                                if x > bestValue { best = c; bestValue = x }
                            }
                            out.append(best)
                        }
                    }
                    return out
                }
                let ma = argmaxes(a), mb = argmaxes(b)
                if f.decodeCTC {
                    // Greedy CTC: merge repeats, drop the blank (0); the sample agrees when the sequences do.
                    func decode(_ s: [Int]) -> [Int] {
                        var out: [Int] = []
                        var previous = -1
                        for c in s { if c != previous && c != 0 { out.append(c) }; previous = c }
                        return out
                    }
                    let v: Double = finite && decode(ma) == decode(mb) ? 1 : 0
                    sum += v
                    spread.add(v)
                    positions += 1
                } else {
                    var agreeing = 0
                    for (p, q) in zip(ma, mb) where finite && p == q { agreeing += 1 }
                    sum += Double(agreeing)
                    spread.add(Double(agreeing) / Double(max(ma.count, 1)))
                    positions += ma.count
                }
            }
        }
    }
}
