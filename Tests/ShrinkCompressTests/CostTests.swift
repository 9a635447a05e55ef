import ShrinkCompress
import ShrinkTensor
import Testing

/// A convolution layer with zero weights: costs depend on shapes only.
func convLayer(t: Int, s: Int, kernel: [Int], input: [Int], strides: [Int]? = nil, pads: [Int]? = nil,
               dilations: [Int]? = nil, group: Int = 1, bias: Bool = true, name: String = "conv") -> LayerDescriptor {
    let g = ConvGeometry(kernel: kernel, strides: strides, pads: pads, dilations: dilations, group: group)
    return .convolution(name: name, weight: Tensor(zeros: [t, s / group] + kernel), bias: bias ? Tensor(zeros: [t]) : nil,
                        geometry: g, inputSpatial: input)
}

/// A geometry case for the closed-form cost formulas.
struct ConvCase: Sendable, CustomTestStringConvertible {
    var t: Int, s: Int, kernel: [Int], input: [Int]
    var strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil
    var testDescription: String { "\(t)x\(s)x\(kernel) on \(input) s\(strides ?? [1]) p\(pads ?? [0]) d\(dilations ?? [1])" }
    var layer: LayerDescriptor { convLayer(t: t, s: s, kernel: kernel, input: input, strides: strides, pads: pads, dilations: dilations) }
}

let convCases: [ConvCase] = [
    ConvCase(t: 50, s: 20, kernel: [5, 5], input: [12, 12]),                                  // LeNet conv2
    ConvCase(t: 16, s: 6, kernel: [5, 5], input: [14, 14]),                                   // the seed's conv2
    ConvCase(t: 32, s: 16, kernel: [3, 3], input: [15, 17], strides: [2, 1], pads: [1, 0, 1, 2]),
    ConvCase(t: 24, s: 8, kernel: [3, 5], input: [20, 21], strides: [1, 3], pads: [2, 1, 0, 1], dilations: [2, 1]),
]

@Suite("Exact costs")
struct CostTests {
    @Test("the seed's CP4 figures: conv2 6→16 5×5 at rank 16 is 528 params and 63,616 MACs")
    func seedFigures() throws {
        let layer = convLayer(t: 16, s: 6, kernel: [5, 5], input: [14, 14])
        #expect(layer.cost == LayerCost(params: 2416, macs: 240_000))
        #expect(try CP4Method().cost(of: layer, rank: Rank(16)) == LayerCost(params: 528, macs: 63_616))
    }

    @Test("stage costs equal the documented closed forms", arguments: convCases)
    func closedForms(_ c: ConvCase) throws {
        let layer = c.layer
        let (t, s, kh, kw) = (c.t, c.s, c.kernel[0], c.kernel[1])
        let (h, w) = (c.input[0], c.input[1])
        let out = layer.outputSpatial
        let (ho, wo) = (out[0], out[1])
        let wv = CP4Method().stageShapes(for: layer, rank: Rank(1))[1].outputSpatial[1]   // width after the kh×1 stage
        #expect(wv == w)
        for r in [1, 3, 8] {
            #expect(try CPMethod().cost(of: layer, rank: Rank(r))
                    == LayerCost(params: r * s + r * kh * kw + t * r + t,
                                 macs: r * s * h * w + r * kh * kw * ho * wo + t * r * ho * wo))
            #expect(try CP4Method().cost(of: layer, rank: Rank(r))
                    == LayerCost(params: r * s + r * kh + r * kw + t * r + t,
                                 macs: r * s * h * w + r * kh * ho * w + r * kw * ho * wo + t * r * ho * wo))
            #expect(try SpatialSVDMethod().cost(of: layer, rank: Rank(r))
                    == LayerCost(params: r * s * kh + t * r * kw + t, macs: r * s * kh * ho * w + t * r * kw * ho * wo))
            let (ro, ri) = (min(r + 1, t), min(r, s))
            #expect(try Tucker2Method().cost(of: layer, rank: .tucker(out: ro, in: ri))
                    == LayerCost(params: ri * s + ro * ri * kh * kw + t * ro + t,
                                 macs: ri * s * h * w + ro * ri * kh * kw * ho * wo + t * ro * ho * wo))
        }
    }

    @Test("every method's last stage has the original output shape", arguments: convCases)
    func outputShapesUnchanged(_ c: ConvCase) throws {
        let layer = c.layer
        for method in [MethodName.cp, .cp4, .spatialSVD] {
            let stages = method.method.stageShapes(for: layer, rank: Rank(2))
            #expect(stages.last?.outputSpatial == layer.outputSpatial, "\(method)")
            #expect(stages.last?.outChannels == c.t)
            #expect(stages.filter(\.hasBias).count == 1 && stages.last?.hasBias == true)
        }
        let tucker = Tucker2Method().stageShapes(for: layer, rank: .tucker(out: 2, in: 2))
        #expect(tucker.last?.outputSpatial == layer.outputSpatial)
    }

    @Test("svd on dense and 1×1 layers: R(M+N) + bias against MN + bias")
    func svdCosts() throws {
        let fc = LayerDescriptor.dense(name: "fc1", weight: Tensor(zeros: [500, 800]), bias: Tensor(zeros: [500]))
        #expect(fc.cost == LayerCost(params: 400_500, macs: 400_000))
        #expect(try SVDMethod().cost(of: fc, rank: Rank(32)) == LayerCost(params: 32 * 1300 + 500, macs: 32 * 1300))
        let seq = LayerDescriptor.dense(name: "proj", op: .matMul, weight: Tensor(zeros: [64, 48]), bias: nil, rowsPerSample: 10)
        #expect(try SVDMethod().cost(of: seq, rank: Rank(8)) == LayerCost(params: 8 * 112, macs: 8 * 112 * 10))
        let pw = convLayer(t: 64, s: 32, kernel: [1, 1], input: [9, 9], strides: [2, 2], pads: [1, 1, 1, 1])
        #expect(pw.outputSpatial == [6, 6])
        #expect(try SVDMethod().cost(of: pw, rank: Rank(8)) == LayerCost(params: 8 * 96 + 64, macs: 8 * 96 * 36))
    }
}

@Suite("Rank arithmetic")
struct RankArithmeticTests {
    let fc1 = LayerDescriptor.dense(name: "fc1", weight: Tensor(zeros: [500, 800]), bias: Tensor(zeros: [500]))

    @Test("break-even: largest rank still strictly cheaper")
    func breakEven() throws {
        // R·1300 + 500 < 400500 ⇔ R ≤ 307; MACs R·1300 < 400000 ⇔ R ≤ 307.
        #expect(try RankArithmetic.breakEvenRank(SVDMethod(), layer: fc1, objective: .params) == Rank(307))
        #expect(try RankArithmetic.breakEvenRank(SVDMethod(), layer: fc1, objective: .macs) == Rank(307))
        // The seed's conv2 with cp4: R(6+5+5+16)+16 < 2416 ⇔ R ≤ 74.
        let conv = convLayer(t: 16, s: 6, kernel: [5, 5], input: [14, 14])
        #expect(try RankArithmetic.breakEvenRank(CP4Method(), layer: conv, objective: .params) == Rank(74))
        // MACs: R(6·196 + 5·140 + 5·100 + 16·100) = 3976R < 240000 ⇔ R ≤ 60.
        #expect(try RankArithmetic.breakEvenRank(CP4Method(), layer: conv, objective: .macs) == Rank(60))
        for m in [MethodName.cp, .cp4, .tucker2, .spatialSVD] {
            for o in CostObjective.allCases {
                let layer = convCases[0].layer
                guard let be = try RankArithmetic.breakEvenRank(m.method, layer: layer, objective: o) else {
                    Issue.record("\(m) has no break-even rank")
                    continue
                }
                #expect(try m.method.cost(of: layer, rank: be)[o] < layer.cost[o])
                let full = m.method.fullRank(of: layer)
                let next = Rank(zip(be.values, full.values).map { min($0 + 1, $1) })
                if next != be { #expect(try m.method.cost(of: layer, rank: next)[o] >= layer.cost[o], "\(m) \(o)") }
            }
        }
    }

    @Test("fractions, rounding to a multiple, and the break-even cap")
    func fractions() throws {
        var r = try RankArithmetic.resolve(.fraction(0.25), method: SVDMethod(), layer: fc1)
        #expect(r.rank == Rank(125) && r.warnings.isEmpty)
        r = try RankArithmetic.resolve(.fraction(0.25), method: SVDMethod(), layer: fc1, rounding: RankRounding(multiple: 16))
        #expect(r.rank == Rank(128))
        r = try RankArithmetic.resolve(.fraction(1), method: SVDMethod(), layer: fc1, rounding: RankRounding(multiple: 16))
        #expect(r.rank == Rank(304) && r.breakEven == Rank(307) && r.warnings.isEmpty)
        #expect(r.notes.contains { $0.contains("break-even") })
        r = try RankArithmetic.resolve(.fraction(0.01), method: SVDMethod(), layer: fc1, rounding: RankRounding(multiple: 8, maximum: 6))
        #expect(r.rank == Rank(6))
    }

    @Test("an explicit rank above break-even is honoured with a warning")
    func forcedGrowth() throws {
        let r = try RankArithmetic.resolve(.exact(Rank(400)), method: SVDMethod(), layer: fc1)
        #expect(r.rank == Rank(400))
        #expect(r.warnings.count == 2)
        #expect(r.warnings[0].contains("does not save params") && r.warnings[0].contains("break-even rank 307"))
        let clamped = try RankArithmetic.resolve(.exact(Rank(900)), method: SVDMethod(), layer: fc1)
        #expect(clamped.rank == Rank(500) && clamped.warnings.first?.contains("exceeds") == true)
    }

    @Test("energy ranks: squared singular values; tucker2 per channel mode; cp the largest mode rank")
    func energy() throws {
        let w = try npy(Paths.linalg.appendingPathComponent("dense_500x800.npy"))
        let fc = LayerDescriptor.dense(name: "dense", weight: w, bias: nil)
        let sv = try w.singularValues()
        for e in [0.5, 0.9, 0.99] {
            let r = try SVDMethod().energyRank(of: fc, energy: e).primary
            let total = sv.reduce(0.0) { $0 + Double($1 * $1) }
            let kept = sv.prefix(r).reduce(0.0) { $0 + Double($1 * $1) }
            let less = sv.prefix(r - 1).reduce(0.0) { $0 + Double($1 * $1) }
            #expect(kept >= e * total * (1 - 1e-9) && less < e * total)
        }
        let k = try npy(Paths.linalg.appendingPathComponent("conv_50x20x5x5.npy"))
        let conv = LayerDescriptor.convolution(name: "k", weight: k, bias: nil, geometry: ConvGeometry(kernel: [5, 5]),
                                               inputSpatial: [12, 12])
        let tr = try Tucker2Method().energyRank(of: conv, energy: 0.9)
        #expect(tr.values == [RankArithmetic.energyRank(try k.unfolded(mode: 0).singularValues(), energy: 0.9),
                              RankArithmetic.energyRank(try k.unfolded(mode: 1).singularValues(), energy: 0.9)])
        let cr = try CPMethod().energyRank(of: conv, energy: 0.9).primary
        let x3 = k.reshaped([50, 20, 25])
        #expect(cr == (0..<3).map { RankArithmetic.energyRank(try! x3.unfolded(mode: $0).singularValues(), energy: 0.9) }.max())
    }

    @Test("rank and choice parsing", arguments: [
        ("16", RankSpec.exact(Rank(16))), ("16,8", .exact(.tucker(out: 16, in: 8))), ("0.25", .fraction(0.25)),
        ("e0.95", .energy(0.95)), ("1.0", .fraction(1)),
    ])
    func parsing(_ text: String, _ expected: RankSpec) throws {
        #expect(try RankSpec(parsing: text) == expected)
    }

    @Test("bad ranks are typed errors", arguments: ["0", "-3", "1.5", "e0", "e1.2", "abc", "16,", "16,8,4", "0.0"])
    func badRanks(_ text: String) {
        #expect(throws: DecompositionError.self) { try RankSpec(parsing: text) }
    }

    @Test("layer choices: NAME=METHOD:RANK")
    func choices() throws {
        #expect(try LayerChoice(parsing: "conv2=cp:16") == LayerChoice(layer: "conv2", method: .cp, rank: .exact(Rank(16))))
        #expect(try LayerChoice(parsing: "conv2=tucker2:16,8").rank == .exact(.tucker(out: 16, in: 8)))
        #expect(try LayerChoice(parsing: "conv1=keep").method == .keep)
        #expect(try LayerChoice(parsing: "fc1=spatial-svd:e0.9").method == .spatialSVD)
        do {
            _ = try LayerChoice(parsing: "conv2=cpp:16")
            Issue.record("accepted an unknown method")
        } catch {
            #expect(error.description.contains("unknown method 'cpp'") && error.hint == "did you mean `cp`?")
        }
        #expect(throws: DecompositionError.self) { try LayerChoice(parsing: "conv2=cp") }
        #expect(throws: DecompositionError.self) { try LayerChoice(parsing: "conv2") }
    }

    @Test("wrong rank arity for the method")
    func arity() throws {
        let conv = convCases[0].layer
        #expect(throws: DecompositionError.self) { try Tucker2Method().cost(of: conv, rank: Rank(8)) }
        #expect(throws: DecompositionError.self) { try CPMethod().cost(of: conv, rank: .tucker(out: 8, in: 4)) }
        #expect(throws: DecompositionError.self) { try RankArithmetic.resolve(.exact(Rank(8)), method: Tucker2Method(), layer: conv) }
    }
}

@Suite("Applicability")
struct ApplicabilityTests {
    @Test("methods refuse layers they do not fit, with a reason")
    func refusals() throws {
        let conv = convLayer(t: 50, s: 20, kernel: [5, 5], input: [12, 12], name: "conv2")
        let fc = LayerDescriptor.dense(name: "fc1", weight: Tensor(zeros: [500, 800]), bias: nil)
        let grouped = convLayer(t: 32, s: 32, kernel: [3, 3], input: [8, 8], group: 32, name: "dw")
        let conv1d = convLayer(t: 16, s: 8, kernel: [5], input: [40], name: "c1d")
        let pointwise = convLayer(t: 16, s: 8, kernel: [1, 1], input: [4, 4], name: "pw")
        let cases: [(MethodName, LayerDescriptor, DecompositionError.Kind, String)] = [
            (.svd, conv, .notApplicable, "conv2: svd applies to Gemm, MatMul and 1×1 convolutions"),
            (.cp, fc, .notApplicable, "fc1: cp applies to convolutions"),
            (.tucker2, grouped, .unsupported, "dw: tucker2 needs a group-1 convolution, this depthwise one has group 32"),
            (.cp4, conv1d, .unsupported, "c1d: cp4 needs a 2-D convolution"),
            (.spatialSVD, conv1d, .unsupported, "c1d: spatial-svd needs a 2-D convolution"),
            (.cp, pointwise, .notApplicable, "pw: cp needs a spatial kernel"),
            (.cp, convLayer(t: 20, s: 1, kernel: [5, 5], input: [28, 28], name: "conv1"), .notApplicable,
             "conv1: cp needs more than one input channel to save anything"),
            (.cp4, convLayer(t: 20, s: 1, kernel: [5, 5], input: [28, 28], name: "conv1"), .notApplicable,
             "conv1: cp4 needs more than one input channel"),
            (.svd, LayerDescriptor.dense(name: "v", weight: Tensor(zeros: [1, 9]), bias: nil), .notApplicable,
             "v: svd needs more than one input and output"),
        ]
        for (method, layer, kind, prefix) in cases {
            do {
                try method.method.check(layer)
                Issue.record("\(method) accepted \(layer.name)")
            } catch {
                #expect(error.kind == kind)
                #expect(error.description.hasPrefix(prefix), "\(error.description)")
            }
        }
        try CPMethod().check(conv1d)
        try Tucker2Method().check(conv1d)
        try SVDMethod().check(pointwise)
    }

    @Test("a method that cannot save anything refuses fractions and energies")
    func cannotSave() throws {
        // 2×2 dense: rank 1 costs 4 = MN.
        let tiny = LayerDescriptor.dense(name: "tiny", weight: Tensor(zeros: [2, 2]), bias: nil)
        #expect(try RankArithmetic.breakEvenRank(SVDMethod(), layer: tiny, objective: .params) == nil)
        #expect(throws: DecompositionError.self) { try RankArithmetic.resolve(.fraction(0.5), method: SVDMethod(), layer: tiny) }
    }
}
