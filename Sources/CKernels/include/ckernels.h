// Shrink's own float kernels: a packed-weight GEMM with micro-kernels for AVX-512, AVX2+FMA and
// plain C, picked at run time by CPUID (no -march flags: the binary runs on any x86-64).
#ifndef SHRINK_CKERNELS_H
#define SHRINK_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set paths, in increasing order of capability.
enum { SHRINK_ISA_GENERIC = 0, SHRINK_ISA_AVX2 = 1, SHRINK_ISA_AVX512 = 2 };

/// The best path this CPU and OS support (CPUID and XGETBV).
int shrink_isa_detected(void);

/// `isa` lowered to what this CPU supports (and raised to 0).
int shrink_isa_clamped(int isa);

/// Rows of a packed weight panel (the same for every path, so packing is path-independent).
enum { SHRINK_GEMM_MR = 8 };

/// Floats `shrink_pack_a` writes for an M×K matrix.
size_t shrink_packed_size(long m, long k);

/// Packs row-major A (M×K, leading dimension lda) into panels of MR rows, k-major, zero-padded.
void shrink_pack_a(long m, long k, const float *a, long lda, float *packed);

/// C[:, n0..<n1] = packed(A) · B[:, n0..<n1] (+ bias per row, then max(0, ·) if relu), where B
/// is K×N row-major (leading dimension ldb) and C is M×N (ldc). `isa` above the detected one is
/// lowered to it.
void shrink_sgemm_packed(int isa, long m, long n0, long n1, long k, const float *packed,
                         const float *b, long ldb, float *c, long ldc, const float *bias, int relu);

/// Depthwise 2-D convolution of one channel plane (H×W) with a KH×KW filter into OH×OW, any
/// stride, dilation and pads; out = bias + Σ taps (no activation).
void shrink_depthwise_plane(int isa, const float *x, long h, long w, const float *filter, long kh, long kw,
                            long sy, long sx, long dy, long dx, long py, long px, float *out, long oh, long ow,
                            float bias);

#ifdef __cplusplus
}
#endif
#endif
