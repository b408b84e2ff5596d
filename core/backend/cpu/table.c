/* cpu/table.c -- the cpu device's kernel table (backend.h) */
#include "internal.h"
#include "cpu.h"

const dm_kernels dm__cpu_kernels = {
    .name = "cpu",
    /* BLAS and the small-product path for floating types (gemm.c); the integer products
       are exact and have one kernel, shared with cpu:ref */
    .sgemm = dm_gemm,
    .dgemm = dm_dgemm,
    .gemm_i64 = dm__gemm_i64,
    .gemm_u8 = dm__gemm_u8,
    /* the vectorised elementwise kernels (elementwise.c) */
    .binary = dm__cpu_binary,
    .binary_f32 = dm__cpu_binary_f32,
    .unary = dm__cpu_unary,
    .scalar = dm__cpu_scalar,
    .clamp = dm__cpu_clamp,
    .leaky_relu = dm__cpu_leaky_relu,
    .elu = dm__cpu_elu,
    .where = dm__cpu_where,
    .unary_bw = dm__cpu_unary_bw,      /* elementwise_bw.c */
    .scalar_bw = dm__cpu_scalar_bw,
    .param_bw = dm__cpu_param_bw,
    .binary_bw = dm__cpu_binary_bw,
    .where_bw = dm__cpu_where_bw,
    .copy = dm__cpu_copy,              /* copy.c */
    .gather = dm__cpu_gather,
    .fill = dm__cpu_fill,
    .inplace_f32 = dm__cpu_inplace_f32,
    .reduce = dm__cpu_reduce,         /* reduce.c */
    .maxmin = dm__cpu_maxmin,
    .softmax = dm__cpu_softmax,
    .sum_to = dm__cpu_sum_to,          /* reduce_bw.c */
    .softmax_bw = dm__cpu_softmax_bw,
    .reduce_bw = dm__cpu_reduce_bw,
    .sgd = dm__cpu_sgd,                /* optim.c */
    .adam = dm__cpu_adam,
    .random = dm__cpu_random,          /* fill.c */
    .pattern = dm__cpu_pattern,
    .slabs = dm__cpu_slabs,            /* join.c */
    .index_rows = dm__cpu_index_rows,
    .index_add = dm__cpu_index_add,
    .dropout = dm__cpu_dropout,        /* nn.c */
    .dropout_bw = dm__cpu_dropout_bw,
    .batch_norm = dm__cpu_batch_norm,
    .batch_norm_bw = dm__cpu_batch_norm_bw,
    /* ---- vision ops (pad.c, upsample.c, pool.c) ---- */
    .pad = dm__cpu_pad,
    .pad_bw = dm__cpu_pad_bw,
    .upsample = dm__cpu_upsample,
    .upsample_bw = dm__cpu_upsample_bw,
    .max_pool2d = dm__cpu_max_pool2d,
    .max_pool2d_bw = dm__cpu_max_pool2d_bw,
    .avg_pool2d = dm__cpu_avg_pool2d,
    .avg_pool2d_bw = dm__cpu_avg_pool2d_bw,
    .adaptive_pool2d = dm__cpu_adaptive_pool2d,
    .adaptive_avg_pool2d_bw = dm__cpu_adaptive_avg_pool2d_bw,
    .max_unpool2d = dm__cpu_max_unpool2d,
    .max_unpool2d_bw = dm__cpu_max_unpool2d_bw,
    .loss = dm__cpu_loss,              /* loss.c */
    .loss_bw = dm__cpu_loss_bw,
    .nll = dm__cpu_nll,
    .nll_bw = dm__cpu_nll_bw,
    .ce_log_softmax = dm__cpu_ce_log_softmax,
    .cross_entropy = dm__cpu_cross_entropy,
    .cross_entropy_bw = dm__cpu_cross_entropy_bw,
    .alloc = dm__cpu_alloc,            /* cpu/alloc.c */
    .free = dm__cpu_free,
    /* ---- convolutions (conv.c) ---- */
    .conv_big_to_small = dm__cpu_conv_big_to_small,
    .conv_small_to_big = dm__cpu_conv_small_to_big,
    .conv_weight_grad = dm__cpu_conv_weight_grad,
    .conv_bias_grad = dm__cpu_conv_bias_grad,
    /* ---- layer and group norm (norm.c) ---- */
    .rownorm = dm__cpu_rownorm,
    .rownorm_bw = dm__cpu_rownorm_bw,
    /* ---- samplers (sample.c) ---- */
    .multinomial = dm__cpu_multinomial,
    .bernoulli_p = dm__cpu_bernoulli_p,
    .normal_p = dm__cpu_normal_p,
    /* ---- orthogonal_'s QR and sparse_'s zeroing (init.c) ---- */
    .qr = dm__cpu_qr,
    .sparse_zero = dm__cpu_sparse_zero,
    /* ---- embedding (embedding.c) and recurrent layers (rnn.c) ---- */
    .embedding = dm__cpu_embedding,
    .embedding_bw = dm__cpu_embedding_bw,
    .embedding_renorm = dm__cpu_embedding_renorm,
    .embedding_bag = dm__cpu_embedding_bag,
    .embedding_bag_bw = dm__cpu_embedding_bag_bw,
    .rnn_gates = dm__cpu_rnn_gates,      /* rnn.c */
    .rnn_gates_bw = dm__cpu_rnn_gates_bw,
    /* ---- dm_sum_to of integers, in place on any dtype ---- */
    .sum_to_i64 = dm__cpu_sum_to_i64,     /* reduce_bw.c */
    .inplace = dm__cpu_inplace,           /* elementwise.c */
    /* ---- bitwise.c, shape_ops.c, create.c, linalg.c's small linear ---- */
    .binop2 = dm__cpu_binop2,           /* bitwise.c */
    .unop2 = dm__cpu_unop2,
    .divmod_bw = dm__cpu_divmod_bw,
    .tri = dm__cpu_tri,                 /* shape.c */
    .flip = dm__cpu_flip,
    .range = dm__cpu_range,             /* range.c */
    .linear_small = dm__cpu_linear_small, /* linear.c */
    .bias_rows = dm__cpu_bias_rows,
    .bias_sum = dm__cpu_bias_sum,
    /* ---- reductions over several dims and the tests, scans, sorts ---- */
    .mreduce = dm__cpu_mreduce,         /* reduce_multi.c */
    .mreduce_bw = dm__cpu_mreduce_bw,
    .any_all = dm__cpu_any_all,
    .isclass = dm__cpu_isclass,
    .nan_to_num = dm__cpu_nan_to_num,
    .nan_to_num_bw = dm__cpu_nan_to_num_bw,
    .scan = dm__cpu_scan,               /* scan.c */
    .scan_bw = dm__cpu_scan_bw,
    .sort = dm__cpu_sort,               /* sort.c */
    .sort_bw = dm__cpu_sort_bw,
    .unique = dm__cpu_unique,
    .unique_out = dm__cpu_unique_out,
    /* ---- gather.c's and index.c's indexed copies ---- */
    .put = dm__cpu_put,                 /* gather.c */
    .index_add_alpha = dm__cpu_index_add_alpha,
    .index_add_bw = dm__cpu_index_add_bw,
    .bincount = dm__cpu_bincount,
    .one_hot = dm__cpu_one_hot,
    .nonzero = dm__cpu_nonzero,         /* index.c */
    .masked_fill = dm__cpu_masked_fill,
    .index_offsets = dm__cpu_index_offsets,  /* gather.c */
    .adv_offsets = dm__cpu_adv_offsets,      /* index.c */
    .bmath = dm__cpu_bmath,             /* bmath.c */
    .bmath_bw = dm__cpu_bmath_bw,
    .lerp = dm__cpu_lerp,
};
