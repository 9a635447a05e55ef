import COpenBLAS
import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// `shrink-bench infer [--seconds S] [--rounds R] [--batches 1,256] [--threads T] [--cpu-time]
/// [--profile] [--python PATH] [--no-ort] [--root DIR]`: images/second of Shrink's runtime and
/// onnxruntime side by side (LeNet and the VGG-style CNN at batch 1 and 256), best of R
/// alternating rounds of at least S seconds each.
func runInferenceBench(_ args: [String]) {
    var seconds = 3.0
    var python = "python3"
    var withOrt = true
    var root = FileManager.default.currentDirectoryPath
    var batches = [1, 256]
    var threads = ProcessInfo.processInfo.activeProcessorCount
    var profile = false
    var rounds = 3
    var useCPUTime = false
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--seconds": i += 1; seconds = Double(args[i]) ?? seconds
        case "--python": i += 1; python = args[i]
        case "--no-ort": withOrt = false
        case "--root": i += 1; root = args[i]
        case "--batches": i += 1; batches = args[i].split(separator: ",").compactMap { Int($0) }
        case "--threads": i += 1; threads = Int(args[i]) ?? threads
        case "--profile": profile = true
        case "--cpu-time": useCPUTime = true
        case "--rounds": i += 1; rounds = max(1, Int(args[i]) ?? rounds)
        default:
            print("unknown option \(args[i])"); exit(2)
        }
        i += 1
    }
    let models = [("lenet-mnist", "Examples/lenet-mnist/model.onnx"), ("vgg-bench", "Examples/vgg-bench/model.onnx")]
    let env = ProcessInfo.processInfo.environment
    print("inference benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(threads) threads, best of \(rounds) rounds, OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)"), OPENBLAS_L2_SIZE=\(env["OPENBLAS_L2_SIZE"] ?? "(unset)"), ≥\(seconds) s per measurement")
    var rows = [(String, Int, Double, Double?, Double)]()
    for (name, path) in models {
        let full = root + "/" + path
        let graph: Graph
        let session: Session
        do {
            graph = try Graph.load(contentsOf: full)
            session = try Session(graph: graph, options: SessionOptions(threads: threads))
        } catch {
            print("\(name): \(error)"); exit(1)
        }
        let input = session.inputs[0]
        let sample = (input.shape ?? []).dropFirst().map { $0.fixed ?? 1 }
        let macs = macsPerImage(graph, sample: sample)
        for batch in batches {
            let shape = [batch] + sample
            var rng = SystemRandomNumberGenerator()
            let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
            if profile, (try? session.profile(inputs: [input.name: x])) != nil, let steps = try? session.profile(inputs: [input.name: x]) {
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
                    print("\(name) batch \(batch): \(error)"); exit(1)
                }
                if withOrt, let t = ortImagesPerSecond(python: python, root: root, model: full, batch: batch,
                                                      seconds: seconds, threads: threads, cpuTime: useCPUTime) {
                    theirs = max(theirs ?? 0, t)
                }
            }
            rows.append((name, batch, ours, theirs, macs))
            print(String(format: "  %@ batch %d: shrink %.0f img/s%@", name, batch, ours,
                         theirs.map { String(format: ", onnxruntime %.0f img/s", $0) } ?? ""))
        }
    }
    print("")
    print("| model | batch | shrink img/s | shrink GFLOP/s | onnxruntime img/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (name, batch, ours, theirs, macs) in rows {
        let gflops = ours * 2 * macs / 1e9
        print(String(format: "| %@ | %d | %.0f | %.1f | %@ | %@ |", name, batch, ours, gflops,
                     theirs.map { String(format: "%.0f", $0) } ?? "–",
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

/// Multiply-accumulates per image of the Conv and Gemm/MatMul nodes, from their output sizes
/// on one sample (fetched from an unfused run) and their weights.
private func macsPerImage(_ graph: Graph, sample: [Int]) -> Double {
    guard let session = try? Session(graph: graph, options: SessionOptions(threads: 1, fuse: false)),
          let input = session.inputs.first else { return 0 }
    let dense = graph.nodes.filter { ["Conv", "Gemm", "MatMul"].contains($0.opType) && $0.inputs.count > 1 }
    guard let values = try? session.run(from: [input.name: Tensor(zeros: [1] + sample)],
                                        outputs: dense.map { $0.outputs[0] }) else { return 0 }
    var macs = 0.0
    for node in dense {
        guard let out = values[node.outputs[0]], let w = graph.initializers[node.inputs[1]] else { continue }
        // Conv: each output element sums over one filter (C/group · kH · kW); Gemm/MatMul: K per output.
        let perOutput = node.opType == "Conv" ? w.count / max(w.shape[0], 1) : w.count / max(out.shape.last ?? 1, 1)
        macs += Double(out.count) * Double(perOutput)
    }
    return macs
}

/// Runs Benchmarks/python/bench_ort.py for one configuration; nil (with a note) if it fails.
private func ortImagesPerSecond(python: String, root: String, model: String, batch: Int, seconds: Double,
                                threads: Int, cpuTime useCPUTime: Bool) -> Double? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, root + "/Benchmarks/python/bench_ort.py", "--model", model, "--batch", "\(batch)",
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
