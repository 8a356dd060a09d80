#!/usr/bin/python3
"""OCR accuracy and speed on the generated corpus (scripts/gen_ocr_corpus.py):
mediagrep's OCR (`mediagrep ocr --json`, page + region passes) against the
`tesseract` command (whole page, default settings) on the same images in the
same run. Word recall and precision per category (lowercased, surrounding
punctuation stripped, multiset match), stored tokens on text-free photos,
and time per image.

usage: bench/ocr_eval.py CORPUS_DIR [--mediagrep BIN] [--no-peer] [--json OUT]
"""
import collections
import json
import os
import re
import subprocess
import sys
import time


def norm(t):
    t = t.lower().strip(".,;:!?\"'()[]{}“”‘’«»|")
    return t


def tokens(text):
    return [w for w in (norm(x) for x in text.split()) if w and re.search(r"[a-z0-9]", w)]


def score(truth, pred):
    tc, pc = collections.Counter(truth), collections.Counter(pred)
    hit = sum(min(tc[w], pc[w]) for w in tc)
    return hit, sum(tc.values()), sum(pc.values())


def main():
    d = sys.argv[1]
    binp = sys.argv[sys.argv.index("--mediagrep") + 1] if "--mediagrep" in sys.argv else "build/mediagrep"
    peer = "--no-peer" not in sys.argv
    truth = json.load(open(os.path.join(d, "truth.json")))
    files = [os.path.join(d, t["file"]) for t in truth]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    t0 = time.time()
    out = subprocess.run([binp, "ocr", "--json"] + files, capture_output=True, text=True, env=env).stdout
    ours_s = time.time() - t0
    ours = {}
    for line in out.splitlines():
        o = json.loads(line)
        ours[o["input"]] = o
    peer_text, peer_s = {}, 0.0
    if peer:
        for f in files:
            t = time.time()
            r = subprocess.run(["tesseract", f, "-"], capture_output=True, text=True, env=env)
            peer_s += time.time() - t
            peer_text[f] = r.stdout
    cats = collections.OrderedDict()
    for t, f in zip(truth, files):
        c = cats.setdefault(t["category"], {"n": 0, "ours": [0, 0, 0], "peer": [0, 0, 0], "ms": 0.0})
        c["n"] += 1
        gt = tokens(" ".join(t["words"]))
        o = ours.get(f, {})
        h, n_t, n_p = score(gt, tokens(o.get("text", "")))
        c["ours"] = [c["ours"][0] + h, c["ours"][1] + n_t, c["ours"][2] + n_p]
        c["ms"] += o.get("page_ms", 0) + o.get("region_ms", 0)
        if peer:
            h, n_t, n_p = score(gt, tokens(peer_text[f]))
            c["peer"] = [c["peer"][0] + h, c["peer"][1] + n_t, c["peer"][2] + n_p]
    rows = []
    print(f"{'category':9} {'images':>6} | {'recall':>7} {'precision':>9} {'tokens':>6} {'ms/img':>7} | "
          f"{'tesseract recall':>16} {'precision':>9} {'tokens':>6}")
    for k, c in cats.items():
        def rp(v):
            return (v[0] / v[1] if v[1] else float("nan"), v[0] / v[2] if v[2] else float("nan"), v[2])
        r, p, n = rp(c["ours"])
        pr, pp, pn = rp(c["peer"]) if peer else (float("nan"),) * 3
        print(f"{k:9} {c['n']:6} | {r:7.3f} {p:9.3f} {n:6} {c['ms'] / c['n']:7.0f} | {pr:16.3f} {pp:9.3f} {pn:6}")
        rows.append({"category": k, "images": c["n"], "recall": r, "precision": p, "tokens": n,
                     "ms_per_image": c["ms"] / c["n"], "tesseract_recall": pr, "tesseract_precision": pp,
                     "tesseract_tokens": pn})
    print(f"wall: mediagrep {ours_s:.1f} s (one process), tesseract {peer_s:.1f} s ({len(files)} processes)")
    if "--json" in sys.argv:
        json.dump({"rows": rows, "mediagrep_s": ours_s, "tesseract_s": peer_s},
                  open(sys.argv[sys.argv.index("--json") + 1], "w"), indent=1)


if __name__ == "__main__":
    main()
