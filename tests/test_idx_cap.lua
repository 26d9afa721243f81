-- test_idx_cap.lua: decompression bombs (issue 13, fault 7).  A gzip IDX file of
-- 1 MB can hold 2^30 pixels; the cap on what a load decodes counted bytes, not the
-- 4-byte floats they become, so such a file took 5.3 GB.  Now the float32 size of
-- the images kept is capped (2^31 bytes by default, the option max_bytes for users
-- with the memory), checked on the header before anything is read or allocated.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local expect_error = dofile(here .. "expect_error.lua")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local function write(name, bytes)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end
local function labels(n) return string.pack(">I4I4", 0x801, n) .. string.rep("\3", n) end
local function images(n, header_n)
  return string.pack(">I4I4I4I4", 0x803, header_n or n, 28, 28) .. string.rep("\7", n * 784)
end
local gzip = os.execute("command -v gzip >/dev/null 2>&1")

-- 50 images are 156 800 bytes as floats.
write("train-images-idx3-ubyte", images(50))
write("train-labels-idx1-ubyte", labels(50))
if gzip then assert(os.execute("cd '" .. dir .. "' && gzip -f train-images-idx3-ubyte")) end
local message = expect_error("50 of them as floats are more than the 100000-byte limit (the option max_bytes allows more)",
  lap.data.mnist, { dir = dir, max_bytes = 100000 })
assert(message:find("train-images-idx3-ubyte", 1, true), "the message names the file: " .. message)
assert(lap.data.mnist { dir = dir, max_bytes = 156800 }.n == 50)
assert(lap.data.mnist { dir = dir, max_bytes = 100000, limit = 20 }.n == 20)   -- what is kept counts
assert(lap.data.mnist { dir = dir }.n == 50)
expect_error("option 'max_bytes' must be in [1,", lap.data.mnist, { dir = dir, max_bytes = 0 })

-- A header claiming 2^30 pixels (1 369 600 images) over a few bytes: refused on the
-- header, as the real 1 MB bomb is, before any of it is inflated.
os.remove(dir .. "/train-images-idx3-ubyte.gz")
write("train-images-idx3-ubyte", images(5, 1369600))
write("train-labels-idx1-ubyte", labels(5))
if gzip then assert(os.execute("cd '" .. dir .. "' && gzip -f train-images-idx3-ubyte")) end
expect_error("1369600 images of 28x28: 1369600 of them as floats are more than the 2147483648-byte limit",
  lap.data.mnist, { dir = dir })
os.execute("rm -rf '" .. dir .. "'")
print("test_idx_cap: ok")
