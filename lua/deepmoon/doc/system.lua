--- dtypes, grad mode, memory, threads and files at the C level (written in C: bindings/
-- module.c, dtype.c, io.c, idx.c, pt.c).  dm.save / dm.load (deepmoon.io) are the usual way to
-- files; the functions here are what they call.
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module system

--- The dtype float32 (PyTorch's torch.float32; the default): `{dtype = dm.float32}`.
-- dm.float is the same dtype.  A dtype has `.name`, `.itemsize`, `.is_floating_point`.
-- @function dm.float32
-- @also dm.float
-- @usage dm.zeros(2, {dtype = dm.float32})

--- The dtype float64 (torch.float64); dm.double is the same.
-- @function dm.float64
-- @also dm.double
-- @usage x:to(dm.float64)

--- The dtype int64 (torch.int64): indices and class labels; dm.long is the same.
-- @function dm.int64
-- @also dm.long
-- @usage dm.tensor({3, 1}, {dtype = dm.int64})

--- The dtype uint8 (torch.uint8).
-- @function dm.uint8
-- @usage img:to(dm.uint8)

--- The dtype bool (torch.bool): masks and comparison results.
-- @function dm.bool
-- @usage dm.full({3}, true)

--- Set the dtype that floating constructors give (dm.float32 or dm.float64).
-- @function dm.set_default_dtype
-- @param dtype a floating dtype or its name
-- @usage dm.set_default_dtype(dm.float64)

--- The default floating dtype.
-- @function dm.get_default_dtype
-- @usage dm.get_default_dtype().name   -- "float32"

--- Is x a deepmoon tensor (released or not)?
-- @function dm.is_tensor
-- @param x any value
-- @usage dm.is_tensor(dm.zeros(1))   -- true

--- deepmoon's version, a string ("0.1.0").
-- @function dm.version
-- @usage print(dm.version)

--- Turn gradient recording on or off for this thread; returns the previous mode.
-- dm.no_grad / dm.enable_grad are the scoped forms.
-- @function dm.set_grad_enabled
-- @bool on
-- @usage local prev = dm.set_grad_enabled(false)

--- Is gradient recording on?
-- @function dm.is_grad_enabled
-- @usage dm.is_grad_enabled()

--- Bytes of tensor data now allocated (the live-byte counter; cached blocks not counted).
-- @function dm.memory
-- @usage print(dm.memory())

--- The number of tensor objects now alive in the core.
-- @function dm.live_tensors
-- @usage dm.live_tensors()

--- Bytes of freed blocks the core keeps for reuse: at most an eighth of the machine's memory
-- (256 MB to 2 GB), and no more than 256 MB while the system is short of memory.
-- @function dm.memory_cached
-- @usage dm.memory_cached()

--- Give the cached blocks back to the system (PyTorch's torch.cuda.empty_cache, for the CPU).
-- @function dm.empty_cache
-- @usage dm.empty_cache()

--- Was deepmoon built with OpenBLAS?
-- @function dm.have_blas
-- @usage dm.have_blas()

--- Use BLAS for matrix products (true) or the naive kernels (false); a testing aid.
-- @function dm.set_use_blas
-- @bool on
-- @usage dm.set_use_blas(false)

--- A line saying which BLAS is used, with its threads.
-- @function dm.blas_info
-- @usage print(dm.blas_info())

--- Set the number of threads (process-wide): BLAS's, and with 2 or more the convolutions
-- and max_pool2d split a batch in two halves run on two threads (one BLAS thread each).
-- @function dm.set_num_threads
-- @int n
-- @usage dm.set_num_threads(1)

--- The number of BLAS threads.
-- @function dm.get_num_threads
-- @usage dm.get_num_threads()

--- Seconds on a monotonic wall clock (arbitrary origin), for timing.
-- @function dm.clock
-- @usage local t0 = dm.clock(); train(); print(dm.clock() - t0)

--- Write named tensors to a safetensors file: names and tensors are parallel lists, meta
-- an optional table of strings.  Returns true, or nil and a message.  dm.save is the
-- usual way.
-- @function dm.safetensors_save
-- @string path
-- @tparam table names
-- @tparam table tensors
-- @tparam[opt] table meta
-- @usage dm.safetensors_save("w.safetensors", {"w"}, {w})

--- Read a safetensors file: a table name -> tensor and the metadata table, or nil and a
-- message.  dm.load is the usual way.
-- @function dm.safetensors_load
-- @string path
-- @usage local t, meta = assert(dm.safetensors_load("w.safetensors"))

--- Write one tensor to a .npy file (numpy.load reads it); true, or nil and a message.
-- @function dm.npy_save
-- @string path
-- @tparam Tensor t
-- @usage dm.npy_save("x.npy", x)

--- Read a .npy file: a tensor, or nil and a message.
-- @function dm.npy_load
-- @string path
-- @usage local x = assert(dm.npy_load("x.npy"))

--- Read an IDX file (MNIST's format; gzipped when named .gz or starting 1f 8b): a tensor,
-- or nil and a message "read_idx: <path>: ...".  uint8 -> uint8, int8/int16/int32 -> int64,
-- float32 -> float32, float64 -> float64.  data.read_idx is the usual way to it.
-- @function dm.idx_load
-- @string path
-- @usage local images = assert(dm.idx_load("train-images-idx3-ubyte.gz"))

--- Write a value (a tensor, or tables of tensors, numbers, strings, booleans) as a PyTorch
-- checkpoint that torch.load reads; true, or nil and a message.
-- @function dm.pt_save
-- @string path
-- @param value
-- @usage dm.pt_save("model.pt", model:state_dict())

--- Read a PyTorch checkpoint (torch.save's zip format, tensors of the supported dtypes):
-- the value, and a table tensor -> the dtype it had in the file; or nil and a message.
-- @function dm.pt_load
-- @string path
-- @usage local sd = assert(dm.pt_load("model.pt"))
