-- The convolutional examples, short and seeded: examples/digits.lua --cnn (the full run) and
-- examples/fashion_mnist.lua on 3000 training images for one epoch.  They run in the default
-- stage only (not under the sanitizers or BLAS=0, where they would take minutes); the
-- full-length Fashion-MNIST results are in the README.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")
local ROOT = here .. "../"
local default_stage = os.getenv("DM_SANITIZE") ~= "1" and os.getenv("DM_BLAS") ~= "0"

local function run (args) return util.run_lua(ROOT, args) end

describe("the CNN examples", function ()
  if not default_stage then
    it("run in the default stage only", function () assert.is_true(true) end)
    return
  end

  it("digits --cnn reaches 97% test accuracy on the 8x8 digits", function ()
    local out, ok = run("examples/digits.lua --cnn")
    assert(ok, out)
    local acc = tonumber(out:match("Test accuracy: ([%d.]+)%%"))
    assert(acc and acc >= 97, out)
  end)

  it("fashion_mnist learns from 3000 images in one epoch", function ()
    local svg = util.tmp(".svg")
    local out, ok = run("examples/fashion_mnist.lua 1 3000 " .. svg)
    assert(ok, out)
    assert.truthy(out:find("3000 training images, 10000 test images of T-shirt/top", 1, true), out)
    assert.truthy(out:find("Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
                           1, true), out)
    local acc = tonumber(out:match("Test accuracy: ([%d.]+)%% after 1 epochs"))
    assert(acc and acc >= 70, out)
    util.remove_tmp()
  end)
end)
