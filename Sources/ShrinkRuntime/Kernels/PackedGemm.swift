import CKernels
import Dispatch
import Foundation
import ShrinkTensor

/// Which convolution kernels run: Shrink's own (packed weights, micro-kernels per instruction set)
/// or the older im2col + OpenBLAS path. The default is the best path the CPU supports, picked when
/// the process starts; `SHRINK_KERNELS=blas|generic|avx2|avx512` forces one (a path above what the
/// CPU supports is lowered to it), so tests and benchmarks can compare them on one machine.
public enum KernelPath: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// im2col + OpenBLAS `sgemm` and plain depthwise loops (the engine before own kernels).
    case blas = -1
    /// Own kernels in plain C (vectorised by the compiler for SSE2 only).
    case generic = 0
    /// Own kernels with AVX2 + FMA micro-kernels.
    case avx2 = 1
    /// Own kernels with AVX-512 micro-kernels.
    case avx512 = 2

    /// The best path this CPU supports (CPUID).
    public static let detected = KernelPath(rawValue: Int(shrink_isa_detected())) ?? .generic

    /// The path used by default: `SHRINK_KERNELS` if set (lowered to `detected`), else `detected`.
    public static let selected: KernelPath = {
        guard let name = ProcessInfo.processInfo.environment["SHRINK_KERNELS"], let p = KernelPath(name: name) else {
            return detected
        }
        return p.supported
    }()

    /// A path by its name (`blas`, `generic`, `avx2`, `avx512`).
    public init?(name: String) {
        guard let p = KernelPath.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = p
    }

    /// This path, lowered to what the CPU supports.
    public var supported: KernelPath { self == .blas ? .blas : KernelPath(rawValue: min(rawValue, KernelPath.detected.rawValue))! }

    /// The path's name.
    public var description: String {
        switch self {
        case .blas: "blas"
        case .generic: "generic"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    var isa: Int32 { Int32(max(0, rawValue)) }
}

/// A Conv weight [M, C/group, kH, kW] packed for the own GEMM micro-kernels, one panel set per
/// group; made once per session (or per call when the weight is not a constant). A 3×3 filter of
/// a conv that Winograd F(2×2, 3×3) applies to is also kept transformed and packed for it (16
/// panel sets). Immutable.
public final class PackedFilter: @unchecked Sendable {
    /// The weight's shape.
    public let shape: [Int]
    let groups: Int, rows: Int, depth: Int, stride: Int
    let storage: UnsafeMutablePointer<Float>
    /// The Winograd-transformed panels (`shrink_winograd_pack_filter`), when made.
    let winograd: UnsafeMutablePointer<Float>?

    /// Packs `weight` for `groups` groups, and for Winograd too when `winograd` is true and the
    /// weight is a 3×3 filter of one group.
    public init(_ weight: Tensor, groups: Int, winograd: Bool = false) {
        shape = weight.shape
        self.groups = max(1, groups)
        rows = (weight.shape.first ?? 0) / self.groups
        depth = weight.shape.first.map { $0 == 0 ? 0 : weight.count / $0 } ?? 0
        stride = shrink_packed_size(rows, depth)
        storage = .allocate(capacity: max(1, stride * self.groups))
        let useWinograd = winograd && self.groups == 1 && shape.count == 4 && shape[2] == 3 && shape[3] == 3
        self.winograd = useWinograd ? .allocate(capacity: max(1, shrink_winograd_filter_size(shape[0], shape[1]))) : nil
        weight.scalars.withUnsafeBufferPointer { w in
            for g in 0..<self.groups {
                shrink_pack_a(rows, depth, w.baseAddress! + g * rows * depth, depth, storage + g * stride)
            }
            if let u = self.winograd { shrink_winograd_pack_filter(shape[0], shape[1], w.baseAddress!, u) }
        }
    }

    deinit {
        storage.deallocate()
        winograd?.deallocate()
    }

    /// The packed panels of group `g`.
    func group(_ g: Int) -> UnsafePointer<Float> { UnsafePointer(storage + g * stride) }
}

extension Kernels {
    /// C[M, N] = packed · B[K, N] (+ bias per row, relu), split over `threads` workers as
    /// `splitProduct` cuts it (rows first). `epilogue(rows, columns)` runs on each part's block
    /// right after its product, while it is in cache (activations other than relu).
    static func packedGemm(_ path: KernelPath, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>,
                           _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
                           bias: UnsafePointer<Float>?, relu: Bool, threads: Int,
                           epilogue: ((Range<Int>, Range<Int>) -> Void)? = nil) {
        splitProduct(m: m, n: n, k: k, threads: threads, columnsFirst: false) { rows, columns in
            let r0 = rows.lowerBound
            shrink_sgemm_packed(path.isa, rows.count, columns.lowerBound, columns.upperBound, k, a + r0 * k, b, ldb,
                                c + r0 * ldc, ldc, bias.map { $0 + r0 }, relu ? 1 : 0)
            epilogue?(rows, columns)
        }
    }

    /// Cuts a product C[M, N] (K deep) over `threads` pool parts when it is large enough to pay for
    /// the hand-off, and runs `block(rows, columns)` for each part: by 8-row panels (each part writes
    /// whole rows of C; column parts shared a cache line at every row's boundary: ocr-cls batch 1
    /// on 2 threads 6 % faster by rows), or by 32-column panels (the tiles of a single-threaded
    /// call) — first when `columnsFirst` and there is a panel per part (an implicit GEMM, whose
    /// parts then pack only their own columns), else only when the rows are too few to share.
    static func splitProduct(m: Int, n: Int, k: Int, threads: Int, columnsFirst: Bool,
                             _ block: (Range<Int>, Range<Int>) -> Void) {
        let mr = Int(SHRINK_GEMM_MR)
        let columnPanels = (n + 31) / 32, rowPanels = (m + mr - 1) / mr
        let parts = threads > 1 && m * n * k >= 1 << 17 ? threads : 1
        let byColumns = columnsFirst ? columnPanels >= parts : columnPanels >= 2 * parts && rowPanels < 2 * parts
        if parts > 1 && byColumns {
            parallelParts(parts) { t in
                block(0..<m, (columnPanels * t / parts * 32)..<min(n, columnPanels * (t + 1) / parts * 32))
            }
        } else if parts > 1 && rowPanels >= parts {
            parallelParts(parts) { t in
                block((rowPanels * t / parts * mr)..<min(m, rowPanels * (t + 1) / parts * mr), 0..<n)
            }
        } else {
            block(0..<m, 0..<n)
        }
    }
}

/// Runs `body(0..<parts)` on the calling thread and `parts − 1` pool workers, and returns when all
/// are done. The parts write disjoint memory through pointers the body captures.
///
/// The pool (`shrink_pool_run`) keeps its workers spinning briefly between jobs: at batch 1 an
/// operator takes 10–300 µs, and waking a parked GCD worker for each one cost VGG's 2-thread
/// batch 1 a quarter of its time. `SHRINK_POOL=gcd` uses `DispatchQueue.concurrentPerform`
/// instead, for comparisons.
func parallelParts(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 { return body(0) }
    withoutActuallyEscaping(body) { b in
        if Kernels.poolIsGCD {
            let box = UncheckedSendable(b)
            DispatchQueue.concurrentPerform(iterations: parts) { box.value($0) }
            return
        }
        var run = b
        // Never more spinning workers than the other cores: with `--threads 8` on two cores the
        // parts are still 8, claimed by the caller and one worker.
        let workers = min(parts, Kernels.cores) - 1
        withUnsafeMutablePointer(to: &run) { ctx in
            shrink_pool_run(parts, Int32(workers), { ctx, part in
                ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(part)
            }, ctx)
        }
    }
}

extension Kernels {
    /// The cores this process may use.
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Whether `SHRINK_POOL=gcd` asked for Dispatch instead of the spinning pool.
    static let poolIsGCD = ProcessInfo.processInfo.environment["SHRINK_POOL"] == "gcd"
}

/// A value handed to Dispatch workers that only read it (see `parallelParts`).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
