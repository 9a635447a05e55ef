/// Receives scheduler events. Called from worker threads, possibly several at once, so
/// implementations must be thread-safe; they should also be quick, since a worker waits for them.
public protocol SchedulerObserver: Sendable {
    /// One event.
    func schedulerEvent(_ event: SchedulerEvent)
}

/// Something that happened during a run.
public enum SchedulerEvent: Sendable {
    /// A stage missed the cache and is about to run.
    case started(StageProgress)
    /// A stage ran and its outputs were published.
    case executed(StageProgress)
    /// A stage's outputs came from the cache.
    case cached(StageProgress)
    /// A stage failed.
    case failed(StageProgress, message: String)
    /// A stage was not run because a dependency failed or the run stopped.
    case skipped(identity: String, reason: String)
    /// Ctrl-C (or SIGTERM) arrived: no new stages start; a second signal exits at once.
    case interrupted
}

/// A stage and where the run stands, as carried by events.
public struct StageProgress: Sendable {
    /// The stage identity.
    public let identity: String
    /// The stage kind.
    public let kind: String
    /// The stage that submitted this one as a sub-stage, if any.
    public let parent: String?
    /// Seconds since the stage started (0 for `started`).
    public let elapsed: Double
    /// Why it runs (for `started` and `executed`).
    public let reasons: [KeyChange]
    /// Stages finished so far (executed, cached or failed), this one included once it finished.
    public let completed: Int
    /// Stages known so far; grows as dynamic stages submit sub-stages.
    public let total: Int
    /// Graph stages of this run finished so far (sub-stages not counted).
    public var stagesDone: Int = 0
    /// Graph stages of this run: fixed when the run starts, so it never grows.
    public var stagesTotal: Int = 0
    /// For a sub-stage: the batch its parent submitted it in, and where that batch stands.
    public var batch: SubstageBatch? = nil
}

/// Sub-stages a stage submitted together (one round of search candidates): a fixed total, so
/// progress within it can show done/total and an estimate of the time left.
public struct SubstageBatch: Sendable, Hashable {
    /// Unique within the run.
    public var id: Int
    /// The stage that submitted it.
    public var parent: String
    /// Sub-stages of the batch finished so far.
    public var done: Int
    /// Sub-stages in the batch.
    public var total: Int
    /// Seconds since the batch was submitted.
    public var elapsed: Double
}
