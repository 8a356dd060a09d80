#!/usr/bin/python3
"""Generates short videos with burnt-in captions at known times, for the OCR
of videos (src/ocr/ocr_segments.c, `mediagrep ocr VIDEO`, tests/test_ocr_video.c).

Each video: 640x360, 25 fps, H.264 (libx264, yuv420p, one keyframe per 2 s),
20-26 s. The background is a series of shots over scikit-image's real
photographs (public-domain / CC0): a still crop, a slow pan or a slow zoom,
3-8 s each, cut from one to the next; frames are made with Pillow and piped
to the `ffmpeg` command as raw RGB. Captions are drawn by ffmpeg's drawtext
(DejaVu Sans, 22-32 px em size, white or yellow, on a translucent black box
or unboxed with a black outline or shadow, near the bottom or, one in five,
near the top) with enable='between(t,START,END)': 2-6 s on screen, 1.3-3 s
gaps between them, 2-6 words each from a vocabulary plus made-up words.

truth.json: {"videos": [{"file", "duration", "fps", "width", "height",
"captions": [{"text", "start", "end", "color", "style", "fontsize", "pos"}],
"shots": [...]}]}, times in seconds.

Deterministic (seeded; x264 runs with one thread). Uses Debian's
python3-pil, python3-skimage (data only), fonts-dejavu and ffmpeg.
Usage: gen_caption_videos.py OUTDIR [--n N] [--seed S]
"""
import json
import os
import random
import subprocess
import sys

from PIL import Image

SK = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = ["coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "astronaut.png",
          "hubble_deep_field.jpg", "coins.png", "camera.png"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
W, H, FPS = 640, 360, 25
WORDS = ("harbor museum market station coffee bakery garden river bridge north south open closed exit "
         "welcome hotel restaurant library school street avenue platform ticket office parking airport "
         "terminal delivery organic fresh natural premium original quality vintage classic modern summer "
         "winter festival concert theatre cinema gallery center public private service morning evening "
         "mountain valley island forest lighthouse castle palace tower square kitchen window weather "
         "tonight tomorrow breaking news live report interview history science travel music family "
         "people city world water light dinner friends finally together").split()
SYL_C = "bdfgklmnprstvz"
SYL_V = "aeiou"


def made_up(rng):
    """A pronounceable word that is in no dictionary (e.g. 'tavoren')."""
    n = rng.randint(2, 3)
    w = "".join(rng.choice(SYL_C) + rng.choice(SYL_V) for _ in range(n))
    if rng.random() < 0.5:
        w += rng.choice("nrsltk")
    return w


def caption_text(rng, max_chars):
    n = rng.randint(2, 6)
    words = [made_up(rng) if rng.random() < 0.25 else rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.5:
        words[0] = words[0].capitalize()
    while len(words) > 2 and len(" ".join(words)) > max_chars:
        words.pop()
    return " ".join(words)


def timeline(rng, dur):
    caps = []
    t = rng.uniform(0.6, 2.0)
    while t + 2.0 < dur - 0.4:
        end = min(t + rng.uniform(2.0, 6.0), dur - 0.3)
        if end - t < 2.0:
            break
        fs = rng.randint(22, 32)
        caps.append({
            "text": caption_text(rng, int(600 / (0.62 * fs))),
            "start": round(t, 2), "end": round(end, 2),
            "color": rng.choice(["white", "yellow"]),
            "style": rng.choice(["box", "box", "outline", "shadow"]),
            "fontsize": fs,
            "pos": "top" if rng.random() < 0.2 else "bottom",
            "margin": rng.randint(16, 40),
        })
        t = end + rng.uniform(1.3, 3.0)
    return caps


def load_photos():
    out = []
    for p in PHOTOS:
        im = Image.open(os.path.join(SK, p)).convert("RGB")
        # cover 640x360 with room to pan/zoom: the short fit side at 1.35x
        s = max(W * 1.35 / im.width, H * 1.35 / im.height)
        out.append(im.resize((max(W, round(im.width * s)), max(H, round(im.height * s))), Image.LANCZOS))
    return out


def shots(rng, dur, nphotos):
    out, t = [], 0.0
    last = -1
    while t < dur:
        d = rng.uniform(3.0, 8.0)
        p = rng.randrange(nphotos)
        if p == last:
            p = (p + 1) % nphotos
        last = p
        out.append({"start": round(t, 2), "end": round(min(dur, t + d), 2), "photo": PHOTOS[p],
                    "kind": rng.choice(["still", "still", "pan", "zoom"]),
                    "a": [rng.random(), rng.random()], "b": [rng.random(), rng.random()]})
        t += d
    return out


def frame(photos, shot, t):
    im = photos[PHOTOS.index(shot["photo"])]
    u = (t - shot["start"]) / max(0.01, shot["end"] - shot["start"])
    ax, ay = shot["a"]
    bx, by = shot["b"]
    zw, zh = W, H
    if shot["kind"] == "pan":   # ~10-40 px/s across the photo
        fx, fy = ax + (bx - ax) * u * 0.5, ay + (by - ay) * u * 0.5
    elif shot["kind"] == "zoom":  # from 1.3x the frame down to 1.0x
        fx, fy = ax, ay
        z = 1.3 - 0.3 * u
        zw, zh = W * z, H * z
    else:
        fx, fy = ax, ay
    zw, zh = min(zw, im.width), min(zh, im.height)
    x0, y0 = fx * (im.width - zw), fy * (im.height - zh)
    return im.resize((W, H), Image.BILINEAR, box=(x0, y0, x0 + zw, y0 + zh))


def drawtext(c, path):
    col = c["color"]
    y = f"h-text_h-{c['margin']}" if c["pos"] == "bottom" else f"{c['margin']}"
    opts = [f"fontfile={FONT}", f"textfile={path}", f"fontsize={c['fontsize']}", f"fontcolor={col}",
            "x=(w-text_w)/2", f"y={y}"]
    if c["style"] == "box":
        opts += ["box=1", "boxcolor=black@0.6", "boxborderw=7"]
    elif c["style"] == "outline":
        opts += ["borderw=2", "bordercolor=black"]
    else:
        opts += ["shadowx=2", "shadowy=2", "shadowcolor=black@0.9"]
    opts.append(f"enable='between(t,{c['start']},{c['end']})'")
    return "drawtext=" + ":".join(opts)


def make_video(out_dir, i, seed, photos):
    rng = random.Random(seed * 1000 + i)
    dur = round(rng.uniform(20.0, 26.0), 1)
    caps = timeline(rng, dur)
    sh = shots(rng, dur, len(photos))
    name = f"cap_{i:03d}.mp4"
    tmp = os.path.join(out_dir, f".{name}.d")
    os.makedirs(tmp, exist_ok=True)
    filters = []
    for k, c in enumerate(caps):
        p = os.path.join(tmp, f"c{k}.txt")
        with open(p, "w") as f:
            f.write(c["text"])
        filters.append(drawtext(c, p))
    script = os.path.join(tmp, "filter.txt")
    with open(script, "w") as f:
        f.write(",".join(filters) if filters else "null")
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-", "-filter_script:v", script,
           "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(2 * FPS), "-threads", "1",
           "-pix_fmt", "yuv420p", "-fflags", "+bitexact", "-flags:v", "+bitexact",
           "-movflags", "+faststart", os.path.join(out_dir, name)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    nframes = round(dur * FPS)
    s = 0
    for k in range(nframes):
        t = k / FPS
        while s + 1 < len(sh) and t >= sh[s + 1]["start"]:
            s += 1
        proc.stdin.write(frame(photos, sh[s], t).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"gen_caption_videos: ffmpeg failed on {name}")
    for k in range(len(caps)):
        os.remove(os.path.join(tmp, f"c{k}.txt"))
    os.remove(script)
    os.rmdir(tmp)
    for c in caps:
        del c["margin"]
    return {"file": name, "duration": nframes / FPS, "fps": FPS, "width": W, "height": H,
            "captions": caps, "shots": sh}


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit("usage: gen_caption_videos.py OUTDIR [--n N] [--seed S]")
    out_dir, n, seed = args[0], 4, 1
    i = 1
    while i < len(args):
        if args[i] == "--n" and i + 1 < len(args):
            n = int(args[i + 1])
        elif args[i] == "--seed" and i + 1 < len(args):
            seed = int(args[i + 1])
        else:
            sys.exit(f"gen_caption_videos: unknown argument {args[i]}")
        i += 2
    os.makedirs(out_dir, exist_ok=True)
    photos = load_photos()
    vids = [make_video(out_dir, k, seed, photos) for k in range(n)]
    with open(os.path.join(out_dir, "truth.json"), "w") as f:
        json.dump({"seed": seed, "videos": vids}, f, indent=1)
    print(f"{n} videos, {sum(len(v['captions']) for v in vids)} captions in {out_dir}")


if __name__ == "__main__":
    main()
