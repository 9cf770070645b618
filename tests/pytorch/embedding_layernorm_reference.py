"""Reference values from PyTorch for tests/test_embedding.cpp and tests/test_layer_normalization.cpp.

Usage: python3 embedding_layernorm_reference.py OUTDIR

Writes one file per case into OUTDIR in the format of conv_reference.py ("name ndim d0 d1 ...",
then the values, row-major, on one line). Inputs and weights are drawn in float32 (what myelin
holds); every result is computed in float64 from those exact values. Each layer case has an
upstream gradient w, and the loss is sum(y * w).

Embedding is F.embedding (nn.Embedding's lookup); LayerNormalization is F.layer_norm over the last
dimension with eps=1e-3 (Keras's default; nn.LayerNorm(C, eps=1e-3)).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_reference import rand, write_tensors  # noqa: E402


def embedding_case(gen, path, input_dim, output_dim, ids_shape):
    table = rand(gen, input_dim, output_dim).requires_grad_()
    ids = torch.randint(0, input_dim, ids_shape, generator=gen)
    ids.view(-1)[0] = input_dim - 1  # the last row and a repeated id, whatever the draw
    ids.view(-1)[1] = 0
    ids.view(-1)[2] = 0
    y = F.embedding(ids, table)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    write_tensors(path, [("x", ids.double()), ("embeddings", table), ("w", up), ("y", y),
                         ("dembeddings", table.grad)])


def layernorm_case(gen, path, shape, center, scale, offset=0.0, eps=1e-3):
    c = shape[-1]
    x = (rand(gen, *shape, lo=-2.0, hi=3.0) + offset).float().double().requires_grad_()
    gamma = rand(gen, c, lo=0.5, hi=1.5).requires_grad_()
    beta = rand(gen, c, lo=-0.5, hi=0.5).requires_grad_()
    y = F.layer_norm(x, (c,), gamma if scale else None, beta if center else None, eps=eps)
    up = rand(gen, *shape)
    (y * up).sum().backward()
    out = [("x", x), ("w", up), ("y", y), ("dx", x.grad)]
    if scale:
        out += [("gamma", gamma), ("dgamma", gamma.grad)]
    if center:
        out += [("beta", beta), ("dbeta", beta.grad)]
    write_tensors(path, out)


def model_case(gen, path):
    """Embedding(11, 6) -> LayerNormalization -> Flatten -> Dense(3, softmax), sparse categorical
    cross-entropy (mean over the batch), on 8 sequences of 5 ids. The weights are written under
    myelin's parameter names."""
    n, steps, vocab, dim, k = 8, 5, 11, 6, 3
    ids = torch.randint(0, vocab, (n, steps), generator=gen)
    labels = torch.randint(0, k, (n,), generator=gen)
    table = rand(gen, vocab, dim, lo=-0.5, hi=0.5).requires_grad_()
    gamma = rand(gen, dim, lo=0.5, hi=1.5).requires_grad_()
    beta = rand(gen, dim, lo=-0.5, hi=0.5).requires_grad_()
    dk = rand(gen, steps * dim, k, lo=-0.5, hi=0.5).requires_grad_()
    db = rand(gen, k, lo=-0.1, hi=0.1).requires_grad_()
    h = F.layer_norm(F.embedding(ids, table), (dim,), gamma, beta, eps=1e-3)
    logits = h.reshape(n, -1) @ dk + db
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    params = [("embedding/embeddings", table), ("layer_normalization/gamma", gamma),
              ("layer_normalization/beta", beta), ("dense/kernel", dk), ("dense/bias", db)]
    out = [("x", ids.double()), ("y", labels.double()), ("loss", loss.reshape(1)),
           ("pred", torch.softmax(logits, dim=1))]
    out += [("w0/" + name, p) for name, p in params]
    out += [("grad/" + name, p.grad) for name, p in params]
    write_tensors(path, out)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20240611)
    embedding_case(gen, os.path.join(outdir, "embedding.txt"), 7, 5, (3, 4))
    embedding_case(gen, os.path.join(outdir, "embedding_2d_ids.txt"), 13, 3, (2, 3, 4))
    layernorm_case(gen, os.path.join(outdir, "layernorm_dense.txt"), (6, 10), True, True)
    layernorm_case(gen, os.path.join(outdir, "layernorm_sequence.txt"), (3, 5, 16), True, True, offset=10.0)
    layernorm_case(gen, os.path.join(outdir, "layernorm_plain.txt"), (4, 7), False, False)
    layernorm_case(gen, os.path.join(outdir, "layernorm_scale_only.txt"), (2, 3, 2, 9), False, True)
    model_case(gen, os.path.join(outdir, "sequence_model.txt"))


if __name__ == "__main__":
    main()
