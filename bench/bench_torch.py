#!/usr/bin/env python3
"""bench_torch.py - the PyTorch side of `mediagrep bench encoder`.

Builds a CLIP ViT of the given size with random weights as an nn.Module in
float32 (nn.MultiheadAttention with batch_first=True, so PyTorch's fused
inference fast path is used) and measures image encoder throughput at the
given batch sizes and the latency of one text query computed the standard way
(clip.tokenize pads to 77 positions). Prints one JSON object.

--precisions LIST (comma-separated subset of fp32,bf16,int8,int8_mlp; default
fp32) picks the image encoder variants measured, each at every --batches size
(the text side is always fp32 only):
  fp32      the float32 model above; keys "image": {"<batch>": img/s, ...}.
  bf16      the same model and input converted to torch.bfloat16, run under
            torch.inference_mode(); key "image_bf16".
  int8      dynamic int8 quantization of ALL projections: the vision model is
            rebuilt with explicit nn.Linear qkv/out projections and
            scaled_dot_product_attention instead of nn.MultiheadAttention (whose
            in_proj is no nn.Linear and whose out_proj is skipped), loaded with
            the fp32 weights, then torch.ao.quantization.quantize_dynamic(...,
            {nn.Linear}, dtype=torch.qint8); the patch conv stays float; key
            "image_int8".
  int8_mlp  quantize_dynamic on the standard model as is (PyTorch's default:
            only the MLP Linears and the final projection); key "image_int8_mlp".
For every precision other than fp32 there is also "image_<prec>_cosine_min":
the minimum over 8 random images of the cosine similarity between that
variant's embeddings and the fp32 ones (same weights, same input).

--device cuda (with --precisions fp16) measures the GPU side of `mediagrep
bench encoder --device cuda --torch` instead: the same model in torch.float16
on the GPU, inputs already there, torch.backends.cudnn.benchmark on, each
timing synchronized; key "image_fp16" plus "image_fp16_cosine_min" against
the float32 model on the GPU. The text side is skipped there.

Run it the way it is fastest on Debian's python3-torch (what `mediagrep bench
encoder --torch` does):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=PASSIVE \
    /usr/bin/python3 bench/bench_torch.py --threads 2
  (add e.g. --precisions fp32,bf16,int8,int8_mlp for the reduced precisions)
"""
import argparse
import copy
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRECISIONS = ("fp32", "bf16", "int8", "int8_mlp", "fp16")


def sdpa(q, k, v, mask=None):
    """scaled_dot_product_attention on (N, heads, L, E); torch >= 2.0 has it
    public, Debian's 1.13 only as the private F._scaled_dot_product_attention
    (which takes boolean masks only, so an additive float mask is done by hand)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if mask is None and hasattr(F, "_scaled_dot_product_attention"):
        return F._scaled_dot_product_attention(q, k, v, None, 0.0, False, False)[0]
    a = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if mask is not None:
        a = a + mask
    return a.softmax(-1) @ v


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ExplicitAttention(nn.Module):
    """Drop-in for nn.MultiheadAttention(batch_first=True) self-attention with
    plain nn.Linear projections (so quantize_dynamic quantizes them all).
    qkv/out_proj match MHA's in_proj_weight/in_proj_bias/out_proj layout."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, q, k, v, need_weights=False, attn_mask=None):
        n, l, d = q.shape
        qkv = self.qkv(q).reshape(n, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = sdpa(qkv[0], qkv[1], qkv[2], attn_mask)
        return self.out_proj(o.transpose(1, 2).reshape(n, l, d)), None


class Block(nn.Module):
    def __init__(self, d, heads, inter, explicit=False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        if explicit:
            self.attn = ExplicitAttention(d, heads)
        else:
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, inter), QuickGELU(), nn.Linear(inter, d))

    def forward(self, x, mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Vision(nn.Module):
    def __init__(self, image=224, patch=32, d=768, layers=12, heads=12, inter=3072, proj=512,
                 explicit=False):
        super().__init__()
        g = image // patch
        self.conv1 = nn.Conv2d(3, d, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.pos = nn.Parameter(torch.randn(g * g + 1, d) * 0.01)
        self.ln_pre = nn.LayerNorm(d)
        self.blocks = nn.ModuleList([Block(d, heads, inter, explicit) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(d)
        self.proj = nn.Linear(d, proj, bias=False)

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.pos
        x = self.ln_pre(x)
        for b in self.blocks:
            x = b(x)
        return self.proj(self.ln_post(x[:, 0]))


class Text(nn.Module):
    def __init__(self, ctx=77, vocab=49408, d=512, layers=12, heads=8, inter=2048, proj=512):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(ctx, d) * 0.01)
        self.blocks = nn.ModuleList([Block(d, heads, inter) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(d)
        self.proj = nn.Linear(d, proj, bias=False)
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu(1))

    def forward(self, ids):
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        for b in self.blocks:
            x = b(x, self.mask)
        x = self.ln_final(x)
        return self.proj(x[torch.arange(ids.shape[0]), ids.argmax(-1)])


def timed(fn, min_seconds, min_iters=2):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if n >= min_iters and el >= min_seconds:
            return el / n


def explicit_copy(v):
    """A Vision with ExplicitAttention blocks holding v's weights."""
    with torch.random.fork_rng(devices=[]):  # leave the global RNG as it was
        e = Vision(explicit=True).eval()
    sd = {}
    for k, t in v.state_dict().items():
        k = k.replace(".attn.in_proj_weight", ".attn.qkv.weight")
        k = k.replace(".attn.in_proj_bias", ".attn.qkv.bias")
        sd[k] = t.clone()
    e.load_state_dict(sd)
    return e


def variant(v, prec):
    """(model, input dtype) for a reduced precision built from fp32 model v."""
    if prec == "bf16":
        return copy.deepcopy(v).to(torch.bfloat16).eval(), torch.bfloat16
    if prec == "int8":
        return torch.ao.quantization.quantize_dynamic(
            explicit_copy(v), {nn.Linear}, dtype=torch.qint8).eval(), torch.float32
    if prec == "int8_mlp":
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(v), {nn.Linear}, dtype=torch.qint8).eval(), torch.float32
    raise ValueError(prec)


def main_cuda(a):
    """fp16 image encoder throughput on the GPU (see the module docstring)."""
    batches = [int(x) for x in a.batches.split(",") if x]
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "image_fp16": {}}
    with torch.inference_mode():
        v32 = Vision().eval().to(dev)
        xr = torch.randn(8, 3, 224, 224, device=dev)
        ref = v32(xr).float()
        v = copy.deepcopy(v32).half().eval()
        del v32
        got = v(xr.half()).float()
        out["image_fp16_cosine_min"] = F.cosine_similarity(got, ref, dim=-1).min().item()

        def run(x):
            v(x)
            torch.cuda.synchronize()

        for b in batches:
            x = torch.randn(b, 3, 224, 224, device=dev, dtype=torch.float16)
            sec = timed(lambda: run(x), a.seconds, min_iters=5)
            out["image_fp16"][str(b)] = b / sec
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--text-queries", type=int, default=30)
    ap.add_argument("--precisions", default="fp32",
                    help="comma-separated subset of " + ",".join(PRECISIONS))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    a = ap.parse_args()
    if a.device == "cuda":
        return main_cuda(a)
    precs = [p for p in a.precisions.split(",") if p]
    bad = [p for p in precs if p not in PRECISIONS or p == "fp16"]
    if bad or not precs:
        ap.error("--precisions: unknown %s (choose from %s; fp16 with --device cuda)" % (
            ",".join(bad) or "(empty)", ",".join(PRECISIONS[:-1])))
    batches = [int(x) for x in a.batches.split(",") if x]
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": a.threads}
    if "fp32" in precs:
        out["image"] = {}
    # Reduced-precision inputs come from their own generator so the global RNG
    # (and with it the text model's weights) is the same as with fp32 alone.
    g = torch.Generator().manual_seed(1)
    extra = [p for p in PRECISIONS if p in precs and p != "fp32"]
    with torch.inference_mode():
        v = Vision().eval()
        if "fp32" in precs:
            for b in batches:
                x = torch.randn(b, 3, 224, 224)
                sec = timed(lambda: v(x), a.seconds)
                out["image"][str(b)] = b / sec
        if extra:
            xr = torch.randn(8, 3, 224, 224, generator=g)
            ref = v(xr).float()
        for p in extra:
            m, dt = variant(v, p)
            got = m(xr.to(dt)).float()
            out["image_%s_cosine_min" % p] = F.cosine_similarity(got, ref, dim=-1).min().item()
            out["image_" + p] = {}
            for b in batches:
                x = torch.randn(b, 3, 224, 224, generator=g).to(dt)
                sec = timed(lambda: m(x), a.seconds)
                out["image_" + p][str(b)] = b / sec
            del m
        del v
        t = Text().eval()
        ids = torch.zeros(1, 77, dtype=torch.long)
        ids[0, :7] = torch.tensor([49406, 320, 1929, 8617, 320, 45768, 49407])
        t(ids)
        lat = []
        for _ in range(a.text_queries):
            t0 = time.perf_counter()
            t(ids)
            lat.append(time.perf_counter() - t0)
        lat.sort()
        out["text_latency_ms"] = 1000 * lat[len(lat) // 2]
        out["text_qps"] = len(lat) / sum(lat)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
