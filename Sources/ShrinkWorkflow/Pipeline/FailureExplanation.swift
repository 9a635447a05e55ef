import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor
import Synchronization

/// Which pipeline entry each data blob was read from (`data: { eval: … }`), recorded as the
/// runner hashes the files, so an error about a blob's content can name the entry to fix.
final class DataOrigins: Sendable {
    struct Origin: Sendable {
        /// The file as written relative to the pipeline's folder.
        var file: String
        /// The `data:` entry that names it.
        var location: SourceLocation
    }

    private let origins = Mutex<[Digest: Origin]>([:])

    func record(_ digest: Digest, file: String, at location: SourceLocation) {
        origins.withLock { if $0[digest] == nil { $0[digest] = Origin(file: file, location: location) } }
    }

    /// The origin of a data blob.
    func origin(of digest: Digest) -> Origin? { origins.withLock { $0[digest] } }

    /// The origin of a blob named in a message as its object path or object file name
    /// (`.shrink/cache/objects/ab/cdef…` or `cdef…`).
    func origin(forObjectName name: String) -> Origin? {
        let last = (name as NSString).lastPathComponent
        guard last.count >= 32 else { return nil }
        return origins.withLock { all in
            all.first { $0.key.hex.hasSuffix(last) }?.value
        }
    }
}

extension PipelineRunner {
    /// A stage failure as the user should read it: data-content errors at the `data:` entry,
    /// evaluator failures at `metric:`, everything else as `stage: message` (exit 2).
    func explain(_ failure: StageFailure, specs: [PipelineSpec]) -> any Error {
        var identity = failure.identity
        var error = failure.error
        while case SchedulerError.substageFailed(let inner, let cause) = error {
            identity = inner
            error = cause
        }
        switch error {
        case let e as PipelineError: return e
        case let e as PipelineInterrupted: return e
        case let e as DataContentError:
            if let origin = dataOrigins.origin(of: e.blob) {
                return PipelineError.invalid("data file `\(origin.file)`: \(e.message)", at: origin.location)
            }
            return PipelineError.invalidInput("\(identity): \(e)")
        case let e as DatasetError:
            if let file = e.file, let origin = dataOrigins.origin(forObjectName: file) {
                return PipelineError.invalid("data file `\(origin.file)`: \(e.message)", at: origin.location)
            }
            return PipelineError.invalidInput("\(e)")
        case let e as EvaluatorCommandError:
            let spec = specs.first { identity.hasPrefix(Self.stagePrefix(spec: $0, target: $0.variant ?? "main")) } ?? specs[0]
            return PipelineError.invalid(e.message, at: spec.metric.location)
        case let e as DecompositionError where e.kind == .numerical:
            // A factorisation that did not converge is not the user's input (as in `decompose`).
            return PipelineError.internalError("\(identity): \(e)")
        case is DecompositionError, is ShrinkGraph.GraphError, is RuntimeError, is NumPyError:
            // The user's model or ranks: bad input.
            return PipelineError.invalidInput("\(identity): \(error)")
        default:
            // The store, the scheduler, an executor, LAPACK: not the user's input.
            return PipelineError.internalError("\(identity): \(error)")
        }
    }
}
