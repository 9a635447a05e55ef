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
}
