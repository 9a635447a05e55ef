import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// What to build for the device.
public struct DeviceOptions: Sendable, Codable, Equatable, Hashable {
    /// Quantise to int8 (else the float32 library).
    public var int8: Bool
    /// How activation ranges are calibrated (int8 only).
    public var calibration: CalibrationMethod

    /// Options; int8 with min/max calibration by default.
    public init(int8: Bool = true, calibration: CalibrationMethod = .minMax) {
        self.int8 = int8
        self.calibration = calibration
    }
}

/// The entry points a caller (the `shrink device` command, a pipeline stage) uses: value types
/// in, value types out, no files and no printing.
///
/// ```swift
/// let model = try DeviceCompiler.prepare(graph, calibration: calib.inputs, options: DeviceOptions())
/// let library = try CExporter.export(model)                  // C sources as values
/// let budget = DeviceBudget.compute(model, device: .cortexM4) // flash/RAM per layer
/// if case .int8(let q) = model {
///     let qdq = QDQWriter.graph(q)                            // QDQ ONNX for onnxruntime
///     let logits = try IntegerEngine(q).run(floats: val.inputs) // what the device computes
/// }
/// ```
public enum DeviceCompiler {
    /// Lowers `graph` and, for int8, calibrates on `calibration` ([N, …] float32 samples) and
    /// quantises. Throws `.unsupportedModel` listing every problem of the model at once, and
    /// `.invalidInput` for missing or ill-shaped calibration data. An input declared with
    /// symbolic dimensions (an image of any size) takes `sampleShape` (one sample), else the
    /// calibration data's.
    public static func prepare(_ graph: Graph, calibration: Tensor?, options: DeviceOptions,
                               threads: Int = 1, sampleShape: [Int]? = nil) throws(DeviceError) -> DeviceModel {
        let symbolic = graph.dataInputs.first?.shape?.dropFirst().contains { $0.fixed == nil } ?? false
        let shape = sampleShape ?? calibration.map { Array($0.shape.dropFirst()) }
        let device = try DeviceGraph.lower(graph, inputShape: symbolic ? shape : nil)
        guard options.int8 else { return .float(device) }
        guard let calibration else {
            throw DeviceError(.invalidInput, "int8 quantisation needs calibration data", hint: "give --calibration calib.npz")
        }
        let ranges = try Calibration.run(model: graph, device: device, inputs: calibration, method: options.calibration,
                                         threads: threads)
        return .int8(try Quantizer.quantize(device, calibration: ranges))
    }
}

/// Where a library is checked.
public enum VerifyTarget: String, Sendable, Codable, CaseIterable {
    /// Compiled with the host's gcc.
    case host
    /// Cross-compiled for Cortex-M4 and run on QEMU's mps2-an386.
    case qemu
}

/// How a compiled library's outputs compare with the engine's on the same samples.
public struct Verification: Sendable, Codable, Equatable {
    /// Where it ran.
    public var target: VerifyTarget
    /// Samples run.
    public var samples: Int
    /// True for an int8 library (exact comparison), false for float32 (relative tolerance).
    public var int8: Bool
    /// Output elements compared.
    public var elements: Int
    /// Output elements that differ from the engine (int8), or exceed the tolerance (float32).
    public var differing: Int
    /// The largest difference: int8 steps, or for float32 the largest |C − engine| divided by the
    /// sample's largest |engine| output.
    public var maxDifference: Double
    /// Samples whose largest output (top-1 class) is the engine's.
    public var top1Agreement: Double
    /// int8 libraries on the host: output elements of the float entry point (`shrink_model_run`)
    /// whose quantised value differs from the engine's on the float input.
    public var floatEntryDiffering: Int?
    /// The relative tolerance of float32 libraries.
    public static let floatTolerance = 1e-4

    /// True when the library computes what the engine computes.
    public var passed: Bool { differing == 0 && (floatEntryDiffering ?? 0) == 0 }
}

/// Runs a compiled library and the engine on the same samples and compares.
public enum DeviceVerifier {
    /// Checks `library` (exported from `model`) on `inputs` ([N, …] float32): int8 libraries
    /// against the `IntegerEngine` exactly (the int8 entry point on the engine's quantised
    /// inputs, and on the host also the float entry point); float32 libraries against the
    /// runtime on `reference` (the ONNX model) within 1e-4 relative. `floatEntrySamples` limits
    /// the float entry point's check to the first samples (nil: all).
    public static func verify(_ library: CLibrary, model: DeviceModel, reference: Graph, inputs: Tensor,
                              target: VerifyTarget, runner: DeviceRunner,
                              floatEntrySamples: Int? = nil) throws(DeviceError) -> Verification {
        let n = inputs.shape.first ?? 0
        guard n > 0, Array(inputs.shape.dropFirst()) == model.input.shape else {
            throw DeviceError(.invalidInput, "the data has shape \(inputs.shape) but the model takes [N, \(model.input.shape.map(String.init).joined(separator: ", "))]")
        }
        switch model {
        case .int8(let q):
            let engine = IntegerEngine(q)
            let xq = engine.quantizeInput(inputs)
            let expected = try engine.run(xq)
            let binary = target == .host ? try runner.buildHost(library) : nil
            let got: Int8Tensor
            if let binary { got = try runner.run(binary, int8: xq) } else { got = try runner.runQEMU(library, int8: xq) }
            var v = compare(got.values.map { Double($0) }, expected.values.map { Double($0) }, samples: n, target: target, int8: true)
            if let binary {
                let m = min(n, floatEntrySamples ?? n)
                let per = inputs.count / n
                let floats = try runner.run(binary, float: m == n ? inputs
                                                : Tensor(shape: [m] + inputs.shape.dropFirst(), scalars: Array(inputs.scalars.prefix(m * per))))
                let oq = q.outputQuantization
                var diff = 0
                for (i, y) in floats.scalars.enumerated() {
                    let back = Int32((y / oq.scale).rounded()) + oq.zeroPoint
                    if back != Int32(expected.values[i]) { diff += 1 }
                }
                v.floatEntryDiffering = diff
            }
            return v
        case .float:
            let session: Session
            do { session = try Session(graph: reference, options: SessionOptions(threads: 1)) } catch {
                throw DeviceError(.unsupportedModel, "\(error)")
            }
            let expected: Tensor
            do {
                guard let out = try session.run(from: [model.input.name: inputs], outputs: [model.output.name])[model.output.name] else {
                    throw DeviceError(.verificationFailed, "the runtime returned no '\(model.output.name)'")
                }
                expected = out
            } catch let e as DeviceError {
                throw e
            } catch {
                throw DeviceError(.verificationFailed, "the runtime failed on the data: \(error)")
            }
            let got = target == .host ? try runner.runHost(library, float: inputs) : try runner.runQEMU(library, float: inputs)
            return compare(got.scalars.map { Double($0) }, expected.scalars.map { Double($0) }, samples: n, target: target, int8: false)
        }
    }

    static func compare(_ got: [Double], _ expected: [Double], samples n: Int, target: VerifyTarget, int8: Bool) -> Verification {
        let per = expected.count / max(n, 1)
        var differing = 0, agree = 0
        var maxDiff = 0.0
        for s in 0..<n {
            let g = got[(s * per)..<((s + 1) * per)], e = expected[(s * per)..<((s + 1) * per)]
            let scale = int8 ? 1 : max(e.map(abs).max() ?? 0, 1e-30)
            for (a, b) in zip(g, e) {
                let d = abs(a - b) / scale
                maxDiff = max(maxDiff, d)
                if int8 ? d != 0 : d > Verification.floatTolerance { differing += 1 }
            }
            if argmax(g) == argmax(e) { agree += 1 }
        }
        if got.count != expected.count { differing = max(differing, 1) }
        return Verification(target: target, samples: n, int8: int8, elements: expected.count, differing: differing,
                            maxDifference: maxDiff, top1Agreement: Double(agree) / Double(max(n, 1)), floatEntryDiffering: nil)
    }

    static func argmax(_ v: ArraySlice<Double>) -> Int {
        var best = v.startIndex
        for i in v.indices where v[i] > v[best] { best = i }
        return best - v.startIndex
    }
}
