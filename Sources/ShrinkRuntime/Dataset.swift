import Foundation
import ShrinkTensor

/// A data file that cannot be used, naming the file and what to change.
public struct DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file concerned, when known (as the user gave it).
    public var file: String?
    /// What is wrong.
    public var message: String
    /// A new error.
    public init(file: String?, message: String) { self.file = file; self.message = message }
    /// `file: message`.
    public var description: String { file.map { "\($0): \(message)" } ?? message }
}

/// What a dataset's inputs are compared against.
public enum DatasetTargets: Sendable, Equatable {
    /// Integer class labels, one per sample (top-1/top-5).
    case classes([Int64])
    /// Reference outputs, [N, …] (mse).
    case values(Tensor)
    /// No targets (inference only).
    case none

    /// Targets of samples `range`.
    public func slice(_ range: Range<Int>) -> DatasetTargets {
        switch self {
        case .classes(let l): return .classes(Array(l[range]))
        case .values(let t):
            let n = t.shape.first ?? 0
            let per = n > 0 ? t.count / n : 0
            var shape = t.shape
            shape[0] = range.count
            return .values(Tensor(shape: shape, scalars: Array(t.scalars[(range.lowerBound * per)..<(range.upperBound * per)])))
        case .none: return .none
        }
    }
}

/// A further model input fed from the same `.npz` as the first: the array named like the input.
public struct SideInput: Sendable {
    /// The array as stored (integers as float32, like the main input).
    public var values: Tensor
    /// The axis holding one entry per sample: the first axis as long as the file's sample count
    /// (`[N, …]`, or `[2, N, 64]` for a recurrent state); nil when none is, so every sample
    /// shares the whole array (a sample rate).
    public var sampleAxis: Int?

    /// The entries of samples `indices` along the sample axis (the whole array when shared).
    public func selecting(_ indices: some Collection<Int>) -> Tensor {
        guard let axis = sampleAxis else { return values }
        let outer = values.shape[..<axis].reduce(1, *)
        let n = values.shape[axis]
        let inner = values.shape[(axis + 1)...].reduce(1, *)
        var scalars = [Float]()
        scalars.reserveCapacity(outer * indices.count * inner)
        values.scalars.withUnsafeBufferPointer { v in
            for o in 0..<outer {
                for i in indices { scalars.append(contentsOf: v[((o * n + i) * inner)..<((o * n + i + 1) * inner)]) }
            }
        }
        var shape = values.shape
        shape[axis] = indices.count
        return Tensor(shape: shape, scalars: scalars)
    }
}

/// Samples from NumPy files: float32 inputs [N, …] and optional targets.
public struct Dataset: Sendable {
    /// Where the inputs came from, for messages (`val.npz`, or the `.npy` path).
    public var source: String
    /// The key or file the inputs came from (`x`).
    public var inputName: String
    /// Inputs, [N, …] float32.
    public var inputs: Tensor
    /// Targets, aligned with the inputs.
    public var targets: DatasetTargets
    /// The key the targets came from (`y`, or `targets` for a separate `.npy`), for messages.
    public var targetName: String
    /// The file the targets came from when it is not `source` (a separate `.npy`).
    public var targetFile: String?
    /// Each sample's index in the file, when this is a selection of the file's samples (a part
    /// of a split); messages name samples by these. Nil: sample i is the file's i-th.
    public var fileIndices: [Int]?
    /// How many samples the file holds, when this is a selection of them.
    public var fileSampleCount: Int?
    /// The file's other arrays, by name: a model with several inputs takes each further input
    /// from the array named like it (`feeds(primary:)`).
    public var sideInputs: [String: SideInput] = [:]

    /// Number of samples.
    public var count: Int { inputs.shape.first ?? 0 }

    /// A dataset from tensors already in memory.
    public init(inputs: Tensor, targets: DatasetTargets = .none, source: String = "data", inputName: String = "x",
                targetName: String = "y") throws(DatasetError) {
        guard inputs.rank >= 1 else { throw DatasetError(file: source, message: "\(inputName) must have a leading sample axis, got a scalar") }
        let n = inputs.shape[0]
        switch targets {
        case .classes(let l) where l.count != n:
            throw DatasetError(file: source, message: "\(l.count) labels for \(n) samples in \(inputName)")
        case .values(let t) where t.shape.first != n:
            throw DatasetError(file: source, message: "targets of shape \(t.shape) for \(n) samples in \(inputName)")
        default: break
        }
        self.inputs = inputs; self.targets = targets; self.source = source; self.inputName = inputName
        self.targetName = targetName
        self.targetFile = nil
    }

    /// Reads an `.npz` with inputs under `inputKey` and targets under `targetKey` (nil: none).
    /// uint8 inputs need `scale` (e.g. 1/255), so a raw image file is never silently fed as 0…255.
    public static func load(npz path: String, inputKey: String = "x", targetKey: String? = "y",
                            scale: Float? = nil) throws(DatasetError) -> Dataset {
        let arrays: [String: NumPyArray]
        do { arrays = try NPZ.read(URL(fileURLWithPath: path)) } catch {
            throw DatasetError(file: path, message: "cannot read NumPy archive: \(Self.reason(error))")
        }
        let name = (path as NSString).lastPathComponent
        guard let x = arrays[inputKey] else {
            throw DatasetError(file: name, message: "no array '\(inputKey)' (it holds \(Self.keyList(arrays)))")
        }
        var targets = DatasetTargets.none
        if let targetKey {
            guard let y = arrays[targetKey] else {
                throw DatasetError(file: name, message: "no array '\(targetKey)' (it holds \(Self.keyList(arrays)))")
            }
            targets = try Self.targets(y, source: name, key: targetKey)
        }
        var d = try Dataset(inputs: try Self.inputs(x, source: name, key: inputKey, scale: scale), targets: targets,
                            source: name, inputName: inputKey, targetName: targetKey ?? "y")
        for (key, a) in arrays where key != inputKey && key != targetKey {
            // Converted now (the file is read once), checked when a model input takes it.
            let t = Self.float32(a)
            d.sideInputs[key] = SideInput(values: t, sampleAxis: t.shape.firstIndex(of: d.count))
        }
        return d
    }

    /// Reads inputs and (optionally) targets from two `.npy` files.
    public static func load(inputs inputPath: String, targets targetPath: String?, scale: Float? = nil) throws(DatasetError) -> Dataset {
        func read(_ p: String) throws(DatasetError) -> NumPyArray {
            do { return try NPY.read(URL(fileURLWithPath: p)) } catch {
                throw DatasetError(file: p, message: "cannot read NumPy file: \(Self.reason(error))")
            }
        }
        let name = (inputPath as NSString).lastPathComponent
        let x = try Self.inputs(try read(inputPath), source: name, key: "inputs", scale: scale)
        let targetFile = targetPath.map { ($0 as NSString).lastPathComponent }
        let t = try targetPath.map { p throws(DatasetError) in
            try Self.targets(try read(p), source: targetFile ?? p, key: "targets")
        } ?? DatasetTargets.none
        var d = try Dataset(inputs: x, targets: t, source: name, inputName: "inputs", targetName: "targets")
        d.targetFile = targetFile
        return d
    }

    /// The first keys of an archive, for messages (an archive may hold thousands).
    static func keyList(_ arrays: [String: NumPyArray]) -> String {
        let keys = arrays.keys.sorted()
        return keys.prefix(20).joined(separator: ", ") + (keys.count > 20 ? ", … (\(keys.count) arrays)" : "")
    }

    static func reason(_ error: Error) -> String {
        if let e = error as? NumPyError { return e.message }
        return "\(error)"
    }

    /// `a` as float32: float64 (NumPy's default) rounded, integers (token ids; exact up to 2^24,
    /// converted back to int64 for integer model inputs) and uint8 as their values.
    static func float32(_ a: NumPyArray) -> Tensor {
        switch a.dtype {
        case .float32: return a.tensor()
        case .float64, .uint8: return Tensor(shape: a.shape, scalars: a.floats())
        case .int64, .int32, .bool: return Tensor(shape: a.shape, scalars: (a.integersIfIntegral() ?? []).map { Float($0) })
        }
    }

    static func inputs(_ a: NumPyArray, source: String, key: String, scale: Float?) throws(DatasetError) -> Tensor {
        if a.dtype == .uint8, scale == nil {
            throw DatasetError(file: source, message: "\(key) is uint8; give a scale (e.g. 1/255) to convert it to float32")
        }
        if [.int64, .int32, .bool].contains(a.dtype),
           let big = (a.integersIfIntegral() ?? []).first(where: { $0 > 1 << 24 || $0 < -(1 << 24) }) {
            throw DatasetError(file: source, message: "\(key) holds the integer \(big), beyond what Shrink carries exactly (|x| ≤ 2^24)")
        }
        var t = Self.float32(a)
        if let scale {
            guard scale.isFinite else { throw DatasetError(file: source, message: "the scale \(scale) is not a finite number") }
            t.scalars.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] *= scale } }
        }
        try requireFinite(t, source: source, key: key, converted: a.dtype == .float64 || scale != nil)
        return t
    }

    /// Throws unless every element of `t` is finite: a NaN or infinity in the data would make
    /// every output NaN, and every comparison with it false. The message names the first one.
    public static func requireFinite(_ t: Tensor, source: String, key: String, converted: Bool = false) throws(DatasetError) {
        guard let bad = t.scalars.firstIndex(where: { !$0.isFinite }) else { return }
        let total = t.scalars.count(where: { !$0.isFinite })
        let value = t.scalars[bad]
        let what = value.isNaN ? "NaN" : value > 0 ? "+inf" : "-inf"
        let more = total > 1 ? " (and \(total - 1) more non-finite value\(total == 2 ? "" : "s"))" : ""
        let origin = converted && !value.isNaN ? " after conversion to float32" : ""
        throw DatasetError(file: source, message: "\(key)\(indexText(bad, shape: t.shape)) is \(what)\(origin)\(more); "
            + "the data must be finite numbers — fix or drop those samples")
    }

    /// `[i, j, k]` for flat index `flat` of an array of `shape` (C order).
    static func indexText(_ flat: Int, shape: [Int]) -> String {
        guard !shape.isEmpty, !shape.contains(0) else { return "[\(flat)]" }
        var rest = flat
        var index = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return "[" + index.map(String.init).joined(separator: ", ") + "]"
    }

    /// Throws unless every class label is in `0..<classes` (the model's score count). The
    /// message names the file, the labels array, the first bad index and its value.
    public func checkLabels(classes: Int) throws(DatasetError) {
        guard case .classes(let labels) = targets else { return }
        guard let i = labels.firstIndex(where: { $0 < 0 || $0 >= Int64(classes) }) else { return }
        let total = labels.count(where: { $0 < 0 || $0 >= Int64(classes) })
        let more = total > 1 ? " (\(total) of the \(labels.count) labels are out of range)" : ""
        throw DatasetError(file: targetFile ?? source, message: "\(targetName)[\(fileIndices?[i] ?? i)] is \(labels[i]), but the model scores \(classes) "
            + "class\(classes == 1 ? "" : "es") (labels 0…\(max(classes - 1, 0)))\(more); check that the labels belong to this model")
    }

    static func targets(_ a: NumPyArray, source: String, key: String) throws(DatasetError) -> DatasetTargets {
        switch a.dtype {
        case .int64, .int32, .uint8:
            guard a.shape.count == 1 else {
                throw DatasetError(file: source, message: "labels \(key) must be one integer per sample, got shape \(a.shape)")
            }
            return .classes(a.integersIfIntegral() ?? [])
        case .float32:
            let t = a.tensor()
            try requireFinite(t, source: source, key: key, converted: false)
            return .values(t)
        default:
            throw DatasetError(file: source, message: "\(key) has dtype \(a.dtype); labels must be int64, int32 or uint8 (or float32 reference outputs)")
        }
    }

    /// The first `n` samples (all when n ≥ count).
    public func prefix(_ n: Int) -> Dataset {
        let k = min(max(0, n), count)
        var d = self
        d.fileIndices = fileIndices.map { Array($0.prefix(k)) }
        d.inputs = slice(0..<k)
        d.targets = targets.slice(0..<k)
        d.sideInputs = sideInputs.mapValues { SideInput(values: $0.selecting(0..<k), sampleAxis: $0.sampleAxis) }
        return d
    }

    /// Inputs of samples `range` as one tensor.
    public func slice(_ range: Range<Int>) -> Tensor {
        let per = count > 0 ? inputs.count / count : 0
        var shape = inputs.shape
        shape[0] = range.count
        return Tensor(shape: shape, scalars: Array(inputs.scalars[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    /// One batch: a range of samples, their inputs and targets.
    public struct Batch: Sendable {
        /// Sample indices in the dataset.
        public var range: Range<Int>
        /// Inputs, [range.count, …].
        public var inputs: Tensor
        /// Targets of these samples.
        public var targets: DatasetTargets
        /// The data set's further arrays, whole (shared storage): only those a session takes
        /// are cut to this batch, when fed.
        var sides: [String: SideInput] = [:]

        /// The further input `name` for these samples (see `Dataset.sideInputs`).
        public func sideInput(_ name: String) -> Tensor? { sides[name]?.selecting(range) }

        /// Everything to feed `session` for this batch: the inputs as `primary`, and each further
        /// data input of the session from the array of its name.
        public func feeds(primary: String, session: Session) -> [String: Tensor] {
            var f = [primary: inputs]
            for input in session.inputs where input.name != primary {
                if let v = sideInput(input.name) { f[input.name] = v }
            }
            return f
        }
    }

    /// The dataset in consecutive batches of `size` samples (the last may be smaller).
    public func batches(size: Int) -> some Sequence<Batch> {
        let s = max(1, size)
        // Lazy, so only one batch is copied out at a time.
        return stride(from: 0, to: count, by: s).lazy.map { lo in
            let r = lo..<min(lo + s, count)
            return Batch(range: r, inputs: slice(r), targets: targets.slice(r), sides: sideInputs)
        }
    }

    /// Throws unless the file holds an array for each of `names`, the model's data inputs after
    /// `primary` (which the inputs feed), naming every missing one at once.
    public func requireSideInputs(_ names: [String], primary: String) throws(DatasetError) {
        let missing = names.filter { sideInputs[$0] == nil }
        guard !missing.isEmpty else { return }
        let held = ([inputName] + sideInputs.keys.sorted()).joined(separator: ", ")
        throw DatasetError(file: source, message: "the model's input '\(primary)' is fed from \(inputName), and each further input from the array of "
            + "its name, but there is no \(missing.map { "'\($0)'" }.joined(separator: ", ")) (it holds \(held)); "
            + (source.hasSuffix(".npy") ? "give the data as one .npz holding x and an array per further input"
                : "add \(missing.count == 1 ? "that array" : "those arrays") to the file"))
    }

    /// Checks that the inputs fit the session's input `name`, and that every further data input
    /// of the session has a finite array of its name that fits it, before anything runs; returns
    /// this data set with only the arrays the model takes as side inputs.
    @discardableResult
    public func check(fits session: Session, input name: String) throws(DatasetError) -> Dataset {
        do { try session.validate(shape: inputs.shape, forInput: name) } catch {
            // The file's shape, not the part's: the user sees the file.
            let shape = [fileSampleCount ?? count] + inputs.shape.dropFirst()
            throw DatasetError(file: source, message: "\(inputName) has shape \(shape) but model input '\(name)' expects \(session.declaredShape(of: name) ?? "?")")
        }
        let others = session.inputs.map(\.name).filter { $0 != name }
        try requireSideInputs(others, primary: name)
        var d = self
        d.sideInputs = sideInputs.filter { others.contains($0.key) }
        for other in others {
            let side = d.sideInputs[other]!
            try Self.requireFinite(side.values, source: source, key: other)
            // One sample's worth, as a batch of one would be fed.
            let probe = side.selecting(0..<min(1, count))
            do { try session.validate(shape: probe.shape, forInput: other) } catch {
                let axis = side.sampleAxis.map { "its axis \($0) holds the samples" } ?? "no axis is \(fileSampleCount ?? count) long, so every sample shares it"
                throw DatasetError(file: source, message: "\(other) has shape \(side.values.shape) (\(axis)) but model input '\(other)' expects "
                    + "\(session.declaredShape(of: other) ?? "?"); give one entry per sample along the model's batch axis, or the one array all samples share")
            }
        }
        return d
    }
}
