/// What a rank is chosen to save: stored parameters or multiply-accumulates.
public enum CostObjective: String, Sendable, Hashable, Codable, CaseIterable {
    /// Stored weights and biases.
    case params
    /// Multiply-accumulates per sample.
    case macs
}

/// The exact cost of a layer or a set of stages: parameters and multiply-accumulates per sample.
///
/// Parameters count every stored weight and bias element. MACs count the products of the
/// weight with its input: out·(in/group)·k₁·k₂… per output position for a convolution and
/// out·in per input row for a dense layer. Bias additions are not multiplies and are not
/// counted, matching the graph module's layer table.
public struct LayerCost: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Stored parameters, bias included.
    public var params: Int
    /// Multiply-accumulates per sample.
    public var macs: Int

    /// A cost of `params` parameters and `macs` MACs.
    public init(params: Int, macs: Int) {
        self.params = params
        self.macs = macs
    }

    /// Nothing.
    public static let zero = LayerCost(params: 0, macs: 0)

    /// The figure the objective looks at.
    public subscript(_ objective: CostObjective) -> Int {
        objective == .params ? params : macs
    }

    /// Element-wise sum.
    public static func + (a: LayerCost, b: LayerCost) -> LayerCost {
        LayerCost(params: a.params + b.params, macs: a.macs + b.macs)
    }

    /// Element-wise difference.
    public static func - (a: LayerCost, b: LayerCost) -> LayerCost {
        LayerCost(params: a.params - b.params, macs: a.macs - b.macs)
    }

    /// `params P, MACs M`.
    public var description: String { "params \(params), MACs \(macs)" }
}

extension Sequence where Element == LayerCost {
    /// The sum of the costs.
    public func total() -> LayerCost { reduce(.zero, +) }
}
