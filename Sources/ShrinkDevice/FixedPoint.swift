import Foundation

/// A real multiplier as TFLite and CMSIS-NN represent it: `multiplier · 2^(shift − 31)`, with
/// `multiplier` in [2^30, 2^31) (or 0) and `shift` positive to the left.
public struct Requantization: Sendable, Codable, Equatable, Hashable {
    /// The Q31 mantissa.
    public var multiplier: Int32
    /// The power of two: > 0 shifts left before the multiply, < 0 rounds right after it.
    public var shift: Int32

    /// A multiplier and shift as given.
    public init(multiplier: Int32, shift: Int32) {
        self.multiplier = multiplier
        self.shift = shift
    }

    /// TFLite's `QuantizeMultiplier`: `frexp`, the mantissa rounded half away from zero to Q31,
    /// a mantissa that rounds up to 2^31 halved, shifts below −31 flushed to zero. Computed in
    /// Double from float32 scales, once, in Swift; the C export and the engine share the result.
    public init(_ real: Double) {
        guard real > 0, real.isFinite else {
            self.init(multiplier: 0, shift: 0)
            return
        }
        let e = real.exponent + 1            // real = q · 2^e with q in [0.5, 1)
        let q = real.significand / 2
        var fixed = Int64((q * Double(1 << 31)).rounded(.toNearestOrAwayFromZero))
        var shift = e
        if fixed == 1 << 31 {
            fixed /= 2
            shift += 1
        }
        if shift < -31 {
            fixed = 0
            shift = 0
        }
        self.init(multiplier: Int32(fixed), shift: Int32(clamping: shift))
    }

    /// The real number represented.
    public var real: Double { Double(multiplier) * pow(2, Double(shift) - 31) }
}

/// The integer arithmetic of CMSIS-NN's reference kernels (the default, double-rounding
/// `arm_nn_requantize`), in Swift. The emitted C does the same operations; tests check both on
/// the same values.
public enum FixedPoint {
    /// `arm_nn_doubling_high_mult_no_sat`: (a·b + 2^30) >> 31, rounding half up.
    @inline(__always)
    public static func doublingHighMultiply(_ a: Int32, _ b: Int32) -> Int32 {
        let p = Int64(a) * Int64(b) + (1 << 30)
        return Int32(truncatingIfNeeded: p >> 31)
    }

    /// `arm_nn_divide_by_power_of_two`: x / 2^exponent rounded half away from zero.
    @inline(__always)
    public static func divideByPowerOfTwo(_ x: Int32, _ exponent: Int32) -> Int32 {
        let mask = Int32(truncatingIfNeeded: (Int64(1) << Int64(exponent)) - 1)
        let remainder = mask & x
        var result = x >> exponent
        var threshold = mask >> 1
        if result < 0 { threshold += 1 }
        if remainder > threshold { result += 1 }
        return result
    }

    /// `arm_nn_requantize`: x · multiplier · 2^(shift − 31), CMSIS-NN's default rounding
    /// (left shift, doubling high multiply rounding half up, rounding right shift half away).
    @inline(__always)
    public static func requantize(_ x: Int32, _ r: Requantization) -> Int32 {
        let left = r.shift > 0 ? r.shift : 0
        let right = r.shift > 0 ? 0 : -r.shift
        return divideByPowerOfTwo(doublingHighMultiply(x &<< left, r.multiplier), right)
    }

    /// CMSIS-NN's average: sum / count rounded half away from zero (`arm_avgpool_s8`).
    @inline(__always)
    public static func roundedAverage(_ sum: Int32, _ count: Int32) -> Int32 {
        sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count
    }

    /// ONNX `QuantizeLinear` to int8: x / scale in float32, rounded half to even, plus the zero
    /// point, saturated. NaN maps to the zero point. The C float entry point does the same.
    @inline(__always)
    public static func quantize(_ x: Float, scale: Float, zeroPoint: Int32) -> Int8 {
        let v = x / scale
        guard !v.isNaN else { return Int8(clamping: zeroPoint) }
        // Saturate first so the integer conversion is defined (the C code does the same).
        let c = min(max(v, -1024), 1024)
        let r = Int32(c.rounded(.toNearestOrEven))
        return Int8(clamping: r + zeroPoint)
    }

    /// ONNX `DequantizeLinear`: (q − zero point) · scale in float32.
    @inline(__always)
    public static func dequantize(_ q: Int8, scale: Float, zeroPoint: Int32) -> Float {
        Float(Int32(q) - zeroPoint) * scale
    }
}
