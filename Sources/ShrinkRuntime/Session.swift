import CKernels
import COpenBLAS
import Dispatch
import Foundation
import ShrinkGraph
import ShrinkTensor
import Synchronization

/// How a `Session` uses the machine.
public struct SessionOptions: Sendable, Equatable {
    /// Workers: a batch of more than 16 samples is run as 16-sample chunks spread over this many
    /// Dispatch workers, so its result does not depend on this number. Pass 1 when the caller
    /// already runs several sessions in parallel.
    ///
    /// OpenBLAS's own thread count is process-wide, so a session never changes it: it belongs to
    /// whoever owns the process (`BLAS.setThreads`, set once — the commands use 1: the runtime
    /// splits a small batch's products over its own kernel pool, and a large batch into chunks,
    /// and OpenBLAS threads beside those would spin on the same cores). A session
    /// that changed it for the length of a call made every other thread's BLAS calls round
    /// differently while it ran.
    public var threads: Int
    /// Fold BatchNormalization into Conv and fuse activations into Conv/Gemm/MatMul. Values that
    /// fusion removes are still available: asking for one (as output or feed) runs the unfused plan.
    public var fuse: Bool
    /// The convolution kernels (default: the best the CPU supports, or `SHRINK_KERNELS`).
    public var kernels: KernelPath

    /// Defaults: every core, fusion on, the CPU's best kernels.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, fuse: Bool = true,
                kernels: KernelPath = .selected) {
        self.threads = max(1, threads)
        self.fuse = fuse
        self.kernels = kernels.supported
    }
}

/// A compiled plan: steps in topological order and what batch splitting may assume.
struct Plan: Sendable {
    var steps: [Step]
    /// Slots with a value known at preparation (initializers, Constant and folded nodes, fused weights).
    var constants: [Int: Value]
    /// Per slot: is it batch-major, with each sample's slice depending only on that sample (what
    /// fed values and wanted outputs of a chunked run must be)?
    var batchSeparable: [Bool]
    /// Per slot: does a chunk compute it correctly on its own — batch-separable, a constant, or a
    /// shape vector computed from the chunk's own batch (Shape → Slice → Concat → Reshape)?
    var chunkSafe: [Bool] = []
    /// Number of value slots (graph values plus pre-folded constants).
    var slotCount: Int
    /// The slots a run starts from (constants in place) and which of them a run may consume,
    /// made once per session so a call does not walk the constants dictionary.
    var initialSlots: [Value?] = []
    var initialConsumable: [Bool] = []

    /// This plan with its initial frame made.
    func finalized() -> Plan {
        var p = self
        p.initialSlots = [Value?](repeating: nil, count: slotCount)
        p.initialConsumable = [Bool](repeating: true, count: slotCount)
        for (s, v) in constants { p.initialSlots[s] = v; p.initialConsumable[s] = false }
        return p
    }
}

/// A `Graph` prepared for execution: order resolved, attributes parsed, constants folded, weights
/// pre-folded; every operator checked at preparation. Immutable, so one session may run on
/// several threads at once.
public final class Session: Sendable {
    /// Samples per chunk when a batch is split across cores (see `run(values:outputs:)`): 16, so
    /// a batch of 32 uses two cores, and a chunk's activations stay in cache (VGG's batch of 256
    /// on 2 threads: 1.32× onnxruntime with chunks of 16, 1.17–1.19× with 32; LeNet's prefers 32
    /// by 6–8 % at 1 thread). Never the thread count's, so neither is a result.
    public static let chunkSamples = 16

    /// Whether a run of `batch` samples fed at `fed` is cut into chunks: more than a chunk, and
    /// every fed value, step and wanted output provably keeps samples apart.
    static func splits(batch: Int, fed: Set<Int>, schedule: Schedule, plan: Plan) -> Bool {
        !fed.isEmpty && batch > chunkSamples && schedule.stepsSeparable
            && fed.allSatisfy { plan.batchSeparable[$0] } && schedule.outSlots.allSatisfy { plan.batchSeparable[$0] }
    }

    /// Set once per process when the first session is made: glibc serves large blocks (≥ 128 KB,
    /// or the size of the last one freed) by mmap and gives them back on free, so each call's
    /// activations came back as fresh pages that the kernel faulted in and zeroed (5–7 % of
    /// ocr-cls at batch 16). Blocks up to 32 MB now come from the heap, whose top is trimmed only
    /// above 256 MB free.
    static let allocatorKeepsMemory: Bool = {
        shrink_keep_heap_memory(32 << 20, 256 << 20) == 1
    }()

    /// The graph's data inputs (initializers excluded), as declared.
    public let inputs: [ValueInfo]
    /// The graph's output names, in declaration order.
    public let outputNames: [String]
    /// The output a top-k metric scores: the first graph output declared as [batch, classes]
    /// (a model may also return hidden states or features), else the first output.
    public let scoresOutput: String
    /// The operators the runtime implements.
    public static var supportedOperators: [String] { supportedOperatorList }

    /// The batch size the model was exported with when its first data input fixes it (e.g. a
    /// `[1, 3, 32, 32]` input); nil when the batch axis is symbolic. Such a model is run on
    /// batches of exactly this size: a larger batch is cut into pieces (the last one padded with
    /// zeros) and the outputs joined again, so data of any length can be fed.
    public let fixedBatch: Int?

    let options: SessionOptions
    let slotOf: [String: Int]
    let names: [String]
    let plain: Plan
    let fused: Plan
    /// Slots that only exist in the unfused plan.
    let fusedAway: Set<Int>
    /// The schedule of a call that feeds every data input and wants the graph outputs.
    let defaultSchedule: Schedule?

    /// Prepares `graph`; throws `RuntimeError` for unsupported operators (naming op and node) and
    /// malformed graphs, before anything runs.
    public init(graph: Graph, options: SessionOptions = SessionOptions()) throws(RuntimeError) {
        _ = Session.allocatorKeepsMemory
        self.options = options
        let order: [Int]
        do { order = try graph.topologicalOrder() } catch { throw .invalidModel(message: error.message) }
        do { try graph.validateArity() } catch { throw .invalidModel(message: error.message) }
        let opset = graph.opsetVersion(domain: "") ?? graph.opsetVersion(domain: "ai.onnx") ?? 13

        // Slots: data inputs, initializers, then node outputs in order.
        var slotOf = [String: Int](), names = [String]()
        func slot(_ name: String) -> Int {
            if let s = slotOf[name] { return s }
            slotOf[name] = names.count
            names.append(name)
            return names.count - 1
        }
        let dataInputs = graph.dataInputs
        for i in dataInputs { _ = slot(i.name) }
        var constants = [Int: Value]()
        for name in graph.initializerNames {
            guard let t = graph.initializers[name] else { continue }
            // Initializers of types the runtime cannot hold only matter if something reads them.
            if let v = runtimeValue(t) { constants[slot(name)] = v }
        }
        for i in order { for o in graph.nodes[i].outputs where !o.isEmpty { _ = slot(o) } }

        // Which values are read at all, to tell "unused optional output" from "used".
        var readers = [String: Int]()
        for n in graph.nodes { for v in n.allInputs where !v.isEmpty { readers[v, default: 0] += 1 } }
        let graphOutputs = Set(graph.outputs.map(\.name))
        for o in graph.outputs where slotOf[o.name] == nil {
            throw .invalidModel(message: "graph output '\(o.name)' is produced by no node, input or initializer")
        }

        // Compile every node (so an unsupported op fails here, even inside a constant subgraph),
        // folding those whose inputs are all constant.
        var steps = [Step]()
        // Unsupported operators are collected, so that one error names them all.
        var unsupported = [UnsupportedUse]()
        for i in order {
            let node = graph.nodes[i]
            let isIf = node.opType == "If" && node.isStandardDomain
            let implicit = isIf ? node.implicitInputs : []
            let ins = node.inputs.map { $0.isEmpty ? -1 : slot($0) } + implicit.map { slot($0) }
            var outs = node.outputs.map { $0.isEmpty ? -1 : slot($0) }
            // A recurrent layer may leave Y unnamed and return only its last state: give Y a slot.
            if let first = outs.first, first < 0, outs.contains(where: { $0 >= 0 }) {
                outs[0] = slot("\u{0}unnamed output 0 of node \(i)")
            }
            guard !outs.isEmpty, outs[0] >= 0 else {
                throw .invalidNode(node: node.displayName, op: node.opType, message: "has no output")
            }
            if node.opType == "Constant" && node.isStandardDomain {
                guard let t = node.constantTensor, let v = runtimeValue(t) else {
                    unsupported.append(UnsupportedUse(op: "Constant", node: node.displayName,
                                                      detail: "only float and integer tensor values are supported"))
                    continue
                }
                constants[outs[0]] = v
                continue
            }
            let compiler = NodeCompiler(opset: opset, constants: constants,
                                        isUsed: { readers[$0, default: 0] > 0 || graphOutputs.contains($0) })
            let op: CompiledOp
            do {
                op = isIf ? try Session.compileIf(node, condition: ins.first ?? -1, constants: constants, outer: implicit,
                                                   options: options)
                          : try compiler.compile(node, inputs: ins)
            } catch {
                switch error {
                case let .unsupportedOperator(op, nodeName, detail, _):
                    unsupported.append(UnsupportedUse(op: op, node: nodeName, detail: detail))
                    continue
                case let .unsupportedOperators(uses, _):
                    unsupported += uses
                    continue
                default:
                    throw error
                }
            }
            let step = Step(op: op, inputs: ins, outputs: outs, name: node.displayName, opType: node.opType)
            let foldable = ins.allSatisfy { $0 < 0 || constants[$0] != nil }
            if foldable {
                var frame = Frame(slots: [Value?](repeating: nil, count: names.count),
                                  consumable: [Bool](repeating: false, count: names.count), kernels: options.kernels)
                for s in ins where s >= 0 { frame.slots[s] = constants[s] }
                try step.run(&frame, last: ins.map { _ in false })
                for o in outs where o >= 0 { if let v = frame.slots[o] { constants[o] = v } }
            } else {
                steps.append(step)
            }
        }
        if unsupported.count == 1, let u = unsupported.first {
            throw .unsupportedOperator(op: u.op, node: u.node, detail: u.detail, supported: supportedOperatorList)
        } else if !unsupported.isEmpty {
            throw .unsupportedOperators(unsupported, supported: supportedOperatorList)
        }
        for i in dataInputs where constants[slotOf[i.name]!] != nil {
            throw .invalidModel(message: "input '\(i.name)' is also computed by the graph")
        }

        self.inputs = dataInputs
        if let first = dataInputs.first?.shape, first.count >= 2, let b = first[0].fixed, b >= 1 {
            fixedBatch = b
        } else {
            fixedBatch = nil
        }
        self.outputNames = graph.outputs.map(\.name)
        self.scoresOutput = (graph.outputs.first { $0.shape?.count == 2 } ?? graph.outputs.first)?.name ?? ""
        self.slotOf = slotOf
        self.names = names
        let inputSlots = dataInputs.map { (slotOf[$0.name]!, $0) }
        let outputSlots = Set(graph.outputs.compactMap { slotOf[$0.name] })
        let unfused = Session.analysed(Plan(steps: steps, constants: constants, batchSeparable: [], slotCount: names.count),
                                       inputs: inputSlots)
        if options.fuse {
            let (f, away) = Session.fuse(unfused, keep: outputSlots)
            plain = unfused.finalized()
            fused = Session.packed(Session.analysed(f, inputs: inputSlots), options.kernels).finalized()
            fusedAway = away
        } else {
            plain = Session.packed(unfused, options.kernels).finalized()
            fused = plain
            fusedAway = []
        }
        let outs = graph.outputs.compactMap { slotOf[$0.name] }
        defaultSchedule = try? Session.schedule(fused, fed: Set(inputSlots.map(\.0)), outSlots: outs, names: names)
    }

    /// The steps a call runs and when each value is read for the last time.
    struct Schedule: Sendable {
        var fed: Set<Int>
        var outSlots: [Int]
        var steps: [Step]
        /// Per step and input: the last read of that value (so it is freed or moved into an in-place kernel).
        var lasts: [[Bool]]
        /// Whether every step's output keeps the samples of a batch apart.
        var stepsSeparable: Bool
    }

    /// The steps needed to compute `outSlots` from `fed`: walk back from the outputs, stopping at
    /// fed values and constants.
    static func schedule(_ plan: Plan, fed: Set<Int>, outSlots: [Int], names: [String]) throws(RuntimeError) -> Schedule {
        var needed = Set(outSlots.filter { !fed.contains($0) && plan.constants[$0] == nil })
        var chosen = [Int]()
        for (k, step) in plan.steps.enumerated().reversed() where step.outputs.contains(where: needed.contains) {
            chosen.append(k)
            for s in step.outputs { needed.remove(s) }
            for s in step.inputs where s >= 0 && !fed.contains(s) && plan.constants[s] == nil { needed.insert(s) }
        }
        if let missing = needed.first { throw RuntimeError.missingInput(name: names[missing]) }
        chosen.reverse()
        let steps = chosen.map { plan.steps[$0] }
        let keep = Set(outSlots)
        var lastUse = [Int: Int]()
        for (k, s) in steps.enumerated() { for i in s.inputs where i >= 0 { lastUse[i] = k } }
        let lasts: [[Bool]] = steps.enumerated().map { k, s in s.inputs.map { $0 >= 0 && lastUse[$0] == k && !keep.contains($0) } }
        return Schedule(fed: fed, outSlots: outSlots, steps: steps, lasts: lasts,
                        stepsSeparable: steps.allSatisfy { plan.chunkSafe[$0.outputs[0]] })
    }

    /// Packs the constant weights of Conv steps for the own GEMM kernels, once per session (the
    /// unfused plan, used only when a fused-away value is asked for, packs per call instead).
    static func packed(_ plan: Plan, _ kernels: KernelPath) -> Plan {
        guard kernels != .blas else { return plan }
        var p = plan
        for (i, step) in p.steps.enumerated() {
            guard case let .conv(attrs, act, pool, nil) = step.op, step.inputs.count > 1,
                  let w = plan.constants[step.inputs[1]]?.floatTensor, w.rank >= 3,
                  let c = w.shape.dropFirst().first, w.shape[0] % max(1, attrs.group) == 0 else { continue }
            // Depthwise convs read their small filters as they are.
            if attrs.group > 1 && c == 1 && w.shape[0] == attrs.group { continue }
            p.steps[i].op = .conv(attrs, act, pool, PackedFilter(w, groups: attrs.group,
                                                                 winograd: Kernels.winogradFits(attrs, weight: w.shape)))
        }
        return p
    }

    /// Prepares the branches of an `If`; a branch the constant condition rules out is not prepared.
    static func compileIf(_ node: Node, condition: Int, constants: [Int: Value], outer: [String],
                          options: SessionOptions) throws(RuntimeError) -> CompiledOp {
        let thenG: Graph?, elseG: Graph?
        do {
            thenG = try node.graph("then_branch")
            elseG = try node.graph("else_branch")
        } catch {
            throw .invalidNode(node: node.displayName, op: node.opType, message: error.message)
        }
        guard let thenG, let elseG else {
            throw .invalidNode(node: node.displayName, op: node.opType, message: "needs then_branch and else_branch")
        }
        for g in [thenG, elseG] where g.outputs.count != node.outputs.count {
            throw .invalidNode(node: node.displayName, op: node.opType,
                               message: "branch '\(g.name)' has \(g.outputs.count) outputs, the node \(node.outputs.count)")
        }
        var known: Bool?
        if condition >= 0, let c = constants[condition], c.count == 1 {
            switch c {
            case .int64(let t): known = t.values[0] != 0
            case .float(let t): known = t.scalars[0] != 0
            }
        }
        func prepare(_ g: Graph) throws(RuntimeError) -> Session {
            var b = g
            b.inputs = g.inputs + g.outerScopeReads.map { ValueInfo(name: $0, elementType: nil, shape: nil) }
            return try Session(graph: b, options: SessionOptions(threads: 1, fuse: options.fuse, kernels: options.kernels))
        }
        var uses = [UnsupportedUse]()
        var prepared = [Session?]()
        for (g, skip) in [(thenG, known == false), (elseG, known == true)] {
            if skip { prepared.append(nil); continue }
            do {
                prepared.append(try prepare(g))
            } catch {
                switch error {
                case let .unsupportedOperator(op, n, detail, _): uses.append(UnsupportedUse(op: op, node: n, detail: detail))
                case let .unsupportedOperators(u, _): uses += u
                default: throw error
                }
                prepared.append(nil)
            }
        }
        if !uses.isEmpty { throw .unsupportedOperators(uses, supported: supportedOperatorList) }
        return .ifBranch(IfBranches(thenBranch: prepared[0], elseBranch: prepared[1], outer: outer))
    }

    static func analysed(_ plan: Plan, inputs: [(Int, ValueInfo)]) -> Plan {
        var a = BatchAnalysis(slotCount: plan.slotCount, constants: plan.constants)
        for (slot, info) in inputs {
            if let shape = info.shape, !shape.isEmpty {
                // Symbolic sizes other than the batch are unknown (−1); the rank is still known.
                a.states[slot] = .batched(perSample: shape.dropFirst().map { $0.fixed ?? -1 })
            }
        }
        for s in plan.steps { a.visit(s) }
        var p = plan
        p.batchSeparable = a.states.map { if case .batched = $0 { return true } else { return false } }
        p.chunkSafe = a.states.map { $0 != .unknown }
        return p
    }

    /// Folds BatchNormalization into a preceding Conv, activations into Conv/Gemm/MatMul and a
    /// following Max/AveragePool into Conv, where the intermediate has a single reader and is
    /// not a graph output.
    static func fuse(_ plan: Plan, keep: Set<Int>) -> (Plan, Set<Int>) {
        var steps = plan.steps
        var constants = plan.constants
        var away = Set<Int>()
        hardSwishChains(&steps, constants: constants, keep: keep, away: &away)
        swishChains(&steps, constants: constants, keep: keep, away: &away)
        var nextSlot = plan.slotCount
        func readers(_ slot: Int) -> [Int] {
            steps.indices.filter { steps[$0].inputs.contains(slot) }
        }
        var i = 0
        while i < steps.count {
            let s = steps[i]
            let out = s.outputs[0]
            let r = readers(out)
            guard r.count == 1, !keep.contains(out), s.outputs.count == 1 || s.outputs.dropFirst().allSatisfy({ $0 < 0 }) else {
                i += 1; continue
            }
            let next = steps[r[0]]
            // A binary op with a scalar constant is an affine map of `out` from either side; the
            // constant may not add axes to `out` (Conv and Gemm outputs have the weight's rank).
            if let weightRank = Self.outputRankBound(s, constants: constants), let affine = Self.scalarAffine(next, of: out, constants: constants, maxRank: weightRank) {
                var fusedOp: CompiledOp?
                switch s.op {
                case let .conv(attrs, first, nil, nil): fusedOp = .conv(attrs, first.map { $0.followed(by: affine) } ?? affine, nil, nil)
                case let .gemm(attrs, first): fusedOp = .gemm(attrs, first.map { $0.followed(by: affine) } ?? affine)
                default: break
                }
                if let fusedOp {
                    away.insert(out)
                    steps[i] = Step(op: fusedOp, inputs: s.inputs, outputs: next.outputs, name: s.name, opType: s.opType)
                    steps.remove(at: r[0])
                    continue
                }
            }
            guard next.inputs.first == out, !next.inputs.dropFirst().contains(out) else { i += 1; continue }
            var merged: Step?
            switch (s.op, next.op) {
            case let (.conv(attrs, nil, nil, nil), .scaleShift(a, b)):
                guard let w = constants[s.inputs[1]]?.floatTensor, w.shape.first == a.count else { break }
                let bias = s.inputs.count > 2 && s.inputs[2] >= 0 ? constants[s.inputs[2]]?.floatTensor : Tensor(zeros: [a.count])
                guard let bias, bias.count == a.count else { break }
                var wf = w.scalars
                let per = w.count / a.count
                for m in 0..<a.count { for j in 0..<per { wf[m * per + j] *= a[m] } }
                let bf = (0..<a.count).map { bias.scalars[$0] * a[$0] + b[$0] }
                let ws = nextSlot, bs = nextSlot + 1
                nextSlot += 2
                constants[ws] = .float(Tensor(shape: w.shape, scalars: wf))
                constants[bs] = .float(Tensor(shape: [a.count], scalars: bf))
                merged = Step(op: .conv(attrs, nil, nil, nil), inputs: [s.inputs[0], ws, bs], outputs: next.outputs,
                              name: s.name, opType: s.opType)
            case let (.conv(attrs, first, nil, nil), .activation(act)):
                merged = Step(op: .conv(attrs, first.map { $0.followed(by: act) } ?? act, nil, nil), inputs: s.inputs,
                              outputs: next.outputs, name: s.name, opType: s.opType)
            case let (.conv(attrs, first, nil, nil), .binary(.max)):
                // Max with a constant scalar (tf2onnx's LeakyRelu → Maximum) is a lower clip; the
                // constant may not add axes to the conv's output.
                guard next.inputs.count == 2, let c = constants[next.inputs[1]]?.floatTensor, c.count == 1,
                      let w = constants[s.inputs[1]], c.rank <= w.shape.count else { break }
                let act = Activation.clip(min: c.scalars[0], max: .infinity)
                merged = Step(op: .conv(attrs, first.map { .then($0, act) } ?? act, nil, nil), inputs: s.inputs,
                              outputs: next.outputs, name: s.name, opType: s.opType)
            case let (.conv(attrs, act, nil, nil), .pool(kind, pattrs)):
                merged = Step(op: .conv(attrs, act, Kernels.FusedPool(kind: kind, attributes: pattrs), nil), inputs: s.inputs,
                              outputs: next.outputs, name: s.name, opType: s.opType)
            case let (.gemm(attrs, first), .activation(act)):
                merged = Step(op: .gemm(attrs, first.map { $0.followed(by: act) } ?? act), inputs: s.inputs, outputs: next.outputs, name: s.name, opType: s.opType)
            case let (.matmul(nil), .activation(act)):
                merged = Step(op: .matmul(act), inputs: s.inputs, outputs: next.outputs, name: s.name, opType: s.opType)
            default:
                break
            }
            if let merged {
                away.insert(out)
                steps[i] = merged
                steps.remove(at: r[0])
                // Stay on this step: Conv+BN may now fuse with a following Relu.
            } else {
                i += 1
            }
        }
        siblingConvs(&steps, constants: &constants, nextSlot: &nextSlot)
        return (Plan(steps: steps, constants: constants, batchSeparable: [], slotCount: nextSlot), away)
    }

    /// Convs that read the same value with the same attributes and activation and no pool (an
    /// STFT's real and imaginary filters, Inception's 1×1 branches) become one conv over the
    /// stacked filters and a Split of its channels: the input is im2col'd once, and the GEMM is
    /// taller. Weights and biases must be constants; every sibling's output stays a value.
    static func siblingConvs(_ steps: inout [Step], constants: inout [Int: Value], nextSlot: inout Int) {
        // The weight, bias (zeros when absent) and key of a conv that can be stacked.
        func parts(_ s: Step) -> (w: Tensor, b: Tensor, attrs: ConvAttributes, act: Activation?)? {
            guard case let .conv(attrs, act, nil, nil) = s.op, attrs.group == 1, s.inputs.count >= 2,
                  s.outputs.count == 1, let w = constants[s.inputs[1]]?.floatTensor, w.rank >= 3, w.shape[0] > 0 else { return nil }
            if s.inputs.count > 2 && s.inputs[2] >= 0 {
                guard let b = constants[s.inputs[2]]?.floatTensor, b.count == w.shape[0] else { return nil }
                return (w, b, attrs, act)
            }
            return (w, Tensor(zeros: [w.shape[0]]), attrs, act)
        }
        var i = 0
        while i < steps.count {
            guard let first = parts(steps[i]) else { i += 1; continue }
            let x = steps[i].inputs[0]
            var group = [i]
            var members = [first]
            for j in (i + 1)..<steps.count where steps[j].inputs.first == x {
                guard let p = parts(steps[j]), p.attrs == first.attrs, p.act == first.act,
                      p.w.shape.dropFirst() == first.w.shape.dropFirst() else { continue }
                group.append(j)
                members.append(p)
            }
            guard group.count > 1 else { i += 1; continue }
            let sizes = members.map { $0.w.shape[0] }, total = sizes.reduce(0, +)
            let ws = nextSlot, bs = nextSlot + 1, merged = nextSlot + 2
            nextSlot += 3
            constants[ws] = .float(Tensor(shape: [total] + Array(first.w.shape.dropFirst()), scalars: members.flatMap { $0.w.scalars }))
            constants[bs] = .float(Tensor(shape: [total], scalars: members.flatMap { $0.b.scalars }))
            let outputs = group.map { steps[$0].outputs[0] }
            let conv = Step(op: .conv(first.attrs, first.act, nil, nil), inputs: [x, ws, bs], outputs: [merged],
                            name: steps[i].name, opType: steps[i].opType)
            let split = Step(op: .split(axis: 1, sizes: sizes, fromInput: false), inputs: [merged], outputs: outputs,
                             name: steps[i].name + " (siblings)", opType: "Split")
            for j in group.dropFirst().reversed() { steps.remove(at: j) }
            steps[i] = conv
            steps.insert(split, at: i + 1)
            i += 2
        }
    }

    /// The rank a constant operand may have without adding axes to `step`'s output: the weight's
    /// rank for Conv (the output's rank), 2 for Gemm; nil for other steps.
    static func outputRankBound(_ step: Step, constants: [Int: Value]) -> Int? {
        switch step.op {
        case .conv: return step.inputs.count > 1 ? constants[step.inputs[1]]?.floatTensor?.rank : nil
        case .gemm: return 2
        default: return nil
        }
    }

    /// The affine map a Mul, Add, Sub or Div of `x` by a scalar float constant (on either side
    /// where the op allows) applies to `x`; nil for anything else, e.g. c / x.
    static func scalarAffine(_ step: Step, of x: Int, constants: [Int: Value], maxRank: Int) -> Activation? {
        guard case .binary(let op) = step.op, step.inputs.count == 2, step.outputs.count == 1 else { return nil }
        let xFirst = step.inputs[0] == x
        let other = xFirst ? step.inputs[1] : step.inputs[0]
        guard other != x, other >= 0, let t = constants[other]?.floatTensor, t.count == 1, t.rank <= maxRank,
              step.inputs.contains(x) else { return nil }
        let c = t.scalars[0]
        switch op {
        case .mul: return .affine(scale: c, shift: 0)
        case .add: return .affine(scale: 1, shift: c)
        case .sub: return xFirst ? .affine(scale: 1, shift: -c) : .affine(scale: -1, shift: c)
        case .div: return xFirst && c != 0 ? .affine(scale: 1 / c, shift: 0) : nil
        default: return nil
        }
    }

    /// Replaces paddle2onnx's hard-swish, x · Clip(x + 3, 0, 6) / 6 (four nodes, four passes over
    /// the activation), by one HardSwish step on x, which the Conv before it then absorbs. Only
    /// where the intermediates have no other reader and are not graph outputs.
    static func hardSwishChains(_ steps: inout [Step], constants: [Int: Value], keep: Set<Int>, away: inout Set<Int>) {
        func scalar(_ slot: Int) -> Float? {
            guard slot >= 0, let t = constants[slot]?.floatTensor, t.count == 1, t.rank <= 1 else { return nil }
            return t.scalars[0]
        }
        var readers = [Int: [Int]]()
        for (k, s) in steps.enumerated() { for i in Set(s.inputs) where i >= 0 { readers[i, default: []].append(k) } }
        func only(_ slot: Int) -> Int? {
            guard !keep.contains(slot), let r = readers[slot], r.count == 1 else { return nil }
            return r[0]
        }
        var drop = Set<Int>()
        for (i, add) in steps.enumerated() {
            guard case .binary(.add) = add.op, add.inputs.count == 2, add.outputs.count == 1 else { continue }
            let x: Int
            if scalar(add.inputs[1]) == 3 { x = add.inputs[0] } else if scalar(add.inputs[0]) == 3 { x = add.inputs[1] } else { continue }
            guard x >= 0, constants[x] == nil else { continue }
            let a = add.outputs[0]
            guard let j = only(a), case .activation(.clip(0, 6)) = steps[j].op, steps[j].outputs.count == 1 else { continue }
            let c = steps[j].outputs[0]
            guard let k = only(c), case .binary(.mul) = steps[k].op, Set(steps[k].inputs) == [x, c], steps[k].inputs.count == 2
            else { continue }
            let m = steps[k].outputs[0]
            guard steps[k].outputs.count == 1, let l = only(m), case .binary(.div) = steps[l].op,
                  steps[l].inputs.count == 2, steps[l].inputs[0] == m, scalar(steps[l].inputs[1]) == 6,
                  steps[l].outputs.count == 1 else { continue }
            steps[l] = Step(op: .activation(.hardSwish), inputs: [x], outputs: steps[l].outputs, name: steps[l].name,
                            opType: "HardSwish")
            drop.formUnion([i, j, k])
            away.formUnion([a, c, m])
        }
        if !drop.isEmpty { steps = steps.enumerated().filter { !drop.contains($0.offset) }.map(\.element) }
    }

    /// Replaces Swish as exporters write it, x · Sigmoid(x) or x · Sigmoid(x · beta) (paddle2onnx
    /// multiplies by a constant beta of 1 first), by one Swish step on x, which the Conv before it
    /// then absorbs. Only where the intermediates have no other reader and are not graph outputs.
    static func swishChains(_ steps: inout [Step], constants: [Int: Value], keep: Set<Int>, away: inout Set<Int>) {
        var producer = [Int: Int]()
        var readers = [Int: [Int]]()
        for (k, s) in steps.enumerated() {
            for o in s.outputs where o >= 0 { producer[o] = k }
            for i in Set(s.inputs) where i >= 0 { readers[i, default: []].append(k) }
        }
        func single(_ slot: Int, readBy k: Int) -> Bool { !keep.contains(slot) && readers[slot] == [k] }
        var drop = Set<Int>()
        for (k, mul) in steps.enumerated() {
            guard case .binary(.mul) = mul.op, mul.inputs.count == 2, mul.outputs.count == 1 else { continue }
            for (x, s) in [(mul.inputs[0], mul.inputs[1]), (mul.inputs[1], mul.inputs[0])] {
                guard x >= 0, x != s, constants[x] == nil, let j = producer[s], !drop.contains(j), single(s, readBy: k),
                      case .activation(.sigmoid) = steps[j].op, steps[j].inputs.count == 1 else { continue }
                let t = steps[j].inputs[0]
                var beta: Float = 1
                var scaled: Int?
                if t != x {
                    // t = x · beta with beta a scalar constant, read only by the sigmoid.
                    guard let i = producer[t], !drop.contains(i), single(t, readBy: j), case .binary(.mul) = steps[i].op,
                          steps[i].inputs.count == 2, steps[i].inputs.contains(x), steps[i].outputs.count == 1,
                          let c = steps[i].inputs.first(where: { $0 != x }),
                          let b = constants[c]?.floatTensor, b.count == 1, b.rank == 0 || (b.rank == 1 && b.shape == [1])
                    else { continue }
                    beta = b.scalars[0]
                    scaled = i
                }
                steps[k] = Step(op: .activation(.swish(beta: beta)), inputs: [x], outputs: mul.outputs, name: mul.name,
                                opType: "Swish")
                drop.insert(j)
                away.insert(s)
                if let i = scaled { drop.insert(i); away.insert(t) }
                break
            }
        }
        if !drop.isEmpty { steps = steps.enumerated().filter { !drop.contains($0.offset) }.map(\.element) }
    }

    // MARK: running

    /// Runs the graph on float inputs (keyed by input name) and returns every graph output.
    public func run(inputs: [String: Tensor]) throws -> [String: Tensor] {
        try run(from: inputs, outputs: nil)
    }

    /// Runs from `feeds` — graph inputs and/or intermediate values by name — to `outputs`
    /// (default: the graph outputs). Only the nodes between them run, so a caller holding
    /// activations up to some layer skips everything before it; asking for an intermediate value
    /// returns it (e.g. a layer's input activations).
    public func run(from feeds: [String: Tensor], outputs: [String]? = nil) throws -> [String: Tensor] {
        let out = try run(values: feeds.mapValues { Value.float($0) }, outputs: outputs)
        return out.mapValues { v in
            switch v {
            case .float(let t): return t
            case .int64(let t): return Tensor(shape: t.shape, scalars: t.values.map { Float($0) })
            }
        }
    }

    /// The general form of `run(from:outputs:)` over float and int64 values.
    public func run(values feeds: [String: Value], outputs: [String]? = nil) throws -> [String: Value] {
        let wanted = outputs ?? outputNames
        var outSlots = [Int]()
        for name in wanted {
            guard let s = slotOf[name] else { throw RuntimeError.unknownValue(name: name, role: "requested output") }
            outSlots.append(s)
        }
        var fed = [Int: Value]()
        for (name, v) in feeds {
            guard let s = slotOf[name] else { throw RuntimeError.unknownValue(name: name, role: "fed value") }
            fed[s] = try checkedFeed(name, v)
        }
        let useFused = !outSlots.contains(where: fusedAway.contains) && !fed.keys.contains(where: fusedAway.contains)
        let plan = useFused ? fused : plain

        // The usual call (every data input fed, the graph outputs wanted) reuses the schedule made
        // at preparation; others make their own.
        let schedule: Schedule
        if useFused, outSlots == defaultSchedule?.outSlots, let d = defaultSchedule, Set(fed.keys) == d.fed {
            schedule = d
        } else {
            schedule = try Session.schedule(plan, fed: Set(fed.keys), outSlots: outSlots, names: names)
        }
        let steps = schedule.steps, lasts = schedule.lasts

        // Split the batch when every fed and produced value provably keeps samples apart. Chunks
        // have a fixed size, whatever the thread count: OpenBLAS rounds edge tiles differently by
        // matrix size, so equal chunks make a result independent of how many cores computed it.
        let batchSizes = Set(fed.values.compactMap { $0.shape.first })
        let batch = batchSizes.count == 1 ? batchSizes.first! : 0
        let separable = Session.splits(batch: batch, fed: Set(fed.keys), schedule: schedule, plan: plan)
        let chunk = Session.chunkSamples
        let chunks = separable ? (batch + chunk - 1) / chunk : 1
        if let fixed = fixedBatch, batch >= 1, batch != fixed, fed.values.allSatisfy({ $0.shape.first == batch }) {
            // Pieces are padded to the model's batch: refuse a batch no memory could hold (a
            // declared batch of 2^31) instead of aborting on the allocation.
            for v in fed.values {
                var shape = v.shape
                shape[0] = fixed
                do { _ = try checkedCount(shape, "a batch padded to the model's fixed batch") } catch {
                    throw RuntimeError.invalidModel(message: "input '\(inputs.first?.name ?? "input")' declares a fixed batch of \(fixed); padding \(batch) samples to it would take more memory than this process may use")
                }
            }
            return try runPieces(steps, lasts: lasts, plan: plan, fed: fed, outSlots: outSlots, wanted: wanted,
                                 batch: batch, piece: fixed)
        }

        if chunks == 1 {
            let result = try execute(steps, lasts: lasts, plan: plan, fed: fed, outSlots: outSlots, threads: options.threads)
            return Dictionary(uniqueKeysWithValues: zip(wanted, result))
        }
        let bounds = (0...chunks).map { min($0 * chunk, batch) }
        let workers = min(options.threads, chunks)
        let whole = fed
        let parts = try runParts(steps, lasts: lasts, plan: plan, outSlots: outSlots, count: chunks, workers: workers) { c in
            whole.mapValues { Session.slice($0, bounds[c], bounds[c + 1]) }
        }
        var merged = [String: Value]()
        for (k, name) in wanted.enumerated() {
            do {
                merged[name] = try Kernels.concat(parts.map { $0[k] }, axis: 0)
            } catch {
                throw RuntimeError.nodeFailed(node: name, op: "batch merge", message: "\(error)")
            }
        }
        return merged
    }

    /// Runs a model exported with a fixed batch size `piece` on `batch` samples: pieces of exactly
    /// `piece` samples (the last padded with zeros), spread over the workers, outputs joined on axis 0.
    /// Runs `count` parts of a batch (the feeds of part k from `feeds(k)`) on `workers` threads,
    /// worker w taking parts w, w + workers, …, and returns each part's outputs in order; the
    /// first failure (by part) is thrown.
    private func runParts(_ steps: [Step], lasts: [[Bool]], plan: Plan, outSlots: [Int], count: Int, workers: Int,
                          feeds: @Sendable (Int) -> [Int: Value]) throws(RuntimeError) -> [[Value]] {
        let results = Mutex<[Result<[Value], RuntimeError>?]>(Array(repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for k in stride(from: w, to: count, by: workers) {
                let r: Result<[Value], RuntimeError>
                do throws(RuntimeError) {
                    r = .success(try execute(steps, lasts: lasts, plan: plan, fed: feeds(k), outSlots: outSlots))
                } catch {
                    r = .failure(error)
                }
                results.withLock { $0[k] = r }
            }
        }
        return try results.withLock { rs throws(RuntimeError) in try rs.map { r throws(RuntimeError) in try r!.get() } }
    }

    private func runPieces(_ steps: [Step], lasts: [[Bool]], plan: Plan, fed: [Int: Value], outSlots: [Int],
                           wanted: [String], batch: Int, piece: Int) throws -> [String: Value] {
        let pieces = (batch + piece - 1) / piece
        let workers = min(options.threads, pieces)
        let parts = try runParts(steps, lasts: lasts, plan: plan, outSlots: outSlots, count: pieces, workers: workers) { k in
            let lo = k * piece, hi = min(lo + piece, batch)
            return fed.mapValues { Session.padded(Session.slice($0, lo, hi), to: piece) }
        }
        var merged = [String: Value]()
        for (j, name) in wanted.enumerated() {
            // A value every piece computes alike without a batch axis (a constant, a shape the
            // model fixes) is the whole batch's value as it is: a caller that asks for the values
            // crossing a cut gets those too.
            if plan.constants[outSlots[j]] != nil
                || (parts[0][j].shape.first != piece && parts.allSatisfy({ $0[j] == parts[0][j] })) {
                merged[name] = parts[0][j]
                continue
            }
            var rows: [Value] = []
            for (k, p) in parts.enumerated() {
                let v = p[j]
                guard v.shape.first == piece else {
                    throw RuntimeError.nodeFailed(node: name, op: "batch merge",
                        message: "the model fixes its batch at \(piece) but output '\(name)' has shape \(v.shape), not [\(piece), …]; feed exactly \(piece) samples at a time")
                }
                let keep = min(piece, batch - k * piece)
                rows.append(keep == piece ? v : Session.slice(v, 0, keep))
            }
            do {
                merged[name] = try Kernels.concat(rows, axis: 0)
            } catch {
                throw RuntimeError.nodeFailed(node: name, op: "batch merge", message: "\(error)")
            }
        }
        return merged
    }

    /// `v` with zero samples appended up to `n` along axis 0.
    static func padded(_ v: Value, to n: Int) -> Value {
        guard let b = v.shape.first, b < n else { return v }
        var shape = v.shape
        shape[0] = n
        let extra = (n - b) * (v.count / max(b, 1))
        switch v {
        case .float(let t): return .float(Tensor(shape: shape, scalars: t.scalars + [Float](repeating: 0, count: extra)))
        case .int64(let t): return .int64(IntTensor(shape: shape, values: t.values + [Int64](repeating: 0, count: extra)))
        }
    }

    /// Samples `lo..<hi` of a batched value (a copy; chunks are run independently).
    static func slice(_ v: Value, _ lo: Int, _ hi: Int) -> Value {
        let per = v.count / max(v.shape[0], 1)
        var shape = v.shape
        shape[0] = hi - lo
        switch v {
        case .float(let t): return .float(Tensor(shape: shape, scalars: Array(t.scalars[(lo * per)..<(hi * per)])))
        case .int64(let t): return .int64(IntTensor(shape: shape, values: Array(t.values[(lo * per)..<(hi * per)])))
        }
    }

    private func execute(_ steps: [Step], lasts: [[Bool]], plan: Plan, fed: [Int: Value],
                         outSlots: [Int], threads: Int = 1) throws(RuntimeError) -> [Value] {
        var frame = Frame(slots: plan.initialSlots, consumable: plan.initialConsumable, threads: threads,
                          kernels: options.kernels)
        for (s, v) in fed { frame.slots[s] = v }
        for (k, step) in steps.enumerated() {
            try step.run(&frame, last: lasts[k])
        }
        var out = [Value]()
        for s in outSlots {
            guard let v = frame.slots[s] else { throw RuntimeError.missingInput(name: names[s]) }
            out.append(v)
        }
        return out
    }

    /// Time spent in one step of a profiled run.
    public struct StepTiming: Sendable {
        /// The node (the first of a fused group).
        public var node: String
        /// Its operator.
        public var op: String
        /// Seconds.
        public var seconds: Double
    }

    /// Runs the whole batch in one piece (no splitting) and reports the time of every step
    /// (thread CPU time on one thread, else wall time), to find where a model
    /// spends its time.
    public func profile(inputs feeds: [String: Tensor]) throws -> [StepTiming] {
        var fed = [Int: Value]()
        for (name, v) in feeds {
            guard let s = slotOf[name] else { throw RuntimeError.unknownValue(name: name, role: "fed value") }
            fed[s] = try checkedFeed(name, .float(v))
        }
        let plan = fused
        // The steps and last uses of a real run, so in-place operators consume their inputs as
        // they do there: a profile that kept every value alive copied each in-place operand and
        // touched fresh pages for every output (1.6–1.8× the real time on the OCR models).
        let schedule = defaultSchedule.flatMap { Set(fed.keys) == $0.fed ? $0 : nil }
        let steps = schedule?.steps ?? plan.steps
        var frame = Frame(slots: plan.initialSlots, consumable: plan.initialConsumable, threads: options.threads,
                          kernels: options.kernels)
        for (s, v) in fed { frame.slots[s] = v }
        var timings = [StepTiming]()
        // Thread CPU time when this thread does all the work (robust on a machine shared with
        // other jobs); wall time when OpenBLAS or the kernel pool has threads of its own.
        let clock = BLAS.threads == 1 && options.threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
        func now() -> Double {
            var t = timespec()
            clock_gettime(clock, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
        }
        for (k, step) in steps.enumerated() {
            let t0 = now()
            try step.run(&frame, last: schedule?.lasts[k] ?? step.inputs.map { _ in false })
            timings.append(StepTiming(node: step.name, op: step.opType, seconds: now() - t0))
        }
        return timings
    }

    // MARK: inputs

    /// The declared shape of data input `name` as text, e.g. `[batch, 1, 28, 28]`; nil if undeclared.
    public func declaredShape(of name: String) -> String? {
        guard let shape = inputs.first(where: { $0.name == name })?.shape else { return nil }
        return "[" + shape.map(\.description).joined(separator: ", ") + "]"
    }

    /// Checks a shape against the declaration of data input `name` (fixed dimensions must agree).
    public func validate(shape: [Int], forInput name: String) throws(RuntimeError) {
        guard let info = inputs.first(where: { $0.name == name }) else { return }
        guard let declared = info.shape else { return }
        // A model with a fixed batch size takes any number of samples (run in pieces of that size).
        let batchFree = fixedBatch != nil && declared.first?.fixed == fixedBatch && shape.first.map { $0 >= 1 } == true
        let fits = declared.count == shape.count && zip(declared, shape).enumerated().allSatisfy { i, ds in
            (i == 0 && batchFree) || (ds.0.fixed.map { $0 == ds.1 } ?? true)
        }
        if !fits {
            throw .inputShapeMismatch(name: name, expected: declaredShape(of: name) ?? "?", got: shape)
        }
    }

    private func checkedFeed(_ name: String, _ v: Value) throws(RuntimeError) -> Value {
        guard let info = inputs.first(where: { $0.name == name }) else { return v }
        try validate(shape: v.shape, forInput: name)
        switch (info.elementType, v) {
        case (.some(.int64), .float(let t)), (.some(.int32), .float(let t)):
            // Integer inputs fed as floats (run(inputs:) takes Tensors): exact for integral values.
            guard t.scalars.allSatisfy({ $0 == $0.rounded() && Swift.abs($0) < 9.2e18 }) else {
                throw .inputTypeMismatch(name: name, expected: "int64", got: "non-integral float")
            }
            return .int64(IntTensor(shape: t.shape, values: t.scalars.map { Int64($0) }))
        case (.some(.float), .int64):
            throw .inputTypeMismatch(name: name, expected: "float", got: "int64")
        default:
            return v
        }
    }
}
