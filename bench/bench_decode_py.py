#!/usr/bin/env python3
"""bench_decode_py.py - the Python side of `mediagrep bench decode`.

Measures, on the files the C side generated, in the same run:
  * Pillow: JPEG open + CLIP preprocess (Resize(224, BICUBIC) + CenterCrop +
    RGB), with Image.draft() (libjpeg DCT scaling, what fast Python loaders
    use) and without it; images/s on one thread.
  * PyAV: 8 frames sampled from a video by seeking to each target time
    (backward to the keyframe) and decoding forward to it; seconds per video.
Prints one JSON object.
"""
import argparse
import json
import time

from PIL import Image


def clip_preprocess(im, size=224):
    w, h = im.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
    return im.crop((left, top, left + size, top + size)).convert("RGB")


def bench_jpeg(path, draft, seconds):
    def once():
        im = Image.open(path)
        if draft:
            im.draft("RGB", (448, 448))  # DCT scaling, short side kept >= 2x the 224 target
        clip_preprocess(im)
    once()
    n, t0 = 0, time.perf_counter()
    while True:
        once()
        n += 1
        el = time.perf_counter() - t0
        if n >= 3 and el >= seconds:
            return n / el


def bench_pyav(path, frames):
    import av
    t0 = time.perf_counter()
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        dur = float(c.duration) / av.time_base
        targets = [(i + 0.5) * dur / frames for i in range(frames)]
        got = 0
        for t in targets:
            c.seek(int(t / s.time_base), stream=s, backward=True, any_frame=False)
            for fr in c.decode(s):
                if fr.time is not None and fr.time + 1e-6 >= t - 0.5 / float(s.average_rate or 25):
                    fr.to_ndarray(format="rgb24")
                    got += 1
                    break
    return time.perf_counter() - t0, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jpeg", action="append", default=[])
    ap.add_argument("--video")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    out = {"jpeg": {}}
    for p in a.jpeg:
        out["jpeg"][p] = {"pillow_draft": bench_jpeg(p, True, a.seconds),
                          "pillow_full": bench_jpeg(p, False, a.seconds)}
    if a.video:
        try:
            sec, got = bench_pyav(a.video, a.frames)
            out["pyav_seek_s"] = sec
            out["pyav_frames"] = got
        except ImportError:
            out["pyav_seek_s"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
