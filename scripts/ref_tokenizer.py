#!/usr/bin/python3
"""ref_tokenizer.py - reference CLIP tokenizer for checking the C tokenizer.

A port of OpenAI's SimpleTokenizer (github.com/openai/CLIP,
clip/simple_tokenizer.py, MIT License, Copyright (c) 2021 OpenAI) plus the
truncation rule of clip.tokenize(..., truncate=True). The one deliberate
change: ftfy.fix_text (not installed here) is replaced by its default
normalization, unicodedata.normalize('NFC', ...); ftfy's other repairs
(mojibake, curly quotes, character width, ...) are out of scope for
mediagrep. Everything else follows the original step by step, including the
`regex` module pattern with re.IGNORECASE and the BPE merge loop.

The vocabulary comes either from OpenAI's bpe_simple_vocab_16e6.txt.gz
(default: ../shared/clip-tokenizer/ beside the checkout) or from a Hugging
Face vocab.json + merges.txt pair (--vocab/--merges), so the C side, which
reads the latter, can be checked against an independent source.

Run it with Debian's Python (the `regex` module is needed):
    /usr/bin/python3 scripts/ref_tokenizer.py "a photo of a cat"
    /usr/bin/python3 scripts/ref_tokenizer.py --context 5 "some text"
    /usr/bin/python3 scripts/ref_tokenizer.py --vocab V.json --merges M.txt TEXT
As a module: RefTokenizer(...).tokenize(text, context_length=77).
"""
import argparse
import gzip
import html
import json
import os
import sys
import unicodedata

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BPE = os.path.join(ROOT, "..", "shared", "clip-tokenizer",
                           "bpe_simple_vocab_16e6.txt.gz")
CLIP_PATTERN = (r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
                r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(ord("\u00a1"), ord("\u00ac") + 1)) +
                 list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(c) for c in codes]))


def symbol_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


def basic_clean(text):
    text = unicodedata.normalize("NFC", text)  # stands in for ftfy.fix_text
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = regex.sub(r"\s+", " ", text)
    return text.strip()


class RefTokenizer:
    """SimpleTokenizer with the vocabulary from either file form."""

    def __init__(self, bpe_path=None, vocab_json=None, merges_txt=None):
        self.byte_encoder = bytes_to_unicode()
        if vocab_json is not None:
            with open(vocab_json, encoding="utf-8") as f:
                self.encoder = json.load(f)
            with open(merges_txt, encoding="utf-8") as f:
                lines = f.read().split("\n")
            if lines and lines[0].startswith("#version"):
                lines = lines[1:]
            while lines and lines[-1].strip() == "":
                lines.pop()
            merges = [tuple(line.split()) for line in lines]
        else:
            lines = gzip.open(bpe_path or DEFAULT_BPE).read().decode("utf-8").split("\n")
            merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
            vocab = list(self.byte_encoder.values())
            vocab = vocab + [v + "</w>" for v in vocab]
            vocab += ["".join(m) for m in merges]
            vocab += ["<|startoftext|>", "<|endoftext|>"]
            self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>",
                      "<|endoftext|>": "<|endoftext|>"}
        self.pat = regex.compile(CLIP_PATTERN, regex.IGNORECASE)
        self.sot = self.encoder["<|startoftext|>"]
        self.eot = self.encoder["<|endoftext|>"]

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = symbol_pairs(word)
        if not pairs:
            return token + "</w>"
        inf = float("inf")
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, inf))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            merged = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    merged.extend(word[i:])
                    break
                merged.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
            if len(word) == 1:
                break
            pairs = symbol_pairs(word)
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text):
        """Token ids of text, without SOT/EOT (SimpleTokenizer.encode)."""
        ids = []
        text = whitespace_clean(basic_clean(text)).lower()
        for token in regex.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def tokenize(self, text, context_length=77):
        """[SOT] + ids + [EOT]; longer than context_length: the first
        context_length ids with the last set to EOT (clip.tokenize with
        truncate=True, without the zero padding)."""
        tokens = [self.sot] + self.encode(text) + [self.eot]
        if len(tokens) > context_length:
            tokens = tokens[:context_length]
            tokens[-1] = self.eot
        return tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("text", nargs="*", help="texts to tokenize (one result line each)")
    ap.add_argument("--bpe", help="bpe_simple_vocab_16e6.txt.gz (default: ../shared)")
    ap.add_argument("--vocab", help="vocab.json (Hugging Face form; needs --merges)")
    ap.add_argument("--merges", help="merges.txt (Hugging Face form)")
    ap.add_argument("--context", type=int, default=77)
    ap.add_argument("--stdin-jsonl", action="store_true",
                    help="read JSON strings, one per line, from stdin")
    a = ap.parse_args()
    if (a.vocab is None) != (a.merges is None):
        ap.error("--vocab and --merges go together")
    tok = RefTokenizer(bpe_path=a.bpe, vocab_json=a.vocab, merges_txt=a.merges)
    texts = list(a.text)
    if a.stdin_jsonl:
        texts += [json.loads(line) for line in sys.stdin.read().split("\n") if line]
    for t in texts:
        print(json.dumps(tok.tokenize(t, a.context)))


if __name__ == "__main__":
    main()
