"""Reference values from PyTorch for tests/test_attention.cpp (MultiHeadAttention).

Usage: python3 attention_reference.py OUTDIR

Writes one file per case into OUTDIR in the format of conv_reference.py. Inputs and weights are
drawn in float32 and every result is computed in float64 from those exact values; the loss is
sum(y * w) for a drawn upstream gradient w. Weights are written in Keras 3's shapes:
query/kernel (d, heads, key_dim), query/bias (heads, key_dim), ..., attention_output/kernel
(heads, value_dim, out), attention_output/bias (out).

The "torch_*" cases run nn.MultiheadAttention (heads * key_dim = embed_dim, its packed or kdim/vdim
projections converted to Keras's kernels); the "plain_*" case writes Keras's einsums out in torch
for sizes nn.MultiheadAttention cannot take (value_dim != key_dim, another output width).
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_reference import rand, write_tensors  # noqa: E402


def keras_kernel(w, heads, width):
    """A torch projection weight (heads * width, in) as Keras's kernel (in, heads, width)."""
    return w.detach().t().reshape(-1, heads, width)


def torch_case(gen, path, batch, tq, tv, d, heads, kdim=None, vdim=None, causal=False, masked=False):
    kdim, vdim = kdim or d, vdim or d
    cross = tv is not None
    tv = tv if cross else tq
    mha = torch.nn.MultiheadAttention(d, heads, kdim=kdim, vdim=vdim, batch_first=True)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(rand(gen, *p.shape, lo=-0.5, hi=0.5))
    query = rand(gen, batch, tq, d).requires_grad_()
    value = rand(gen, batch, tv, vdim).requires_grad_() if cross else query
    key = rand(gen, batch, tv, kdim).requires_grad_() if cross and kdim != vdim else value
    allowed = torch.ones(batch, tq, tv)
    if masked:  # random holes, but every query step keeps its first value step
        allowed = (torch.rand(batch, tq, tv, generator=gen, dtype=torch.float32) > 0.3).double()
        allowed[:, :, 0] = 1
    if causal:
        allowed = allowed * torch.tril(torch.ones(tq, tv))
    blocked = (allowed == 0).repeat_interleave(heads, dim=0)  # torch's (batch * heads, Tq, Tv)
    y, _ = mha(query, key, value, attn_mask=blocked if (masked or causal) else None, need_weights=False)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    kd = d // heads
    if mha._qkv_same_embed_dim:
        wq, wk, wv = mha.in_proj_weight.chunk(3)
        gq, gk, gv = mha.in_proj_weight.grad.chunk(3)
    else:
        wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        gq, gk, gv = mha.q_proj_weight.grad, mha.k_proj_weight.grad, mha.v_proj_weight.grad
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    dbq, dbk, dbv = mha.in_proj_bias.grad.chunk(3)
    wo, bo = mha.out_proj.weight, mha.out_proj.bias
    out = [("query", query), ("value", value)]
    if key is not value:
        out.append(("key", key))
    if masked:
        out.append(("mask", allowed))
    out += [("w", up), ("y", y)]
    out += [("query/kernel", keras_kernel(wq, heads, kd)), ("query/bias", bq.reshape(heads, kd)),
            ("key/kernel", keras_kernel(wk, heads, kd)), ("key/bias", bk.reshape(heads, kd)),
            ("value/kernel", keras_kernel(wv, heads, kd)), ("value/bias", bv.reshape(heads, kd)),
            ("attention_output/kernel", wo.detach().t().reshape(heads, kd, d)), ("attention_output/bias", bo)]
    out += [("d/query/kernel", keras_kernel(gq, heads, kd)), ("d/query/bias", dbq.reshape(heads, kd)),
            ("d/key/kernel", keras_kernel(gk, heads, kd)), ("d/key/bias", dbk.reshape(heads, kd)),
            ("d/value/kernel", keras_kernel(gv, heads, kd)), ("d/value/bias", dbv.reshape(heads, kd)),
            ("d/attention_output/kernel", wo.grad.t().reshape(heads, kd, d)),
            ("d/attention_output/bias", bo.grad)]
    out.append(("dquery", query.grad))
    if cross:
        out.append(("dvalue", value.grad))
        if key is not value:
            out.append(("dkey", key.grad))
    write_tensors(path, out)


def plain_case(gen, path):
    """Keras's MultiHeadAttention written out: 3 heads, key_dim 2, value_dim 5, output_shape 4, a
    separate key, an explicit mask and the causal mask."""
    batch, tq, tv, dq, dv_in, dk_in, heads, kd, vd, out_dim = 2, 4, 5, 6, 3, 7, 3, 2, 5, 4
    query = rand(gen, batch, tq, dq).requires_grad_()
    value = rand(gen, batch, tv, dv_in).requires_grad_()
    key = rand(gen, batch, tv, dk_in).requires_grad_()
    w = {"query/kernel": rand(gen, dq, heads, kd), "query/bias": rand(gen, heads, kd),
         "key/kernel": rand(gen, dk_in, heads, kd), "key/bias": rand(gen, heads, kd),
         "value/kernel": rand(gen, dv_in, heads, vd), "value/bias": rand(gen, heads, vd),
         "attention_output/kernel": rand(gen, heads, vd, out_dim), "attention_output/bias": rand(gen, out_dim)}
    for t in w.values():
        t.requires_grad_()
    allowed = (torch.rand(batch, tq, tv, generator=gen, dtype=torch.float32) > 0.3).double()
    allowed[:, :, 0] = 1
    allowed_all = allowed * torch.tril(torch.ones(tq, tv))
    q = torch.einsum("btd,dhk->bthk", query, w["query/kernel"]) + w["query/bias"]
    k = torch.einsum("bsd,dhk->bshk", key, w["key/kernel"]) + w["key/bias"]
    v = torch.einsum("bsd,dhk->bshk", value, w["value/kernel"]) + w["value/bias"]
    scores = torch.einsum("bthk,bshk->bhts", q / math.sqrt(kd), k)
    scores = torch.where(allowed_all[:, None] > 0, scores, torch.full_like(scores, -1e9))
    probs = torch.softmax(scores, dim=-1)
    ctx = torch.einsum("bhts,bshk->bthk", probs, v)
    y = torch.einsum("bthk,hko->bto", ctx, w["attention_output/kernel"]) + w["attention_output/bias"]
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    out = [("query", query), ("value", value), ("key", key), ("mask", allowed), ("w", up), ("y", y)]
    out += list(w.items()) + [("d/" + n, t.grad) for n, t in w.items()]
    out += [("dquery", query.grad), ("dvalue", value.grad), ("dkey", key.grad)]
    write_tensors(path, out)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20240612)
    torch_case(gen, os.path.join(outdir, "torch_self.txt"), 2, 5, None, 8, 2)
    torch_case(gen, os.path.join(outdir, "torch_self_causal.txt"), 3, 6, None, 12, 3, causal=True)
    torch_case(gen, os.path.join(outdir, "torch_cross.txt"), 2, 4, 6, 8, 4, kdim=5, vdim=3, masked=True)
    torch_case(gen, os.path.join(outdir, "torch_cross_value_is_key.txt"), 2, 3, 5, 6, 2, kdim=4, vdim=4)
    plain_case(gen, os.path.join(outdir, "plain.txt"))


if __name__ == "__main__":
    main()
