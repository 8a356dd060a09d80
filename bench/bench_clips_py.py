#!/usr/bin/env python3
"""bench_clips_py.py - the Python side of `mediagrep bench index --clips N`.

The video-retrieval pipeline a user would write instead of mediagrep, on the
same clips in the same run: PyAV opens each clip and takes --frames frames
evenly spaced in time (target k at (k + 0.5) * duration / frames, mediagrep's
rule) by seeking backward to the keyframe before each target and decoding
forward to it; Pillow does CLIP's preprocessing (shortest side to 224 with
bicubic resampling, centre crop, RGB) and numpy the normalisation; a thread
pool of --decoders decoders prefetches clips (at most 2 per decoder in
flight) while the main thread encodes batches of --batch frames with
PyTorch's fastest int8 ViT-B/32 image encoder: bench_torch.py's model with
random weights, dynamically quantized both ways bench_torch.py knows (all
Linears with explicit attention, "int8", or PyTorch's default MLP-only,
"int8_mlp"); the faster of the two at this batch size on an encoder-only
calibration is the one used (--precision picks one instead: int8, int8_mlp,
fp32, bf16).

Prints one JSON object: clips, frames, seconds (wall, from the first open to
the last embedding), videos_per_s, frames_per_s, decode_s (summed over the
decoders), encode_s (the main thread's model time), wait_s (the main thread
waiting on decoders), precision, the calibration rates, threads.

Run as `mediagrep bench index --clips N` does:
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=PASSIVE \
    /usr/bin/python3 bench/bench_clips_py.py --dir DIR --threads 2
"""
import argparse
import collections
import concurrent.futures as cf
import json
import os
import sys
import time

import av
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch  # noqa: E402  (the same model definitions as bench encoder --torch)

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32).reshape(3, 1, 1)


def preprocess(im, size=224):
    w, h = im.size
    if w <= h:
        nw, nh = size, max(size, int(round(size * h / w)))
    else:
        nw, nh = max(size, int(round(size * w / h))), size
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    a = np.asarray(im.crop((left, top, left + size, top + size)).convert("RGB"), dtype=np.float32)
    return (a.transpose(2, 0, 1) / 255.0 - MEAN) / STD


def decode_clip(path, frames):
    """(frames x 3 x 224 x 224 float32, seconds spent) for one clip."""
    t0 = time.perf_counter()
    out = []
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "NONE"  # one decoder = one thread; the pool gives the parallelism
        tb = float(s.time_base)
        dur = float(s.duration * s.time_base) if s.duration else float(c.duration) / av.time_base
        start = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        for k in range(frames):
            t = start + (k + 0.5) * dur / frames
            c.seek(int(t / tb), stream=s, backward=True, any_frame=False)
            got = None
            for f in c.decode(s):
                if f.pts is None:
                    continue
                got = f
                if f.pts * tb + 1e-6 >= t:
                    break
            if got is not None:
                out.append(preprocess(got.to_image()))
    return np.stack(out) if out else np.zeros((0, 3, 224, 224), np.float32), time.perf_counter() - t0


def build_model(prec):
    torch.manual_seed(0)
    v = bench_torch.Vision().eval()
    if prec == "fp32":
        return v, torch.float32
    return bench_torch.variant(v, prec)


def calibrate(batch, seconds):
    rates = {}
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        for prec in ("int8", "int8_mlp"):
            m, dt = build_model(prec)
            sec = bench_torch.timed(lambda: m(x.to(dt)), seconds)
            rates[prec] = batch / sec
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--decoders", type=int, default=2)
    ap.add_argument("--precision", default="auto", help="auto (fastest int8), int8, int8_mlp, fp32, bf16")
    ap.add_argument("--calibrate-seconds", type=float, default=4.0)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clips = sorted(os.path.join(a.dir, f) for f in os.listdir(a.dir) if f.endswith((".avi", ".mp4")))
    if a.limit:
        clips = clips[: a.limit]
    out = {"torch": torch.__version__, "pyav": av.__version__, "threads": a.threads, "decoders": a.decoders,
           "batch": a.batch, "clips": len(clips)}
    prec = a.precision
    if prec == "auto":
        out["calibration_img_per_s"] = rates = calibrate(a.batch, a.calibrate_seconds)
        prec = max(rates, key=rates.get)
    out["precision"] = prec
    model, dt = build_model(prec)
    decode_s = encode_s = wait_s = 0.0
    n_frames = 0
    pending = collections.deque()
    buf = []
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=a.decoders) as pool, torch.inference_mode():
        it = iter(clips)

        def refill():
            while len(pending) < 2 * a.decoders:
                p = next(it, None)
                if p is None:
                    return
                pending.append(pool.submit(decode_clip, p, a.frames))

        def encode(rows):
            nonlocal encode_s
            te = time.perf_counter()
            model(torch.from_numpy(np.ascontiguousarray(np.concatenate(rows))).to(dt))
            encode_s += time.perf_counter() - te

        refill()
        while pending:
            tw = time.perf_counter()
            arr, sec = pending.popleft().result()
            wait_s += time.perf_counter() - tw
            refill()
            decode_s += sec
            n_frames += len(arr)
            buf.append(arr)
            have = sum(len(b) for b in buf)
            while have >= a.batch:
                allf = np.concatenate(buf)
                encode([allf[: a.batch]])
                buf = [allf[a.batch:]] if len(allf) > a.batch else []
                have -= a.batch
        if buf and sum(len(b) for b in buf):
            encode(buf)
    wall = time.perf_counter() - t0
    out.update(frames=n_frames, seconds=wall, videos_per_s=len(clips) / wall, frames_per_s=n_frames / wall,
               decode_s=decode_s, encode_s=encode_s, wait_s=wait_s)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
