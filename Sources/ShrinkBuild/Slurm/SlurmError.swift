import Foundation

/// Why a stage sent to Slurm did not come back.
public enum SlurmError: Error, Sendable, CustomStringConvertible {
    /// `sbatch` refused the job (bad partition or account, a limit reached, no controller).
    case submissionFailed(String)
    /// The stage failed in every attempt: the last job, its state and log file, the stage's exit
    /// status when it reported one, and the end of what the stage printed there.
    case stageFailed(identity: String, job: String, state: String, attempts: Int, log: String, status: Int32?, message: String)
    /// The executor cannot be used here (no client tools, no controller).
    case unavailable(String)

    /// One paragraph naming the stage, the job and its log.
    public var description: String {
        switch self {
        case .submissionFailed(let message): return "sbatch failed: \(message)"
        case .stageFailed(let identity, let job, let state, let attempts, let log, _, let message):
            let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
            return "\(identity) failed in Slurm job \(job) (\(state), \(tries)); log: \(log)" + (message.isEmpty ? "" : "\n\(message)")
        case .unavailable(let message): return message
        }
    }

    /// The stage refused its input (`exec-stage` exit 2 in its job): the user's data or model,
    /// which the run reports as invalid input rather than as a cluster failure.
    public var refusedInput: Bool {
        if case .stageFailed(_, _, _, _, _, let status, _) = self { return status == StageExit.invalidInput }
        return false
    }
}
