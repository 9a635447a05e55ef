import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkTensor
import Testing

/// Flash and RAM computed from the model against arm-none-eabi-size of the compiled library.
@Suite struct BudgetTests {
    @Test func lenetBudgetAddsUp() throws {
        let e = try Example.lenet.get()
        let b = DeviceBudget.compute(.int8(e.int8), device: .cortexM4)
        let fc1 = try #require(b.layers.first { $0.name == "fc1" })
        // 400,000 int8 weights, 500 int32 biases, per-tensor requantisation inside the 40-byte struct.
        #expect(fc1.weightBytes == 400_000 && fc1.biasBytes == 2_000 && fc1.quantizationBytes == 0 && fc1.parameterBytes == 40)
        let conv2 = try #require(b.layers.first { $0.name == "conv2" })
        #expect(conv2.weightBytes == 25_000 && conv2.biasBytes == 200 && conv2.quantizationBytes == 400 && conv2.macs == 1_600_000)
        #expect(b.macs == 2_293_000)
        // Each kernel's code is counted once, whatever the number of layers using it.
        #expect(Set(b.kernelCode.keys) == ["conv", "max_pool", "fully_connected"])
        // The arena holds the largest pair of tensors live at once: conv1's output and the pooled map.
        #expect(b.arenaBytes == 11_520 + 2_880 && b.ram == b.arenaBytes)
        let f = DeviceBudget.compute(.float(e.float), device: .cortexM4)
        #expect(f.constantBytes > 4 * 431_000 && f.arenaBytes == 4 * b.arenaBytes)
    }

    /// The budget of an int8 library computed from the float graph's structure alone (what a
    /// search prices every candidate with) is the quantised model's, field for field; and its
    /// flash split into parts that add over layers gives the same bytes.
    @Test(arguments: ["lenet-mnist", "dscnn-mnist", "ops2d", "ops1d"]) func structureAloneGivesTheQuantisedBudget(name: String) throws {
        let e = try Example.named(name)
        for device in DeviceProfile.all {
            let quantised = DeviceBudget.compute(.int8(e.int8), device: device)
            #expect(DeviceBudget.compute(structureOf: e.float, int8: true, device: device) == quantised)
            #expect(DeviceBudget.compute(structureOf: e.float, int8: false, device: device) == DeviceBudget.compute(.float(e.float), device: device))
            #expect(FlashParts(quantised, device: device, int8: true).flash(device: device, int8: true) == quantised.flash)
            let float = DeviceBudget.compute(.float(e.float), device: device)
            #expect(FlashParts(float, device: device, int8: false).flash(device: device, int8: false) == float.flash)
        }
    }

    /// Computed flash and RAM agree with the measured library within 5 % on both devices.
    @Test(arguments: ["lenet-mnist", "dscnn-mnist", "ops2d", "ops1d"]) func computedAgreesWithMeasured(name: String) throws {
        _ = try requiredToolchain()
        let e = try Example.named(name)
        let dir = scratchDirectory("size-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = DeviceRunner(workDirectory: dir)
        var cases: [(DeviceModel, DeviceProfile)] = DeviceProfile.all.map { (.int8(e.int8), $0) }
        if name != "lenet-mnist" { cases.append((.float(e.float), .cortexM4)) }   // lenet's 1.7 MB of float weights compile slowly
        for (model, device) in cases {
            let check = BudgetCheck(computed: DeviceBudget.compute(model, device: device),
                                    measured: try runner.measure(try CExporter.export(model), device: device))
            let m = try #require(check.measured)
            print(String(format: "%@ %@ %@: flash computed %d measured %d (%+.2f %%), ram computed %d measured %d", name,
                         model.isInt8 ? "int8" : "float32", device.name, check.computed.flash, m.flash, (check.flashError ?? 0) * 100,
                         check.computed.ram, m.ram))
            #expect(check.agrees)
            #expect(m.ram == check.computed.ram)
        }
    }
}
