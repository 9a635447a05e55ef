/// The rank of a factorisation: one number for most methods, (R_out, R_in) for `tucker2`,
/// none for `keep`.
public struct Rank: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    /// The components, in the order the method documents (`tucker2`: out, in).
    public var values: [Int]

    /// A rank from its components.
    public init(_ values: [Int]) { self.values = values }

    /// A single-number rank.
    public init(_ r: Int) { self.values = [r] }

    /// A Tucker-2 rank pair.
    public static func tucker(out: Int, in inRank: Int) -> Rank { Rank([out, inRank]) }

    /// The empty rank of `keep`.
    public static let none = Rank([Int]())

    /// The single component; the first for pairs.
    public var primary: Int { values.first ?? 0 }

    /// `16`, `16,8` or `-`.
    public var description: String { values.isEmpty ? "-" : values.map(String.init).joined(separator: ",") }

    /// Component-wise order is partial; this compares the components lexicographically so
    /// ranks sort stably in reports.
    public static func < (a: Rank, b: Rank) -> Bool { a.values.lexicographicallyPrecedes(b.values) }

    /// Whether every component is at most the other's.
    public func isWithin(_ other: Rank) -> Bool {
        values.count == other.values.count && zip(values, other.values).allSatisfy { $0 <= $1 }
    }
}
