import ShrinkTensor

/// A seeded split of a data set's samples into a part the search tunes on and a part that only
/// certifies the result (the search never sees it). The same count, fraction and seed give the
/// same split on every machine: the shuffle is a Fisher–Yates driven by SplitMix64, not by the
/// system's random numbers.
public struct DataSplit: Sendable, Hashable, Codable {
    /// Which part of the split.
    public enum Part: String, Sendable, Hashable, Codable {
        /// The samples the search evaluates candidates on.
        case search
        /// The held-out samples the final check runs on.
        case verify
    }

    /// The share of samples held out for verification, in (0, 1).
    public var verifyFraction: Double
    /// The shuffle's seed.
    public var seed: UInt64

    /// The seed pipelines use (a split is part of a pipeline's meaning, so it is fixed, not drawn).
    public static let defaultSeed: UInt64 = 0x5348_524B

    /// A split holding out `verifyFraction` of the samples.
    public init(verifyFraction: Double, seed: UInt64 = DataSplit.defaultSeed) {
        self.verifyFraction = verifyFraction
        self.seed = seed
    }

    /// How many of `count` samples are held out: the fraction rounded to the nearest sample, but
    /// at least one on each side. Nil when `count < 2` (nothing to split).
    public func verifyCount(of count: Int) -> Int? {
        guard count >= 2 else { return nil }
        let k = Int((Double(count) * verifyFraction).rounded())
        return min(max(k, 1), count - 1)
    }

    /// The sample indices of each part, ascending; together they are `0..<count`, disjoint.
    /// Nil when `count < 2`.
    public func indices(count: Int) -> (search: [Int], verify: [Int])? {
        guard let k = verifyCount(of: count) else { return nil }
        var order = Array(0..<count)
        var rng = SplitMix64(seed: seed)
        // Fisher–Yates; `next() % bound` has a bias below 2⁻³² for any data set size, irrelevant here.
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return (search: order[k...].sorted(), verify: order[..<k].sorted())
    }

    /// The indices of one part of `count` samples.
    public func indices(of part: Part, count: Int) -> [Int]? {
        guard let both = indices(count: count) else { return nil }
        return part == .search ? both.search : both.verify
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed generator whose sequence depends
/// only on its seed.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Dataset {
    /// The samples at `indices` (in that order), with their targets.
    public func selecting(_ indices: [Int]) -> Dataset {
        let per = count > 0 ? inputs.count / count : 0
        var scalars = [Float]()
        scalars.reserveCapacity(indices.count * per)
        for i in indices { scalars.append(contentsOf: inputs.scalars[(i * per)..<((i + 1) * per)]) }
        var shape = inputs.shape
        shape[0] = indices.count
        var d = self
        d.inputs = Tensor(shape: shape, scalars: scalars)
        d.targets = targets.selecting(indices)
        d.sideInputs = sideInputs.mapValues { SideInput(values: $0.selecting(indices), sampleAxis: $0.sampleAxis) }
        d.fileIndices = indices.map { fileIndices?[$0] ?? $0 }
        d.fileSampleCount = fileSampleCount ?? count
        return d
    }

    /// One part of a seeded split of this data set; nil when it has fewer than two samples.
    public func part(_ part: DataSplit.Part, of split: DataSplit) -> Dataset? {
        split.indices(of: part, count: count).map(selecting)
    }
}

extension DatasetTargets {
    /// The targets of the samples at `indices`, in that order.
    public func selecting(_ indices: [Int]) -> DatasetTargets {
        switch self {
        case .classes(let l): return .classes(indices.map { l[$0] })
        case .values(let t):
            let n = t.shape.first ?? 0
            let per = n > 0 ? t.count / n : 0
            var scalars = [Float]()
            scalars.reserveCapacity(indices.count * per)
            for i in indices { scalars.append(contentsOf: t.scalars[(i * per)..<((i + 1) * per)]) }
            var shape = t.shape
            shape[0] = indices.count
            return .values(Tensor(shape: shape, scalars: scalars))
        case .none: return .none
        }
    }
}
