// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions: each 2×2 output tile costs 16 multiplies
// per (input, output) channel pair instead of 36, so the GEMM work drops 2.25×. The transforms
// (input Bᵀ d B, output Aᵀ m A) are additions only; the 16 products are 16 GEMMs
// U_ξ[M×C] · V_ξ[C×T] on the packed-weight GEMM. Tiles are numbered image by image, row by row.
// The transforms' bodies are compiled three times (plain, AVX2, AVX-512) and vectorised by the
// compiler for each, like the depthwise kernel.
#include "ckernels.h"

#include <stdlib.h>
#include <string.h>

size_t shrink_winograd_filter_size(long m, long c) { return 16 * shrink_packed_size(m, c); }

void shrink_winograd_pack_filter(long m, long c, const float *w, float *packed) {
    float *u = malloc((size_t)(16 * m * c > 0 ? 16 * m * c : 1) * sizeof(float));
    for (long o = 0; o < m; o++)
        for (long i = 0; i < c; i++) {
            const float *g = w + (o * c + i) * 9;
            float t[4][3];  // G g, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int r = 0; r < 4; r++) {  // (G g) Gᵀ
                const float v[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]),
                                    0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
                for (int l = 0; l < 4; l++) u[((size_t)(r * 4 + l) * m + o) * c + i] = v[l];
            }
        }
    const size_t ps = shrink_packed_size(m, c);
    for (int xi = 0; xi < 16; xi++) shrink_pack_a(m, c, u + (size_t)xi * m * c, c, packed + xi * ps);
    free(u);
}

// MARK: input transform

__attribute__((always_inline)) static inline void input_body(long c0, long c1, long c, long h, long w, long pt,
                                                             long pl, long ty0, long th, long tw, long nimg,
                                                             const float *restrict x, long ximg,
                                                             float *restrict v, long ldv, float *restrict rows) {
    const long wp = 2 * tw + 2;  // padded row width the tiles of one tile row read
    float *restrict r[4] = {rows, rows + wp, rows + 2 * wp, rows + 3 * wp};
    float *restrict t[4] = {rows + 4 * wp, rows + 5 * wp, rows + 6 * wp, rows + 7 * wp};
    // Input columns [xlo, xhi) of the padded row are inside the image.
    const long xlo = pl < wp ? pl : wp, xhi0 = pl + w < wp ? pl + w : wp;
    const long xhi = xhi0 > xlo ? xhi0 : xlo;
    const size_t xi_stride = (size_t)c * ldv;
    for (long img = 0; img < nimg; img++)
        for (long ci = c0; ci < c1; ci++) {
            const float *restrict plane = x + img * ximg + ci * h * w;
            for (long ty = 0; ty < th; ty++) {
                for (int k = 0; k < 4; k++) {
                    const long iy = 2 * (ty0 + ty) - pt + k;
                    float *restrict q = r[k];
                    if (iy < 0 || iy >= h) {
                        for (long j = 0; j < wp; j++) q[j] = 0;
                        continue;
                    }
                    const float *restrict line = plane + iy * w - pl;
                    for (long j = 0; j < xlo; j++) q[j] = 0;
                    for (long j = xlo; j < xhi; j++) q[j] = line[j];
                    for (long j = xhi; j < wp; j++) q[j] = 0;
                }
                for (long j = 0; j < wp; j++) {  // Bᵀ d: rows
                    const float a0 = r[0][j], a1 = r[1][j], a2 = r[2][j], a3 = r[3][j];
                    t[0][j] = a0 - a2;
                    t[1][j] = a1 + a2;
                    t[2][j] = a2 - a1;
                    t[3][j] = a1 - a3;
                }
                float *restrict base = v + ci * ldv + (img * th + ty) * tw;
                for (int k = 0; k < 4; k++) {  // (Bᵀ d) B: columns, one tile every two
                    const float *restrict s = t[k];
                    float *restrict d0 = base + (k * 4 + 0) * xi_stride, *restrict d1 = base + (k * 4 + 1) * xi_stride;
                    float *restrict d2 = base + (k * 4 + 2) * xi_stride, *restrict d3 = base + (k * 4 + 3) * xi_stride;
                    for (long tx = 0; tx < tw; tx++) {
                        const float a0 = s[2 * tx], a1 = s[2 * tx + 1], a2 = s[2 * tx + 2], a3 = s[2 * tx + 3];
                        d0[tx] = a0 - a2;
                        d1[tx] = a1 + a2;
                        d2[tx] = a2 - a1;
                        d3[tx] = a1 - a3;
                    }
                }
            }
        }
}

static void input_generic(long c0, long c1, long c, long h, long w, long pt, long pl, long ty0, long th, long tw, long nimg,
                          const float *x, long ximg, float *v, long ldv, float *rows) {
    input_body(c0, c1, c, h, w, pt, pl, ty0, th, tw, nimg, x, ximg, v, ldv, rows);
}
__attribute__((target("avx2,fma"))) static void input_avx2(long c0, long c1, long c, long h, long w, long pt, long pl,
                                                           long ty0, long th, long tw, long nimg, const float *x, long ximg,
                                                           float *v, long ldv, float *rows) {
    input_body(c0, c1, c, h, w, pt, pl, ty0, th, tw, nimg, x, ximg, v, ldv, rows);
}
__attribute__((target("avx512f"))) static void input_avx512(long c0, long c1, long c, long h, long w, long pt,
                                                            long pl, long ty0, long th, long tw, long nimg, const float *x,
                                                            long ximg, float *v, long ldv, float *rows) {
    input_body(c0, c1, c, h, w, pt, pl, ty0, th, tw, nimg, x, ximg, v, ldv, rows);
}

void shrink_winograd_input(int isa, long c0, long c1, long c, long h, long w, long pt, long pl, long ty0, long th, long tw,
                           long nimg, const float *x, long ximg, float *v, long ldv) {
    isa = shrink_isa_clamped(isa);
    float *rows = malloc((size_t)8 * (2 * tw + 2) * sizeof(float));
    if (isa == SHRINK_ISA_AVX512) input_avx512(c0, c1, c, h, w, pt, pl, ty0, th, tw, nimg, x, ximg, v, ldv, rows);
    else if (isa == SHRINK_ISA_AVX2) input_avx2(c0, c1, c, h, w, pt, pl, ty0, th, tw, nimg, x, ximg, v, ldv, rows);
    else input_generic(c0, c1, c, h, w, pt, pl, ty0, th, tw, nimg, x, ximg, v, ldv, rows);
    free(rows);
}

// MARK: output transform

__attribute__((always_inline)) static inline void output_body(long m0, long m1, long m, long oh, long ow, long ty0, long th,
                                                              long tw, long nimg, const float *restrict p, long ldp,
                                                              const float *restrict bias, int relu,
                                                              float *restrict out, long oimg, float *restrict rows) {
    const size_t xi_stride = (size_t)m * ldp;
    float *restrict y0 = rows, *restrict y1 = rows + 2 * tw;
    for (long img = 0; img < nimg; img++)
        for (long o = m0; o < m1; o++) {
            const float b = bias ? bias[o] : 0.0f;
            float *restrict plane = out + img * oimg + o * oh * ow;
            for (long ty = 0; ty < th; ty++) {
                const float *restrict s = p + o * ldp + (img * th + ty) * tw;
                for (long tx = 0; tx < tw; tx++) {
                    float z[2][4];  // Aᵀ X, Aᵀ = [1 1 1 0; 0 1 −1 −1]
                    for (int j = 0; j < 4; j++) {
                        const float x0 = s[(0 * 4 + j) * xi_stride + tx], x1 = s[(1 * 4 + j) * xi_stride + tx];
                        const float x2 = s[(2 * 4 + j) * xi_stride + tx], x3 = s[(3 * 4 + j) * xi_stride + tx];
                        z[0][j] = x0 + x1 + x2;
                        z[1][j] = x1 - x2 - x3;
                    }
                    float a = z[0][0] + z[0][1] + z[0][2] + b, bb = z[0][1] - z[0][2] - z[0][3] + b;
                    float cc = z[1][0] + z[1][1] + z[1][2] + b, d = z[1][1] - z[1][2] - z[1][3] + b;
                    if (relu) {
                        a = a > 0 ? a : 0; bb = bb > 0 ? bb : 0; cc = cc > 0 ? cc : 0; d = d > 0 ? d : 0;
                    }
                    y0[2 * tx] = a; y0[2 * tx + 1] = bb;
                    y1[2 * tx] = cc; y1[2 * tx + 1] = d;
                }
                memcpy(plane + 2 * (ty0 + ty) * ow, y0, (size_t)ow * sizeof(float));
                if (2 * (ty0 + ty) + 1 < oh) memcpy(plane + (2 * (ty0 + ty) + 1) * ow, y1, (size_t)ow * sizeof(float));
            }
        }
}

static void output_generic(long m0, long m1, long m, long oh, long ow, long ty0, long th, long tw, long nimg, const float *p,
                           long ldp, const float *bias, int relu, float *out, long oimg, float *rows) {
    output_body(m0, m1, m, oh, ow, ty0, th, tw, nimg, p, ldp, bias, relu, out, oimg, rows);
}
__attribute__((target("avx2,fma"))) static void output_avx2(long m0, long m1, long m, long oh, long ow, long ty0, long th,
                                                            long tw, long nimg, const float *p, long ldp,
                                                            const float *bias, int relu, float *out, long oimg,
                                                            float *rows) {
    output_body(m0, m1, m, oh, ow, ty0, th, tw, nimg, p, ldp, bias, relu, out, oimg, rows);
}
__attribute__((target("avx512f"))) static void output_avx512(long m0, long m1, long m, long oh, long ow, long ty0, long th,
                                                             long tw, long nimg, const float *p, long ldp,
                                                             const float *bias, int relu, float *out, long oimg,
                                                             float *rows) {
    output_body(m0, m1, m, oh, ow, ty0, th, tw, nimg, p, ldp, bias, relu, out, oimg, rows);
}

void shrink_winograd_output(int isa, long m0, long m1, long m, long oh, long ow, long ty0, long th, long tw, long nimg,
                            const float *p, long ldp, const float *bias, int relu, float *out, long oimg) {
    isa = shrink_isa_clamped(isa);
    float *rows = malloc((size_t)4 * tw * sizeof(float));
    if (isa == SHRINK_ISA_AVX512) output_avx512(m0, m1, m, oh, ow, ty0, th, tw, nimg, p, ldp, bias, relu, out, oimg, rows);
    else if (isa == SHRINK_ISA_AVX2) output_avx2(m0, m1, m, oh, ow, ty0, th, tw, nimg, p, ldp, bias, relu, out, oimg, rows);
    else output_generic(m0, m1, m, oh, ow, ty0, th, tw, nimg, p, ldp, bias, relu, out, oimg, rows);
    free(rows);
}

// MARK: products

void shrink_winograd_products(int isa, long xi0, long xi1, long m, long c, long tiles, const float *packed,
                              const float *v, float *p) {
    const size_t ps = shrink_packed_size(m, c);
    for (long xi = xi0; xi < xi1; xi++)
        shrink_sgemm_packed(isa, m, 0, tiles, c, packed + xi * ps, v + (size_t)xi * c * tiles, tiles,
                            p + (size_t)xi * m * tiles, tiles, NULL, 0);
}
