import COpenBLAS
import ShrinkTensor

/// Which recurrent cell: ONNX `LSTM`, `GRU` or `RNN`.
public enum RecurrentCell: String, Sendable, Equatable {
    /// Gates i, o, f, c.
    case lstm = "LSTM"
    /// Gates z, r, h.
    case gru = "GRU"
    /// One gate.
    case rnn = "RNN"

    /// Gates per direction.
    public var gates: Int {
        switch self {
        case .lstm: 4
        case .gru: 3
        case .rnn: 1
        }
    }

    /// Activation functions per direction.
    public var activationCount: Int {
        switch self {
        case .lstm: 3
        case .gru: 2
        case .rnn: 1
        }
    }
}

/// Attributes of a recurrent node.
public struct RecurrentAttributes: Sendable, Equatable {
    /// The cell.
    public var cell: RecurrentCell
    /// Hidden size; taken from W when nil.
    public var hiddenSize: Int?
    /// `forward`, `reverse` or `bidirectional`.
    public var direction: String
    /// Activations, `cell.activationCount` per direction (forward first).
    public var activations: [Activation]
    /// Pre-activation clip (|x| ≤ clip), if set.
    public var clip: Float?
    /// LSTM: couple input and forget gates (f = 1 − i).
    public var inputForget: Bool
    /// GRU: apply the reset gate after the recurrent product.
    public var linearBeforeReset: Bool
    /// 1: X is [batch, seq, input] and outputs are batch-first.
    public var layout: Int

    /// Attributes as given.
    public init(cell: RecurrentCell, hiddenSize: Int?, direction: String, activations: [Activation], clip: Float?,
                inputForget: Bool, linearBeforeReset: Bool, layout: Int) {
        self.cell = cell; self.hiddenSize = hiddenSize; self.direction = direction; self.activations = activations
        self.clip = clip; self.inputForget = inputForget; self.linearBeforeReset = linearBeforeReset; self.layout = layout
    }

    /// The ONNX default activations for `cell` and `directions`.
    public static func defaultActivations(_ cell: RecurrentCell, directions: Int) -> [Activation] {
        let one: [Activation] = switch cell {
        case .lstm: [.sigmoid, .tanh, .tanh]
        case .gru: [.sigmoid, .tanh]
        case .rnn: [.tanh]
        }
        return Array([[Activation]](repeating: one, count: directions).joined())
    }
}

extension Kernels {
    /// Runs an ONNX `LSTM`, `GRU` or `RNN`. Returns Y, Y_h and (LSTM) Y_c in the node's layout.
    /// Steps past a sample's `sequenceLengths` entry leave its state unchanged and write zeros to Y.
    public static func recurrent(_ xIn: Tensor, w: Tensor, r: Tensor, b: Tensor?, sequenceLengths: [Int64]?,
                                 initialH: Tensor?, initialC: Tensor?, peepholes: Tensor?,
                                 _ a: RecurrentAttributes) throws -> [Tensor] {
        guard xIn.rank == 3, w.rank == 3, r.rank == 3 else {
            throw KernelError("X \(xIn.shape), W \(w.shape) and R \(r.shape) must be 3-D")
        }
        let x = a.layout == 0 ? xIn : try transposed(xIn, [1, 0, 2])
        let seq = x.shape[0], batch = x.shape[1], inSize = x.shape[2]
        let dirs = a.direction == "bidirectional" ? 2 : 1
        let gates = a.cell.gates
        guard w.shape[0] == dirs, r.shape[0] == dirs else {
            throw KernelError("W \(w.shape) and R \(r.shape) must have \(dirs) direction(s)")
        }
        let h = a.hiddenSize ?? w.shape[1] / gates
        guard h >= 1, h <= w.shape[1] else { throw KernelError("hidden_size \(h) does not fit W \(w.shape)") }
        let gh = gates * h
        guard w.shape[1] == gh, w.shape[2] == inSize, r.shape[1] == gh, r.shape[2] == h else {
            throw KernelError("W \(w.shape) / R \(r.shape) do not fit \(gates) gates of hidden size \(h) and input size \(inSize)")
        }
        if let b, b.shape != [dirs, 2 * gh] { throw KernelError("B has shape \(b.shape), expected [\(dirs), \(2 * gh)]") }
        if let p = peepholes, p.shape != [dirs, 3 * h] { throw KernelError("P has shape \(p.shape), expected [\(dirs), \(3 * h)]") }
        let stateShape = a.layout == 0 ? [dirs, batch, h] : [batch, dirs, h]
        func stateRows(_ t: Tensor?, _ what: String) throws -> [Float]? {
            guard let t else { return nil }
            guard t.shape == stateShape else { throw KernelError("\(what) has shape \(t.shape), expected \(stateShape)") }
            return a.layout == 0 ? t.scalars : try transposed(t, [1, 0, 2]).scalars
        }
        let h0 = try stateRows(initialH, "initial_h"), c0 = try stateRows(initialC, "initial_c")
        var lengths = [Int](repeating: seq, count: batch)
        if let s = sequenceLengths {
            guard s.count == batch else { throw KernelError("sequence_lens has \(s.count) values for batch \(batch)") }
            lengths = try s.map { v in
                guard v >= 0, v <= seq else { throw KernelError("sequence length \(v) is outside 0…\(seq)") }
                return Int(v)
            }
        }
        guard a.activations.count == a.cell.activationCount * dirs else {
            throw KernelError("\(a.activations.count) activations given, expected \(a.cell.activationCount * dirs)")
        }
        _ = try checkedCount([seq, batch, gh], "recurrent gates")
        var y = [Float](repeating: 0, count: try checkedCount([seq, dirs, batch, h], "Y"))
        var yh = [Float](repeating: 0, count: dirs * batch * h), yc = yh

        for d in 0..<dirs {
            let reverse = a.direction == "reverse" || d == 1
            let acts = Array(a.activations[(d * a.cell.activationCount)..<((d + 1) * a.cell.activationCount)])
            let wd = Array(w.scalars[(d * gh * inSize)..<((d + 1) * gh * inSize)])
            let rd = Array(r.scalars[(d * gh * h)..<((d + 1) * gh * h)])
            let wb = b.map { Array($0.scalars[(d * 2 * gh)..<(d * 2 * gh + gh)]) } ?? [Float](repeating: 0, count: gh)
            let rb = b.map { Array($0.scalars[(d * 2 * gh + gh)..<((d + 1) * 2 * gh)]) } ?? [Float](repeating: 0, count: gh)
            // Input projections of every step at once: XW[t·batch + n] = x_t,n · Wᵀ + Wb (+ Rb where it is plain).
            var xw = [Float](repeating: 0, count: seq * batch * gh)
            if seq * batch > 0 {
                x.scalars.withUnsafeBufferPointer { px in
                    wd.withUnsafeBufferPointer { pw in
                        xw.withUnsafeMutableBufferPointer { po in
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(seq * batch), Int32(gh), Int32(inSize),
                                        1, px.baseAddress!, Int32(inSize), pw.baseAddress!, Int32(inSize), 0, po.baseAddress!, Int32(gh))
                        }
                    }
                }
            }
            var addBias = wb
            // GRU with linear_before_reset keeps Rb_h inside the reset product.
            for j in 0..<gh where !(a.cell == .gru && a.linearBeforeReset && j >= 2 * h) { addBias[j] += rb[j] }
            for row in 0..<(seq * batch) { for j in 0..<gh { xw[row * gh + j] += addBias[j] } }

            var hPrev = h0.map { Array($0[(d * batch * h)..<((d + 1) * batch * h)]) } ?? [Float](repeating: 0, count: batch * h)
            var cPrev = c0.map { Array($0[(d * batch * h)..<((d + 1) * batch * h)]) } ?? [Float](repeating: 0, count: batch * h)
            var rec = [Float](repeating: 0, count: batch * gh)
            let p = peepholes.map { Array($0.scalars[(d * 3 * h)..<((d + 1) * 3 * h)]) }
            func act(_ k: Int, _ v: inout Float) {
                if let c = a.clip { v = min(max(v, -c), c) }
                var t = v
                withUnsafeMutablePointer(to: &t) { acts[k].apply($0, count: 1) }
                v = t
            }
            for step in 0..<seq {
                // H_prev · Rᵀ for every sample.
                hPrev.withUnsafeBufferPointer { ph in
                    rd.withUnsafeBufferPointer { pr in
                        rec.withUnsafeMutableBufferPointer { po in
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(gh), Int32(h),
                                        1, ph.baseAddress!, Int32(h), pr.baseAddress!, Int32(h), 0, po.baseAddress!, Int32(gh))
                        }
                    }
                }
                for n in 0..<batch where step < lengths[n] {
                    let t = reverse ? lengths[n] - 1 - step : step
                    let g = (t * batch + n) * gh, rr = n * gh, hs = n * h
                    switch a.cell {
                    case .lstm:
                        for j in 0..<h {
                            var gi = xw[g + j] + rec[rr + j]
                            var go = xw[g + h + j] + rec[rr + h + j]
                            var gf = xw[g + 2 * h + j] + rec[rr + 2 * h + j]
                            var gc = xw[g + 3 * h + j] + rec[rr + 3 * h + j]
                            let cp = cPrev[hs + j]
                            if let p { gi += p[j] * cp; gf += p[2 * h + j] * cp }
                            act(0, &gi)
                            if a.inputForget { gf = 1 - gi } else { act(0, &gf) }
                            act(1, &gc)
                            let c = gf * cp + gi * gc
                            if let p { go += p[h + j] * c }
                            act(0, &go)
                            var hc = c
                            withUnsafeMutablePointer(to: &hc) { acts[2].apply($0, count: 1) }
                            cPrev[hs + j] = c
                            hPrev[hs + j] = go * hc
                        }
                    case .gru:
                        var z = [Float](repeating: 0, count: h), rg = z
                        for j in 0..<h {
                            z[j] = xw[g + j] + rec[rr + j]
                            rg[j] = xw[g + h + j] + rec[rr + h + j]
                            act(0, &z[j])
                            act(0, &rg[j])
                        }
                        var hNew = [Float](repeating: 0, count: h)
                        for j in 0..<h {
                            var hh: Float
                            if a.linearBeforeReset {
                                hh = xw[g + 2 * h + j] + rg[j] * (rec[rr + 2 * h + j] + rb[2 * h + j])
                            } else {
                                // (r ⊙ H_prev) · R_hᵀ: not the product computed above.
                                var sum: Float = 0
                                for k in 0..<h { sum += rd[(2 * h + j) * h + k] * (rg[k] * hPrev[hs + k]) }
                                hh = xw[g + 2 * h + j] + sum
                            }
                            act(1, &hh)
                            hNew[j] = (1 - z[j]) * hh + z[j] * hPrev[hs + j]
                        }
                        for j in 0..<h { hPrev[hs + j] = hNew[j] }
                    case .rnn:
                        for j in 0..<h {
                            var v = xw[g + j] + rec[rr + j]
                            act(0, &v)
                            hPrev[hs + j] = v
                        }
                    }
                    let yBase = ((t * dirs + d) * batch + n) * h
                    for j in 0..<h { y[yBase + j] = hPrev[hs + j] }
                }
            }
            for n in 0..<batch {
                for j in 0..<h {
                    yh[(d * batch + n) * h + j] = hPrev[n * h + j]
                    yc[(d * batch + n) * h + j] = cPrev[n * h + j]
                }
            }
        }
        var yT = Tensor(shape: [seq, dirs, batch, h], scalars: y)
        var yhT = Tensor(shape: [dirs, batch, h], scalars: yh), ycT = Tensor(shape: [dirs, batch, h], scalars: yc)
        if a.layout != 0 {
            yT = try transposed(yT, [2, 0, 1, 3])
            yhT = try transposed(yhT, [1, 0, 2])
            ycT = try transposed(ycT, [1, 0, 2])
        }
        return a.cell == .lstm ? [yT, yhT, ycT] : [yT, yhT]
    }

    /// `t` with axes permuted.
    static func transposed(_ t: Tensor, _ perm: [Int]) throws -> Tensor {
        guard case .float(let r) = try transpose(.float(t), perm: perm) else { throw KernelError("transpose failed") }
        return r
    }
}
