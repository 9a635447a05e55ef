import Foundation
@testable import ShrinkDevice
import ShrinkTensor
import Testing

/// The fixed-point arithmetic: TFLite's multiplier encoding, CMSIS-NN's rounding, ONNX
/// QuantizeLinear — on hand-checked values, and the emitted C helpers against the Swift ones.
@Suite struct FixedPointTests {
    @Test func quantizeMultiplierMatchesTFLite() {
        // real = m · 2^(shift − 31), m in [2^30, 2^31).
        #expect(Requantization(0.5) == Requantization(multiplier: 1 << 30, shift: 0))
        #expect(Requantization(1.0) == Requantization(multiplier: 1 << 30, shift: 1))
        #expect(Requantization(0.75) == Requantization(multiplier: 3 << 29, shift: 0))
        #expect(Requantization(0.001) == Requantization(multiplier: 1_099_511_628, shift: -9))
        // A mantissa that rounds up to 2^31 is halved and the shift bumped.
        #expect(Requantization(1 - 1e-12) == Requantization(multiplier: 1 << 30, shift: 1))
        // Below 2^-32 the multiplier is flushed to zero; zero and negatives give zero.
        #expect(Requantization(1e-12) == Requantization(multiplier: 0, shift: 0))
        #expect(Requantization(0) == Requantization(multiplier: 0, shift: 0))
        for r in [0.3, 0.0123, 1.7, 6.5e-5] {
            #expect(abs(Requantization(r).real - r) <= r * 1e-9)
        }
    }

    @Test func cmsisRounding() {
        // Rounding divide by 2^e: half away from zero.
        #expect(FixedPoint.divideByPowerOfTwo(3, 1) == 2)
        #expect(FixedPoint.divideByPowerOfTwo(-3, 1) == -2)
        #expect(FixedPoint.divideByPowerOfTwo(5, 2) == 1)
        #expect(FixedPoint.divideByPowerOfTwo(-5, 2) == -1)
        #expect(FixedPoint.divideByPowerOfTwo(6, 2) == 2)
        #expect(FixedPoint.divideByPowerOfTwo(-6, 2) == -2)
        #expect(FixedPoint.divideByPowerOfTwo(-7, 2) == -2)
        #expect(FixedPoint.divideByPowerOfTwo(Int32.min, 31) == -1)
        // Doubling high multiply: (a·b + 2^30) >> 31, half up.
        #expect(FixedPoint.doublingHighMultiply(1 << 30, 1 << 30) == 1 << 29)
        #expect(FixedPoint.doublingHighMultiply(-3, 1 << 30) == -1)      // −1.5 → −1
        #expect(FixedPoint.doublingHighMultiply(3, 1 << 30) == 2)        // 1.5 → 2
        // requantize(100, 0.75) = 75; (−101, 0.5) = −50.5 → −51 (the right shift rounds away from zero).
        #expect(FixedPoint.requantize(100, Requantization(0.75)) == 75)
        #expect(FixedPoint.requantize(-101, Requantization(0.25)) == -25)
        #expect(FixedPoint.requantize(-202, Requantization(0.25)) == -51)
        #expect(FixedPoint.requantize(7, Requantization(3.0)) == 21)
        // CMSIS-NN's average rounding.
        #expect(FixedPoint.roundedAverage(5, 2) == 3)
        #expect(FixedPoint.roundedAverage(-5, 2) == -3)
        #expect(FixedPoint.roundedAverage(4, 3) == 1)
        #expect(FixedPoint.roundedAverage(-4, 3) == -1)
    }

    @Test func quantizeLinearRoundsHalfToEvenAndSaturates() {
        let q = { (x: Float) in FixedPoint.quantize(x, scale: 1, zeroPoint: 0) }
        #expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 2.5000002].map(q) == [0, 2, 2, 0, -2, -2, 2, 3])
        #expect(q(1000) == 127 && q(-1000) == -128 && q(.infinity) == 127 && q(-.infinity) == -128)
        #expect(FixedPoint.quantize(.nan, scale: 0.1, zeroPoint: -7) == -7)
        #expect(FixedPoint.quantize(0.25, scale: 0.1, zeroPoint: -128) == -126)   // 2.5 → 2
        #expect(FixedPoint.dequantize(-126, scale: 0.5, zeroPoint: -128) == 1)
    }

    @Test func activationQuantizationMatchesTFLite() {
        let relu6 = TensorQuantization(range: ActivationRange(lo: 0, hi: 6))
        #expect(relu6.scale == Float(6.0 / 255.0) && relu6.zeroPoint == -128)
        // [−1, 1]: both ends give −0.5, rounded away from zero to −1 (TFLite's nudging).
        let sym = TensorQuantization(range: ActivationRange(lo: -1, hi: 1))
        #expect(sym.zeroPoint == -1)
        // The range always holds 0.
        let positive = TensorQuantization(range: ActivationRange(lo: 2, hi: 4))
        #expect(positive.zeroPoint == -128 && positive.scale == Float(4.0 / 255.0))
        #expect(TensorQuantization(range: ActivationRange(lo: 0, hi: 0)) == TensorQuantization(scale: 1, zeroPoint: -128))
        // Activation bounds in int8.
        #expect(relu6.range(of: .relu) == ClampRange(min: -128, max: 127))
        let wide = TensorQuantization(range: ActivationRange(lo: -6, hi: 12))
        #expect(wide.range(of: .clip(lo: 0, hi: 6)).min == wide.zeroPoint)
        #expect(wide.range(of: .clip(lo: 0, hi: 6)).max == wide.zeroPoint + Int32((6 / wide.scale).rounded()))
    }

    /// The C helpers (`shrink_requantize`, the input quantisation) compiled with gcc on ~20,000
    /// random and edge-case operands give the Swift results exactly.
    @Test func cHelpersMatchSwift() throws {
        let toolchain = try requiredToolchain()
        let example = try Example.ops2d.get()
        let library = try CExporter.export(.int8(example.int8))
        let dir = scratchDirectory("helpers")
        defer { try? FileManager.default.removeItem(at: dir) }
        try library.write(to: dir)
        var rng = SeededGenerator(seed: 3)
        var cases = [(Int32, Int32, Int32)]()
        for shift in Int32(-31)...Int32(8) {
            for _ in 0..<400 {
                let m = Int32.random(in: (1 << 30)...Int32.max, using: &rng)
                // Left shifts must not overflow (the quantiser guarantees it): keep |x| · 2^shift < 2^31.
                let bound = shift > 0 ? Int32.max >> shift : Int32.max
                let x = [Int32.random(in: -bound...bound, using: &rng), Int32.random(in: -300...300, using: &rng)][Int.random(in: 0...1, using: &rng)]
                cases.append((x, m, shift))
            }
        }
        cases += [(Int32.max, Int32.max, 0), (-Int32.max, Int32.max, -31), (1 << 30, 1 << 30, -1), (-(1 << 30), 1 << 30, -1)]
        let floats: [Float] = (0..<4000).map { _ in Float.random(in: -3...3, using: &rng) }
            + (-600...600).map { Float($0) * 0.5 * example.int8.inputQuantization.scale }   // exact halfway points
            + [0, -0, 1e30, -1e30, .infinity, -.infinity, .nan, .leastNonzeroMagnitude]
        let harness = """
        #include <stdio.h>
        #include "shrink_kernels.c"
        #include "model.c"
        int main(void)
        {
            long x, m, s;
            float f;
            while (scanf(" r %ld %ld %ld", &x, &m, &s) == 3) {
                printf("%ld\\n", (long)shrink_requantize((int32_t)x, (int32_t)m, (int32_t)s));
            }
            while (scanf(" q %a", &f) == 1) {
                printf("%d\\n", (int)shrink_quantize_input(f));
            }
            return 0;
        }
        """
        try harness.write(to: dir.appendingPathComponent("harness.c"), atomically: true, encoding: .utf8)
        let input = cases.map { "r \($0.0) \($0.1) \($0.2)" }.joined(separator: "\n") + "\n"
            + floats.map { "q \(String(format: "%a", Double($0)))" }.joined(separator: "\n") + "\n"
        try input.write(to: dir.appendingPathComponent("input.txt"), atomically: true, encoding: .utf8)
        let gcc = toolchain.gcc!
        let build = try ToolRunner.run(gcc, DeviceRunner.warningFlags + ["-Wno-unused-function", "-O2", "-I", dir.path,
                                             dir.appendingPathComponent("harness.c").path, "-o", dir.appendingPathComponent("h").path],
                                       in: dir, timeout: 120)
        #expect(build.status == 0, "\(build.stderr)")
        let sh = try ToolRunner.run("/bin/sh", ["-c", "\(dir.appendingPathComponent("h").path) < \(dir.appendingPathComponent("input.txt").path)"],
                                    in: dir, timeout: 60)
        let lines = sh.stdout.split(separator: "\n").map { Int($0)! }
        try #require(lines.count == cases.count + floats.count)
        let expected = cases.map { Int(FixedPoint.requantize($0.0, Requantization(multiplier: $0.1, shift: $0.2))) }
            + floats.map { Int(example.int8.inputQuantization.quantize($0)) }
        let wrong = zip(lines, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(wrong.isEmpty, "first mismatches: \(wrong.prefix(5).map { i, p in i < cases.count ? "requantize\(cases[i]) C \(p.0) Swift \(p.1)" : "quantize(\(floats[i - cases.count])) C \(p.0) Swift \(p.1)" })")
    }
}
