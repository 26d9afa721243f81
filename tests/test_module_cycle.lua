-- test_module_cycle.lua: a module cannot contain itself (issue 13, fault 2).  Such a
-- network made every recursive walk (forward, print, train, save) overflow the C
-- stack; now the call that would close the cycle fails and changes nothing.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

local s = lap.nn.Sequential { lap.nn.ReLU() }
expect_error("Sequential: cannot contain itself", s.add, s, s)
assert(#s == 1, "the failed add must not have added anything")
-- A cycle through another container.
local outer = lap.nn.Sequential { s }
expect_error("Sequential: cannot contain a Sequential that contains it", s.add, s, outer)
assert(#s == 1)
-- A ResNet inside its own block.
local block = lap.nn.Sequential { lap.nn.Linear(2, 2) }
local net = lap.nn.ResNet { blocks = { block }, classifier = lap.nn.Linear(2, 2) }
expect_error("Sequential: cannot contain a ResNet that contains it", block.add, block, net)
assert(#block == 1)
-- Sharing a module in several places (no cycle) is still allowed, and everything
-- that walks the network still works.
local shared = lap.nn.ReLU()
local twice = lap.nn.Sequential { lap.nn.Linear(2, 2), shared }
twice:add(shared)
for _ = 1, 20 do twice = lap.nn.Sequential { twice, twice } end   -- 2^20 paths, 22 modules
twice:add(lap.nn.Linear(2, 2))
assert(tostring(s):find("ReLU", 1, true))
s:train(); s:evaluate()
assert(s:forward(lap.zeros(1, 1)):size(1) == 1)
assert(net:forward(lap.zeros(3, 2)):size(1) == 3)
print("test_module_cycle: ok")
