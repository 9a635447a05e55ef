// shrink-bench <suite> [options]: side-by-side performance of Shrink against the Python
// reference stack. Each suite lives in its own file; register it here, one line per suite, so
// parallel work merges cleanly.
import Foundation

let suites: [BenchSuite] = [
    LinalgSuite.suite,
]

exit(BenchMain.run(arguments: Array(CommandLine.arguments.dropFirst()), suites: suites))
