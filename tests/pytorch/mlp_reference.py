"""Reference values from PyTorch for tests/test_pytorch_reference.cpp.

Usage: python3 mlp_reference.py OUTDIR

Writes OUTDIR/classifier.txt, OUTDIR/regression.txt, OUTDIR/two_by_two.txt (a model of two
inputs and two outputs with loss weights and sample weights) and OUTDIR/broadcast_multiply.txt (a
Multiply whose second input is broadcast). Each file is a list of named tensors:

    name ndim d0 d1 ...
    v0 v1 v2 ...            (row-major, one line)

Weights are in myelin's (Keras's) layout: a Dense kernel is {in, units} with y = x @ kernel + bias,
the transpose of torch.nn.Linear.weight. Every parameter is listed in model.parameters() order
(dense/kernel, dense/bias, dense_1/kernel, ...), with the prefixes "w0/" (initial weights),
"grad/" (gradients at the initial weights), "step1/" and "step2/" (weights after one and two
optimizer steps on the same batch).

The initial weights, inputs and labels are drawn in float32 (that is what myelin holds); every
result is then computed in float64 from those exact values, so the reference carries no float32
rounding of its own and the C++ side's error is myelin's alone.

Adam: myelin follows Keras, which adds epsilon to sqrt(v) and folds the bias corrections into the
rate, w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps). torch.optim.Adam adds epsilon to
sqrt(v_hat) instead (an effective epsilon sqrt(1 - b2^t) times smaller), so the Keras rule is
written out here with torch tensors rather than borrowed from torch.optim. SGD with momentum needs
no such care: with a constant rate, torch's buf = mu*buf + g; w -= lr*buf takes exactly the steps of
Keras's v = mu*v - lr*g; w += v, so torch.optim.SGD is used as it is.
"""
import os
import sys

import torch
import torch.nn.functional as F


def write_tensors(path, tensors):
    with open(path, "w") as f:
        for name, t in tensors:
            t = t.detach().to(torch.float64).contiguous()
            f.write(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)}\n")
            f.write(" ".join(repr(float(v)) for v in t.reshape(-1).tolist()) + "\n")


def make_layers(sizes, gen):
    """Linear layers with torch's default init, drawn in float32 then held in float64."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            # Re-draw from our own generator so the values do not depend on global RNG state.
            bound = 1.0 / n_in ** 0.5
            lin.weight.copy_(torch.empty(n_out, n_in).uniform_(-bound, bound, generator=gen))
            lin.bias.copy_(torch.empty(n_out).uniform_(-bound, bound, generator=gen))
        layers.append(lin.double())
    return layers


def keras_params(layers):
    """(name, tensor) pairs in myelin's order and layout, for the given torch layers."""
    out = []
    for i, lin in enumerate(layers):
        prefix = "dense" if i == 0 else f"dense_{i}"
        out.append((f"{prefix}/kernel", lin.weight.t()))
        out.append((f"{prefix}/bias", lin.bias))
    return out


def keras_grads(layers):
    """Gradients named and laid out as keras_params names the weights."""
    grads = [g for lin in layers for g in (lin.weight.grad.t(), lin.bias.grad)]
    return [(name, g) for (name, _), g in zip(keras_params(layers), grads)]


class KerasAdam:
    """Keras's Adam update rule (see the module docstring), in float64."""

    def __init__(self, params, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps = list(params), lr, beta_1, beta_2, epsilon
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * (1 - self.b2 ** self.t) ** 0.5 / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(alpha * m / (v.sqrt() + self.eps))


def run_case(layers, acts, x, y, loss_fn, optimizer):
    """Forward, loss, gradients and two optimizer steps on one batch; returns named tensors."""
    def forward(inp):
        h = inp
        for lin, act in zip(layers, acts):
            h = act(lin(h))
        return h

    # A relu input within float32 rounding of 0 could switch sides in myelin and change the gradient
    # discontinuously; the seeds are chosen so that none is that close.
    with torch.no_grad():
        h = x
        for lin, act in zip(layers, acts):
            z = lin(h)
            if act is torch.relu:
                assert z.abs().min() > 1e-3, "relu input too close to 0; pick another seed"
            h = act(z)

    out = [("x", x), ("y", y)]
    out += [("w0/" + n, t.clone()) for n, t in keras_params(layers)]
    for step in (1, 2):
        for lin in layers:
            lin.zero_grad(set_to_none=True)
        pred = forward(x)
        loss = loss_fn(pred, y)
        loss.backward()
        if step == 1:
            out.append(("loss", loss.detach().reshape(1)))
            out += [("grad/" + n, g.clone()) for n, g in keras_grads(layers)]
        optimizer.step()
        out += [(f"step{step}/" + n, t.clone()) for n, t in keras_params(layers)]
    return out


def classifier(outdir):
    """6 inputs -> Dense 5 relu -> Dense 4 tanh -> Dense 3 softmax, batch 7, sparse CE, Adam."""
    gen = torch.Generator().manual_seed(1234)
    layers = make_layers([6, 5, 4, 3], gen)
    x = torch.randn(7, 6, generator=gen).double()  # float32 draws, exact in float64
    labels = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    ident = lambda t: t  # the softmax lives in the loss (cross-entropy on logits), as myelin fuses it
    acts = [torch.relu, torch.tanh, ident]
    with torch.no_grad():
        h = x
        for lin, act in zip(layers, acts):
            h = act(lin(h))
        probs = torch.softmax(h, dim=1)
    opt = KerasAdam([p for lin in layers for p in (lin.weight, lin.bias)], lr=0.01)
    tensors = run_case(layers, acts, x, labels.double().reshape(7, 1),
                       lambda logits, y: F.cross_entropy(logits, y.reshape(-1).long()), opt)
    tensors.append(("pred", probs))
    write_tensors(os.path.join(outdir, "classifier.txt"), tensors)


def regression(outdir):
    """13 inputs -> Dense 10 relu -> Dense 1, batch 9, MSE, SGD(lr 0.01, momentum 0.9)."""
    gen = torch.Generator().manual_seed(5678)
    layers = make_layers([13, 10, 1], gen)
    x = torch.randn(9, 13, generator=gen).double()
    y = torch.randn(9, 1, generator=gen).double()
    acts = [torch.relu, lambda t: t]
    with torch.no_grad():
        pred = layers[1](torch.relu(layers[0](x)))
    opt = torch.optim.SGD([p for lin in layers for p in (lin.weight, lin.bias)], lr=0.01, momentum=0.9)
    tensors = run_case(layers, acts, x, y, F.mse_loss, opt)
    tensors.append(("pred", pred))
    write_tensors(os.path.join(outdir, "regression.txt"), tensors)


def two_by_two(outdir):
    """Inputs a (4) and b (3): dense = Dense 5 tanh of [a, b]; "class" = Dense 3 softmax of dense,
    sparse CE; "box" = Dense 2 linear of [dense, b], MSE; loss = CE + 0.5 MSE, each per sample times
    its sample weight and summed over the batch of 6 (Keras's sum_over_batch_size); SGD(0.1)."""
    gen = torch.Generator().manual_seed(4321)
    dense, cls = make_layers([7, 5, 3], gen)
    (box,) = make_layers([8, 2], gen)
    a = torch.randn(6, 4, generator=gen).double()
    b = torch.randn(6, 3, generator=gen).double()
    labels = torch.tensor([2, 0, 1, 1, 2, 0])
    y_box = torch.randn(6, 2, generator=gen).double()
    sw = torch.tensor([1.0, 0.5, 2.0, 0.0, 1.5, 1.0], dtype=torch.float64)
    params = [("dense", dense), ("class", cls), ("box", box)]

    def forward():
        h = torch.tanh(dense(torch.cat([a, b], dim=1)))
        return cls(h), box(torch.cat([h, b], dim=1))

    def losses():
        logits, out = forward()
        ce = (F.cross_entropy(logits, labels, reduction="none") * sw).sum() / 6
        mse = (((out - y_box) ** 2).mean(dim=1) * sw).sum() / 6
        return ce, 0.5 * mse

    out = [("a", a), ("b", b), ("y_class", labels.double().reshape(6, 1)), ("y_box", y_box), ("sw", sw)]
    out += [(f"w0/{n}/kernel", lin.weight.t().clone()) for n, lin in params]
    out += [(f"w0/{n}/bias", lin.bias.clone()) for n, lin in params]
    with torch.no_grad():
        logits, pred_box = forward()
    out += [("pred_class", torch.softmax(logits, dim=1)), ("pred_box", pred_box)]
    ce, mse = losses()
    total = ce + mse
    total.backward()
    out += [("class_loss", ce.detach().reshape(1)), ("box_loss", mse.detach().reshape(1)),
            ("loss", total.detach().reshape(1))]
    out += [(f"grad/{n}/kernel", lin.weight.grad.t().clone()) for n, lin in params]
    out += [(f"grad/{n}/bias", lin.bias.grad.clone()) for n, lin in params]
    with torch.no_grad():
        for _, lin in params:
            lin.weight.sub_(0.1 * lin.weight.grad)
            lin.bias.sub_(0.1 * lin.bias.grad)
    out += [(f"step1/{n}/kernel", lin.weight.t().clone()) for n, lin in params]
    out += [(f"step1/{n}/bias", lin.bias.clone()) for n, lin in params]
    write_tensors(os.path.join(outdir, "two_by_two.txt"), out)


def broadcast_multiply(outdir):
    """Inputs a (4, 3) and g (2): u = Dense 3 tanh of a, row by row (4, 3); v = Dense 3 of g (3);
    m = Multiply(u, v), v broadcast over u's 4 rows as Keras pads (3) to (1, 3); out = Dense 2 of
    Flatten(m); MSE over 5 samples; SGD(0.1). v's gradient is summed over the rows it was repeated
    into."""
    gen = torch.Generator().manual_seed(777)
    rows, gate, out = make_layers([3, 3], gen) + make_layers([2, 3], gen) + make_layers([12, 2], gen)
    a = torch.randn(5, 4, 3, generator=gen).double()
    g = torch.randn(5, 2, generator=gen).double()
    y = torch.randn(5, 2, generator=gen).double()
    params = [("rows", rows), ("gate", gate), ("out", out)]

    def forward():
        u = torch.tanh(rows(a))
        v = gate(g)
        return out((u * v[:, None, :]).reshape(5, 12))

    data = [("a", a), ("g", g), ("y", y)]
    data += [(f"w0/{n}/kernel", lin.weight.t().clone()) for n, lin in params]
    data += [(f"w0/{n}/bias", lin.bias.clone()) for n, lin in params]
    with torch.no_grad():
        data.append(("pred", forward()))
    loss = ((forward() - y) ** 2).mean()
    loss.backward()
    data.append(("loss", loss.detach().reshape(1)))
    data += [(f"grad/{n}/kernel", lin.weight.grad.t().clone()) for n, lin in params]
    data += [(f"grad/{n}/bias", lin.bias.grad.clone()) for n, lin in params]
    with torch.no_grad():
        for _, lin in params:
            lin.weight.sub_(0.1 * lin.weight.grad)
            lin.bias.sub_(0.1 * lin.bias.grad)
    data += [(f"step1/{n}/kernel", lin.weight.t().clone()) for n, lin in params]
    data += [(f"step1/{n}/bias", lin.bias.clone()) for n, lin in params]
    write_tensors(os.path.join(outdir, "broadcast_multiply.txt"), data)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mlp_reference.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    classifier(outdir)
    regression(outdir)
    two_by_two(outdir)
    broadcast_multiply(outdir)


if __name__ == "__main__":
    main()
