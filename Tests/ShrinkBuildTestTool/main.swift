// A toy pipeline on the ShrinkBuild scheduler, run as a separate process by ShrinkBuildTests:
// two of them at once on one cache (flock), one killed at a publish point (crash safety), one
// sent SIGINT (clean interruption). Prints a JSON summary on standard output.
//
// shrink-build-testtool --root DIR [--jobs N] [--b TEXT] [--sleep-ms MS] [--signals]
import Foundation
import ShrinkBuild

struct Arguments {
    var root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    var jobs = 2
    var b = "beta"
    var sleepMilliseconds = 0
    var signals = false

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            switch flag {
            case "--signals": signals = true
            default:
                guard let value = iterator.next() else { throw ToolError.usage("\(flag) needs a value") }
                switch flag {
                case "--root": root = URL(fileURLWithPath: value)
                case "--jobs": jobs = Int(value) ?? jobs
                case "--b": b = value
                case "--sleep-ms": sleepMilliseconds = Int(value) ?? 0
                default: throw ToolError.usage("unknown flag \(flag)")
                }
            }
        }
    }
}

enum ToolError: Error { case usage(String) }

struct Text: Encodable, Sendable { var text: String }
struct Rank: Encodable, Sendable { var rank: Int }

/// Sleeps in small steps so an interrupted run notices quickly.
func pause(_ milliseconds: Int, _ context: StageContext) throws {
    var left = milliseconds
    while left > 0 {
        try context.checkCancellation()
        usleep(UInt32(min(left, 10)) * 1000)
        left -= 10
    }
}

func graph(_ arguments: Arguments) throws -> StageGraph {
    let sleep = arguments.sleepMilliseconds
    var graph = StageGraph()
    for (name, text) in [("a", "alpha"), ("b", arguments.b)] {
        try graph.add(FunctionStage(kind: "source", identity: "source:\(name)", parameters: Text(text: text)) { context, p in
            try pause(sleep, context)
            return ["text": Data(p.text.utf8)]
        })
        try graph.add(FunctionStage(
            kind: "upper", identity: "upper:\(name)", parameters: EmptyParameters(),
            inputs: ["in": .output(of: "source:\(name)", named: "text")]
        ) { context, _ in
            try pause(sleep, context)
            return ["text": Data(String(decoding: try context.data("in"), as: UTF8.self).uppercased().utf8)]
        })
    }
    try graph.add(FunctionStage(
        kind: "concat", identity: "concat", parameters: EmptyParameters(),
        inputs: ["left": .output(of: "upper:a", named: "text"), "right": .output(of: "upper:b", named: "text")]
    ) { context, _ in
        try pause(sleep, context)
        return ["text": try context.data("left") + Data("|".utf8) + context.data("right")]
    })
    try graph.add(FunctionStage(
        kind: "search", identity: "search", parameters: Rank(rank: 4),
        inputs: ["text": .output(of: "concat", named: "text")]
    ) { context, p in
        let text = try context.digest(of: "text")
        let candidates: [any Stage] = (1...p.rank).map { rank in
            FunctionStage(kind: "eval", identity: "eval:r\(rank)", parameters: Rank(rank: rank), inputs: ["text": .blob(text)]) {
                context, p in
                try pause(sleep, context)
                return ["score": Data((String(decoding: try context.data("text"), as: UTF8.self) + "#\(p.rank)").utf8)]
            }
        }
        let results = try context.run(substages: candidates)
        let scores = try results.map { try context.data("score", of: $0) }
        return ["best": Data("best ".utf8) + (scores.min { $0.lexicographicallyPrecedes($1) } ?? Data())]
    })
    return graph
}

do {
    let arguments = try Arguments(CommandLine.arguments)
    let store = try Store(repositoryRoot: arguments.root)
    let scheduler = Scheduler(
        store: store, options: SchedulerOptions(jobs: arguments.jobs, handlesSignals: arguments.signals))
    let summary = try scheduler.run(try graph(arguments))
    var outputs = [String: [String: String]]()
    for result in summary.results.values + summary.substageResults {
        outputs[result.identity] = result.outputs.mapValues(\.hex)
    }
    let report: [String: AnyEncodable] = [
        "executed": AnyEncodable(summary.executed.map(\.identity)),
        "cached": AnyEncodable(summary.cachedCount),
        "outputs": AnyEncodable(outputs),
        "publishCount": AnyEncodable(CrashTestHook.publishCount),
        "interrupted": AnyEncodable(summary.interrupted),
        "failures": AnyEncodable(summary.failures.map(\.description)),
    ]
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
    exit(summary.interrupted ? summary.interruptedExitStatus : (summary.succeeded ? 0 : 3))
} catch {
    FileHandle.standardError.write(Data("shrink-build-testtool: \(error)\n".utf8))
    exit(3)
}

struct AnyEncodable: Encodable {
    let encodeValue: (any Encoder) throws -> Void
    init(_ value: some Encodable) { encodeValue = value.encode }
    func encode(to encoder: any Encoder) throws { try encodeValue(encoder) }
}
