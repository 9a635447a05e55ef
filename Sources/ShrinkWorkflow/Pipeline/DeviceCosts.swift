import ShrinkCompress
import ShrinkDevice
import ShrinkGraph
import ShrinkTensor
import Synchronization

/// What the search needs to know about the device: its profile, whether the library is int8,
/// the budgets and whether `objective` ranks by flash or RAM. Part of the select stage's
/// parameters (absent for pipelines without `quantize`, `target` or `export.c`).
struct DeviceSearch: Codable, Sendable, Hashable {
    /// The device profile (`cortex-m4`).
    var device: String
    /// Whether the library is int8.
    var int8: Bool
    /// `target.flash`, `target.ram` in bytes.
    var flashBudget: Int?, ramBudget: Int?
    /// `flash` or `ram` when `search.objective` ranks by the device's bytes.
    var ranking: DeviceResource?
}

/// A device resource the search can limit or minimise.
enum DeviceResource: String, Codable, Sendable, Hashable {
    case flash, ram
}

/// The exact flash and RAM of every candidate of a search: its decompositions applied to the
/// model (with placeholder weights: sizes depend on shapes only), lowered, and budgeted as its
/// int8 or float32 C library on the device (`DeviceBudget.compute(structureOf:)`, which equals
/// what the quantize stage computes and arm-none-eabi-size measures within 0.1 % on LeNet).
///
/// Flash adds up over layers, so each (layer, option) is lowered once, lazily, and a
/// configuration's flash is the original's `FlashParts` plus each changed layer's difference —
/// exact, since a layer's rewrite changes only its own device layers. RAM (a planned arena, a
/// maximum over lifetimes) is computed per configuration from the whole lowered model, memoised.
final class DeviceCosts: Sendable {
    struct Layer: Sendable {
        var descriptor: LayerDescriptor
        var method: ShrinkCompress.MethodName
        var options: [RankOption]
    }

    let base: Graph
    let layers: [String: Layer]
    let profile: DeviceProfile
    let int8: Bool
    let baseParts: FlashParts
    let baseRAM: Int
    /// The share of an option that could not be priced: larger than any device, small enough
    /// that an allocation adding a few hundred of them cannot overflow.
    static let unpriced = 1 << 40

    private struct Memo {
        var parts: [String: [Int: FlashParts]] = [:]
        var ram: [Configuration: Int] = [:]
        var layerRAM: [String: [Int: Int]] = [:]
    }
    private let memo = Mutex(Memo())

    /// Costs over `base` (the model with the pipeline's fixed decompositions applied) for the
    /// searchable `layers`. Throws the device's error when the model does not lower.
    init(base: Graph, layers: [String: Layer], profile: DeviceProfile, int8: Bool) throws {
        self.base = base
        self.layers = layers
        self.profile = profile
        self.int8 = int8
        let budget = try Self.budget(of: base, profile: profile, int8: int8)
        baseParts = FlashParts(budget, device: profile, int8: int8)
        baseRAM = budget.ram
    }

    static func budget(of graph: Graph, profile: DeviceProfile, int8: Bool) throws -> DeviceBudget {
        let lowered: DeviceGraph
        do { lowered = try DeviceGraph.lower(graph) } catch { throw DeviceWork.pipelineError(error) }
        return DeviceBudget.compute(structureOf: lowered, int8: int8, device: profile)
    }

    /// The model with `configuration`'s decompositions applied, weights as placeholders.
    func graph(for configuration: Configuration) throws -> Graph {
        var decompositions: [LayerDecomposition] = []
        for (name, index) in configuration.choices.sorted(by: { $0.key < $1.key }) {
            guard let layer = layers[name], layer.options.indices.contains(index) else { continue }
            let d = layer.descriptor
            let rank = Rank(layer.options[index].rank)
            let shapes = layer.method.method.stageShapes(for: d, rank: rank)
            let stages = shapes.map { s in
                Stage(shape: s, weight: Tensor(repeating: 0.01, shape: s.weightShape), bias: s.hasBias ? d.bias : nil)
            }
            decompositions.append(LayerDecomposition(
                restoring: name, method: layer.method, rank: rank, stages: stages, approximation: d.weight,
                original: d.cost, cost: shapes.cost, relativeWeightError: 0, relativeOutputError: nil, notes: [], warnings: []))
        }
        var g = base
        do { try GraphRewriter.apply(decompositions, to: &g) } catch {
            throw PipelineError.internalError("pricing \(configuration) for the device: \(error.message)")
        }
        return g
    }

    /// The full budget of a configuration (everything lowered; the reference `flash` must equal).
    func budget(of configuration: Configuration) throws -> DeviceBudget {
        try Self.budget(of: try graph(for: configuration), profile: profile, int8: int8)
    }

    /// One layer at one option, against the original: its flash parts' difference (memoised).
    func delta(_ layer: String, option: Int) -> FlashParts? {
        if let d = memo.withLock({ $0.parts[layer]?[option] }) { return d }
        guard let b = try? budget(of: Configuration([layer: option])) else { return nil }
        let d = FlashParts(b, device: profile, int8: int8) - baseParts
        memo.withLock {
            $0.parts[layer, default: [:]][option] = d
            $0.layerRAM[layer, default: [:]][option] = b.ram
        }
        return d
    }

    /// Exact flash of a configuration in bytes (`Int.max` if a layer could not be priced).
    func flash(of configuration: Configuration) -> Int {
        var parts = baseParts
        for (layer, option) in configuration.choices {
            guard let d = delta(layer, option: option) else { return Int.max }
            parts = parts + d
        }
        return parts.flash(device: profile, int8: int8)
    }

    /// Exact RAM of a configuration in bytes (memoised; `Int.max` if it could not be computed).
    func ram(of configuration: Configuration) -> Int {
        if configuration.choices.isEmpty { return baseRAM }
        if let r = memo.withLock({ $0.ram[configuration] }) { return r }
        let r = (try? budget(of: configuration).ram) ?? Int.max
        memo.withLock { $0.ram[configuration] = r }
        return r
    }

    /// A layer's share of flash at an option: the original's constants of the layer, or the
    /// option's difference added to them (never below zero).
    func flashShare(_ layer: String, option: Int?) -> Int {
        guard let option else { return originalConstants(layer) }
        guard let d = delta(layer, option: option) else { return DeviceCosts.unpriced }
        return max(0, originalConstants(layer) + d.constantBytes)
    }

    /// A layer's share of RAM at an option: how much the arena grows over the original with
    /// only this layer changed (the arena is a maximum, not a sum).
    func ramShare(_ layer: String, option: Int?) -> Int {
        guard let option else { return 0 }
        if delta(layer, option: option) == nil { return DeviceCosts.unpriced }
        return memo.withLock { $0.layerRAM[layer]?[option] ?? baseRAM } - baseRAM
    }

    /// The constants of a layer of the original model: its weights and bias as the library
    /// stores them (per-channel requantisation included for an int8 convolution).
    func originalConstants(_ layer: String) -> Int {
        guard let l = layers[layer] else { return 0 }
        let scalar = int8 ? 1 : 4
        let weights = l.descriptor.weight.count * scalar
        let bias = (l.descriptor.bias?.count ?? 0) * 4
        let isConv = l.descriptor.weight.shape.count > 2
        return weights + bias + (int8 && isConv ? 8 * l.descriptor.weight.shape[0] : 0)
    }

    /// The search's view of one resource.
    func measure(_ resource: DeviceResource) -> any ResourceMeasure {
        DeviceMeasure(costs: self, resource: resource)
    }
}

/// Flash or RAM of a configuration, as the search reads it.
struct DeviceMeasure: ResourceMeasure {
    let costs: DeviceCosts
    let kind: DeviceResource

    init(costs: DeviceCosts, resource: DeviceResource) {
        self.costs = costs
        self.kind = resource
    }

    var resource: String { kind.rawValue }

    func value(of configuration: Configuration) -> Int {
        kind == .flash ? costs.flash(of: configuration) : costs.ram(of: configuration)
    }

    func share(of layer: String, option: Int?) -> Int {
        kind == .flash ? costs.flashShare(layer, option: option) : costs.ramShare(layer, option: option)
    }
}
