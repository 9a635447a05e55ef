import COpenBLAS
/// placeholder
public struct Tensor: Sendable { public init() { _ = cblas_sdot } }
