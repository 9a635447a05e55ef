import Dispatch
import COpenBLAS
import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// One model of the inference benchmark: its file, the per-sample input shape (nil: from the
/// model's declaration) and the batch sizes to measure.
private struct BenchModel {
    var name: String
    var path: String
    var sample: [Int]?
    var batches: [Int]
}

/// The CNNs of the real-model regression set (`Tests/Fixtures/real-models`, fetched by
/// `scripts/fetch-models.sh`), with the per-sample input shapes of their committed inputs.
private let realModels: [(name: String, package: String, sample: [Int])] = [
    ("ocr-cls-mobile-v2", "rapidocr-onnxruntime-1.4.4", [3, 48, 192]),
    ("ocr-rec-ppocrv4", "rapidocr-onnxruntime-1.4.4", [3, 48, 128]),
    ("ocr-det-ppocrv4", "rapidocr-onnxruntime-1.4.4", [3, 96, 160]),
    ("oww-melspectrogram", "openwakeword-0.5.1", [32000]),
    ("oww-embedding", "openwakeword-0.5.1", [76, 32, 1]),
]

/// `shrink-bench infer [--seconds S] [--rounds R] [--batches 1,256] [--real-batches 1,32]
/// [--threads T] [--blas-threads B] [--cpu-time] [--profile] [--python PATH] [--no-ort] [--no-real] [--only NAME,…]
/// [--kernels blas|generic|avx2|avx512] [--root DIR]`: images/second of Shrink's runtime and
/// onnxruntime side by side (LeNet and the VGG-style CNN at batch 1 and 256, the real-model CNNs
/// at batch 1 and 32), best of R alternating rounds of at least S seconds each, with GFLOP/s
/// (2 × the Conv/Gemm/MatMul multiply-accumulates of `shrink inspect`).
func runInferenceBench(_ args: [String]) {
    var seconds = 3.0
    var python = "python3"
    var withOrt = true
    var withReal = true
    var only: Set<String>?
    var root = FileManager.default.currentDirectoryPath
    var batches = [1, 256]
    var realBatches = [1, 32]
    var threads = ProcessInfo.processInfo.activeProcessorCount
    var profile = false
    var blasThreads: Int?
    var rounds = 3
    var useCPUTime = false
    var kernels = KernelPath.selected
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--seconds": i += 1; seconds = Double(args[i]) ?? seconds
        case "--python": i += 1; python = args[i]
        case "--no-ort": withOrt = false
        case "--no-real": withReal = false
        case "--only": i += 1; only = Set(args[i].split(separator: ",").map(String.init))
        case "--root": i += 1; root = args[i]
        case "--batches": i += 1; batches = args[i].split(separator: ",").compactMap { Int($0) }
        case "--real-batches": i += 1; realBatches = args[i].split(separator: ",").compactMap { Int($0) }
        case "--threads": i += 1; threads = Int(args[i]) ?? threads
        case "--blas-threads": i += 1; blasThreads = Int(args[i])
        case "--profile": profile = true
        case "--cpu-time": useCPUTime = true
        case "--rounds": i += 1; rounds = max(1, Int(args[i]) ?? rounds)
        case "--kernels":
            i += 1
            guard let k = KernelPath(name: args[i]) else { print("unknown kernel path \(args[i])"); exit(2) }
            kernels = k.supported
        default:
            print("unknown option \(args[i])"); exit(2)
        }
        i += 1
    }
    var models = [BenchModel(name: "lenet-mnist", path: root + "/Examples/lenet-mnist/model.onnx", sample: nil, batches: batches),
                  BenchModel(name: "vgg-bench", path: root + "/Examples/vgg-bench/model.onnx", sample: nil, batches: batches)]
    let env = ProcessInfo.processInfo.environment
    if withReal {
        let cache = env["SHRINK_MODELS"] ?? (NSHomeDirectory() + "/.cache/shrink-models")
        for m in realModels {
            let path = "\(cache)/\(m.package)/\(m.name).onnx"
            guard FileManager.default.fileExists(atPath: path) else {
                print("  (\(m.name) not found at \(path); run scripts/fetch-models.sh)")
                continue
            }
            models.append(BenchModel(name: m.name, path: path, sample: m.sample, batches: realBatches))
        }
    }
    if let only { models = models.filter { only.contains($0.name) } }
    var load = "?"
    if let s = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) {
        load = s.split(separator: " ").prefix(3).joined(separator: " ")
    }
    print("inference benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(threads) threads, kernels \(kernels) (CPU supports \(KernelPath.detected)), best of \(rounds) rounds, ≥\(seconds) s per measurement, load average \(load), OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)")")
    var rows = [(String, Int, Double, Double?, Double)]()
    for model in models {
        let graph: Graph
        let session: Session
        do {
            graph = try Graph.load(contentsOf: model.path)
            // Preparation (folding, fusion, packing) is paid once per candidate in a search.
            let t0 = DispatchTime.now().uptimeNanoseconds
            session = try Session(graph: graph, options: SessionOptions(threads: threads, kernels: kernels))
            let prepared = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            print("  \(model.name): session prepared in \(String(format: "%.1f", prepared)) ms")
        } catch {
            print("\(model.name): \(error)"); exit(1)
        }
        let input = session.inputs[0]
        let sample = model.sample ?? (input.shape ?? []).dropFirst().map { $0.fixed ?? 1 }
        let macs = macsPerImage(graph, input: input.name, sample: sample)
        for batch in model.batches {
            // OpenBLAS (MatMul, Gemm) runs one thread per call, as under `shrink eval`: the session
            // splits products over its own pool at batch 1 and chunks over the cores in batches;
            // OpenBLAS's default of one thread per core spun beside them on the same cores.
            BLAS.setThreads(blasThreads ?? 1)
            let shape = [batch] + sample
            var rng = SystemRandomNumberGenerator()
            let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
            // Warm (weights packed, pages touched: a first call's page faults land on whichever
            // step allocates first), and each step's best of five calls.
            if profile, (try? session.run(inputs: [input.name: x])) != nil,
               var steps = try? session.profile(inputs: [input.name: x]) {
                for _ in 0..<4 {
                    guard let again = try? session.profile(inputs: [input.name: x]), again.count == steps.count else { break }
                    for k in steps.indices { steps[k].seconds = min(steps[k].seconds, again[k].seconds) }
                }
                for s in steps { print(String(format: "    %-28@ %-18@ %8.3f ms", s.node, s.op, s.seconds * 1000)) }
            }
            // Alternate the two runtimes and keep each one's best round: on a machine shared with
            // other jobs, the best round is the least disturbed one.
            var ours = 0.0
            var theirs: Double?
            for _ in 0..<rounds {
                do {
                    ours = max(ours, try measure(seconds: seconds, cpuTime: useCPUTime) { _ = try session.run(inputs: [input.name: x]) } * Double(batch))
                } catch {
                    print("\(model.name) batch \(batch): \(error)"); exit(1)
                }
                if withOrt, let t = ortImagesPerSecond(python: python, root: root, model: model.path, batch: batch,
                                                      sample: sample, seconds: seconds, threads: threads, cpuTime: useCPUTime) {
                    theirs = max(theirs ?? 0, t)
                }
            }
            rows.append((model.name, batch, ours, theirs, macs))
            print(String(format: "  %@ batch %d: shrink %.1f img/s (%.1f GFLOP/s)%@", model.name, batch, ours, ours * 2 * macs / 1e9,
                         theirs.map { String(format: ", onnxruntime %.1f img/s (%.1f GFLOP/s), ratio %.2f×", $0, $0 * 2 * macs / 1e9, ours / $0) } ?? ""))
        }
    }
    print("")
    print("| model | batch | shrink img/s | shrink GFLOP/s | onnxruntime img/s | onnxruntime GFLOP/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, batch, ours, theirs, macs) in rows {
        print(String(format: "| %@ | %d | %.1f | %.1f | %@ | %@ | %@ |", name, batch, ours, ours * 2 * macs / 1e9,
                     theirs.map { String(format: "%.1f", $0) } ?? "–",
                     theirs.map { String(format: "%.1f", $0 * 2 * macs / 1e9) } ?? "–",
                     theirs.map { String(format: "%.2f×", ours / $0) } ?? "–"))
    }
}

/// Wall time, or process CPU time with `cpuTime`: on a machine shared with other jobs CPU time
/// isolates single-threaded kernel speed (only meaningful with --threads 1).
private func clockSeconds(cpuTime useCPUTime: Bool) -> Double {
    var t = timespec()
    clock_gettime(useCPUTime ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Calls per second of `body`, after a warm-up, over at least `seconds` and 3 calls.
private func measure(seconds: Double, cpuTime: Bool, _ body: () throws -> Void) throws -> Double {
    for _ in 0..<3 { try body() }
    var n = 0
    let start = clockSeconds(cpuTime: cpuTime)
    var elapsed = 0.0
    repeat {
        try body()
        n += 1
        elapsed = clockSeconds(cpuTime: cpuTime) - start
    } while elapsed < seconds || n < 3
    return Double(n) / elapsed
}

/// Multiply-accumulates per image of the Conv, Gemm and MatMul layers (the layer table of
/// `shrink inspect`, with shapes inferred for one sample).
private func macsPerImage(_ graph: Graph, input: String, sample: [Int]) -> Double {
    guard let table = try? LayerTable(graph: graph, inputShapes: [input: [1] + sample]) else { return 0 }
    return Double(table.totalMACs)
}

/// Runs Benchmarks/python/bench_ort.py for one configuration; nil (with a note) if it fails.
private func ortImagesPerSecond(python: String, root: String, model: String, batch: Int, sample: [Int], seconds: Double,
                                threads: Int, cpuTime useCPUTime: Bool) -> Double? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, root + "/Benchmarks/python/bench_ort.py", "--model", model, "--batch", "\(batch)",
                   "--sample-shape", sample.map(String.init).joined(separator: ","),
                   "--seconds", "\(seconds)", "--threads", "\(threads)"] + (useCPUTime ? ["--cpu-time"] : [])
    let pipe = Pipe()
    p.standardOutput = pipe
    do { try p.run() } catch { print("  (onnxruntime not run: \(error))"); return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0,
          let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let v = obj["images_per_second"] as? Double else {
        print("  (onnxruntime run failed, status \(p.terminationStatus))")
        return nil
    }
    return v
}
