// Vectorised exp for Softmax, Sigmoid and Swish: exp(x) = 2^n · e^r with n = round(x / ln 2) and
// |r| ≤ ln 2 / 2, e^r by a degree-6 polynomial (Cephes' expf coefficients), relative error about
// 2e-7 over the clamped range [-87.3, 88.4]; below it the result flushes to 0 as float does.
// NaN stays NaN. The plain-C path calls libm's expf.
#include "ckernels.h"

#include <immintrin.h>
#include <math.h>

#define EXP_HI 88.3762626647949f
#define EXP_LO -87.3365f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

// MARK: AVX-512

__attribute__((target("avx512f"))) static inline __m512 exp512(__m512 x) {
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_LT_OQ);
    __m512 v = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), v);
    v = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), v);
    __m512 p = _mm512_set1_ps(P0);
    p = _mm512_fmadd_ps(p, v, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, v, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, v, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, v, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, v, _mm512_set1_ps(P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(v, v), _mm512_add_ps(v, _mm512_set1_ps(1.0f)));
    // 2^n by scalef: exact, and saturates where a shifted exponent would wrap.
    __m512 y = _mm512_scalef_ps(p, n);
    y = _mm512_mask_mov_ps(y, under, _mm512_setzero_ps());
    return _mm512_mask_mov_ps(y, nan, x);
}

__attribute__((target("avx512f"))) static void softmax_avx512(float *x, long n) {
    long i = 0;
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + i));
    float m = _mm512_reduce_max_ps(mv);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m512 mm = _mm512_set1_ps(m);
    __m512 sv = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mm));
        _mm512_storeu_ps(x + i, e);
        sv = _mm512_add_ps(sv, e);
    }
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mm));
        _mm512_mask_storeu_ps(x + i, k, e);
        sv = _mm512_add_ps(sv, _mm512_maskz_mov_ps(k, e));
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sv));
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
    }
}

__attribute__((target("avx512f"))) static void sigmoid_avx512(float *x, long n, float beta, int times) {
    const __m512 one = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(beta);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + i), z = _mm512_mul_ps(v, b);
        // Split by sign, as the definition is computed stably: e = e^−|z| ∈ (0, 1], so neither
        // branch overflows, and σ → 0 exactly for very negative z.
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(z)));
        const __m512 r = _mm512_div_ps(one, _mm512_add_ps(one, e));
        const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 sg = _mm512_mask_mul_ps(r, neg, e, r);
        if (times) sg = _mm512_mul_ps(sg, v);
        _mm512_mask_storeu_ps(x + i, k, sg);
    }
}

// MARK: AVX2

__attribute__((target("avx2,fma"))) static inline __m256 exp256(__m256 x) {
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    __m256 v = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), v);
    v = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), v);
    __m256 p = _mm256_set1_ps(P0);
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(P1));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(P2));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(P3));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(P4));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(v, v), _mm256_add_ps(v, _mm256_set1_ps(1.0f)));
    // 2^n in two halves (n ≤ 128 would overflow one exponent field at the top of the range).
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h = _mm256_srai_epi32(ni, 1), l = _mm256_sub_epi32(ni, h);
    const __m256 sh = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
    const __m256 sl = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(l, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, sh), sl);
    y = _mm256_andnot_ps(under, y);
    return _mm256_blendv_ps(y, x, nan);
}

__attribute__((target("avx2,fma"))) static void softmax_avx2(float *x, long n) {
    float m = -INFINITY;
    long i = 0;
    if (n >= 8) {
        __m256 mv = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
        float t[8];
        _mm256_storeu_ps(t, mv);
        for (int j = 0; j < 8; j++) m = t[j] > m ? t[j] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256 mm = _mm256_set1_ps(m);
    __m256 sv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mm));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float t[8], s = 0;
    _mm256_storeu_ps(t, sv);
    for (int j = 0; j < 8; j++) s += t[j];
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    const float inv = 1.0f / s;
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(inv)));
    for (; i < n; i++) x[i] *= inv;
}

__attribute__((target("avx2,fma"))) static void sigmoid_avx2(float *x, long n, float beta, int times) {
    const __m256 one = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(beta), sign = _mm256_set1_ps(-0.0f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i), z = _mm256_mul_ps(v, b);
        const __m256 e = exp256(_mm256_or_ps(z, sign));  // e^−|z|, as in the AVX-512 path
        const __m256 r = _mm256_div_ps(one, _mm256_add_ps(one, e));
        __m256 sg = _mm256_blendv_ps(r, _mm256_mul_ps(e, r), _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ));
        if (times) sg = _mm256_mul_ps(sg, v);
        _mm256_storeu_ps(x + i, sg);
    }
    for (; i < n; i++) {
        const float z = beta * x[i], e = expf(-fabsf(z)), sg = z >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        x[i] = times ? x[i] * sg : sg;
    }
}

// MARK: plain C

static void softmax_generic(float *x, long n) {
    float m = -INFINITY, s = 0;
    for (long i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    for (long i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    const float inv = 1.0f / s;
    for (long i = 0; i < n; i++) x[i] *= inv;
}

static void sigmoid_generic(float *x, long n, float beta, int times) {
    for (long i = 0; i < n; i++) {
        // Split by sign so expf never overflows into inf/inf.
        const float z = beta * x[i], e = expf(-fabsf(z)), s = z >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        x[i] = times ? x[i] * s : s;
    }
}

// MARK: entry points

void shrink_softmax_rows(int isa, float *x, long rows, long n) {
    isa = shrink_isa_clamped(isa);
    for (long r = 0; r < rows; r++) {
        float *row = x + r * n;
        if (isa == SHRINK_ISA_AVX512) softmax_avx512(row, n);
        else if (isa == SHRINK_ISA_AVX2) softmax_avx2(row, n);
        else softmax_generic(row, n);
    }
}

void shrink_sigmoid(int isa, float *x, long n, float beta, int times) {
    isa = shrink_isa_clamped(isa);
    if (isa == SHRINK_ISA_AVX512) sigmoid_avx512(x, n, beta, times);
    else if (isa == SHRINK_ISA_AVX2) sigmoid_avx2(x, n, beta, times);
    else sigmoid_generic(x, n, beta, times);
}
