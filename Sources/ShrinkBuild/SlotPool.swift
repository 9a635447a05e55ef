import Dispatch
import Synchronization

/// `--jobs N` as N slots: work starts only when a slot is free, and a worker that must wait
/// (for sub-stages, or for a lock another run holds) lends its slot meanwhile and gets one back
/// before continuing — so nested waits never exhaust the pool and never exceed N running stages.
///
/// Each work item runs on its own serial Dispatch queue. Serial queues target libdispatch's
/// overcommit pool, which adds a thread whenever the running ones block; a shared concurrent
/// queue does not (on Linux it stalled for seconds with all its threads parked in waits), and the
/// Swift cooperative pool must not block at all. The slots, not the threads, bound the parallelism.
final class SlotPool: Sendable {
    /// Sub-stages go before new graph stages: they unblock a stage that already holds resources.
    enum Priority { case normal, urgent }

    private struct State {
        var free: Int
        var resuming: [DispatchSemaphore] = []
        var urgent: [@Sendable () -> Void] = []
        var normal: [@Sendable () -> Void] = []
    }

    private let state: Mutex<State>
    let slots: Int

    init(slots: Int) {
        self.slots = max(1, slots)
        state = Mutex(State(free: max(1, slots)))
    }

    /// Queues work; it runs holding a slot, which is returned when it ends.
    func submit(_ priority: Priority, _ work: @escaping @Sendable () -> Void) {
        state.withLock { state in
            switch priority {
            case .urgent: state.urgent.append(work)
            case .normal: state.normal.append(work)
            }
        }
        pump()
    }

    /// Gives up the caller's slot while `body` blocks, then waits for a slot again. Workers that
    /// are resuming are served before any queued work, so the stage furthest along finishes first.
    func lendSlot<T>(while body: () throws -> T) rethrows -> T {
        state.withLock { $0.free += 1 }
        pump()
        defer { reacquire() }
        return try body()
    }

    /// Takes up to `extra` free slots without waiting, but only while no work is queued for them,
    /// so a stage can spread itself over cores that would otherwise idle (a lone evaluation while
    /// the policy thinks, a decomposition the others wait for). Returns how many it took; give
    /// them back with `giveBack`.
    func borrowIdle(upTo extra: Int) -> Int {
        guard extra > 0 else { return 0 }
        return state.withLock { state in
            guard state.resuming.isEmpty && state.urgent.isEmpty && state.normal.isEmpty else { return 0 }
            let n = min(extra, state.free)
            state.free -= n
            return n
        }
    }

    /// Returns slots taken by `borrowIdle`.
    func giveBack(_ count: Int) {
        guard count > 0 else { return }
        state.withLock { $0.free += count }
        pump()
    }

    private func reacquire() {
        let waiter: DispatchSemaphore? = state.withLock { state in
            if state.free > 0 && state.resuming.isEmpty {
                state.free -= 1
                return nil
            }
            let semaphore = DispatchSemaphore(value: 0)
            state.resuming.append(semaphore)
            return semaphore
        }
        waiter?.wait()
    }

    private func release() {
        state.withLock { $0.free += 1 }
        pump()
    }

    private func pump() {
        var resumes = [DispatchSemaphore]()
        var starts = [@Sendable () -> Void]()
        state.withLock { state in
            while state.free > 0 {
                if !state.resuming.isEmpty {
                    resumes.append(state.resuming.removeFirst())
                } else if !state.urgent.isEmpty {
                    starts.append(state.urgent.removeFirst())
                } else if !state.normal.isEmpty {
                    starts.append(state.normal.removeFirst())
                } else {
                    break
                }
                state.free -= 1  // the slot passes to the resumed waiter or the started work
            }
        }
        for semaphore in resumes { semaphore.signal() }
        for work in starts {
            DispatchQueue(label: "shrink.stage").async {
                work()
                self.release()
            }
        }
    }
}
