import Foundation
import ShrinkBuild
import ShrinkDevice
import ShrinkGraph
import ShrinkTensor

/// Parameters of the device-check stage: what to measure and verify, and with which tools.
struct DeviceCheckParameters: Codable, Sendable {
    /// The device profile the library is measured for (`cortex-m4`).
    var device: String
    /// Where to verify the library (`target.verify`); nil only measures.
    var verify: VerifyTarget?
    /// The evaluation data the library is verified on (its blobs are the `data.*` inputs).
    var data: DataRef?
    /// The tools found on PATH (gcc, arm-none-eabi-gcc, arm-none-eabi-size, qemu-system-arm; `-`
    /// for a missing one): installing the toolchain changes the key, so a notice "not found" is
    /// not kept in the cache once the tools are there.
    var tools: [String]

    /// The tools of this machine, as parameters carry them.
    static func tools(_ t: Toolchain) -> [String] { [t.gcc, t.armGCC, t.armSize, t.qemu].map { $0 ?? "-" } }
}

/// What the device-check stage found (its `check` output).
struct DeviceCheck: Codable, Sendable {
    /// `arm-none-eabi-size` of the library compiled for the device; nil without the toolchain.
    var measured: MeasuredSize?
    /// The library against the engine (`target.verify`).
    var verification: Verification?
}

extension StageFactory {
    /// The device-check stage of a target: after its quantize stage.
    func deviceCheck(identity: String, quantize: String, export: String, parameters: DeviceCheckParameters) -> WorkflowStage<DeviceCheckStage> {
        var inputs: [String: StageInput] = ["library": .output(of: quantize, named: "library"),
                                            "model": .output(of: quantize, named: "model"), "onnx": .output(of: export, named: "onnx")]
        if let data = parameters.data { inputs.merge(data.inputs) { a, _ in a } }
        return WorkflowStage(identity: identity, parameters: parameters, inputs: inputs)
    }
}

/// Compiles the exported C library for the device and measures it (`arm-none-eabi-size`), and with
/// `verify` compiles it for the host or the emulated Cortex-M4 and compares its outputs with the
/// engine's — cached, so a warm run compiles nothing. A library that disagrees with the engine
/// fails the stage (our bug: exit 3); a missing tool for `verify` is the user's to install (exit 2).
enum DeviceCheckStage: WorkflowStageKind {
    static var name: String { "device-check" }
    static var version: Int { StageVersion.deviceCheck }

    static func run(_ p: DeviceCheckParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let library = try JSONDecoder().decode(CLibrary.self, from: try ctx.data("library"))
        let model = try JSONDecoder().decode(DeviceModel.self, from: try ctx.data("model"))
        guard let profile = DeviceProfile.named(p.device) else { throw PipelineError.internalError("unknown device \(p.device)") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-device-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let runner = DeviceRunner(workDirectory: work)
        var check = DeviceCheck()
        do {
            if runner.toolchain.armGCC != nil, runner.toolchain.armSize != nil {
                check.measured = try runner.measure(library, device: profile)
            }
            if let verify = p.verify, let data = p.data {
                let inputs = try ArtifactMemo.shared.dataset(data, store: ctx.store).inputs
                // Float libraries are compared with the exported (float32) model run by the runtime.
                let reference = model.isInt8 ? Graph() : try ArtifactMemo.shared.graph(try ctx.digest(of: "onnx"), store: ctx.store)
                let v = try DeviceVerifier.verify(library, model: model, reference: reference, inputs: inputs, target: verify, runner: runner)
                guard v.passed else {
                    throw PipelineError.internalError("the exported C library disagrees with the engine on \(v.differing) of \(v.elements) outputs (\(verify.rawValue)); please report this model")
                }
                check.verification = v
            }
        } catch let error as DeviceError {
            throw DeviceWork.pipelineError(error)
        }
        return ["check": try LayerWork.jsonEncoder.encode(check)]
    }
}
