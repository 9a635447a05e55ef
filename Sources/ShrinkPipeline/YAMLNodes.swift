import Foundation
import Yams

/// Collects the diagnostics of one load so that every problem is reported, not just the first.
final class DiagnosticSink {
    private(set) var items: [Diagnostic] = []

    func add(_ diagnostic: Diagnostic) { items.append(diagnostic) }

    func error(_ message: String, at location: SourceLocation, hint: String? = nil) {
        items.append(Diagnostic(.error, message, at: location, hint: hint))
    }

    func warning(_ message: String, at location: SourceLocation, hint: String? = nil) {
        items.append(Diagnostic(.warning, message, at: location, hint: hint))
    }

    func note(_ message: String, at location: SourceLocation) {
        items.append(Diagnostic(.note, message, at: location))
    }

    var hasErrors: Bool { items.containsErrors }
}

/// Limits that keep hostile or broken input from exhausting memory or the stack: Yams composes
/// recursively, so a file nested thousands of levels deep would overflow a thread's stack before
/// any diagnostic could be made. No real pipeline comes near these.
enum InputLimits {
    static let maxBytes = 1 << 20
    static let maxNesting = 64
}

/// Parses one YAML document into a node tree, turning every Yams failure into a diagnostic.
func parseYAML(_ data: Data, file: URL, sink: DiagnosticSink) -> Node? {
    let start = SourceLocation(file: file, line: 1, column: 1)
    guard data.count <= InputLimits.maxBytes else {
        sink.error("file is larger than \(InputLimits.maxBytes / 1024) KiB; a pipeline is a small YAML file", at: start)
        return nil
    }
    guard let text = String(data: data, encoding: .utf8) else {
        sink.error("file is not valid UTF-8 text", at: start)
        return nil
    }
    if let deep = excessiveNesting(text) {
        sink.error("YAML nested more than \(InputLimits.maxNesting) levels deep",
                   at: SourceLocation(file: file, line: deep.line, column: deep.column))
        return nil
    }
    if let key = aliasAsKey(text) {
        // Yams hashes mapping keys to find duplicates, and an alias key can stand for an
        // exponentially large tree ("billion laughs"): refuse before composing.
        sink.error("an alias cannot be a mapping key here; pipeline keys are plain words",
                   at: SourceLocation(file: file, line: key.line, column: key.column))
        return nil
    }
    do {
        guard let node = try Yams.compose(yaml: text) else {
            sink.error("file is empty; a pipeline starts with `shrink: 1`", at: start)
            return nil
        }
        return node
    } catch let error as YamlError {
        report(error, text: text, file: file, sink: sink)
        return nil
    } catch {
        sink.error("cannot parse YAML: \(error)", at: start)
        return nil
    }
}

private func report(_ error: YamlError, text: String, file: URL, sink: DiagnosticSink) {
    func location(_ mark: Mark) -> SourceLocation {
        SourceLocation(file: file, line: max(1, mark.line), column: max(1, mark.column))
    }
    func syntax(_ context: YamlError.Context?, _ problem: String, _ mark: Mark) {
        // libyaml's context ("while parsing a flow mapping") goes in the hint, so that it prints
        // right under the error instead of sorting ahead of it by position.
        let hint = context.map { "\($0.text) that starts at line \($0.mark.line), column \($0.mark.column)" }
        sink.error("invalid YAML: \(problem)", at: location(mark), hint: hint)
    }
    switch error {
    case let .scanner(context, problem, mark, _): syntax(context, problem, mark)
    case let .parser(context, problem, mark, _): syntax(context, problem, mark)
    case let .composer(context, problem, mark, _): syntax(context, problem, mark)
    case let .reader(problem, offset, _, _):
        let (line, column) = lineAndColumn(of: offset ?? 0, in: text)
        sink.error("invalid YAML: \(problem)", at: SourceLocation(file: file, line: line, column: column))
    case let .duplicatedKeysInMapping(duplicates, context):
        let keys = duplicates.map { "`\($0)`" }.joined(separator: ", ")
        sink.error("key \(keys) is written more than once in one mapping", at: location(context.mark),
                   hint: "YAML keeps only one of them; remove or merge the others")
    default:
        sink.error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
    }
}

/// 1-based line and column (in Unicode scalars, as libyaml counts) of a character offset.
private func lineAndColumn(of offset: Int, in text: String) -> (Int, Int) {
    var line = 1, column = 1, seen = 0
    for character in text {
        if seen >= offset { break }
        seen += 1
        if character == "\n" || character == "\r\n" {
            line += 1
            column = 1
        } else {
            column += character.unicodeScalars.count
        }
    }
    return (line, column)
}

/// Where the text first nests deeper than the limit, over-approximating the YAML depth: flow
/// brackets (outside quotes and comments) plus block indentation plus `-`/`?` indicators. A
/// generous estimate is fine: it only has to keep real files well under the limit and deep files
/// away from Yams' recursion.
private func excessiveNesting(_ text: String) -> (line: Int, column: Int)? {
    var flow = 0
    var line = 1
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
        defer { line += 1 }
        var indent = 0
        var indicators = 0
        var atStart = true
        var quote: Character?
        var column = 0
        var previous: Character = " "
        for character in rawLine {
            column += 1
            if let q = quote {
                if character == q { quote = nil }
                previous = character
                continue
            }
            if atStart {
                if character == " " { indent += 1; previous = character; continue }
                if character == "-" || character == "?" { indicators += 1; previous = character; continue }
                atStart = false
            }
            // A comment ends the line's content.
            if character == "#" && (previous == " " || previous == "\t") { break }
            switch character {
            case "\"", "'": quote = character
            case "[", "{": flow += 1
            case "]", "}": flow = max(0, flow - 1)
            default: break
            }
            let depth = flow + indent / 2 + indicators
            if depth > InputLimits.maxNesting { return (line, column) }
            previous = character
        }
        if flow + indent / 2 + indicators > InputLimits.maxNesting { return (line, max(1, column)) }
        // Quotes do not span lines in a pipeline worth estimating precisely; reset to stay robust.
        quote = nil
    }
    return nil
}

/// The first place an alias is used as a mapping key (`*a: x`, `? *a`), which no pipeline needs.
private func aliasAsKey(_ text: String) -> (line: Int, column: Int)? {
    var line = 1
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
        defer { line += 1 }
        let characters = Array(rawLine)
        var quote: Character?
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if let q = quote {
                if character == q { quote = nil }
                index += 1
                continue
            }
            if character == "\"" || character == "'" { quote = character }
            if character == "#", index == 0 || characters[index - 1] == " " { break }
            let starts = index == 0 || " \t[{,?:".contains(characters[index - 1])
            guard character == "*", starts else { index += 1; continue }
            // An explicit key: `? *a` (possibly after other indicators).
            let before = characters[..<index].filter { $0 != " " && $0 != "\t" && $0 != "-" }
            if before.last == "?" { return (line, index + 1) }
            var end = index + 1
            while end < characters.count, !" \t,[]{}:".contains(characters[end]) { end += 1 }
            var after = end
            while after < characters.count, characters[after] == " " || characters[after] == "\t" { after += 1 }
            if after < characters.count, characters[after] == ":" { return (line, index + 1) }
            index = end
        }
    }
    return nil
}

// MARK: - Reading nodes

/// A scalar's value after variable substitution, typed the way YAML 1.2's core schema types
/// plain scalars (quoted scalars are always strings).
enum ScalarValue: Hashable {
    case string(String)
    case int(Int)
    case float(Double)
    case bool(Bool)
    case null

    /// The text substituted for a variable holding this value.
    var substitutionText: String {
        switch self {
        case .bool(let b): String(b)
        case .null: ""
        default: text ?? ""
        }
    }

    /// The source text of a string or number, for positions that want text.
    var text: String? {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .float(let d): String(d)
        case .bool, .null: nil
        }
    }
}

/// Types a plain scalar's text. Deliberately YAML 1.2 (not 1.1): `yes`, `on` and `0x10` stay
/// strings, so a layer glob like `on*` or a var value `no` means what it says.
func typePlainScalar(_ text: String) -> ScalarValue {
    switch text {
    case "", "~", "null", "Null", "NULL": return .null
    case "true", "True", "TRUE": return .bool(true)
    case "false", "False", "FALSE": return .bool(false)
    default: break
    }
    let digits = text.replacingOccurrences(of: "_", with: "")
    if !digits.isEmpty, digits.count < 40, isDecimalInteger(digits), let value = Int(digits) { return .int(value) }
    if isDecimalFloat(digits), let value = Double(digits), value.isFinite { return .float(value) }
    return .string(text)
}

private func isDecimalInteger(_ s: String) -> Bool {
    var body = Substring(s)
    if body.first == "-" || body.first == "+" { body = body.dropFirst() }
    return !body.isEmpty && body.allSatisfy { $0.isASCII && $0.isNumber }
}

private func isDecimalFloat(_ s: String) -> Bool {
    var body = Substring(s)
    if body.first == "-" || body.first == "+" { body = body.dropFirst() }
    var mantissa = body
    var exponent: Substring?
    if let e = body.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = body[..<e]
        exponent = body[body.index(after: e)...]
    }
    let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, parts.contains(where: { !$0.isEmpty }) else { return false }
    guard parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return false }
    if var exponent {
        if exponent.first == "-" || exponent.first == "+" { exponent = exponent.dropFirst() }
        return !exponent.isEmpty && exponent.allSatisfy { $0.isASCII && $0.isNumber }
    }
    return parts.count == 2
}

/// How a node is described in "found …" messages.
func describe(_ node: Node) -> String {
    switch node {
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    case .scalar(let scalar):
        let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
        if !quoted, case .null = typePlainScalar(scalar.string) { return "nothing" }
        var text = scalar.string.replacingOccurrences(of: "\n", with: "⏎")
        if text.count > 40 { text = String(text.prefix(37)) + "…" }
        return "`\(text)`"
    }
}

/// The fields of a YAML mapping by key, with unknown keys and non-string keys reported.
struct Fields {
    let location: SourceLocation
    private(set) var keys: [String] = []
    private var entries: [String: (key: Node, value: Node)] = [:]

    /// Reads a mapping; reports and returns nil when `node` is not one.
    init?(_ node: Node, what: String, allowed: [String], file: URL, sink: DiagnosticSink) {
        location = nodeLocation(node, file: file)
        guard case .mapping(let mapping) = node else {
            sink.error("\(what) must be a mapping, found \(describe(node))", at: location)
            return nil
        }
        for (key, value) in mapping {
            let keyLocation = nodeLocation(key, file: file)
            guard case .scalar(let scalar) = key else {
                sink.error("keys in \(what) must be plain words, found \(describe(key))", at: keyLocation)
                continue
            }
            let name = scalar.string
            guard allowed.contains(name) else {
                sink.error("unknown key `\(name)` in \(what)", at: keyLocation,
                           hint: suggestion(for: name, among: allowed))
                continue
            }
            keys.append(name)
            entries[name] = (key, value)
        }
    }

    subscript(_ key: String) -> Node? { entries[key]?.value }

    func keyLocation(_ key: String, file: URL) -> SourceLocation? {
        entries[key].map { nodeLocation($0.key, file: file) }
    }

    func has(_ key: String) -> Bool { entries[key] != nil }
}

func nodeLocation(_ node: Node, file: URL) -> SourceLocation {
    guard let mark = node.mark else { return SourceLocation(file: file, line: 1, column: 1) }
    return SourceLocation(file: file, line: max(1, mark.line), column: max(1, mark.column))
}

/// A variable from `vars:`: its text and its type as written, so that a value written exactly as
/// `${name}` keeps the type (`rank: "${r}"` with `r: 8` is the integer 8).
struct Variable {
    var value: Located<String>
    var typed: ScalarValue
}
