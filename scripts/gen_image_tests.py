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
  tests/data/images/ (formats) WebP, GIF, BMP, TIFF, HEIC and AVIF files,
                               EXIF-rotated JPEG/WebP/PNG/TIFF files, and
                               malformed files of each format (make_formats);
                               decode.txt: for each, the decoded size, mode
                               and the SHA-256 of Pillow's decode converted to
                               RGB (with ImageOps.exif_transpose when the
                               EXIF orientation is applied), or for HEIC/AVIF
                               (which Pillow cannot read) a reference PNG
                               (ImageMagick's libheif decode, and the source
                               pixels) with a max-difference/PSNR bound;
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

HEIC/AVIF files are written with ImageMagick's `convert` (libheif's x265 and
aom encoders); without a HEIC/AVIF-capable `convert` they are skipped with a
message and their decode.txt lines are left out.

Everything is seeded, so rerunning reproduces the same bytes (given the same
Pillow/zlib/libjpeg/libwebp/ImageMagick versions).
"""
import hashlib
import io
import os
import shutil
import struct
import subprocess
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
    # (sig.gif and sig.webp, the smallest GIF/WebP files, were "unsupported"
    # before those formats were decoded; they are valid 1x1 images now.)
    save_bytes(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04"
               b"\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
               "sig.gif")
    save_bytes(b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07"
               b"\x10\x11\x11\x88\x88\xfe\x07\x00", "sig.webp")


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


# --------------------------------------------------------------------------
# Other formats: WebP, GIF, BMP, TIFF, HEIC, AVIF; EXIF orientation
# --------------------------------------------------------------------------
# decode.txt lines: (file, apply_exif, width, height, mg_mode, check), check
# "sha256:HEX" (the decode converted to RGB) or "ref:PNG:MAXDIFF:MINPSNR".
DECODE = []
frng = np.random.default_rng(20261121)  # separate stream: older files unchanged


def rgb_sha(im):
    return hashlib.sha256(im.convert("RGB").tobytes()).hexdigest()


def expect(fname, mode, exif_too=True, golden=True, sizes=(224,), same_in_both=False):
    """Pillow's decode is the reference: exact mode (no orientation) and,
    when exif_too, ImageOps.exif_transpose of it for the default mode
    (same_in_both: the decode is expected to be the same in both modes)."""
    from PIL import ImageOps
    im = Image.open(os.path.join(DATA, fname))
    im.load()
    DECODE.append((fname, 0, im.width, im.height, mode, "sha256:" + rgb_sha(im)))
    if same_in_both:
        DECODE.append((fname, 1, im.width, im.height, mode, "sha256:" + rgb_sha(im)))
    elif exif_too:
        t = ImageOps.exif_transpose(im)
        DECODE.append((fname, 1, t.width, t.height, mode, "sha256:" + rgb_sha(t)))
    if golden:
        valid(fname, mode, sizes)


def expect_array(fname, mode, rgb, exif=(0, 1)):
    """A reference from the source pixels (H x W x 3 uint8)."""
    h, w = rgb.shape[:2]
    sha = hashlib.sha256(np.ascontiguousarray(rgb, np.uint8).tobytes()).hexdigest()
    for e in exif:
        DECODE.append((fname, e, w, h, mode, "sha256:" + sha))


def exif_bytes(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def gif_patch(data, screen=None, offset=None):
    """Rewrites a GIF's logical screen size and its first frame's offset."""
    b = bytearray(data)
    if screen:
        b[6:10] = struct.pack("<HH", *screen)
    pos = 13
    if b[10] & 0x80:
        pos += 3 << ((b[10] & 7) + 1)
    while b[pos] == 0x21:  # extensions
        pos += 2
        while b[pos]:
            pos += b[pos] + 1
        pos += 1
    assert b[pos] == 0x2C
    if offset:
        b[pos + 1:pos + 5] = struct.pack("<HH", *offset)
    return bytes(b)


def bmp_file(dib, palette=b"", pixels=b"", masks_after=b"", off_bits=None):
    off = 14 + len(dib) + len(masks_after) + len(palette)
    if off_bits is None:
        off_bits = off
    total = off + len(pixels)
    return b"BM" + struct.pack("<IHHI", total, 0, 0, off_bits) + dib + masks_after + palette + pixels


def bmp_info(w, h, bits, comp=0, clr_used=0, size=40, masks=(0, 0, 0, 0)):
    d = struct.pack("<IiiHHIIiiII", size, w, h, 1, bits, comp, 0, 2835, 2835, clr_used, 0)
    if size >= 108:
        d += struct.pack("<IIII", *masks) + b"sRGB" + bytes(36) + bytes(12)
        if size == 124:
            d += struct.pack("<IIII", 4, 0, 0, 0)
    return d


def bmp_rows(rows, bits):
    """Packs rows of samples (list of uint8 arrays / bytes) with 4-byte padding."""
    out = []
    for r in rows:
        if bits < 8:
            per = 8 // bits
            v = np.concatenate([r, np.zeros((-len(r)) % per, np.uint8)]).reshape(-1, per)
            byte = np.zeros(len(v), np.uint8)
            for i in range(per):
                byte |= (v[:, i] << (8 - bits * (i + 1))).astype(np.uint8)
            r = byte.tobytes()
        else:
            r = bytes(r)
        out.append(r + bytes((-len(r)) % 4))
    return b"".join(out)


def rle_encode(idx, bits):
    """BI_RLE8 / BI_RLE4 with encoded runs, absolute runs and an EOL per row."""
    out = bytearray()
    for y in range(idx.shape[0] - 1, -1, -1):  # bottom-up
        row = [int(v) for v in idx[y]]
        i, w = 0, len(row)
        while i < w:
            j = i
            while j < w and row[j] == row[i] and j - i < 255:
                j += 1
            if j - i >= 2 or w - i < 3:
                n = max(1, j - i)
                out += bytes([n, row[i] if bits == 8 else (row[i] << 4) | row[i]])
                i += n
                continue
            k = i  # literal stretch: up to the next pair of equal values
            while k < w and k - i < 255 and not (k + 1 < w and row[k] == row[k + 1]):
                k += 1
            n = k - i
            if n < 3:
                out += bytes([1, row[i] if bits == 8 else row[i] << 4])
                i += 1
                continue
            lit = row[i:k]
            if bits == 8:
                data = bytes(lit)
            else:
                lit2 = lit + [0] * (len(lit) % 2)
                data = bytes((lit2[t] << 4) | lit2[t + 1] for t in range(0, len(lit2), 2))
            out += bytes([0, n]) + data + bytes(len(data) % 2)
            i = k
        out += b"\x00\x00"
    out += b"\x00\x01"
    return bytes(out)


def magick(src_png, dst, *args):
    convert = shutil.which("convert")
    if not convert:
        return False
    r = subprocess.run([convert, src_png] + list(args) + [dst], capture_output=True)
    return r.returncode == 0 and os.path.exists(dst) and os.path.getsize(dst) > 0


def magick_rgb(path, w, h):
    r = subprocess.run(["convert", path, "-depth", "8", "rgb:-"], capture_output=True, check=True)
    return np.frombuffer(r.stdout, np.uint8).reshape(h, w, 3)


def make_formats():
    # --- WebP (Pillow reads with the same libwebp: exact) ---
    save_pil(pcrop("chelsea.png", 100, 40, 200, 150), "webp_lossy_chelsea_200x150.webp", quality=80)
    expect("webp_lossy_chelsea_200x150.webp", "RGB")
    save_pil(pcrop("coffee.png", 200, 100, 120, 90), "webp_lossless_coffee_120x90.webp", lossless=True)
    expect("webp_lossless_coffee_120x90.webp", "RGB")
    c = arr(pcrop("astronaut.png", 150, 50, 100, 80))
    save_pil(Image.fromarray(np.dstack([c, alpha_ramp(100, 80)]), "RGBA"),
             "webp_alpha_lossless_astronaut_100x80.webp", lossless=True, exact=True)
    expect("webp_alpha_lossless_astronaut_100x80.webp", "RGBA")
    c = arr(pcrop("chelsea.png", 200, 60, 90, 70))
    save_pil(Image.fromarray(np.dstack([c, alpha_ramp(90, 70)]), "RGBA"),
             "webp_alpha_lossy_chelsea_90x70.webp", quality=75)
    expect("webp_alpha_lossy_chelsea_90x70.webp", "RGBA")
    frames = [pcrop("coffee.png", 50 + 30 * k, 50, 64, 48) for k in range(3)]
    frames[0].save(os.path.join(DATA, "webp_anim_3f_64x48.webp"), save_all=True,
                   append_images=frames[1:], duration=100, loop=0, quality=80)
    expect("webp_anim_3f_64x48.webp", "RGB")
    save_pil(pcrop("astronaut.png", 100, 20, 80, 60), "webp_exif6_80x60.webp", quality=85,
             exif=exif_bytes(6))
    expect("webp_exif6_80x60.webp", "RGB")
    # Larger than 2 x 224: WebP still decodes at full size in the fast mode.
    save_pil(photo("rocket.jpg").resize((700, 520), Image.BICUBIC), "webp_large_rocket_700x520.webp",
             quality=40)
    expect("webp_large_rocket_700x520.webp", "RGB", exif_too=False)

    # --- GIF (first frame, mode P) ---
    save_pil(pcrop("chelsea.png", 150, 60, 120, 90).quantize(colors=200, dither=Image.Dither.NONE),
             "gif_chelsea_120x90.gif")
    expect("gif_chelsea_120x90.gif", "P", exif_too=False)
    frames = [pcrop("astronaut.png", 100 + 40 * k, 80, 60, 40).quantize(colors=64) for k in range(3)]
    frames[0].save(os.path.join(DATA, "gif_anim_3f_60x40.gif"), save_all=True,
                   append_images=frames[1:], duration=80, loop=0)
    expect("gif_anim_3f_60x40.gif", "P", exif_too=False)
    p = pcrop("coffee.png", 300, 150, 70, 50).quantize(colors=32, dither=Image.Dither.NONE)
    p.save(os.path.join(DATA, "gif_trans_interlaced_70x50.gif"), transparency=5, interlace=True)
    expect("gif_trans_interlaced_70x50.gif", "P", exif_too=False)
    small = io.BytesIO()
    pcrop("chelsea.png", 200, 200, 20, 12).quantize(colors=16).save(small, "GIF", interlace=False)
    save_bytes(gif_patch(small.getvalue(), screen=(40, 30), offset=(5, 7)), "gif_offset_frame_40x30.gif")
    expect("gif_offset_frame_40x30.gif", "P", exif_too=False)
    save_bytes(gif_patch(small.getvalue(), screen=(10, 8)), "gif_frame_beyond_screen_20x12.gif")
    expect("gif_frame_beyond_screen_20x12.gif", "P", exif_too=False, golden=False)
    expect("sig.gif", "P", exif_too=False, golden=False)
    expect("sig.webp", "RGBA", exif_too=False, golden=False)

    # --- BMP: what Pillow writes, and hand-made variants ---
    save_pil(pcrop("chelsea.png", 120, 50, 101, 77), "bmp_rgb24_chelsea_101x77.bmp")
    expect("bmp_rgb24_chelsea_101x77.bmp", "RGB", exif_too=False)
    save_pil(pcrop("coffee.png", 100, 80, 90, 70).quantize(colors=100, dither=Image.Dither.NONE),
             "bmp_p8_coffee_90x70.bmp")
    expect("bmp_p8_coffee_90x70.bmp", "P", exif_too=False)
    save_pil(pcrop("camera.png", 60, 60, 80, 60), "bmp_l8_camera_80x60.bmp")
    expect("bmp_l8_camera_80x60.bmp", "L", exif_too=False)
    save_pil(pcrop("camera.png", 100, 100, 67, 50).convert("1"), "bmp_1bit_camera_67x50.bmp")
    expect("bmp_1bit_camera_67x50.bmp", "1", exif_too=False)
    # 4-bit palette, RLE8, RLE4 (bottom-up), OS/2 core header, top-down 24-bit,
    # 16-bit 555 and 565, 32-bit BGRX and BGRA (V5, alpha mask).
    q = pcrop("astronaut.png", 200, 200, 45, 33).quantize(colors=16, dither=Image.Dither.NONE)
    idx = arr(q).astype(np.uint8)
    pal = np.asarray(q.getpalette()[:48], np.uint8).reshape(16, 3)
    bgrx = b"".join(bytes([b, g, r, 0]) for r, g, b in pal)
    rows = [idx[y] for y in range(idx.shape[0] - 1, -1, -1)]
    save_bytes(bmp_file(bmp_info(45, 33, 4, clr_used=16), bgrx, bmp_rows(rows, 4)), "bmp_p4_astronaut_45x33.bmp")
    expect("bmp_p4_astronaut_45x33.bmp", "P", exif_too=False)
    q = pcrop("coffee.png", 250, 200, 64, 40).quantize(colors=12, dither=Image.Dither.NONE)
    idx = arr(q).astype(np.uint8)
    idx[5:9, 10:40] = 3  # long runs
    pal = np.asarray(q.getpalette()[:36], np.uint8).reshape(12, 3)
    bgrx = b"".join(bytes([b, g, r, 0]) for r, g, b in pal)
    save_bytes(bmp_file(bmp_info(64, 40, 8, comp=1, clr_used=12), bgrx, rle_encode(idx, 8)),
               "bmp_rle8_coffee_64x40.bmp")
    expect_array("bmp_rle8_coffee_64x40.bmp", "P", pal[idx], exif=(0,))
    save_bytes(bmp_file(bmp_info(64, 40, 4, comp=2, clr_used=12), bgrx, rle_encode(idx, 4)),
               "bmp_rle4_coffee_64x40.bmp")
    expect_array("bmp_rle4_coffee_64x40.bmp", "P", pal[idx], exif=(0,))
    q = pcrop("chelsea.png", 50, 50, 30, 20).quantize(colors=200, dither=Image.Dither.NONE)
    idx = arr(q).astype(np.uint8)
    pal = np.asarray(q.getpalette()[:600], np.uint8).reshape(200, 3)
    core = struct.pack("<IHHHH", 12, 30, 20, 1, 8)
    bgr = b"".join(bytes([b, g, r]) for r, g, b in pal) + bytes(3 * 56)  # 256 entries
    rows = [idx[y] for y in range(19, -1, -1)]
    save_bytes(bmp_file(core, bgr, bmp_rows(rows, 8)), "bmp_os2_core_30x20.bmp")
    expect("bmp_os2_core_30x20.bmp", "P", exif_too=False)
    c = arr(pcrop("astronaut.png", 300, 100, 37, 29))
    rows = [c[y][:, ::-1].reshape(-1) for y in range(29)]  # top-down, BGR
    save_bytes(bmp_file(bmp_info(37, -29, 24), b"", bmp_rows(rows, 24)), "bmp_topdown_37x29.bmp")
    expect("bmp_topdown_37x29.bmp", "RGB", exif_too=False)
    c = arr(pcrop("coffee.png", 100, 300, 41, 27)).astype(np.uint16)
    v555 = ((c[..., 0] >> 3) << 10) | ((c[..., 1] >> 3) << 5) | (c[..., 2] >> 3)
    rows = [v555[y].astype("<u2").tobytes() for y in range(26, -1, -1)]
    save_bytes(bmp_file(bmp_info(41, 27, 16), b"", bmp_rows(rows, 16)), "bmp_rgb555_41x27.bmp")
    exp = np.dstack([(v555 >> 10) & 31, (v555 >> 5) & 31, v555 & 31]) * 255 // 31
    expect_array("bmp_rgb555_41x27.bmp", "RGB", exp.astype(np.uint8), exif=(0,))
    v565 = ((c[..., 0] >> 3) << 11) | ((c[..., 1] >> 2) << 5) | (c[..., 2] >> 3)
    rows = [v565[y].astype("<u2").tobytes() for y in range(26, -1, -1)]
    save_bytes(bmp_file(bmp_info(41, 27, 16, comp=3), b"", bmp_rows(rows, 16),
                        masks_after=struct.pack("<III", 0xF800, 0x07E0, 0x001F)), "bmp_rgb565_41x27.bmp")
    exp = np.dstack([((v565 >> 11) & 31) * 255 // 31, ((v565 >> 5) & 63) * 255 // 63,
                     (v565 & 31) * 255 // 31])
    expect_array("bmp_rgb565_41x27.bmp", "RGB", exp.astype(np.uint8), exif=(0,))
    c = arr(pcrop("chelsea.png", 250, 120, 33, 21))
    a = alpha_ramp(33, 21)
    rows = [np.dstack([c[..., 2], c[..., 1], c[..., 0], a])[y].reshape(-1) for y in range(20, -1, -1)]
    save_bytes(bmp_file(bmp_info(33, 21, 32), b"", bmp_rows(rows, 32)), "bmp_bgrx32_33x21.bmp")
    expect("bmp_bgrx32_33x21.bmp", "RGB", exif_too=False)
    save_bytes(bmp_file(bmp_info(33, 21, 32, comp=3, size=124,
                                 masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)), b"", bmp_rows(rows, 32)),
               "bmp_v5_bgra32_33x21.bmp")
    expect("bmp_v5_bgra32_33x21.bmp", "RGBA", exif_too=False)

    # --- TIFF ---
    save_pil(pcrop("chelsea.png", 140, 40, 90, 70), "tif_rgb_lzw_chelsea_90x70.tif", compression="tiff_lzw")
    expect("tif_rgb_lzw_chelsea_90x70.tif", "RGB", exif_too=False)
    c = arr(pcrop("coffee.png", 220, 90, 64, 50))
    save_pil(Image.fromarray(np.dstack([c, alpha_ramp(64, 50)]), "RGBA"), "tif_rgba_deflate_64x50.tif",
             compression="tiff_adobe_deflate")
    expect("tif_rgba_deflate_64x50.tif", "RGBA", exif_too=False)
    save_pil(pcrop("astronaut.png", 180, 60, 70, 55).convert("CMYK"), "tif_cmyk_70x55.tif")
    expect("tif_cmyk_70x55.tif", "CMYK", exif_too=False)
    save_pil(pcrop("camera.png", 200, 150, 80, 60), "tif_l_packbits_80x60.tif", compression="packbits")
    expect("tif_l_packbits_80x60.tif", "L", exif_too=False)
    save_pil(pcrop("coffee.png", 320, 60, 60, 45).quantize(colors=40, dither=Image.Dither.NONE),
             "tif_p_60x45.tif")
    expect("tif_p_60x45.tif", "P", exif_too=False)
    g = arr(pcrop("camera.png", 30, 250, 50, 40))
    save_pil(Image.fromarray(np.dstack([g, alpha_ramp(50, 40)]), "LA"), "tif_la_50x40.tif")
    expect("tif_la_50x40.tif", "LA", exif_too=False)
    save_pil(pcrop("camera.png", 300, 20, 77, 51).convert("1"), "tif_1bit_g4_77x51.tif", compression="group4")
    expect("tif_1bit_g4_77x51.tif", "1", exif_too=False)
    save_pil(pcrop("chelsea.png", 60, 100, 48, 36), "tif_jpeg_48x36.tif", compression="jpeg")
    im = Image.open(os.path.join(DATA, "tif_jpeg_48x36.tif"))
    im.load()
    ref = "tif_jpeg_48x36_ref.png"
    im.convert("RGB").save(os.path.join(DATA, ref))  # YCbCr via libtiff's RGBA path: bound
    DECODE.append(("tif_jpeg_48x36.tif", 0, 48, 36, "RGB", "ref:%s:3:40" % ref))
    # 16-bit gray: Pillow's I;16 cannot be resized; mediagrep keeps the high byte (L).
    g16 = (arr(pcrop("camera.png", 120, 200, 40, 30)).astype(np.uint16) * 257
           + frng.integers(0, 256, (30, 40)).astype(np.uint16))
    save_pil(Image.fromarray(g16, "I;16"), "tif_gray16_40x30.tif")
    hb = (g16 >> 8).astype(np.uint8)
    expect_array("tif_gray16_40x30.tif", "L", np.dstack([hb, hb, hb]), exif=(0,))
    # Orientation tag: Pillow applies a TIFF's orientation when loading it
    # (TiffImagePlugin.load_end), so it applies in exact mode too.
    save_pil(pcrop("astronaut.png", 120, 30, 52, 40), "tif_orient6_52x40.tif", tiffinfo={274: 6})
    expect("tif_orient6_52x40.tif", "RGB", same_in_both=True)
    save_pil(pcrop("coffee.png", 120, 30, 31, 22), "tif_orient3_lzw_31x22.tif", tiffinfo={274: 3},
             compression="tiff_lzw")
    expect("tif_orient3_lzw_31x22.tif", "RGB", same_in_both=True, golden=False)
    # ImageMagick: 16-bit RGB, tiled, planar-separate.
    src = os.path.join(DATA, "_src.png")
    pcrop("coffee.png", 180, 140, 56, 44).save(src)
    if magick(src, os.path.join(DATA, "tif_rgb16_56x44.tif"), "-depth", "16", "-compress", "zip"):
        expect("tif_rgb16_56x44.tif", "RGB", exif_too=False)
    if magick(src, os.path.join(DATA, "tif_tiled_56x44.tif"), "-define", "tiff:tile-geometry=16x16",
              "-compress", "lzw"):
        expect("tif_tiled_56x44.tif", "RGB", exif_too=False)
    if magick(src, os.path.join(DATA, "tif_planar_56x44.tif"), "-interlace", "plane"):
        expect("tif_planar_56x44.tif", "RGB", exif_too=False)
    # Tiled (libtiff's RGBA path) with an orientation tag.
    for o, name in ((3, "BottomRight"), (6, "RightTop")):
        f = "tif_tiled_orient%d_56x44.tif" % o
        if magick(src, os.path.join(DATA, f), "-orient", name, "-define", "tiff:tile-geometry=16x16"):
            expect(f, "RGB", same_in_both=True, golden=False)
    os.remove(src)

    # --- EXIF orientation: JPEG 1-8 (same source), PNG eXIf ---
    base = pcrop("astronaut.png", 160, 40, 48, 32)
    for o in range(1, 9):
        f = "jpeg_exif%d_48x32.jpg" % o
        save_pil(base, f, quality=90, exif=exif_bytes(o))
        expect(f, "RGB", golden=(o == 6))
    save_pil(pcrop("chelsea.png", 80, 80, 30, 20), "png_exif8_30x20.png", exif=exif_bytes(8))
    expect("png_exif8_30x20.png", "RGB", golden=False)

    # --- HEIC / AVIF (ImageMagick via libheif); Pillow cannot read them ---
    srcname = "heif_src_96x64.png"
    srcim = pcrop("chelsea.png", 150, 50, 96, 64)
    srcim.save(os.path.join(DATA, srcname))
    # (ImageMagick 6 writes neither alpha nor irot/imir into HEIF, so those
    # paths of libheif are not covered by files here.) ImageMagick converts
    # YCbCr to RGB itself, so its decode differs from libheif's RGB output by
    # rounding (measured max 13, PSNR 49 dB); the source bound is the real
    # accuracy check.
    made = 0
    for f, w, h in (("heic_chelsea_96x64.heic", 96, 64), ("avif_chelsea_96x64.avif", 96, 64)):
        path = os.path.join(DATA, f)
        if not magick(os.path.join(DATA, srcname), path, "-quality", "80"):
            print("SKIP: %s (no HEIC/AVIF-capable ImageMagick convert)" % f)
            continue
        made += 1
        ref = f.rsplit(".", 1)[0] + "_magick.png"
        Image.fromarray(magick_rgb(path, w, h)).save(os.path.join(DATA, ref))
        for e in (0, 1):
            DECODE.append((f, e, w, h, "RGB", "ref:%s:20:40" % ref))
        DECODE.append((f, 0, w, h, "RGB", "ref:%s:255:30" % srcname))
    if not made:
        os.remove(os.path.join(DATA, srcname))

    # --- malformed files of each format ---
    def rd(f):
        return open(os.path.join(DATA, f), "rb").read()
    webp = rd("webp_lossy_chelsea_200x150.webp")
    bad("bad_trunc.webp", webp[: len(webp) // 2], "EFORMAT")
    bad("bad_header_only.webp", webp[:20], "EFORMAT")
    w2 = bytearray(webp)
    for k in range(40, len(w2), 3):
        w2[k] ^= 0x5A
    bad("bad_bitstream.webp", bytes(w2), "EFORMAT")
    # A lossless header claiming 16384x16384 (268 Mpx): refused from the header.
    ll = bytearray(rd("webp_lossless_coffee_120x90.webp"))
    k = ll.index(b"VP8L") + 8
    assert ll[k] == 0x2F
    bits = struct.unpack("<I", ll[k + 1:k + 5])[0]
    bits = (bits & ~((1 << 28) - 1)) | 16383 | (16383 << 14)
    ll[k + 1:k + 5] = struct.pack("<I", bits)
    bad("bad_huge_16384x16384.webp", bytes(ll), "ELIMIT")
    gif = rd("gif_chelsea_120x90.gif")
    bad("bad_trunc.gif", gif[: len(gif) // 2], "EFORMAT")
    bad("bad_no_image.gif", gif[:13 + (3 << ((gif[10] & 7) + 1))] + b";", "EFORMAT")
    bad("bad_huge_screen.gif", gif_patch(gif, screen=(65535, 65535)), "ELIMIT")
    bad("bad_trunc_header.gif", gif[:9], "EFORMAT")
    bmp = rd("bmp_rgb24_chelsea_101x77.bmp")
    bad("bad_trunc.bmp", bmp[: len(bmp) * 2 // 3], "EFORMAT")
    bad("bad_trunc_header.bmp", bmp[:30], "EFORMAT")
    bad("bad_huge_100000x100000.bmp", bmp_file(bmp_info(100000, 100000, 24), b"", bytes(64)), "ELIMIT")
    bad("bad_depth7.bmp", bmp_file(bmp_info(10, 10, 7), b"", bytes(200)), "EFORMAT")
    bad("bad_palette_size.bmp", bmp_file(bmp_info(10, 10, 8, clr_used=100000), bytes(4096), bytes(200)),
        "EFORMAT")
    bad("bad_embedded_jpeg.bmp", bmp_file(bmp_info(10, 10, 0, comp=4), b"", bytes(200)), "EUNSUPPORTED")
    bad("bad_zero_width.bmp", bmp_file(bmp_info(0, 10, 24), b"", bytes(200)), "EFORMAT")
    r = rle_encode(np.zeros((40, 64), np.uint8), 8)
    bad("bad_trunc_rle8.bmp", bmp_file(bmp_info(64, 40, 8, comp=1, clr_used=2), bytes(8), r[:20]),
        "EFORMAT")
    tif = rd("tif_rgb_lzw_chelsea_90x70.tif")
    bad("bad_trunc.tif", tif[: len(tif) // 2], "EFORMAT")
    bad("bad_trunc_header.tif", tif[:6], "EFORMAT")
    bad("bad_ifd_offset.tif", tif[:4] + struct.pack("<I", 0x7FFFFFF0) + tif[8:], "EFORMAT")
    t = io.BytesIO()
    Image.new("L", (4, 4)).save(t, "TIFF")
    tb = t.getvalue()
    # Patch ImageWidth/ImageLength (tags 256/257) to 100000 x 100000.
    ifd = struct.unpack("<I", tb[4:8])[0]
    n = struct.unpack("<H", tb[ifd:ifd + 2])[0]
    tb = bytearray(tb)
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ = struct.unpack("<HH", tb[e:e + 4])
        if tag in (256, 257):
            if typ == 3:
                tb[e + 8:e + 12] = struct.pack("<HH", 60000, 0)
            else:
                tb[e + 8:e + 12] = struct.pack("<I", 60000)
    bad("bad_huge_60000x60000.tif", bytes(tb), "ELIMIT")
    if os.path.exists(os.path.join(DATA, "heic_chelsea_96x64.heic")):
        h = rd("heic_chelsea_96x64.heic")
        bad("bad_trunc.heic", h[: len(h) // 2], "EFORMAT")
        bad("bad_ftyp_only.heic", h[:h.index(b"meta") - 4 if b"meta" in h else 24], "EFORMAT")
        a = rd("avif_chelsea_96x64.avif")
        bad("bad_trunc.avif", a[: len(a) * 2 // 3], "EFORMAT")
    bad("bad_empty.webp", b"", "EFORMAT")
    bad("bad_text.webp", b"not a webp image, only text\n" * 4, "EFORMAT")
    # A JPEG named .png decodes (kind sniffed from bytes): see decode.txt.
    shutil.copy(os.path.join(DATA, "jpeg_tiny_9x7.jpg"), os.path.join(DATA, "jpeg_named.png"))
    expect("jpeg_named.png", "RGB", exif_too=False, golden=False)


def write_decode_manifest():
    with open(os.path.join(DATA, "decode.txt"), "w") as f:
        f.write("# file apply_exif width height mode check (sha256:HEX of the RGB decode, or\n"
                "# ref:PNG:MAXDIFF:MINPSNR against a reference PNG in this directory)\n")
        for row in DECODE:
            f.write("%s %d %d %d %s %s\n" % row)


def main():
    for d in (DATA, GOLD):
        os.makedirs(d, exist_ok=True)
        for n in os.listdir(d):
            os.remove(os.path.join(d, n))
    make_valid()
    make_malformed()
    make_formats()
    make_goldens()
    write_decode_manifest()
    tot = lambda d: sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    print("images: %d valid, %d malformed, %d bytes; goldens %d bytes" % (
        len(VALID), len(MALFORMED), tot(DATA), tot(GOLD)))


if __name__ == "__main__":
    sys.exit(main())
