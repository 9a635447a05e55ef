// The piecewise-linear activations (relu, leaky relu, clip, hard sigmoid, hard swish, affine) on
// the widest vectors the CPU has: Swift compiles its loops for baseline x86-64, i.e. SSE's four
// lanes, where these passes over whole activations cost ocr-cls 10 % of its batch-1 time.
// Operand order keeps NaN: max_ps/min_ps return their second operand when either is NaN.
#include "ckernels.h"

#include <immintrin.h>

static inline float clampf(float lo, float v, float hi) {
    v = v < lo ? lo : v;  // NaN stays (comparisons with NaN are false)
    return v > hi ? hi : v;
}

static inline float scalar(int kind, float v, float a, float b) {
    switch (kind) {
    case SHRINK_ACT_RELU: return v < 0 ? 0 : v;
    case SHRINK_ACT_LEAKY: return v >= 0 ? v : a * v;
    case SHRINK_ACT_CLIP: return clampf(a, v, b);
    case SHRINK_ACT_HARD_SIGMOID: return clampf(0, a * v + b, 1);
    case SHRINK_ACT_HARD_SWISH: return v * clampf(0, v * (1.0f / 6.0f) + 0.5f, 1);
    default: return a * v + b;
    }
}

__attribute__((target("avx512f"))) static void act512(int kind, float *x, long n, float a, float b) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1);
    const __m512 sixth = _mm512_set1_ps(1.0f / 6.0f), half = _mm512_set1_ps(0.5f);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        __m512 r;
        switch (kind) {
        case SHRINK_ACT_RELU: r = _mm512_max_ps(zero, v); break;
        case SHRINK_ACT_LEAKY:
            r = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_NGE_UQ), v, va);  // v < 0 or NaN: a·v
            break;
        case SHRINK_ACT_CLIP: r = _mm512_min_ps(vb, _mm512_max_ps(va, v)); break;
        case SHRINK_ACT_HARD_SIGMOID:
            r = _mm512_max_ps(zero, _mm512_min_ps(one, _mm512_add_ps(_mm512_mul_ps(va, v), vb)));
            break;
        case SHRINK_ACT_HARD_SWISH:
            r = _mm512_mul_ps(v, _mm512_max_ps(zero, _mm512_min_ps(one, _mm512_add_ps(_mm512_mul_ps(v, sixth), half))));
            break;
        default: r = _mm512_add_ps(_mm512_mul_ps(va, v), vb); break;
        }
        _mm512_storeu_ps(x + i, r);
    }
    for (; i < n; i++) x[i] = scalar(kind, x[i], a, b);
}

__attribute__((target("avx2"))) static void act256(int kind, float *x, long n, float a, float b) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1);
    const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f), half = _mm256_set1_ps(0.5f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 r;
        switch (kind) {
        case SHRINK_ACT_RELU: r = _mm256_max_ps(zero, v); break;
        case SHRINK_ACT_LEAKY:
            r = _mm256_blendv_ps(v, _mm256_mul_ps(v, va), _mm256_cmp_ps(v, zero, _CMP_NGE_UQ));
            break;
        case SHRINK_ACT_CLIP: r = _mm256_min_ps(vb, _mm256_max_ps(va, v)); break;
        case SHRINK_ACT_HARD_SIGMOID:
            r = _mm256_max_ps(zero, _mm256_min_ps(one, _mm256_add_ps(_mm256_mul_ps(va, v), vb)));
            break;
        case SHRINK_ACT_HARD_SWISH:
            r = _mm256_mul_ps(v, _mm256_max_ps(zero, _mm256_min_ps(one, _mm256_add_ps(_mm256_mul_ps(v, sixth), half))));
            break;
        default: r = _mm256_add_ps(_mm256_mul_ps(va, v), vb); break;
        }
        _mm256_storeu_ps(x + i, r);
    }
    for (; i < n; i++) x[i] = scalar(kind, x[i], a, b);
}

void shrink_activation(int isa, int kind, float *x, long n, float a, float b) {
    isa = shrink_isa_clamped(isa);
    if (isa == SHRINK_ISA_AVX512) return act512(kind, x, n, a, b);
    if (isa == SHRINK_ISA_AVX2) return act256(kind, x, n, a, b);
    for (long i = 0; i < n; i++) x[i] = scalar(kind, x[i], a, b);
}
