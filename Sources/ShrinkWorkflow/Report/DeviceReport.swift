import Foundation

/// One layer of the device library in the report: its constants and its output activation.
public struct DeviceLayerReport: Sendable, Hashable, Codable {
    /// The device layer (named after the ONNX layer; a decomposed layer is several).
    public var name: String
    /// The kernel that runs it (`conv`, `fully_connected`, …).
    public var kernel: String
    /// Multiply-accumulates of one sample.
    public var macs: Int
    /// Flash bytes of its constants (weights, biases, requantisation, parameters).
    public var flash: Int
    /// Bytes of its output activation.
    public var activation: Int

    /// A layer.
    public init(name: String, kernel: String, macs: Int, flash: Int, activation: Int) {
        self.name = name
        self.kernel = kernel
        self.macs = macs
        self.flash = flash
        self.activation = activation
    }
}

/// The device side of a run: the library's flash and RAM against the original model's as a
/// float32 library, the budgets, and the metric in float32 and int8.
public struct DeviceReport: Sendable, Hashable, Codable {
    /// The device profile (`cortex-m4`).
    public var device: String
    /// Whether the library is int8 (else float32).
    public var int8: Bool
    /// The library's flash (constants and code) and RAM (arena and scratch), computed.
    public var flash: Int, ram: Int
    /// The same for the original model as a float32 library (nil when it does not lower).
    public var flashBefore: Int?, ramBefore: Int?
    /// The budgets of `target`.
    public var flashBudget: Int?, ramBudget: Int?
    /// Per layer, after and before.
    public var layers: [DeviceLayerReport], layersBefore: [DeviceLayerReport]
    /// int8 pipelines: the original model in int8, and the chosen model in float32 (full set).
    public var int8Baseline: Double?, floatFinal: Double?
    /// Notes from lowering and quantisation (a final Softmax left out, …).
    public var notes: [String]

    /// A device report.
    public init(device: String, int8: Bool, flash: Int, ram: Int, flashBefore: Int?, ramBefore: Int?, flashBudget: Int?,
                ramBudget: Int?, layers: [DeviceLayerReport], layersBefore: [DeviceLayerReport], int8Baseline: Double?,
                floatFinal: Double?, notes: [String]) {
        self.device = device
        self.int8 = int8
        self.flash = flash
        self.ram = ram
        self.flashBefore = flashBefore
        self.ramBefore = ramBefore
        self.flashBudget = flashBudget
        self.ramBudget = ramBudget
        self.layers = layers
        self.layersBefore = layersBefore
        self.int8Baseline = int8Baseline
        self.floatFinal = floatFinal
        self.notes = notes
    }

    /// What exceeds a budget, in words (empty when the library fits).
    public var budgetProblems: [String] {
        var out: [String] = []
        if let b = flashBudget, flash > b { out.append("flash \(flash) B > \(b) B") }
        if let b = ramBudget, ram > b { out.append("RAM \(ram) B > \(b) B") }
        return out
    }

    /// Whether the library fits the budgets.
    public var withinBudget: Bool { budgetProblems.isEmpty }
}

extension MarkdownReport {
    /// The `## Device` section.
    func deviceSection(_ d: DeviceReport) -> String {
        let r = report
        var md = "\n## Device (\(cell(d.device)), \(d.int8 ? "int8" : "float32") C library)\n\n"
        md += "Computed from the model (constants plus each kernel's code once; RAM is the activation arena plus scratch). "
        md += "Before: the original model as a float32 library.\n\n"
        md += "| | before | after | change | budget |\n|---|---:|---:|---:|---:|\n"
        func row(_ name: String, _ before: Int?, _ after: Int, _ budget: Int?) -> String {
            let ratio = before.map { String(format: "%.1f× smaller", Double($0) / Double(max(after, 1))) } ?? "—"
            let fits = budget.map { "\(int($0)) B \(after <= $0 ? "(fits)" : "(EXCEEDED)")" } ?? "—"
            return "| \(name) | \(before.map { "\(int($0)) B" } ?? "—") | \(int(after)) B | \(ratio) | \(fits) |\n"
        }
        md += row("flash", d.flashBefore, d.flash, d.flashBudget)
        md += row("RAM", d.ramBefore, d.ram, d.ramBudget)
        if d.int8 {
            md += "\n| \(cell(r.metric)) | float32 | int8 |\n|---|---:|---:|\n"
            md += "| original | \(value(r.baseline)) | \(d.int8Baseline.map(value) ?? "—") |\n"
            md += "| compressed | \(d.floatFinal.map(value) ?? "—") | \(value(r.final)) |\n\n"
            md += "The search scored every candidate as the int8 model, with the integer arithmetic the device runs; "
            md += "the drop is measured from the float32 original.\n"
        }
        func table(_ title: String, _ layers: [DeviceLayerReport]) -> String {
            var t = "\n\(title)\n\n| layer | kernel | MACs | flash B | activation B |\n|---|---|---:|---:|---:|\n"
            for l in layers {
                t += "| \(cell(l.name)) | \(cell(l.kernel)) | \(int(l.macs)) | \(int(l.flash)) | \(int(l.activation)) |\n"
            }
            return t
        }
        md += table("After (\(d.int8 ? "int8" : "float32")):", d.layers)
        if !d.layersBefore.isEmpty { md += table("Before (float32):", d.layersBefore) }
        if !d.notes.isEmpty { md += "\n" + d.notes.map { "- \(line($0))" }.joined(separator: "\n") + "\n" }
        return md
    }
}
