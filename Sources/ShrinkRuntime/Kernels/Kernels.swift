/// Namespace of the kernels: pure functions over tensors and small attribute structs, batched NCHW float32.
public enum Kernels {}
