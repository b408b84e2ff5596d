/* backend.h -- the device seam: one table of kernels per device (dm_device).
 *
 * An op function (core/elementwise.c, linalg.c, ...) checks its arguments, computes the
 * result's shape, records the autograd node and calls the kernel of its inputs' device from
 * this table: dm__kernels(dm__cur_device), which is the inputs' device (internal.h).  A
 * backend is a directory under core/backend/ that defines one dm_kernels:
 *
 *   cpu/   DM_CPU, "cpu": BLAS and the in-place small-product path (cpu/gemm.c)
 *   ref/   DM_CPU_REF, "cpu:ref": the naive reference kernels (ref/gemm.c), compared with
 *          the cpu device op by op in tests/c/test_backend_ops.c
 *
 * What is behind the table today: the matrix products (matmul, linear and their backward
 * rules, every dtype).  Everything else still runs the loops in its op file on both devices:
 * the elementwise, reduction, copy/convert and fill loops, joins, losses, nn (dropout, batch
 * norm), init and random fills, optimizers.  Both devices hold host memory, so those loops
 * are correct on cpu:ref tensors (results carry the inputs' device); moving a loop behind
 * the table is adding its field here and a kernel in each backend (core/README.md). */
#ifndef DM_BACKEND_H
#define DM_BACKEND_H

#include "deepmoon.h"

/* C[m x n] = alpha * op(A) @ op(B) + beta * C, row-major, as dm_gemm (deepmoon.h) */
#define DM_GEMM_FN(name, T)                                                                  \
    void (*name)(int transa, int transb, int64_t m, int64_t n, int64_t k, T alpha,         \
                 const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc)

typedef struct dm_kernels {
    const char *name;                 /* the device's name, dm_device_name */
    DM_GEMM_FN(sgemm, float);         /* float32 */
    DM_GEMM_FN(dgemm, double);        /* float64 */
    DM_GEMM_FN(gemm_i64, int64_t);    /* exact modulo 2^64 (PyTorch's Long mm) */
    DM_GEMM_FN(gemm_u8, uint8_t);     /* exact modulo 2^8 */
} dm_kernels;

extern const dm_kernels dm__cpu_kernels;      /* cpu/ */
extern const dm_kernels dm__ref_kernels;      /* ref/ */

/* the table of a device (an unknown device gets cpu's: both hold host memory) */
static inline const dm_kernels *dm__kernels(int device)
{
    return device == DM_CPU_REF ? &dm__ref_kernels : &dm__cpu_kernels;
}

#endif
