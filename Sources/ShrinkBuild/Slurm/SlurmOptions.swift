import Foundation

/// How `SlurmExecutor` submits: the repository configuration's `slurm:` section plus the command
/// jobs run. Every field has a default, so `--executor slurm` works with no configuration at all.
public struct SlurmOptions: Sendable {
    /// The command before the key on a worker: `[/path/to/shrink, exec-stage]`. The path must be
    /// valid on the nodes (a shared filesystem, or the same install everywhere).
    public var command: [String]
    /// `--partition`; nil: the cluster's default.
    public var partition: String?
    /// `--account`.
    public var account: String?
    /// `--time` per job.
    public var time: String?
    /// `--mem` per job.
    public var memory: String?
    /// Further `sbatch` arguments, passed as given.
    public var extraArguments: [String] = []
    /// A folder every node sees, used as the workers' repository root (their store is its
    /// `.shrink/cache`, their logs its `.shrink/slurm`) when the repository itself is not on a
    /// shared filesystem: the driver copies each stage's description and inputs there and the
    /// results back. nil: workers use the repository's own `.shrink/`.
    public var sharedDirectory: URL?
    /// Shell lines each job runs first (`module load …`, `source env.sh`).
    public var setup: [String] = []
    /// Jobs in flight at most (the driver's own and adopted ones).
    public var maxJobs: Int = 32
    /// Retries of a stage whose job failed, was cancelled, timed out or was lost.
    public var retries: Int = 2
    /// Stages per job; nil: chosen per batch from the measured job overhead (`SlurmGrouping`).
    public var stagesPerJob: Int?
    /// Seconds from submitting a trivial job to seeing it end, before this run measures its own:
    /// the figure measured on the test cluster (docs/cluster.md).
    public var jobOverhead: Double = 0.4
    /// Seconds a stage of an unknown kind is assumed to take until one has run.
    public var defaultStageSeconds: Double = 1
    /// How long ready stages are gathered before they are grouped into jobs: the scheduler hands
    /// over a search batch's candidates within milliseconds of each other.
    public var gatherWindow: Double = 0.2
    /// Seconds between looks at the queue.
    public var pollInterval: Double = 0.25

    /// Options for workers running `command KEY --root ROOT --no-lock`.
    public init(command: [String]) { self.command = command }
}
