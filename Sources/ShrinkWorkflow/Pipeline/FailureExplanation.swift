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
        case let e as PipelineInterrupted: return e
        case let e as DataContentError:
            if let origin = dataOrigins.origin(of: e.blob) {
                return PipelineError.invalid("data file `\(origin.file)`: \(e.message)", at: origin.location)
            }
        case let e as DatasetError:
            if let file = e.file, let origin = dataOrigins.origin(forObjectName: file) {
                return PipelineError.invalid("data file `\(origin.file)`: \(e.message)", at: origin.location)
            }
        case let e as EvaluatorCommandError:
            let spec = specs.first { identity.hasPrefix(Self.stagePrefix(spec: $0, target: $0.variant ?? "main")) } ?? specs[0]
            return PipelineError.invalid(e.message, at: spec.metric.location)
        default:
            break
        }
        return Self.classify(error, identity: identity)
    }

    /// A stage's error as invalid input (exit 2: the user's model, data, ranks or evaluator) or
    /// an internal failure (exit 3: the store, the scheduler, LAPACK), without a source location.
    /// `shrink exec-stage` uses it too, so a stage run by an executor exits as it would in process,
    /// and the driver maps the executor's report of that exit back to the same case.
    public static func classify(_ error: any Error, identity: String) -> PipelineError {
        if case SchedulerError.substageFailed(let inner, let cause) = error { return classify(cause, identity: inner) }
        let prefix = identity.isEmpty ? "" : "\(identity): "
        switch error {
        case let e as PipelineError: return e
        case let e as DataContentError: return .invalidInput(prefix + "\(e)")
        case let e as DatasetError: return .invalidInput("\(e)")
        case let e as EvaluatorCommandError: return .invalidInput(prefix + e.message)
        case let e as DecompositionError where e.kind == .numerical:
            // A factorisation that did not converge is not the user's input (as in `decompose`).
            return .internalError(prefix + "\(e)")
        case is DecompositionError, is ShrinkGraph.GraphError, is RuntimeError, is NumPyError:
            // The user's model or ranks: bad input.
            return .invalidInput(prefix + "\(error)")
        case let e as ExecutorError where e.refusedInput:
            return .invalidInput(prefix + "\(e)")
        case let e as SlurmError where e.refusedInput:
            return .invalidInput("\(e)")
        default:
            // The store, the scheduler, an executor, LAPACK: not the user's input.
            return .internalError(prefix + "\(error)")
        }
    }
}
