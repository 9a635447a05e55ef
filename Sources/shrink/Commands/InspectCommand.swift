import ArgumentParser
import Foundation
import ShrinkGraph

/// `shrink inspect MODEL.onnx [--json]`: the model's compressible layers with their costs.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List a model's layers (Conv, Gemm, MatMul) with parameters and MACs per sample.",
        discussion: """
        MACs are multiply-accumulates per sample, computed with the batch dimension set to 1.
        Layer names are the weight initializer names without `.weight` (else the node name);
        these are the names pipeline rules match.
        With --json, prints one object:
        {"layers": [{"name", "node", "op", "weight_shape", "params", "macs"}, …], "params", "macs"}
        where the top-level "params" counts every floating-point initializer the model uses.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Shape of a data input whose declared shape is incomplete, e.g. input=1x3x224x224 (repeatable).",
                               valueName: "name=dims"))
    var inputShapes: [String] = []

    @Option(help: ArgumentHelp("Sample inputs (.npz, arrays named after the inputs or --input-key; or .npy): symbolic sizes and small integer inputs come from them.",
                               valueName: "FILE.npz"))
    var data: String?

    @Option(name: .customLong("input-key"), help: "The array in --data holding a one-input model's input.")
    var inputKey: String = "x"

    func run() throws {
        let explicit = try CLI.inputShapes(inputShapes)
        let graph = try CLI.loadGraph(model)
        let facts = try CLI.inputFacts(graph, model: model, data: data, inputKey: inputKey, inputShapes: explicit)
        let table: LayerTable
        let costed: Graph
        do {
            // Branches whose condition these inputs decide are costed as the ones taken.
            costed = try graph.inliningConstantBranches(inputShapes: facts.shapes, inputValues: facts.values)
            table = try LayerTable(graph: costed, shapes: try costed.inferShapes(inputShapes: facts.shapes, inputValues: facts.values))
        } catch {
            // Symbolic sizes besides the batch are taken as 1, which a later layer may not fit.
            guard let example = CLI.inputShapeExample(graph, given: facts) else { throw CLI.fail(error.inFile(model)) }
            let declared = graph.dataInputs.map { i in
                "'\(i.name)' " + (i.shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]")
            }.joined(separator: ", ")
            throw CLI.fail("\(error.inFile(model))\nnote: inputs \(declared) have symbolic sizes, taken as 1; give sample data with --data FILE.npz, or sizes, e.g. \(example)")
        }
        print(json ? Self.json(table) : Self.text(table, graph: costed, path: model))
    }

    static func json(_ t: LayerTable) -> String {
        let layers = t.layers.map { l in
            "{\"name\": \(quote(l.name)), \"node\": \(quote(l.nodeName)), \"op\": \(quote(l.op)), "
                + "\"weight_shape\": [\(l.weightShape.map(String.init).joined(separator: ", "))], "
                + "\"params\": \(l.params), \"macs\": \(l.macs)}"
        }
        let body = layers.isEmpty ? "[]" : "[\n    " + layers.joined(separator: ",\n    ") + "\n  ]"
        return "{\n  \"layers\": \(body),\n  \"params\": \(t.modelParams),\n  \"macs\": \(t.totalMACs)\n}"
    }

    static func text(_ t: LayerTable, graph: Graph, path: String) -> String {
        var out: [String] = []
        var header = "\(path)"
        var facts: [String] = []
        if !graph.producerName.isEmpty { facts.append("from \(graph.producerName)") }
        if let v = graph.opsetVersion() { facts.append("opset \(v)") }
        if !facts.isEmpty { header += " (\(facts.joined(separator: ", ")))" }
        out.append(header)
        for i in graph.dataInputs {
            let shape = i.shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]"
            out.append("input \(i.name) \(shape)")
        }
        out.append("")
        if t.layers.isEmpty {
            out.append("No Conv, Gemm or MatMul layers with constant weights: nothing to compress.")
        } else {
            var rows: [[String]] = [["layer", "op", "weight shape", "params", "MACs/sample", "% MACs"]]
            for l in t.layers {
                var op = l.op
                if let k = l.kernelDescription { op += " \(k)" }
                if l.group > 1 { op += " g\(l.group)" }
                rows.append([l.name, op, l.weightShape.map(String.init).joined(separator: "×"),
                             grouped(l.params), grouped(l.macs), percent(t.macShare(l))])
            }
            rows.append(["total", "", "", grouped(t.layerParams), grouped(t.totalMACs), t.totalMACs > 0 ? "100.0%" : ""])
            let rightAligned: Set<Int> = [3, 4, 5]
            let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for (r, row) in rows.enumerated() {
                if r == rows.count - 1 {
                    out.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
                }
                let cells = row.enumerated().map { c, cell in
                    let pad = String(repeating: " ", count: widths[c] - cell.count)
                    return rightAligned.contains(c) ? pad + cell : cell + pad
                }
                out.append(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
        out.append("")
        out.append("\(t.layers.count) layers; \(grouped(t.totalMACs)) MACs per sample; \(grouped(t.layerParams)) layer params")
        if t.modelParams != t.layerParams {
            out.append("model params: \(grouped(t.modelParams)), of which \(grouped(t.otherParams)) in other float constants (BatchNorm, …)"
                + (t.modelParams - t.otherParams < t.layerParams ? "; some layers share weights, counted once here" : ""))
        }
        let branched = graph.nodes.filter { $0.opType == "If" && !$0.subgraphs.isEmpty }
        if !branched.isEmpty {
            func count(_ g: Graph) -> Int {
                g.nodes.reduce(0) { $0 + (["Conv", "Gemm", "MatMul"].contains($1.opType) ? 1 : 0) + $1.subgraphs.reduce(0) { $0 + count($1) } }
            }
            let inside = branched.reduce(0) { $0 + $1.subgraphs.reduce(0) { $0 + count($1) } }
            if inside > 0 {
                out.append("note: \(inside) Conv/Gemm/MatMul node\(inside == 1 ? "" : "s") inside the branches of If \(branched.map(\.displayName).joined(separator: ", ")) are not listed: the condition is known only at run time (their weights are in the model params)")
            }
        }
        if !t.shapes.unsupportedOps.isEmpty {
            let n = t.shapes.skippedNodes.count
            out.append("note: shapes unknown after unsupported operators \(t.shapes.unsupportedOps.joined(separator: ", ")) (\(n) node\(n == 1 ? "" : "s"))")
        }
        return out.joined(separator: "\n")
    }

    static func quote(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default:
                if u.value < 0x20 { r += String(format: "\\u%04x", u.value) } else { r.unicodeScalars.append(u) }
            }
        }
        return r + "\""
    }

    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
}
