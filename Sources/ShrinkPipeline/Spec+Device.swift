import Foundation

/// How activation ranges of an int8 model are calibrated (`quantize: { int8: { calibration: … } }`).
public enum QuantizeCalibration: Sendable, Hashable, Codable {
    /// The smallest and largest value seen (`minmax`, the default).
    case minMax
    /// The (100 − P)-th and P-th percentiles (`{ percentile: P }`, P in (50, 100]).
    case percentile(Double)
}

/// The `quantize` section: post-training int8 quantisation in TFLite's scheme. The quantised model
/// is what the search scores, the final check certifies and the exports write.
public struct QuantizeSpec: Sendable, Hashable, Codable {
    /// How activation ranges come from the calibration data.
    public var calibration: QuantizeCalibration

    /// A quantize section.
    public init(calibration: QuantizeCalibration = .minMax) { self.calibration = calibration }
}

/// A microcontroller the pipeline targets (`target.device`).
public enum DeviceName: String, Sendable, Hashable, Codable, CaseIterable {
    /// Arm Cortex-M4.
    case cortexM4 = "cortex-m4"
    /// Arm Cortex-M7.
    case cortexM7 = "cortex-m7"
}

/// Where the C library is compiled and compared with the engine after export (`target.verify`).
public enum DeviceVerification: String, Sendable, Hashable, Codable, CaseIterable {
    /// The host's gcc: every evaluation sample.
    case host
    /// Cortex-M4 under `qemu-system-arm` (mps2-an386): the first 100 samples.
    case qemu
}

/// The `target` section: the device, its budgets and the check of the exported C library.
public struct DeviceTargetSpec: Sendable, Hashable, Codable {
    /// The device (kernel code sizes and compiler flags).
    public var device: Located<DeviceName>
    /// Flash budget in bytes: constants plus code of the model's library.
    public var flash: Located<Int>?
    /// RAM budget in bytes: the activation arena plus kernel scratch.
    public var ram: Located<Int>?
    /// Compile the exported C library and compare its outputs with the engine's.
    public var verify: Located<DeviceVerification>?

    /// A target section.
    public init(device: Located<DeviceName>, flash: Located<Int>? = nil, ram: Located<Int>? = nil,
                verify: Located<DeviceVerification>? = nil) {
        self.device = device
        self.flash = flash
        self.ram = ram
        self.verify = verify
    }
}
