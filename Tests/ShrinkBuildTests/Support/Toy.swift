import Foundation
import ShrinkBuild
import Synchronization

/// A scratch repository folder, removed when the value is released.
final class Scratch: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("shrink-build-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Counts how often each stage's body ran (the scheduler's own counts are checked against it).
final class Counter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func hit(_ identity: String) { counts.withLock { $0[identity, default: 0] += 1 } }
    var all: [String: Int] { counts.withLock { $0 } }
    var total: Int { all.values.reduce(0, +) }
}

/// The most stage bodies ever running at once.
final class Parallelism: Sendable {
    private let state = Mutex<(now: Int, peak: Int)>((0, 0))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

/// Collects store warnings.
final class Warnings: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// Collects scheduler events.
final class Events: SchedulerObserver {
    private let events = Mutex<[SchedulerEvent]>([])
    func schedulerEvent(_ event: SchedulerEvent) { events.withLock { $0.append(event) } }
    var all: [SchedulerEvent] { events.withLock { $0 } }
}

struct Text: Encodable, Sendable { var text: String }
struct Rank: Encodable, Sendable { var rank: Int }
struct ToyError: Error, CustomStringConvertible { var description: String }

/// The toy pipeline:
///
/// ```
/// source:a ─ upper:a ─┐
/// source:b ─ upper:b ─┴ concat ─┬ hash
/// source:file (input.txt) ──────┴───── search ⟶ eval:r1…r4 (sub-stages)
/// ```
struct Toy {
    var a = "alpha"
    var b = "beta"
    /// Stages whose body throws.
    var failing: Set<String> = []
    /// Milliseconds each stage sleeps, by identity.
    var sleep: [String: Int] = [:]
    /// Stages that first wait (up to 5 s) until another stage has started, by identity: orders
    /// events that timing alone would not on a loaded machine.
    var after: [String: String] = [:]
    var ranks = 4
    var parallelism = Parallelism()

    /// Stages of a cold run: 8 graph stages + `ranks` sub-stages.
    var coldCount: Int { 8 + ranks }

    func graph(root: URL, counter: Counter) throws -> StageGraph {
        var graph = StageGraph()
        let failing = failing
        let sleep = sleep
        let after = after
        let parallelism = parallelism
        @Sendable func body(_ identity: String, _ context: StageContext) throws {
            counter.hit(identity)
            parallelism.enter()
            defer { parallelism.leave() }
            if let other = after[identity] {
                let deadline = Date().addingTimeInterval(5)
                while counter.all[other] == nil && Date() < deadline { usleep(1000) }
            }
            if let ms = sleep[identity] { usleep(UInt32(ms) * 1000) }
            if failing.contains(identity) { throw ToyError(description: "\(identity) was told to fail") }
        }
        for (name, text) in [("a", a), ("b", b)] {
            try graph.add(FunctionStage(kind: "source", identity: "source:\(name)", parameters: Text(text: text)) { context, p in
                try body(context.identity, context)
                return ["text": Data(p.text.utf8)]
            })
            try graph.add(FunctionStage(
                kind: "upper", identity: "upper:\(name)", parameters: EmptyParameters(),
                inputs: ["in": .output(of: "source:\(name)", named: "text")]
            ) { context, _ in
                try body(context.identity, context)
                return ["text": Data(String(decoding: try context.data("in"), as: UTF8.self).uppercased().utf8)]
            })
        }
        try graph.add(FunctionStage(
            kind: "read", identity: "source:file", parameters: EmptyParameters(),
            inputs: ["file": .file(root.appendingPathComponent("input.txt"))]
        ) { context, _ in
            try body(context.identity, context)
            return ["text": try context.data("file")]
        })
        try graph.add(FunctionStage(
            kind: "concat", identity: "concat", parameters: EmptyParameters(),
            inputs: ["left": .output(of: "upper:a", named: "text"), "right": .output(of: "upper:b", named: "text")]
        ) { context, _ in
            try body(context.identity, context)
            return ["text": try context.data("left") + Data("|".utf8) + context.data("right")]
        })
        try graph.add(FunctionStage(
            kind: "hash", identity: "hash", parameters: EmptyParameters(),
            inputs: ["text": .output(of: "concat", named: "text")]
        ) { context, _ in
            try body(context.identity, context)
            return ["digest": Data(try context.digest(of: "text").hex.utf8)]
        })
        try graph.add(FunctionStage(
            kind: "search", identity: "search", parameters: Rank(rank: ranks),
            inputs: ["text": .output(of: "concat", named: "text"), "file": .output(of: "source:file", named: "text")]
        ) { context, p in
            try body(context.identity, context)
            let text = try context.digest(of: "text")
            let candidates: [any Stage] = (1...p.rank).map { rank in
                FunctionStage(kind: "eval", identity: "eval:r\(rank)", parameters: Rank(rank: rank), inputs: ["text": .blob(text)]) {
                    context, p in
                    try body(context.identity, context)
                    return ["score": Data((String(decoding: try context.data("text"), as: UTF8.self) + "#\(p.rank)").utf8)]
                }
            }
            let results = try context.run(substages: candidates)
            var best = Data()
            for result in results {
                let score = try context.data("score", of: result)
                if best.isEmpty || score.lexicographicallyPrecedes(best) { best = score }
            }
            return ["best": try best + Data("/".utf8) + context.data("file")]
        })
        return graph
    }

    /// Runs the toy pipeline once on the cache of `root`.
    @discardableResult
    func run(
        root: URL, jobs: Int = 2, keepGoing: Bool = false, counter: Counter = Counter(),
        warnings: Warnings = Warnings(), observer: (any SchedulerObserver)? = nil
    ) throws -> RunSummary {
        if !FileManager.default.fileExists(atPath: root.appendingPathComponent("input.txt").path) {
            try Data("from a file".utf8).write(to: root.appendingPathComponent("input.txt"))
        }
        let store = try Store(repositoryRoot: root, warn: { warnings.add($0) })
        let scheduler = Scheduler(store: store, options: SchedulerOptions(jobs: jobs, keepGoing: keepGoing), observer: observer)
        return try scheduler.run(graph(root: root, counter: counter))
    }
}

extension RunSummary {
    /// Identity → output name → digest, for graph stages and sub-stages.
    var allOutputs: [String: [String: Digest]] {
        var outputs = [String: [String: Digest]]()
        for result in results.values + substageResults { outputs[result.identity] = result.outputs }
        return outputs
    }

    /// Identity → output name → digest, for graph stages only.
    var graphOutputs: [String: [String: Digest]] { results.mapValues(\.outputs) }

    var executedIdentities: Set<String> { Set(executed.map(\.identity)) }
}
