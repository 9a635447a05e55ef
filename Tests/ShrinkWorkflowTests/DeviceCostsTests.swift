import Foundation
import ShrinkCompress
import ShrinkDevice
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkWorkflow

/// The search's flash and RAM of a candidate: exact against the whole candidate lowered and
/// budgeted, and against the really decomposed and quantised model.
@Suite struct DeviceCostsTests {
    // CP on conv2 brings in the depthwise kernel, which LeNet does not otherwise use.
    static let methods: [String: ShrinkCompress.MethodName] = ["conv1": .tucker2, "conv2": .cp, "fc1": .svd]

    static func lenetCosts(int8: Bool) throws -> (Graph, DeviceCosts) {
        let graph = try Graph.load(contentsOf: DeviceScoringTests.example.appendingPathComponent("model.onnx").path)
        let refs = try GraphLayers.references(in: graph)
        var layers: [String: DeviceCosts.Layer] = [:]
        for (name, method) in methods {
            let d = try GraphLayers.descriptor(try GraphLayers.reference(named: name, in: refs), in: graph)
            layers[name] = DeviceCosts.Layer(descriptor: d, method: method,
                                             options: try RankLadder.options(method: method, layer: d, objective: .params))
        }
        return (graph, try DeviceCosts(base: graph, layers: layers, profile: .cortexM4, int8: int8))
    }

    /// A configuration's flash from per-layer differences equals the whole candidate's, lowered
    /// and budgeted, on 40 pseudo-random configurations (some layers kept), int8 and float32.
    @Test(arguments: [true, false]) func flashAddsUpExactly(int8: Bool) throws {
        let (_, costs) = try Self.lenetCosts(int8: int8)
        var seed: UInt64 = 0x5eed
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        for _ in 0..<40 {
            var c = Configuration.original
            for (name, layer) in costs.layers.sorted(by: { $0.key < $1.key }) {
                let pick = next(layer.options.count + 1)
                c = c.setting(name, to: pick == layer.options.count ? nil : pick)
            }
            let whole = try costs.budget(of: c)
            #expect(costs.flash(of: c) == whole.flash, "\(c)")
            #expect(costs.ram(of: c) == whole.ram, "\(c)")
        }
    }

    /// The figures equal those of the model really decomposed, calibrated and quantised (what
    /// the quantize stage builds and arm-none-eabi-size measures).
    @Test func figuresEqualTheQuantisedDecomposedModel() throws {
        let (graph, costs) = try Self.lenetCosts(int8: true)
        let c = Configuration(["conv1": 2, "conv2": 5, "fc1": 7])
        var choices: [LayerChoice] = []
        for (name, index) in c.choices {
            choices.append(LayerChoice(layer: name, method: Self.methods[name]!,
                                       rank: .exact(Rank(costs.layers[name]!.options[index].rank))))
        }
        let decomposed = try ModelDecomposer.decompose(graph, choices: choices).graph
        let val = try NPZ.read(DeviceScoringTests.example.appendingPathComponent("calib.npz"))
        let model = try DeviceCompiler.prepare(decomposed, calibration: val["x"]!.tensor(), options: DeviceOptions())
        let real = DeviceBudget.compute(model, device: .cortexM4)
        #expect(costs.flash(of: c) == real.flash)
        #expect(costs.ram(of: c) == real.ram)
    }

    /// Tucker-2 on conv1 (one input channel, 5×5, six outputs) at low ranks stores fewer
    /// parameters than the layer, but two more kernel calls with their parameter structs and
    /// per-channel requantisation: more flash. A flash budget of the original's flash excludes
    /// those options; a parameter count would have taken them.
    @Test func budgetExcludesAnOptionCheaperInParamsButLargerInFlash() throws {
        let (_, costs) = try Self.lenetCosts(int8: true)
        let conv1 = costs.layers["conv1"]!
        let tricky = conv1.options.indices.filter { i in
            conv1.options[i].cost.params < conv1.descriptor.cost.params
                && costs.flash(of: Configuration(["conv1": i])) > costs.flash(of: .original)
        }
        let i = try #require(tricky.first, "no option of conv1 is cheaper in params and larger in flash")
        let c = Configuration(["conv1": i])
        let constraint = ResourceConstraint(measure: costs.measure(.flash), limit: costs.flash(of: .original))
        #expect(constraint.admits(.original) && !constraint.admits(c))
        #expect(try costs.budget(of: c).flash == costs.flash(of: c))
        // CP on conv2 (rank ≥ 2: rank 1 is a plain convolution) adds the depthwise kernel's code.
        let r2 = try #require(costs.layers["conv2"]!.options.firstIndex { $0.rank[0] >= 2 })
        let cp = Configuration(["conv2": r2])
        let budget = try costs.budget(of: cp)
        #expect(budget.kernelCode["depthwise_conv"] == DeviceProfile.cortexM4.int8Kernels[.depthwiseConv])
        #expect(budget.layers.filter { $0.kernel == .depthwiseConv }.count == 1)
        #expect(costs.flash(of: cp) == budget.flash)
    }
}
