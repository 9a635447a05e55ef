import Foundation

/// Why a stage sent to Slurm did not come back.
public enum SlurmError: Error, Sendable, CustomStringConvertible {
    /// `sbatch` refused the job (bad partition or account, a limit reached, no controller).
    case submissionFailed(String)
    /// The stage failed in every attempt: the last job, its state and log file, and the end of
    /// what the stage printed there.
    case stageFailed(identity: String, job: String, state: String, attempts: Int, log: String, message: String)
    /// The executor cannot be used here (no client tools, no controller).
    case unavailable(String)

    /// One paragraph naming the stage, the job and its log.
    public var description: String {
        switch self {
        case .submissionFailed(let message): return "sbatch failed: \(message)"
        case .stageFailed(let identity, let job, let state, let attempts, let log, let message):
            let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
            return "\(identity) failed in Slurm job \(job) (\(state), \(tries)); log: \(log)" + (message.isEmpty ? "" : "\n\(message)")
        case .unavailable(let message): return message
        }
    }
}
