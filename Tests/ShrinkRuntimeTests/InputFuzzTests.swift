import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// Deterministic pseudo-random numbers (SplitMix64), so a failing mutation can be replayed.
struct FuzzRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed from a name (FNV-1a; `hashValue` is randomised per process).
    init(_ name: String) { state = name.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } }
}

/// Seeded mutations of models and arrays, run through what `inspect`, `infer` and `eval` do:
/// whatever the bytes, the result is a value or a typed error — never a trap (which would take
/// the whole test process down). The long run over the CLI binary is `scripts/fuzz.py`.
///
/// Extreme values are either small or at least 2^31, so a mutant never asks for gigabytes that
/// this process could actually allocate.
@Suite struct InputFuzzTests {
    static let extremes: [Int] = [0, 1, 2, 3, -1, -2, 1 << 31, 1 << 40, 1 << 62, .max, .min, -(1 << 62)]
    static let ops = ["Add", "Mul", "Div", "Relu", "Conv", "Gemm", "MatMul", "Reshape", "Flatten", "Concat", "Softmax",
                      "Split", "Slice", "Gather", "Pad", "Expand", "Tile", "Range", "ConstantOfShape", "Where",
                      "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "AveragePool", "BatchNormalization",
                      "LayerNormalization", "ReduceSum", "Clip", "Cast", "Shape", "Identity", "Max", "Mean", "Einsum",
                      "", "NoSuchOp"]

    // MARK: models

    /// The op fixtures with their inputs (Tests/Fixtures/onnx-ops: NAME.onnx and NAME.npz).
    static let opSeeds: [String] = {
        let dir = repoPath("Tests/Fixtures/onnx-ops")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".onnx") && names.contains(String($0.dropLast(5)) + ".npz") }
            .map { String($0.dropLast(5)) }.sorted()
    }()

    static func feeds(_ seed: String) -> [String: Value] {
        guard let arrays = try? NPZ.read(URL(fileURLWithPath: repoPath("Tests/Fixtures/onnx-ops/\(seed).npz"))) else { return [:] }
        var out: [String: Value] = [:]
        for (k, a) in arrays where !k.hasPrefix("out:") {
            switch a.dtype {
            case .int64, .int32: out[k] = .int64(IntTensor(shape: a.shape, values: a.integersIfIntegral() ?? []))
            default: out[k] = .float(a.tensor())
            }
        }
        return out
    }

    static func extreme(_ rng: inout FuzzRandom) -> Int {
        Bool.random(using: &rng) ? extremes.randomElement(using: &rng)! : Int.random(in: -3...12, using: &rng)
    }

    /// One structural edit of the graph (inputs, outputs, op types, attributes, shapes, new nodes).
    static func mutate(_ g: inout Graph, _ rng: inout FuzzRandom) {
        let values = ["", "nope"] + g.inputs.map(\.name) + g.nodes.flatMap(\.outputs) + g.initializerNames
        guard !g.nodes.isEmpty else { return }
        let i = Int.random(in: 0..<g.nodes.count, using: &rng)
        switch Int.random(in: 0..<9, using: &rng) {
        case 0 where !g.nodes[i].inputs.isEmpty:
            g.nodes[i].inputs.remove(at: Int.random(in: 0..<g.nodes[i].inputs.count, using: &rng))
        case 1:
            g.nodes[i].inputs.append(values.randomElement(using: &rng)!)
        case 2 where !g.nodes[i].outputs.isEmpty:
            g.nodes[i].outputs[0] = values.randomElement(using: &rng)!
        case 3:
            g.nodes[i].opType = ops.randomElement(using: &rng)!
        case 4:
            let name = ["axis", "axes", "perm", "group", "kernel_shape", "strides", "pads", "split", "to", "transB",
                        "dilations", "keepdims", "epsilon"].randomElement(using: &rng)!
            let v: AttributeValue = Bool.random(using: &rng) ? .int(extreme(&rng))
                : .ints((0..<Int.random(in: 0...5, using: &rng)).map { _ in extreme(&rng) })
            g.nodes[i].setAttribute(name, v)
        case 5:
            if Bool.random(using: &rng) { g.nodes.remove(at: i) } else { g.nodes.append(g.nodes[i]) }
        case 6 where !g.inputs.isEmpty:
            let k = Int.random(in: 0..<g.inputs.count, using: &rng)
            g.inputs[k].shape = (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                Bool.random(using: &rng) ? .value(max(0, extreme(&rng))) : .symbol("n")
            }
        case 7:
            // A new node fed with an int64 constant of extreme values, computed by `infer`.
            let n = UInt32.random(in: 0...UInt32.max, using: &rng)
            let count = Int.random(in: 0...4, using: &rng)
            let c = g.addInitializer(.int64(shape: [count], values: (0..<count).map { _ in Int64(extreme(&rng)) }),
                                     preferredName: "c\(n)")
            let op = ["Reshape", "Expand", "Tile", "ConstantOfShape", "Range", "Slice", "Gather", "Pad", "Unsqueeze",
                      "Squeeze", "Split", "ReduceSum", "Transpose", "Concat", "Add", "Flatten"].randomElement(using: &rng)!
            let x = values.filter { !$0.isEmpty }.randomElement(using: &rng) ?? c
            let inputs = op == "ConstantOfShape" ? [c] : op == "Range" ? [c, c, c] : op == "Slice" ? [x, c, c] : [x, c]
            g.nodes.append(Node(name: "fuzz\(n)", opType: op, inputs: inputs, outputs: ["o\(n)"]))
            g.outputs.append(ValueInfo(name: "o\(n)", shape: nil))
        default:
            if let name = g.initializerNames.randomElement(using: &rng), let v = g.initializers[name], let t = v.floatTensor,
               t.count > 0 {
                var s = t
                s.scalars[Int.random(in: 0..<s.count, using: &rng)] = [Float.nan, .infinity, -.infinity, 0].randomElement(using: &rng)!
                g.setInitializer(name, .float(s))
            }
        }
    }

    /// How far a mutant got: 0 refused at load, 1 refused by the runtime, 2 run (output or error).
    enum Reach: Int { case load, compile, run }

    /// What `inspect` and `infer` do with a model file.
    @discardableResult
    static func exercise(model data: Data, feeds: [String: Value]) -> Reach {
        let graph: Graph
        do { graph = try Graph(serializedData: data, file: "mutant.onnx") } catch {
            #expect(!error.message.isEmpty)
            return .load
        }
        _ = try? LayerTable(graph: graph)
        let session: Session
        do { session = try Session(graph: graph, options: SessionOptions(threads: 1)) } catch {
            #expect(!error.description.isEmpty)
            return .compile
        }
        do {
            for (_, v) in try session.run(values: feeds) {
                if case .float(let t) = v { _ = Metrics.nonFiniteRows(t) }
            }
        } catch {
            #expect(!"\(error)".isEmpty)
        }
        return .run
    }

    static func flipBytes(_ data: Data, _ rng: inout FuzzRandom) -> Data {
        var b = [UInt8](data)
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !b.isEmpty {
            let at = Int.random(in: 0..<min(b.count, 4096), using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: b[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: b[at] = UInt8.random(in: 0...255, using: &rng)
            case 2: b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...16, using: &rng)))
            default: b.removeSubrange(at...)
            }
        }
        return Data(b)
    }

    @Test func mutatedOpModelsNeverCrash() throws {
        var rng = FuzzRandom("op-models")
        #expect(Self.opSeeds.count > 100)
        var reached = [Reach: Int]()
        for round in 0..<600 {
            let seed = Self.opSeeds[(round * 37) % Self.opSeeds.count]
            var graph = try Graph.load(contentsOf: repoPath("Tests/Fixtures/onnx-ops/\(seed).onnx"))
            for _ in 0..<Int.random(in: 1...3, using: &rng) { Self.mutate(&graph, &rng) }
            var data = try graph.serializedData()
            if round % 4 == 0 { data = Self.flipBytes(data, &rng) }
            reached[Self.exercise(model: data, feeds: Self.feeds(seed)), default: 0] += 1
        }
        // The mutants must get past loading often enough for the fuzz to mean something.
        #expect(reached[.run, default: 0] >= 100, "\(reached)")
    }

    @Test func mutatedLeNetNeverCrashes() throws {
        var rng = FuzzRandom("lenet")
        let lenet = try Graph.load(contentsOf: repoPath("Examples/lenet-mnist/model.onnx"))
        let x = try Dataset.load(npz: repoPath("Tests/Fixtures/npy/bad/lenet_ok.npz")).prefix(2).inputs
        var reached = [Reach: Int]()
        for round in 0..<100 {
            var graph = lenet
            for _ in 0..<Int.random(in: 1...3, using: &rng) { Self.mutate(&graph, &rng) }
            var data = try graph.serializedData()
            if round % 5 == 0 { data = Self.flipBytes(data, &rng) }
            reached[Self.exercise(model: data, feeds: ["input": .float(x)]), default: 0] += 1
        }
        #expect(reached[.run, default: 0] >= 15, "\(reached)")
    }

    // MARK: arrays

    static func mutateNpy(_ data: Data, _ rng: inout FuzzRandom) -> Data {
        guard data.count > 10 else { return flipBytes(data, &rng) }
        let headerEnd = 10 + Int(data[8]) + Int(data[9]) << 8
        guard headerEnd <= data.count, var header = String(data: data[10..<headerEnd], encoding: .isoLatin1) else {
            return flipBytes(data, &rng)
        }
        var body = [UInt8](data[headerEnd...])
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:
            let dims = (0..<Int.random(in: 0...5, using: &rng)).map { _ in "\(extreme(&rng)), " }.joined()
            if let open = header.firstIndex(of: "("), let close = header.firstIndex(of: ")"), open < close {
                header.replaceSubrange(open...close, with: "(\(dims))")
            }
        case 1:
            let descr = ["<f4", "<f8", "<i8", "<i4", "|u1", "|b1", ">f4", "<f2", "|O", "<U3", "f4"].randomElement(using: &rng)!
            if let r = header.range(of: "'descr': '") , let end = header[r.upperBound...].firstIndex(of: "'") {
                header.replaceSubrange(r.upperBound..<end, with: descr)
            }
        case 2:
            header = header.replacingOccurrences(of: "False", with: "True")
        case 3 where body.count >= 4:
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<(body.count / 4), using: &rng) * 4
                let v = [Float.nan, .infinity, -.infinity].randomElement(using: &rng)!.bitPattern
                for k in 0..<4 { body[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
            }
        case 4:
            body = Array(body.prefix(Int.random(in: 0...body.count, using: &rng)))
        default:
            return flipBytes(data, &rng)
        }
        var out = Data(data[0..<8])
        let h = Array(header.utf8)
        out.append(contentsOf: [UInt8(h.count & 0xFF), UInt8((h.count >> 8) & 0xFF)])
        out.append(contentsOf: h)
        out.append(contentsOf: body)
        return out
    }

    /// What `eval` and `infer` do with data files.
    static func exercise(npz data: Data) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).npz")
        defer { try? FileManager.default.removeItem(at: url) }
        guard (try? data.write(to: url)) != nil else { return }
        do {
            let d = try Dataset.load(npz: url.path)
            try d.checkLabels(classes: 10)
        } catch {
            #expect(!error.message.isEmpty)
        }
    }

    @Test func mutatedArraysNeverCrash() throws {
        var rng = FuzzRandom("arrays")
        let seed = try NPZ.read(URL(fileURLWithPath: repoPath("Tests/Fixtures/npy/bad/lenet_ok.npz")))
        let x = NPY.encode(try #require(seed["x"])), y = NPY.encode(try #require(seed["y"]))
        for round in 0..<260 {
            var members = ["x": round % 3 == 0 ? x : Self.mutateNpy(x, &rng), "y": round % 3 == 1 ? Self.mutateNpy(y, &rng) : y]
            if round % 7 == 0 { members["y"] = nil }
            // .npy alone: what `infer` and `eval --labels` read.
            if let m = members["x"] {
                if let a = try? NPY.decode(m, name: "x.npy"), a.dtype == .float32 {
                    _ = try? Dataset.requireFinite(a.tensor(), source: "x.npy", key: "x")
                }
            }
            // As an archive (stored; deflated streams are fuzzed in NumPyHardeningTests), sometimes
            // with damaged zip records.
            var zip = Self.zip(members)
            if round % 4 == 3 { zip = Self.flipBytes(zip, &rng) }
            Self.exercise(npz: zip)
        }
    }

    /// A stored zip archive whose members are exactly `members` (name.npy → bytes).
    static func zip(_ members: [String: Data]) -> Data {
        var out = Data(), directory = Data()
        func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        for (k, v) in members.sorted(by: { $0.key < $1.key }) {
            let name = Array((k + ".npy").utf8), crc = Int(crc32(v)), offset = out.count
            out.append(contentsOf: [0x50, 0x4B, 3, 4] + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4)
                       + le(v.count, 4) + le(v.count, 4) + le(name.count, 2) + le(0, 2) + name)
            out.append(v)
            directory.append(contentsOf: [0x50, 0x4B, 1, 2] + le(20, 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4)
                             + le(crc, 4) + le(v.count, 4) + le(v.count, 4) + le(name.count, 2) + le(0, 2) + le(0, 2)
                             + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + name)
        }
        let start = out.count
        out.append(directory)
        out.append(contentsOf: [0x50, 0x4B, 5, 6] + le(0, 2) + le(0, 2) + le(members.count, 2) + le(members.count, 2)
                   + le(directory.count, 4) + le(start, 4) + le(0, 2))
        return out
    }

    static func crc32(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
