import Foundation

// One suite per first argument; each suite lives in its own file with a single entry function.
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "infer":
    runInferenceBench(Array(arguments.dropFirst()))
default:
    print("usage: shrink-bench <suite> [options]\nsuites: infer")
    exit(arguments.isEmpty ? 0 : 2)
}
