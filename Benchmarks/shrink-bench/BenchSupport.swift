import Foundation
import ShrinkTensor

/// One benchmark suite: a name for the command line and a body that gets the parsed options.
struct BenchSuite: Sendable {
    /// `shrink-bench <name>`.
    var name: String
    /// One line for `shrink-bench --help`.
    var summary: String
    /// Runs the suite; returns false if it could not run (printed as an error, exit code 1).
    var run: @Sendable (BenchOptions) throws -> Bool
}

/// Options shared by every suite, parsed by hand (no dependencies in the benchmark).
struct BenchOptions {
    /// Fewer repetitions, skip the slowest reference cases.
    var quick = false
    /// Do not run the Python side; print Swift numbers only.
    var noPython = false
    /// Also print the combined results as one JSON object at the end.
    var json = false
    /// The Python interpreter (looked up on PATH unless a path is given).
    var python = "python3"
    /// BLAS threads for both sides (nil: OpenBLAS's default, one per core).
    var threads: Int?
    /// Interleaved rounds (Swift pass, then reference pass); each side keeps its best time per
    /// case, so a burst of load from other processes hurts neither side more than the other.
    var rounds = 1
}

enum BenchMain {
    static let usage = """
        usage: shrink-bench <suite> [--quick] [--no-python] [--json] [--threads N] [--rounds N] [--python PATH]
          suites: %SUITES%, or `all` for every suite
        %LIST%
          --quick      fewer repetitions; skip the slowest reference cases
          --no-python  Swift numbers only
          --json       print the combined results as JSON as well
          --threads N  BLAS threads on both sides (OpenBLAS default: one per core)
          --rounds N   alternate Swift and reference passes N times; best time per case
          --python P   Python interpreter to run the reference side (default: python3 on PATH)
        Build with `swift build -c release --product shrink-bench`; see docs/benchmarks.md.
        """

    /// Parses `arguments` and runs the chosen suites; returns the process exit code.
    /// `extraSuites` are listed in the help only (suites that parse their own options).
    static func run(arguments: [String], suites: [BenchSuite], extraSuites: [(String, String)] = []) -> Int32 {
        let listed = suites.map { ($0.name, $0.summary) } + extraSuites
        let text = usage.replacingOccurrences(of: "%SUITES%", with: listed.map(\.0).joined(separator: ", "))
            .replacingOccurrences(of: "%LIST%", with: listed.map { "    \($0.0): \($0.1)" }.joined(separator: "\n"))
        var options = BenchOptions()
        var chosen: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            switch a {
            case "--quick": options.quick = true
            case "--no-python": options.noPython = true
            case "--json": options.json = true
            case "--rounds":
                guard i + 1 < arguments.count, let n = Int(arguments[i + 1]), n > 0 else {
                    FileHandle.standardError.write(Data("--rounds needs a positive number\n".utf8))
                    return 2
                }
                i += 1
                options.rounds = n
            case "--threads":
                guard i + 1 < arguments.count, let n = Int(arguments[i + 1]), n > 0 else {
                    FileHandle.standardError.write(Data("--threads needs a positive number\n".utf8))
                    return 2
                }
                i += 1
                options.threads = n
            case "--python":
                guard i + 1 < arguments.count else {
                    FileHandle.standardError.write(Data("--python needs a path\n".utf8))
                    return 2
                }
                i += 1
                options.python = arguments[i]
            case "-h", "--help", "help":
                print(text)
                return 0
            default:
                if a.hasPrefix("-") {
                    FileHandle.standardError.write(Data("unknown option \(a)\n\(text)\n".utf8))
                    return 2
                }
                chosen.append(a)
            }
            i += 1
        }
        if chosen.isEmpty {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
            return 2
        }
        var toRun: [BenchSuite] = []
        for name in chosen {
            if name == "all" {
                toRun += suites
            } else if let s = suites.first(where: { $0.name == name }) {
                toRun.append(s)
            } else {
                FileHandle.standardError.write(Data("unknown suite '\(name)'\n\(text)\n".utf8))
                return 2
            }
        }
        if let n = options.threads { BLAS.setThreads(n) }
        var ok = true
        for s in toRun {
            do {
                ok = try s.run(options) && ok
            } catch {
                FileHandle.standardError.write(Data("suite \(s.name) failed: \(error)\n".utf8))
                ok = false
            }
        }
        return ok ? 0 : 1
    }
}

/// Timing helpers.
enum Timing {
    /// Best (minimum) wall time in seconds of `repeats` runs after one warm-up run. The minimum
    /// is the statistic least disturbed by other processes on a shared machine.
    static func bestOf(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        try body()
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = ContinuousClock.now
            try body()
            let d = ContinuousClock.now - start
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            best = min(best, s)
        }
        return best
    }
}

/// Running the Python half of a suite.
enum PythonReference {
    /// The directory holding the Python scripts (Benchmarks/python), found from this file.
    static let scriptsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("python")

    /// Runs `python script args…`, returning the parsed JSON object it prints, or an error
    /// text (interpreter missing, import failure, bad output) for the report.
    static func run(python: String, script: String, arguments: [String],
                    threads: Int?) -> Result<[String: Any], ReferenceError> {
        let process = Process()
        if let n = threads {
            // numpy's bundled OpenBLAS reads the same variables at import.
            var env = ProcessInfo.processInfo.environment
            env["OPENBLAS_NUM_THREADS"] = String(n)
            env["OMP_NUM_THREADS"] = String(n)
            process.environment = env
        }
        let path = scriptsDirectory.appendingPathComponent(script).path
        if python.contains("/") {
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, path] + arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            return .failure(ReferenceError(message: "cannot start \(python): \(error)"))
        }
        // Read before waiting: a full pipe would otherwise block the child forever.
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderrText = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            return .failure(ReferenceError(message: "\(python) exited with \(process.terminationStatus): \(stderrText)"))
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return .failure(ReferenceError(message: "unreadable output from \(script): "
                                           + String(decoding: data.prefix(300), as: UTF8.self)))
        }
        if obj["available"] as? Bool == false {
            return .failure(ReferenceError(message: "Python reference not importable: \(obj["error"] ?? "?")"))
        }
        return .success(obj)
    }

    /// Why the reference side produced no numbers.
    struct ReferenceError: Error { var message: String }
}

/// A fixed-width text table.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    /// The table as aligned text (first column left-aligned, the rest right-aligned).
    func render() -> String {
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                let pad = String(repeating: " ", count: widths[c] - s.count)
                return c == 0 ? s + pad : pad + s
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// Number formatting for the tables.
enum Fmt {
    /// A duration with a unit that keeps 3 significant digits.
    static func time(_ s: Double) -> String {
        if s < 1e-3 { return String(format: "%.1f µs", s * 1e6) }
        if s < 1 { return String(format: "%.2f ms", s * 1e3) }
        return String(format: "%.2f s", s)
    }

    /// A ratio like `1.23x`.
    static func ratio(_ r: Double) -> String { String(format: "%.2fx", r) }
}
