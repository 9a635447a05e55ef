import Foundation

/// Runs `shrink-build-testtool`, the toy pipeline as a separate process.
enum TestTool {
    struct Report: Decodable {
        var executed: [String]
        var cached: Int
        var outputs: [String: [String: String]]
        var publishCount: Int
        var interrupted: Bool
        var failures: [String]
    }

    struct Outcome {
        var status: Int32
        var killedBySignal: Bool
        var report: Report?
        var stderr: String
    }

    /// The executable, built beside the test bundle.
    static var executable: URL {
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
        return me.deletingLastPathComponent().appendingPathComponent("shrink-build-testtool")
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "\(TestTool.executable.path) is missing: build it with `swift build --build-tests`" }
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else { throw Missing() }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SHRINK_TEST_KILL_AT")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    static func finish(_ process: Process, _ out: Pipe, _ err: Pipe) -> Outcome {
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            killedBySignal: process.terminationReason == .uncaughtSignal,
            report: try? JSONDecoder().decode(Report.self, from: stdout),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        let (process, out, err) = try start(arguments, environment: environment)
        return finish(process, out, err)
    }
}
