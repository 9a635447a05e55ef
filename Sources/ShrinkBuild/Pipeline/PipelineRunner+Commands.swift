import Foundation
import ShrinkCompress
import ShrinkPipeline
import ShrinkTensor

extension PipelineRunner {
    /// Runs the pipeline: stages, exports, lock file.
    public func run() throws -> RunOutcome {
        // OpenBLAS's thread count is process-wide. It stays 1 for the whole run: parallelism
        // comes from the job slots (parallel stages; evaluations split their batch over idle
        // slots), and results do not depend on --jobs. More BLAS threads under parallel stages
        // oversubscribed the cores (the select stage of the LeNet pipeline ran 5× slower), and
        // idle BLAS threads spin in sched_yield (≈ 20 % of a run's CPU time).
        ShrinkTensor.setBLASThreads(1)
        let store = try openStore()
        let resolved = try resolve(store: store, execute: true)
        for w in resolved.warnings { options.log(w) }
        let scheduler = Scheduler(store: store, options: SchedulerOptions(jobs: options.jobs, keepGoing: options.keepGoing,
                                                                          handlesSignals: true),
                                  observer: options.observer)
        let summary = try scheduler.run(resolved.graph)
        if summary.interrupted { throw PipelineInterrupted() }
        if let failure = summary.failures.first {
            if let e = failure.error as? PipelineError { throw e }
            throw PipelineError.invalidInput("\(failure.identity): \(failure.error)")
        }
        var outcome = RunOutcome(executed: summary.executedCount + (resolved.phaseA?.executedCount ?? 0),
                                 cached: summary.cachedCount + (resolved.phaseA?.cachedCount ?? 0), targets: [], reasons: [:])
        for r in summary.executed + (resolved.phaseA?.executed ?? []) where !r.reasons.isEmpty {
            outcome.reasons[r.identity] = r.reasons.map(\.description)
        }
        let exporter = Exporter(store: store)
        var lockTargets: [LockFile.Target] = []
        for t in resolved.targets {
            guard let select = summary.results[t.select], let report = summary.results[t.report],
                  let export = summary.results[t.export] else { continue }
            let selection = try JSONDecoder().decode(Selection.self, from: try store.read(try select.digest("selection")))
            if let n = selection.nonFinite, n > 0 {
                options.log("warning: \(t.name): the chosen model gives NaN or infinite outputs on \(n) of \(selection.samples) samples; they count as wrong")
            }
            var exported: [String] = []
            func put(_ digest: Digest, _ url: URL) throws {
                let o = try exporter.export(digest, to: url)
                if let m = o.message(relativeTo: root) { options.log(m) }
                exported.append(relativePath(url, from: root))
            }
            let reportURL = t.spec.export.report.value
            let dir = reportURL.deletingLastPathComponent()
            let stem = reportURL.deletingPathExtension().lastPathComponent
            if selection.passed {
                try put(try export.digest("onnx"), t.spec.export.onnx.value)
            } else {
                options.log("\(t.name): the bound could not be met; \(relativePath(t.spec.export.onnx.value, from: root)) was not written")
            }
            try put(try report.digest("md"), reportURL)
            try put(try report.digest("json"), t.spec.export.reportJSON)
            for (name, digest) in report.outputs where name.hasSuffix(".svg") {
                try put(digest, dir.appendingPathComponent("\(stem).\(name)"))
            }
            var layers: [String: String] = [:]
            for r in selection.decompositions {
                let info = try JSONDecoder().decode(DecompositionInfo.self, from: try store.read(r.info))
                layers[r.layer] = "\(info.method):\(info.rank.map(String.init).joined(separator: ","))"
            }
            outcome.targets.append(TargetOutcome(
                target: t.name, passed: selection.passed, baseline: selection.baseline, metric: selection.metric,
                paramsReduction: Double(selection.before.params) / Double(max(selection.after.params, 1)),
                macsReduction: Double(selection.before.macs) / Double(max(selection.after.macs, 1)),
                exported: exported, layers: layers))
            lockTargets.append(LockFile.Target(name: t.name, selection: selection, layers: layers,
                                               onnx: selection.passed ? try export.digest("onnx").hex : nil,
                                               report: try report.digest("md").hex))
        }
        if options.variant == nil {
            let lock = LockFile(pipeline: resolved.loaded.spec.name.value, model: resolved.model.hex,
                                sources: resolved.loaded.files.map { ($0.git == nil ? relativePath($0.url, from: root) : $0.url.lastPathComponent, $0.digest) },
                                targets: lockTargets)
            try lock.write(to: lockURL)
        }
        return outcome
    }

    /// `pipelines/NAME.lock` beside the pipeline file.
    public var lockURL: URL { file.deletingPathExtension().appendingPathExtension("lock") }

    /// One line of `shrink plan`.
    public struct PlanLine: Sendable, Codable {
        /// Stage identity.
        public var stage: String
        /// `cached`, `run` or `blocked`.
        public var status: String
        /// Why it runs.
        public var reasons: [String]
    }

    /// What a run would do, without running anything.
    public func plan() throws -> [PlanLine] {
        let store = try openStore()
        let scheduler = Scheduler(store: store, options: SchedulerOptions(jobs: options.jobs))
        let resolved: Resolved
        do {
            resolved = try resolve(store: store, execute: false)
        } catch let e as PlanIncomplete {
            return e.stages.map(Self.line) + [PlanLine(stage: "decompose/select/export/report", status: "run",
                                                        reasons: ["per-layer stages are known once `load` has run"])]
        }
        return [PlanLine(stage: "load", status: "cached", reasons: [])] + (try scheduler.plan(resolved.graph)).map(Self.line)
    }

    static func line(_ p: PlannedStage) -> PlanLine {
        switch p.status {
        case .cached: return PlanLine(stage: p.identity, status: "cached", reasons: [])
        case .willRun(let r): return PlanLine(stage: p.identity, status: "run", reasons: r.isEmpty ? ["not in the cache"] : r.map(\.description))
        case .unavailable(let why): return PlanLine(stage: p.identity, status: "blocked", reasons: [why])
        }
    }

    /// The stage DAG as Mermaid or Graphviz text (needs `load` to have run for per-layer stages).
    public func graph(format: String) throws -> String {
        let store = try openStore()
        var edges: [(String, String)] = []
        var nodes: [String] = ["load"]
        if let resolved = try? resolve(store: store, execute: false) {
            for id in try resolved.graph.topologicalOrder() {
                nodes.append(id)
                let deps = resolved.graph.dependencies(of: id)
                for d in deps { edges.append((d, id)) }
                if deps.isEmpty { edges.append(("load", id)) }
            }
        }
        func q(_ s: String) -> String { "\"\(s)\"" }
        if format == "dot" {
            var out = "digraph shrink {\n  rankdir=LR;\n  node [shape=box];\n"
            for n in nodes { out += "  \(q(n));\n" }
            for (a, b) in edges { out += "  \(q(a)) -> \(q(b));\n" }
            return out + "}\n"
        }
        var ids: [String: String] = [:]
        for (i, n) in nodes.enumerated() { ids[n] = "s\(i)" }
        var out = "flowchart LR\n"
        for n in nodes { out += "  \(ids[n]!)[\(q(n))]\n" }
        for (a, b) in edges { out += "  \(ids[a] ?? a) --> \(ids[b] ?? b)\n" }
        return out
    }

    /// Whether the lock file matches what a run would produce now: every stage cached and the
    /// lock's content equal. Runs nothing.
    public func status() throws -> (upToDate: Bool, reasons: [String]) {
        let lines = try plan()
        let stale = lines.filter { $0.status != "cached" }
        if !stale.isEmpty {
            return (false, stale.map { "\($0.stage) would run: \($0.reasons.joined(separator: "; "))" })
        }
        guard FileManager.default.fileExists(atPath: lockURL.path) else { return (false, ["\(lockURL.lastPathComponent) is missing"]) }
        // Everything is cached, so a run is cheap and exact: produce the lock text in memory.
        var quiet = self
        quiet.options.log = { _ in }
        quiet.options.observer = nil
        let before = try Data(contentsOf: lockURL)
        let tmp = lockURL.appendingPathExtension("check")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.copyItem(at: lockURL, to: tmp)
        _ = try quiet.run()
        let after = try Data(contentsOf: lockURL)
        if before != after {
            try before.write(to: lockURL, options: .atomic)
            return (false, ["\(lockURL.lastPathComponent) differs from what the pipeline produces"])
        }
        return (true, [])
    }
}

/// The run was interrupted (Ctrl-C); what finished is in the cache.
public struct PipelineInterrupted: Error, CustomStringConvertible {
    /// The message.
    public var description: String { "interrupted; everything finished so far is cached and the next run resumes from it" }
}
