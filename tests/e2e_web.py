#!/usr/bin/python3
"""End-to-end test of the web page of `mediagrep serve` in headless Chromium.

    /usr/bin/python3 tests/e2e_web.py BUILD_DIR [SCREENSHOT.png]

Makes a small collection with the ffmpeg CLI and PIL (PNG and JPEG photos, one
H.264 video whose middle segment differs from the rest; a photo with a sign
carrying a made-up word, KESTRAVO, drawn at a known place, two text-free
photos, and a video showing a sign with another word, DRAVENTO, from 2 to
4 s only), indexes it with BUILD_DIR/mediagrep --ocr and the tiny
random-weight test model (BUILD_DIR/test-models/tiny-p32, made by ctest's
test_models fixture), starts `mediagrep serve --port 0` on it and drives the
page through Selenium's Chrome driver:

  1. load /, wait for the status line (file counts);
  2. tick "all" (the model has random weights, so the relevance cutoff may
     drop everything), type a query, submit: result tiles appear and their
     thumbnails load (naturalWidth > 0);
  3. upload one of the indexed photos through the file input: the photo
     itself is the first tile, with score ~1;
  4. pick "videos" and upload a frame of the video's middle segment: the
     video tile shows its moment; clicking it plays the file from the
     moment's start (src ends with #t=START, currentTime >= START);
  5. text in a video: search DRAVENTO: the video is the first tile, its
     thumbnail carries a highlight box (.hl) and its snippet a <mark>ed
     DRAVENTO; clicking it plays from when the text is on screen
     (text.start_ms, inside the 2-4 s segment);
  6. text in a photo: "only text in it" gives the sign photo alone, "only
     what it shows" gives every file and no highlight; the default gives the
     sign photo first, its thumbnail in the image's own shape (not cropped),
     a .hl box whose rectangle lies on the drawn word (the drawn box in
     0..1 of the image times the rendered thumbnail's rectangle), no .hl on
     the other tiles, a <mark>KESTRAVO</mark> snippet; clicking it shows the
     photo in the player with the box on the word there too.

The signs are rendered first with `mediagrep ocr` as a check that the OCR
engine reads them; the next of a few renderings (bigger, other backgrounds)
is used when one is not read, and the test fails when none is.
Saves a screenshot (argument 2, $MG_E2E_SCREENSHOT, or BUILD_DIR/e2e-web.png).
Exit 0 on success; prints SKIP and exits 0 when chromium, chromedriver,
selenium, ffmpeg, PIL or Tesseract's English model (tesseract-ocr-eng) is
missing; non-zero on failure.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 60  # generous: a slow, shared 2-core CI machine
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
PHOTO_WORD = "KESTRAVO"  # made-up words: only the OCR text can match them
VIDEO_WORD = "DRAVENTO"
N_FILES = 10  # 8 photos, 2 videos


def skip(why):
    print("SKIP: " + why)
    sys.exit(0)


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        fail("%s exited %d:\n%s" % (" ".join(cmd), r.returncode, r.stdout))
    return r.stdout


def make_media(d):
    ff = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    photos = {
        "bars.png": "smptehdbars=size=320x240",
        "mandel.jpg": "mandelbrot=size=320x240",
        "test.png": "testsrc=size=320x240",
        "gradient.jpg": "gradients=size=320x240:seed=7",
        "cells.png": "cellauto=size=320x240:rule=110",
    }
    for name, src in photos.items():
        run(ff + ["-f", "lavfi", "-i", src, "-frames:v", "1", os.path.join(d, name)])
    # 6 s: testsrc2 (0-2 s), life (2-4 s), rgbtestsrc (4-6 s)
    video = os.path.join(d, "clip.mp4")
    run(ff + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2",
              "-f", "lavfi", "-i", "life=size=320x240:rate=10:mold=10:ratio=0.5:seed=3",
              "-f", "lavfi", "-i", "rgbtestsrc=size=320x240:rate=10:duration=2",
              "-filter_complex", "[1:v]trim=duration=2,setpts=PTS-STARTPTS,format=yuv420p[b];"
              "[0:v]format=yuv420p[a];[2:v]format=yuv420p[c];[a][b][c]concat=n=3:v=1:a=0[v]",
              "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", video])
    return video


def background(name, size):
    """A photo from scikit-image's data folder resized to size; a synthetic
    gradient where scikit-image is not installed."""
    from PIL import Image
    p = os.path.join(SKIMAGE, name)
    if os.path.isfile(p):
        return Image.open(p).convert("RGB").resize(size)
    g = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (g, g.rotate(90).resize(size), Image.new("L", size, 110)))


def render_sign(bg, size, word, font_px, at):
    """bg with a black sign carrying word in white at `at` (top left of the
    text); returns the image and the text's box in 0..1 of the image."""
    from PIL import ImageDraw, ImageFont
    im = background(bg, size)
    dr = ImageDraw.Draw(im)
    font = ImageFont.truetype(FONT, font_px)
    l, t, r, b = dr.textbbox(at, word, font=font)
    pad = max(12, font_px // 3)
    dr.rectangle((l - pad, t - pad, r + pad, b + pad), fill=(0, 0, 0))
    dr.text(at, word, font=font, fill=(255, 255, 255))
    w, h = size
    return im, (l / w, t / h, r / w, b / h), ((l - pad) / w, (t - pad) / h, (r + pad) / w, (b + pad) / h)


def ocr_reads(exe, path, word):
    """What `mediagrep ocr --json` reads in path (a photo, or a video's
    segments), and whether word is one of its words."""
    got = json.loads(run([exe, "ocr", "--json", path]).strip().splitlines()[-1])
    parts = got.get("segments") if got.get("kind") == "video" else [got]
    text = " / ".join(str(p.get("text", "")) for p in parts or [])
    words = [str(w.get("text", "")).upper() for p in parts or [] for w in p.get("words", [])]
    return text, word in words or word in text.upper().replace("/", " ").split()


def sign_video(bg, word, px, at, out, tmp):
    """A 6 s video: bg (0-2 s), bg with the sign (2-4 s), bg again (4-6 s)."""
    im, _, _ = render_sign(bg, (640, 480), word, px, at)
    plain, with_sign = os.path.join(tmp, "v-plain.png"), os.path.join(tmp, "v-sign.png")
    im.save(with_sign)
    background(bg, (640, 480)).save(plain)
    run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-loop", "1", "-framerate", "10", "-t", "2", "-i", plain,
         "-loop", "1", "-framerate", "10", "-t", "2", "-i", with_sign,
         "-loop", "1", "-framerate", "10", "-t", "2", "-i", plain,
         "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]",
         "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out])


def make_text_media(exe, d, tmp):
    """The sign photo, two text-free photos and the video with a timed sign;
    returns the sign photo's text box and sign box (0..1). Each sign is the
    first of a few renderings that the OCR engine reads."""
    seen = []
    for bg, px, at in (("coffee.png", 56, (220, 380)), ("rocket.jpg", 56, (220, 380)),
                       ("rocket.jpg", 72, (120, 80)), ("coffee.png", 72, (120, 380))):
        im, box, plate = render_sign(bg, (800, 600), PHOTO_WORD, px, at)
        photo = os.path.join(d, "sign.jpg")
        im.save(photo, quality=90)
        text, ok = ocr_reads(exe, photo, PHOTO_WORD)
        print("OCR of the %s sign on %s, %d px: %r" % (PHOTO_WORD, bg, px, text))
        seen.append("%s %d px: %r" % (bg, px, text))
        if ok:
            break
    else:
        fail("the OCR engine reads %s in none of the photos: %s" % (PHOTO_WORD, "; ".join(seen)))
    for name in ("chelsea.png", "astronaut.png"):  # no text in them
        background(name, (800, 600)).save(os.path.join(d, name.split(".")[0] + ".jpg"), quality=90)
    seen = []
    for bg, px, at in (("coffee.png", 56, (140, 60)), ("rocket.jpg", 56, (140, 60)),
                       ("coffee.png", 72, (80, 60)), ("rocket.jpg", 72, (80, 60))):
        video = os.path.join(d, "notice.mp4")
        sign_video(bg, VIDEO_WORD, px, at, video, tmp)
        text, ok = ocr_reads(exe, video, VIDEO_WORD)
        print("OCR of the %s video on %s, %d px: %r" % (VIDEO_WORD, bg, px, text))
        seen.append("%s %d px: %r" % (bg, px, text))
        if ok:
            break
    else:
        fail("the OCR engine reads %s in none of the videos: %s" % (VIDEO_WORD, "; ".join(seen)))
    return box, plate


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    shot = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("MG_E2E_SCREENSHOT") or os.path.join(build, "e2e-web.png")
    exe = os.path.join(build, "mediagrep")
    model = os.path.join(build, "test-models", "tiny-p32")
    for p, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(p, os.X_OK):
            skip("%s not installed (%s)" % (what, p))
    if not shutil.which("ffmpeg"):
        skip("no ffmpeg CLI")
    try:
        import PIL.Image  # noqa: F401 (the signs are drawn with PIL)
        import PIL.ImageDraw  # noqa: F401
    except ImportError:
        skip("python3-pil not installed")
    if not os.path.isfile(FONT):
        skip("no %s (fonts-dejavu-core)" % FONT)
    tessdata = os.environ.get("TESSDATA_PREFIX") or "/usr/share/tesseract-ocr/5/tessdata"
    if not os.path.isfile(os.path.join(tessdata, "eng.traineddata")):
        skip("tesseract-ocr-eng not installed (no %s/eng.traineddata)" % tessdata)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait, Select
    except ImportError:
        skip("python3-selenium not installed")
    if not os.access(exe, os.X_OK):
        fail("no %s (build the mediagrep target)" % exe)
    if not os.path.isfile(os.path.join(model, "config.json")):
        fail("no test model at %s (run ctest's test_models fixture)" % model)

    global T0
    T0 = time.time()
    tmp = tempfile.mkdtemp(prefix="mg-e2e-web-")
    server = driver = None
    try:
        media = os.path.join(tmp, "media")
        os.mkdir(media)
        video = make_media(media)
        sign_box, sign_plate = make_text_media(exe, media, tmp)
        frame = os.path.join(tmp, "frame-3s.png")  # an upload that is not in the store
        run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", "3", "-i", video, "-frames:v", "1", frame])
        store = os.path.join(tmp, "store")
        t_index = time.time()
        run([exe, "index", media, "--store", store, "--model", model, "--ocr", "--quiet"])
        print("indexed with --ocr in %.1f s" % (time.time() - t_index))

        server = subprocess.Popen([exe, "serve", "--store", store, "--model", model, "--port", "0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line, t0 = "", time.time()
        while "http://" not in line:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                fail("mediagrep serve exited %d" % server.returncode)
            if time.time() - t0 > WAIT_S:
                fail("mediagrep serve did not print its URL")
        url = line[line.index("http://"):].split()[0].rstrip("/")
        print("server: " + url)

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.set_page_load_timeout(WAIT_S)
        wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.2)
        js = driver.execute_script

        def results_done(prefix):
            """Waits for the message line to leave 'searching...'; returns the tiles."""
            wait.until(lambda d: js("return document.getElementById('msg').textContent")
                       and not js("return document.getElementById('msg').textContent").startswith("searching"))
            msg = js("return document.getElementById('msg').textContent")
            cards = driver.find_elements(By.CSS_SELECTOR, "#grid .card")
            print("%s: %s, %d tiles" % (prefix, msg, len(cards)))
            if not cards:
                fail("%s: no result tiles (message: %r)" % (prefix, msg))
            return cards

        def clear_results():
            js("document.getElementById('grid').textContent=''; document.getElementById('msg').textContent='';")

        # 1. the page and its status line
        driver.get(url + "/")
        wait.until(lambda d: "files" in d.find_element(By.ID, "status").text)
        status = driver.find_element(By.ID, "status").text
        print("status: " + status)
        if not status.startswith("%d files" % N_FILES):
            fail("status line: %r (expected %d files)" % (status, N_FILES))

        # 2. text search
        allbox = driver.find_element(By.ID, "all")
        if not allbox.is_selected():
            allbox.click()
        q = driver.find_element(By.ID, "q")
        q.clear()
        q.send_keys("a dog catching a frisbee")
        driver.find_element(By.CSS_SELECTOR, "#search button[type=submit]").click()
        cards = results_done("text search")
        if len(cards) != N_FILES:
            fail("text search with cutoff off: %d tiles, expected all %d files" % (len(cards), N_FILES))
        # every thumbnail loads (the window is tall enough for lazy loading)
        wait.until(lambda d: js("return [...document.querySelectorAll('#grid .card img')]"
                                ".every(i => i.complete && i.naturalWidth > 0)"))
        widths = js("return [...document.querySelectorAll('#grid .card img')].map(i => i.naturalWidth)")
        print("thumbnail widths: %s" % widths)

        # 3. search by example: upload an indexed photo, it ranks first with score ~1
        q.clear()
        clear_results()
        fin = driver.find_element(By.ID, "file")
        js("arguments[0].hidden = false;", fin)  # the visible control is its label
        fin.send_keys(os.path.join(media, "mandel.jpg"))
        cards = results_done("upload mandel.jpg")
        first = cards[0]
        name = first.find_element(By.CSS_SELECTOR, ".name").text
        score = float(first.find_element(By.CSS_SELECTOR, ".score").text)
        print("first tile: %s %.3f" % (name, score))
        if name != "mandel.jpg" or score < 0.99:
            fail("uploaded photo is not first with score ~1: %s %.3f" % (name, score))
        wait.until(lambda d: js("const i = document.querySelector('#grid .card img');"
                                "return i.complete && i.naturalWidth > 0"))

        # 4. a video moment: upload a frame from the middle segment, videos only
        Select(driver.find_element(By.ID, "kind")).select_by_value("video")
        clear_results()
        fin.send_keys(frame)
        cards = results_done("upload frame of clip.mp4 at 3 s")
        card = cards[0]
        when = card.find_element(By.CSS_SELECTOR, ".when").text
        print("video tile: %s %s" % (card.find_element(By.CSS_SELECTOR, ".name").text, when))
        # the same search through the API, to know the moment's times
        req = urllib.request.Request(url + "/api/search?k=60&kind=video&cutoff=0", data=open(frame, "rb").read(),
                                     headers={"Content-Type": "image/png"}, method="POST")
        hit = json.load(urllib.request.urlopen(req, timeout=WAIT_S))["results"][0]
        print("API: peak %d ms, range %d-%d ms, score %.3f" % (hit["peak_ms"], hit["start_ms"], hit["end_ms"], hit["score"]))
        if not (2000 <= hit["peak_ms"] <= 4000):
            fail("video peak %d ms is not in the 2-4 s segment the frame came from" % hit["peak_ms"])
        card.click()
        start = max(0, hit["start_ms"]) / 1000.0
        wait.until(lambda d: d.find_element(By.ID, "video").is_displayed())
        src = js("return document.getElementById('video').src")
        print("player src: " + src)
        if not src.endswith("/api/media/%d/file#t=%.3f" % (hit["media_id"], start)):
            fail("video src %r does not carry the moment's start %.3f" % (src, start))
        # the browser decodes the H.264 file, seeks to the moment and plays
        wait.until(lambda d: js("const v = document.getElementById('video');"
                                "return v.readyState >= 1 && !v.seeking && v.currentTime >= arguments[0] - 0.05",
                                start))
        ct = js("const v = document.getElementById('video'); v.pause(); return v.currentTime")
        print("player currentTime: %.3f s (moment %.3f-%.3f s)" % (ct, start, hit["end_ms"] / 1000.0))
        if ct < start - 0.05 or ct > start + 6:
            fail("video currentTime %.3f not at the moment (%.3f)" % (ct, start))

        js("arguments[0].hidden = true;", fin)  # as the page shows it

        def search(query, kind="", only=""):
            Select(driver.find_element(By.ID, "kind")).select_by_value(kind)
            Select(driver.find_element(By.ID, "only")).select_by_value(only)
            clear_results()
            q.clear()
            q.send_keys(query)
            driver.find_element(By.CSS_SELECTOR, "#search button[type=submit]").click()
            return results_done("search %r%s%s" % (query, " kind=" + kind if kind else "", " only=" + only if only else ""))

        def api_hit(query, name):
            with urllib.request.urlopen(url + "/api/search?k=60&cutoff=0&q=" + query, timeout=WAIT_S) as r:
                res = json.load(r)
            for h in res["results"]:
                if os.path.basename(h["path"]) == name:
                    return h
            fail("API search %s: no %s among %s" % (query, name, [os.path.basename(h["path"]) for h in res["results"]]))

        def snippet_marks(card, word, where):
            marks = [m.text.strip() for m in card.find_elements(By.CSS_SELECTOR, ".snip mark")]
            snip = card.find_element(By.CSS_SELECTOR, ".snip").text if marks else ""
            print("%s snippet: %r, marked %s" % (where, snip, marks))
            if word not in [m.upper() for m in marks]:
                fail("%s: no <mark>%s</mark> in the snippet (marks %s)" % (where, word, marks))
            # only text and <mark> elements: the OCR text went in as text
            if not js("return [...arguments[0].querySelectorAll('.snip *')].every(e => e.tagName === 'MARK')", card):
                fail("%s: the snippet holds elements other than <mark>" % where)

        def boxes_on(img_sel, scope, where, expect, plate):
            """The .hl rectangles in scope against the rendered image's: one must
            cover most of the drawn text and lie on the sign."""
            g = js("const img = arguments[0].querySelector(arguments[1]);"
                   "const r = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };"
                   "return {img: r(img), nw: img.naturalWidth, nh: img.naturalHeight,"
                   "        hl: [...arguments[0].querySelectorAll('.hl')].map(r)};", scope, img_sel)
            ix0, iy0, ix1, iy1 = g["img"]
            iw, ih = ix1 - ix0, iy1 - iy0
            if iw < 40 or ih < 30:
                fail("%s: the image is rendered %.0fx%.0f px" % (where, iw, ih))
            # the image in its own shape (the boxes are fractions of it)
            if abs((iw / ih) / (g["nw"] / g["nh"]) - 1) > 0.03 or abs((iw / ih) / (800 / 600) - 1) > 0.03:
                fail("%s: image rendered %.1fx%.1f, not in the shape of %dx%d" % (where, iw, ih, g["nw"], g["nh"]))
            ex = [ix0 + expect[0] * iw, iy0 + expect[1] * ih, ix0 + expect[2] * iw, iy0 + expect[3] * ih]
            tol_x, tol_y = 0.04 * iw, 0.05 * ih
            ok = [ix0 + plate[0] * iw - tol_x, iy0 + plate[1] * ih - tol_y,
                  ix0 + plate[2] * iw + tol_x, iy0 + plate[3] * ih + tol_y]
            print("%s: image %s, drawn word at %s, highlights %s" %
                  (where, [round(v, 1) for v in g["img"]], [round(v, 1) for v in ex],
                   [[round(v, 1) for v in b] for b in g["hl"]]))
            if not g["hl"]:
                fail("%s: no .hl element" % where)
            area = (ex[2] - ex[0]) * (ex[3] - ex[1])
            for b in g["hl"]:
                inter = max(0, min(b[2], ex[2]) - max(b[0], ex[0])) * max(0, min(b[3], ex[3]) - max(b[1], ex[1]))
                inside = b[0] >= ok[0] and b[1] >= ok[1] and b[2] <= ok[2] and b[3] <= ok[3]
                if inter >= 0.6 * area and inside:
                    return
            fail("%s: no highlight on the drawn word (expected about %s, on the sign %s)" %
                 (where, [round(v, 1) for v in ex], [round(v, 1) for v in ok]))

        # 5. text in a video: the tile says why, the player starts when the text is on screen
        cards = search(VIDEO_WORD)
        card = cards[0]
        vname = card.find_element(By.CSS_SELECTOR, ".name").text
        if vname != "notice.mp4":
            fail("search %s: first tile %s, expected notice.mp4" % (VIDEO_WORD, vname))
        if not card.find_elements(By.CSS_SELECTOR, ".frame .hl"):
            fail("search %s: no highlight box on the video's thumbnail" % VIDEO_WORD)
        snippet_marks(card, VIDEO_WORD, "video tile")
        vh = api_hit(VIDEO_WORD, "notice.mp4")
        vt = vh.get("text") or fail("API: notice.mp4 has no text part: %s" % vh)
        print("API: text %r on screen %d-%d ms, hit %d-%d ms (peak %d)" %
              (vt["snippet"], vt["start_ms"], vt["end_ms"], vh["start_ms"], vh["end_ms"], vh["peak_ms"]))
        if not (1500 <= vt["start_ms"] <= 4000) or vt["end_ms"] < vt["start_ms"]:
            fail("the text's time %d-%d ms is not the 2-4 s segment with the sign" % (vt["start_ms"], vt["end_ms"]))
        card.click()
        tstart = vt["start_ms"] / 1000.0
        wait.until(lambda d: d.find_element(By.ID, "video").is_displayed())
        src = js("return document.getElementById('video').src")
        print("player src: " + src)
        if not src.endswith("/api/media/%d/file#t=%.3f" % (vh["media_id"], tstart)):
            fail("video src %r does not start at the text's time %.3f" % (src, tstart))
        wait.until(lambda d: js("const v = document.getElementById('video');"
                                "return v.readyState >= 1 && !v.seeking && v.currentTime >= arguments[0] - 0.05",
                                tstart))
        ct = js("const v = document.getElementById('video'); v.pause(); return v.currentTime")
        print("player currentTime: %.3f s (text on screen %.3f-%.3f s)" % (ct, tstart, vt["end_ms"] / 1000.0))
        if ct < tstart - 0.05 or ct > 6.0:
            fail("video currentTime %.3f not at the text (%.3f)" % (ct, tstart))
        snippet_marks(driver.find_element(By.ID, "player"), VIDEO_WORD, "video player")

        # 6. text in a photo: the selector, the tile's box on the word, the player's
        cards = search(PHOTO_WORD, only="text")
        names = [c.find_element(By.CSS_SELECTOR, ".name").text for c in cards]
        if names != ["sign.jpg"]:
            fail("only text in it: tiles %s, expected sign.jpg alone" % names)
        cards = search(PHOTO_WORD, only="visual")
        if len(cards) != N_FILES or driver.find_elements(By.CSS_SELECTOR, "#grid .hl, #grid .snip"):
            fail("only what it shows: %d tiles (expected %d), with highlights or snippets: %d" %
                 (len(cards), N_FILES, len(driver.find_elements(By.CSS_SELECTOR, "#grid .hl, #grid .snip"))))
        cards = search(PHOTO_WORD)
        card = cards[0]
        pname = card.find_element(By.CSS_SELECTOR, ".name").text
        print("first tile: %s (%s)" % (pname, card.find_element(By.CSS_SELECTOR, ".score").get_attribute("title")))
        if pname != "sign.jpg":
            fail("search %s: first tile %s, expected sign.jpg" % (PHOTO_WORD, pname))
        others = js("return [...document.querySelectorAll('#grid .card')].slice(1)"
                    ".filter(c => c.querySelector('.hl')).length")
        if others:
            fail("search %s: %d other tiles carry highlights" % (PHOTO_WORD, others))
        wait.until(lambda d: js("const i = arguments[0].querySelector('.frame img');"
                                "return i.complete && i.naturalWidth > 0", card))
        boxes_on(".frame img", card, "sign.jpg tile", sign_box, sign_plate)
        snippet_marks(card, PHOTO_WORD, "sign.jpg tile")
        card.click()
        wait.until(lambda d: js("const s = document.getElementById('stage'), i = document.getElementById('photo');"
                                "return !s.hidden && s.offsetWidth > 0 && i.complete && i.naturalWidth > 0"))
        if js("return document.getElementById('video').offsetWidth"):
            fail("the video player still shows with a photo")
        wait.until(lambda d: js("const i = document.getElementById('photo');"
                                "const b = i.getBoundingClientRect(); return b.width > 0 &&"
                                "Math.abs(b.width / b.height - i.naturalWidth / i.naturalHeight) < 0.02"))
        time.sleep(0.8)  # the page scrolls up smoothly; the rectangles are compared in one call anyway
        boxes_on("#photo", driver.find_element(By.ID, "stage"), "sign.jpg in the player", sign_box, sign_plate)
        snippet_marks(driver.find_element(By.ID, "player"), PHOTO_WORD, "photo player")
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        driver.save_screenshot(shot)
        print("screenshot: " + shot)
        print("PASS (%.1f s)" % (time.time() - T0))
        return 0
    finally:
        if driver is not None:
            driver.quit()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
