import Foundation
import ShrinkBuild
import ShrinkCompress
import Yams

/// `pipelines/NAME.lock`: what a run read and what it decided, so a reviewer sees what changed and
/// CI can check it with `shrink status --check` in a fresh clone, without computing anything.
///
/// It pins **inputs** (content digests of the pipeline, its imports, the model, the data and an
/// external evaluator's files), the **engine** (the stage kinds and versions that turn inputs into
/// results) and the **decisions** (per-layer method and ranks, pass/fail, exact parameter and MAC
/// counts) — never digests of float outputs: OpenBLAS picks different kernels on different CPUs,
/// so the exported bytes differ in their last bits while every decision stays the same. Metrics
/// are recorded with the tolerance within which another machine's measurement counts as equal.
struct LockFile: Equatable, Codable {
    /// The format of this file; older ones are reported as stale, never misread.
    static let format = 2

    /// One target (the pipeline itself, `main`, or a variant).
    struct Target: Equatable, Codable {
        /// The measured metric.
        struct Metric: Equatable, Codable {
            /// `top1`, `top5`, `top3`, `mse` or `command`.
            var name: String
            /// The original model's value and the exported model's, on the whole evaluation set.
            var original: Double, final: Double
            /// Samples measured.
            var samples: Int
            /// Another measurement within this of `final` (and `original`) agrees.
            var tolerance: Double
        }
        /// Parameter or MAC count before and after.
        struct Count: Equatable, Codable { var before: Int, after: Int }

        var passed: Bool
        var metric: Metric
        var params: Count
        var macs: Count
        /// Layer → `method:rank[,rank]`.
        var layers: [String: String]
    }

    var lock: Int = LockFile.format
    var pipeline: String
    /// Digest of the stage kinds and implementation versions.
    var engine: String
    /// Path (relative to the repository root, or a git recipe's name) → `sha256:HEX`.
    var inputs: [String: String]
    /// Target name → decisions.
    var targets: [String: Target]

    /// The tolerance for a metric: two samples' worth for a top-k accuracy or an agreement (a near-tie may round
    /// the other way on another CPU), else 1e-3 relative (absolute below 1).
    static func tolerance(metric: String, value: Double, samples: Int) -> Double {
        metric.hasPrefix("top") || metric == "agreement" ? 2.0 / Double(max(samples, 1)) : 1e-3 * max(1, abs(value))
    }

    // MARK: Comparing

    /// Why `self` (what the checkout and the cache say now) differs from `recorded`; empty when
    /// they agree. With `decisions: false` only the inputs, the engine and the set of targets are
    /// compared (what a fresh clone can check without computing anything).
    func differences(from recorded: LockFile, decisions: Bool) -> [String] {
        var out: [String] = []
        if recorded.lock != lock { return ["it was written in lock format \(recorded.lock); this Shrink writes \(lock) — rerun `shrink run`"] }
        if recorded.pipeline != pipeline { out.append("the pipeline's name changed (\(Self.quote(recorded.pipeline)) → \(Self.quote(pipeline)))") }
        if recorded.engine != engine { out.append("it was written by a Shrink whose stages compute differently (engine \(recorded.engine.prefix(12)) → \(engine.prefix(12)))") }
        for path in Set(inputs.keys).union(recorded.inputs.keys).sorted() {
            switch (recorded.inputs[path], inputs[path]) {
            case (nil, _): out.append("\(Self.quote(path)) is a new input")
            case (_, nil): out.append("\(Self.quote(path)) is no longer an input")
            case let (a?, b?) where a != b: out.append("\(Self.quote(path)) changed")
            default: break
            }
        }
        if Set(targets.keys) != Set(recorded.targets.keys) {
            out.append("targets changed: \(recorded.targets.keys.sorted().joined(separator: ", ")) → \(targets.keys.sorted().joined(separator: ", "))")
        }
        guard decisions else { return out }
        for (name, t) in targets.sorted(by: { $0.key < $1.key }) {
            guard let r = recorded.targets[name] else { continue }
            if r.passed != t.passed { out.append("\(name): passed \(r.passed) → \(t.passed)") }
            for layer in Set(t.layers.keys).union(r.layers.keys).sorted() where r.layers[layer] != t.layers[layer] {
                out.append("\(name): layer \(Self.quote(layer)) \(r.layers[layer] ?? "kept") → \(t.layers[layer] ?? "kept")")
            }
            if r.params != t.params { out.append("\(name): params \(r.params.before) → \(r.params.after) became \(t.params.before) → \(t.params.after)") }
            if r.macs != t.macs { out.append("\(name): MACs \(r.macs.before) → \(r.macs.after) became \(t.macs.before) → \(t.macs.after)") }
            let tol = max(r.metric.tolerance, t.metric.tolerance)
            if r.metric.name != t.metric.name || r.metric.samples != t.metric.samples {
                out.append("\(name): metric \(r.metric.name) on \(r.metric.samples) samples → \(t.metric.name) on \(t.metric.samples)")
            } else {
                for (what, a, b) in [("original", r.metric.original, t.metric.original), ("final", r.metric.final, t.metric.final)]
                where !(abs(a - b) <= tol) {
                    out.append("\(name): \(what) \(t.metric.name) \(Self.number(a)) → \(Self.number(b)) (more than the tolerance \(Self.number(tol)))")
                }
            }
        }
        return out
    }

    // MARK: Text

    /// Reads a lock file; `nil` with a reason when it is not one this Shrink can read.
    static func parse(_ text: String) -> Result<LockFile, LockFileUnreadable> {
        do {
            guard let node = try Yams.compose(yaml: text), case .mapping(let m) = node else {
                return .failure(LockFileUnreadable(reason: "it is not a YAML mapping"))
            }
            if let v = m["lock"]?.int, v != format {
                return .failure(LockFileUnreadable(reason: "it was written in lock format \(v); this Shrink writes \(format) — rerun `shrink run`"))
            }
            return .success(try YAMLDecoder().decode(LockFile.self, from: text))
        } catch {
            return .failure(LockFileUnreadable(reason: "it cannot be read (\(error)); rerun `shrink run` to rewrite it"))
        }
    }

    /// The file's text: fixed order, every string that is not plainly safe in YAML quoted with
    /// JSON's escapes (valid YAML), so layer names with newlines, quotes or colons round-trip.
    func render() -> String {
        var y = "# Written by `shrink run`; checked by `shrink status --check` (docs/build-system.md, \"Lock files\").\n"
        y += "# It pins inputs and decisions, not float bytes: a lock written on one CPU checks clean on another. Do not edit.\n"
        y += "lock: \(lock)\npipeline: \(Self.quote(pipeline))\nengine: \(Self.quote(engine))\ninputs:\n"
        if inputs.isEmpty { y += "  {}\n" }
        for path in inputs.keys.sorted() { y += "  \(Self.quote(path)): \(Self.quote(inputs[path]!))\n" }
        y += "targets:\n"
        if targets.isEmpty { y += "  {}\n" }
        for name in targets.keys.sorted() {
            let t = targets[name]!
            y += "  \(Self.quote(name)):\n"
            y += "    passed: \(t.passed)\n"
            y += "    metric: { name: \(Self.quote(t.metric.name)), original: \(Self.number(t.metric.original)), "
                + "final: \(Self.number(t.metric.final)), samples: \(t.metric.samples), tolerance: \(Self.number(t.metric.tolerance)) }\n"
            y += "    params: { before: \(t.params.before), after: \(t.params.after) }\n"
            y += "    macs: { before: \(t.macs.before), after: \(t.macs.after) }\n"
            y += "    layers:\n"
            if t.layers.isEmpty { y += "      {}\n" }
            for l in t.layers.keys.sorted() { y += "      \(Self.quote(l)): \(Self.quote(t.layers[l]!))\n" }
        }
        return y
    }

    /// Writes the file atomically unless it already holds exactly this text.
    func write(to url: URL) throws {
        let text = render()
        if (try? String(contentsOf: url, encoding: .utf8)) == text { return }
        try AtomicFile.write(Data(text.utf8), to: url)
    }

    /// A plain scalar when it cannot be misread (letters, digits, `-_./:,`, not starting with a
    /// character YAML treats specially, not a word YAML reads as a bool or null), else a
    /// double-quoted one with JSON escapes.
    static func quote(_ s: String) -> String {
        // `:` and `,` are plain inside a block scalar unless `:` ends it or a space follows it.
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_./:,".unicodeScalars.contains($0)) }
            && !"-.:,".contains(s.first!) && !s.hasSuffix(":") && !["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"].contains(s.lowercased())
            && Double(s) == nil && Int(s) == nil
        if plain { return s }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func number(_ v: Double) -> String {
        v.isFinite ? String(format: "%.6g", v) : (v.isNaN ? ".nan" : v > 0 ? ".inf" : "-.inf")
    }
}

/// A lock file this Shrink cannot read (another format, or edited by hand).
struct LockFileUnreadable: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
