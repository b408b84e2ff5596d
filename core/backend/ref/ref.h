/* ref.h -- the cpu:ref device's kernels, gathered into its table by ref/table.c */
#ifndef DM_REF_H
#define DM_REF_H

#include "backend.h"

void dm__ref_binary(dm_binop op, dm_tensor *out, const dm_tensor *a, const dm_tensor *b);
extern const dm_f32_row_fn dm__ref_binary_f32[DM_BIN_MINIMUM + 1];
void dm__ref_unary(dm_unop op, dm_tensor *out, const dm_tensor *x);
void dm__ref_scalar(dm_scalar_kind k, dm_tensor *out, const dm_tensor *x, double s);
void dm__ref_clamp(dm_tensor *out, const dm_tensor *x, double lo, double hi);
void dm__ref_leaky_relu(dm_tensor *out, const dm_tensor *x, double slope, double unused);
void dm__ref_elu(dm_tensor *out, const dm_tensor *x, double alpha, double unused);
void dm__ref_where(dm_tensor *out, const dm_tensor *cond, const dm_tensor *a,
                   const dm_tensor *b);
int dm__ref_reduce(dm_redop op, dm_dtype dt, const void *x, dm_geom g, double scale,
                   int64_t correction, void *y);
void dm__ref_maxmin(dm_dtype dt, const void *x, dm_geom g, int is_min, void *v, int64_t *ix);
void dm__ref_softmax(dm_dtype dt, const void *x, void *y, dm_geom g, int logsm);
int dm__ref_sum_to(dm_dtype dt, const void *x, int nb, const int64_t *bsize, const int *bred,
                  int64_t n, int64_t m, void *y);
void dm__ref_softmax_bw(dm_dtype dt, const void *y, const void *g, void *gi, dm_geom G,
                      int logsm);
int dm__ref_reduce_bw(dm_dtype dt, const struct dm_node *n, dm_geom G, int full, const void *x,
                    const void *g, const int64_t *ix, const void *sd, void *gi, int64_t nin);
void dm__ref_unary_bw(dm_dtype dt, dm_unop u, int64_t m, const void *g, const void *x,
                      const void *y, void *o);
void dm__ref_scalar_bw(dm_dtype dt, int op, int div, int64_t m, const void *g, const void *x,
                       const void *y, double s, double p1, void *o);
void dm__ref_param_bw(dm_dtype dt, int op, int64_t m, const void *g, const void *x, double p0,
                      double p1, void *o);
void dm__ref_binary_bw(dm_dtype dt, int op, const dm_tensor *gout, const dm_tensor *a,
                       const dm_tensor *b, const dm_tensor *y, dm_tensor *ga, dm_tensor *gb);
void dm__ref_where_bw(dm_dtype dt, const dm_tensor *cond, const dm_tensor *gout, dm_tensor *ga,
                      dm_tensor *gb);
void dm__ref_copy(dm_tensor *dst, const dm_tensor *src);
void dm__ref_gather(const dm_tensor *src, void *out, dm_dtype od);
void dm__ref_fill(dm_tensor *t, const void *v);
void dm__ref_inplace_f32(dm_ip_kind k, dm_tensor *t, const dm_tensor *src, float a, float b);

void dm__ref_sgd(dm_dtype dt, int64_t n, void *p, const void *g, void *buf,
                 const dm_sgd_par *s);
void dm__ref_adam(dm_dtype dt, int64_t n, void *p, const void *g, void *m, void *v, void *vmax,
                  const dm_adam_par *s);
void dm__ref_random(dm_rand_kind k, dm_tensor *t, const dm_rand_par *r, dm_rng *g);
void dm__ref_pattern(dm_pattern_kind k, dm_tensor *t, int64_t groups);
void dm__ref_slabs(size_t es, int64_t outer, int64_t run, void *dst, int64_t dstep,
                   const void *src, int64_t sstep);
void dm__ref_index_rows(size_t es, int64_t outer, int64_t m, int64_t size, int64_t inner,
                        const int64_t *pos, const void *src, void *dst);
void dm__ref_index_add(dm_dtype dt, int64_t outer, int64_t m, int64_t size, int64_t inner,
                       const int64_t *pos, const void *g, void *dst);
void dm__ref_dropout(dm_dtype dt, const dm_tensor *x, int64_t n, double p, dm_rng *g, void *m,
                     void *o);
void dm__ref_dropout_bw(dm_dtype dt, const void *g, const void *m, void *d, int64_t k);
void dm__ref_batch_norm(dm_dtype dt, const void *x, int64_t N, int64_t C, int64_t L,
                        int training, double momentum, double eps, dm_tensor *running_mean,
                        dm_tensor *running_var, const dm_tensor *weight, const dm_tensor *bias,
                        double *mean, double *inv, void *o, void *sm, void *si);
void dm__ref_batch_norm_bw(dm_dtype dt, const void *x, const void *g, const void *sm,
                           const void *si, int64_t N, int64_t C, int64_t L, int training,
                           const dm_tensor *weight, double *s1, double *s2, void *gx, void *gw,
                           void *gb);

/* vision ops: pad.c, upsample.c, pool.c */
int dm__ref_pad(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                const int32_t *lo, int mode, double value, const void *x, void *o);
int dm__ref_pad_bw(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                   const int32_t *lo, int mode, const void *g, void *r);
int dm__ref_upsample(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                     const int64_t *ishape, const int64_t *oshape, const void *x, void *y);
int dm__ref_upsample_bw(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                        const int64_t *ishape, const int64_t *oshape, const void *g, void *r);
void dm__ref_max_pool2d(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                        int64_t H, int64_t W, int64_t OH, int64_t OW, const int64_t *k,
                        const int64_t *s, const int64_t *p, const int64_t *d, int ceil_mode);
void dm__ref_max_pool2d_bw(dm_dtype dt, const void *g, const int64_t *ix, void *r, int64_t P,
                           int64_t HW, int64_t OHW);
void dm__ref_avg_pool2d(dm_dtype dt, const void *x, void *y, int64_t P, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, const int32_t *k, const int32_t *s,
                        const int32_t *p, int cip, int64_t divisor);
void dm__ref_avg_pool2d_bw(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                           int64_t W, int64_t OH, int64_t OW, const int32_t *k,
                           const int32_t *s, const int32_t *p, int cip, int64_t divisor);
void dm__ref_adaptive_pool2d(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                             int64_t H, int64_t W, int64_t OH, int64_t OW);
void dm__ref_adaptive_avg_pool2d_bw(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                                    int64_t W, int64_t OH, int64_t OW);
void dm__ref_max_unpool2d(dm_dtype dt, const void *x, const int64_t *ip, void *y, int64_t P,
                          int64_t HW, int64_t OHW);
void dm__ref_max_unpool2d_bw(dm_dtype dt, const void *g, const int64_t *ip, void *r,
                             int64_t P, int64_t HW, int64_t OHW);
double dm__ref_loss(dm_dtype dt, int k, int64_t n, const void *x, const void *t, const void *w,
                     const void *pw, double par, void *out);
void dm__ref_loss_bw(dm_dtype dt, int k, int64_t n, const void *x, const void *t,
                      const void *w, const void *pw, double par, const void *go, double g0,
                      void *dx, void *dt_);
void dm__ref_nll(dm_dtype dt, const void *x, const dm_class_loss *L, int none, void *o,
                  double *sum, double *tw);
void dm__ref_nll_bw(dm_dtype dt, const dm_class_loss *L, const void *go, double g0, void *d);
void dm__ref_ce_log_softmax(dm_dtype dt, const void *x, const dm_class_loss *L, void *lp);
void dm__ref_cross_entropy(dm_dtype dt, const void *lp, const dm_class_loss *L, int none,
                            void *o, double *sum, double *div);
void dm__ref_cross_entropy_bw(dm_dtype dt, const void *lp, const dm_class_loss *L,
                               const void *go, double g0, double *a, void *dx, void *dtg);

/* convolutions: conv.c */
int dm__ref_conv_big_to_small(dm_dtype dt, const dm_conv_geom *g, const void *big,
                              const void *w, const void *bias, void *small);
int dm__ref_conv_small_to_big(dm_dtype dt, const dm_conv_geom *g, const void *small,
                              const void *w, const void *bias, void *big);
int dm__ref_conv_weight_grad(dm_dtype dt, const dm_conv_geom *g, const void *big,
                             const void *small, int acc, void *gw);
void dm__ref_conv_bias_grad(dm_dtype dt, const void *go, int64_t N, int64_t C, int64_t L,
                            void *gb);

/* layer and group norm: norm.c */
void dm__ref_rownorm(dm_dtype dt, const void *x, int64_t R, int64_t K, int64_t G, int64_t HW,
                    double eps, const void *w, const void *b, void *y, void *mean, void *inv);
void dm__ref_rownorm_bw(dm_dtype dt, const void *x, const void *g, const void *mean,
                       const void *inv, int64_t R, int64_t K, int64_t G, int64_t HW,
                       const void *w, void *gx, double *dw, double *db);

/* samplers: sample.c */
void dm__ref_multinomial(const double *p, int64_t rows, int64_t c, int64_t n, int replacement,
                        dm_rng *g, double *w, int64_t *perm, int64_t *o);
void dm__ref_bernoulli_p(dm_dtype dt, const double *p, int64_t n, dm_rng *g, void *o);
void dm__ref_normal_p(const double *mv, double mean_s, const double *sv, double std_s, int64_t n,
                     dm_rng *g, double *o);

/* orthogonal_'s QR and sparse_'s zeroing: init.c */
void dm__ref_qr(double *a, int64_t m, int64_t n, double *q, double *rdiag);
void dm__ref_sparse_zero(dm_tensor *t, int64_t nzero, dm_rng *g, int64_t *perm);
/* embedding: embedding.c */
void dm__ref_embedding(dm_dtype dt, const void *w, int64_t s0, int64_t s1, const int64_t *ids,
                     int64_t n, int64_t dim, void *out);
void dm__ref_embedding_bw(dm_dtype dt, const void *g, const int64_t *ids, int64_t n, int64_t dim,
                        int64_t pad, const int64_t *cnt, void *r);
void dm__ref_embedding_renorm(dm_dtype dt, void *w, int64_t s0, int64_t s1, int64_t dim,
                            const int64_t *ids, int64_t n, double max_norm, double norm_type,
                            unsigned char *seen);
void dm__ref_embedding_bag(dm_dtype dt, int mode, const void *w, int64_t s0, int64_t s1,
                         int64_t dim, const int64_t *ids, const int64_t *bd, int64_t B,
                         int64_t pad, const void *psw, void *out, int64_t *arg);
void dm__ref_embedding_bag_bw(dm_dtype dt, int mode, const void *g, int64_t dim,
                            const int64_t *ids, const int64_t *bd, int64_t B, int64_t pad,
                            const void *psw, const int64_t *cnt, const int64_t *arg,
                            const void *wc, void *gw, void *gp);

/* recurrent layers' gates: rnn.c */
void dm__ref_rnn_gates(dm_dtype dt, const dm_rnn_step *s, const void *hh, void *out, void *ws,
                     void *h, void *c);
void dm__ref_rnn_gates_bw(dm_dtype dt, const dm_rnn_step *s, const void *out, const void *ws,
                        const void *cprev, const void *hprev, const void *dhpre, int64_t ldd,
                        void *dh, void *dc, void *dA, void *dAh);

/* dm_sum_to of integers (reduce.c) and in place on any dtype (elementwise.c) */
void dm__ref_sum_to_i64(const int64_t *x, int nb, const int64_t *bsize, const int *bred,
                        int64_t n, int64_t m, int64_t *y);
void dm__ref_inplace(int op, dm_dtype ct, dm_tensor *t, const dm_tensor *src, double lo,
                     double hi);

/* bitwise.c; tril, triu, flip: shape.c; arange, linspace: range.c; linear's small product:
   linear.c */
int dm__ref_binop2(int op, dm_dtype ct, const void *a, const void *b, void *y, int64_t n);
void dm__ref_unop2(int logical, const void *x, void *y, int64_t n);
void dm__ref_divmod_bw(int fmod_, const double *g, const double *a, const double *b, double *y,
                       int64_t n);
void dm__ref_tri(size_t es, int64_t nb, int64_t r, int64_t c, int64_t k, int upper,
                 const void *src, void *dst);
void dm__ref_flip(size_t es, int nd, const int64_t *shape, unsigned mask, const void *src,
                  void *dst);
void dm__ref_range(dm_dtype dt, int linspace, double start, double end, double step,
                   int64_t n, void *out);
void dm__ref_linear_small(int64_t N, int64_t in, int64_t nout, const float *x, const float *w,
                          const float *b, float *y);
void dm__ref_bias_rows(size_t es, const void *b, int64_t bs, int64_t N, int64_t nout, void *y);
void dm__ref_bias_sum(dm_dtype dt, const void *g, int64_t N, int64_t nout, int acc, void *d);
/* reductions over several dims and the tests: reduce_multi.c; scans: scan.c; sorts: sort.c */
void dm__ref_mreduce(int kind, dm_dtype dt, const void *v, int64_t K, int64_t R, double p,
                     void *y);
void dm__ref_mreduce_bw(int kind, const double *x, const double *y, const double *g,
                        int64_t K, int64_t R, double p, double *gi);
void dm__ref_any_all(int is_all, const double *v, int64_t K, int64_t R, uint8_t *y);
void dm__ref_isclass(int kind, const double *v, int64_t n, uint8_t *y);
void dm__ref_nan_to_num(const double *v, int64_t n, double nan, double pi, double ni,
                        double *y);
void dm__ref_nan_to_num_bw(const double *x, const double *g, int64_t n, double *gi);
void dm__ref_scan(int prod, dm_dtype dt, void *o, int64_t outer, int64_t n, int64_t inner);
void dm__ref_scan_bw(int prod, dm_dtype dt, const void *g, const void *x, int64_t outer,
                     int64_t n, int64_t inner, void *gi);
void dm__ref_sort(dm_dtype dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                  int desc, int64_t k, void *row, int64_t *perm, void *v, int64_t *ix);
void dm__ref_sort_bw(dm_dtype dt, const void *g, const int64_t *ix, int64_t outer, int64_t m,
                     int64_t size, int64_t inner, void *gi);
int64_t dm__ref_unique(dm_dtype dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                       void *items, int64_t *perm);
void dm__ref_unique_out(dm_dtype dt, const void *items, const int64_t *perm, int64_t outer,
                        int64_t n, int64_t inner, int64_t u, void *v, int64_t *inv,
                        int64_t *cnt);
/* gather, scatter, index_add, bincount, one_hot: gather.c; nonzero, masked_fill: index.c */
void dm__ref_put(int op, dm_dtype dt, void *dst, const int64_t *doff, const void *src,
                 const int64_t *soff, const void *value, int64_t m);
void dm__ref_index_add_alpha(dm_dtype dt, int64_t outer, int64_t m, int64_t size,
                             int64_t inner, const int64_t *pos, const void *src, double alpha,
                             void *dst);
void dm__ref_index_add_bw(dm_dtype dt, int64_t outer, int64_t m, int64_t size, int64_t inner,
                          const int64_t *pos, const void *g, double alpha, void *dst);
void dm__ref_bincount(dm_dtype rt, const int64_t *v, int64_t n, const void *w, void *out);
void dm__ref_one_hot(const int64_t *v, int64_t n, int64_t nc, int64_t *o);
int64_t dm__ref_nonzero(const double *v, int64_t n, int nd, const int64_t *shape, int64_t *o);
void dm__ref_masked_fill(dm_dtype dt, void *out, const uint8_t *mask, int64_t n,
                         const void *value);
int64_t dm__ref_index_offsets(const int64_t *idx, int nd, const int64_t *is, int d,
                              const int64_t *xs, const int64_t *ss, int64_t *xo, int64_t *so);
void dm__ref_adv_offsets(const dm_adv_plan *p);
void dm__ref_bmath(int op, dm_dtype ct, const void *a, const void *b, void *y, int64_t n);
void dm__ref_bmath_bw(int op, dm_dtype ct, const void *g, const void *a, const void *b,
                      void *ga, void *gb, int64_t n);
void dm__ref_lerp(dm_dtype ct, const void *a, const void *b, const void *w, void *y, int64_t n);

#endif
