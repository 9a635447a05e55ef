import Foundation

/// How a rank is asked for: an exact value, a fraction of full rank, or an energy threshold.
///
/// Text forms (command line and pipelines): `16` or `16,8` (exact; `Rout,Rin` for tucker2),
/// `0.25` (a fraction of full rank, 0 < f ≤ 1, written with a decimal point), `e0.95` (the
/// smallest rank keeping 95 % of the spectral energy Σσ², 0 < e ≤ 1).
public enum RankSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    /// This rank, as given.
    case exact(Rank)
    /// Each component is round(f · full rank component), at least 1.
    case fraction(Double)
    /// The smallest rank keeping this fraction of Σσ² (see `DecompositionMethod.energyRank`).
    case energy(Double)

    /// Parses `16`, `16,8`, `0.25` or `e0.95`.
    public init(parsing text: String) throws(DecompositionError) {
        let t = text.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> DecompositionError {
            DecompositionError(.invalidRank, layer: nil, "invalid rank '\(text)': \(why)",
                               hint: "write an integer (16), a pair for tucker2 (16,8), a fraction (0.25) or an energy (e0.95)")
        }
        if t.lowercased().hasPrefix("e") {
            guard let e = Double(t.dropFirst()), e > 0, e <= 1 else { throw bad("energy must be in (0, 1]") }
            self = .energy(e)
        } else if t.contains(",") {
            let parts = t.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let a = parts[0], let b = parts[1] else { throw bad("a rank pair is two integers `Rout,Rin`") }
            guard a >= 1, b >= 1 else { throw bad("ranks must be at least 1") }
            self = .exact(.tucker(out: a, in: b))
        } else if let r = Int(t) {
            guard r >= 1 else { throw bad("a rank must be at least 1") }
            self = .exact(Rank(r))
        } else if let f = Double(t) {
            guard f > 0, f <= 1 else { throw bad("a fraction of full rank must be in (0, 1]") }
            self = .fraction(f)
        } else {
            throw bad("not a number")
        }
    }

    /// The text form.
    public var description: String {
        switch self {
        case .exact(let r): r.description
        case .fraction(let f): "\(f)"
        case .energy(let e): "e\(e)"
        }
    }
}

/// Hardware-friendly rounding and bounds applied after a rank is computed.
public struct RankRounding: Sendable, Hashable {
    /// Round each component to the nearest multiple of this (1 = no rounding).
    public var multiple: Int
    /// Lower bound per component (at least 1).
    public var minimum: Int
    /// Upper bound per component (nil: the full rank).
    public var maximum: Int?

    /// Rounding to `multiple`, bounded by `minimum`…`maximum`.
    public init(multiple: Int = 1, minimum: Int = 1, maximum: Int? = nil) {
        self.multiple = max(1, multiple)
        self.minimum = max(1, minimum)
        self.maximum = maximum
    }

    /// No rounding.
    public static let none = RankRounding()
}
