// Matrix transpose for Transpose's batched swap of the last two axes: 8×8 blocks transposed in
// AVX registers (eight row loads, three shuffle stages, eight column stores), edges scalar. A
// spectrogram's [257, 197] planes had cost 10 % of the mel model as scalar tiles.
#include "ckernels.h"

#include <immintrin.h>

static void edges(const float *src, long rows, long cols, float *dst, long r0, long c0) {
    // Everything outside the [0, r0) × [0, c0) block grid.
    for (long i = 0; i < rows; i++)
        for (long j = i < r0 ? c0 : 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
}

__attribute__((target("avx2"))) static void t8x8(const float *s, long ls, float *d, long ld) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ls), r2 = _mm256_loadu_ps(s + 2 * ls),
           r3 = _mm256_loadu_ps(s + 3 * ls), r4 = _mm256_loadu_ps(s + 4 * ls), r5 = _mm256_loadu_ps(s + 5 * ls),
           r6 = _mm256_loadu_ps(s + 6 * ls), r7 = _mm256_loadu_ps(s + 7 * ls);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    r0 = _mm256_shuffle_ps(t0, t2, 0x44); r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    r2 = _mm256_shuffle_ps(t1, t3, 0x44); r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    r4 = _mm256_shuffle_ps(t4, t6, 0x44); r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    r6 = _mm256_shuffle_ps(t5, t7, 0x44); r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(r0, r4, 0x20));
    _mm256_storeu_ps(d + ld, _mm256_permute2f128_ps(r1, r5, 0x20));
    _mm256_storeu_ps(d + 2 * ld, _mm256_permute2f128_ps(r2, r6, 0x20));
    _mm256_storeu_ps(d + 3 * ld, _mm256_permute2f128_ps(r3, r7, 0x20));
    _mm256_storeu_ps(d + 4 * ld, _mm256_permute2f128_ps(r0, r4, 0x31));
    _mm256_storeu_ps(d + 5 * ld, _mm256_permute2f128_ps(r1, r5, 0x31));
    _mm256_storeu_ps(d + 6 * ld, _mm256_permute2f128_ps(r2, r6, 0x31));
    _mm256_storeu_ps(d + 7 * ld, _mm256_permute2f128_ps(r3, r7, 0x31));
}

void shrink_transpose(int isa, const float *src, long rows, long cols, float *dst) {
    isa = shrink_isa_clamped(isa);
    if (isa < SHRINK_ISA_AVX2) {
        // 16×16 tiles, so the strided side stays in L1.
        for (long i0 = 0; i0 < rows; i0 += 16)
            for (long j0 = 0; j0 < cols; j0 += 16)
                for (long j = j0; j < cols && j < j0 + 16; j++)
                    for (long i = i0; i < rows && i < i0 + 16; i++) dst[j * rows + i] = src[i * cols + j];
        return;
    }
    const long r8 = rows / 8 * 8, c8 = cols / 8 * 8;
    // Bands of 8 rows, 8 columns at a time; the band's source lines stay in L1 across the row.
    for (long i = 0; i < r8; i += 8)
        for (long j = 0; j < c8; j += 8) t8x8(src + i * cols + j, cols, dst + j * rows + i, rows);
    edges(src, rows, cols, dst, r8, c8);
}
