--- Activations, layers, losses and optimizer updates as plain functions (written in C:
-- bindings/tensor.c, nn.c).  nn.functional wraps them with PyTorch's signatures and option
-- tables; the modules (nn.ReLU, nn.MSELoss, ...) and optimizers call them.  Class labels
-- (targets of nll_loss and cross_entropy) are 1-based.
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module nn_ops

--- max(0, x).
-- @function Tensor:relu
-- @usage x:relu()

--- 1 / (1 + exp(-x)).
-- @function Tensor:sigmoid
-- @usage logits:sigmoid()

--- Hyperbolic tangent.
-- @function Tensor:tanh
-- @usage x:tanh()

--- x for x > 0, alpha * (exp(x) - 1) below.
-- @function Tensor:elu
-- @number[opt=1] alpha
-- @usage x:elu()

--- SELU with PyTorch's constants (scale 1.0507..., alpha 1.6732...).
-- @function Tensor:selu
-- @usage x:selu()

--- GELU, x * Phi(x) (the exact form; {approximate = "tanh"} for the tanh one where given).
-- @function Tensor:gelu
-- @usage x:gelu()

--- x for x >= 0, negative_slope * x below.
-- @function Tensor:leaky_relu
-- @number[opt=0.01] negative_slope
-- @usage x:leaky_relu(0.2)

--- exp(x) / sum(exp(x)) along dim.
-- @function Tensor:softmax
-- @param dim an integer, or {dim =}
-- @usage logits:softmax(2)

--- log(softmax(x)) along dim, computed stably.
-- @function Tensor:log_softmax
-- @param dim an integer, or {dim =}
-- @usage logits:log_softmax(2)

--- x @ weight^T + bias: x [... x in], weight [out x in], bias [out] -> [... x out].
-- @function dm.linear
-- @tparam Tensor x
-- @tparam Tensor weight
-- @tparam[opt] Tensor bias
-- @usage dm.linear(x, w, b)

--- Zero elements with probability p and scale the rest by 1 / (1 - p) when training.
-- @function dm.dropout
-- @tparam Tensor x
-- @number[opt=0.5] p
-- @bool[opt=true] training
-- @param[opt] generator a dm.Generator
-- @usage dm.dropout(x, 0.1, true)

--- Pad x as PyTorch's F.pad: pads lists the last dim's left and right, then the dim
-- before's, ...; "constant" pads any dims with value (negative pads crop); "reflect",
-- "replicate" and "circular" pad the last 1..3 dims of a [N x] C x ... input.
-- @function dm.pad
-- @tparam Tensor x
-- @tparam table pads an even number of integers
-- @string[opt="constant"] mode
-- @number[opt=0] value
-- @usage dm.pad(x, {1, 1, 2, 0}, "reflect")

--- Batch normalisation over dim 1 of [N x C] or [N x C x L]; when training the running
-- statistics are updated in place (momentum), else used.
-- @function dm.batch_norm
-- @tparam Tensor x
-- @tparam Tensor running_mean or nil
-- @tparam Tensor running_var or nil
-- @tparam Tensor weight or nil
-- @tparam Tensor bias or nil
-- @bool training
-- @number[opt=0.1] momentum
-- @number[opt=1e-5] eps
-- @usage dm.batch_norm(x, rm, rv, w, b, true)

--- Layer normalisation: x's last dims (their sizes normalized_shape) normalised per row
-- (biased variance, eps inside the square root), then weight * xhat + bias.
-- @function dm.layer_norm
-- @tparam Tensor x
-- @tparam table normalized_shape the sizes of x's last dims
-- @tparam Tensor weight or nil (of normalized_shape)
-- @tparam Tensor bias or nil
-- @number[opt=1e-5] eps
-- @usage dm.layer_norm(x, {x:size(-1)}, w, b)

--- Group normalisation: the channels of x [N x C x ...] in num_groups groups, each group of
-- each sample normalised, then weight and bias [C] per channel.
-- @function dm.group_norm
-- @tparam Tensor x
-- @int num_groups divides C
-- @tparam Tensor weight or nil
-- @tparam Tensor bias or nil
-- @number[opt=1e-5] eps
-- @usage dm.group_norm(x, 2, w, b)

--- Mean squared error; reduction "mean" (default), "sum" or "none".
-- @function dm.mse_loss
-- @tparam Tensor input
-- @tparam Tensor target
-- @string[opt="mean"] reduction
-- @usage dm.mse_loss(pred, y)

--- Mean absolute error.
-- @function dm.l1_loss
-- @tparam Tensor input
-- @tparam Tensor target
-- @string[opt="mean"] reduction
-- @usage dm.l1_loss(pred, y, "sum")

--- Smooth L1: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere.
-- @function dm.smooth_l1_loss
-- @tparam Tensor input
-- @tparam Tensor target
-- @string[opt="mean"] reduction
-- @number[opt=1] beta
-- @usage dm.smooth_l1_loss(pred, y)

--- Huber loss: 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere.
-- @function dm.huber_loss
-- @tparam Tensor input
-- @tparam Tensor target
-- @string[opt="mean"] reduction
-- @number[opt=1] delta
-- @usage dm.huber_loss(pred, y, "mean", 2)

--- Binary cross entropy of probabilities against targets in [0, 1].
-- @function dm.bce_loss
-- @tparam Tensor input probabilities
-- @tparam Tensor target
-- @tparam[opt] Tensor weight
-- @string[opt="mean"] reduction
-- @usage dm.bce_loss(p, y)

--- Sigmoid and binary cross entropy in one, stable for large logits.
-- @function dm.bce_with_logits_loss
-- @tparam Tensor input logits
-- @tparam Tensor target
-- @tparam[opt] Tensor weight
-- @tparam[opt] Tensor pos_weight
-- @string[opt="mean"] reduction
-- @usage dm.bce_with_logits_loss(z, y)

--- Negative log likelihood of log-probabilities [N x C] at 1-based class targets [N].
-- @function dm.nll_loss
-- @tparam Tensor input log-probabilities
-- @tparam Tensor target int64 classes 1 .. C
-- @tparam[opt] Tensor weight per class
-- @string[opt="mean"] reduction
-- @int[opt=-100] ignore_index
-- @usage dm.nll_loss(logp, y)

--- log_softmax and nll_loss in one: logits [N x C], target [N] of 1-based classes or
-- class probabilities of input's shape.
-- @function dm.cross_entropy
-- @tparam Tensor input logits
-- @tparam Tensor target
-- @tparam[opt] Tensor weight
-- @string[opt="mean"] reduction
-- @int[opt=-100] ignore_index
-- @number[opt=0] label_smoothing
-- @usage dm.cross_entropy(logits, y)

--- One SGD update of p in place (PyTorch's formula, with its options); grad nil uses
-- p.grad; buf is the momentum buffer.  Returns false when p has no gradient.  optim.SGD
-- calls it.
-- @function dm.sgd_step
-- @tparam Tensor p
-- @tparam Tensor grad or nil
-- @tparam Tensor buf or nil
-- @number lr
-- @number momentum
-- @number dampening
-- @number weight_decay
-- @bool nesterov
-- @bool maximize
-- @bool first true on the first step (the buffer starts as the gradient)
-- @usage dm.sgd_step(p, nil, nil, 0.1, 0, 0, 0, false, false, true)

--- One Adam/AdamW update of p in place; step counts from 1; decoupled = true is AdamW's
-- weight decay; max_sq (or nil) is AMSGrad's.  Returns false when p has no gradient.
-- @function dm.adam_step
-- @tparam Tensor p
-- @tparam Tensor grad or nil
-- @tparam Tensor exp_avg
-- @tparam Tensor exp_avg_sq
-- @tparam Tensor max_sq or nil
-- @int step
-- @number lr
-- @number beta1
-- @number beta2
-- @number eps
-- @number weight_decay
-- @bool decoupled
-- @bool maximize
-- @usage dm.adam_step(p, nil, m, v, nil, 1, 1e-3, 0.9, 0.999, 1e-8, 0, false, false)

--- Does p have a .grad? (without making a Lua object for it)
-- @function dm.has_grad
-- @tparam Tensor p
-- @usage if dm.has_grad(w) then ... end

--- Zero the .grad of every tensor in the list, or drop them (set_to_none = true).
-- @function dm.zero_grads
-- @tparam table params a list of tensors
-- @bool[opt=false] set_to_none
-- @usage dm.zero_grads(model:parameters())

--- Upsample x, [N x C x L] or [N x C x H x W], to the 1 or 2 spatial sizes in size, as
-- PyTorch 1.13's F.interpolate does (F.interpolate computes the sizes from a scale_factor);
-- scales, nil or one number per spatial dim (0: none), the scale_factor whose 1 / scale sets
-- the source index; mode "nearest" or "linear" (bilinear for 4D input).
-- @function dm.upsample
-- @tparam Tensor x
-- @tparam table size one or two integers
-- @tparam[opt] table scales
-- @string[opt="nearest"] mode
-- @bool[opt=false] align_corners
-- @usage dm.upsample(x, {6, 8}, nil, "linear", true)
--- Convolution as PyTorch's F.conv1d / F.conv2d (zero padding, symmetric), or
-- F.conv_transpose2d when output_padding is given; the sizes are lists of 1 (a 3-dim weight)
-- or 2 (a 4-dim weight) integers.  x [N x Cin x ...] or unbatched, w [Cout x Cin/groups x
-- ...] ([Cin x Cout/groups x kh x kw] transposed), b [Cout] or nil.
-- @function dm.conv
-- @tparam Tensor x
-- @tparam Tensor w
-- @tparam Tensor b or nil
-- @tparam table stride
-- @tparam table padding
-- @tparam table dilation
-- @int groups
-- @tparam[opt] table output_padding
-- @usage dm.conv(x, w, b, {1, 1}, {2, 2}, {1, 1}, 1)
--- Max pooling over the last two dims of [N x] C x H x W as PyTorch's F.max_pool2d (sizes as
-- {h, w} lists); with return_indices also the 1-based flat index in H x W of each maximum.
-- @function dm.max_pool2d
-- @tparam Tensor x
-- @tparam table kernel_size {kh, kw}
-- @tparam table stride {sh, sw}
-- @tparam table padding {ph, pw}, each at most half the kernel
-- @tparam table dilation {dh, dw}
-- @bool ceil_mode
-- @bool return_indices
-- @usage local y, idx = dm.max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true)

--- Average pooling over the last two dims of [N x] C x H x W as PyTorch's F.avg_pool2d.
-- @function dm.avg_pool2d
-- @tparam Tensor x
-- @tparam table kernel_size {kh, kw}
-- @tparam table stride {sh, sw}
-- @tparam table padding {ph, pw}, each at most half the kernel
-- @bool ceil_mode
-- @bool count_include_pad
-- @int[opt] divisor_override
-- @usage dm.avg_pool2d(x, {2, 2}, {2, 2}, {0, 0}, false, true)

--- Adaptive average pooling of the last two dims of [N x] C x H x W to output_size, with
-- PyTorch's windows [floor(o H / OH), ceil((o + 1) H / OH)).
-- @function dm.adaptive_avg_pool2d
-- @tparam Tensor x
-- @tparam table output_size {oh, ow}
-- @usage dm.adaptive_avg_pool2d(x, {1, 1})

--- Adaptive max pooling of the last two dims to output_size; with return_indices also the
-- 1-based flat index in H x W of each maximum.
-- @function dm.adaptive_max_pool2d
-- @tparam Tensor x
-- @tparam table output_size {oh, ow}
-- @bool[opt=false] return_indices
-- @usage local y, idx = dm.adaptive_max_pool2d(x, {2, 2}, true)

--- The inverse of max pooling: x [N x] C x H x W written at its 1-based indices into each
-- zeroed output_size plane.
-- @function dm.max_unpool2d
-- @tparam Tensor x
-- @tparam Tensor indices int64, x's shape
-- @tparam table output_size {oh, ow}
-- @usage dm.max_unpool2d(y, idx, {4, 4})

--- The rows of weight [num x dim] at 1-based int64 (or uint8) token ids: [ids... x dim], as
-- PyTorch's F.embedding (nn.Embedding calls it).  padding_idx (1-based) gets no gradient;
-- with scale_grad_by_freq each id's gradient is divided by its count in ids.
-- @function dm.embedding
-- @tparam Tensor weight float32 or float64 [num x dim]
-- @tparam Tensor ids int64, 1-based
-- @int[opt] padding_idx 1-based
-- @bool[opt=false] scale_grad_by_freq
-- @usage dm.embedding(w, dm.tensor({{1, 5, 2}}, {dtype = dm.int64}))

--- PyTorch's embedding_renorm_ (F.embedding's max_norm): each row named in ids whose
-- norm_type-norm exceeds max_norm is scaled by max_norm / (norm + 1e-7), in place, outside
-- autograd.  Returns weight.
-- @function dm.embedding_renorm_
-- @tparam Tensor weight float32 or float64 [num x dim]
-- @tparam Tensor ids int64, 1-based
-- @number max_norm
-- @number[opt=2] norm_type
-- @usage dm.embedding_renorm_(w, ids, 1.0)

--- Bags of embedding rows reduced to [B x dim], as PyTorch's F.embedding_bag: ids [B x L]
-- (offsets nil) or ids [n] with offsets, the 1-based position in ids where each bag starts
-- ([B + 1] with include_last_offset, the last one n + 1).  per_sample_weights (sum only)
-- has ids' shape; padding_idx's entries are left out (mean divides by the rest); an empty
-- bag gives zeros.
-- @function dm.embedding_bag
-- @tparam Tensor weight float32 or float64 [num x dim]
-- @tparam Tensor ids int64, 1-based
-- @tparam[opt] Tensor offsets int64, 1-based
-- @string[opt="mean"] mode "sum", "mean" or "max"
-- @tparam[opt] Tensor per_sample_weights
-- @bool[opt=false] include_last_offset
-- @int[opt] padding_idx 1-based
-- @bool[opt=false] scale_grad_by_freq
-- @usage dm.embedding_bag(w, ids, offsets, "sum")
--- One recurrent layer in one direction over a whole sequence, as one op (what nn.RNN,
-- nn.LSTM and nn.GRU stack): the forward runs every step, the backward runs back through
-- time in C.  x [N x I] holds time-major rows (a padded [T x B x I] reshaped, or a
-- PackedSequence's data); steps is T (every step has h0's B rows) or the list of batch sizes
-- (non-increasing, the first B).  Weights as PyTorch's: w_ih [G*H x I], w_hh [G*H x Hout],
-- b_ih, b_hh [G*H], w_hr [Hout x H] (LSTM proj_size), G = 1 (RNN), 4 (LSTM i f g o), 3 (GRU
-- r z n).  Returns out [N x Hout], h_n [B x Hout] and, for an LSTM, c_n [B x H], each
-- sequence's final state at its own length.
-- @function dm.rnn_layer
-- @string mode "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"
-- @bool reverse run from the last step (each sequence from its own last step)
-- @tparam Tensor x [N x I]
-- @tparam int|table steps T, or the batch sizes
-- @tparam Tensor h0 [B x Hout]
-- @tparam[opt] Tensor c0 [B x H], LSTM only
-- @tparam Tensor w_ih
-- @tparam Tensor w_hh
-- @tparam[opt] Tensor b_ih
-- @tparam[opt] Tensor b_hh
-- @tparam[opt] Tensor w_hr
-- @usage local out, h_n = dm.rnn_layer("GRU", false, x, 5, h0, nil, w_ih, w_hh, b_ih, b_hh)
