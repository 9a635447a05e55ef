// Depthwise convolution of one channel plane, one output row at a time: the row accumulates in
// L1 while each valid tap adds a shifted (and for stride > 1, strided) input row. The same body is
// compiled three times — plain, AVX2+FMA, AVX-512 — and vectorised by the compiler for each.
#include "ckernels.h"

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

void shrink_depthwise_plane(int isa, const float *x, long h, long w, const float *filter, long kh, long kw, long sy,
                            long sx, long dy, long dx, long py, long px, float *out, long oh, long ow, float bias) {
    switch (shrink_isa_clamped(isa)) {
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
