import Foundation
import ShrinkBuild
import ShrinkDevice
import ShrinkGraph
import ShrinkPipeline
import ShrinkTensor

/// What a run did for the device: `run --json` shows it per target.
public struct DeviceOutcome: Sendable, Codable {
    /// The device profile.
    public var device: String
    /// Whether the library is int8.
    public var int8: Bool
    /// Flash and RAM computed from the model.
    public var flash: Int, ram: Int
    /// Flash and RAM of the original model as a float32 library.
    public var flashBefore: Int?, ramBefore: Int?
    /// The budgets (`target.flash`, `target.ram`).
    public var flashBudget: Int?, ramBudget: Int?
    /// Whether the library fits the budgets (else the target failed and nothing was exported).
    public var withinBudget: Bool
    /// `arm-none-eabi-size` of the compiled library (nil when the toolchain is missing).
    public var measured: MeasuredSize?
    /// The C library's check against the engine (`target.verify`).
    public var verification: Verification?
    /// The metric of the original in int8 and of the chosen model in float32 (int8 pipelines).
    public var int8Baseline: Double?, floatFinal: Double?
}

extension PipelineRunner {
    /// Whether a spec builds for the device (a quantize stage): `quantize`, `target` or `export.c`.
    static func buildsForDevice(_ spec: PipelineSpec) -> Bool {
        spec.quantize != nil || spec.target != nil || spec.export.c != nil
    }

    /// What the select stage needs to search within the device's budgets and rank by its bytes;
    /// nil when the pipeline does not build for a device, or sets no budget and ranks by
    /// parameters or MACs (the search is then the device-free one, and so is its cache key).
    static func deviceSearch(_ spec: PipelineSpec, int8: Bool) -> DeviceSearch? {
        guard buildsForDevice(spec) else { return nil }
        let ranking: DeviceResource? = switch spec.search.objective.value {
        case .flash: .flash
        case .ram: .ram
        case .params, .macs: nil
        }
        guard ranking != nil || spec.target?.flash != nil || spec.target?.ram != nil else { return nil }
        return DeviceSearch(device: deviceName(spec), int8: int8, flashBudget: spec.target?.flash?.value,
                            ramBudget: spec.target?.ram?.value, ranking: ranking)
    }

    /// `cortex-m4` unless `target.device` names another.
    static func deviceName(_ spec: PipelineSpec) -> String { spec.target?.device.value.rawValue ?? DeviceName.cortexM4.rawValue }

    /// The quantisation of a spec as stages carry it; first checks that the model runs on the
    /// device at all, so a model with ops without a kernel fails at once, every one named, at the
    /// pipeline entry that asked for the device.
    func deviceQuantization(_ spec: PipelineSpec, model: Digest, store: Store) throws -> QuantizeParameters? {
        guard Self.buildsForDevice(spec) else { return nil }
        let location = spec.quantize?.location ?? spec.export.c?.location ?? spec.target!.device.location
        do {
            _ = try DeviceGraph.lower(try ArtifactMemo.shared.graph(model, store: store))
        } catch {
            throw PipelineError.invalid("the model cannot run on the device: \(error)", at: location,
                                        hint: "remove `quantize`, `target` and `export.c`, or change the model")
        }
        guard let q = spec.quantize else { return nil }
        let calibration = try dataRef(spec.data.effectiveCalibration, limit: nil, store: store, labels: false)
        return QuantizeParameters(calibration: CalibrationMethod(q.value.calibration), data: calibration)
    }

    /// After a target's stages ran: writes the C library (`export.c`, a folder Shrink owns) and
    /// reports the device-check stage's findings: `arm-none-eabi-size` (a notice without the
    /// toolchain; a warning when the computed flash or RAM is more than 5 % off) and the library's
    /// comparison with the engine (`target.verify`).
    func finishDevice(spec: PipelineSpec, target: String, quantize: StageResult, check: StageResult, selection: Selection, passed: Bool,
                      store: Store, exported: inout [String]) throws -> DeviceOutcome {
        let build = try JSONDecoder().decode(DeviceBuild.self, from: try store.read(try quantize.digest("device")))
        let library = try JSONDecoder().decode(CLibrary.self, from: try store.read(try quantize.digest("library")))
        let report = build.report(selection: selection, flashBudget: spec.target?.flash?.value, ramBudget: spec.target?.ram?.value)
        var outcome = DeviceOutcome(device: build.after.device, int8: build.int8, flash: build.after.flash, ram: build.after.ram,
                                    flashBefore: build.before?.flash, ramBefore: build.before?.ram,
                                    flashBudget: report.flashBudget, ramBudget: report.ramBudget, withinBudget: report.withinBudget,
                                    int8Baseline: selection.int8Baseline, floatFinal: selection.floatMetric)
        if !report.withinBudget {
            options.log("\(target): the model does not fit the device (\(report.budgetProblems.joined(separator: "; ")))")
        }
        if let c = spec.export.c {
            let folder: OwnedDirectory
            do { folder = try OwnedDirectory.claim(c.value) } catch {
                throw PipelineError.invalid("\(error)", at: c.location)
            }
            let shown = relativePath(c.value, from: root)
            do {
                if passed {
                    try folder.synchronize(library.files.mapValues { Data($0.utf8) })
                    exported.append(shown + "/")
                } else {
                    try folder.synchronize([:])
                    options.log("\(target): \(shown)/ holds no library: this run's model was not exported")
                }
            } catch {
                throw PipelineError.internalError("\(error)")
            }
        }
        let found = try JSONDecoder().decode(DeviceCheck.self, from: try store.read(try check.digest("check")))
        outcome.measured = found.measured
        if let measured = found.measured {
            let sizes = BudgetCheck(computed: build.after, measured: measured)
            if !sizes.agrees {
                options.log(String(format: "warning: \(target): computed flash/RAM differ from arm-none-eabi-size by more than 5 %% (flash %+.1f %%, RAM %+.1f %%); please report this model",
                                   (sizes.flashError ?? 0) * 100, (sizes.ramError ?? 0) * 100))
            }
        } else {
            options.log("notice: arm-none-eabi-gcc/arm-none-eabi-size not found: flash and RAM are computed, not measured (install \(Toolchain.packages))")
        }
        if let v = found.verification {
            outcome.verification = v
            options.log("\(target): C library on \(v.target.rawValue): \(v.samples) samples, \(v.differing) of \(v.elements) outputs differ from the engine — \(v.passed ? "OK" : "FAILED")")
        }
        return outcome
    }
}
