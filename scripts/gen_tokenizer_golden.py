#!/usr/bin/python3
"""gen_tokenizer_golden.py - writes tests/golden/tokenizer_golden.jsonl.

Reads tests/data/tokenizer_corpus.txt (format described at its top), adds a
few programmatic strings (empty, whitespace only, long texts of ~5,000
characters, a few small contexts) and tokenizes every string with
scripts/ref_tokenizer.py: OpenAI's SimpleTokenizer with ftfy.fix_text ->
NFC, vocabulary from OpenAI's bpe_simple_vocab_16e6.txt.gz
(../shared/clip-tokenizer/), truncated like clip.tokenize(truncate=True).
Each result is cross-checked against the Hugging Face form
(assets/clip-tokenizer/vocab.json + merges.txt) through the same reference.

Output: one JSON object per line, {"text": ..., "ids": [...]} plus
"context" when it is not 77; raw UTF-8 (ensure_ascii=False: json-c 0.16
mis-decodes some \\u surrogate pairs). Deterministic.

    /usr/bin/python3 scripts/gen_tokenizer_golden.py [--bpe PATH.gz]
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_tokenizer import RefTokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "data", "tokenizer_corpus.txt")
GOLDEN = os.path.join(ROOT, "tests", "golden", "tokenizer_golden.jsonl")
ASSETS = os.path.join(ROOT, "assets", "clip-tokenizer")


def unescape_line(line, where):
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    while i < len(line):
        c = line[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(line):
            raise SystemExit("%s: trailing backslash" % where)
        e = line[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(e)
        if width is None:
            raise SystemExit("%s: unknown escape \\%s" % (where, e))
        out.append(chr(int(line[i + 2:i + 2 + width], 16)))
        i += 2 + width
    return "".join(out)


def read_corpus(path):
    texts = []
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f.read().split("\n"), 1):
            if not line or line.startswith("#"):
                continue
            texts.append(unescape_line(line, "%s:%d" % (path, no)))
    return texts


def programmatic():
    """Strings that are awkward to write in the corpus file."""
    r = random.Random(20240601)
    words = ("the a photo of cat dog tree house sky blue red green running "
             "quickly über naïve café 東京 москва 123 4,567 it's we'll &amp; "
             "&lt;tag&gt; ΟΔΟΣ İstanbul 👍🏽 🇯🇵 ... !? (x) https://ex.com").split(" ")
    long_words = " ".join(r.choice(words) for _ in range(2000))
    assert len(long_words) > 5000
    long_words = long_words[:5000]
    para = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
            "eiusmod tempor incididunt ut labore et dolore magna aliqua. ")
    return [
        ("", 77), (" ", 77), ("\t\n \u3000\u00a0", 77), ("&nbsp;", 77), ("&#32;&#9;", 77),
        (long_words, 77),                                  # ~5,000 characters
        ((para * 40)[:5000], 77),
        ("".join(r.choice("abcdefghij") for _ in range(3000)), 77),  # one 3,000-letter word
        ("x" * 5000, 77),
        ("!" * 4000 + "a" * 1000, 77),
        ("a photo of a cat", 5), ("a photo of a cat", 2), ("a photo of a cat", 1),
        ("a photo of a cat", 7), ("a photo of a cat", 8), ("", 1), ("", 2),
        ("supercalifragilisticexpialidocious", 3),
        (para * 3, 20), (long_words, 200),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bpe", help="bpe_simple_vocab_16e6.txt.gz (default: ../shared)")
    ap.add_argument("--out", default=GOLDEN)
    a = ap.parse_args()
    ref = RefTokenizer(bpe_path=a.bpe)
    hf = RefTokenizer(vocab_json=os.path.join(ASSETS, "vocab.json"),
                      merges_txt=os.path.join(ASSETS, "merges.txt"))
    cases = [(t, 77) for t in read_corpus(CORPUS)] + programmatic()
    lines = []
    for text, ctx in cases:
        assert "\0" not in text, "NUL cannot cross the C API: %r" % text
        ids = ref.tokenize(text, ctx)
        assert ids == hf.tokenize(text, ctx), "vocab forms disagree on %r" % text
        rec = {"text": text}
        if ctx != 77:
            rec["context"] = ctx
        rec["ids"] = ids
        lines.append(json.dumps(rec, ensure_ascii=False))
    data = "\n".join(lines) + "\n"
    assert len(data.encode("utf-8")) < 500_000, "golden file too large"
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(data)
    n_trunc = sum(1 for line in lines if len(json.loads(line)["ids"]) == 77)
    print("wrote %s: %d cases (%d truncated to 77), %d bytes" %
          (a.out, len(lines), n_trunc, len(data.encode("utf-8"))))


if __name__ == "__main__":
    main()
