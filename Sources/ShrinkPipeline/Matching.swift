import Foundation

/// A layer as the rule matcher sees it: what the build system reads off the model's layer table.
/// This module knows no tensors, so the description is all it gets.
public struct LayerDescription: Sendable, Hashable, Codable {
    /// The layer's name: its weight initializer without `.weight`, else its node name.
    public var name: String
    /// The ONNX op type (`Conv`, `Gemm`, `MatMul`, …).
    public var op: String
    /// The kernel's spatial size for convolutions (`[5, 5]`), `nil` for matrices.
    public var kernel: [Int]?
    /// Weight parameter count.
    public var params: Int
    /// Multiply-accumulate operations per sample.
    public var macs: Int
    /// Convolution groups; nil means 1 (a dense layer or an ordinary convolution).
    public var group: Int?
    /// A convolution's input channels, when known (`cp` and `cp4` need more than one).
    public var inputChannels: Int?

    /// Creates a description.
    public init(name: String, op: String, kernel: [Int]? = nil, params: Int, macs: Int, group: Int? = nil,
                inputChannels: Int? = nil) {
        self.name = name
        self.op = op
        self.kernel = kernel
        self.params = params
        self.macs = macs
        self.group = group
        self.inputChannels = inputChannels
    }

    /// Whether this is a grouped (e.g. depthwise) convolution, which no low-rank method rewrites.
    public var isGrouped: Bool { (group ?? 1) > 1 }
}

/// What happens to one layer.
public struct LayerAssignment: Sendable, Hashable, Codable {
    /// The layer.
    public var layer: LayerDescription
    /// Index into `PipelineSpec.rules` of the rule that took the layer; `nil` when none matched.
    public var ruleIndex: Int?
    /// The method; `keep` for unmatched layers and for layers the rule's method cannot rewrite.
    public var method: MethodName
    /// The rank; `nil` for `keep`.
    public var rank: RankSpec?
    /// What the factors are fitted to.
    public var fit: FitMode

    /// Creates an assignment.
    public init(layer: LayerDescription, ruleIndex: Int?, method: MethodName, rank: RankSpec?, fit: FitMode) {
        self.layer = layer
        self.ruleIndex = ruleIndex
        self.method = method
        self.rank = rank
        self.fit = fit
    }
}

/// The assignment of every layer (in the order given), plus what is wrong with the rules for
/// this model: rules that match nothing, methods that cannot rewrite a matched layer.
public struct LayerAssignments: Sendable, Hashable, RandomAccessCollection {
    /// One per layer, in the order of the layers given.
    public var assignments: [LayerAssignment]
    /// Problems found; errors stop a run, warnings are shown.
    public var diagnostics: [Diagnostic]

    /// Creates the result.
    public init(assignments: [LayerAssignment], diagnostics: [Diagnostic]) {
        self.assignments = assignments
        self.diagnostics = diagnostics
    }

    /// First index.
    public var startIndex: Int { assignments.startIndex }
    /// One past the last index.
    public var endIndex: Int { assignments.endIndex }
    /// The assignment at `index`.
    public subscript(index: Int) -> LayerAssignment { assignments[index] }
}

extension PipelineSpec {
    /// Assigns each layer to the first rule that matches it; unmatched layers are kept.
    ///
    /// A rule of the pipeline (or of this variant) that matches no layer is an error at the rule,
    /// as is a method that cannot rewrite a matched layer; for a rule imported from a recipe, which
    /// is written for many models, the first is a note and the second a warning. A layer whose rule's
    /// method does not apply is kept.
    public func assign(layers: [LayerDescription], applicability: MethodApplicability = .dslDefault) -> LayerAssignments {
        let outcome = matchRules(layers: layers, applicability: applicability)
        var byRule = outcome.inapplicable
        for index in outcome.unmatched {
            byRule.append((index, unmatchedDiagnostic(ruleIndex: index, layers: layers, outcome: outcome)))
        }
        // Rule order is reading order within a file, and files in precedence order.
        let diagnostics = byRule.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
        return LayerAssignments(assignments: outcome.assignments, diagnostics: diagnostics)
    }

    struct MatchOutcome {
        var assignments: [LayerAssignment]
        /// Indices of rules that took no layer.
        var unmatched: [Int]
        /// Rules that matched some layer but were all preceded by an earlier rule.
        var shadowed: Set<Int>
        /// Per rule index: a method that cannot rewrite some layer the rule took.
        var inapplicable: [(Int, Diagnostic)]
    }

    func matchRules(layers: [LayerDescription], applicability: MethodApplicability) -> MatchOutcome {
        var taken = Array(repeating: 0, count: rules.count)
        var selects = Array(repeating: false, count: rules.count)
        var refused: [Int: [String]] = [:]
        var reasons: [Int: String] = [:]
        var refusedGrouped: [Int: [String]] = [:]
        var rewrites = Array(repeating: 0, count: rules.count)
        var assignments: [LayerAssignment] = []
        for layer in layers {
            var chosen: Int?
            for (index, rule) in rules.enumerated() where rule.match.matches(layer) {
                selects[index] = true
                if chosen == nil { chosen = index }
            }
            guard let index = chosen else {
                assignments.append(LayerAssignment(layer: layer, ruleIndex: nil, method: .keep, rank: nil, fit: .weights))
                continue
            }
            taken[index] += 1
            let rule = rules[index]
            if rule.method.value != .keep && layer.isGrouped {
                refusedGrouped[index, default: []].append(layer.name)
                assignments.append(LayerAssignment(layer: layer, ruleIndex: index, method: .keep, rank: nil, fit: .weights))
            } else if rule.method.value == .keep || applicability.refusal(rule.method.value, layer) == nil {
                rewrites[index] += 1
                let rank = rule.method.value == .keep ? nil : rule.rank?.value
                assignments.append(LayerAssignment(
                    layer: layer, ruleIndex: index, method: rule.method.value, rank: rank, fit: rule.fit.value))
            } else {
                refused[index, default: []].append(layer.name)
                if reasons[index] == nil { reasons[index] = applicability.refusal(rule.method.value, layer) }
                assignments.append(LayerAssignment(layer: layer, ruleIndex: index, method: .keep, rank: nil, fit: .weights))
            }
        }
        var inapplicable: [(Int, Diagnostic)] = []
        for (index, names) in refused.sorted(by: { $0.key < $1.key }) {
            let rule = rules[index]
            let method = rule.method.value
            let shown = names.prefix(5).map { "`\($0)`" }.joined(separator: ", ") + (names.count > 5 ? ", …" : "")
            let oneChannel = [.cp, .cp4].contains(method) && names.allSatisfy { n in layers.first { $0.name == n }?.inputChannels == 1 }
            let noConv = names.allSatisfy { n in layers.first { $0.name == n }?.op != LayerOp.conv.rawValue }
            let why = !applicability.isDefault ? (reasons[index] ?? requirement(of: method))
                : oneChannel ? "it needs more than one input channel (use tucker2 with Rin = 1, or spatial-svd)"
                : noConv && [.cp, .cp4, .tucker2, .spatialSVD].contains(method) ? "it needs a Conv layer" : requirement(of: method)
            inapplicable.append((index, Diagnostic(
                severity(for: rule.origin),
                "method `\(method.rawValue)` cannot rewrite \(shown); \(why), so \(names.count == 1 ? "it is" : "they are") kept",
                at: rule.method.location,
                hint: "narrow the rule's `match` (e.g. `op:` or `kernel:`)")))
        }
        // No match key tells grouped convolutions apart, so a rule that rewrites other layers only
        // warns about them (`match: { op: Conv }` on a MobileNet); a rule that rewrites nothing else
        // is an error like any other refusal.
        for (index, names) in refusedGrouped.sorted(by: { $0.key < $1.key }) {
            let rule = rules[index]
            let shown = names.prefix(5).map { "`\($0)`" }.joined(separator: ", ") + (names.count > 5 ? ", …" : "")
            let one = names.count == 1
            inapplicable.append((index, Diagnostic(
                rewrites[index] > 0 ? .warning : severity(for: rule.origin),
                "method `\(rule.method.value.rawValue)` cannot rewrite the grouped convolution\(one ? "" : "s") \(shown); low-rank methods need group 1, so \(one ? "it is" : "they are") kept",
                at: rule.method.location,
                hint: rewrites[index] > 0 ? nil : "narrow the rule's `match` (e.g. `name:`), or use `method: keep`")))
        }
        let unmatched = rules.indices.filter { taken[$0] == 0 }
        let shadowed = Set(unmatched.filter { selects[$0] })
        return MatchOutcome(assignments: assignments, unmatched: unmatched, shadowed: shadowed, inapplicable: inapplicable)
    }

    func unmatchedDiagnostic(ruleIndex: Int, layers: [LayerDescription], outcome: MatchOutcome) -> Diagnostic {
        let rule = rules[ruleIndex]
        // A shared recipe is written for many models, and a pipeline overrides its rules by
        // placing its own first: an imported rule that matches nothing here is a note, not a
        // warning on every run.
        let severity: Severity = rule.origin.isRecipe ? .note : severity(for: rule.origin)
        if outcome.shadowed.contains(ruleIndex) {
            return Diagnostic(severity, "rule matches no layer: every layer it selects is taken by an earlier rule",
                              at: rule.location, hint: "move it above the rule that takes its layers, or remove it")
        }
        var hint: String?
        if let glob = rule.match.name, !layers.isEmpty {
            let names = layers.map(\.name)
            hint = suggestion(for: glob.value, among: names)
            if hint == nil, !names.contains(where: { globMatch(pattern: glob.value, name: $0) }) {
                let shown = names.prefix(5).map { "`\($0)`" }.joined(separator: ", ") + (names.count > 5 ? ", …" : "")
                hint = "no layer name matches `\(glob.value)`; names include \(shown)"
            }
        }
        return Diagnostic(severity, "rule matches no layer", at: rule.location, hint: hint)
    }
}

func severity(for origin: RuleOrigin) -> Severity {
    switch origin {
    case .pipeline, .variant: .error
    case .recipe: .warning
    }
}

func requirement(of method: MethodName) -> String {
    switch method {
    case .cp, .tucker2: "it needs a Conv layer with a 1-D or 2-D kernel larger than 1×1"
    case .cp4: "it needs a 2-D Conv layer with a kernel larger than 1×1"
    case .spatialSVD: "it needs a Conv layer with a kernel larger than 1 in both spatial dimensions"
    case .svd: "it needs a Gemm or MatMul layer, or a 1×1 Conv"
    case .keep: "it applies to every layer"
    }
}

/// Whether a method can rewrite a layer, asked by rule matching so that every refusal is reported
/// at the rule (file:line:col). The application passes the decomposition library's own check (the
/// one its stages run); `dslDefault` is what the DSL can tell from a layer's description alone.
public struct MethodApplicability: Sendable {
    /// nil when `method` applies to the layer, else why not (a clause: "it needs …").
    public let refusal: @Sendable (MethodName, LayerDescription) -> String?
    let isDefault: Bool

    /// A check given by the caller.
    public init(_ refusal: @escaping @Sendable (MethodName, LayerDescription) -> String?) {
        self.refusal = refusal
        isDefault = false
    }

    private init(default refusal: @escaping @Sendable (MethodName, LayerDescription) -> String?) {
        self.refusal = refusal
        isDefault = true
    }

    /// Op, kernel and input channels only (no weights): for checking a pipeline without its model.
    public static let dslDefault = MethodApplicability(default: { method, layer in
        if !method.applies(toOp: layer.op, kernel: layer.kernel) { return requirement(of: method) }
        if [.cp, .cp4].contains(method) && layer.inputChannels == 1 {
            return "it needs more than one input channel (use tucker2 with Rin = 1, or spatial-svd)"
        }
        return nil
    })
}
