// Depthwise convolution of one channel plane, one output row at a time: the row accumulates in
// L1 while each valid tap adds a shifted (and for stride > 1, strided) input row. The same body is
// compiled three times — plain, AVX2+FMA, AVX-512 — and vectorised by the compiler for each.
#include "ckernels.h"

#include <stdlib.h>
#include <string.h>

static inline long ceil_div(long a, long b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Output positions [lo, hi) whose input index o·stride + tap lies in [0, size).
static inline void valid_range(long out, long stride, long tap, long size, long *lo, long *hi) {
    long l = ceil_div(-tap, stride), h = ceil_div(size - tap, stride);
    if (l < 0) l = 0;
    if (h > out) h = out;
    if (h < l) h = l;
    *lo = l; *hi = h;
}

__attribute__((always_inline)) static inline void depthwise_body(
    const float *restrict x, long h, long w, const float *restrict f, long kh, long kw, long sy, long sx, long dy,
    long dx, long py, long px, float *restrict out, long oh, long ow, float bias) {
    for (long oy = 0; oy < oh; oy++) {
        float *restrict q = out + oy * ow;
        for (long ox = 0; ox < ow; ox++) q[ox] = bias;
        for (long ky = 0; ky < kh; ky++) {
            const long iy = oy * sy + ky * dy - py;
            if (iy < 0 || iy >= h) continue;
            const float *restrict line = x + iy * w;
            for (long kx = 0; kx < kw; kx++) {
                const long tap = kx * dx - px;
                long lo, hi;
                valid_range(ow, sx, tap, w, &lo, &hi);
                const float wv = f[ky * kw + kx];
                const float *restrict src = line + tap;
                if (sx == 1) {
                    for (long ox = lo; ox < hi; ox++) q[ox] += wv * src[ox];
                } else if (sx == 2) {
                    for (long ox = lo; ox < hi; ox++) q[ox] += wv * src[2 * ox];
                } else {
                    for (long ox = lo; ox < hi; ox++) q[ox] += wv * src[ox * sx];
                }
            }
        }
    }
}

// Square K×K filters (3×3, 5×5), strides of 1 or 2 on each axis, dilation 1, read from a zero-padded copy
// of the plane: no range checks, and each output vector sums all K·K taps in registers (the
// row-at-a-time body above reads and writes the output row once per tap). Measured in a C
// driver (AVX-512, 48×96 plane, 3×3): 6.0 → 1.9 µs at stride 1, 2.7 → 1.9 µs at stride 2.
__attribute__((always_inline)) static inline void depthwise_padded(const float *restrict p, long wp,
                                                                   const float *restrict f, long K, long SY, long SX,
                                                                   float *restrict out, long oh, long ow,
                                                                   float bias) {
    float fk[25];
    for (long i = 0; i < K * K; i++) fk[i] = f[i];
#define DW_ROWS(KK, SSY, SSX)                                                                                 \
    for (long oy = 0; oy < oh; oy++) {                                                                        \
        const float *restrict r = p + oy * SSY * wp;                                                          \
        float *restrict q = out + oy * ow;                                                                    \
        for (long ox = 0; ox < ow; ox++) {                                                                    \
            float acc = bias;                                                                                 \
            for (long ky = 0; ky < KK; ky++)                                                                  \
                for (long kx = 0; kx < KK; kx++) acc += fk[ky * KK + kx] * r[ky * wp + ox * SSX + kx];        \
            q[ox] = acc;                                                                                      \
        }                                                                                                     \
    }
    // Strides (2, 1) keep a text line's width while halving its height (PP-OCR's recognisers).
    if (K == 3) {
        if (SY == 1 && SX == 1) { DW_ROWS(3, 1, 1) }
        else if (SY == 2 && SX == 2) { DW_ROWS(3, 2, 2) }
        else if (SY == 2) { DW_ROWS(3, 2, 1) }
        else { DW_ROWS(3, 1, 2) }
    } else {
        if (SY == 1 && SX == 1) { DW_ROWS(5, 1, 1) }
        else if (SY == 2 && SX == 2) { DW_ROWS(5, 2, 2) }
        else if (SY == 2) { DW_ROWS(5, 2, 1) }
        else { DW_ROWS(5, 1, 2) }
    }
#undef DW_ROWS
}

static void padded_generic(const float *p, long wp, const float *f, long k, long sy, long sx, float *out, long oh,
                           long ow, float bias) {
    depthwise_padded(p, wp, f, k, sy, sx, out, oh, ow, bias);
}
__attribute__((target("avx2,fma"))) static void padded_avx2(const float *p, long wp, const float *f, long k, long sy,
                                                            long sx, float *out, long oh, long ow, float bias) {
    depthwise_padded(p, wp, f, k, sy, sx, out, oh, ow, bias);
}
__attribute__((target("avx512f"))) static void padded_avx512(const float *p, long wp, const float *f, long k, long sy,
                                                             long sx, float *out, long oh, long ow, float bias) {
    depthwise_padded(p, wp, f, k, sy, sx, out, oh, ow, bias);
}

static void depthwise_generic(const float *x, long h, long w, const float *f, long kh, long kw, long sy, long sx,
                              long dy, long dx, long py, long px, float *out, long oh, long ow, float bias) {
    depthwise_body(x, h, w, f, kh, kw, sy, sx, dy, dx, py, px, out, oh, ow, bias);
}

__attribute__((target("avx2,fma"))) static void depthwise_avx2(const float *x, long h, long w, const float *f,
                                                               long kh, long kw, long sy, long sx, long dy, long dx,
                                                               long py, long px, float *out, long oh, long ow,
                                                               float bias) {
    depthwise_body(x, h, w, f, kh, kw, sy, sx, dy, dx, py, px, out, oh, ow, bias);
}

__attribute__((target("avx512f"))) static void depthwise_avx512(const float *x, long h, long w, const float *f,
                                                                long kh, long kw, long sy, long sx, long dy, long dx,
                                                                long py, long px, float *out, long oh, long ow,
                                                                float bias) {
    depthwise_body(x, h, w, f, kh, kw, sy, sx, dy, dx, py, px, out, oh, ow, bias);
}

// One plane (out = bias + Σ taps, no activation); `scratch` (at least (oh − 1)·sy + kh by (ow − 1)·sx + kw floats) holds the padded
// copy when the caller has one, else it is allocated here.
static void depthwise_one(int isa, const float *x, long h, long w, const float *filter, long kh, long kw, long sy,
                          long sx, long dy, long dx, long py, long px, float *out, long oh, long ow, float bias,
                          float *scratch) {
    if (kh == kw && (kh == 3 || kh == 5) && sy >= 1 && sy <= 2 && sx >= 1 && sx <= 2 && dy == 1 && dx == 1 &&
        oh > 0 && ow > 0) {
        const long hp = (oh - 1) * sy + kh, wp = (ow - 1) * sx + kw;
        float *p = scratch ? scratch : malloc((size_t)(hp * wp) * sizeof(float));
        if (p) {
            for (long r = 0; r < hp; r++) {
                float *row = p + r * wp;
                const long iy = r - py;
                if (iy < 0 || iy >= h) {
                    for (long c = 0; c < wp; c++) row[c] = 0;
                    continue;
                }
                const long lo = px < wp ? px : wp, hi0 = px + w < wp ? px + w : wp, hi = hi0 > lo ? hi0 : lo;
                for (long c = 0; c < lo; c++) row[c] = 0;
                memcpy(row + lo, x + iy * w + (lo - px), (size_t)(hi - lo) * sizeof(float));
                for (long c = hi; c < wp; c++) row[c] = 0;
            }
            if (isa == SHRINK_ISA_AVX512) padded_avx512(p, wp, filter, kh, sy, sx, out, oh, ow, bias);
            else if (isa == SHRINK_ISA_AVX2) padded_avx2(p, wp, filter, kh, sy, sx, out, oh, ow, bias);
            else padded_generic(p, wp, filter, kh, sy, sx, out, oh, ow, bias);
            if (p != scratch) free(p);
            return;
        }
    }
    switch (isa) {
    case SHRINK_ISA_AVX512:
        depthwise_avx512(x, h, w, filter, kh, kw, sy, sx, dy, dx, py, px, out, oh, ow, bias);
        break;
    case SHRINK_ISA_AVX2:
        depthwise_avx2(x, h, w, filter, kh, kw, sy, sx, dy, dx, py, px, out, oh, ow, bias);
        break;
    default:
        depthwise_generic(x, h, w, filter, kh, kw, sy, sx, dy, dx, py, px, out, oh, ow, bias);
    }
}

void shrink_depthwise_planes(int isa, long p0, long p1, const float *x, long c, long m, long h, long w,
                             const float *filter, long kh, long kw, long sy, long sx, long dy, long dx, long py,
                             long px, const float *bias, float *out, long oh, long ow) {
    isa = shrink_isa_clamped(isa);
    const long mg = m / c, taps = kh * kw, ohw = oh * ow;
    // One padded buffer for the whole range: on the stack when it is small (PP-OCR's 3×5 maps
    // had cost a malloc, a free and a Swift call per plane, more than their 375 MACs).
    const long hp = oh > 0 ? (oh - 1) * sy + kh : 0, wp = ow > 0 ? (ow - 1) * sx + kw : 0;
    float stack[4096];
    float *scratch = hp * wp <= 4096 ? stack : malloc((size_t)(hp * wp) * sizeof(float));
    for (long plane = p0; plane < p1; plane++) {
        const long i = plane / m, ch = plane % m;
        depthwise_one(isa, x + (i * c + ch / mg) * h * w, h, w, filter + ch * taps, kh, kw, sy, sx, dy, dx, py, px,
                      out + plane * ohw, oh, ow, bias ? bias[ch] : 0.0f, scratch);
    }
    if (scratch != stack) free(scratch);
}

// MARK: max pooling over non-overlapping windows

// max that keeps a NaN from either side (maxps alone returns its second operand).
static inline float max_nan(float a, float b) { return (a > b || a != a) ? a : b; }

// Max pool with kernel = stride = (ky, kx), ky, kx ∈ {1, 2}, no pads: each window read once,
// in plain loops the compiler vectorises for each path (the stride-2 loads become shuffles).
__attribute__((always_inline)) static inline void maxpool2_body(const float *restrict x, long planes, long h, long w,
                                                                long ky, long kx, float *restrict out, long oh,
                                                                long ow) {
    for (long pl = 0; pl < planes; pl++) {
        const float *restrict src = x + pl * h * w;
        float *restrict dst = out + pl * oh * ow;
        for (long oy = 0; oy < oh; oy++) {
            const float *restrict r0 = src + oy * ky * w, *restrict r1 = ky == 2 ? r0 + w : r0;
            float *restrict q = dst + oy * ow;
            if (kx == 2) {
                for (long ox = 0; ox < ow; ox++)
                    q[ox] = max_nan(max_nan(r0[2 * ox], r0[2 * ox + 1]), max_nan(r1[2 * ox], r1[2 * ox + 1]));
            } else {
                for (long ox = 0; ox < ow; ox++) q[ox] = max_nan(r0[ox], r1[ox]);
            }
        }
    }
}

static void maxpool2_generic(const float *x, long planes, long h, long w, long ky, long kx, float *out, long oh,
                             long ow) {
    maxpool2_body(x, planes, h, w, ky, kx, out, oh, ow);
}
__attribute__((target("avx2,fma"))) static void maxpool2_avx2(const float *x, long planes, long h, long w, long ky,
                                                               long kx, float *out, long oh, long ow) {
    maxpool2_body(x, planes, h, w, ky, kx, out, oh, ow);
}
__attribute__((target("avx512f"))) static void maxpool2_avx512(const float *x, long planes, long h, long w, long ky,
                                                               long kx, float *out, long oh, long ow) {
    maxpool2_body(x, planes, h, w, ky, kx, out, oh, ow);
}

void shrink_maxpool_tiles(int isa, const float *x, long planes, long h, long w, long ky, long kx, float *out, long oh,
                          long ow) {
    isa = shrink_isa_clamped(isa);
    if (isa == SHRINK_ISA_AVX512) maxpool2_avx512(x, planes, h, w, ky, kx, out, oh, ow);
    else if (isa == SHRINK_ISA_AVX2) maxpool2_avx2(x, planes, h, w, ky, kx, out, oh, ow);
    else maxpool2_generic(x, planes, h, w, ky, kx, out, oh, ow);
}
