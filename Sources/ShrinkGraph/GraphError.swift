import Foundation

/// Everything that can go wrong while loading, editing, analysing or saving a graph.
///
/// One struct rather than an enum of payload cases, so that every error carries the same
/// user-facing parts (file, message, hint) and callers can still branch on `kind`.
public struct GraphError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// What went wrong, for callers (and tests) that branch on it.
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be read (missing, permissions, a directory, …).
        case unreadable
        /// The bytes are not an ONNX model, or the model breaks the ONNX rules we rely on.
        case invalidModel
        /// A valid ONNX feature Shrink does not handle (control flow, sparse or external data, …).
        case unsupported
        /// The node graph has a cycle.
        case cycle
        /// A node reads a value nothing produces.
        case danglingInput
        /// An attribute is missing, of the wrong type, or out of range.
        case badAttribute
        /// Shapes could not be inferred for a node.
        case shapeInference
        /// A node, value or initializer named by the caller does not exist.
        case notFound
        /// An edit would leave the graph inconsistent.
        case invalidEdit
        /// The model file could not be written.
        case writeFailed
    }

    /// What went wrong.
    public var kind: Kind
    /// The model file the error is about, as the user named it, when known.
    public var file: String?
    /// One sentence for the user, without the file name.
    public var message: String
    /// How to fix it, when there is something to say.
    public var hint: String?

    /// An error of `kind` about `file` (if known).
    public init(_ kind: Kind, _ message: String, file: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.file = file
        self.hint = hint
    }

    /// The same error attributed to `file`, unless it already names one.
    public func inFile(_ file: String?) -> GraphError {
        var e = self
        if e.file == nil { e.file = file }
        return e
    }

    /// The same as `description`, so `localizedDescription` reads well too.
    public var errorDescription: String? { description }

    /// `file: message; hint` on one line, ready for stderr.
    public var description: String {
        var s = file.map { "\($0): " } ?? ""
        s += message
        if let hint { s += "; \(hint)" }
        return s
    }
}
