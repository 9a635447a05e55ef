import ShrinkTensor

/// Why a layer could not be decomposed as asked; never a crash, always one of these.
///
/// The description reads `layer: message`, so a command line can print it as is.
public struct DecompositionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem, so callers choose an exit code without parsing text.
    public enum Kind: String, Sendable, Equatable {
        /// The method does not fit this layer (wrong operator, kernel, channel count, …).
        case notApplicable
        /// A layer shape the method could handle in principle but Shrink does not (groups, 3-D).
        case unsupported
        /// A rank that is malformed for the method (wrong arity, zero, negative, out of range).
        case invalidRank
        /// Inputs that do not agree with the layer (activation sizes, model structure).
        case invalidInput
        /// No layer of that name in the model.
        case layerNotFound
        /// A linear-algebra routine failed (non-convergence, not positive definite).
        case numerical
    }

    /// The category.
    public var kind: Kind
    /// The layer concerned, when there is one.
    public var layer: String?
    /// One sentence saying what is wrong.
    public var message: String
    /// What to do instead, when there is an obvious alternative.
    public var hint: String?

    /// Creates an error; `layer` prefixes the message in `description`.
    public init(_ kind: Kind, layer: String?, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.layer = layer
        self.message = message
        self.hint = hint
    }

    /// `layer: message (hint)`.
    public var description: String {
        var s = layer.map { "\($0): \(message)" } ?? message
        if let hint { s += " (\(hint))" }
        return s
    }
}

/// Runs a linear-algebra call, turning its error into a `DecompositionError` for `layer`.
@inline(__always)
func numerics<T>(_ layer: String, _ body: () throws(LinearAlgebraError) -> T) throws(DecompositionError) -> T {
    do {
        return try body()
    } catch {
        throw DecompositionError(.numerical, layer: layer, error.description)
    }
}
