/* test_dtype.c -- dtypes: names, sizes, promotion, conversions (PyTorch's x86 results at the
 * edges), element access, copies between dtypes, and storages from a host's allocator. */
#include "testutil.h"
#include <stdint.h>

/* a host allocator that counts what it hands out */
typedef struct { int64_t live, calls, frees; } counting;
static void *c_alloc(void *ctx, size_t n) { counting *c = ctx; c->live += (int64_t)n; c->calls++; return malloc(n); }
static void c_free(void *ctx, void *p, size_t n) { counting *c = ctx; c->live -= (int64_t)n; c->frees++; free(p); }
static void *no_alloc(void *ctx, size_t n) { (void)ctx; (void)n; return NULL; }

static void test_names_and_promotion(void)
{
    CHECK(!strcmp(dm_dtype_name(DM_FLOAT32), "float32"), "float32 name");
    CHECK(!strcmp(dm_dtype_name(DM_BOOL), "bool"), "bool name");
    CHECK(dm_dtype_size(DM_FLOAT64) == 8 && dm_dtype_size(DM_UINT8) == 1 &&
          dm_dtype_size(DM_INT64) == 8 && dm_dtype_size(DM_FLOAT32) == 4 &&
          dm_dtype_size(DM_BOOL) == 1, "element sizes");
    CHECK(dm_is_floating(DM_FLOAT64) && !dm_is_floating(DM_INT64) && !dm_is_floating(DM_BOOL),
          "floating types");
    /* torch.promote_types over the five types */
    static const dm_dtype want[5][5] = {
        /*            f32         f64         i64         u8          bool */
        /* f32 */ { DM_FLOAT32, DM_FLOAT64, DM_FLOAT32, DM_FLOAT32, DM_FLOAT32 },
        /* f64 */ { DM_FLOAT64, DM_FLOAT64, DM_FLOAT64, DM_FLOAT64, DM_FLOAT64 },
        /* i64 */ { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_INT64, DM_INT64 },
        /* u8  */ { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_UINT8 },
        /* bool*/ { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL },
    };
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            CHECKF(dm_promote_types((dm_dtype)a, (dm_dtype)b) == want[a][b],
                   "promote(%s, %s) = %s", dm_dtype_name((dm_dtype)a), dm_dtype_name((dm_dtype)b),
                   dm_dtype_name(want[a][b]));
}

static void test_conversions(void)
{
    /* float32 values at the edges, converted as PyTorch on x86 */
    const float v[] = { 1.75f, -1.75f, -1.0f, 300.0f, 0.0f, NAN, INFINITY, 3e19f };
    dm_tensor *f = tu_tensor(1, (int64_t[]){8}, v);
    dm_tensor *l = dm_to_dtype(f, DM_INT64);
    dm_tensor *u = dm_to_dtype(f, DM_UINT8);
    dm_tensor *b = dm_to_dtype(f, DM_BOOL);
    dm_tensor *d = dm_to_dtype(f, DM_FLOAT64);
    CHECK(l && u && b && d, "conversions succeed");
    if (l && u && b && d) {
        const int64_t *li = dm_data_ptr(l);
        const uint8_t *ui = dm_data_ptr(u), *bi = dm_data_ptr(b);
        const double *di = dm_data_ptr(d);
        CHECK(li[0] == 1 && li[1] == -1 && li[2] == -1 && li[3] == 300 && li[4] == 0,
              "float -> int64 truncates toward zero");
        CHECK(li[5] == INT64_MIN && li[6] == INT64_MIN && li[7] == INT64_MIN,
              "NaN, inf and out-of-range -> INT64_MIN");
        CHECK(ui[0] == 1 && ui[2] == 255 && ui[3] == 44, "float -> uint8 keeps the low byte");
        CHECK(bi[0] == 1 && bi[4] == 0 && bi[5] == 1 && bi[6] == 1, "anything -> bool is != 0");
        CHECK(di[0] == 1.75 && isnan(di[5]) && di[7] == (double)3e19f, "float32 -> float64 exact");
        CHECK(l->dtype == DM_INT64 && u->dtype == DM_UINT8 && b->dtype == DM_BOOL &&
              d->dtype == DM_FLOAT64, "result dtypes");
    }
    dm_tensor *same = dm_to_dtype(f, DM_FLOAT32);
    CHECK(same == f && f->refcount == 2, "to the same dtype returns the tensor itself");
    dm_tensor_release(same);

    /* int64 beyond 2^53 survives int64 -> int64 copies and get/set exactly */
    int64_t big = ((int64_t)1 << 62) + 1;
    dm_tensor *i = dm_tensor_full_i64(1, (int64_t[]){3}, big, DM_INT64);
    CHECK(i && dm_get_i64(i, (int64_t[]){2}) == big, "full_i64 exact");
    dm_set_i64(i, (int64_t[]){1}, -big);
    dm_tensor *c = dm_clone(i);
    CHECK(c && c->dtype == DM_INT64 && dm_get_i64(c, (int64_t[]){1}) == -big, "clone keeps int64");
    dm_tensor *cf = dm_to_dtype(i, DM_FLOAT32);
    CHECK(cf && dm_get(cf, (int64_t[]){0}) == (float)big, "int64 -> float32 rounds once");
    dm_tensor_release(cf);
    dm_tensor_release(c);
    dm_tensor_release(i);

    /* bool and uint8 -> int64, and back */
    dm_tensor *bb = dm_tensor_full_dtype(1, (int64_t[]){2}, 5.0, DM_BOOL);
    CHECK(bb && ((uint8_t *)dm_data_ptr(bb))[0] == 1, "full of a bool stores 1");
    dm_tensor *bl = dm_to_dtype(bb, DM_INT64);
    CHECK(bl && dm_get_i64(bl, (int64_t[]){1}) == 1, "bool -> int64 is 0/1");
    CHECK(dm_get_f64(bb, (int64_t[]){0}) == 1.0, "get_f64 of a bool");
    dm_tensor_release(bl);
    dm_tensor_release(bb);

    dm_tensor_release(l); dm_tensor_release(u); dm_tensor_release(b); dm_tensor_release(d);
    dm_tensor_release(f);
}

static void test_noncontiguous_and_copy(void)
{
    /* a transposed int64 view converts in row-major order of the view */
    dm_tensor *i = dm_tensor_new_dtype(2, (int64_t[]){2, 3}, DM_INT64);
    int64_t *p = dm_data_ptr(i);
    for (int k = 0; k < 6; k++) p[k] = k;               /* [[0 1 2] [3 4 5]] */
    dm_tensor *t = dm_transpose(i, 0, 1);               /* [[0 3] [1 4] [2 5]] */
    dm_tensor *f = dm_to_dtype(t, DM_FLOAT64);
    const double want[] = { 0, 3, 1, 4, 2, 5 };
    int ok = f && f->dtype == DM_FLOAT64;
    for (int k = 0; ok && k < 6; k++) ok = ((double *)dm_data_ptr(f))[k] == want[k];
    CHECK(ok, "transposed int64 -> float64 in view order");
    dm_tensor *c = dm_contiguous(t);
    CHECK(c && c->dtype == DM_INT64 && dm_is_contiguous(c) &&
          ((int64_t *)dm_data_ptr(c))[1] == 3, "contiguous of an int64 view");

    /* copy_ converts and broadcasts: float32 row into a float64 matrix, and into a narrow */
    dm_tensor *m = dm_tensor_zeros_dtype(2, (int64_t[]){2, 3}, DM_FLOAT64);
    dm_tensor *row = tu_tensor(1, (int64_t[]){3}, (float[]){0.5f, -1.5f, 2.0f});
    CHECK(dm_copy_(m, row) == 0, "copy_ float32 -> float64 broadcast");
    CHECK(dm_get_f64(m, (int64_t[]){1, 1}) == -1.5, "broadcast value");
    dm_tensor *col = dm_narrow(m, 1, 2, 1);
    dm_tensor *seven = dm_tensor_full_i64(0, NULL, 7, DM_INT64);
    CHECK(dm_copy_(col, seven) == 0 && dm_get_f64(m, (int64_t[]){0, 2}) == 7.0 &&
          dm_get_f64(m, (int64_t[]){1, 2}) == 7.0 && dm_get_f64(m, (int64_t[]){1, 1}) == -1.5,
          "copy_ into a non-contiguous narrow, int64 -> float64");
    dm_tensor *bad = tu_tensor(1, (int64_t[]){2}, (float[]){1, 2});
    CHECK_ERR(dm_copy_(m, bad), "copy_: source [2] cannot be broadcast to destination [2 x 3]");
    CHECK(dm_fill_(m, 2.5f) == 0 && dm_get_f64(m, (int64_t[]){1, 0}) == 2.5, "fill_ float64");
    CHECK(dm_zero_(i) == 0 && ((int64_t *)dm_data_ptr(i))[5] == 0, "zero_ int64");
    dm_tensor_release(bad); dm_tensor_release(seven); dm_tensor_release(col);
    dm_tensor_release(row); dm_tensor_release(m); dm_tensor_release(c);
    dm_tensor_release(f); dm_tensor_release(t); dm_tensor_release(i);
}

static void test_grad(void)
{
    /* float32 -> float64 -> float32 is differentiable; the gradient comes back as float32 */
    dm_tensor *x = tu_tensor(1, (int64_t[]){2}, (float[]){1.5f, -2.0f});
    dm_set_requires_grad(x, 1);
    dm_tensor *d = dm_to_dtype(x, DM_FLOAT64);
    CHECK(d && d->requires_grad && !strcmp(dm_grad_fn_name(d), "ToCopyBackward0"),
          "conversion records ToCopyBackward0");
    dm_tensor *back = dm_to_dtype(d, DM_FLOAT32);
    dm_tensor *g = tu_tensor(1, (int64_t[]){2}, (float[]){3.0f, 4.0f});
    CHECK(dm_backward(back, g, 0) == 0, "backward through two conversions");
    CHECK(x->grad && x->grad->dtype == DM_FLOAT32 && dm_get(x->grad, (int64_t[]){1}) == 4.0f,
          "the gradient reaches the float32 leaf");
    dm_tensor *l = dm_to_dtype(x, DM_INT64);
    CHECK(l && !l->requires_grad && !l->grad_fn, "to an integer type records nothing");
    CHECK_ERR(dm_set_requires_grad(l, 1), "requires_grad_: only tensors of floating point dtype "
              "can require gradients (got int64; convert with :float())");
    dm_tensor_release(l); dm_tensor_release(g); dm_tensor_release(back); dm_tensor_release(d);
    dm_tensor_release(x);
}

static void test_allocator(void)
{
    counting cnt = { 0, 0, 0 };
    dm_allocator a = { "counting", c_alloc, c_free, &cnt };
    int64_t live0 = dm_live_bytes();
    dm_tensor *t = dm_tensor_new_with(2, (int64_t[]){3, 4}, DM_FLOAT64, &a);
    CHECK(t && cnt.calls == 1 && cnt.live == 96, "storage from the host's allocator");
    CHECK(t && dm_tensor_allocator(t) == &a && dm_storage_nbytes(t) == 96 &&
          dm_tensor_device(t) == DM_CPU && !strcmp(dm_device_name(dm_tensor_device(t)), "cpu"),
          "the storage knows its allocator, size and device");
    CHECK(dm_live_bytes() - live0 == 96, "its bytes are live");
    dm_fill_(t, 1.0f);
    dm_tensor *v = dm_select(t, 0, 1);                   /* a view keeps the storage */
    dm_tensor_release(t);
    CHECK(cnt.frees == 0 && dm_get_f64(v, (int64_t[]){3}) == 1.0, "a view outlives its tensor");
    CHECK(dm_storage_shared(v) == 0, "the view is the last owner");
    dm_tensor_release(v);
    CHECK(cnt.frees == 1 && cnt.live == 0, "freed through the allocator, once");
    CHECK(dm_live_bytes() == live0, "live bytes back");
    dm_allocator none = { "none", no_alloc, c_free, &cnt };
    CHECK_ERR(dm_tensor_new_with(1, (int64_t[]){4}, DM_FLOAT32, &none),
              "out of memory: allocator 'none' could not give 16 bytes");
    CHECK_ERR(dm_tensor_new_with(1, (int64_t[]){-1}, DM_FLOAT32, &a), "tensor: negative size in [-1]");
    CHECK_ERR(dm_tensor_new_dtype(1, (int64_t[]){2}, (dm_dtype)17), "tensor: unknown dtype 17");
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_names_and_promotion();
    test_conversions();
    test_noncontiguous_and_copy();
    test_grad();
    test_allocator();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_dtype");
}
