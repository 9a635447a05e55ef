import ShrinkTensor

/// A quality measure of model outputs.
public enum Metric: String, Sendable, CaseIterable, Codable {
    /// Fraction of samples whose highest-scoring class is the label.
    case top1
    /// Fraction of samples whose label is among the five highest-scoring classes.
    case top5
    /// Mean squared error of the outputs against reference outputs (lower is better).
    case mse

    /// True when a larger value is better.
    public var higherIsBetter: Bool { self != .mse }
}

/// Metric arithmetic over [N, classes] (or [N, …]) output tensors.
public enum Metrics {
    /// Number of rows of `logits` whose label is among the `k` best scores. Ties are broken
    /// towards the lower class index, like NumPy's `argmax`. A row holding a NaN or infinity
    /// counts as wrong (NaN compares false with everything, so it would otherwise rank first),
    /// and so does a label outside the classes (`Dataset.checkLabels` reports those).
    public static func topKCorrect<C: Collection>(logits: Tensor, labels: C, k: Int) -> Int where C.Element == Int64 {
        let n = logits.shape.first ?? 0
        let classes = n > 0 ? logits.count / n : 0
        var correct = 0
        logits.scalars.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return }
            for (i, label) in zip(0..<n, labels) {
                guard label >= 0 && label < Int64(classes) else { continue }
                let row = base + i * classes
                if UnsafeBufferPointer(start: row, count: classes).contains(where: { !$0.isFinite }) { continue }
                let l = Int(label), s = row[l]
                // Classes ranked strictly before the label: higher score, or equal score and lower index.
                var before = 0
                for c in 0..<classes where row[c] > s || (row[c] == s && c < l) { before += 1 }
                if before < k { correct += 1 }
            }
        }
        return correct
    }

    /// Number of samples (rows along the first axis) of `outputs` holding a NaN or infinity.
    public static func nonFiniteRows(_ outputs: Tensor) -> Int {
        let n = outputs.shape.first ?? (outputs.count > 0 ? 1 : 0)
        guard n > 0 else { return 0 }
        let per = outputs.count / n
        var bad = 0
        outputs.scalars.withUnsafeBufferPointer { p in
            for i in 0..<n where p[(i * per)..<((i + 1) * per)].contains(where: { !$0.isFinite }) { bad += 1 }
        }
        return bad
    }

    /// Checks that `outputs` are class scores, [samples, classes]: a top-k over anything else
    /// (hidden states, a feature map) would be a meaningless number.
    public static func requireScores(_ outputs: Tensor, name: String? = nil) throws(DatasetError) {
        guard outputs.rank == 2 else {
            throw DatasetError(file: nil, message: "a top-k metric needs class scores of shape [samples, classes], but the model output\(name.map { " '\($0)'" } ?? "") has shape \(outputs.shape)")
        }
    }

    /// Top-1 accuracy in [0, 1].
    public static func top1Accuracy<C: Collection>(logits: Tensor, labels: C) -> Double where C.Element == Int64 {
        topKAccuracy(logits: logits, labels: labels, k: 1)
    }

    /// Top-k accuracy in [0, 1].
    public static func topKAccuracy<C: Collection>(logits: Tensor, labels: C, k: Int) -> Double where C.Element == Int64 {
        let n = logits.shape.first ?? 0
        return n == 0 ? 0 : Double(topKCorrect(logits: logits, labels: labels, k: k)) / Double(n)
    }

    /// Sum of squared differences, accumulated in double precision.
    public static func squaredErrorSum(_ a: Tensor, _ reference: Tensor) -> Double {
        var s = 0.0
        for (x, y) in zip(a.scalars, reference.scalars) { let d = Double(x) - Double(y); s += d * d }
        return s
    }

    /// Mean squared error over all elements; +inf when any output is not finite (a NaN would
    /// compare false with every bound and pass as "no worse").
    public static func meanSquaredError(_ a: Tensor, _ reference: Tensor) -> Double {
        if a.scalars.contains(where: { !$0.isFinite }) { return .infinity }
        return a.count == 0 ? 0 : squaredErrorSum(a, reference) / Double(a.count)
    }
}

/// Accumulates a metric over batches, so that a whole dataset never has to sit in one tensor.
public struct MetricAccumulator: Sendable {
    /// The metric being accumulated.
    public let metric: Metric
    /// Samples seen so far.
    public private(set) var samples = 0
    /// Samples whose outputs held a NaN or infinity: wrong for top-k, and they make mse +inf.
    public private(set) var nonFiniteSamples = 0
    private var correct = 0
    private var squaredError = 0.0
    private var elements = 0

    /// An empty accumulator.
    public init(_ metric: Metric) { self.metric = metric }

    /// Adds one batch of outputs with its targets (class labels for top-k, reference outputs for mse).
    public mutating func add(outputs: Tensor, targets: DatasetTargets) throws(DatasetError) {
        let n = outputs.shape.first ?? 0
        switch (metric, targets) {
        case (.top1, .classes(let labels)), (.top5, .classes(let labels)):
            guard labels.count == n else {
                throw DatasetError(file: nil, message: "\(labels.count) labels for \(n) outputs")
            }
            try Metrics.requireScores(outputs)
            let classes = outputs.shape[1]
            if let i = labels.firstIndex(where: { $0 < 0 || $0 >= Int64(classes) }) {
                throw DatasetError(file: nil, message: "label \(labels[i]) of sample \(samples + i) is outside the model's \(classes) classes (0…\(max(classes - 1, 0)))")
            }
            correct += Metrics.topKCorrect(logits: outputs, labels: labels, k: metric == .top1 ? 1 : 5)
        case (.mse, .values(let reference)):
            guard reference.count == outputs.count else {
                throw DatasetError(file: nil, message: "reference outputs of shape \(reference.shape) do not match model outputs \(outputs.shape)")
            }
            if reference.scalars.contains(where: { !$0.isFinite }) {
                throw DatasetError(file: nil, message: "the reference outputs hold a NaN or infinity (samples \(samples)…\(samples + n - 1))")
            }
            squaredError += Metrics.squaredErrorSum(outputs, reference)
            elements += outputs.count
        case (.mse, .classes):
            throw DatasetError(file: nil, message: "the mse metric needs float reference outputs as targets, got integer labels")
        case (_, .values):
            throw DatasetError(file: nil, message: "the \(metric.rawValue) metric needs integer class labels as targets, got float values")
        case (_, .none):
            throw DatasetError(file: nil, message: "the \(metric.rawValue) metric needs targets, and the data has none")
        }
        nonFiniteSamples += Metrics.nonFiniteRows(outputs)
        samples += n
    }

    /// The metric so far (0 before any sample); mse is +inf once any output was not finite.
    public var value: Double {
        switch metric {
        case .top1, .top5: return samples == 0 ? 0 : Double(correct) / Double(samples)
        case .mse:
            if nonFiniteSamples > 0 { return .infinity }
            return elements == 0 ? 0 : squaredError / Double(elements)
        }
    }

    /// A warning for the user when some outputs were not finite, nil otherwise.
    public var nonFiniteWarning: String? {
        guard nonFiniteSamples > 0 else { return nil }
        let effect = metric == .mse ? "so the mse is +inf" : "they count as wrong"
        return "\(nonFiniteSamples) of \(samples) samples gave NaN or infinite outputs; \(effect)"
    }
}
