/// A failure from a BLAS/LAPACK call or a shape check on a linear-algebra API.
///
/// LAPACK reports problems through an `info` code instead of trapping; every wrapper turns a
/// non-zero code into this error so that a bad matrix (user input, in the end) never crashes
/// the process. Shape mismatches use `info == 0` and the public function's name as `routine`.
public struct LinearAlgebraError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, so callers can react without parsing the message.
    public enum Kind: Sendable, Equatable {
        /// Operand shapes do not fit the operation.
        case shapeMismatch
        /// An argument is out of its valid range (LAPACK `info < 0`, or a bad rank/count).
        case invalidArgument
        /// The matrix is singular (LU) or not positive definite (Cholesky).
        case singular
        /// An iterative LAPACK kernel did not converge (e.g. SVD, eigensolver).
        case noConvergence
        /// A LAPACK failure not covered above.
        case other
    }

    /// The LAPACK routine (e.g. `"spotrf"`) or Swift function that failed.
    public let routine: String
    /// LAPACK's `info` return code; 0 for failures detected on the Swift side.
    public let info: Int
    /// The category of the failure.
    public let kind: Kind
    /// A human-readable explanation.
    public let message: String

    /// Creates an error; prefer the static helpers below.
    public init(routine: String, info: Int, kind: Kind, message: String) {
        self.routine = routine
        self.info = info
        self.kind = kind
        self.message = message
    }

    /// A shape check failed in `function`.
    public static func shapeMismatch(_ function: String, _ message: String) -> LinearAlgebraError {
        LinearAlgebraError(routine: function, info: 0, kind: .shapeMismatch, message: message)
    }

    /// An argument of `function` is out of range.
    public static func invalidArgument(_ function: String, _ message: String) -> LinearAlgebraError {
        LinearAlgebraError(routine: function, info: 0, kind: .invalidArgument, message: message)
    }

    /// `description` of a LAPACK routine's failure; `positiveMeaning` explains `info > 0`,
    /// which is routine specific.
    static func lapack(_ routine: String, info: Int32, kind: Kind, _ positiveMeaning: String) -> LinearAlgebraError {
        if info < 0 {
            // LAPACKE uses -1011 for a failed workspace allocation.
            let text = info == -1011 ? "out of memory for the workspace" : "argument \(-info) had an illegal value"
            return LinearAlgebraError(routine: routine, info: Int(info), kind: info == -1011 ? .other : .invalidArgument,
                                      message: text)
        }
        return LinearAlgebraError(routine: routine, info: Int(info), kind: kind, message: positiveMeaning)
    }

    /// `routine: message (info N)`.
    public var description: String {
        info == 0 ? "\(routine): \(message)" : "\(routine): \(message) (info \(info))"
    }
}

/// Throws a `LinearAlgebraError` for a non-zero LAPACK `info`.
@inline(__always)
func checkLAPACK(_ info: Int32, _ routine: String, kind: LinearAlgebraError.Kind,
                 _ positiveMeaning: @autoclosure () -> String) throws(LinearAlgebraError) {
    if info != 0 { throw LinearAlgebraError.lapack(routine, info: info, kind: kind, positiveMeaning()) }
}
