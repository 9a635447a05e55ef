import Foundation
import ShrinkTensor

/// The external tools the device checks use, as found on PATH.
public struct Toolchain: Sendable, Equatable {
    /// The host C compiler (`gcc`).
    public var gcc: String?
    /// The Arm cross compiler (`arm-none-eabi-gcc`).
    public var armGCC: String?
    /// `arm-none-eabi-size`.
    public var armSize: String?
    /// `qemu-system-arm`.
    public var qemu: String?

    /// A toolchain with the given paths.
    public init(gcc: String?, armGCC: String?, armSize: String?, qemu: String?) {
        self.gcc = gcc
        self.armGCC = armGCC
        self.armSize = armSize
        self.qemu = qemu
    }

    /// The tools found on PATH.
    public static func detect() -> Toolchain {
        Toolchain(gcc: ToolRunner.locate("gcc"), armGCC: ToolRunner.locate("arm-none-eabi-gcc"),
                  armSize: ToolRunner.locate("arm-none-eabi-size"), qemu: ToolRunner.locate("qemu-system-arm"))
    }

    /// The Debian packages that provide the device tools.
    public static let packages = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"

    func require(_ path: String?, _ name: String) throws(DeviceError) -> String {
        guard let path else {
            throw DeviceError(.toolchainMissing, "\(name) is not installed",
                              hint: "install it (Debian/Ubuntu: apt-get install \(Toolchain.packages), or run scripts/install-deps.sh)")
        }
        return path
    }
}

/// Sizes of the compiled library as `arm-none-eabi-size` reports them, summed over its objects.
public struct MeasuredSize: Sendable, Codable, Equatable {
    /// Code and read-only data.
    public var text: Int
    /// Initialised data (copied from flash to RAM at startup).
    public var data: Int
    /// Zero-initialised data (the arena).
    public var bss: Int
    /// Flash: text + data.
    public var flash: Int { text + data }
    /// RAM: data + bss.
    public var ram: Int { data + bss }
}

/// Builds a `CLibrary` with real compilers and runs it: on the host with `gcc`, on a Cortex-M4
/// under QEMU, and measures it with `arm-none-eabi-size`. Every tool runs under a time limit and
/// is killed by process group when it overruns.
public struct DeviceRunner: Sendable {
    /// The tools.
    public var toolchain: Toolchain
    /// A scratch directory for sources, objects and binaries (created if needed).
    public var workDirectory: URL
    /// Seconds allowed for each compiler run.
    public var compileTimeout: Double = 120
    /// Seconds allowed for a QEMU run.
    public var qemuTimeout: Double = 120

    /// A runner using `toolchain` and `workDirectory`.
    public init(toolchain: Toolchain = .detect(), workDirectory: URL) {
        self.toolchain = toolchain
        self.workDirectory = workDirectory
    }

    /// The strict flags every build of the library uses.
    public static let warningFlags = ["-std=c99", "-Wall", "-Wextra", "-Werror"]

    func prepare(_ library: CLibrary, _ name: String) throws(DeviceError) -> URL {
        let dir = workDirectory.appendingPathComponent(name)
        try library.write(to: dir)
        return dir
    }

    func write(_ text: String, _ url: URL) throws(DeviceError) {
        do { try Data(text.utf8).write(to: url) } catch {
            throw DeviceError(.io, "cannot write (\(error.localizedDescription))", file: url.path)
        }
    }

    func tool(_ exe: String, _ args: [String], timeout: Double, what: String) throws(DeviceError) -> ToolRun {
        let r = try ToolRunner.run(exe, args, in: workDirectory, timeout: timeout)
        if r.timedOut {
            throw DeviceError(.toolchainFailed, "\(what) did not finish within \(Int(timeout)) s and was stopped")
        }
        guard r.status == 0 else {
            let text = (r.stderr + r.stdout).split(separator: "\n").prefix(30).joined(separator: "\n")
            throw DeviceError(.toolchainFailed, "\(what) failed (exit \(r.status)):\n\(text)")
        }
        return r
    }

    // MARK: host

    /// A library compiled for the host with its harness.
    public struct HostBinary: Sendable {
        /// The executable.
        public var path: URL
        /// The library it was built from.
        public var library: CLibrary
    }

    /// Compiles the library and a harness with `gcc -std=c99 -Wall -Wextra -Werror -pedantic -O2`.
    public func buildHost(_ library: CLibrary) throws(DeviceError) -> HostBinary {
        let gcc = try toolchain.require(toolchain.gcc, "gcc")
        let dir = try prepare(library, "host-lib")
        let harness = workDirectory.appendingPathComponent("host_harness.c")
        try write(Harness.host(int8: library.isInt8), harness)
        let binary = workDirectory.appendingPathComponent("host_model")
        _ = try tool(gcc, Self.warningFlags + ["-pedantic", "-O2", "-I", dir.path]
                        + library.sources.map { dir.appendingPathComponent($0).path }
                        + [harness.path, "-o", binary.path], timeout: compileTimeout, what: "gcc (host build)")
        return HostBinary(path: binary, library: library)
    }

    /// Runs the int8 entry point on every sample of `inputs` (ONNX layout) and returns the outputs.
    public func run(_ binary: HostBinary, int8 inputs: Int8Tensor) throws(DeviceError) -> Int8Tensor {
        guard binary.library.isInt8 else { throw DeviceError(.invalidInput, "a float32 library has no int8 entry point") }
        let n = inputs.batch, size = binary.library.outputSize
        let bytes = try run(binary, mode: "int8", input: inputs.values.withUnsafeBytes { Data($0) }, samples: n)
        let values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Int8.self)) }
        guard values.count == n * size else { throw DeviceError(.verificationFailed, "the host build wrote \(values.count) outputs, expected \(n * size)") }
        return Int8Tensor(shape: [n] + binary.library.outputShape, values: values)
    }

    /// Runs the float entry point (`shrink_model_run`) on every sample of `inputs`.
    public func run(_ binary: HostBinary, float inputs: Tensor) throws(DeviceError) -> Tensor {
        let n = inputs.shape.first ?? 0, size = binary.library.outputSize
        let bytes = try run(binary, mode: "float", input: inputs.scalars.withUnsafeBytes { Data($0) }, samples: n)
        let values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        guard values.count == n * size else { throw DeviceError(.verificationFailed, "the host build wrote \(values.count) outputs, expected \(n * size)") }
        return Tensor(shape: [n] + binary.library.outputShape, scalars: values)
    }

    /// Builds (`buildHost`) and runs the int8 entry point.
    public func runHost(_ library: CLibrary, int8 inputs: Int8Tensor) throws(DeviceError) -> Int8Tensor {
        try run(try buildHost(library), int8: inputs)
    }

    /// Builds (`buildHost`) and runs the float entry point.
    public func runHost(_ library: CLibrary, float inputs: Tensor) throws(DeviceError) -> Tensor {
        try run(try buildHost(library), float: inputs)
    }

    func run(_ binary: HostBinary, mode: String, input: Data, samples: Int) throws(DeviceError) -> Data {
        let inFile = workDirectory.appendingPathComponent("inputs.bin"), outFile = workDirectory.appendingPathComponent("outputs.bin")
        do { try input.write(to: inFile) } catch { throw DeviceError(.io, "cannot write (\(error.localizedDescription))", file: inFile.path) }
        _ = try tool(binary.path.path, [mode, inFile.path, outFile.path, "\(samples)"], timeout: compileTimeout, what: "the host build")
        do { return try Data(contentsOf: outFile) } catch {
            throw DeviceError(.io, "cannot read (\(error.localizedDescription))", file: outFile.path)
        }
    }

    // MARK: QEMU

    /// Cross-compiles the library with a harness holding `inputs` for Cortex-M4
    /// (`-mcpu=cortex-m4 -mthumb -Os`, the board's startup code and linker script, newlib with
    /// semihosting), runs it on `qemu-system-arm -M mps2-an386 -nographic -semihosting` and
    /// returns the int8 entry point's outputs.
    public func runQEMU(_ library: CLibrary, int8 inputs: Int8Tensor) throws(DeviceError) -> Int8Tensor {
        let lines = try runQEMU(library, harness: Harness.qemu(int8: inputs, library: library), samples: inputs.batch)
        var values = [Int8]()
        for line in lines {
            for v in line.split(separator: " ") {
                guard let x = Int8(v) else { throw DeviceError(.verificationFailed, "QEMU printed '\(line)'") }
                values.append(x)
            }
        }
        return Int8Tensor(shape: [inputs.batch] + library.outputShape, values: values)
    }

    /// As `runQEMU(_:int8:)` for the float entry point; outputs travel as exact bit patterns.
    public func runQEMU(_ library: CLibrary, float inputs: Tensor) throws(DeviceError) -> Tensor {
        let n = inputs.shape.first ?? 0
        let lines = try runQEMU(library, harness: try Harness.qemu(float: inputs, library: library), samples: n)
        var values = [Float]()
        for line in lines {
            for v in line.split(separator: " ") {
                guard let bits = UInt32(v, radix: 16) else { throw DeviceError(.verificationFailed, "QEMU printed '\(line)'") }
                values.append(Float(bitPattern: bits))
            }
        }
        return Tensor(shape: [n] + library.outputShape, scalars: values)
    }

    func runQEMU(_ library: CLibrary, harness text: String, samples: Int) throws(DeviceError) -> [Substring] {
        let cc = try toolchain.require(toolchain.armGCC, "arm-none-eabi-gcc")
        let qemu = try toolchain.require(toolchain.qemu, "qemu-system-arm")
        let dir = try prepare(library, "qemu-lib")
        let board = workDirectory.appendingPathComponent("board")
        do { try FileManager.default.createDirectory(at: board, withIntermediateDirectories: true) } catch {
            throw DeviceError(.io, "cannot create (\(error.localizedDescription))", file: board.path)
        }
        try write(Board.startup, board.appendingPathComponent("startup.c"))
        try write(Board.linkerScript, board.appendingPathComponent("board.ld"))
        let harness = workDirectory.appendingPathComponent("qemu_harness.c")
        try write(text, harness)
        let elf = workDirectory.appendingPathComponent("model.elf")
        _ = try tool(cc, Board.cpuFlags + ["-Os"] + Self.warningFlags + ["-ffunction-sections", "-fdata-sections", "-I", dir.path]
                        + Board.linkFlags + ["-T", board.appendingPathComponent("board.ld").path,
                                             board.appendingPathComponent("startup.c").path, harness.path]
                        + library.sources.map { dir.appendingPathComponent($0).path } + ["-o", elf.path],
                     timeout: compileTimeout, what: "arm-none-eabi-gcc (Cortex-M4 build)")
        let r = try ToolRunner.run(qemu, ["-M", Board.machine, "-nographic", "-semihosting", "-kernel", elf.path],
                                   in: workDirectory, timeout: qemuTimeout)
        if r.timedOut {
            throw DeviceError(.verificationFailed,
                              "QEMU did not finish within \(Int(qemuTimeout)) s and was stopped (a hard fault spins forever)")
        }
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        guard r.status == 0, lines.last == "SHRINK-DONE" else {
            throw DeviceError(.verificationFailed, "the Cortex-M4 harness failed on QEMU (exit \(r.status)): \(r.stdout.suffix(300)) \(r.stderr.suffix(300))")
        }
        let samplesOut = lines.filter { $0.hasPrefix("S ") }.map { $0.dropFirst(2) }
        guard samplesOut.count == samples else {
            throw DeviceError(.verificationFailed, "QEMU printed \(samplesOut.count) samples, expected \(samples)")
        }
        return samplesOut
    }

    // MARK: size

    /// Compiles the library's sources for `device` (its flags, `-Os`) and sums
    /// `arm-none-eabi-size` over the objects.
    public func measure(_ library: CLibrary, device: DeviceProfile) throws(DeviceError) -> MeasuredSize {
        let cc = try toolchain.require(toolchain.armGCC, "arm-none-eabi-gcc")
        let size = try toolchain.require(toolchain.armSize, "arm-none-eabi-size")
        let dir = try prepare(library, "size-lib-\(device.name)")
        var objects = [String]()
        for s in library.sources {
            let o = dir.appendingPathComponent(s + ".o").path
            _ = try tool(cc, device.compilerFlags + Self.warningFlags + ["-I", dir.path, "-c", dir.appendingPathComponent(s).path, "-o", o],
                         timeout: compileTimeout, what: "arm-none-eabi-gcc (\(device.name))")
            objects.append(o)
        }
        let r = try tool(size, objects, timeout: 30, what: "arm-none-eabi-size")
        var m = MeasuredSize(text: 0, data: 0, bss: 0)
        for line in r.stdout.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 3, let t = Int(f[0]), let d = Int(f[1]), let b = Int(f[2]) else { continue }
            m.text += t
            m.data += d
            m.bss += b
        }
        return m
    }
}

extension CLibrary {
    /// Elements of one output sample.
    var outputSize: Int { outputShape.reduce(1, *) }
    /// The output's shape (one sample).
    var outputShape: [Int] { output.shape }
}

/// The harness programs that drive a library in the checks.
enum Harness {
    /// Host: `host_model MODE IN OUT N` reads N raw samples, writes N raw outputs.
    static func host(int8: Bool) -> String {
        """
        /* Host harness for Shrink's device checks: runs the library on raw samples from a file. */
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include "model.h"

        static float xf[SHRINK_MODEL_INPUT_SIZE], yf[SHRINK_MODEL_OUTPUT_SIZE];
        \(int8 ? "static int8_t xq[SHRINK_MODEL_INPUT_SIZE], yq[SHRINK_MODEL_OUTPUT_SIZE];" : "")

        int main(int argc, char **argv)
        {
            FILE *in, *out;
            long n, s;
            int quantised;
            if (argc != 5) {
                fprintf(stderr, "usage: %s int8|float IN OUT N\\n", argv[0]);
                return 2;
            }
            quantised = strcmp(argv[1], "int8") == 0;
            in = fopen(argv[2], "rb");
            out = fopen(argv[3], "wb");
            n = atol(argv[4]);
            if (in == NULL || out == NULL) {
                fprintf(stderr, "cannot open files\\n");
                return 2;
            }
            for (s = 0; s < n; s++) {
                if (quantised) {
        \(int8 ? """
                    if (fread(xq, 1, sizeof xq, in) != sizeof xq || shrink_model_run_int8(xq, yq) != 0) {
                        return 1;
                    }
                    fwrite(yq, 1, sizeof yq, out);
        """ : "            return 2;")
                } else {
                    if (fread(xf, 1, sizeof xf, in) != sizeof xf || shrink_model_run(xf, yf) != 0) {
                        return 1;
                    }
                    fwrite(yf, 1, sizeof yf, out);
                }
            }
            fclose(in);
            return fclose(out) == 0 ? 0 : 1;
        }

        """
    }

    static func qemuMain(inputs: String, count: Int, int8: Bool) -> String {
        """
        /* Cortex-M4 harness for Shrink's device checks: runs the library on embedded samples and
           prints each output over semihosting. */
        #include <stdio.h>
        #include "model.h"

        \(inputs)

        int main(void)
        {
            static \(int8 ? "int8_t" : "float") y[SHRINK_MODEL_OUTPUT_SIZE];
            long s;
            int i;
            for (s = 0; s < \(count); s++) {
                if (\(int8 ? "shrink_model_run_int8" : "shrink_model_run")(shrink_test_inputs + s * SHRINK_MODEL_INPUT_SIZE, y) != 0) {
                    printf("SHRINK-ERROR %ld\\n", s);
                    return 1;
                }
                printf("S");
                for (i = 0; i < SHRINK_MODEL_OUTPUT_SIZE; i++) {
        \(int8 ? """
                    printf(" %d", (int)y[i]);
        """ : """
                    union { float f; unsigned long u; } v;
                    v.u = 0;
                    v.f = y[i];
                    printf(" %08lx", v.u & 0xfffffffful);
        """)
                }
                printf("\\n");
            }
            printf("SHRINK-DONE\\n");
            return 0;
        }

        """
    }

    static func qemu(int8 inputs: Int8Tensor, library: CLibrary) -> String {
        var lines = [String]()
        var i = 0
        while i < inputs.values.count {
            lines.append("    " + inputs.values[i..<min(i + 24, inputs.values.count)].map { "\($0)" }.joined(separator: ", ") + ",")
            i += 24
        }
        let array = "static const int8_t shrink_test_inputs[\(max(1, inputs.values.count))] = {\n" + lines.joined(separator: "\n") + "\n};"
        return qemuMain(inputs: array, count: inputs.batch, int8: true)
    }

    static func qemu(float inputs: Tensor, library: CLibrary) throws(DeviceError) -> String {
        var lines = [String]()
        var i = 0
        while i < inputs.count {
            var parts = [String]()
            for v in inputs.scalars[i..<min(i + 12, inputs.count)] { parts.append(try Emitter.cFloat(v)) }
            lines.append("    " + parts.joined(separator: ", ") + ",")
            i += 12
        }
        let array = "static const float shrink_test_inputs[\(max(1, inputs.count))] = {\n" + lines.joined(separator: "\n") + "\n};"
        return qemuMain(inputs: array, count: inputs.shape.first ?? 0, int8: false)
    }
}
