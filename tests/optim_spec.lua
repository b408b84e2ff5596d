-- deepmoon.optim: SGD, Adam, AdamW and the lr schedulers against PyTorch 1.13, from
-- tests/fixtures/optim_cases.lua (regenerate with /usr/bin/python3 tests/fixtures/gen_optim.py).

local dm = require "deepmoon"
local optim = require "deepmoon.optim"

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local fixtures = dofile(script_dir() .. "fixtures/optim_cases.lua")

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

local function param (flat, sizes)
  local t = dm.tensor(flat):view(sizes):clone()
  t:requires_grad_()
  return t
end

-- |got - want| <= 1e-5 |want| (+ 1e-6 for values near 0), element by element
local function assert_close (want, t, what)
  local got = t:values()
  assert.are.equal(#want, #got, what .. ": element count")
  for i = 1, #want do
    local tol = 1e-5 * math.abs(want[i]) + 1e-6
    if math.abs(got[i] - want[i]) > tol then
      error(("%s: element %d is %.9g, PyTorch has %.9g"):format(what, i, got[i], want[i]), 2)
    end
  end
end

local function find_case (name)
  for _, c in ipairs(fixtures.optimizers) do
    if c.name == name then return c end
  end
  error("no fixture case " .. name)
end

-- the case's parameters and optimizer, built as the generator built them
local function build (c)
  local ps = {}
  for k, flat in ipairs(c.init) do ps[k] = param(flat, c.sizes[k]) end
  local cls = optim[c.optimizer]
  local opts = {}
  for k, v in pairs(c.options) do opts[k] = v end
  if c.groups then
    local groups = {}
    for gi, g in ipairs(c.groups) do
      local group = {}
      for k, v in pairs(g) do group[k] = v end
      group.params = {}
      for i, idx in ipairs(g.params) do group.params[i] = ps[idx] end
      groups[gi] = group
    end
    return ps, cls(groups, opts)
  end
  return ps, cls(ps, opts)
end

local function set_grads (c, ps, step)
  for k, g in ipairs(c.grads[step]) do
    if g == "skip" then ps[k].grad = nil
    else ps[k].grad = dm.tensor(g):view(c.sizes[k]) end
  end
end

describe("optimizers match PyTorch 1.13", function ()
  for _, c in ipairs(fixtures.optimizers) do
    it(c.name, function ()
      local ps, opt = build(c)
      for step = 1, #c.grads do
        set_grads(c, ps, step)
        opt:step()
        for k, p in ipairs(ps) do
          assert_close(c.after[step][k], p, ("step %d, parameter %d"):format(step, k))
        end
      end
    end)
  end
end)

describe("optimizer", function ()
  local function three ()
    return dm.ones(2, 2, { requires_grad = true }), dm.ones(3, { requires_grad = true }),
           dm.ones(1, { requires_grad = true })
  end

  it("takes PyTorch's defaults and keeps the options in public groups", function ()
    local a, b = three()
    local sgd = optim.SGD({ a, b }, { lr = 0.5 })
    assert.are.same({ lr = 0.5, momentum = 0, dampening = 0, weight_decay = 0,
                      nesterov = false, maximize = false }, sgd.defaults)
    assert.are.equal(1, #sgd.param_groups)
    assert.are.equal(a, sgd.param_groups[1].params[1])
    local adam = optim.Adam({ a, b })
    assert.are.same({ lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0,
                      amsgrad = false, maximize = false }, adam.defaults)
    local adamw = optim.AdamW({ a, b })
    assert.are.equal(1e-2, adamw.defaults.weight_decay)
    assert.are.equal(1e-3, adamw.param_groups[1].lr)
  end)

  it("takes PyTorch's positional order too", function ()
    local a = three()
    local sgd = optim.SGD({ a }, 0.1, 0.9, 0, 0.01, true)
    assert.are.same({ lr = 0.1, momentum = 0.9, dampening = 0, weight_decay = 0.01,
                      nesterov = true, maximize = false }, sgd.defaults)
    local adam = optim.Adam({ a }, 0.01, { 0.5, 0.6 }, 1e-6, 0, true, { maximize = true })
    assert.are.same({ 0.5, 0.6 }, adam.defaults.betas)
    assert.is_true(adam.defaults.amsgrad and adam.defaults.maximize)
  end)

  it("gives each parameter group its own options, falling back to the defaults", function ()
    local a, b, c = three()
    local opt = optim.SGD({ { params = { a, b }, lr = 1 }, { params = { c } } },
                          { lr = 0.25, momentum = 0.5 })
    assert.are.equal(1, opt.param_groups[1].lr)
    assert.are.equal(0.25, opt.param_groups[2].lr)
    assert.are.equal(0.5, opt.param_groups[2].momentum)
    for _, p in ipairs({ a, b, c }) do p.grad = dm.ones_like(p) end
    opt:step()
    assert.are.same({ 0, 0, 0, 0 }, a:values())
    assert.are.same({ 0.75 }, c:values())
    -- a single tensor as a group's params
    local opt2 = optim.Adam({ { params = a } })
    assert.are.same({ a }, opt2.param_groups[1].params)
  end)

  it("adds parameter groups later", function ()
    local a, b = three()
    local opt = optim.SGD({ a }, { lr = 0.1 })
    opt:add_param_group({ params = { b }, lr = 0.01 })
    assert.are.equal(2, #opt.param_groups)
    assert.are.equal(0.01, opt.param_groups[2].lr)
    assert.are.equal(0, opt.param_groups[2].momentum)
    assert.are.equal("SGD: some parameters appear in more than one parameter group",
                     err(function () opt:add_param_group({ params = { a } }) end))
  end)

  it("uses a changed group lr on the next step", function ()
    local a = three()
    local opt = optim.SGD({ a }, { lr = 0.1 })
    opt.param_groups[1].lr = 1
    a.grad = dm.ones(2, 2)
    opt:step()
    assert.are.same({ 0, 0, 0, 0 }, a:values())
  end)

  it("skips parameters without a gradient and creates no state for them", function ()
    local a, b = three()
    local opt = optim.Adam({ a, b }, { lr = 0.1 })
    a.grad = dm.ones(2, 2)
    opt:step()
    assert.are.same({ 1, 1, 1 }, b:values())
    assert.is_nil(opt.state[b])
    assert.are.equal(1, opt.state[a].step)
  end)

  it("zero_grad zeroes gradients in place, or drops them with set_to_none", function ()
    local a, b = three()
    local opt = optim.SGD({ a, b }, { lr = 0.1 })
    a.grad = dm.full({ 2, 2 }, 3.0)
    local g = a.grad
    opt:zero_grad()                                  -- b has no grad: left nil
    assert.are.same({ 0, 0, 0, 0 }, g:values())
    assert.are.equal(g:storage_id(), a.grad:storage_id())
    assert.is_nil(b.grad)
    opt:zero_grad({ set_to_none = true })
    assert.is_nil(a.grad)
    a.grad = dm.ones(2, 2)
    opt:zero_grad(true)
    assert.is_nil(a.grad)
    assert.are.equal("zero_grad: unknown option 'set_to_zero'",
                     err(function () opt:zero_grad({ set_to_zero = true }) end))
  end)

  it("runs the closure with grad enabled and returns its loss", function ()
    local w = dm.tensor({ 2.0 }, { requires_grad = true })
    local opt = optim.SGD({ w }, { lr = 0.25 })
    local loss = dm.no_grad(function ()
      return opt:step(function ()
        opt:zero_grad()
        local l = (w * w):sum()
        l:backward()
        return l
      end)
    end)
    assert.are.equal(4, loss:item())
    assert.are.same({ 1 }, w:values())                -- 2 - 0.25 * 4
  end)

  it("trains a small model: loss goes down", function ()
    local g = dm.Generator(7)
    local x = dm.randn(32, 3, { generator = g })
    local y = x:matmul(dm.tensor({ { 1 }, { -2 }, { 0.5 } })) + 0.3
    local w = dm.zeros(1, 3, { requires_grad = true })
    local b = dm.zeros(1, { requires_grad = true })
    for _, cls in ipairs({ "SGD", "Adam", "AdamW" }) do
      w = dm.zeros(1, 3, { requires_grad = true })
      b = dm.zeros(1, { requires_grad = true })
      local opt = optim[cls]({ w, b }, { lr = cls == "SGD" and 0.1 or 0.05 })
      local first, last
      for _ = 1, 200 do
        opt:zero_grad()
        local d = dm.linear(x, w, b) - y
        local loss = (d * d):mean()
        loss:backward()
        opt:step()
        first = first or loss:item()
        last = loss:item()
      end
      assert.is_true(last < first / 50, cls .. ": " .. first .. " -> " .. last)
    end
  end)

  it("prints its groups as PyTorch does", function ()
    local a = three()
    assert.are.equal(table.concat({
      "Adam (", "Parameter Group 0", "    amsgrad: false", "    betas: {0.9, 0.999}",
      "    eps: 1e-08", "    lr: 0.001", "    maximize: false", "    weight_decay: 0", ")" }, "\n"),
      tostring(optim.Adam({ a })))
  end)
end)

describe("optimizer state follows its parameter's dtype", function ()
  local function quad (p) return (p * p):sum() end
  it("SGD momentum and Adam moments are converted lazily", function ()
    for _, make in ipairs({
      function (ps) return dm.optim.SGD(ps, { lr = 0.1, momentum = 0.9 }) end,
      function (ps) return dm.optim.Adam(ps, { lr = 0.1, amsgrad = true }) end }) do
      local p = dm.tensor({ 1.0, -2.0 }, { requires_grad = true })
      local opt = make({ p })
      quad(p):backward()
      opt:step()
      local st = opt.state[p]
      for k, v in pairs(st) do
        if dm.is_tensor(v) then st[k] = v:double() end   -- state of another dtype
      end
      opt:zero_grad()
      quad(p):backward()
      opt:step()
      for k, v in pairs(opt.state[p]) do
        if dm.is_tensor(v) then assert.are.equal(dm.float32, v.dtype, k) end
      end
    end
  end)

  it("load_state_dict casts floating state to the parameter's dtype", function ()
    local p = dm.tensor({ 1.0, -2.0 }, { requires_grad = true })
    local opt = dm.optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    quad(p):backward()
    opt:step()
    local sd = opt:state_dict()
    local opt2 = dm.optim.SGD({ p }, { lr = 0.1, momentum = 0.9 })
    for _, s in pairs(sd.state) do s.momentum_buffer = s.momentum_buffer:double() end
    opt2:load_state_dict(sd)
    assert.are.equal(dm.float32, opt2.state[p].momentum_buffer.dtype)
  end)
end)

describe("optimizer state_dict", function ()
  for _, name in ipairs({ "SGD momentum dampening weight_decay", "Adam weight_decay amsgrad",
                          "AdamW weight_decay amsgrad", "Adam param groups",
                          "SGD momentum, some grads missing" }) do
    it("round-trips and continues identically: " .. name, function ()
      local c = find_case(name)
      local ps, opt = build(c)
      for step = 1, 3 do set_grads(c, ps, step); opt:step() end
      local sd = opt:state_dict()
      -- a fresh optimizer over copies of the parameters, its lr changed before loading
      local c2 = setmetatable({ init = {} }, { __index = c })
      for k, p in ipairs(ps) do c2.init[k] = p:values() end
      local qs, opt2 = build(c2)
      for _, g in ipairs(opt2.param_groups) do g.lr = 123 end
      opt2:load_state_dict(sd)
      for gi, g in ipairs(opt2.param_groups) do
        assert.are.equal(opt.param_groups[gi].lr, g.lr)
        assert.are.equal(qs[1], opt2.param_groups[1].params[1])
      end
      for step = 4, #c.grads do
        set_grads(c, ps, step); opt:step()
        set_grads(c, qs, step); opt2:step()
        for k = 1, #ps do
          assert_close(c.after[step][k], ps[k], ("original, step %d, parameter %d"):format(step, k))
          assert_close(c.after[step][k], qs[k], ("loaded, step %d, parameter %d"):format(step, k))
        end
      end
    end)
  end

  it("numbers parameters from 1 across groups and lists each group's numbers", function ()
    local a = dm.ones(2, { requires_grad = true })
    local b = dm.ones(3, { requires_grad = true })
    local c = dm.ones(1, { requires_grad = true })
    local opt = optim.Adam({ { params = { a } }, { params = { b, c }, lr = 0.5, amsgrad = true } })
    c.grad = dm.ones(1)
    opt:step()
    local sd = opt:state_dict()
    assert.are.same({ 1 }, sd.param_groups[1].params)
    assert.are.same({ 2, 3 }, sd.param_groups[2].params)
    assert.are.equal(0.5, sd.param_groups[2].lr)
    assert.are.same({ 0.9, 0.999 }, sd.param_groups[2].betas)
    assert.is_nil(sd.state[1])
    assert.is_nil(sd.state[2])
    assert.are.equal(1, sd.state[3].step)
    for _, k in ipairs({ "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }) do
      assert.is_true(dm.is_tensor(sd.state[3][k]), k)
    end
    -- SGD's state is momentum_buffer, and only with momentum
    local s = optim.SGD({ a }, { lr = 0.1, momentum = 0.9 })
    a.grad = dm.ones(2)
    s:step()
    assert.are.same({ 1, 1 }, s:state_dict().state[1].momentum_buffer:values())
  end)

  it("loads copies, so the two optimizers no longer share state", function ()
    local a = dm.ones(2, { requires_grad = true })
    local opt = optim.SGD({ a }, { lr = 0.1, momentum = 0.9 })
    a.grad = dm.ones(2)
    opt:step()
    local b = dm.ones(2, { requires_grad = true })
    local opt2 = optim.SGD({ b }, { lr = 0.1, momentum = 0.9 })
    opt2:load_state_dict(opt:state_dict())
    opt:step()
    assert.are.same({ 1, 1 }, opt2.state[b].momentum_buffer:values())
  end)

  it("refuses a state dict of another shape", function ()
    local a = dm.ones(2, { requires_grad = true })
    local b = dm.ones(3, { requires_grad = true })
    local opt = optim.SGD({ a }, { lr = 0.1, momentum = 0.9 })
    a.grad = dm.ones(2)
    opt:step()
    local sd = opt:state_dict()
    assert.are.equal("SGD: loaded state dict has a different number of parameter groups (1, the optimizer has 2)",
      err(function () optim.SGD({ { params = { a } }, { params = { b } } }, { lr = 1 }):load_state_dict(sd) end))
    assert.are.equal("SGD: loaded state dict contains a parameter group that doesn't match the size of "
      .. "optimizer's group (param_groups[1] has 1 parameters, the optimizer's 2)",
      err(function () optim.SGD({ a, b }, { lr = 1 }):load_state_dict(sd) end))
    assert.are.equal("SGD: loaded state dict: momentum_buffer of parameter 1 has size [2], the parameter has size [3]",
      err(function () optim.SGD({ b }, { lr = 1 }):load_state_dict(sd) end))
    assert.are.equal("SGD: load_state_dict expects a table with 'state' and 'param_groups' (from state_dict()), got nil",
      err(function () opt:load_state_dict() end))
  end)
end)

describe("optimizer errors", function ()
  -- a fresh parameter per use: a tensor held by these closures would stay alive
  local function W () return dm.ones(2, { requires_grad = true }) end
  local cases = {
    { "SGD: optimizer got an empty parameter list", function () return optim.SGD({}, { lr = 1 }) end },
    { "Adam: optimizer got an empty parameter list", function () return optim.Adam({}) end },
    { "SGD: params must be a list of parameter groups; wrap the group in a table: {{params = ...}}",
      function () return optim.SGD({ params = { W() }, lr = 1 }) end },
    { "SGD: unknown option 'lrate'", function () return optim.SGD({ W() }, { lrate = 0.1 }) end },
    { "AdamW: unknown option 'beta1'", function () return optim.AdamW({ W() }, { beta1 = 0.9 }) end },
    { "SGD: unknown option 'lrate' in param_groups[1]",
      function () return optim.SGD({ { params = { W() }, lrate = 1 } }, { lr = 0.1 }) end },
    { "SGD: option 'lr' is required (PyTorch's SGD has no default for it)",
      function () return optim.SGD({ W() }) end },
    { "SGD: param_groups[2] didn't specify a value of required optimization parameter lr",
      function () return optim.SGD({ { params = { W() }, lr = 1 }, { params = { dm.ones(1, { requires_grad = true }) } } }) end },
    { "SGD: invalid learning rate: -0.1", function () return optim.SGD({ W() }, { lr = -0.1 }) end },
    { "SGD: invalid momentum value: -1", function () return optim.SGD({ W() }, { lr = 0.1, momentum = -1 }) end },
    { "SGD: invalid weight_decay value: -1", function () return optim.SGD({ W() }, 0.1, 0, 0, -1) end },
    { "SGD: invalid learning rate: -1 in param_groups[1]",
      function () return optim.SGD({ { params = { W() }, lr = -1 } }, { lr = 0.1 }) end },
    { "SGD: nesterov momentum requires a momentum and zero dampening",
      function () return optim.SGD({ W() }, { lr = 0.1, nesterov = true }) end },
    { "SGD: nesterov momentum requires a momentum and zero dampening",
      function () return optim.SGD({ W() }, { lr = 0.1, momentum = 0.9, dampening = 0.1, nesterov = true }) end },
    { "SGD: option 'lr' must be a number, got string", function () return optim.SGD({ W() }, { lr = "0.1" }) end },
    { "SGD: option 'nesterov' must be a boolean, got number",
      function () return optim.SGD({ W() }, { lr = 0.1, nesterov = 1 }) end },
    { "Adam: invalid learning rate: -1", function () return optim.Adam({ W() }, { lr = -1 }) end },
    { "Adam: invalid epsilon value: -1", function () return optim.Adam({ W() }, { eps = -1 }) end },
    { "Adam: invalid beta parameter at index 1: 1", function () return optim.Adam({ W() }, { betas = { 1, 0.9 } }) end },
    { "Adam: invalid beta parameter at index 2: -0.5", function () return optim.Adam({ W() }, { betas = { 0.9, -0.5 } }) end },
    { "Adam: option 'betas' must be a table of two numbers {beta1, beta2}, got number",
      function () return optim.Adam({ W() }, { betas = 0.9 }) end },
    { "Adam: option 'betas' must be a table of two numbers {beta1, beta2}, got {0.9}",
      function () return optim.Adam({ W() }, { betas = { 0.9 } }) end },
    { "AdamW: invalid weight_decay value: -0.01", function () return optim.AdamW({ W() }, { weight_decay = -0.01 }) end },
    { "SGD: params must be a list of tensors or of parameter groups, got a single tensor (wrap it in a table: {t})",
      function () return optim.SGD(W(), { lr = 1 }) end },
    { "SGD: params must be a list of tensors or of parameter groups, got nil",
      function () return optim.SGD(nil, { lr = 1 }) end },
    { "SGD: params[2] is a number, expected a tensor", function () return optim.SGD({ W(), 3 }, { lr = 1 }) end },
    { "SGD: params[1] is a number; give a list of tensors or a list of parameter groups",
      function () return optim.SGD({ 3 }, { lr = 1 }) end },
    { "SGD: param_groups[1].params[2] is a string, expected a tensor",
      function () return optim.SGD({ { params = { W(), "w" } } }, { lr = 1 }) end },
    { "SGD: param_groups[2] has no 'params'",
      function () return optim.SGD({ { params = { W() } }, { lr = 1 } }, { lr = 1 }) end },
    { "SGD: can't optimize a non-leaf tensor (params[1]); use a leaf such as t:detach():requires_grad_()",
      function () return optim.SGD({ W() * 2 }, { lr = 1 }) end },
    { "SGD: some parameters appear in more than one parameter group",
      function () return optim.SGD((function () local w = W(); return { { params = { w } }, { params = { w } } } end)(), { lr = 1 }) end },
    { "SGD: params[2] appears twice in one parameter group", function () return optim.SGD((function () local w = W(); return { w, w } end)(), { lr = 1 }) end },
    { "SGD: too many arguments (5 positional options; the rest go in an options table)",
      function () return optim.SGD({ W() }, 0.1, 0, 0, 0, false, true) end },
    { "SGD: option 'lr' given twice", function () return optim.SGD({ W() }, 0.1, { lr = 0.2 }) end },
    { "zero_grad: expected an options table {set_to_none = ...}, got string",
      function () optim.SGD({ W() }, { lr = 1 }):zero_grad("yes") end },
    { "SGD: add_param_group expects a table {params = {...}, ...}, got tensor",
      function () optim.SGD({ W() }, { lr = 1 }):add_param_group(dm.ones(1)) end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function () assert.are.equal(c[1], err(c[2])) end)
  end

  it("point at the caller's line", function ()
    local ok, e = pcall(function ()
      local o = optim.SGD({ W() }, { lrate = 1 }); return o
    end)
    assert.is_false(ok)
    assert.are.equal(debug.getinfo(1, "S").short_src, e:match("^(.-):%d+: "))
    local ok2, e2 = pcall(function ()
      local o = optim.SGD({ W() }, { lr = 1 })
      o:load_state_dict({}); return o
    end)
    assert.is_false(ok2)
    assert.truthy(e2:match("^.-optim_spec%.lua:%d+: SGD: load_state_dict"))
  end)
end)

describe("lr schedulers match PyTorch 1.13", function ()
  for _, c in ipairs(fixtures.schedulers) do
    it(c.name, function ()
      local groups = {}
      for i, lr in ipairs(c.lrs) do
        groups[i] = { params = { dm.zeros(1, { requires_grad = true }) }, lr = lr }
      end
      local opt = optim.SGD(groups, { lr = c.lrs[1] })
      local s = optim.lr_scheduler[c.scheduler](opt, c.options)
      for step, want in ipairs(c.expected) do
        if step > 1 then opt:step(); s:step() end
        local got = s:get_last_lr()
        for i = 1, #want do
          if math.abs(got[i] - want[i]) > 1e-12 * math.abs(want[i]) + 1e-15 then
            error(("step %d, group %d: lr %.17g, PyTorch has %.17g"):format(step - 1, i, got[i], want[i]))
          end
          assert.are.equal(got[i], opt.param_groups[i].lr)
        end
      end
    end)
  end
end)

describe("lr scheduler", function ()
  local function sgd (lr)
    return optim.SGD({ dm.zeros(1, { requires_grad = true }) }, { lr = lr or 0.1 })
  end

  it("is reachable as optim.StepLR and takes positional options", function ()
    assert.are.equal(optim.lr_scheduler.StepLR, optim.StepLR)
    assert.are.equal(optim.lr_scheduler.ExponentialLR, optim.ExponentialLR)
    assert.are.equal(optim.lr_scheduler.CosineAnnealingLR, optim.CosineAnnealingLR)
    local opt = sgd(1)
    local s = optim.StepLR(opt, 2, 0.5)
    for _ = 1, 4 do s:step() end
    assert.are.same({ 0.25 }, s:get_last_lr())
    assert.are.equal(0.25, opt.param_groups[1].lr)
    assert.are.equal(1, opt.param_groups[1].initial_lr)
    assert.are.equal(4, s.last_epoch)
  end)

  it("jumps to an epoch with the closed form", function ()
    local opt = sgd(1)
    local s = optim.CosineAnnealingLR(opt, { T_max = 10, eta_min = 0.1 })
    s:step(5)
    assert.is_true(math.abs(s:get_last_lr()[1] - (0.1 + 0.9 * (1 + math.cos(math.pi / 2)) / 2)) < 1e-15)
    local e = optim.ExponentialLR(sgd(2), 0.5)
    e:step(3)
    assert.are.same({ 0.25 }, e:get_last_lr())
  end)

  it("saves and restores its state", function ()
    local opt = sgd(1)
    local s = optim.StepLR(opt, { step_size = 2 })
    s:step(); s:step(); s:step()
    local sd = s:state_dict()
    assert.is_nil(sd.optimizer)
    assert.are.equal(3, sd.last_epoch)
    local opt2 = sgd(1)
    local s2 = optim.StepLR(opt2, { step_size = 5 })
    s2:load_state_dict(sd)
    opt2.param_groups[1].lr = opt.param_groups[1].lr
    s:step(); s2:step()
    assert.are.same(s:get_last_lr(), s2:get_last_lr())
    assert.are.equal(2, s2.step_size)
  end)

  it("resumes with last_epoch when the groups carry initial_lr", function ()
    local opt = sgd(1)
    optim.ExponentialLR(opt, { gamma = 0.5 })
    opt.param_groups[1].lr = 0.25
    local s = optim.ExponentialLR(opt, { gamma = 0.5, last_epoch = 2 })
    assert.are.equal(3, s.last_epoch)
    assert.are.same({ 0.125 }, s:get_last_lr())
  end)

  local cases = {
    { "StepLR: unknown option 'stepsize'", function () return optim.StepLR(sgd(), { stepsize = 3 }) end },
    { "StepLR: option 'step_size' is required", function () return optim.StepLR(sgd(), {}) end },
    { "StepLR: step_size must be a positive integer, got 0", function () return optim.StepLR(sgd(), 0) end },
    { "StepLR: option 'gamma' must be a number, got string",
      function () return optim.StepLR(sgd(), { step_size = 1, gamma = "x" }) end },
    { "ExponentialLR: option 'gamma' is required", function () return optim.ExponentialLR(sgd()) end },
    { "CosineAnnealingLR: option 'T_max' is required", function () return optim.CosineAnnealingLR(sgd(), {}) end },
    { "CosineAnnealingLR: T_max must be positive, got 0", function () return optim.CosineAnnealingLR(sgd(), 0) end },
    { "StepLR: expected an optimizer, got nil", function () return optim.StepLR(nil, 3) end },
    { "ExponentialLR: param 'initial_lr' is not specified in param_groups[1] when resuming an optimizer",
      function () return optim.ExponentialLR(sgd(), { gamma = 0.5, last_epoch = 3 }) end },
    { "StepLR: last_epoch must be an integer >= -1, got -2",
      function () return optim.StepLR(sgd(), { step_size = 1, last_epoch = -2 }) end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function () assert.are.equal(c[1], err(c[2])) end)
  end
end)

describe("deepmoon.optim", function ()
  it("is dm.optim and adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    for _, m in ipairs({ "deepmoon.optim", "deepmoon.optim.optimizer", "deepmoon.optim.sgd",
                         "deepmoon.optim.adam", "deepmoon.optim.lr_scheduler" }) do
      package.loaded[m] = nil
    end
    local o = require "deepmoon.optim"
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    assert.is_table(o.SGD)
    assert.are.equal(dm.optim, dm.optim)
    assert.is_table(dm.optim.Adam)
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
