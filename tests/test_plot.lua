-- test_plot.lua: lap.plot's figures, read back from the PNG files.
--
-- Every figure is rendered from a deterministic scene (seeded data and weights),
-- decoded with libpng (lap.plot.read) and checked for what must be there: its
-- size, the class colours inside the expected panels, title text at the top; then
-- compared with a golden image in tests/fixtures/golden/ (lap.plot.diff: at most
-- 1 % of pixels may differ by more than 16 levels in some channel, which absorbs
-- last-bit differences of libm between machines).  LAP_WRITE_GOLDEN=1 rewrites
-- the goldens.  Bad input must give clear errors and never leave a file behind.
-- The laprun running this file (LAPRUN when set): runs from any directory.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"   -- this file's folder: runs from any directory
local function this_laprun()
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  return os.getenv("LAPRUN") or (arg and arg[i]) or "./laprun"
end
local directory = os.tmpname()
os.remove(directory)
assert(os.execute("mkdir -p " .. directory))
local write_golden = os.getenv("LAP_WRITE_GOLDEN") == "1"
local golden_dir = here .. "fixtures/golden"

local expect_error = dofile(here .. "expect_error.lua")

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function golden(name, file)
  local reference = golden_dir .. "/" .. name .. ".png"
  if write_golden then
    assert(os.execute("mkdir -p " .. golden_dir .. " && cp " .. file .. " " .. reference))
    return
  end
  local fraction = lap.plot.diff(file, reference)
  assert(fraction <= 0.01, string.format("%s differs from its golden image in %.2f %% of pixels", name, 100 * fraction))
end

-- Counts pixels close to a colour inside a rectangle [x0, x1) x [y0, y1) (0-based pixels).
-- Indexing a flat view returns plain numbers, which keeps the loop fast.
local function count_colour(image, colour, x0, y0, x1, y1, tolerance)
  tolerance = tolerance or 40
  local width = image:size(2)
  local flat = image:reshape(image:numel())
  local count = 0
  for y = y0, y1 - 1 do
    for x = x0, x1 - 1 do
      local base = (y * width + x) * 3
      if math.abs(flat[base + 1] - colour[1]) <= tolerance and math.abs(flat[base + 2] - colour[2]) <= tolerance
        and math.abs(flat[base + 3] - colour[3]) <= tolerance then
        count = count + 1
      end
    end
  end
  return count
end

local RED, BLUE, BLACK = { 214, 39, 40 }, { 31, 119, 180 }, { 0, 0, 0 }

-- A small trained circles network: 3 blocks, BatchNorm, fixed classifier.
local data = lap.data.circles { n = 200, factor = 0.3, noise = 0.05, seed = 3 }
local train, test = data:split { test = 0.5, seed = 3 }
local function circles_net(seed)
  lap.manual_seed(seed)
  local net = lap.nn.ResNet {
    blocks = 3,
    block = function()
      return lap.nn.Sequential { lap.nn.Linear(2, 2), lap.nn.BatchNorm(2), lap.nn.ReLU(), lap.nn.Linear(2, 2) }
    end,
    classifier = lap.nn.Linear(2, 2),
    transport = "frobenius",
  }
  net.classifier.weight:copy(lap.tensor { { 1, 1 }, { 0, 0 } })
  net.classifier.bias:copy(lap.tensor { 2, 0 })
  net.classifier:freeze()
  lap.init.kaiming(net)
  local trainer = lap.train.Plain { net = net, optimizer = lap.optim.Adam { lr = 0.01 } }
  for _ = 1, 5 do trainer:epoch(train, { batch = 10, shuffle = false }) end
  return net
end
local net_a, net_b = circles_net(1), circles_net(2)

-- transport: 2 rows x 3 panels (input, blocks 1 and 3), with a title.
local file = directory .. "/transport.png"
assert(lap.plot.transport { file = file, nets = { net_a, net_b }, labels = { "a", "b" }, data = test,
  blocks = { 1, 3 }, title = "transport" } == file)
local image = lap.plot.read(file)
local height, width = image:size(1), image:size(2)
assert(image:size(3) == 3 and width > 600 and height > 400, "transport.png has an unexpected size")
assert(count_colour(image, BLACK, 0, 0, width, 30, 60) > 20, "no title text at the top of transport.png")
local columns, band, top = 3, 26, 36
local panel_w, panel_h = (width - band - 10) / columns, (height - top - 6) / 2
for row = 0, 1 do
  for column = 0, columns - 1 do
    local x0 = math.floor(band + column * panel_w)
    local y0 = math.floor(top + row * panel_h)
    local x1, y1 = math.floor(x0 + panel_w), math.floor(y0 + panel_h)
    assert(count_colour(image, RED, x0, y0, x1, y1) > 20, string.format("no red points in panel (%d, %d)", row, column))
    assert(count_colour(image, BLUE, x0, y0, x1, y1) > 20, string.format("no blue points in panel (%d, %d)", row, column))
    assert(count_colour(image, BLACK, x0, y0, x1, y0 + 24, 60) > 5, string.format("no panel title in (%d, %d)", row, column))
  end
end
golden("transport", file)

-- Decision regions shade the panels: most background pixels are no longer white.
file = directory .. "/regions.png"
lap.plot.transport { file = file, net = net_a, data = test, regions = true, size = { 700, 260 } }
image = lap.plot.read(file)
assert(image:size(1) == 260 and image:size(2) == 700, "size option not honoured")
local white = count_colour(image, { 255, 255, 255 }, 100, 60, 200, 200, 2)
assert(white < 100 * 140 * 0.5, "regions = true should shade the plot area")
golden("regions", file)

-- A wider network is drawn through PCA; its input panel says so in the title.
do
  lap.manual_seed(4)
  local wide = lap.nn.ResNet { encoder = lap.nn.Linear(2, 5), blocks = 2,
    block = function() return lap.nn.Sequential { lap.nn.Linear(5, 5), lap.nn.Tanh(), lap.nn.Linear(5, 5) } end,
    classifier = lap.nn.Linear(5, 2) }
  lap.init.orthogonal(wide, { gain = 0.5 })
  file = directory .. "/wide.png"
  lap.plot.transport { file = file, net = wide, data = test }
  image = lap.plot.read(file)
  assert(count_colour(image, RED, 0, 0, image:size(2), image:size(1)) > 50, "PCA projection drew no points")
  golden("transport_pca", file)
end

-- trajectories, with and without arrows
for _, arrows in ipairs { false, true } do
  file = directory .. (arrows and "/arrows.png" or "/trajectories.png")
  lap.plot.trajectories { file = file, net = net_a, data = test, arrows = arrows, title = "paths" }
  image = lap.plot.read(file)
  local w, h = image:size(2), image:size(1)
  assert(count_colour(image, RED, 0, 40, w, h, 60) > 200 and count_colour(image, BLUE, 0, 40, w, h, 60) > 200,
    "trajectories should draw both classes' paths")
  golden(arrows and "trajectories_arrows" or "trajectories", file)
end

-- curves: three panels with legends; log scale
file = directory .. "/curves.png"
local loss_a, loss_b, accuracy = {}, {}, {}
for i = 1, 30 do
  loss_a[i], loss_b[i], accuracy[i] = 2 * math.exp(-i / 5), 1 / i, 1 - 0.5 / i
end
lap.plot.curves { file = file, title = "curves", panels = {
  { title = "loss", log = true, series = { { name = "a", y = loss_a }, { name = "b", y = loss_b } } },
  { title = "accuracy", series = { { name = "a", y = accuracy } } },
  { title = "x given", series = { { name = "c", x = { 1, 2, 4, 8 }, y = { 1, 3, 2, 5 } } } },
} }
image = lap.plot.read(file)
assert(count_colour(image, RED, 0, 40, image:size(2) // 3, image:size(1)) > 50, "first series missing in panel 1")
assert(count_colour(image, BLUE, 0, 40, image:size(2) // 3, image:size(1)) > 50, "second series missing in panel 1")
golden("curves", file)

-- scatter with a least-squares fit: the points lie on a line, r = -1 exactly
file = directory .. "/scatter.png"
local xs, ys, groups = {}, {}, {}
for i = 1, 20 do xs[i], ys[i], groups[i] = i, 100 - 2 * i, 1 + i % 2 end
lap.plot.scatter { file = file, x = xs, y = ys, groups = groups, group_names = { "even", "odd" },
  xlabel = "transport", ylabel = "accuracy", title = "scatter" }
image = lap.plot.read(file)
assert(count_colour(image, RED, 0, 0, image:size(2), image:size(1)) > 100, "scatter points missing")
golden("scatter", file)

-- profile: three panels of bars for two networks
file = directory .. "/profile.png"
lap.plot.profile { file = file, nets = { net_a, net_b }, labels = { "a", "b" }, data = test }
image = lap.plot.read(file)
for panel = 0, 2 do
  local x0 = math.floor(panel * image:size(2) / 3)
  assert(count_colour(image, RED, x0, 40, x0 + image:size(2) // 3, image:size(1)) > 30,
    "profile panel " .. panel + 1 .. " has no bars of the first network")
end
golden("profile", file)

-- images: a row of grey 8x8 gradients and a row of RGB images
file = directory .. "/images.png"
local grey, rgb = lap.zeros(4, 8, 8), lap.zeros(3, 3, 8, 8)
for i = 1, 4 do for y = 1, 8 do for x = 1, 8 do grey[i][y][x] = x + y + i end end end
for i = 1, 3 do rgb[i][i]:fill(1) end
lap.plot.images { file = file, rows = { grey, rgb }, titles = { "a", "b", "c", "d" }, row_labels = { "grey", "rgb" } }
image = lap.plot.read(file)
assert(count_colour(image, { 255, 0, 0 }, 0, 0, image:size(2), image:size(1), 10) > 100, "the red image is missing")
golden("images", file)

-- Bad input: clear errors, no file left behind.
expect_error("cannot write '/nonexistent-dir/x.png'", lap.plot.transport,
  { file = "/nonexistent-dir/x.png", net = net_a, data = test })
assert(not exists("/nonexistent-dir/x.png"))
expect_error("unknown option 'colour'", lap.plot.transport, { file = directory .. "/u.png", net = net_a, data = test,
  colour = "red" })
expect_error("option 'file'", lap.plot.transport, { net = net_a, data = test })
expect_error("ResNet.block[1]", lap.plot.transport, { file = directory .. "/shape.png", net = net_a,
  x = lap.zeros(5, 3) })
assert(not exists(directory .. "/shape.png"), "a failed figure must not leave a file")
expect_error("block 7 out of range", lap.plot.transport, { file = directory .. "/b.png", net = net_a, data = test,
  blocks = { 7 } })
expect_error("N >= 1", lap.plot.transport, { file = directory .. "/e.png", net = net_a, x = lap.zeros(0, 2) })
expect_error("needs a ResNet", lap.plot.trajectories, { file = directory .. "/t.png", net = lap.nn.Linear(2, 2),
  data = test })
expect_error("x has 3 values and y 2", lap.plot.scatter, { file = directory .. "/s.png", x = { 1, 2, 3 }, y = { 1, 2 } })
expect_error("is not a number", lap.plot.curves, { file = directory .. "/c.png", series = { { y = { 1, "two" } } } })
expect_error("expected (N, H, W)", lap.plot.images, { file = directory .. "/i.png", rows = { lap.zeros(2, 2) } })

-- NaN points are left out, with a warning, and the figure is still written.
do
  local x = test.x:clone()
  x[1][1] = 0 / 0
  x[2][2] = 0 / 0
  file = directory .. "/nan.png"
  assert(lap.plot.transport { file = file, net = net_a, x = x, classes = test.y } == file)
  assert(exists(file))
  local laprun = this_laprun()
  local command = laprun .. [[ -e "local d = lap.data.circles{n = 20}; local x = d.x:clone(); x[1][1] = 0/0;
    lap.plot.scatter{file = ']] .. directory .. [[/nan2.png', x = {1, 0/0, 3}, y = {1, 2, 3}}" 2>&1]]
  local pipe = io.popen(command)
  local output = pipe:read("a")
  pipe:close()
  assert(output:find("warning: 1 points with NaN", 1, true), "expected a NaN warning, got: " .. output)
end

os.execute("rm -rf " .. directory)
print("test_plot: ok")
