#!/usr/bin/python3
"""Generates the OCR accuracy corpus: images with known words, and photos
without text, with the ground truth in truth.json.

Categories (the README's OCR table reports recall/precision per category):
  doc        text pages: paragraphs in 4 fonts, 14-30 px, black on white or
             light paper, slight rotation (0 or +-1.5 degrees)
  screen     screenshot-like: coloured bars, buttons and labels, 13-22 px
  sign       real photographs (scikit-image's public-domain / CC0 photos)
             with 1-3 boxes of 1-3 words each, light and dark boxes, 18-64 px,
             rotated by up to +-4 degrees
  notext     the same photographs, cropped and flipped, without text

Deterministic (seeded); uses Debian's python3-pil, python3-skimage and the
DejaVu / Liberation fonts. Usage: gen_ocr_corpus.py OUTDIR [--n N]
"""
import json
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFont, ImageOps

SK = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "motorcycle_left.png",
          "hubble_deep_field.jpg", "coins.png"]
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf"]
WORDS = ("harbor museum market station coffee bakery garden river bridge north south open closed exit entrance "
         "invoice total amount payment customer order number date account balance welcome hotel restaurant "
         "pharmacy library school street avenue platform ticket office parking airport terminal gate delivery "
         "product organic fresh natural premium original quality vintage classic modern summer winter festival "
         "concert theatre cinema gallery center central public private service settings profile search upload "
         "download message report project budget meeting schedule weekly monthly annual results download help "
         "mountain valley island forest lighthouse castle palace tower square garden kitchen window").split()


def fonts():
    return [f for f in FONTS if os.path.exists(f)]


def code(rng):
    return rng.choice(["INV", "REF", "ZX", "KB", "A", "MX"]) + "-" + str(rng.randint(10, 9999))


def word(rng):
    return code(rng) if rng.random() < 0.12 else rng.choice(WORDS)


def photos():
    out = []
    for p in PHOTOS:
        f = os.path.join(SK, p)
        if os.path.exists(f):
            im = Image.open(f).convert("RGB")
            s = 1024 / max(im.size)  # every photo at 1024 px on the long side
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
            out.append((p, im))
    return out


def doc(rng, i, fl):
    W, H = 1100, 1400
    bg = rng.choice([(255, 255, 255), (250, 248, 240), (240, 240, 235)])
    im = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(im)
    words = []
    y = 60
    size = rng.choice([14, 16, 18, 22, 26, 30])
    font = ImageFont.truetype(rng.choice(fl), size)
    while y < H - 80:
        x = 60
        line = []
        while True:
            w = word(rng)
            tw = d.textlength(w + " ", font=font)
            if x + tw > W - 60:
                break
            line.append(w)
            x += tw
        d.text((60, y), " ".join(line), fill=(20, 20, 20), font=font)
        words += line
        y += int(size * 1.6)
        if rng.random() < 0.15:
            y += size
    ang = rng.choice([0, 0, 1.5, -1.5])
    if ang:
        im = im.rotate(ang, resample=Image.BICUBIC, expand=True, fillcolor=bg)
    return im, words


def screen(rng, i, fl):
    W, H = 1280, 800
    im = Image.new("RGB", (W, H), rng.choice([(245, 246, 248), (30, 32, 36), (255, 255, 255)]))
    dark = im.getpixel((0, 0))[0] < 128
    d = ImageDraw.Draw(im)
    words = []
    d.rectangle([0, 0, W, 56], fill=(40, 90, 160))
    f = ImageFont.truetype(rng.choice(fl), 20)
    t = " ".join(word(rng) for _ in range(3))
    d.text((20, 16), t, fill=(255, 255, 255), font=f)
    words += t.split()
    y = 90
    while y < H - 60:
        size = rng.choice([13, 14, 16, 18, 22])
        f = ImageFont.truetype(rng.choice(fl), size)
        n = rng.randint(2, 6)
        t = " ".join(word(rng) for _ in range(n))
        if rng.random() < 0.3:  # a button
            tw = d.textlength(t, font=f)
            d.rounded_rectangle([40, y - 6, 40 + tw + 24, y + size + 8], radius=6, fill=(60, 140, 90))
            d.text((52, y), t, fill=(255, 255, 255), font=f)
        else:
            d.text((40, y), t, fill=(230, 230, 230) if dark else (30, 30, 30), font=f)
        words += t.split()
        y += size + rng.randint(18, 40)
    return im, words


def sign(rng, i, fl, ph):
    name, base = ph[i % len(ph)]
    im = base.copy()
    words = []
    boxes = []
    for _ in range(rng.randint(1, 3)):
        size = rng.choice([18, 22, 28, 36, 48, 64])
        f = ImageFont.truetype(rng.choice(fl), size)
        t = " ".join(word(rng) for _ in range(rng.randint(1, 3))).upper() if rng.random() < 0.5 else \
            " ".join(word(rng) for _ in range(rng.randint(1, 3)))
        tmp = ImageDraw.Draw(im)
        tw = int(tmp.textlength(t, font=f))
        pad = size // 3
        light = rng.random() < 0.5
        box_c = rng.choice([(250, 250, 245), (255, 230, 120), (220, 235, 255)]) if light else \
            rng.choice([(20, 30, 60), (120, 20, 20), (20, 70, 40), (10, 10, 10)])
        txt_c = (15, 15, 15) if light else (250, 250, 250)
        sw, sh = tw + 2 * pad, size + 2 * pad + size // 4
        if sw >= im.width - 10 or sh >= im.height // 3:
            continue
        s = Image.new("RGB", (sw, sh), box_c)
        ImageDraw.Draw(s).text((pad, pad), t, fill=txt_c, font=f)
        ang = rng.uniform(-4, 4)
        mask = Image.new("L", s.size, 255)
        s = s.rotate(ang, resample=Image.BICUBIC, expand=True)
        mask = mask.rotate(ang, resample=Image.BICUBIC, expand=True)
        for _ in range(20):
            x, y = rng.randint(0, im.width - s.width), rng.randint(0, im.height - s.height)
            if all(x + s.width < b[0] or x > b[2] or y + s.height < b[1] or y > b[3] for b in boxes):
                break
        else:
            continue
        im.paste(s, (x, y), mask)
        boxes.append((x, y, x + s.width, y + s.height))
        words += t.split()
    return im, words


def notext(rng, i, ph):
    name, base = ph[i % len(ph)]
    im = base.copy()
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    w, h = im.size
    c = rng.uniform(0.7, 1.0)
    x, y = rng.randint(0, int(w * (1 - c))), rng.randint(0, int(h * (1 - c)))
    return im.crop((x, y, x + int(w * c), y + int(h * c))), []


def main():
    out = sys.argv[1]
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 8
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261203)
    fl = fonts()
    ph = photos()
    truth = []
    for cat in ["doc", "screen", "sign", "notext"]:
        for i in range(n if cat != "sign" else 3 * n):
            if cat == "doc":
                im, words = doc(rng, i, fl)
            elif cat == "screen":
                im, words = screen(rng, i, fl)
            elif cat == "sign":
                im, words = sign(rng, i, fl, ph)
            else:
                im, words = notext(rng, i, ph)
            fn = f"{cat}_{i:03d}.png" if cat != "sign" and cat != "notext" else f"{cat}_{i:03d}.jpg"
            path = os.path.join(out, fn)
            if fn.endswith(".jpg"):
                im.save(path, quality=90)
            else:
                im.save(path)
            truth.append({"file": fn, "category": cat, "words": words})
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print(f"{len(truth)} images in {out}")


if __name__ == "__main__":
    main()
