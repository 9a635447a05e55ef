// Packed-weight GEMM for convolutions: C = A·B with A (the weights) packed once per session into
// panels of 8 rows, and B read in place (an im2col buffer, or the input of a 1×1 conv), so no
// operand is copied per call. Loop order per K-block: column panel (B in L1) → row panel (A in L2).
#include "ckernels.h"

#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MR SHRINK_GEMM_MR
#define KC 256
#define MC 256  // a multiple of 2·MR, so the two-panel kernel's pairs stay within a block

// MARK: CPU detection

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

int shrink_isa_detected(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return SHRINK_ISA_GENERIC;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma) return SHRINK_ISA_GENERIC;
    const unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return SHRINK_ISA_GENERIC;  // the OS saves XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return SHRINK_ISA_GENERIC;
    const int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (!avx2) return SHRINK_ISA_GENERIC;
    if (avx512f && (xcr0 & 0xE6) == 0xE6) return SHRINK_ISA_AVX512;  // and opmask/ZMM state
    return SHRINK_ISA_AVX2;
}

int shrink_isa_clamped(int isa) {
    static int detected = -1;
    int d = __atomic_load_n(&detected, __ATOMIC_RELAXED);
    if (d < 0) {
        d = shrink_isa_detected();
        __atomic_store_n(&detected, d, __ATOMIC_RELAXED);
    }
    return isa < d ? (isa < 0 ? 0 : isa) : d;
}

// MARK: packing

size_t shrink_packed_size(long m, long k) { return (size_t)((m + MR - 1) / MR) * MR * (size_t)k; }

void shrink_pack_a(long m, long k, const float *a, long lda, float *packed) {
    for (long p = 0; p < m; p += MR) {
        float *dst = packed + p * k;
        for (long kk = 0; kk < k; kk++)
            for (long r = 0; r < MR; r++) dst[kk * MR + r] = p + r < m ? a[(p + r) * lda + kk] : 0.0f;
    }
}

// MARK: micro-kernels
// Each computes an mr×nr tile (mr ≤ 8; nr ≤ the path's width) over kc steps of K. `first`: start
// from zero, else from C; `last`: add the bias and apply relu before storing.

static void mk_generic(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int mr, int nr,
                       int first, int last, const float *bias, int relu) {
    float acc[MR][16];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < 16; j++) acc[r][j] = (!first && r < mr && j < nr) ? c[r * ldc + j] : 0.0f;
    if (nr == 16) {
        for (long kk = 0; kk < kc; kk++, a += MR, b += ldb)
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < 16; j++) acc[r][j] += a[r] * b[j];
    } else {
        for (long kk = 0; kk < kc; kk++, a += MR, b += ldb)
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < nr; j++) acc[r][j] += a[r] * b[j];
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) {
            float v = acc[r][j];
            if (last) {
                if (bias) v += bias[r];
                if (relu && v < 0) v = 0;
            }
            c[r * ldc + j] = v;
        }
}

// AVX2: 4 rows × 16 columns (8 accumulators), called for each half of an 8-row panel.
__attribute__((target("avx2,fma"))) static void mk_avx2_4x16(long kc, const float *a, const float *b, long ldb,
                                                             float *c, long ldc, int mr, int first, int last,
                                                             const float *bias, int relu) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31;
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = _mm256_setzero_ps();
    if (!first) {
        c00 = _mm256_loadu_ps(c); c01 = _mm256_loadu_ps(c + 8);
        if (mr > 1) { c10 = _mm256_loadu_ps(c + ldc); c11 = _mm256_loadu_ps(c + ldc + 8); }
        if (mr > 2) { c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8); }
        if (mr > 3) { c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8); }
    }
    for (long kk = 0; kk < kc; kk++, a += MR, b += ldb) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 x = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    }
    __m256 rows[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    const __m256 zero = _mm256_setzero_ps();
    for (int r = 0; r < mr; r++) {
        __m256 v0 = rows[r][0], v1 = rows[r][1];
        if (last) {
            if (bias) {
                const __m256 bv = _mm256_set1_ps(bias[r]);
                v0 = _mm256_add_ps(v0, bv); v1 = _mm256_add_ps(v1, bv);
            }
            if (relu) { v0 = _mm256_max_ps(v0, zero); v1 = _mm256_max_ps(v1, zero); }
        }
        _mm256_storeu_ps(c + r * ldc, v0);
        _mm256_storeu_ps(c + r * ldc + 8, v1);
    }
}

// AVX-512: 8 rows × 32 columns (16 accumulators); column tails with masks.
#define AVX512_ROW(r)                                                                                         \
    { const __m512 x = _mm512_set1_ps(a[r]);                                                                  \
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]); acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]); }

__attribute__((target("avx512f"))) static void mk_avx512(long kc, const float *a, const float *b, long ldb,
                                                         float *c, long ldc, int mr, int nr, int first, int last,
                                                         const float *bias, int relu) {
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) {
        if (!first && r < mr) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            acc[r][1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        } else {
            acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        }
    }
    if (nr == 32) {
        for (long kk = 0; kk < kc; kk++, a += MR, b += ldb) {
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            AVX512_ROW(0) AVX512_ROW(1) AVX512_ROW(2) AVX512_ROW(3)
            AVX512_ROW(4) AVX512_ROW(5) AVX512_ROW(6) AVX512_ROW(7)
        }
    } else {
        for (long kk = 0; kk < kc; kk++, a += MR, b += ldb) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
            AVX512_ROW(0) AVX512_ROW(1) AVX512_ROW(2) AVX512_ROW(3)
            AVX512_ROW(4) AVX512_ROW(5) AVX512_ROW(6) AVX512_ROW(7)
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) {
        __m512 v0 = acc[r][0], v1 = acc[r][1];
        if (last) {
            if (bias) {
                const __m512 bv = _mm512_set1_ps(bias[r]);
                v0 = _mm512_add_ps(v0, bv); v1 = _mm512_add_ps(v1, bv);
            }
            if (relu) { v0 = _mm512_max_ps(v0, zero); v1 = _mm512_max_ps(v1, zero); }
        }
        _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, v1);
    }
}

// AVX-512 for narrow B (≤ 16 columns, e.g. a Winograd product of one small image): two 8-row
// panels at once, one vector per row, so there are still 16 accumulators to hide FMA latency.
#define AVX512_ROW16(r)                                                                                       \
    { acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a0[r]), b0, acc[r]);                                          \
      acc[8 + r] = _mm512_fmadd_ps(_mm512_set1_ps(a1[r]), b0, acc[8 + r]); }

__attribute__((target("avx512f"))) static void mk_avx512_16(long kc, const float *a0, const float *a1, const float *b,
                                                            long ldb, float *c, long ldc, int mr, int nr, int first,
                                                            int last, const float *bias, int relu) {
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __m512 acc[2 * MR];
    for (int r = 0; r < 2 * MR; r++)
        acc[r] = !first && r < mr ? _mm512_maskz_loadu_ps(m0, c + r * ldc) : _mm512_setzero_ps();
    for (long kk = 0; kk < kc; kk++, a0 += MR, a1 += MR, b += ldb) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
        AVX512_ROW16(0) AVX512_ROW16(1) AVX512_ROW16(2) AVX512_ROW16(3)
        AVX512_ROW16(4) AVX512_ROW16(5) AVX512_ROW16(6) AVX512_ROW16(7)
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) {
        __m512 v = acc[r];
        if (last) {
            if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[r]));
            if (relu) v = _mm512_max_ps(v, zero);
        }
        _mm512_mask_storeu_ps(c + r * ldc, m0, v);
    }
}

// MARK: driver

#define NC 256  // columns of B packed per block: KC × NC floats (256 KB) stay in L2 across row blocks

// Copies B's rows [k0, k0 + kc) of columns [j, j + w) into `panel` (kc × nr, k-major). B is either
// row-major (`b`, ldb) or implicit: element (k, j) = x[row[k] + col[j]] (a convolution's input
// read through its tap and output-position offsets, with no im2col matrix). Columns that advance
// by one stride are copied as runs.
static void fill_panel(float *panel, long nr, long kc, long w, long k0, long j, const float *b, long ldb,
                       const float *x, const long *row, const long *col) {
    if (!row) {
        const float *bp = b + k0 * ldb + j;
        for (long kk = 0; kk < kc; kk++) memcpy(panel + kk * nr, bp + kk * ldb, (size_t)w * sizeof(float));
        return;
    }
    long t = 0;
    while (t < w) {
        // The longest run from column t whose offsets advance by one stride.
        const long base = col[j + t];
        const long step = t + 1 < w ? col[j + t + 1] - base : 1;
        long len = 1;
        while (t + len < w && col[j + t + len] - col[j + t + len - 1] == step) len++;
        float *dst = panel + t;
        if (step == 1) {
            for (long kk = 0; kk < kc; kk++) {
                const float *src = x + row[k0 + kk] + base;
                for (long u = 0; u < len; u++) dst[kk * nr + u] = src[u];
            }
        } else {
            for (long kk = 0; kk < kc; kk++) {
                const float *src = x + row[k0 + kk] + base;
                for (long u = 0; u < len; u++) dst[kk * nr + u] = src[u * step];
            }
        }
        t += len;
    }
}

// Each thread's B block, allocated on its first GEMM and kept (a malloc per call cost LeNet's
// small GEMMs, and above glibc's default mmap threshold it would be an mmap and page faults).
static float *packing_block(void) {
    static _Thread_local float *block;
    if (!block) block = aligned_alloc(64, (size_t)KC * NC * sizeof(float));
    return block;
}

static void sgemm_driver(int isa, long m, long n0, long n1, long k, const float *packed, const float *b, long ldb,
                         const float *x, const long *row, const long *col, float *c, long ldc, const float *bias,
                         int relu) {
    isa = shrink_isa_clamped(isa);
    if (m <= 0 || n1 <= n0) return;
    if (k <= 0) {  // an empty sum: bias (and relu) only
        for (long r = 0; r < m; r++)
            for (long j = n0; j < n1; j++) {
                float v = bias ? bias[r] : 0.0f;
                c[r * ldc + j] = relu && v < 0 ? 0.0f : v;
            }
        return;
    }
    const long nr = isa == SHRINK_ISA_AVX512 ? 32 : 16;
    // With several row panels, B is copied once per K-block into contiguous kc×nr panels (a block
    // of NC columns at a time, read by every row block while in L2), so the micro-kernel streams
    // it from L1 instead of striding across image-wide rows. An implicit B is always copied.
    const int copy = m > MR || row;
    float *block = copy ? packing_block() : NULL;
    if (copy && !block) return;
    for (long k0 = 0; k0 < k; k0 += KC) {
        const long kc = k - k0 < KC ? k - k0 : KC;
        const int first = k0 == 0, last = k0 + kc == k;
        for (long jb = n0; jb < n1; jb += NC) {
            const long jb1 = n1 - jb < NC ? n1 : jb + NC;
            if (copy)
                for (long j = jb; j < jb1; j += nr)
                    fill_panel(block + (j - jb) / nr * kc * nr, nr, kc, jb1 - j < nr ? jb1 - j : nr, k0, j, b, ldb, x,
                               row, col);
            for (long m0 = 0; m0 < m; m0 += MC) {
                // Row blocks of MC: the block's weight panels (MC × KC floats, 256 KB) stay in L2
                // across every column panel; a 514-row STFT filter bank re-read its 526 KB from L3
                // per panel.
                const long m1 = m - m0 < MC ? m : m0 + MC;
                for (long j = jb; j < jb1; j += nr) {
                    const int w = (int)(jb1 - j < nr ? jb1 - j : nr);
                    const float *bp = copy ? block + (j - jb) / nr * kc * nr : b + k0 * ldb + j;
                    const long bld = copy ? nr : ldb;
                    for (long p = m0; p < m1; p += MR) {
                        if (isa == SHRINK_ISA_AVX512 && w <= 16 && m1 - p > MR) {  // two panels, narrow B
                            const int mr2 = (int)(m1 - p < 2 * MR ? m1 - p : 2 * MR);
                            mk_avx512_16(kc, packed + p * k + k0 * MR, packed + (p + MR) * k + k0 * MR, bp, bld,
                                         c + p * ldc + j, ldc, mr2, w, first, last, bias && last ? bias + p : NULL,
                                         relu);
                            p += MR;
                            continue;
                        }
                        const int mr = (int)(m1 - p < MR ? m1 - p : MR);
                        const float *ap = packed + p * k + k0 * MR;
                        float *cp = c + p * ldc + j;
                        const float *bb = bias && last ? bias + p : NULL;
                        if (isa == SHRINK_ISA_AVX512) {
                            mk_avx512(kc, ap, bp, bld, cp, ldc, mr, w, first, last, bb, relu);
                        } else if (isa == SHRINK_ISA_AVX2 && w == 16) {
                            mk_avx2_4x16(kc, ap, bp, bld, cp, ldc, mr < 4 ? mr : 4, first, last, bb, relu);
                            if (mr > 4)
                                mk_avx2_4x16(kc, ap + 4, bp, bld, cp + 4 * ldc, ldc, mr - 4, first, last,
                                             bb ? bb + 4 : NULL, relu);
                        } else {
                            mk_generic(kc, ap, bp, bld, cp, ldc, mr, w, first, last, bb, relu);
                        }
                    }
                }
            }
        }
    }
}

void shrink_sgemm_packed(int isa, long m, long n0, long n1, long k, const float *packed, const float *b, long ldb,
                         float *c, long ldc, const float *bias, int relu) {
    sgemm_driver(isa, m, n0, n1, k, packed, b, ldb, NULL, NULL, NULL, c, ldc, bias, relu);
}

void shrink_sgemm_implicit(int isa, long m, long n0, long n1, long k, const float *packed, const float *x,
                           const long *row, const long *col, float *c, long ldc, const float *bias, int relu) {
    sgemm_driver(isa, m, n0, n1, k, packed, NULL, 0, x, row, col, c, ldc, bias, relu);
}
