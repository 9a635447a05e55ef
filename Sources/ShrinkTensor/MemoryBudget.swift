import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How much memory this process may use: the machine's physical memory, or less when an address
/// space limit (`ulimit -v`) is set. Sizes read from files (array shapes, tensor dimensions) are
/// checked against it before anything is allocated, so a hostile file is an error, not an abort.
public enum MemoryBudget {
    /// Bytes the process may use at most.
    public static let bytes: Int = {
        var limit = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        var r = rlimit()
        #if canImport(Glibc) || canImport(Musl)
        let ok = getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &r) == 0
        #else
        let ok = getrlimit(RLIMIT_AS, &r) == 0
        #endif
        // RLIM_INFINITY is all ones; Swift cannot import the C macro.
        if ok, r.rlim_cur != rlim_t.max {
            limit = min(limit, Int(clamping: UInt64(r.rlim_cur)))
        }
        return max(limit, 1 << 26)
    }()

    /// The most bytes one array may take: a quarter of the budget, leaving room for the copies
    /// and neighbours every computation needs.
    public static var bytesPerArray: Int { bytes / 4 }
}
