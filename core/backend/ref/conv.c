/* ref/conv.c -- the convolutions' naive loops (cpu:ref's; cpu/conv.c has the fast ones):
 * every output element is its defining sum, taken in double and rounded once, with no
 * im2col, gemm or workspace.  The geometry (dm_conv_geom, backend.h): big [N x Cb x Hb x Wb],
 * small [N x R x Hs x Ws], w [R x Cb/G x kh x kw]; small position (oi, oj) and tap (ki, kj)
 * meet big position (oi*sh - ph + ki*dh, oj*sw - pw + kj*dw). */
#include "internal.h"
#include "ref.h"

static double ld(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static void st(dm_dtype dt, void *p, int64_t i, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

#define BIG(n, c, i, j) ((((n) * g->Cb + (c)) * g->Hb + (i)) * g->Wb + (j))
#define SMALL(n, r, i, j) ((((n) * g->R + (r)) * g->Hs + (i)) * g->Ws + (j))
#define W(r, c, ki, kj) ((((r) * (g->Cb / g->G) + (c)) * g->kh + (ki)) * g->kw + (kj))

/* small[n,r,oi,oj] = bias[r] + sum over c, ki, kj of w[r,c,ki,kj] * big[n, group(r) c, i, j] */
int dm__ref_conv_big_to_small(dm_dtype dt, const dm_conv_geom *g, const void *big,
                              const void *w, const void *bias, void *small)
{
    int64_t Cg = g->Cb / g->G, Rg = g->R / g->G;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t r = 0; r < g->R; r++)
            for (int64_t oi = 0; oi < g->Hs; oi++)
                for (int64_t oj = 0; oj < g->Ws; oj++) {
                    double s = bias ? ld(dt, bias, r) : 0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t ki = 0; ki < g->kh; ki++)
                            for (int64_t kj = 0; kj < g->kw; kj++) {
                                int64_t i = oi * g->sh - g->ph + ki * g->dh;
                                int64_t j = oj * g->sw - g->pw + kj * g->dw;
                                if (i < 0 || i >= g->Hb || j < 0 || j >= g->Wb) continue;
                                s += ld(dt, w, W(r, c, ki, kj)) *
                                     ld(dt, big, BIG(n, r / Rg * Cg + c, i, j));
                            }
                    st(dt, small, SMALL(n, r, oi, oj), s);
                }
    return 0;
}

/* big[n,c,i,j] = bias[c] + the sum over every (r, oi, oj, ki, kj) that meets (i, j) of
   w[r, c in its group, ki, kj] * small[n,r,oi,oj] */
int dm__ref_conv_small_to_big(dm_dtype dt, const dm_conv_geom *g, const void *small,
                              const void *w, const void *bias, void *big)
{
    int64_t Cg = g->Cb / g->G, Rg = g->R / g->G;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t c = 0; c < g->Cb; c++)
            for (int64_t i = 0; i < g->Hb; i++)
                for (int64_t j = 0; j < g->Wb; j++) {
                    double s = bias ? ld(dt, bias, c) : 0;
                    int64_t gr = c / Cg;
                    for (int64_t r = gr * Rg; r < (gr + 1) * Rg; r++)
                        for (int64_t ki = 0; ki < g->kh; ki++)
                            for (int64_t kj = 0; kj < g->kw; kj++) {
                                int64_t ti = i + g->ph - ki * g->dh, tj = j + g->pw - kj * g->dw;
                                if (ti < 0 || tj < 0 || ti % g->sh || tj % g->sw) continue;
                                int64_t oi = ti / g->sh, oj = tj / g->sw;
                                if (oi >= g->Hs || oj >= g->Ws) continue;
                                s += ld(dt, w, W(r, c % Cg, ki, kj)) *
                                     ld(dt, small, SMALL(n, r, oi, oj));
                            }
                    st(dt, big, BIG(n, c, i, j), s);
                }
    return 0;
}

/* gw[r,c,ki,kj] (+)= sum over n, oi, oj of small[n,r,oi,oj] * big[n, group(r) c, i, j] */
int dm__ref_conv_weight_grad(dm_dtype dt, const dm_conv_geom *g, const void *big,
                             const void *small, int acc, void *gw)
{
    int64_t Cg = g->Cb / g->G, Rg = g->R / g->G;
    for (int64_t r = 0; r < g->R; r++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t ki = 0; ki < g->kh; ki++)
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    double s = acc ? ld(dt, gw, W(r, c, ki, kj)) : 0;
                    for (int64_t n = 0; n < g->N; n++)
                        for (int64_t oi = 0; oi < g->Hs; oi++)
                            for (int64_t oj = 0; oj < g->Ws; oj++) {
                                int64_t i = oi * g->sh - g->ph + ki * g->dh;
                                int64_t j = oj * g->sw - g->pw + kj * g->dw;
                                if (i < 0 || i >= g->Hb || j < 0 || j >= g->Wb) continue;
                                s += ld(dt, small, SMALL(n, r, oi, oj)) *
                                     ld(dt, big, BIG(n, r / Rg * Cg + c, i, j));
                            }
                    st(dt, gw, W(r, c, ki, kj), s);
                }
    return 0;
}

/* gb[c] = sum over n, l of go[n,c,l] */
void dm__ref_conv_bias_grad(dm_dtype dt, const void *go, int64_t N, int64_t C, int64_t L,
                            void *gb)
{
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < L; l++) s += ld(dt, go, (n * C + c) * L + l);
        st(dt, gb, c, s);
    }
}
