/// Why a model cannot go on the device, or why building or checking its C library failed.
///
/// Every problem found in one pass is listed (`problems`), so a user fixes a model once, not
/// once per unsupported node. `isInvalidInput` decides the exit code: 2 for the model, data or
/// options, 3 for our own failures (a compiler error in code we generated, a mismatch between
/// the engine and the compiled C).
public struct DeviceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, for callers and tests that branch on it.
    public enum Kind: String, Sendable, Equatable, Codable {
        /// The model cannot be lowered: ops without a device kernel, several inputs or outputs,
        /// integer inputs, unsupported attributes or shapes.
        case unsupportedModel
        /// Data or options are unusable (calibration data of the wrong shape, a bad percentile, …).
        case invalidInput
        /// A needed tool (gcc, arm-none-eabi-gcc, qemu-system-arm) is missing.
        case toolchainMissing
        /// A tool failed or timed out on code Shrink generated.
        case toolchainFailed
        /// The compiled library disagrees with the engine.
        case verificationFailed
        /// A file could not be written or read.
        case io
    }

    /// What went wrong.
    public var kind: Kind
    /// The file concerned (the model, the data, the output directory), as the user named it.
    public var file: String?
    /// One line per problem, each naming the node or tensor and the fix where there is one.
    public var problems: [String]
    /// A fix that applies to all problems.
    public var hint: String?

    /// An error with one or more problems.
    public init(_ kind: Kind, _ problems: [String], file: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.problems = problems
        self.file = file
        self.hint = hint
    }

    /// An error with one problem.
    public init(_ kind: Kind, _ problem: String, file: String? = nil, hint: String? = nil) {
        self.init(kind, [problem], file: file, hint: hint)
    }

    /// True when the user's model, data or options are at fault (exit code 2), false for
    /// internal failures (exit code 3).
    public var isInvalidInput: Bool {
        switch kind {
        case .unsupportedModel, .invalidInput, .toolchainMissing: true
        case .toolchainFailed, .verificationFailed, .io: false
        }
    }

    /// The same error naming `file`, unless it names one already.
    public func inFile(_ file: String?) -> DeviceError {
        var e = self
        if e.file == nil { e.file = file }
        return e
    }

    /// `file: problem` (one line), or `file: N problems:` followed by one indented line each.
    public var description: String {
        let prefix = file.map { "\($0): " } ?? ""
        var s: String
        if problems.count == 1 {
            s = prefix + problems[0]
        } else {
            s = prefix + "\(problems.count) problems:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        }
        if let hint { s += (problems.count == 1 ? "; " : "\n") + hint }
        return s
    }
}
