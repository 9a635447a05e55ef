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

/// As `shrink_sgemm_packed` with an implicit B: element (k, j) is x[row[k] + col[j]], a
/// convolution's input read through its taps' offsets (`row`, K of them) and its output positions'
/// (`col`, indexed by j < n1), so no im2col matrix is written.
void shrink_sgemm_implicit(int isa, long m, long n0, long n1, long k, const float *packed, const float *x,
                           const long *row, const long *col, float *c, long ldc, const float *bias, int relu);

/// dst (cols × rows) = srcᵀ for a row-major rows × cols matrix, in 8×8 register blocks on AVX2
/// and AVX-512 CPUs (16×16 scalar tiles otherwise).
void shrink_transpose(int isa, const float *src, long rows, long cols, float *dst);

/// The piecewise-linear activations `shrink_activation` runs.
enum {
    SHRINK_ACT_RELU = 0,          ///< max(0, x)
    SHRINK_ACT_LEAKY = 1,         ///< x ≥ 0 ? x : a·x
    SHRINK_ACT_CLIP = 2,          ///< min(max(x, a), b)
    SHRINK_ACT_HARD_SIGMOID = 3,  ///< max(0, min(1, a·x + b))
    SHRINK_ACT_HARD_SWISH = 4,    ///< x · max(0, min(1, x/6 + 1/2))
    SHRINK_ACT_AFFINE = 5,        ///< a·x + b
};

/// Applies activation `kind` (with parameters a, b) to x[0..<n] in place, on `isa`'s vectors
/// (lowered to what the CPU has); a NaN input stays NaN.
void shrink_activation(int isa, int kind, float *x, long n, float a, float b);

/// Depthwise convolution of planes [p0, p1) of a batch (plane = image · M + output channel; input
/// [N, C, H, W], M = C · multiplier output channels, filter [M, 1, KH, KW]) into `out`
/// [N, M, OH, OW], any stride, dilation and pads: each plane is bias[channel] (0 when NULL) + Σ
/// taps, with no activation.
void shrink_depthwise_planes(int isa, long p0, long p1, const float *x, long c, long m, long h, long w,
                             const float *filter, long kh, long kw, long sy, long sx, long dy, long dx, long py,
                             long px, const float *bias, float *out, long oh, long ow);

/// Max pool of `planes` H×W planes over non-overlapping windows (kernel = stride = ky × kx, each 1
/// or 2, no pads; OH ≤ H / ky, OW ≤ W / kx); a NaN in a window makes its maximum NaN.
void shrink_maxpool_tiles(int isa, const float *x, long planes, long h, long w, long ky, long kx, float *out, long oh,
                          long ow);

/// Floats `shrink_winograd_pack_filter` writes for M output and C input channels.
size_t shrink_winograd_filter_size(long m, long c);

/// Transforms a 3×3 filter [M, C, 3, 3] for Winograd F(2×2, 3×3) (U = G g Gᵀ) and packs each of
/// the 16 resulting M×C matrices like `shrink_pack_a`.
void shrink_winograd_pack_filter(long m, long c, const float *w, float *packed);

/// Input transform (V = Bᵀ d B) of channels [c0, c1) of `nimg` images (C×H×W each, `ximg` floats
/// apart) into v[16][C][ldv]: tile rows [ty0, ty0 + th) of tiles of 2×2 outputs, tw per row,
/// numbered image by image; `pt`/`pl` are the top and left pads.
void shrink_winograd_input(int isa, long c0, long c1, long c, long h, long w, long pt, long pl, long ty0, long th, long tw,
                           long nimg, const float *x, long ximg, float *v, long ldv);

/// p[ξ] = U[ξ] · v[ξ] for ξ in [xi0, xi1): M×tiles products of the packed filter and the
/// transformed input.
void shrink_winograd_products(int isa, long xi0, long xi1, long m, long c, long tiles, const float *packed,
                              const float *v, float *p);

/// Output transform (Y = Aᵀ p A) of output channels [m0, m1) from p[16][M][ldp] into tile rows
/// [ty0, ty0 + th) of `nimg` images (M×OH×OW each, `oimg` floats apart), plus bias, then
/// max(0, ·) if relu.
void shrink_winograd_output(int isa, long m0, long m1, long m, long oh, long ow, long ty0, long th, long tw, long nimg,
                            const float *p, long ldp, const float *bias, int relu, float *out, long oimg);

/// Softmax of `rows` contiguous rows of `n` floats each, in place (vectorised exp).
void shrink_softmax_rows(int isa, float *x, long rows, long n);

/// x = σ(β·x), or x·σ(β·x) (Swish) when `times`, in place (vectorised exp).
void shrink_sigmoid(int isa, float *x, long n, float beta, int times);

/// One part of a job split by `shrink_pool_run`.
typedef void (*shrink_part_fn)(void *ctx, long part);

/// Runs fn(ctx, 0..<parts) on the calling thread and up to `workers` pool threads (started on
/// first use, kept for the process), and returns when every part is done. Parts are claimed one
/// at a time, so late workers take only what is left. When the pool is busy (another caller, or a
/// part that splits again) the caller runs every part itself.
void shrink_pool_run(long parts, int workers, shrink_part_fn fn, void *ctx);

/// How long idle pool workers spin for the next job before they sleep (default 200 µs).
void shrink_pool_set_spin(long nanoseconds);

/// glibc's mallopt: blocks below `mmap_threshold` bytes come from the heap, whose top is given
/// back to the OS only above `trim_threshold` free bytes. Returns 1 when both were set.
int shrink_keep_heap_memory(long mmap_threshold, long trim_threshold);

#ifdef __cplusplus
}
#endif
#endif
