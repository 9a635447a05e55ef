import Foundation
import ShrinkTensor

/// `shrink-bench linalg`: GEMM, SVD and CP-ALS against numpy / tensorly (Benchmarks/python/bench_linalg.py).
enum LinalgSuite {
    static let suite = BenchSuite(name: "linalg", summary: "GEMM, SVD, CP-ALS vs numpy/tensorly", run: run)

    /// One measured case: Swift time, optional extra metric, and the key of the Python case.
    struct Case {
        var name: String
        var key: String
        var seconds: Double
        var flops: Double?
        var relError: Double?
    }

    /// The inputs, generated once so every round measures the same data.
    struct Inputs {
        var square: [Int: (Tensor, Tensor)] = [:]
        var svd: [(Int, Int, Tensor)] = []
        var cp: [(name: String, key: String, tensor: Tensor, rank: Int, repeats: Int)] = []
    }

    static func run(_ options: BenchOptions) throws -> Bool {
        let env = ProcessInfo.processInfo.environment
        print("shrink-bench linalg — OpenBLAS threads: \(BLAS.threads), cores: "
              + "\(ProcessInfo.processInfo.activeProcessorCount), load average: \(loadAverage())")
        for v in ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS"] {
            if let value = env[v] {
                print("  note: \(v)=\(value) is set (the Python side inherits it; for a fair comparison "
                      + "run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)")
            }
        }
        let dataDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("shrink-bench-linalg-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let inputs = try makeInputs(options, dataDir: dataDir)

        var best: [String: Case] = [:]
        var order: [String] = []
        var layoutBest: [String: (view: Double, rowMajor: Double)] = [:]
        var reference: [String: [String: Any]] = [:]
        var referenceNote = "not run (--no-python)"
        for round in 1...options.rounds {
            if options.rounds > 1 { print("round \(round)/\(options.rounds), load average \(loadAverage())") }
            let (cases, layouts) = try measure(inputs, options)
            for c in cases {
                if best[c.key] == nil { order.append(c.key) }
                if c.seconds < best[c.key]?.seconds ?? .infinity { best[c.key] = c }
            }
            for (k, v) in layouts {
                let old = layoutBest[k] ?? (.infinity, .infinity)
                layoutBest[k] = (min(old.view, v.view), min(old.rowMajor, v.rowMajor))
            }
            if options.noPython { continue }
            var args = ["--data-dir", dataDir.path]
            if options.quick { args.append("--quick") }
            switch PythonReference.run(python: options.python, script: "bench_linalg.py", arguments: args,
                                       threads: options.threads) {
            case .success(let obj):
                for (k, v) in obj["cases"] as? [String: [String: Any]] ?? [:] {
                    let old = reference[k]?["seconds"] as? Double ?? .infinity
                    if let s = v["seconds"] as? Double, s < old { reference[k] = v }
                }
                referenceNote = "numpy \(obj["numpy"] ?? "?"), tensorly \(obj["tensorly"] ?? "?"), "
                    + "Python \(obj["python"] ?? "?")"
            case .failure(let e):
                referenceNote = "unavailable — \(e.message); Swift numbers only"
            }
        }

        print("\nReference: \(referenceNote)")
        var table = Table(header: ["case", "Swift", "numpy/tensorly", "speed ratio (Swift/ref)", "rel. error Swift | ref"])
        var jsonCases: [String: Any] = [:]
        for key in order {
            guard let c = best[key] else { continue }
            let ref = reference[c.key]
            let refSeconds = ref?["seconds"] as? Double
            var swiftCell = Fmt.time(c.seconds)
            var refCell = refSeconds.map(Fmt.time) ?? "—"
            if let f = c.flops {
                swiftCell += String(format: " (%.1f GFLOP/s)", f / c.seconds / 1e9)
                if let r = refSeconds { refCell += String(format: " (%.1f GFLOP/s)", f / r / 1e9) }
            }
            let ratio = refSeconds.map { Fmt.ratio($0 / c.seconds) } ?? "—"
            var errCell = ""
            if let e = c.relError {
                errCell = String(format: "%.4f | ", e) + ((ref?["rel_error"] as? Double).map { String(format: "%.4f", $0) } ?? "—")
            }
            table.rows.append([c.name, swiftCell, refCell, ratio, errCell])
            var entry: [String: Any] = ["swift_seconds": c.seconds]
            if let r = refSeconds { entry["reference_seconds"] = r; entry["ratio"] = r / c.seconds }
            if let e = c.relError { entry["swift_rel_error"] = e }
            if let e = ref?["rel_error"] { entry["reference_rel_error"] = e }
            jsonCases[c.key] = entry
        }
        print(table.render())
        print("\nSVD layout (automatic uses the transposed view):")
        var layouts = Table(header: ["shape", "transposed view", "LAPACK_ROW_MAJOR", "row-major / view"])
        for (m, n, _) in inputs.svd {
            guard let t = layoutBest["\(m)×\(n)"] else { continue }
            layouts.rows.append(["\(m)×\(n)", Fmt.time(t.view), Fmt.time(t.rowMajor), Fmt.ratio(t.rowMajor / t.view)])
        }
        print(layouts.render())
        print("\nload average at the end: \(loadAverage())")
        if options.json {
            let data = try JSONSerialization.data(withJSONObject: ["linalg": jsonCases], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        return true
    }

    /// The 1-, 5- and 15-minute load averages: how much other work competed for the cores.
    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }

    /// Generates the inputs and writes the CP tensors where the Python side reads them.
    static func makeInputs(_ options: BenchOptions, dataDir: URL) throws -> Inputs {
        var rng = SeededGenerator(seed: 0)
        func random(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in 2 * rng.nextUnitFloat() - 1 })
        }
        var inputs = Inputs()
        for n in [1024, 2048] { inputs.square[n] = (random([n, n]), random([n, n])) }
        for (m, n) in [(500, 800), (800, 500), (1000, 1000)] { inputs.svd.append((m, n, random([m, n]))) }
        let kernel = try NPY.read(URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Fixtures/linalg/conv_50x20x5x5.npy")).tensor()
        try NPY.write(NumPyArray(kernel), to: dataDir.appendingPathComponent("conv_50x20x5x5.npy"))
        inputs.cp.append(("CP-ALS 50×20×5×5 r16 ×25", "cp_50x20x5x5_r16", kernel, 16, 30))
        let big = random([256, 128, 3, 3])
        try NPY.write(NumPyArray(big), to: dataDir.appendingPathComponent("cp_256x128x3x3.npy"))
        if !options.quick { inputs.cp.append(("CP-ALS 256×128×3×3 r64 ×25", "cp_256x128x3x3_r64", big, 64, 3)) }
        return inputs
    }

    /// One Swift pass over every case.
    static func measure(_ inputs: Inputs, _ options: BenchOptions) throws
        -> ([Case], [String: (view: Double, rowMajor: Double)]) {
        var cases: [Case] = []
        // GEMM on raw pointers (what hot paths use); C = A·B, square.
        for (n, reps) in [(1024, 10), (2048, 5)] {
            let (a, b) = inputs.square[n]!
            var c = [Float](repeating: 0, count: n * n)
            let t = Timing.bestOf(options.quick ? 3 : reps) {
                a.scalars.withUnsafeBufferPointer { pa in
                    b.scalars.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            BLAS.gemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                                      c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            cases.append(Case(name: "sgemm \(n)×\(n)", key: "gemm_\(n)", seconds: t, flops: 2 * pow(Double(n), 3)))
        }
        // Thin SVD, both ways of handing a row-major matrix to LAPACK.
        var layouts: [String: (view: Double, rowMajor: Double)] = [:]
        for (m, n, a) in inputs.svd {
            let reps = options.quick ? 2 : 5
            let view = try Timing.bestOf(reps) { _ = try a.svd(layout: .transposedView) }
            let rowMajor = try Timing.bestOf(reps) { _ = try a.svd(layout: .rowMajorLAPACKE) }
            let auto = try Timing.bestOf(reps) { _ = try a.svd() }
            layouts["\(m)×\(n)"] = (view, rowMajor)
            cases.append(Case(name: "sgesdd thin SVD \(m)×\(n)", key: "svd_\(m)x\(n)", seconds: auto))
        }
        // CP-ALS, 25 sweeps, tol 0, SVD init (included in the time, as in tensorly's parafac).
        for c in inputs.cp {
            var err = 0.0
            let t = try Timing.bestOf(options.quick ? 2 : c.repeats) {
                err = try c.tensor.cp(rank: c.rank, options: CPOptions(maxIterations: 25, tolerance: 0)).relativeError
            }
            cases.append(Case(name: c.name, key: c.key, seconds: t, relError: err))
        }
        return (cases, layouts)
    }
}
