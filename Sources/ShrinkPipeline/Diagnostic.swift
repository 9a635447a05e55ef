import Foundation

/// A position in a pipeline file: the file, a 1-based line and a 1-based column (counted in
/// Unicode scalars, as libyaml counts them).
public struct SourceLocation: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The file, always an absolute file URL (for a git import: its copy in the recipe cache).
    public var file: URL
    /// 1-based line; 0 only for `unknown`.
    public var line: Int
    /// 1-based column; 0 only for `unknown`.
    public var column: Int

    /// Creates a location.
    public init(file: URL, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// The location of values that were decoded from JSON rather than YAML, which keeps no positions.
    public static let unknown = SourceLocation(file: URL(fileURLWithPath: "/"), line: 0, column: 0)

    /// Orders by file path, then line, then column, so diagnostics print in reading order.
    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        if a.file.path != b.file.path { return a.file.path < b.file.path }
        if a.line != b.line { return a.line < b.line }
        return a.column < b.column
    }

    /// `file:line:col` with the file path relative to `base` when the file lies beneath it.
    public func formatted(relativeTo base: URL? = nil) -> String {
        "\(displayPath(file, relativeTo: base)):\(line):\(column)"
    }

    /// `file:line:col` with the file relative to the current directory when beneath it.
    public var description: String { formatted(relativeTo: currentDirectory()) }
}

/// A value read from a pipeline file together with where it was written, so that checks made
/// long after loading (rule matching, the build) can still point at the line to fix.
///
/// Encodes as the bare value: positions are deliberately absent from the encoded form, because
/// stage keys are computed from canonical encodings and moving a line must not invalidate a cache.
/// Decoding therefore yields `SourceLocation.unknown`.
public struct Located<Value> {
    /// The value.
    public var value: Value
    /// Where the value was written.
    public var location: SourceLocation

    /// Creates a located value.
    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }

    /// The same location with a transformed value.
    public func map<T>(_ transform: (Value) throws -> T) rethrows -> Located<T> {
        Located<T>(try transform(value), at: location)
    }
}

extension Located: Sendable where Value: Sendable {}
extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}

extension Located: Encodable where Value: Encodable {
    /// Encodes only the value (see the type's documentation for why).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension Located: Decodable where Value: Decodable {
    /// Decodes a bare value; the location is `SourceLocation.unknown`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.init(try container.decode(Value.self), at: .unknown)
    }
}

/// How serious a diagnostic is.
public enum Severity: String, Sendable, Hashable, Codable, Comparable {
    /// The pipeline cannot run.
    case error
    /// The pipeline runs, but probably not as its author meant.
    case warning
    /// Extra information attached to another diagnostic.
    case note

    private var rank: Int {
        switch self {
        case .error: 0
        case .warning: 1
        case .note: 2
        }
    }

    /// Errors sort before warnings before notes.
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One problem found in a pipeline, at a position in a file.
///
/// Rendered as `file:line:col: severity: message`; a hint, when present, follows on its own line
/// as `file:line:col: note: hint` at the same position. A separate note line (rather than text
/// appended to the message) keeps every line in the one format editors and CI problem matchers
/// parse, and keeps messages greppable.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Where the problem is.
    public var location: SourceLocation
    /// How serious it is.
    public var severity: Severity
    /// What is wrong, in one sentence without a trailing period.
    public var message: String
    /// How to fix it, e.g. "did you mean `tucker2`?".
    public var hint: String?

    /// Creates a diagnostic.
    public init(_ severity: Severity, _ message: String, at location: SourceLocation, hint: String? = nil) {
        self.severity = severity
        self.message = message
        self.location = location
        self.hint = hint
    }

    /// The file the problem is in.
    public var file: URL { location.file }
    /// 1-based line.
    public var line: Int { location.line }
    /// 1-based column.
    public var column: Int { location.column }

    /// The rendered lines (one, or two with a hint), file paths relative to `base` when beneath it.
    public func formatted(relativeTo base: URL? = nil) -> String {
        let position = location.formatted(relativeTo: base)
        var text = "\(position): \(severity.rawValue): \(message)"
        if let hint { text += "\n\(position): note: \(hint)" }
        return text
    }

    /// The rendered lines, file paths relative to the current directory when beneath it.
    public var description: String { formatted(relativeTo: currentDirectory()) }
}

extension [Diagnostic] {
    /// All diagnostics rendered one after the other, one per line.
    public func formatted(relativeTo base: URL? = nil) -> String {
        map { $0.formatted(relativeTo: base) }.joined(separator: "\n")
    }

    /// Whether any of them is an error.
    public var containsErrors: Bool { contains { $0.severity == .error } }
}

// MARK: - Paths

func currentDirectory() -> URL {
    URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
}

/// `file`'s path relative to `base` when it lies beneath it, else its absolute path.
func displayPath(_ file: URL, relativeTo base: URL?) -> String {
    let path = file.standardizedFileURL.path
    guard let base else { return path }
    var prefix = base.standardizedFileURL.path
    if !prefix.hasSuffix("/") { prefix += "/" }
    return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
}

/// The relative path from directory `base` to `file` (with `..` where needed); used in messages
/// that must read the same on every machine.
func relativePath(_ file: URL, from base: URL) -> String {
    let target = file.standardizedFileURL.pathComponents
    let origin = base.standardizedFileURL.pathComponents
    var common = 0
    while common < target.count, common < origin.count, target[common] == origin[common] { common += 1 }
    let ups = Array(repeating: "..", count: origin.count - common)
    let parts = ups + target[common...]
    return parts.isEmpty ? "." : parts.joined(separator: "/")
}

// MARK: - Suggestions

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// "did you mean `x`?" for the closest candidate, when it is close enough to be a plausible typo
/// (at most a third of the word's letters wrong, and at most 3).
func suggestion(for word: String, among candidates: [String]) -> String? {
    let limit = Swift.max(1, Swift.min(3, (word.count + 2) / 3))
    let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return "did you mean `\(best.0)`?"
}
