#!/usr/bin/python3
"""End-to-end test of the web page of `mediagrep serve` in headless Chromium.

    /usr/bin/python3 tests/e2e_web.py BUILD_DIR [SCREENSHOT.png]

Makes a small collection with the ffmpeg CLI (PNG and JPEG photos, one H.264
video whose middle segment differs from the rest), indexes it with
BUILD_DIR/mediagrep and the tiny random-weight test model
(BUILD_DIR/test-models/tiny-p32, made by ctest's test_models fixture),
starts `mediagrep serve --port 0` on it and drives the page through
Selenium's Chrome driver:

  1. load /, wait for the status line (file counts);
  2. tick "all" (the model has random weights, so the relevance cutoff may
     drop everything), type a query, submit: result tiles appear and their
     thumbnails load (naturalWidth > 0);
  3. upload one of the indexed photos through the file input: the photo
     itself is the first tile, with score ~1;
  4. pick "videos" and upload a frame of the video's middle segment: the
     video tile shows its moment; clicking it plays the file from the
     moment's start (src ends with #t=START, currentTime >= START).

Saves a screenshot (argument 2, $MG_E2E_SCREENSHOT, or BUILD_DIR/e2e-web.png).
Exit 0 on success; prints SKIP and exits 0 when chromium, chromedriver,
selenium or ffmpeg is missing; non-zero on failure.
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

    tmp = tempfile.mkdtemp(prefix="mg-e2e-web-")
    server = driver = None
    try:
        media = os.path.join(tmp, "media")
        os.mkdir(media)
        video = make_media(media)
        frame = os.path.join(tmp, "frame-3s.png")  # an upload that is not in the store
        run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", "3", "-i", video, "-frames:v", "1", frame])
        store = os.path.join(tmp, "store")
        run([exe, "index", media, "--store", store, "--model", model, "--quiet"])

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
        if not status.startswith("6 files"):
            fail("status line: %r (expected 6 files)" % status)

        # 2. text search
        allbox = driver.find_element(By.ID, "all")
        if not allbox.is_selected():
            allbox.click()
        q = driver.find_element(By.ID, "q")
        q.clear()
        q.send_keys("a dog catching a frisbee")
        driver.find_element(By.CSS_SELECTOR, "#search button[type=submit]").click()
        cards = results_done("text search")
        if len(cards) != 6:
            fail("text search with cutoff off: %d tiles, expected all 6 files" % len(cards))
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
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        driver.save_screenshot(shot)
        print("screenshot: " + shot)
        print("PASS")
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
