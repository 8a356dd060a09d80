#!/usr/bin/env python3
"""bench_torch.py - the PyTorch side of `mediagrep bench encoder`.

Builds a CLIP ViT of the given size with random weights as an nn.Module in
float32 (nn.MultiheadAttention with batch_first=True, so PyTorch's fused
inference fast path is used) and measures image encoder throughput at the
given batch sizes and the latency of one text query computed the standard way
(clip.tokenize pads to 77 positions). Prints one JSON object.

Run it the way it is fastest on Debian's python3-torch (what `mediagrep bench
encoder --torch` does):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=PASSIVE \
    /usr/bin/python3 bench/bench_torch.py --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn as nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, d, heads, inter):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, inter), QuickGELU(), nn.Linear(inter, d))

    def forward(self, x, mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Vision(nn.Module):
    def __init__(self, image=224, patch=32, d=768, layers=12, heads=12, inter=3072, proj=512):
        super().__init__()
        g = image // patch
        self.conv1 = nn.Conv2d(3, d, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.pos = nn.Parameter(torch.randn(g * g + 1, d) * 0.01)
        self.ln_pre = nn.LayerNorm(d)
        self.blocks = nn.ModuleList([Block(d, heads, inter) for _ in range(layers)])
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--text-queries", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": a.threads, "image": {}}
    with torch.inference_mode():
        v = Vision().eval()
        for b in [int(x) for x in a.batches.split(",") if x]:
            x = torch.randn(b, 3, 224, 224)
            sec = timed(lambda: v(x), a.seconds)
            out["image"][str(b)] = b / sec
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
