import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// Malformed data (Tests/Fixtures/npy/bad) and non-finite numbers: refused with the file, the
/// array and the first bad index, or counted as wrong — never scored as correct.
@Suite struct DataHardeningTests {
    static let bad = "Tests/Fixtures/npy/bad/"

    // MARK: non-finite outputs

    /// Before: NaN compares false with everything, so a NaN row ranked its label first and counted as correct.
    @Test(arguments: [Float.nan, .infinity, -.infinity], [1, 5])
    func nonFiniteRowsCountAsWrong(bad: Float, k: Int) {
        // Row 0 is fine (label 2 scores highest); rows 1 and 2 hold one non-finite score each.
        var scalars = [Float](repeating: 0, count: 30)
        scalars[2] = 1
        scalars[10 + 2] = 1
        scalars[10 + 7] = bad
        scalars[20 + 0] = bad
        let logits = Tensor(shape: [3, 10], scalars: scalars)
        #expect(Metrics.topKCorrect(logits: logits, labels: [2, 2, 0], k: k) == 1)
        #expect(Metrics.nonFiniteRows(logits) == 2)
        var acc = MetricAccumulator(k == 1 ? .top1 : .top5)
        #expect(throws: Never.self) { try acc.add(outputs: logits, targets: .classes([2, 2, 0])) }
        #expect(abs(acc.value - 1.0 / 3) < 1e-12)
        #expect(acc.nonFiniteSamples == 2)
        #expect(acc.nonFiniteWarning?.contains("2 of 3 samples") == true)
    }

    @Test func allNaNOutputsScoreZeroNotOne() {
        let logits = Tensor(shape: [4, 10], scalars: [Float](repeating: .nan, count: 40))
        #expect(Metrics.topKAccuracy(logits: logits, labels: [0, 1, 2, 3], k: 1) == 0)
        #expect(Metrics.topKAccuracy(logits: logits, labels: [0, 1, 2, 3], k: 5) == 0)
    }

    /// Before: mse with a NaN output was NaN, which compares false with any bound and passed.
    @Test(arguments: [Float.nan, .infinity])
    func mseWithNonFiniteOutputsIsInfinite(bad: Float) throws {
        var acc = MetricAccumulator(.mse)
        let reference = Tensor(shape: [2, 3], scalars: [0, 0, 0, 0, 0, 0])
        try acc.add(outputs: Tensor(shape: [2, 3], scalars: [0.5, 0, 0, 0, bad, 0]), targets: .values(reference))
        #expect(acc.value == .infinity)
        #expect(acc.nonFiniteSamples == 1)
        #expect(Metrics.meanSquaredError(Tensor(shape: [1], scalars: [bad]), Tensor(shape: [1], scalars: [0])) == .infinity)
    }

    /// A model with a NaN bias: before, LeNet scored top-1 and top-5 of 100 %.
    @Test(arguments: [Metric.top1, .top5])
    func nanBiasScoresZero(metric: Metric) throws {
        var graph = try Graph.load(contentsOf: repoPath("Examples/lenet-mnist/model.onnx"))
        var bias = try graph.floatInitializer("fc2.bias")
        bias.scalars[3] = .nan
        graph.setInitializer("fc2.bias", .float(bias))
        let session = try Session(graph: graph)
        let data = try Dataset.load(npz: repoPath(Self.bad + "lenet_ok.npz"))
        var acc = MetricAccumulator(metric)
        for b in data.batches(size: 4) {
            try acc.add(outputs: try #require(session.run(inputs: ["input": b.inputs])["logits"]), targets: b.targets)
        }
        #expect(acc.value == 0)
        #expect(acc.nonFiniteSamples == 8)
    }

    // MARK: non-finite inputs

    /// Before: NaN pixels were fed, every output was NaN, and the search "passed" at rank 1.
    @Test(arguments: [
        ("nan_pixel.npz", "x[3, 0, 14, 7] is NaN"),
        ("inf_pixel.npz", "x[5, 0, 2, 9] is -inf"),
        ("float64_overflow.npz", "x[1, 0, 0, 3] is +inf after conversion to float32"),
        ("nan_reference.npz", "y[6, 4] is NaN"),
    ])
    func nonFiniteInputsNameFileArrayAndIndex(file: String, fragment: String) {
        #expect {
            _ = try Dataset.load(npz: repoPath(Self.bad + file))
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("\(file): ") && text.contains(fragment)
        }
    }

    @Test func nonFiniteNpyInputsNameTheFile() {
        #expect {
            _ = try Dataset.load(inputs: repoPath(Self.bad + "nan_pixel_x.npy"), targets: nil)
        } throws: { error in
            "\(error)".hasPrefix("nan_pixel_x.npy: inputs[3, 0, 14, 7] is NaN")
        }
    }

    /// Before: `abs(Int64.min)` trapped while checking integer inputs.
    @Test(arguments: [Int64.min, Int64.max, -(1 << 24) - 1] as [Int64])
    func integerInputsBeyondFloatPrecisionAreErrors(value: Int64) {
        let x = NumPyArray(integers: [0, value], shape: [2], dtype: .int64)
        #expect(throws: DatasetError.self) { _ = try Dataset.inputs(x, source: "ids.npy", key: "x", scale: nil) }
    }

    /// Before: a float 1e30 (or inf) fed to an int64 model input passed the "integral" check and trapped in `Int64(_:)`.
    @Test(arguments: [1e30, .infinity, -.infinity] as [Float])
    func hugeFloatsForIntegerInputsAreErrors(value: Float) throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "ids", elementType: .int64, shape: [.value(2)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [Node(opType: "Identity", inputs: ["ids"], outputs: ["y"])]
        let session = try Session(graph: g)
        #expect(throws: RuntimeError.self) { _ = try session.run(inputs: ["ids": Tensor(shape: [2], scalars: [1, value])]) }
    }

    @Test func scaleMustBeFinite() {
        let x = NumPyArray(integers: [UInt8](repeating: 1, count: 4), shape: [4], dtype: .uint8)
        #expect(throws: DatasetError.self) { _ = try Dataset.inputs(x, source: "u8.npy", key: "x", scale: .infinity) }
    }

    // MARK: labels

    /// Before: labels outside the classes silently scored 0 %.
    @Test(arguments: [("label_12.npz", "y[5] is 12"), ("label_negative.npz", "y[2] is -1")])
    func labelsOutsideTheClassesNameFileArrayAndIndex(file: String, fragment: String) throws {
        let data = try Dataset.load(npz: repoPath(Self.bad + file))
        #expect {
            try data.checkLabels(classes: 10)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("\(file): ") && text.contains(fragment) && text.contains("10 classes")
        }
        // The accumulator refuses them too, naming the sample.
        var acc = MetricAccumulator(.top1)
        let logits = Tensor(zeros: [8, 10])
        #expect(throws: DatasetError.self) { try acc.add(outputs: logits, targets: data.targets) }
    }

    @Test func labelsFromASeparateFileNameThatFile() throws {
        let data = try Dataset.load(inputs: repoPath(Self.bad + "lenet_x.npy"), targets: repoPath(Self.bad + "label_12_y.npy"))
        #expect {
            try data.checkLabels(classes: 10)
        } throws: { error in
            "\(error)".hasPrefix("label_12_y.npy: targets[5] is 12")
        }
        try data.checkLabels(classes: 13)
    }

    // MARK: node arity

    /// A one-node graph `op(inputs) -> y` with float inputs `a`, `b`, `c` of shape [2, 3].
    static func graph(op: String, inputs: [String], opset: Int = 17) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: opset)])
        g.inputs = ["a", "b", "c"].map { ValueInfo(name: $0, shape: [.value(2), .value(3)]) }
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [Node(name: "bad", opType: op, inputs: inputs, outputs: ["y"])]
        return g
    }

    /// Before: `Add` with one input trapped in `Step.value` (index out of range, exit 132).
    @Test(arguments: [
        ("Add", ["a"]), ("Mul", ["a"]), ("MatMul", ["a"]), ("Relu", []), ("Gemm", ["a", ""]), ("Conv", ["a"]),
        ("Softmax", [""]), ("Where", ["a", "b"]), ("Gather", ["a"]), ("Add", ["a", "b", "c"]), ("Sigmoid", ["a", "b"]),
    ])
    func malformedNodeIsAnErrorNamingTheNode(op: String, inputs: [String]) {
        let g = Self.graph(op: op, inputs: inputs)
        #expect {
            _ = try Session(graph: g)
        } throws: { error in
            guard case .invalidModel(let message) = error as? RuntimeError else { return false }
            return message.contains("node bad (\(op))")
        }
    }

    @Test func everyMalformedNodeIsReportedAtOnce() {
        var g = Self.graph(op: "Add", inputs: ["a"])
        g.nodes += [Node(name: "r", opType: "Relu", inputs: [], outputs: ["z"]),
                    Node(name: "m", opType: "MatMul", inputs: ["a", "b", "c"], outputs: ["w"])]
        let problems = g.arityProblems()
        #expect(problems.count == 3)
        #expect(problems.contains { $0.contains("node bad (Add) has 1 input; Add takes 2") })
        #expect(problems.contains { $0.contains("node r (Relu) has 0 inputs") })
        #expect(problems.contains { $0.contains("node m (MatMul) has 3 inputs; MatMul takes at most 2") })
    }
}

/// Kernel arithmetic on values a model supplies (constants, attributes): extreme values are
/// errors, never overflow traps.
@Suite struct KernelArithmeticTests {
    static let x = Value.float(Tensor(shape: [2, 4], scalars: (0..<8).map(Float.init)))
    static func int(_ v: Int64) -> Value { .int64(IntTensor(shape: [], values: [v])) }
    static func float(_ v: Float) -> Value { .float(Tensor(shape: [], scalars: [v])) }

    @Test(arguments: [[Int.max, Int.max], [Int.max, 1], [-1, 5], [1 << 62, 1 << 62, 1 << 62, 1 << 62]])
    func splitSizesThatOverflowAreErrors(sizes: [Int]) {
        #expect(throws: KernelError.self) { _ = try Kernels.split(Self.x, axis: 1, sizes: sizes) }
    }

    @Test(arguments: [[Int64.max, 1], [1 << 62, 4], [2, Int64.max]] as [[Int64]])
    func tileRepeatsThatOverflowAreErrors(repeats: [Int64]) {
        #expect(throws: KernelError.self) { _ = try Kernels.tile(Self.x, repeats: repeats) }
    }

    @Test(arguments: [[Int64.min, 0, Int64.max, 0], [Int64.max, Int64.max, 0, 0], [0, -(1 << 62), 0, (1 << 62) + 1]] as [[Int64]])
    func padsThatOverflowAreErrors(pads: [Int64]) {
        #expect(throws: KernelError.self) { _ = try Kernels.pad(Self.x, pads: pads, axes: nil, mode: .constant, value: 0) }
    }

    /// Steps of any size slice like ONNX (one element when the step passes the end).
    @Test(arguments: [(Int64.max, 1), (Int64.min, 1), (3, 2)] as [(Int64, Int)])
    func extremeSliceStepsStillSlice(step: Int64, count: Int) throws {
        let start: Int64 = step < 0 ? -1 : 0, end: Int64 = step < 0 ? Int64.min : Int64.max
        let y = try Kernels.slice(Self.x, starts: [start], ends: [end], axes: [1], steps: [step])
        #expect(y.shape == [2, count])
    }

    @Test(arguments: [
        (int(.min), int(.max), int(1)), (int(0), int(.max), int(1)), (float(0), float(.infinity), float(1)),
        (float(.nan), float(1), float(1)), (float(0), float(1), float(.leastNonzeroMagnitude)),
    ])
    func rangesWithoutAFiniteSmallLengthAreErrors(start: Value, limit: Value, delta: Value) {
        #expect(throws: KernelError.self) { _ = try Kernels.range(start, limit, delta) }
    }

    @Test func emptyRangeOfExtremeBoundsIsEmpty() throws {
        #expect(try Kernels.range(Self.int(.max), Self.int(.min), Self.int(1)).shape == [0])
    }
}

extension KernelArithmeticTests {
    /// Found by scripts/fuzz.py: a model declaring a fixed batch of 2^31 made `infer` pad 8 samples
    /// to 2^31 (6.7 TB) and abort on the allocation.
    @Test func hugeFixedBatchIsAnError() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.value(1 << 31), .value(4)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [Node(opType: "Relu", inputs: ["x"], outputs: ["y"])]
        let session = try Session(graph: g, options: SessionOptions(threads: 1))
        #expect {
            _ = try session.run(inputs: ["x": Tensor(zeros: [8, 4])])
        } throws: { error in
            "\(error)".contains("fixed batch of 2147483648")
        }
    }
}
