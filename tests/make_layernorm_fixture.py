"""make_layernorm_fixture.py: PyTorch's LayerNorm on fixed inputs, for tests/test_layernorm.lua.

    /usr/bin/python3 tests/make_layernorm_fixture.py > tests/fixtures/torch_layernorm.txt

Records (tests/fixture.lua's format): the input x (3, 4, 6), weight and bias (6), the
upstream gradient dy, torch.nn.LayerNorm(6, eps=1e-3)'s output y, and the gradients
dx, dweight, dbias of sum(y * dy); then the same without affine (y_plain, dx_plain).
"""
import torch


def record(name, t):
    t = t.detach().contiguous()
    values = " ".join("%.9g" % v for v in t.reshape(-1).tolist())
    return "%s %d %s %s" % (name, t.dim(), " ".join(str(d) for d in t.shape), values)


def main():
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(3, 4, 6, generator=g) * 2 + 0.5).requires_grad_()
    dy = torch.randn(3, 4, 6, generator=g)
    ln = torch.nn.LayerNorm(6, eps=1e-3)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(6, generator=g))
        ln.bias.copy_(torch.randn(6, generator=g))
    y = ln(x)
    (y * dy).sum().backward()
    lines = ["# written by tests/make_layernorm_fixture.py (torch %s)" % torch.__version__,
             record("x", x), record("weight", ln.weight), record("bias", ln.bias), record("dy", dy),
             record("y", y), record("dx", x.grad), record("dweight", ln.weight.grad), record("dbias", ln.bias.grad)]
    x.grad = None
    plain = torch.nn.LayerNorm(6, eps=1e-3, elementwise_affine=False)
    y_plain = plain(x)
    (y_plain * dy).sum().backward()
    lines += [record("y_plain", y_plain), record("dx_plain", x.grad)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
