import Foundation
import Synchronization
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// Executor behaviour: partial runs, intermediate values, batch splitting, typed errors.
@Suite struct SessionTests {
    static let lenet = repoPath("Examples/lenet-mnist/model.onnx")

    func valInputs(_ n: Int) throws -> Tensor {
        let d = try Dataset.load(npz: repoPath("Examples/lenet-mnist/val.npz"))
        return d.prefix(n).inputs
    }

    @Test func splitBatchesEqualWholeBatchAndBatchOne() throws {
        let graph = try Graph.load(contentsOf: Self.lenet)
        let x = try valInputs(37)   // odd, so chunks differ in size
        let split = try Session(graph: graph, options: SessionOptions(threads: 2)).run(inputs: ["input": x])["logits"]!
        let whole = try Session(graph: graph, options: SessionOptions(threads: 1)).run(inputs: ["input": x])["logits"]!
        // Not bit-identical: OpenBLAS's sgemm rounds a row or column differently depending on the
        // matrix sizes (edge kernels), and chunks have fewer rows/images than the whole batch.
        // Same predictions, and |split − whole| ≤ 1e-5 · max(1, |whole|) (measured: 9e-7).
        #expect(worstRelativeError(split.scalars, whole.scalars) <= 1e-5)
        #expect(argmaxRows(split) == argmaxRows(whole))
        let single = try Session(graph: graph, options: SessionOptions(threads: 1))
        let ds = try Dataset(inputs: x)
        for b in ds.batches(size: 1) {
            let one = try single.run(inputs: ["input": b.inputs])["logits"]!
            let row = Array(whole.scalars[(b.range.lowerBound * 10)..<(b.range.upperBound * 10)])
            // Batch 1 runs different GEMM shapes (GEMV for the Linear layers), so rounding may
            // differ in the last bits: |a − b| ≤ 1e-5 · max(1, |b|), and the same prediction.
            #expect(worstRelativeError(one.scalars, row) <= 1e-5)
            #expect(argmaxRows(one) == argmaxRows(Tensor(shape: [1, 10], scalars: row)))
        }
    }

    /// OpenBLAS's thread count is process-wide: a session that set it for the length of a call
    /// made other threads' BLAS calls (a CP decomposition in another test) round differently while
    /// it ran. Sampled from another thread while sessions run small and chunked batches with 2
    /// workers, it never moves from what the process set.
    @Test func sessionsNeverChangeTheBLASThreadCount() throws {
        let graph = try Graph.load(contentsOf: Self.lenet)
        let process = BLAS.threads
        let seen = Mutex<Set<Int>>([])
        let done = Mutex(false)
        let watcher = Thread {
            while !done.withLock({ $0 }) { let n = BLAS.threads; seen.withLock { _ = $0.insert(n) } }
        }
        watcher.start()
        let session = try Session(graph: graph, options: SessionOptions(threads: 2))
        for n in [1, 8, 100, 1, 100] { _ = try session.run(inputs: ["input": try valInputs(n)]) }
        done.withLock { $0 = true }
        while !watcher.isFinished { usleep(1000) }
        #expect(seen.withLock { $0 }.subtracting([process]).isEmpty, "seen \(seen.withLock { $0 }) while the process set \(process)")
        #expect(BLAS.threads == process)
    }

    func argmaxRows(_ t: Tensor) -> [Int] {
        let c = t.shape[1]
        return (0..<t.shape[0]).map { r in (0..<c).max { t.scalars[r * c + $0] < t.scalars[r * c + $1] }! }
    }

    @Test func splittingIsProvedForTheExampleModels() throws {
        for file in ["lenet-mnist/model.onnx", "lenet-mnist/model_dynamo.onnx", "dscnn-mnist/model.onnx", "vgg-bench/model.onnx"] {
            let s = try Session(graph: try Graph.load(contentsOf: repoPath("Examples/\(file)")))
            #expect(s.fused.steps.allSatisfy { s.fused.batchSeparable[$0.outputs[0]] }, "\(file)")
        }
    }

    @Test func intermediateValuesAndRunningFromThem() throws {
        let session = try Session(graph: try Graph.load(contentsOf: Self.lenet))
        let x = try valInputs(8)
        let full = try session.run(inputs: ["input": x])["logits"]!
        // '/conv1/Conv_output_0' is fused away (Conv+ReLU+MaxPool); asking for it still works.
        let mid = try session.run(from: ["input": x], outputs: ["/conv1/Conv_output_0", "/MaxPool_1_output_0"])
        #expect(mid["/conv1/Conv_output_0"]?.shape == [8, 20, 24, 24])
        let pooled = try #require(mid["/MaxPool_1_output_0"])
        #expect(pooled.shape == [8, 50, 4, 4])
        let rest = try session.run(from: ["/MaxPool_1_output_0": pooled])
        #expect(worstRelativeError(rest["logits"]!.scalars, full.scalars) <= 1e-6)
        // Feeding a fused-away value takes the unfused plan.
        let fromConv = try session.run(from: ["/conv1/Conv_output_0": mid["/conv1/Conv_output_0"]!])
        #expect(worstRelativeError(fromConv["logits"]!.scalars, full.scalars) <= 1e-6)
    }

    @Test func missingAndUnknownValuesAreTypedErrors() throws {
        let session = try Session(graph: try Graph.load(contentsOf: Self.lenet))
        #expect(throws: RuntimeError.missingInput(name: "input")) { try session.run(inputs: [:]) }
        #expect(throws: RuntimeError.unknownValue(name: "nope", role: "requested output")) {
            try session.run(from: ["input": Tensor(zeros: [1, 1, 28, 28])], outputs: ["nope"])
        }
        #expect(throws: RuntimeError.inputShapeMismatch(name: "input", expected: "[batch, 1, 28, 28]", got: [1, 3, 28, 28])) {
            try session.run(inputs: ["input": Tensor(zeros: [1, 3, 28, 28])])
        }
    }

    @Test func unsupportedOperatorIsATypedErrorAtPreparation() throws {
        let graph = try Graph.load(contentsOf: repoPath("Tests/Fixtures/onnx-bad/unsupported_op.onnx"))
        do {
            _ = try Session(graph: graph)
            Issue.record("prepared a graph with an unsupported operator")
        } catch {
            guard case let .unsupportedOperator(op, node, _, supported) = error else {
                Issue.record("wrong error \(error)"); return
            }
            #expect(op == "Einsum")
            #expect(node.contains(op))
            #expect(supported == Session.supportedOperators)
            #expect(error.description.contains("unsupported operator \(op)"))
        }
    }

    /// Several unsupported operators are named in one error, each with its node.
    @Test func everyUnsupportedOperatorIsNamedAtOnce() throws {
        let graph = try Graph.load(contentsOf: repoPath("Tests/Fixtures/onnx-bad/unsupported_before_layer.onnx"))
        do {
            _ = try Session(graph: graph)
            Issue.record("prepared a graph with unsupported operators")
        } catch {
            guard case let .unsupportedOperators(uses, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(uses.map(\.op) == ["LpNormalization", "Sign"])
            #expect(uses.map(\.node) == ["norm", "sign"])
            #expect(error.description.contains("LpNormalization at norm; Sign at sign"))
        }
    }

    @Test func unsupportedOperatorInsideAConstantSubgraphStillFails() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(2)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.setInitializer("c", .float(Tensor(shape: [2], scalars: [1, 2])))
        g.nodes = [Node(name: "hardmax", opType: "Hardmax", inputs: ["c"], outputs: ["e"]),
                   Node(name: "add", opType: "Add", inputs: ["x", "e"], outputs: ["y"])]
        #expect(throws: RuntimeError.self) { try Session(graph: g) }
    }

    @Test func runtimeTensorsWhereOnnxAllowsThem() throws {
        // Reshape's shape and Conv's weight fed at run time rather than as initializers.
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(2), .value(4), .value(4)]),
                    ValueInfo(name: "w", shape: [.value(3), .value(2), .value(3), .value(3)]),
                    ValueInfo(name: "s", elementType: .int64, shape: [.value(2)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["c"]),
                   Node(name: "flat", opType: "Reshape", inputs: ["c", "s"], outputs: ["y"])]
        let session = try Session(graph: g)
        let x = pseudoRandom([2, 2, 4, 4], seed: 1), w = pseudoRandom([3, 2, 3, 3], seed: 2)
        let y = try session.run(inputs: ["x": x, "w": w, "s": Tensor(shape: [2], scalars: [0, -1])])["y"]!
        let ref = naiveConv2D(x, w, nil, stride: [1, 1], pads: [0, 0, 0, 0], dil: [1, 1], group: 1)
        #expect(y.shape == [2, 12])
        #expect(worstRelativeError(y.scalars, ref.scalars) <= 1e-5)
    }
}

@Suite struct DatasetAndMetricTests {
    @Test func shapeMismatchIsATypedErrorNamingFileAndInput() throws {
        let session = try Session(graph: try Graph.load(contentsOf: repoPath("Examples/vgg-bench/model.onnx")))
        let d = try Dataset.load(npz: repoPath("Examples/lenet-mnist/val.npz"))
        #expect(throws: DatasetError(file: "val.npz", message: "x has shape [1000, 1, 28, 28] but model input 'input' expects [batch, 3, 32, 32]")) {
            try d.check(fits: session, input: "input")
        }
    }

    /// `scale` multiplies float inputs too (it used to apply to uint8 only, silently ignored
    /// otherwise); float64 inputs (NumPy's default) and integer token ids are read as float32.
    @Test func scaleAppliesToEveryInputTypeAndFloat64AndIntegersLoad() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-runtime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let y = NumPyArray(integers: [Int64(1), 0], shape: [2], dtype: .int64)
        let f32 = NumPyArray(Tensor(shape: [2, 2], scalars: [255, 0, 51, 102]))
        let f64 = NumPyArray(doubles: [0.5, 1.5, 2.5, 3.5], shape: [2, 2])
        let ids = NumPyArray(integers: [Int64(3), 49, 7, 0], shape: [2, 2], dtype: .int64)
        let big = NumPyArray(integers: [Int64(1) << 30, 0], shape: [2, 1], dtype: .int64)
        for (name, x) in [("f32", f32), ("f64", f64), ("ids", ids), ("big", big)] {
            try NPZ.write(["x": x, "y": y], to: dir.appendingPathComponent("\(name).npz"))
        }
        let scaled = try Dataset.load(npz: dir.appendingPathComponent("f32.npz").path, scale: 1.0 / 255)
        #expect(zip(scaled.inputs.scalars, [1, 0, 0.2, 0.4]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(try Dataset.load(npz: dir.appendingPathComponent("f32.npz").path).inputs.scalars == [255, 0, 51, 102])
        #expect(try Dataset.load(npz: dir.appendingPathComponent("f64.npz").path).inputs.scalars == [0.5, 1.5, 2.5, 3.5])
        #expect(try Dataset.load(npz: dir.appendingPathComponent("ids.npz").path).inputs.scalars == [3, 49, 7, 0])
        #expect(throws: DatasetError.self) { try Dataset.load(npz: dir.appendingPathComponent("big.npz").path) }
    }

    /// A model returning (hidden, logits): top-k scores the [batch, classes] output, and refuses
    /// to score anything else (it used to report a meaningless accuracy).
    @Test func topKScoresTheClassScoresOutput() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(3), .value(4)])]
        g.outputs = [ValueInfo(name: "hidden", shape: [.symbol("N"), .value(3), .value(4)]),
                     ValueInfo(name: "logits", shape: [.symbol("N"), .value(4)])]
        g.setInitializer("axes", .int64(shape: [1], values: [1]))
        g.nodes = [Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["hidden"]),
                   Node(name: "mean", opType: "ReduceMean", inputs: ["x"], outputs: ["logits"],
                        attributes: [Attribute("axes", .ints([1])), Attribute("keepdims", .int(0))])]
        let session = try Session(graph: g)
        #expect(session.scoresOutput == "logits")
        let out = try session.run(inputs: ["x": pseudoRandom([2, 3, 4], seed: 4)])
        var acc = MetricAccumulator(.top1)
        #expect(throws: DatasetError.self) { try acc.add(outputs: out["hidden"]!, targets: .classes([0, 1])) }
        try acc.add(outputs: out["logits"]!, targets: .classes([0, 1]))
        #expect(acc.samples == 2)
    }

    @Test func uint8NeedsAScaleAndLabelsMustBeIntegers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-runtime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = NumPyArray(integers: [UInt8](repeating: 255, count: 8), shape: [2, 4], dtype: .uint8)
        let y = NumPyArray(integers: [Int32(1), 0], shape: [2], dtype: .int32)
        let file = dir.appendingPathComponent("d.npz")
        try NPZ.write(["x": x, "y": y], to: file)
        #expect(throws: DatasetError.self) { try Dataset.load(npz: file.path) }
        let d = try Dataset.load(npz: file.path, scale: 1.0 / 255)
        #expect(d.inputs.scalars.allSatisfy { abs($0 - 1) < 1e-6 })
        #expect(d.targets == .classes([1, 0]))
        try NPZ.write(["x": NumPyArray(Tensor(zeros: [2, 4])), "y": NumPyArray(doubles: [0, 1], shape: [2])], to: file)
        #expect(throws: DatasetError.self) { try Dataset.load(npz: file.path) }
        #expect(throws: DatasetError.self) { try Dataset.load(npz: file.path, targetKey: "labels") }
    }

    @Test func batchesCoverEverySampleOnce() throws {
        let d = try Dataset(inputs: Tensor(shape: [5, 2], scalars: (0..<10).map(Float.init)), targets: .classes([0, 1, 2, 3, 4]))
        let bs = Array(d.batches(size: 2))
        #expect(bs.map(\.range) == [0..<2, 2..<4, 4..<5])
        #expect(bs[2].inputs == Tensor(shape: [1, 2], scalars: [8, 9]))
        #expect(bs[1].targets == .classes([2, 3]))
    }

    @Test func topKAndMSE() throws {
        let logits = Tensor(rows: [[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [0.3, 0.3, 0.4]])
        #expect(Metrics.topKCorrect(logits: logits, labels: [1, 1, 0], k: 1) == 1)   // ties go to the lower index
        #expect(Metrics.topKCorrect(logits: logits, labels: [1, 1, 0], k: 2) == 3)
        var acc = MetricAccumulator(.top1)
        try acc.add(outputs: logits, targets: .classes([1, 0, 2]))
        #expect(acc.value == 1 && acc.samples == 3)
        #expect(throws: DatasetError.self) { try acc.add(outputs: logits, targets: .values(logits)) }
        var mse = MetricAccumulator(.mse)
        try mse.add(outputs: Tensor(rows: [[1, 2]]), targets: .values(Tensor(rows: [[0, 0]])))
        #expect(mse.value == 2.5)
    }
}

/// Models exported with a fixed batch size (`torch.onnx.export` without `dynamic_axes`).
@Suite struct FixedBatchTests {
    /// x [1, 2, 3] → Reshape to the constant [1, 6] (the batch baked in, as torch writes it)
    /// → MatMul [6, 4]. Run on a whole batch at once, the Reshape would fail; the session runs
    /// pieces of one sample and joins the outputs.
    func graph(batch: Int) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.value(batch), .value(2), .value(3)])]
        g.outputs = [ValueInfo(name: "y", shape: [.value(batch), .value(4)])]
        g.setInitializer("s", .int64(shape: [2], values: [Int64(batch), 6]))
        g.setInitializer("w", .float(pseudoRandom([6, 4], seed: 3)))
        g.nodes = [Node(name: "flat", opType: "Reshape", inputs: ["x", "s"], outputs: ["f"]),
                   Node(name: "mm", opType: "MatMul", inputs: ["f", "w"], outputs: ["y"])]
        return g
    }

    @Test(arguments: [1, 2], [1, 2])
    func anyNumberOfSamplesRunsInPiecesOfTheFixedBatch(batch: Int, threads: Int) throws {
        let session = try Session(graph: graph(batch: batch), options: SessionOptions(threads: threads))
        #expect(session.fixedBatch == batch)
        let x = pseudoRandom([5, 2, 3], seed: 9)   // 5 samples: the last piece is padded when batch = 2
        let y = try session.run(inputs: ["x": x])["y"]!
        #expect(y.shape == [5, 4])
        let w = pseudoRandom([6, 4], seed: 3)
        let ref = try Kernels.matmul(Tensor(shape: [5, 6], scalars: x.scalars), w)
        #expect(worstRelativeError(y.scalars, ref.scalars) <= 1e-6)
        // The data check accepts any sample count, but still the per-sample shape.
        try Dataset(inputs: x).check(fits: session, input: "x")
        #expect(throws: DatasetError.self) { try Dataset(inputs: pseudoRandom([5, 3, 2], seed: 1)).check(fits: session, input: "x") }
    }

    /// Values without a batch axis (the Reshape target here) asked for next to the outputs, as an
    /// evaluation asks for the values crossing a cut: the same in every piece, returned once.
    @Test(arguments: [1, 2])
    func batchFreeValuesOfAPieceRunComeBackAsTheyAre(batch: Int) throws {
        let session = try Session(graph: graph(batch: batch))
        let out = try session.run(from: ["x": pseudoRandom([5, 2, 3], seed: 9)], outputs: ["y", "s", "f"])
        #expect(out["y"]?.shape == [5, 4])
        #expect(out["f"]?.shape == [5, 6])
        #expect(out["s"]?.shape == [2])
    }

    @Test func aSymbolicBatchIsNotFixed() throws {
        var g = graph(batch: 1)
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(2), .value(3)])]
        #expect(try Session(graph: g).fixedBatch == nil)
    }
}

/// Mul, Add, Sub and Div by scalar constants after a Conv or Gemm (paddle2onnx's learnable
/// affine blocks around each activation) run inside the layer's epilogue, not as passes of their own.
@Suite struct AffineFusionTests {
    /// A Conv (`rank` 4 or 3) whose output goes through `tail`: (op, constant first, constant).
    static func graph(rank: Int = 4, tail: [(op: String, constantFirst: Bool, shape: [Int], value: Float)]) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 14)])
        let spatial: [Dim] = rank == 4 ? [.value(7), .value(6)] : [.value(9)]
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(3)] + spatial)]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        let kernel = rank == 4 ? [5, 3, 3, 3] : [5, 3, 3]
        g.setInitializer("w", .float(pseudoRandom(kernel, seed: 4)))
        g.setInitializer("b", .float(pseudoRandom([5], seed: 5)))
        g.nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["t0"],
                        attributes: [Attribute("pads", .ints(Array(repeating: 1, count: 2 * (rank - 2))))])]
        for (k, step) in tail.enumerated() {
            let c = "c\(k)", out = k == tail.count - 1 ? "y" : "t\(k + 1)"
            g.setInitializer(c, .float(Tensor(shape: step.shape, scalars: [Float](repeating: step.value, count: step.shape.reduce(1, *)))))
            let inputs = step.op == "HardSwish" ? ["t\(k)"] : (step.constantFirst ? [c, "t\(k)"] : ["t\(k)", c])
            g.nodes.append(Node(name: "n\(k)", opType: step.op, inputs: inputs, outputs: [out]))
        }
        return g
    }

    static func compare(_ g: Graph, inputShape: [Int]) throws -> (fusedSteps: [Step], shape: [Int]) {
        let x = pseudoRandom(inputShape, seed: 6)
        let fused = try Session(graph: g)
        let plain = try Session(graph: g, options: SessionOptions(fuse: false))
        let a = try #require(try fused.run(inputs: ["x": x])["y"]), b = try #require(try plain.run(inputs: ["x": x])["y"])
        #expect(a.shape == b.shape)
        #expect(worstRelativeError(a.scalars, b.scalars) <= 1e-5)
        return (fused.fused.steps, a.shape)
    }

    /// The whole paddle2onnx block — scale, shift, activation, scale, shift, with the constant on
    /// either side and Sub/Div among them — becomes one Conv step equal to the unfused graph.
    @Test func scalarChainsBecomeOneConvStep() throws {
        let g = Self.graph(tail: [("Mul", true, [1], 0.7), ("Sub", false, [], 0.25), ("HardSwish", false, [], 0),
                                  ("Div", false, [1], 4), ("Sub", true, [1], 0.5), ("Add", false, [1, 1, 1, 1], -1.5)])
        let (steps, shape) = try Self.compare(g, inputShape: [2, 3, 7, 6])
        #expect(shape == [2, 5, 7, 6])
        #expect(steps.count == 1)
        guard case .conv(_, .some(.then(.then(.affine(let a1, let b1), .hardSwish), .affine(let a2, let b2))), nil, _) = try #require(steps.first).op
        else { Issue.record("not one conv with affine, hard-swish, affine: \(steps.map(\.op))"); return }
        #expect(abs(a1 - 0.7) < 1e-7 && abs(b1 + 0.25) < 1e-7)
        // x/4 → 0.5 − x → −1.5 + that: −x/4 − 1.
        #expect(abs(a2 + 0.25) < 1e-7 && abs(b2 + 1) < 1e-7)
    }

    /// What is not an affine map of the conv's output stays a step of its own: c / x, a
    /// per-channel constant, and a constant that would add an axis to a 1-D conv's output.
    @Test(arguments: [("Div", true, [1], Float(2)), ("Mul", false, [5, 1, 1], Float(2)), ("Add", false, [1, 1, 1, 1], Float(1))])
    func nonAffineTailsStayApart(_ op: String, _ constantFirst: Bool, _ shape: [Int], _ value: Float) throws {
        let rank = shape.count == 4 ? 3 : 4
        let g = Self.graph(rank: rank, tail: [(op, constantFirst, shape, value)])
        let (steps, out) = try Self.compare(g, inputShape: rank == 4 ? [2, 3, 7, 6] : [2, 3, 9])
        #expect(steps.count == 2, "\(steps.map(\.opType))")
        #expect(out == (rank == 4 ? [2, 5, 7, 6] : [1, 2, 5, 9]))
    }
}

/// Swish as exporters write it, x · Sigmoid(x) or x · Sigmoid(x · beta), fuses into the Conv
/// before it; when the sigmoid is read elsewhere too it stays as written.
@Suite struct SwishFusionTests {
    static func graph(beta: Float?, sigmoidFirst: Bool, sigmoidAlsoOutput: Bool) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 14)])
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(3), .value(8), .value(5)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)] + (sigmoidAlsoOutput ? [ValueInfo(name: "s", shape: nil)] : [])
        g.setInitializer("w", .float(pseudoRandom([4, 3, 3, 3], seed: 7)))
        g.nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["c"],
                        attributes: [Attribute("pads", .ints([1, 1, 1, 1]))])]
        var t = "c"
        if let beta {
            g.setInitializer("beta", .float(Tensor(shape: [1], scalars: [beta])))
            g.nodes.append(Node(name: "scale", opType: "Mul", inputs: ["c", "beta"], outputs: ["t"]))
            t = "t"
        }
        g.nodes.append(Node(name: "sigmoid", opType: "Sigmoid", inputs: [t], outputs: ["s"]))
        g.nodes.append(Node(name: "mul", opType: "Mul", inputs: sigmoidFirst ? ["s", "c"] : ["c", "s"], outputs: ["y"]))
        return g
    }

    @Test(arguments: [(Float?.none, false, false), (1, true, false), (2.5, false, false), (Float?.none, false, true)])
    func swishFusesIntoTheConv(_ beta: Float?, _ sigmoidFirst: Bool, _ sigmoidAlsoOutput: Bool) throws {
        let g = Self.graph(beta: beta, sigmoidFirst: sigmoidFirst, sigmoidAlsoOutput: sigmoidAlsoOutput)
        let x = pseudoRandom([2, 3, 8, 5], seed: 8)
        let fused = try Session(graph: g)
        let a = try #require(try fused.run(inputs: ["x": x])["y"])
        let b = try #require(try Session(graph: g, options: SessionOptions(fuse: false)).run(inputs: ["x": x])["y"])
        #expect(worstRelativeError(a.scalars, b.scalars) <= 1e-5)
        if sigmoidAlsoOutput {
            #expect(fused.fused.steps.contains { $0.opType == "Sigmoid" })
        } else {
            #expect(fused.fused.steps.count == 1, "\(fused.fused.steps.map(\.opType))")
            guard case .conv(_, .swish(let got)?, _, _) = try #require(fused.fused.steps.first).op else {
                Issue.record("no swish conv: \(fused.fused.steps.map(\.op))"); return
            }
            #expect(got == (beta ?? 1))
        }
    }
}

/// Convs that read one value with the same attributes (an STFT's real and imaginary filter banks)
/// run as one conv and a Split, with the unfused plan's outputs; convs that differ stay apart.
@Suite struct SiblingConvTests {
    /// Three convs on `x`: a and b alike (b without bias), c with other pads unless `alike`.
    static func graph(alike: Bool, rank: Int) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 14)])
        let spatial: [Dim] = rank == 4 ? [.value(9), .value(7)] : [.value(40)]
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(2)] + spatial)]
        g.outputs = ["ya", "yb", "yc"].map { ValueInfo(name: $0, shape: nil) }
        let k = rank == 4 ? [3, 3] : [8]
        let strides = rank == 4 ? [1, 1] : [3]
        g.setInitializer("wa", .float(pseudoRandom([5, 2] + k, seed: 51)))
        g.setInitializer("ba", .float(pseudoRandom([5], seed: 52)))
        g.setInitializer("wb", .float(pseudoRandom([3, 2] + k, seed: 53)))
        g.setInitializer("wc", .float(pseudoRandom([4, 2] + k, seed: 54)))
        let pads = [Int](repeating: 1, count: 2 * (rank - 2))
        func conv(_ name: String, _ inputs: [String], _ p: [Int]) -> Node {
            Node(name: name, opType: "Conv", inputs: inputs, outputs: ["c" + name],
                 attributes: [Attribute("pads", .ints(p)), Attribute("strides", .ints(strides))])
        }
        g.nodes = [conv("a", ["x", "wa", "ba"], pads), conv("b", ["x", "wb"], pads),
                   conv("c", ["x", "wc"], alike ? pads : pads.map { _ in 0 })]
        for n in ["a", "b", "c"] {
            g.nodes.append(Node(name: "relu" + n, opType: "Relu", inputs: ["c" + n], outputs: ["y" + n]))
        }
        return g
    }

    @Test(arguments: [(true, 4), (false, 4), (true, 3)])
    func siblingsRunAsOneConv(_ alike: Bool, _ rank: Int) throws {
        let g = Self.graph(alike: alike, rank: rank)
        let x = pseudoRandom(rank == 4 ? [3, 2, 9, 7] : [3, 2, 40], seed: 55)
        let fused = try Session(graph: g)
        let got = try fused.run(inputs: ["x": x]), want = try Session(graph: g, options: SessionOptions(fuse: false)).run(inputs: ["x": x])
        for name in ["ya", "yb", "yc"] {
            let a = try #require(got[name]), b = try #require(want[name])
            #expect(a.shape == b.shape)
            #expect(worstRelativeError(a.scalars, b.scalars) <= 1e-5, "\(name)")
        }
        let convs = fused.fused.steps.filter { $0.opType == "Conv" }.count
        #expect(convs == (alike ? 1 : 2), "\(fused.fused.steps.map(\.opType))")
        #expect(fused.fused.steps.contains { $0.opType == "Split" })
    }
}
