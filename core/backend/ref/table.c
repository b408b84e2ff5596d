/* ref/table.c -- the cpu:ref device's kernel table (backend.h): the naive loops */
#include "internal.h"
#include "ref.h"
#include "cpu/cpu.h"    /* the allocator, shared */

const dm_kernels dm__ref_kernels = {
    .name = "cpu:ref",
    .sgemm = dm_gemm_naive,          /* gemm.c */
    .dgemm = dm_dgemm_naive,
    .gemm_i64 = dm__gemm_i64,
    .gemm_u8 = dm__gemm_u8,
    .binary = dm__ref_binary,        /* elementwise.c */
    .binary_f32 = dm__ref_binary_f32,
    .unary = dm__ref_unary,
    .scalar = dm__ref_scalar,
    .clamp = dm__ref_clamp,
    .leaky_relu = dm__ref_leaky_relu,
    .elu = dm__ref_elu,
    .where = dm__ref_where,
    .unary_bw = dm__ref_unary_bw,      /* elementwise.c */
    .scalar_bw = dm__ref_scalar_bw,
    .param_bw = dm__ref_param_bw,
    .binary_bw = dm__ref_binary_bw,
    .where_bw = dm__ref_where_bw,
    .copy = dm__ref_copy,              /* copy.c */
    .gather = dm__ref_gather,
    .fill = dm__ref_fill,
    .inplace_f32 = dm__ref_inplace_f32,
    .reduce = dm__ref_reduce,         /* reduce.c */
    .maxmin = dm__ref_maxmin,
    .softmax = dm__ref_softmax,
    .sum_to = dm__ref_sum_to,          /* reduce.c */
    .softmax_bw = dm__ref_softmax_bw,
    .reduce_bw = dm__ref_reduce_bw,
    .sgd = dm__ref_sgd,                /* optim.c */
    .adam = dm__ref_adam,
    .random = dm__ref_random,          /* fill.c */
    .pattern = dm__ref_pattern,
    .slabs = dm__ref_slabs,            /* join.c */
    .index_rows = dm__ref_index_rows,
    .index_add = dm__ref_index_add,
    .dropout = dm__ref_dropout,        /* nn.c */
    .dropout_bw = dm__ref_dropout_bw,
    .batch_norm = dm__ref_batch_norm,
    .batch_norm_bw = dm__ref_batch_norm_bw,
    /* ---- vision ops (pad.c, upsample.c, pool.c) ---- */
    .pad = dm__ref_pad,
    .pad_bw = dm__ref_pad_bw,
    .upsample = dm__ref_upsample,
    .upsample_bw = dm__ref_upsample_bw,
    .max_pool2d = dm__ref_max_pool2d,
    .max_pool2d_bw = dm__ref_max_pool2d_bw,
    .avg_pool2d = dm__ref_avg_pool2d,
    .avg_pool2d_bw = dm__ref_avg_pool2d_bw,
    .adaptive_pool2d = dm__ref_adaptive_pool2d,
    .adaptive_avg_pool2d_bw = dm__ref_adaptive_avg_pool2d_bw,
    .max_unpool2d = dm__ref_max_unpool2d,
    .max_unpool2d_bw = dm__ref_max_unpool2d_bw,
    .loss = dm__ref_loss,              /* loss.c */
    .loss_bw = dm__ref_loss_bw,
    .nll = dm__ref_nll,
    .nll_bw = dm__ref_nll_bw,
    .ce_log_softmax = dm__ref_ce_log_softmax,
    .cross_entropy = dm__ref_cross_entropy,
    .cross_entropy_bw = dm__ref_cross_entropy_bw,
    .alloc = dm__cpu_alloc,            /* cpu/alloc.c: both hold host memory */
    .free = dm__cpu_free,
    /* ---- convolutions (conv.c) ---- */
    .conv_big_to_small = dm__ref_conv_big_to_small,
    .conv_small_to_big = dm__ref_conv_small_to_big,
    .conv_weight_grad = dm__ref_conv_weight_grad,
    .conv_bias_grad = dm__ref_conv_bias_grad,
    /* ---- layer and group norm (norm.c) ---- */
    .rownorm = dm__ref_rownorm,
    .rownorm_bw = dm__ref_rownorm_bw,
    /* ---- samplers (sample.c) ---- */
    .multinomial = dm__ref_multinomial,
    .bernoulli_p = dm__ref_bernoulli_p,
    .normal_p = dm__ref_normal_p,
    /* ---- orthogonal_'s QR and sparse_'s zeroing (init.c) ---- */
    .qr = dm__ref_qr,
    .sparse_zero = dm__ref_sparse_zero,
    /* ---- embedding (embedding.c) and recurrent layers (rnn.c) ---- */
    .embedding = dm__ref_embedding,
    .embedding_bw = dm__ref_embedding_bw,
    .embedding_renorm = dm__ref_embedding_renorm,
    .embedding_bag = dm__ref_embedding_bag,
    .embedding_bag_bw = dm__ref_embedding_bag_bw,
    .rnn_gates = dm__ref_rnn_gates,      /* rnn.c */
    .rnn_gates_bw = dm__ref_rnn_gates_bw,
    /* ---- dm_sum_to of integers, in place on any dtype ---- */
    .sum_to_i64 = dm__ref_sum_to_i64,     /* reduce.c */
    .inplace = dm__ref_inplace,           /* elementwise.c */
    /* ---- bitwise.c, shape_ops.c, create.c, linalg.c's small linear ---- */
    .binop2 = dm__ref_binop2,           /* bitwise.c */
    .unop2 = dm__ref_unop2,
    .divmod_bw = dm__ref_divmod_bw,
    .tri = dm__ref_tri,                 /* shape.c */
    .flip = dm__ref_flip,
    .range = dm__ref_range,             /* range.c */
    .linear_small = dm__ref_linear_small, /* linear.c */
    .bias_rows = dm__ref_bias_rows,
    .bias_sum = dm__ref_bias_sum,
    /* ---- reductions over several dims and the tests, scans, sorts ---- */
    .mreduce = dm__ref_mreduce,         /* reduce_multi.c */
    .mreduce_bw = dm__ref_mreduce_bw,
    .any_all = dm__ref_any_all,
    .isclass = dm__ref_isclass,
    .nan_to_num = dm__ref_nan_to_num,
    .nan_to_num_bw = dm__ref_nan_to_num_bw,
    .scan = dm__ref_scan,               /* scan.c */
    .scan_bw = dm__ref_scan_bw,
    .sort = dm__ref_sort,               /* sort.c */
    .sort_bw = dm__ref_sort_bw,
    .unique = dm__ref_unique,
    .unique_out = dm__ref_unique_out,
    /* ---- gather.c's and index.c's indexed copies ---- */
    .put = dm__ref_put,                 /* gather.c */
    .index_add_alpha = dm__ref_index_add_alpha,
    .index_add_bw = dm__ref_index_add_bw,
    .bincount = dm__ref_bincount,
    .one_hot = dm__ref_one_hot,
    .nonzero = dm__ref_nonzero,         /* index.c */
    .masked_fill = dm__ref_masked_fill,
    .index_offsets = dm__ref_index_offsets,  /* gather.c */
    .adv_offsets = dm__ref_adv_offsets,      /* index.c */
    .bmath = dm__ref_bmath,             /* bmath.c */
    .bmath_bw = dm__ref_bmath_bw,
    .lerp = dm__ref_lerp,
};
