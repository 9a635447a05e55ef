import Foundation
/// The closed set of method names a pipeline or the command line may use.
public enum MethodName: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Truncated SVD of a dense (or 1×1 conv) weight: two layers N→R→M.
    case svd
    /// CP of the kernel as T×S×(kh·kw): 1×1 → depthwise kh×kw → 1×1.
    case cp
    /// CP of the 4-way kernel (Lebedev et al.): 1×1 → depthwise kh×1 → depthwise 1×kw → 1×1.
    case cp4
    /// Tucker-2 on the channel modes: 1×1 → kh×kw core → 1×1.
    case tucker2
    /// SVD of the (S·kh)×(T·kw) unfolding: kh×1 → 1×kw.
    case spatialSVD = "spatial-svd"
    /// Leave the layer as it is.
    case keep

    /// The spelling used in files and on the command line.
    public var description: String { rawValue }

    /// Parses a name, or throws with a "did you mean" hint.
    public init(parsing text: String) throws(DecompositionError) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let m = MethodName(rawValue: t) {
            self = m
            return
        }
        let aliases: [String: MethodName] = ["tucker": .tucker2, "spatial_svd": .spatialSVD, "spatialsvd": .spatialSVD,
                                             "cp3": .cp, "none": .keep]
        if let m = aliases[t] {
            self = m
            return
        }
        let best = MethodName.allCases.min { editDistance($0.rawValue, t) < editDistance($1.rawValue, t) }
        let names = MethodName.allCases.map(\.rawValue).joined(separator: ", ")
        throw DecompositionError(.invalidInput, layer: nil, "unknown method '\(text)'; expected one of \(names)",
                                 hint: best.map { "did you mean `\($0.rawValue)`?" })
    }

    /// The method value implementing this name.
    public var method: any DecompositionMethod {
        switch self {
        case .svd: SVDMethod()
        case .cp: CPMethod()
        case .cp4: CP4Method()
        case .tucker2: Tucker2Method()
        case .spatialSVD: SpatialSVDMethod()
        case .keep: KeepMethod()
        }
    }
}

/// Levenshtein distance, for "did you mean" hints on short names.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = prev
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
