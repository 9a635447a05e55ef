// shrink-bench <suite> [options]: side-by-side performance of Shrink against the Python
// reference stack. Each suite lives in its own file; register it here, one line per suite, so
// parallel work merges cleanly.
import Foundation

/// Suites on the shared option parser (`BenchSupport.swift`).
let suites: [BenchSuite] = [
    LinalgSuite.suite,
]

/// Suites that parse their own options: they get every argument after the suite name.
let standaloneSuites: [(name: String, summary: String, run: ([String]) -> Void)] = [
    ("infer", "inference images/s vs onnxruntime (own options, see InferenceBench.swift)", runInferenceBench),
]

let arguments = Array(CommandLine.arguments.dropFirst())
if let first = arguments.first, let standalone = standaloneSuites.first(where: { $0.name == first }) {
    standalone.run(Array(arguments.dropFirst()))
    exit(0)
}
if arguments.first == "all" {
    // Every suite with its defaults; options after `all` go to the shared-parser suites.
    let code = BenchMain.run(arguments: suites.map(\.name) + arguments.dropFirst(), suites: suites)
    for s in standaloneSuites { s.run([]) }
    exit(code)
}
exit(BenchMain.run(arguments: arguments, suites: suites,
                   extraSuites: standaloneSuites.map { ($0.name, $0.summary) }))
