import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkGraph
import ShrinkPipeline
import ShrinkTensor

extension PipelineRunner {
    /// Runs the pipeline: stages, exports, lock file.
    ///
    /// Parallelism comes from the job slots (parallel stages; evaluations split their batch over
    /// idle slots), so the process owner should give OpenBLAS one thread (`BLAS.setThreads(1)`, as
    /// `shrink run` does): more BLAS threads under parallel stages oversubscribed the cores (the
    /// select stage of the LeNet pipeline ran 5× slower), and idle BLAS threads spin in
    /// sched_yield (≈ 20 % of a run's CPU time).
    public func run() throws -> RunOutcome {
        let store = try openStore()
        let computed = ComputedStages()
        guard let remote = store.remote else { return try run(store: store, computed: computed) }
        defer { remote.finishUploads() }
        // A blob a remote record vouched for may turn out corrupt, or the server may go away before
        // it is fetched: the stage reading it fails, and the run is repeated — the records that
        // named it are refused now (or the remote is off), so those stages are computed here.
        for attempt in 1... {
            remote.beginAttempt()
            do {
                var outcome = try run(store: store, computed: computed)
                remote.finishUploads()
                outcome.remote = remote.stats
                return outcome
            } catch {
                if error is PipelineInterrupted || !remote.lostBlobsSinceAttempt || attempt == 3 { throw error }
                options.log("remote cache: results it served could not be fetched intact; computing them here")
            }
        }
        fatalError("unreachable")
    }

    /// One attempt; `computed` collects the stages computed here across attempts, so a run that
    /// is repeated still reports what it computed the first time.
    func run(store: Store, computed: ComputedStages) throws -> RunOutcome {
        computed.startAttempt()
        let resolved = try resolve(store: store, execute: true)
        computed.add(resolved.phaseA?.executed ?? [])
        for w in resolved.warnings { options.log(w) }
        let scheduler = Scheduler(store: store, options: schedulerOptions, observer: options.observer)
        let summary = try scheduler.run(resolved.graph)
        computed.add(summary.executed)
        if summary.interrupted { throw PipelineInterrupted(signal: summary.interruptSignal) }
        if let failure = summary.failures.first { throw explain(failure, specs: resolved.loaded.allSpecs) }
        // Stages an earlier attempt computed are cached in this one: they count as computed.
        let earlier = computed.earlier
        let cachedNow = (summary.results.values + summary.substageResults + (resolved.phaseA.map { Array($0.results.values) + $0.substageResults } ?? []))
            .filter { $0.status == .cached && earlier[$0.identity] != nil }
        var outcome = RunOutcome(executed: summary.executedCount + (resolved.phaseA?.executedCount ?? 0) + cachedNow.count,
                                 cached: summary.cachedCount + (resolved.phaseA?.cachedCount ?? 0) - cachedNow.count, targets: [], reasons: [:])
        for r in summary.executed + (resolved.phaseA?.executed ?? []) + cachedNow.compactMap({ earlier[$0.identity] }) where !r.reasons.isEmpty {
            outcome.reasons[r.identity] = r.reasons.map(\.description)
        }
        let exporter = Exporter(store: store)
        var decisions: [String: LockFile.Target] = [:]
        for t in resolved.targets {
            guard let select = summary.results[t.select], let report = summary.results[t.report],
                  let export = summary.results[t.export] else { continue }
            let (selection, layers) = try decided(select, store: store)
            for w in selection.warnings ?? [] { options.log("warning: \(t.name): \(w)") }
            if let short = selection.shortfall { options.log("\(t.name): \(short.message)") }
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
            let onnxPath = relativePath(t.spec.export.onnx.value, from: root)
            // A device build: the model must also fit the budgets; an int8 model exports as QDQ.
            let quantize = summary.results[Self.stagePrefix(spec: t.spec, target: t.name) + "quantize"]
            let passed = try Self.passed(selection, spec: t.spec, device: quantize?.outputs["device"], store: store)
            if passed {
                try put(try quantize?.outputs["qdq"] ?? export.digest("onnx"), t.spec.export.onnx.value)
            } else if try exporter.withdraw(t.spec.export.onnx.value) {
                // An earlier run's model next to a report that says FAILED (and a lock without a
                // model) would pass for this run's result: it goes.
                options.log("\(t.name): the bound could not be met; removed \(onnxPath), an earlier export that this run's report and lock file no longer describe")
            } else {
                options.log("\(t.name): the bound could not be met; \(onnxPath) was not written")
            }
            var device: DeviceOutcome?
            if let quantize, let check = summary.results[Self.stagePrefix(spec: t.spec, target: t.name) + "device-check"] {
                device = try finishDevice(spec: t.spec, target: t.name, quantize: quantize, check: check, selection: selection,
                                          passed: passed, store: store, exported: &exported)
            }
            try put(try report.digest("md"), reportURL)
            try put(try report.digest("json"), t.spec.export.reportJSON)
            for (name, digest) in report.outputs where name.hasSuffix(".svg") {
                try put(digest, dir.appendingPathComponent("\(stem).\(name)"))
            }
            outcome.targets.append(TargetOutcome(
                target: t.name, passed: passed,
                grew: selection.after.params > selection.before.params || selection.after.macs > selection.before.macs,
                baseline: selection.baseline, metric: selection.metric,
                paramsReduction: Double(selection.before.params) / Double(max(selection.after.params, 1)),
                macsReduction: Double(selection.before.macs) / Double(max(selection.after.macs, 1)),
                exported: exported, layers: layers,
                searchBaseline: selection.searchBaseline ?? selection.baseline, searchMetric: selection.searchMetric ?? selection.metric,
                searchSamples: selection.searchSamples ?? selection.samples, verifySamples: selection.samples,
                heldOut: selection.heldOut ?? false, device: device, overBudget: selection.shortfall?.resource))
            decisions[t.name] = Self.lockTarget(selection, layers: layers, metric: t.spec.metric.value, passed: passed)
        }
        if options.variant == nil {
            let lock = LockFile(pipeline: resolved.loaded.spec.name.value, engine: StageVersion.engine,
                                inputs: try lockInputs(resolved.loaded), targets: decisions)
            // A rerun on another CPU measures within the tolerance and decides the same: keep the
            // checked-in file as it is rather than churn its last digits.
            let recorded = (try? String(contentsOf: lockURL, encoding: .utf8)).flatMap { try? LockFile.parse($0).get() }
            if recorded.map({ lock.differences(from: $0, decisions: true).isEmpty }) != true {
                try lock.write(to: lockURL)
            }
        }
        return outcome
    }

    /// The selection a select stage stored, and its layers as `method:rank[,rank]`.
    func decided(_ select: StageResult, store: Store) throws -> (Selection, [String: String]) {
        let selection = try JSONDecoder().decode(Selection.self, from: try store.read(try select.digest("selection")))
        var layers: [String: String] = [:]
        for r in selection.decompositions {
            let info = try JSONDecoder().decode(DecompositionInfo.self, from: try store.read(r.info))
            layers[r.layer] = "\(info.method):\(info.rank.map(String.init).joined(separator: ","))"
        }
        return (selection, layers)
    }

    /// Whether a target passed: its bound, and the device's budgets when it builds for one
    /// (`device`: the quantize stage's `device` output).
    static func passed(_ s: Selection, spec: PipelineSpec, device: Digest?, store: Store) throws -> Bool {
        guard s.passed, let device else { return s.passed }
        let build = try JSONDecoder().decode(DeviceBuild.self, from: try store.read(device))
        return build.report(selection: s, flashBudget: spec.target?.flash?.value, ramBudget: spec.target?.ram?.value).withinBudget
    }

    static func lockTarget(_ s: Selection, layers: [String: String], metric: MetricSpec, passed: Bool) -> LockFile.Target {
        LockFile.Target(passed: passed,
                        metric: .init(name: metric.name, original: s.baseline, final: s.metric, samples: s.samples,
                                      tolerance: LockFile.tolerance(metric: metric.name, value: s.metric, samples: s.samples)),
                        params: .init(before: s.before.params, after: s.after.params),
                        macs: .init(before: s.before.macs, after: s.after.macs), layers: layers)
    }

    /// Content digests of everything a run reads, by path relative to the repository root: the
    /// pipeline and its imports (a git recipe by URL, commit and path), the model, every data file
    /// and the files an external evaluator names. Hashes files; computes nothing.
    func lockInputs(_ loaded: LoadedPipeline) throws -> [String: String] {
        var inputs: [String: String] = [:]
        for f in loaded.files {
            let name = f.git.map { "git:\($0.url)@\($0.rev):\($0.path)" } ?? relativePath(f.url, from: root)
            inputs[name] = "sha256:\(f.digest)"
        }
        func add(_ url: URL) throws {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw PipelineError.invalidInput("\(relativePath(url, from: root)): file not found")
            }
            inputs[relativePath(url, from: root)] = "sha256:\(try Digest.ofFile(at: url).hex)"
        }
        for spec in loaded.allSpecs {
            try add(spec.model.value)
            // A model's external data files are part of it: a changed one makes the lock stale.
            for url in (try? Graph.externalDataFiles(ofModelAt: spec.model.value.path)) ?? [] where FileManager.default.fileExists(atPath: url.path) {
                try add(url)
            }
            for set in [spec.data.eval, spec.data.effectiveSearch, spec.data.effectiveCalibration, spec.data.effectiveVerify] {
                for url in set.files { try add(url) }
            }
            if case .command(let c) = spec.metric.value {
                for (word, digest) in MetricRef.files(named: c) {
                    let url = word.hasPrefix("/") ? URL(fileURLWithPath: word) : c.workingDirectory.appendingPathComponent(word)
                    inputs[relativePath(url, from: root)] = "sha256:\(digest)"
                }
            }
        }
        return inputs
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
        let load = store.lookup(resolved.loadKey, markUsed: false) != nil
            ? PlanLine(stage: resolved.loadIdentity, status: "cached", reasons: [])
            : PlanLine(stage: resolved.loadIdentity, status: "remote", reasons: ["the team cache has it"])
        return [load] + (try scheduler.plan(resolved.graph)).map(Self.line)
    }

    static func line(_ p: PlannedStage) -> PlanLine {
        switch p.status {
        case .cached: return PlanLine(stage: p.identity, status: "cached", reasons: [])
        case .remote: return PlanLine(stage: p.identity, status: "remote", reasons: ["the team cache has it"])
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
            nodes = [resolved.loadIdentity]
            for id in try resolved.graph.topologicalOrder() {
                nodes.append(id)
                let deps = resolved.graph.dependencies(of: id)
                for d in deps { edges.append((d, id)) }
                if deps.isEmpty { edges.append((nodes[0], id)) }
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

    /// Whether the lock file is up to date, without computing anything: the inputs it pins (the
    /// pipeline, imports, model, data, evaluator files) and the engine must be what the checkout
    /// has now; when the local cache holds this pipeline's results, the decisions must be the same
    /// and the metrics within the recorded tolerance. A fresh clone checks the first part only.
    public func status() throws -> (upToDate: Bool, reasons: [String]) {
        guard let text = try? String(contentsOf: lockURL, encoding: .utf8) else {
            return (false, ["\(lockURL.lastPathComponent) is missing; run `shrink run \(relativePath(file, from: root))` and commit it"])
        }
        let recorded: LockFile
        switch LockFile.parse(text) {
        case .success(let l): recorded = l
        case .failure(let e): return (false, ["\(lockURL.lastPathComponent): \(e.reason)"])
        }
        let loaded = try loadPipeline()
        var now = LockFile(pipeline: loaded.spec.name.value, engine: StageVersion.engine, inputs: try lockInputs(loaded),
                           targets: recorded.targets)
        let changed = now.differences(from: recorded, decisions: false)
        if !changed.isEmpty { return (false, changed) }
        // Decisions: only from what this machine already has; a fresh clone has nothing to compare
        // (and gets no `.shrink/` created by checking).
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".shrink/cache").path) else { return (true, []) }
        let store = try openStore()
        guard let resolved = try? resolve(store: store, execute: false),
              let planned = try? Scheduler(store: store, options: SchedulerOptions(jobs: 1)).plan(resolved.graph) else { return (true, []) }
        var keys: [String: StageKey] = [:]
        for p in planned { if case .cached(let key) = p.status { keys[p.identity] = key } }
        var decisions: [String: LockFile.Target] = [:]
        for t in resolved.targets {
            guard let key = keys[t.select], let record = store.record(for: key) else { return (true, []) }
            let result = StageResult(identity: t.select, kind: "select", key: key, outputs: record.outputs.mapValues(\.digest),
                                     status: .cached, reasons: [], elapsed: 0)
            let (selection, layers) = try decided(result, store: store)
            // A device target's budgets count too: from its cached quantize stage.
            let device = keys[Self.stagePrefix(spec: t.spec, target: t.name) + "quantize"]
                .flatMap { store.record(for: $0)?.outputs["device"]?.digest }
            let passed = try Self.passed(selection, spec: t.spec, device: device, store: store)
            decisions[t.name] = Self.lockTarget(selection, layers: layers, metric: t.spec.metric.value, passed: passed)
        }
        now.targets = decisions
        let differs = now.differences(from: recorded, decisions: true)
        return (differs.isEmpty, differs)
    }
}

/// The stages a run computed on this machine in earlier attempts of a run that was repeated
/// because the team cache could not deliver a blob it had vouched for.
final class ComputedStages: @unchecked Sendable {
    // Used by one thread at a time: between scheduler runs, never during one.
    private var previous: [String: StageResult] = [:]
    private var current: [StageResult] = []

    /// A new attempt: what the last one computed becomes "earlier".
    func startAttempt() {
        for r in current where previous[r.identity] == nil { previous[r.identity] = r }
        current = []
    }

    func add(_ results: [StageResult]) { current += results }

    /// Identity → result, for stages computed by earlier attempts.
    var earlier: [String: StageResult] { previous }
}
