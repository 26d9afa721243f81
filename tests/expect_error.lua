-- tests/expect_error.lua: the Lua tests' check that a call fails with a message
-- containing a given text (plain, not a pattern); returns the message.
--   local expect_error = dofile(here .. "expect_error.lua")   -- here: the test's own folder
--   expect_error("Linear: input of shape", net.forward, net, x)
return function(pattern, f, ...)
  local ok, message = pcall(f, ...)
  assert(not ok, "expected an error matching '" .. pattern .. "'")
  assert(tostring(message):find(pattern, 1, true),
    "error message '" .. tostring(message) .. "' does not contain '" .. pattern .. "'")
  return message
end
