-- test_released.lua: an object whose __gc was called by hand is an error to use, not
-- a NULL dereference (issue 13, fault 8); __gc itself checks what it is given.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

local function collect_by_hand(object)
  getmetatable(object).__gc(object)
  getmetatable(object).__gc(object)   -- twice is harmless
end

local linear = lap.nn.Linear(2, 2)
local forward = linear.forward
collect_by_hand(linear)
expect_error("module already released", forward, linear, lap.zeros(1, 2))
expect_error("module already released", function() return linear.weight end)
expect_error("module already released", tostring, linear)
expect_error("module already released", lap.nn.Sequential { lap.nn.ReLU() }.add, lap.nn.Sequential { lap.nn.ReLU() },
  linear)

local optimizer = lap.optim.SGD { lr = 0.1 }
collect_by_hand(optimizer)
expect_error("optimizer already released", tostring, optimizer)
local net = lap.nn.ResNet { blocks = 1, block = function() return lap.nn.Linear(2, 2) end }
expect_error("optimizer already released", lap.train.LAP, { net = net, optimizer = optimizer })

local trainer = lap.train.LAP { net = net, optimizer = lap.optim.SGD { lr = 0.1 } }
local epoch, save = trainer.epoch, trainer.save
collect_by_hand(trainer)
local data = lap.data.circles { n = 20 }
expect_error("trainer already released", epoch, trainer, data, { batch = 10 })
expect_error("trainer already released", function() return trainer.lambda end)
expect_error("trainer already released", save, trainer, "/nonexistent-dir/trainer.safetensors")

-- A tensor's __gc given something else than a tensor.
local tensor_gc = getmetatable(lap.zeros(1)).__gc
expect_error("lap.Tensor expected", tensor_gc, io.stdout)
expect_error("lap.Tensor expected", tensor_gc, linear)
print("test_released: ok")
