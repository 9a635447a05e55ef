import Foundation
import ShrinkCompress
import ShrinkTensor
import Testing

/// Oracle values written by Tests/Fixtures/decompose/make_decompose_fixtures.py.
struct Oracles: Decodable {
    struct SVDRow: Decodable {
        var weight_only_weight_error: Double
        var weight_only_output_error: Double
        var whitened_output_error: Double
        var whitened_weight_error: Double
    }
    struct TensorlyRow: Decodable {
        var ranks: [Int]
        var n_iter: Int
        var rel_error: Double
    }
    var spatial_svd: [String: [String: Double]]
    var tensorly: [String: TensorlyRow]
    var lenet_svd: [String: [String: SVDRow]]

    static func load() throws -> Oracles {
        let data = try Data(contentsOf: Paths.decompose.appendingPathComponent("oracles.json"))
        return try JSONDecoder().decode(Oracles.self, from: data)
    }
}

/// The linalg fixture kernel as a conv layer on a 12×12 input.
func fixtureConv() throws -> LayerDescriptor {
    let k = try npy(Paths.linalg.appendingPathComponent("conv_50x20x5x5.npy"))
    return .convolution(name: "k", weight: k, bias: Tensor(zeros: [50]), geometry: ConvGeometry(kernel: [5, 5]),
                        inputSpatial: [12, 12])
}

@Suite("Factorisations against numpy and tensorly")
struct FactorizationTests {
    @Test("svd: relative errors equal numpy's truncated SVD")
    func svdErrors() throws {
        let w = try npy(Paths.linalg.appendingPathComponent("dense_500x800.npy"))
        let ref = try npz(Paths.linalg.appendingPathComponent("svd_reference.npz"))
        let layer = LayerDescriptor.dense(name: "dense", weight: w, bias: nil)
        let ranks = try #require(ref["ranks"]?.integersIfIntegral())
        let errors = try #require(ref["rel_errors"]?.doubles())
        for (r, e) in zip(ranks, errors) {
            let d = try Decomposer.decompose(layer, method: .svd, rank: Rank(Int(r)))
            #expect(abs(d.relativeWeightError - e) <= 2e-4 * e + 2e-6, "rank \(r): \(d.relativeWeightError) vs \(e)")
        }
    }

    @Test("spatial-svd: relative errors equal numpy's SVD of the (S·kh)×(T·kw) unfolding")
    func spatialErrors() throws {
        let oracles = try Oracles.load()
        let lenet = try lenet()
        for (name, layer) in [("conv_50x20x5x5", try fixtureConv()), ("lenet_conv2", try lenet.layer("conv2"))] {
            for (r, e) in try #require(oracles.spatial_svd[name]) {
                let d = try Decomposer.decompose(layer, method: .spatialSVD, rank: Rank(Int(r) ?? 0))
                #expect(abs(d.relativeWeightError - e) <= 2e-4 * e + 2e-6, "\(name) rank \(r): \(d.relativeWeightError) vs \(e)")
            }
        }
    }

    @Test("cp and cp4: within 2% of tensorly's parafac error at equal rank, sweeps and start", arguments: [
        ("cp_50x20x25_r8.npz", MethodName.cp), ("cp_50x20x25_r16.npz", .cp), ("cp_50x20x25_r32.npz", .cp),
        ("cp_50x20x5x5_r4.npz", .cp4), ("cp_50x20x5x5_r16.npz", .cp4), ("cp_50x20x5x5_r32.npz", .cp4),
    ])
    func cpErrors(_ file: String, _ method: MethodName) throws {
        let ref = try #require(try Oracles.load().tensorly[file])
        let (rank, expected) = (ref.ranks[0], ref.rel_error)
        let inits = try npz(Paths.decompose.appendingPathComponent("tensorly_cp_inits.npz"))
        let stem = String(file.dropLast(4))
        var options = FitOptions(iterations: ref.n_iter, tolerance: 0)
        let factors = (0..<4).compactMap { inits["\(stem)_init_\($0)"]?.tensor() }
        options.cpInitialization = .factors(factors, weights: nil)
        let d = try Decomposer.decompose(try fixtureConv(), method: method, rank: Rank(rank), options: options)
        #expect(abs(d.relativeWeightError / expected - 1) <= 0.02, "\(method) r\(rank): \(d.relativeWeightError) vs tensorly \(expected)")
    }

    @Test("tucker2: within 2% of tensorly's partial_tucker error", arguments: ["tucker2_r16x8.npz", "tucker2_r32x12.npz"])
    func tuckerErrors(_ file: String) throws {
        let ref = try #require(try Oracles.load().tensorly[file])
        let (ranks, expected) = (ref.ranks, ref.rel_error)
        let d = try Decomposer.decompose(try fixtureConv(), method: .tucker2, rank: Rank(ranks),
                                         options: FitOptions(iterations: ref.n_iter, tolerance: 0))
        #expect(abs(d.relativeWeightError / expected - 1) <= 0.02, "\(ranks): \(d.relativeWeightError) vs tensorly \(expected)")
    }

    @Test("at full rank svd, tucker2 and spatial-svd reproduce the LeNet kernels", arguments: [
        ("fc1", MethodName.svd), ("fc2", .svd), ("conv1", .tucker2), ("conv2", .tucker2), ("conv2", .spatialSVD),
        ("conv1", .spatialSVD),
    ])
    func fullRankWeights(_ name: String, _ method: MethodName) throws {
        let layer = try lenet().layer(name)
        let d = try Decomposer.decompose(layer, method: method, rank: method.method.fullRank(of: layer))
        #expect(d.relativeWeightError < 1e-5)
    }

    @Test("cp and cp4 recover synthetic kernels of known CP rank", arguments: [
        ("cp_synthetic_3way_r6.npy", MethodName.cp, 6), ("cp_synthetic_4way_r5.npy", .cp4, 5),
    ])
    func syntheticCP(_ file: String, _ method: MethodName, _ rank: Int) throws {
        let k = try npy(Paths.linalg.appendingPathComponent(file)).reshaped([16, 12, 3, 3])
        let layer = LayerDescriptor.convolution(name: "syn", weight: k, bias: nil, geometry: ConvGeometry(kernel: [3, 3]),
                                                inputSpatial: [8, 8])
        let d = try Decomposer.decompose(layer, method: method, rank: Rank(rank), options: FitOptions(iterations: 2000, tolerance: 0))
        #expect(d.relativeWeightError < 1e-4, "\(d.relativeWeightError)")
    }

    @Test("stage weights compose to the reported approximation", arguments: [
        (MethodName.cp, Rank(8)), (.cp4, Rank(8)), (.tucker2, .tucker(out: 12, in: 6)), (.spatialSVD, Rank(10)),
    ])
    func stagesCompose(_ method: MethodName, _ rank: Rank) throws {
        let layer = try lenet().layer("conv2")
        let d = try Decomposer.decompose(layer, method: method, rank: rank)
        let composed = try StageAlgebra.kernel(of: d.stages, inputChannels: layer.inputs, kernel: [5, 5])
        #expect(relativeDifference(composed, d.approximation) < 1e-5)
    }
}

@Suite("Data-aware fitting")
struct DataAwareTests {
    @Test("whitened svd matches numpy's output errors on LeNet's calibration data", arguments: ["fc1", "fc2"])
    func whitenedSVD(_ name: String) throws {
        let oracles = try Oracles.load()
        let lenet = try lenet()
        let layer = try lenet.layer(name)
        let stats = try lenet.statistics(name)
        for (r, row) in try #require(oracles.lenet_svd[name]) {
            let rank = Rank(Int(r) ?? 0)
            let plain = try Decomposer.decompose(layer, method: .svd, rank: rank, measure: stats)
            let fitted = try Decomposer.decompose(layer, method: .svd, rank: rank, options: FitOptions(target: .activations(stats)))
            #expect(abs(plain.relativeWeightError - row.weight_only_weight_error) <= 1e-4)
            #expect(abs(try #require(plain.relativeOutputError) - row.weight_only_output_error) <= 1e-3 * row.weight_only_output_error + 1e-5)
            #expect(abs(try #require(fitted.relativeOutputError) - row.whitened_output_error) <= 1e-2 * row.whitened_output_error + 1e-4,
                    "\(name) r\(r): \(fitted.relativeOutputError ?? -1) vs numpy \(row.whitened_output_error)")
        }
    }

    @Test("data-aware fits never lose to weight-only fits on the calibration outputs", arguments: [
        ("conv2", MethodName.cp, Rank(8)), ("conv2", .cp4, Rank(8)), ("conv2", .tucker2, .tucker(out: 8, in: 4)),
        ("conv2", .spatialSVD, Rank(4)), ("conv1", .tucker2, .tucker(out: 3, in: 1)), ("conv1", .spatialSVD, Rank(2)), ("fc1", .svd, Rank(16)),
    ])
    func dataHelps(_ name: String, _ method: MethodName, _ rank: Rank) throws {
        let lenet = try lenet()
        let layer = try lenet.layer(name)
        let stats = try lenet.statistics(name)
        let plain = try Decomposer.decompose(layer, method: method, rank: rank, measure: stats)
        let fitted = try Decomposer.decompose(layer, method: method, rank: rank, options: FitOptions(target: .activations(stats)))
        let (p, f) = (try #require(plain.relativeOutputError), try #require(fitted.relativeOutputError))
        #expect(f <= p * 1.0001, "\(name) \(method) \(rank): data-aware \(f) vs weight-only \(p)")
        let composed = try StageAlgebra.kernel(of: fitted.stages, inputChannels: layer.inputs,
                                               kernel: layer.conv?.kernel ?? [])
        #expect(relativeDifference(composed, fitted.approximation.reshaped(composed.shape)) < 1e-5)
    }

    @Test("statistics from patches equal XᵀX of an explicit im2col")
    func patchStatistics() throws {
        // A 2×3×4 input through a 2×2 kernel with stride 1, pads (1,0,0,1): count every patch.
        let x = Tensor(shape: [1, 2, 3, 4], scalars: (0..<24).map { Float($0 % 7) - 2 })
        let layer = LayerDescriptor.convolution(name: "c", weight: Tensor(zeros: [3, 2, 2, 2]), bias: nil,
                                                geometry: ConvGeometry(kernel: [2, 2], pads: [1, 0, 0, 1]), inputSpatial: [3, 4])
        var stats = ActivationStatistics(dimension: 8)
        try stats.add(layerInput: x, of: layer)
        #expect(layer.outputSpatial == [3, 4] && stats.count == 12)
        var rows: [[Float]] = []
        for oy in 0..<3 {
            for ox in 0..<4 {
                var row: [Float] = []
                for c in 0..<2 {
                    for i in 0..<2 {
                        for j in 0..<2 {
                            let (y, xx) = (oy + i - 1, ox + j)
                            row.append(y >= 0 && y < 3 && xx < 4 ? x[0, c, y, xx] : 0)
                        }
                    }
                }
                rows.append(row)
            }
        }
        let p = Tensor(rows: rows)
        #expect(relativeDifference(stats.gram, try p.matmul(p, transposeSelf: true)) < 1e-6)
    }
}

/// Composes stage weights back into a kernel by plain loops (no graph, no runtime, no BLAS):
/// an independent check that the stages compute the approximation the method reports.
enum StageAlgebra {
    /// The T × S × k… kernel computed by a chain of stride-1, dilation-1 stages.
    ///
    /// `map[(c, dy, dx)]` expresses "channel c of the current stage at offset (dy, dx) from the
    /// output position" as weights over the input patch (s, i, j); each stage combines offsets
    /// (dy + i, dx + j) of the previous map, and after the last stage offset (0, 0) is the kernel.
    static func kernel(of stages: [Stage], inputChannels s: Int, kernel: [Int]) throws -> Tensor {
        let kh = kernel.first ?? 1, kw = kernel.count > 1 ? kernel[1] : 1
        let p = s * kh * kw
        var map: [[Float]] = (0..<p).map { idx in
            var row = [Float](repeating: 0, count: p)
            row[idx] = 1
            return row
        }
        var (validH, validW) = (kh, kw)
        for stage in stages {
            var w = stage.weight
            var group = 1
            switch stage.shape.kind {
            case .gemm: w = w.reshaped([w.shape[0], w.shape[1], 1, 1])
            case .matMul: w = w.transposed().reshaped([w.shape[1], w.shape[0], 1, 1])
            case .conv(let g):
                group = g.group
                if w.rank == 3 { w = w.reshaped([w.shape[0], w.shape[1], 1, w.shape[2]]) }
            }
            let (out, inPerGroup, sh, sw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
            let outPerGroup = out / group
            let (nh, nw) = (validH - sh + 1, validW - sw + 1)
            var next = [[Float]](repeating: [Float](repeating: 0, count: p), count: out * kh * kw)
            for o in 0..<out {
                for ci in 0..<inPerGroup {
                    let c = (o / outPerGroup) * inPerGroup + ci
                    for i in 0..<sh {
                        for j in 0..<sw {
                            let wv = w[o, ci, i, j]
                            for dy in 0..<nh {
                                for dx in 0..<nw {
                                    let src = map[(c * kh + dy + i) * kw + dx + j]
                                    let dst = (o * kh + dy) * kw + dx
                                    for q in 0..<p { next[dst][q] += wv * src[q] }
                                }
                            }
                        }
                    }
                }
            }
            map = next
            (validH, validW) = (nh, nw)
        }
        let t = stages.last?.shape.outChannels ?? 0
        return Tensor(rows: (0..<t).map { map[$0 * kh * kw] }).reshaped([t, s] + (kernel.isEmpty ? [] : kernel))
    }
}
