import Foundation
import ShrinkCompress

/// `pipelines/NAME.lock`: the resolved choices, digests and metrics, in a fixed order, so a
/// reviewer sees what changed and CI can check it with `shrink status --check`.
struct LockFile {
    struct Target {
        var name: String
        var selection: Selection
        var layers: [String: String]
        var onnx: String?
        var report: String
    }

    var pipeline: String
    var model: String
    var sources: [(String, String)]
    var targets: [Target]

    func render() -> String {
        var y = "# Written by `shrink run`; checked by `shrink status --check`. Do not edit.\n"
        y += "lock: 1\npipeline: \(q(pipeline))\nmodel: sha256:\(model)\nsources:\n"
        for (path, digest) in sources.sorted(by: { $0.0 < $1.0 }) { y += "  \(q(path)): sha256:\(digest)\n" }
        y += "targets:\n"
        for t in targets.sorted(by: { $0.name < $1.name }) {
            let s = t.selection
            y += "  \(q(t.name)):\n"
            y += "    passed: \(s.passed)\n"
            y += "    metric: { original: \(num(s.baseline)), final: \(num(s.metric)), samples: \(s.samples) }\n"
            y += "    params: { before: \(s.before.params), after: \(s.after.params) }\n"
            y += "    macs: { before: \(s.before.macs), after: \(s.after.macs) }\n"
            y += "    layers:\n"
            if t.layers.isEmpty { y += "      {}\n" }
            for l in t.layers.keys.sorted() { y += "      \(q(l)): \(q(t.layers[l]!))\n" }
            y += "    outputs:\n"
            y += "      onnx: \(t.onnx.map { "sha256:\($0)" } ?? "null")\n"
            y += "      report: sha256:\(t.report)\n"
        }
        return y
    }

    func write(to url: URL) throws {
        let text = render()
        if (try? String(contentsOf: url, encoding: .utf8)) == text { return }
        try AtomicFile.write(Data(text.utf8), to: url)
    }

    private func q(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) } ? s : "\"\(s.replacingOccurrences(of: "\"", with: "\\\""))\""
    }

    private func num(_ v: Double) -> String { String(format: "%.6f", v) }
}
