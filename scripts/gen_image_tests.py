#!/usr/bin/python3
"""gen_image_tests.py - deterministic test images and Pillow goldens for
mediagrep's image decoding and CLIP preprocessing (tests/test_image.c).

Run with Debian's Python (it needs python3-pil 9.4, numpy and python3-torch,
and python3-skimage for the source photos):

    /usr/bin/python3 scripts/gen_image_tests.py

It writes
  tests/data/images/           valid PNG/JPEG files of every flavour the
                               decoder maps (see src/media/image.h), built
                               from crops of scikit-image's sample photos
                               (public domain / CC0) plus noise, and
                               malformed files (malformed.txt lists each
                               with the error code it must produce);
  tests/golden/preprocess/     manifest.txt: for each valid image and crop
                               size, the Pillow mode, torchvision's resize
                               geometry and the SHA-256 of the exact crop
                               Resize(size, BICUBIC) + CenterCrop(size) +
                               convert("RGB") produces under Pillow; raw
                               crops as PNG for a few cases (for diffing);
                               normalize.txt: ToTensor+Normalize values at a
                               few positions, computed with torch.
Goldens also cover the bundled samples/images/* (names starting with
"samples/" are relative to the repository root).

Everything is seeded, so rerunning reproduces the same bytes (given the same
Pillow/zlib/libjpeg versions).
"""
import hashlib
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

assert Image.__version__.startswith("9."), "expected Debian's Pillow 9.x (/usr/bin/python3)"

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SK = "/usr/lib/python3/dist-packages/skimage/data"
DATA = os.path.join(ROOT, "tests", "data", "images")
GOLD = os.path.join(ROOT, "tests", "golden", "preprocess")

rng = np.random.default_rng(20240601)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# --------------------------------------------------------------------------
# torchvision 0.14 (transforms.functional) replicated for PIL images
# --------------------------------------------------------------------------
def tv_resized_size(w, h, size):
    """_compute_resized_output_size for an int size: returns (new_w, new_h)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def clip_crop(im, size):
    """Resize(size, BICUBIC) + CenterCrop(size) + convert('RGB')."""
    nw, nh = tv_resized_size(im.width, im.height, size)
    r = im.resize((nw, nh), Image.BICUBIC)
    # center_crop: the resize makes both sides >= size, so never pads.
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    c = r.crop((left, top, left + size, top + size)).convert("RGB")
    return c, (nw, nh, left, top)


def clip_normalize(crop):
    """ToTensor + Normalize as torchvision does them (float32, CHW)."""
    import torch
    a = torch.from_numpy(np.array(crop, np.uint8, copy=True))
    t = a.view(crop.size[1], crop.size[0], 3).permute((2, 0, 1)).contiguous()
    t = t.to(dtype=torch.float32).div(255)
    mean = torch.as_tensor(CLIP_MEAN, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(CLIP_STD, dtype=torch.float32).view(-1, 1, 1)
    return t.sub_(mean).div_(std).numpy()


# --------------------------------------------------------------------------
# A small PNG writer (for what Pillow cannot write: 16-bit color, 2/4-bit
# gray, Adam7 interlacing, tRNS on arbitrary types)
# --------------------------------------------------------------------------
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def _pack_rows(arr, depth):
    out = []
    for row in arr:
        flat = row.reshape(-1)
        if depth == 16:
            b = flat.astype(">u2").tobytes()
        elif depth == 8:
            b = flat.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            pad = (-len(flat)) % per
            v = np.concatenate([flat.astype(np.uint8), np.zeros(pad, np.uint8)]).reshape(-1, per)
            byte = np.zeros(len(v), np.uint8)
            for i in range(per):
                byte |= (v[:, i] << (8 - depth * (i + 1))).astype(np.uint8)
            b = byte.tobytes()
        out.append(b"\x00" + b)
    return b"".join(out)


def png_bytes(samples, color_type, depth, interlace=False, palette=None, trns=None,
              extra_after_idat=b""):
    """samples: H x W x C array of raw sample values (palette indices for P)."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w = samples.shape[:2]
    if interlace:
        raw = b""
        for xs, ys, dx, dy in ADAM7:
            sub = samples[ys::dy, xs::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += _pack_rows(sub, depth)
    else:
        raw = _pack_rows(samples, depth)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0,
                                      1 if interlace else 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9))
    out += extra_after_idat
    out += chunk(b"IEND", b"")
    return out


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------
def photo(name):
    return Image.open(os.path.join(SK, name)).copy()


def pcrop(name, x, y, w, h):
    return photo(name).crop((x, y, x + w, y + h))


def arr(im):
    return np.asarray(im)


def save_pil(im, fname, **kw):
    path = os.path.join(DATA, fname)
    im.save(path, **kw)
    return path


def save_bytes(b, fname):
    path = os.path.join(DATA, fname)
    with open(path, "wb") as f:
        f.write(b)
    return path


def alpha_ramp(w, h, holes=True):
    """An alpha plane with a smooth ramp, a fully transparent block and a
    fully opaque block (exercises every branch of premultiplication)."""
    yy, xx = np.mgrid[0:h, 0:w]
    a = (255 * (xx + yy) / max(1, w + h - 2)).astype(np.uint8)
    if holes:
        a[h // 4: h // 2, w // 5: w // 2] = 0
        a[h // 2:, w // 2:] = 255
    return a


# --------------------------------------------------------------------------
# Valid images: (file, expected mg mode name, sizes, keep raw crop PNG?)
# --------------------------------------------------------------------------
VALID = []


def valid(fname, mode, sizes=(224,), raw=False):
    VALID.append((fname, mode, tuple(sizes), raw))


def make_valid():
    # --- RGB / L / LA / RGBA 8-bit ---
    save_pil(pcrop("astronaut.png", 150, 40, 256, 232), "rgb_astronaut_256x232.png")
    valid("rgb_astronaut_256x232.png", "RGB", (224, 336), raw=True)
    save_pil(pcrop("coffee.png", 200, 60, 190, 290), "rgb_coffee_portrait_190x290.png")
    valid("rgb_coffee_portrait_190x290.png", "RGB")
    save_pil(pcrop("camera.png", 120, 60, 290, 236), "l_camera_290x236.png")
    valid("l_camera_290x236.png", "L", raw=True)
    cam = arr(pcrop("camera.png", 200, 100, 170, 140))
    la = np.dstack([cam, alpha_ramp(170, 140)])
    save_pil(Image.fromarray(la, "LA"), "la_camera_170x140.png")
    valid("la_camera_170x140.png", "LA", raw=True)
    cat = arr(pcrop("chelsea.png", 100, 30, 250, 236))
    rgba = np.dstack([cat, alpha_ramp(250, 236)])
    save_pil(Image.fromarray(rgba, "RGBA"), "rgba_chelsea_250x236.png")
    valid("rgba_chelsea_250x236.png", "RGBA", (224, 336), raw=True)
    # --- palette ---
    p = pcrop("chelsea.png", 120, 20, 262, 231).quantize(colors=48, dither=Image.Dither.NONE)
    save_pil(p, "p_chelsea_262x231.png")
    valid("p_chelsea_262x231.png", "P", (224, 336), raw=True)
    p = pcrop("coffee.png", 250, 120, 120, 90).quantize(colors=32, dither=Image.Dither.NONE)
    tr = bytes([0, 60, 128, 200] + [255] * 4 + [17])
    save_bytes(png_bytes(arr(p), 3, 8, palette=np.asarray(p.getpalette()[:32 * 3]), trns=tr),
               "p_trns_coffee_120x90.png")
    valid("p_trns_coffee_120x90.png", "P", raw=True)
    p = pcrop("astronaut.png", 200, 100, 100, 70).quantize(colors=16, dither=Image.Dither.NONE)
    save_bytes(png_bytes(arr(p), 3, 4, palette=np.asarray(p.getpalette()[:16 * 3])),
               "p4_astronaut_100x70.png")
    valid("p4_astronaut_100x70.png", "P")
    p = pcrop("coffee.png", 300, 100, 61, 47).quantize(colors=4, dither=Image.Dither.NONE)
    save_bytes(png_bytes(arr(p), 3, 2, palette=np.asarray(p.getpalette()[:4 * 3])),
               "p2_coffee_61x47.png")
    valid("p2_coffee_61x47.png", "P")
    # palette with out-of-range indices (Pillow maps them to a gray ramp)
    idx = rng.integers(0, 12, (20, 30)).astype(np.uint8)
    save_bytes(png_bytes(idx, 3, 8, palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255]]),
               "p_short_palette_30x20.png")
    valid("p_short_palette_30x20.png", "P")
    # --- 16-bit ---
    c = arr(pcrop("chelsea.png", 50, 50, 150, 120)).astype(np.uint16)
    rgb16 = c * 256 + rng.integers(0, 256, c.shape, dtype=np.uint16)
    save_bytes(png_bytes(rgb16, 2, 16), "rgb16_chelsea_150x120.png")
    valid("rgb16_chelsea_150x120.png", "RGB")
    g = arr(pcrop("camera.png", 100, 200, 130, 100)).astype(np.float64)
    g16 = np.clip(g * 1.3 + rng.normal(0, 20, g.shape), 0, 65535).astype(np.uint16)
    save_bytes(png_bytes(g16, 0, 16), "gray16_low_130x100.png")  # values ~0..350
    valid("gray16_low_130x100.png", "I", (224, 336), raw=True)
    g = arr(pcrop("camera.png", 300, 300, 40, 30)).astype(np.uint16)
    save_bytes(png_bytes(g * 257, 0, 16), "gray16_full_40x30.png")
    valid("gray16_full_40x30.png", "I")
    c = arr(pcrop("coffee.png", 100, 100, 90, 80)).astype(np.uint16)
    a = alpha_ramp(90, 80).astype(np.uint16)
    rgba16 = np.dstack([c * 257, a * 256 + rng.integers(0, 256, a.shape, dtype=np.uint16)])
    save_bytes(png_bytes(rgba16, 6, 16), "rgba16_coffee_90x80.png")
    valid("rgba16_coffee_90x80.png", "RGBA")
    g = arr(pcrop("camera.png", 50, 50, 64, 64)).astype(np.uint16)
    la16 = np.dstack([g * 257, alpha_ramp(64, 64).astype(np.uint16) * 257])
    save_bytes(png_bytes(la16, 4, 16), "la16_camera_64x64.png")
    valid("la16_camera_64x64.png", "LA")  # Pillow: RGBA with R=G=B (same bytes)
    # --- low bit depth gray ---
    save_pil(pcrop("camera.png", 0, 0, 100, 80).convert("1"), "gray1_camera_100x80.png")
    valid("gray1_camera_100x80.png", "1")
    g = arr(pcrop("camera.png", 250, 50, 50, 40))
    save_bytes(png_bytes(g >> 6, 0, 2), "gray2_camera_50x40.png")
    valid("gray2_camera_50x40.png", "L")
    g = arr(pcrop("camera.png", 260, 260, 63, 45))
    save_bytes(png_bytes(g >> 4, 0, 4), "gray4_camera_63x45.png")
    valid("gray4_camera_63x45.png", "L")
    # --- tRNS on gray/RGB (ignored, as in Pillow) ---
    c = arr(pcrop("astronaut.png", 300, 300, 80, 60))
    save_bytes(png_bytes(c, 2, 8, trns=struct.pack(">HHH", *[int(v) for v in c[0, 0]])),
               "rgb_trns_80x60.png")
    valid("rgb_trns_80x60.png", "RGB")
    g = arr(pcrop("camera.png", 10, 300, 70, 50))
    save_bytes(png_bytes(g, 0, 8, trns=struct.pack(">H", int(g[0, 0]))), "gray_trns_70x50.png")
    valid("gray_trns_70x50.png", "L")
    # --- interlaced ---
    c = arr(pcrop("chelsea.png", 150, 40, 230, 225))
    save_bytes(png_bytes(c, 2, 8, interlace=True), "rgb_interlaced_230x225.png")
    valid("rgb_interlaced_230x225.png", "RGB")
    p = pcrop("astronaut.png", 20, 300, 77, 53).quantize(colors=200, dither=Image.Dither.NONE)
    save_bytes(png_bytes(arr(p), 3, 8, interlace=True, palette=np.asarray(p.getpalette()[:200 * 3])),
               "p_interlaced_77x53.png")
    valid("p_interlaced_77x53.png", "P")
    g = arr(pcrop("camera.png", 100, 100, 45, 37).convert("1")).astype(np.uint8)
    save_bytes(png_bytes(g, 0, 1, interlace=True), "gray1_interlaced_45x37.png")
    valid("gray1_interlaced_45x37.png", "1")
    c = arr(pcrop("coffee.png", 0, 0, 33, 29)).astype(np.uint16) * 257
    a = (alpha_ramp(33, 29).astype(np.uint16) * 257)
    save_bytes(png_bytes(np.dstack([c, a]), 6, 16, interlace=True), "rgba16_interlaced_33x29.png")
    valid("rgba16_interlaced_33x29.png", "RGBA")
    # --- geometry edge cases ---
    save_pil(pcrop("astronaut.png", 100, 100, 224, 224), "exact_224x224.png")
    valid("exact_224x224.png", "RGB", (224, 336))
    save_pil(pcrop("coffee.png", 100, 50, 225, 224), "odd_225x224.png")
    valid("odd_225x224.png", "RGB")
    save_pil(pcrop("chelsea.png", 0, 0, 224, 227), "odd_224x227.png")
    valid("odd_224x227.png", "RGB")
    save_pil(pcrop("camera.png", 0, 0, 224, 229), "odd_l_224x229.png")
    valid("odd_l_224x229.png", "L")
    save_pil(pcrop("astronaut.png", 0, 200, 500, 3).resize((1000, 3), Image.NEAREST),
             "wide_1000x3.png")
    valid("wide_1000x3.png", "RGB", raw=True)
    save_pil(pcrop("coffee.png", 300, 0, 3, 400).resize((3, 1000), Image.BILINEAR),
             "tall_3x1000.png")
    valid("tall_3x1000.png", "RGB")
    save_pil(pcrop("chelsea.png", 200, 100, 17, 13), "tiny_17x13.png")
    valid("tiny_17x13.png", "RGB", (224, 336), raw=True)
    save_pil(Image.new("RGB", (1, 1), (200, 100, 50)), "one_1x1.png")
    valid("one_1x1.png", "RGB", raw=True)
    save_pil(Image.new("RGBA", (2, 1), (10, 250, 128, 77)), "rgba_2x1.png")
    valid("rgba_2x1.png", "RGBA")
    # --- noise ---
    save_pil(Image.fromarray(rng.integers(0, 256, (61, 97, 3), dtype=np.uint8)),
             "noise_rgb_97x61.png")
    valid("noise_rgb_97x61.png", "RGB")
    save_pil(Image.fromarray(rng.integers(0, 256, (70, 50, 4), dtype=np.uint8), "RGBA"),
             "noise_rgba_50x70.png")
    valid("noise_rgba_50x70.png", "RGBA")
    save_pil(Image.fromarray(rng.integers(0, 256, (300, 260), dtype=np.uint8), "L"),
             "noise_l_260x300.png")
    valid("noise_l_260x300.png", "L")
    # PNG content under a .jpg name (sniffed from bytes)
    save_pil(pcrop("coffee.png", 400, 200, 60, 40), "png_named.jpg", format="PNG")
    valid("png_named.jpg", "RGB")

    # --- JPEG ---
    save_pil(pcrop("rocket.jpg", 100, 60, 420, 300), "jpeg_rocket_420x300.jpg", quality=90)
    valid("jpeg_rocket_420x300.jpg", "RGB", (224, 336), raw=True)
    save_pil(pcrop("coffee.png", 150, 40, 300, 340), "jpeg_progressive_coffee_300x340.jpg",
             quality=85, progressive=True)
    valid("jpeg_progressive_coffee_300x340.jpg", "RGB")
    save_pil(pcrop("camera.png", 100, 150, 300, 240), "jpeg_gray_camera_300x240.jpg",
             quality=88)
    valid("jpeg_gray_camera_300x240.jpg", "L")
    save_pil(pcrop("chelsea.png", 130, 30, 225, 231), "jpeg_444_chelsea_225x231.jpg",
             quality=92, subsampling=0)
    valid("jpeg_444_chelsea_225x231.jpg", "RGB")
    save_pil(pcrop("astronaut.png", 140, 20, 203, 251), "jpeg_422_astronaut_203x251.jpg",
             quality=80, subsampling=1)
    valid("jpeg_422_astronaut_203x251.jpg", "RGB")
    save_pil(pcrop("coffee.png", 260, 120, 120, 100).convert("CMYK"), "jpeg_cmyk_120x100.jpg",
             quality=90)
    valid("jpeg_cmyk_120x100.jpg", "CMYK", raw=True)
    save_pil(pcrop("rocket.jpg", 300, 200, 9, 7), "jpeg_tiny_9x7.jpg", quality=95)
    valid("jpeg_tiny_9x7.jpg", "RGB")
    save_pil(pcrop("rocket.jpg", 0, 100, 640, 150), "jpeg_wide_640x150.jpg", quality=75,
             progressive=True)
    valid("jpeg_wide_640x150.jpg", "RGB")

    # --- the bundled samples (samples/images, copied from scikit-image):
    # larger downscale factors (up to ~2.9x at 224) on full photos ---
    for name, mode in (("astronaut.png", "RGB"), ("chelsea.png", "RGB"), ("coffee.png", "RGB"),
                       ("rocket.jpg", "RGB"), ("camera.png", "L")):
        valid("samples/images/" + name, mode, (224, 336))


# --------------------------------------------------------------------------
# Malformed files
# --------------------------------------------------------------------------
MALFORMED = []


def bad(fname, data, code):
    save_bytes(data, fname)
    MALFORMED.append((fname, code))


def make_malformed():
    png = open(os.path.join(DATA, "rgb_astronaut_256x232.png"), "rb").read()
    jpg = open(os.path.join(DATA, "jpeg_rocket_420x300.jpg"), "rb").read()
    pjpg = open(os.path.join(DATA, "jpeg_progressive_coffee_300x340.jpg"), "rb").read()
    bad("bad_empty.png", b"", "EFORMAT")
    bad("bad_trunc_half.png", png[: len(png) // 2], "EFORMAT")
    bad("bad_trunc_header.png", png[:20], "EFORMAT")
    bad("bad_trunc_sig.png", png[:5], "EFORMAT")
    # Flip a byte inside the first IDAT: its CRC no longer matches.
    i = png.index(b"IDAT") + 100
    bad("bad_crc_idat.png", png[:i] + bytes([png[i] ^ 0x55]) + png[i + 1:], "EFORMAT")
    # IHDR with a corrupted CRC.
    bad("bad_crc_ihdr.png", png[:29] + bytes([png[29] ^ 1]) + png[30:], "EFORMAT")
    # Corrupt deflate data with a valid CRC.
    small = png_bytes(arr(pcrop("camera.png", 0, 0, 40, 30)), 0, 8)
    j = small.index(b"IDAT")
    n = struct.unpack(">I", small[j - 4:j])[0]
    body = bytearray(small[j + 4:j + 4 + n])
    for k in range(2, len(body), 7):
        body[k] ^= 0xA5
    fixed = small[:j - 4] + chunk(b"IDAT", bytes(body)) + small[j + 8 + n:]
    bad("bad_zlib.png", fixed, "EFORMAT")
    # Width 0 in IHDR.
    hdr = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0))
    bad("bad_zero_width.png", hdr + chunk(b"IEND", b""), "EFORMAT")
    # Invalid bit depth / color type combination.
    hdr = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 4, 2, 0, 0, 0))
    bad("bad_depth.png", hdr + chunk(b"IEND", b""), "EFORMAT")
    # 100000 x 100000: must fail on the header, before allocating 30 GB.
    hdr = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2,
                                                           0, 0, 0))
    bad("bad_huge_100000x100000.png",
        hdr + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""), "ELIMIT")
    # Missing IDAT.
    hdr = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
    bad("bad_no_idat.png", hdr + chunk(b"IEND", b""), "EFORMAT")
    # JPEG
    bad("bad_trunc.jpg", jpg[: len(jpg) * 6 // 10], "EFORMAT")
    bad("bad_trunc_progressive.jpg", pjpg[: len(pjpg) // 2], "EFORMAT")
    bad("bad_trunc_header.jpg", jpg[:100], "EFORMAT")
    bad("bad_soi_only.jpg", b"\xff\xd8\xff", "EFORMAT")
    bad("bad_garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(rng.integers(0, 256, 3000, dtype=np.uint8)),
        "EFORMAT")
    bad("bad_text.jpg", b"This is not a JPEG file, just some text.\n" * 3, "EFORMAT")
    bad("sig.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04"
        b"\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
        "EUNSUPPORTED")
    bad("sig.webp", b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07"
        b"\x10\x11\x11\x88\x88\xfe\x07\x00", "EUNSUPPORTED")


# --------------------------------------------------------------------------
# Goldens
# --------------------------------------------------------------------------
def make_goldens():
    lines = ["# file size pillow_mode mg_mode width height resized_w resized_h left top "
             "sha256 raw_png"]
    norm = ["# file size channel y x value (float32, ToTensor + Normalize)"]
    for fname, mode, sizes, raw in VALID:
        # "samples/..." names are relative to the repository root.
        base = ROOT if fname.startswith("samples/") else DATA
        im = Image.open(os.path.join(base, fname))
        im.load()
        for size in sizes:
            crop, (nw, nh, left, top) = clip_crop(im, size)
            data = crop.tobytes()
            assert len(data) == size * size * 3
            sha = hashlib.sha256(data).hexdigest()
            rawname = "-"
            if raw and size == sizes[0]:
                rawname = os.path.splitext(os.path.basename(fname))[0] + "_%d.png" % size
                crop.save(os.path.join(GOLD, rawname), optimize=True)
            lines.append("%s %d %s %s %d %d %d %d %d %d %s %s" % (
                fname, size, im.mode, mode, im.width, im.height, nw, nh, left, top, sha,
                rawname))
            if fname in ("rgb_astronaut_256x232.png", "jpeg_rocket_420x300.jpg",
                         "rgba_chelsea_250x236.png") and size == 224:
                t = clip_normalize(crop)
                for c, y, x in [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 111, 112), (1, 50, 200),
                                (2, 223, 223), (0, 223, 0), (1, 17, 31), (2, 100, 7)]:
                    norm.append("%s %d %d %d %d %.9g" % (fname, size, c, y, x,
                                                         float(t[c, y, x])))
    with open(os.path.join(GOLD, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(GOLD, "normalize.txt"), "w") as f:
        f.write("\n".join(norm) + "\n")
    with open(os.path.join(DATA, "malformed.txt"), "w") as f:
        f.write("# file expected_error\n")
        for fname, code in MALFORMED:
            f.write("%s %s\n" % (fname, code))


def main():
    for d in (DATA, GOLD):
        os.makedirs(d, exist_ok=True)
        for n in os.listdir(d):
            os.remove(os.path.join(d, n))
    make_valid()
    make_malformed()
    make_goldens()
    tot = lambda d: sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    print("images: %d valid, %d malformed, %d bytes; goldens %d bytes" % (
        len(VALID), len(MALFORMED), tot(DATA), tot(GOLD)))


if __name__ == "__main__":
    sys.exit(main())
