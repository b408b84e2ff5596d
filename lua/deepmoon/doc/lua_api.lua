--- Entries for Lua classes whose constructors carry no comment of their own in the source
-- (the data classes are tables with a __call; their methods are documented in
-- lua/deepmoon/data/*.lua).
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module lua_api

--- data.DataLoader(dataset [, batch_size [, shuffle]] [, {batch_size = 1, shuffle = false,
-- drop_last = false, generator =, collate_fn =}]): batches of a dataset, PyTorch's
-- torch.utils.data.DataLoader.  A tensor is taken as TensorDataset(tensor).  Iterate it
-- directly (`for xb, yb in loader do`), with loader:iter(), or with loader:batches() for
-- the batch number too; `#loader` is the number of batches per epoch.  num_workers and
-- pin_memory are accepted and ignored.
-- @function data.DataLoader
-- @param dataset a dataset (anything with a length and an indexer) or a tensor
-- @tparam[opt] table opts the options
-- @usage for xb, yb in data.DataLoader(data.TensorDataset(x, y), {batch_size = 32, shuffle = true}) do end

--- data.TensorDataset(t1, t2, ...): sample i is (t1[i], t2[i], ...); all first dims equal.
-- `#ds` is the number of samples; ds:get(i) a sample, ds:get_batch(idx) several.
-- @function data.TensorDataset
-- @param ... tensors with one first dim
-- @usage local ds = data.TensorDataset(x, y); local xi, yi = ds:get(1)

--- data.Subset(dataset, indices): the samples of dataset at the 1-based indices (a list or
-- a 1-D int64 tensor), in that order.
-- @function data.Subset
-- @param dataset
-- @param indices a list or a 1-D tensor of 1-based positions
-- @usage local first10 = data.Subset(ds, dm.arange(1, 11))

--- nn.Module: the base class of layers and models (PyTorch's torch.nn.Module).  Make a
-- class with nn.Module:extend("Name"), give it __init (create parameters and child modules
-- as fields) and forward; call instances as model(x).  Fields holding Parameters, modules
-- and buffers are registered as they are assigned, so parameters(), state_dict(), train(),
-- eval(), to() and printing see them, with PyTorch's dotted names.
-- @function nn.Module
-- @usage local Net = nn.Module:extend("Net")
-- function Net:__init () self.fc = nn.Linear(2, 1) end
-- function Net:forward (x) return self.fc(x):sigmoid() end
-- local y = Net()(dm.rand(4, 2))
