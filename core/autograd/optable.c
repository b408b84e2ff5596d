/* optable.c -- the op table: one row per op of dm_op (internal.h).  Adding an op adds its
 * row here; core/README.md ("Adding an op") walks through one. */
#include "internal.h"

/* One row per op: PyTorch's grad_fn name (dm__node_name refines it by sub), the dm_params
 * member its nodes carry (internal.h; NULL: none; the loss row's by sub: the elementwise
 * losses loss, DM_LOSS_NLL nll, DM_LOSS_CROSS_ENTROPY cross_entropy), the backward rule,
 * and what that rule reads (DM_READ_IN(k) input k's values, DM_READ_OUT the output's;
 * the unary row's depend on the function).  A node notes the versions of what its rule
 * reads; an in-place write to one of them before backward makes backward raise.  Reads are
 * per row, not per needed gradient: Mul reads both inputs even when one gradient is needed
 * (PyTorch saves only what the needed gradients use, so it raises in fewer cases).
 * Kernels are reached through the device's dm_kernels (backend/backend.h) or, for the ops
 * not yet behind it, the op file's own loops. */
#define R0 DM_READ_IN(0)
#define R1 DM_READ_IN(1)
#define RO DM_READ_OUT
const dm_opdef dm__optable[DM_OP_COUNT] = {
    [DM_OP_NONE]         = { NULL,                        0, NULL,        NULL, 0 },
    [DM_OP_VIEW]         = { "ViewBackward0",             1, NULL,        dm__bw_view, 0 },
    [DM_OP_TRANSPOSE]    = { "TransposeBackward0",        1, "transpose", dm__bw_transpose, 0 },
    [DM_OP_PERMUTE]      = { "PermuteBackward0",          1, "permute",   dm__bw_permute, 0 },
    [DM_OP_NARROW]       = { "SliceBackward0",            1, "narrow",    dm__bw_narrow, 0 },
    [DM_OP_SELECT]       = { "SelectBackward0",           1, "select",    dm__bw_select, 0 },
    [DM_OP_EXPAND]       = { "ExpandBackward0",           1, NULL,        dm__bw_expand, 0 },
    [DM_OP_CLONE]        = { "CloneBackward0",            1, NULL,        dm__bw_clone, 0 },
    [DM_OP_ADD]          = { "AddBackward0",              2, NULL,        dm__bw_binary, 0 },
    [DM_OP_SUB]          = { "SubBackward0",              2, NULL,        dm__bw_binary, 0 },
    [DM_OP_MUL]          = { "MulBackward0",              2, NULL,        dm__bw_binary, R0 | R1 },
    [DM_OP_DIV]          = { "DivBackward0",              2, NULL,        dm__bw_binary, R0 | R1 },
    [DM_OP_POW]          = { "PowBackward1",              2, NULL,        dm__bw_binary, R0 | R1 | RO },
    [DM_OP_MAXIMUM]      = { "MaximumBackward0",          2, NULL,        dm__bw_binary, R0 | R1 },
    [DM_OP_MINIMUM]      = { "MinimumBackward0",          2, NULL,        dm__bw_binary, R0 | R1 },
    [DM_OP_ADDS]         = { "AddBackward0",              1, "scalar",    dm__bw_scalar, 0 },
    [DM_OP_MULS]         = { "MulBackward0",              1, "scalar",    dm__bw_scalar, 0 },
    [DM_OP_RSUBS]        = { "RsubBackward1",             1, "scalar",    dm__bw_scalar, 0 },
    [DM_OP_RDIVS]        = { "MulBackward0",              1, "scalar",    dm__bw_scalar, R0 },
    [DM_OP_POWS]         = { "PowBackward0",              1, "scalar",    dm__bw_scalar, R0 },
    [DM_OP_RPOWS]        = { "PowBackward1",              1, "scalar",    dm__bw_scalar, R0 | RO },
    [DM_OP_UNARY]        = { "UnaryBackward0",            1, NULL,        dm__bw_unary, DM_READ_BY_SUB },
    [DM_OP_CLAMP]        = { "ClampBackward1",            1, "clamp",     dm__bw_clamp, R0 },
    [DM_OP_LEAKY_RELU]   = { "LeakyReluBackward0",        1, "slope",     dm__bw_leaky_relu, R0 },
    [DM_OP_ELU]          = { "EluBackward0",              1, "alpha",     dm__bw_elu, R0 },
    [DM_OP_WHERE]        = { "WhereBackward0",            2, NULL,        dm__bw_where, 0 },
    [DM_OP_SUM]          = { "SumBackward",               1, "reduce",    dm__bw_reduce, 0 },
    [DM_OP_MEAN]         = { "MeanBackward",              1, "reduce",    dm__bw_reduce, 0 },
    [DM_OP_PROD]         = { "ProdBackward",              1, "reduce",    dm__bw_reduce, R0 },
    [DM_OP_MAXMIN]       = { "MaxBackward0",              1, "reduce",    dm__bw_reduce, 0 },
    [DM_OP_MAXMIN_ALL]   = { "MaxBackward1",              1, "reduce",    dm__bw_reduce, R0 },
    [DM_OP_VAR]          = { "VarBackward0",              1, "reduce",    dm__bw_reduce, R0 },
    [DM_OP_STD]          = { "StdBackward0",              1, "reduce",    dm__bw_reduce, R0 | RO },
    [DM_OP_SOFTMAX]      = { "SoftmaxBackward0",          1, "dim",       dm__bw_softmax, RO },
    [DM_OP_LOG_SOFTMAX]  = { "LogSoftmaxBackward0",       1, "dim",       dm__bw_softmax, RO },
    [DM_OP_MATMUL]       = { "MmBackward0",               2, NULL,        dm__bw_matmul, R0 | R1 },
    [DM_OP_LINEAR]       = { "AddmmBackward0",            3, NULL,        dm__bw_linear, R0 | R1 },
    [DM_OP_CAT]          = { "CatBackward0",             -1, "dim",       dm__bw_cat, 0 },
    [DM_OP_INDEX_SELECT] = { "IndexSelectBackward0",      2, "dim",       dm__bw_index_select, R1 },
    [DM_OP_TO_DTYPE]     = { "ToCopyBackward0",           1, NULL,        dm__bw_to_dtype, 0 },
    [DM_OP_DROPOUT]      = { "NativeDropoutBackward0",    1, "dropout",   dm__bw_dropout, 0 },
    [DM_OP_BATCHNORM]    = { "NativeBatchNormBackward0",  3, "batchnorm", dm__bw_batchnorm, R0 | R1 },
    [DM_OP_LOSS]         = { "LossBackward0",            -1, "loss nll cross_entropy", dm__bw_loss, DM_READ_INS },
    [DM_OP_CUSTOM]       = { "CustomBackward",           -1, NULL,        dm__bw_custom, DM_READ_INS },
    [DM_OP_AMAX]         = { "AmaxBackward0",             1, "dims",      dm__bw_mreduce, R0 | RO },
    [DM_OP_AMIN]         = { "AminBackward0",             1, "dims",      dm__bw_mreduce, R0 | RO },
    [DM_OP_LOGSUMEXP]    = { "LogsumexpBackward0",        1, "dims",      dm__bw_mreduce, R0 | RO },
    [DM_OP_NORM]         = { "NormBackward1",             1, "dims",      dm__bw_mreduce, R0 | RO },
    [DM_OP_NAN_TO_NUM]   = { "NanToNumBackward0",         1, NULL,        dm__bw_nan_to_num, R0 },
    [DM_OP_REMAINDER]    = { "RemainderBackward1",        2, NULL,        dm__bw_divmod, R0 | R1 },
    [DM_OP_FMOD]         = { "FmodBackward1",             2, NULL,        dm__bw_divmod, R0 | R1 },
    [DM_OP_FLOOR_DIVIDE] = { "FloorDivideBackward0",      2, NULL,        dm__bw_divmod, R0 | R1 },
    [DM_OP_GATHER]       = { "GatherBackward0",           1, "index",     dm__bw_gather, 0 },
    [DM_OP_SCATTER]      = { "ScatterBackward0",          2, "index",     dm__bw_scatter, 0 },
    [DM_OP_SCATTER_ADD]  = { "ScatterAddBackward0",       2, "index",     dm__bw_scatter, 0 },
    [DM_OP_INDEX_ADD]    = { "IndexAddBackward0",         2, "index",     dm__bw_index_add, 0 },
    [DM_OP_SORT]         = { "SortBackward0",             1, "index",     dm__bw_sort, 0 },
    [DM_OP_TOPK]         = { "TopkBackward0",             1, "index",     dm__bw_sort, 0 },
    [DM_OP_KTHVALUE]     = { "KthvalueBackward0",         1, "index",     dm__bw_sort, 0 },
    [DM_OP_CUMSUM]       = { "CumsumBackward0",           1, "index",     dm__bw_scan, 0 },
    [DM_OP_CUMPROD]      = { "CumprodBackward0",          1, "index",     dm__bw_scan, R0 },
    [DM_OP_DIAGONAL]     = { "DiagonalBackward0",         1, "diagonal",  dm__bw_diagonal, 0 },
    [DM_OP_DIAG]         = { "DiagBackward0",             1, "diagonal",  dm__bw_diag, 0 },
    [DM_OP_TRIL]         = { "TrilBackward0",             1, "diagonal",  dm__bw_tri, 0 },
    [DM_OP_TRIU]         = { "TriuBackward0",             1, "diagonal",  dm__bw_tri, 0 },
    [DM_OP_FLIP]         = { "FlipBackward0",             1, "flip_dims", dm__bw_flip, 0 },
    [DM_OP_SLICE]        = { "SliceBackward0",            1, "slice",     dm__bw_slice, 0 },
    [DM_OP_INDEX]        = { "IndexBackward0",            1, "adv",       dm__bw_index, 0 },
    [DM_OP_INDEX_PUT]    = { "IndexPutBackward0",         2, "adv",       dm__bw_index_put, 0 },
    [DM_OP_MASKED_FILL]  = { "MaskedFillBackward0",       1, NULL,        dm__bw_masked_fill, 0 },
    [DM_OP_COPY]         = { "CopyBackwards",            -1, NULL,        dm__bw_copy, 0 },
    [DM_OP_COPY_SLICES]  = { "CopySlices",               -1, NULL,        dm__bw_copy_slices, 0 },
    [DM_OP_LAYER_NORM]   = { "NativeLayerNormBackward0",  3, "rownorm",   dm__bw_rownorm, R0 | R1 },
    [DM_OP_GROUP_NORM]   = { "NativeGroupNormBackward0",  3, "rownorm",   dm__bw_rownorm, R0 | R1 },
    [DM_OP_PAD]          = { "ConstantPadNdBackward0",    1, "pad",       dm__bw_pad, 0 },
    [DM_OP_UPSAMPLE]     = { "UpsampleNearest2DBackward1", 1, "upsample", dm__bw_upsample, 0 },
    [DM_OP_CONV]         = { "ConvolutionBackward0",      3, "conv",      dm__bw_conv, R0 | R1 },
    [DM_OP_MAX_POOL2D]   = { "MaxPool2DWithIndicesBackward0", 1, NULL,    dm__bw_max_pool2d, R0 },
    [DM_OP_AVG_POOL2D]   = { "AvgPool2DBackward0",        1, "pool",      dm__bw_avg_pool2d, 0 },
    [DM_OP_ADAPTIVE_AVG_POOL2D] = { "AdaptiveAvgPool2DBackward0", 1, NULL,  dm__bw_adaptive_avg_pool2d, 0 },
    [DM_OP_ADAPTIVE_MAX_POOL2D] = { "AdaptiveMaxPool2DBackward0", 1, NULL,  dm__bw_max_pool2d, R0 },
    [DM_OP_MAX_UNPOOL2D] = { "MaxUnpool2DBackward0",      1, NULL,        dm__bw_max_unpool2d, 0 },
    [DM_OP_EMBEDDING]    = { "EmbeddingBackward0",        1, "embedding", dm__bw_embedding, 0 },
    [DM_OP_EMBEDDING_BAG] = { "EmbeddingBagBackward0",    2, "embedding", dm__bw_embedding_bag, R0 | R1 },
    [DM_OP_RNN]          = { "RnnTanhBackward0",          8, "rnn",       dm__bw_rnn,
                             R0 | R1 | DM_READ_IN(2) | DM_READ_IN(3) | DM_READ_IN(4) | DM_READ_IN(7) | RO },
    [DM_OP_ATAN2]        = { "Atan2Backward0",            2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_HYPOT]        = { "HypotBackward0",            2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_XLOGY]        = { "XlogyBackward0",            2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_LOGADDEXP]    = { "LogaddexpBackward0",        2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_LOGADDEXP2]   = { "Logaddexp2Backward0",       2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_COPYSIGN]     = { "CopysignBackward0",         2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_FMAX]         = { "FmaxBackward0",             2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_FMIN]         = { "FminBackward0",             2, NULL,        dm__bw_bmath, R0 | R1 },
    [DM_OP_LERP_SCALAR]  = { "LerpBackward0",             2, "scalar",    dm__bw_lerp, 0 },
    [DM_OP_LERP]         = { "LerpBackward1",             3, NULL,        dm__bw_lerp, R0 | R1 | DM_READ_IN(2) },
};
#undef R0
#undef R1
#undef RO

const dm_opdef *dm__opdef(dm_op op)
{
    return op > DM_OP_NONE && op < DM_OP_COUNT ? &dm__optable[op] : NULL;
}
