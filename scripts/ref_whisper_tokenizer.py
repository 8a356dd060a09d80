#!/usr/bin/python3
"""ref_whisper_tokenizer.py - a pure-Python reference for Whisper's tokenizer
(src/whisper/wtokenizer.c), written from the semantics of tiktoken and of
openai/whisper's tokenizer.py: the GPT-2 pre-tokenizer pattern (with the
`regex` module's Unicode classes), rank-based byte pair merging (ranks from a
.tiktoken file, token id == rank), the special tokens laid out from the
vocabulary size, non_speech_tokens, and decoding with
bytes.decode("utf-8", errors="replace").

Needs /usr/bin/python3 with the `regex` module (no tiktoken).

Usage:
  ref_whisper_tokenizer.py encode RANKS          stdin: JSON lines of strings
                                                 (or {"text": s}); stdout: JSON
                                                 lists of ids, one per line
  ref_whisper_tokenizer.py encode-hex RANKS      stdin: hex of UTF-8 bytes per line
                                                 (decoded with errors="replace")
  ref_whisper_tokenizer.py specials N_VOCAB      JSON: special name -> id
  ref_whisper_tokenizer.py non-speech RANKS N_VOCAB
  ref_whisper_tokenizer.py decode-hex            stdin: hex per line; stdout: JSON
                                                 string of the replace-decoding
  ref_whisper_tokenizer.py classes               the pattern's class of every code
                                                 point, as ranges "lo hi class"
                                                 (class: s, L, N, o)
  ref_whisper_tokenizer.py goldens SHARED OUTDIR writes tests/golden/wtok/*
"""
import base64
import json
import random
import sys

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

LANGS = ("en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th "
         "ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa "
         "si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw "
         "ln ha ba jw su yue").split()


def load_ranks(path):
    ranks = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
    return ranks


def bpe(ranks, piece):
    """tiktoken's byte pair merge: repeatedly merge the adjacent pair whose
    concatenation has the lowest rank (leftmost on ties)."""
    if piece in ranks:
        return [ranks[piece]]
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best, best_i = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best):
                best, best_i = r, i
        if best is None:
            break
        parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return [ranks[p] for p in parts]


def encode(ranks, text):
    ids = []
    for m in PAT.finditer(text):
        ids.extend(bpe(ranks, m.group().encode("utf-8")))
    return ids


def layout(n_vocab):
    """whisper's get_encoding + model.py: the special tokens' ids."""
    num_languages = n_vocab - 51765 - int(n_vocab >= 51865)
    n = 50257 if n_vocab >= 51865 else 50256
    names = ["<|endoftext|>", "<|startoftranscript|>"]
    names += [f"<|{c}|>" for c in LANGS[:num_languages]]
    names += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
              "<|nospeech|>", "<|notimestamps|>"]
    names += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    assert n + len(names) == n_vocab, (n_vocab, n, len(names))
    return {name: n + i for i, name in enumerate(names)}


def non_speech(ranks, n_vocab):
    """tokenizer.py's non_speech_tokens."""
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    misc = set("♩♪♫♬♭♮♯")
    result = {encode(ranks, " -")[0], encode(ranks, " '")[0]}
    for symbol in symbols + list(misc):
        for toks in (encode(ranks, symbol), encode(ranks, " " + symbol)):
            if len(toks) == 1 or symbol in misc:
                result.add(toks[0])
    return sorted(result)


def decode(ranks_inv, specials_inv, ids):
    """tiktoken's Encoding.decode: bytes of every id (specials by name), then
    UTF-8 with errors="replace"."""
    out = b"".join(ranks_inv[i] if i in ranks_inv else specials_inv[i].encode() for i in ids)
    return out.decode("utf-8", errors="replace")


def char_class(c):
    s = chr(c)
    if regex.fullmatch(r"\s", s):
        return "s"
    if regex.fullmatch(r"\p{L}", s):
        return "L"
    if regex.fullmatch(r"\p{N}", s):
        return "N"
    return "o"


def classes():
    out, lo, cur = [], 0, char_class(0)
    for c in range(1, 0x110000):
        k = char_class(c) if not (0xD800 <= c <= 0xDFFF) else "o"
        if k != cur:
            out.append(f"{lo:x} {c - 1:x} {cur}")
            lo, cur = c, k
    out.append(f"{lo:x} 10ffff {cur}")
    return out


CORPUS = [
    "", " ", "  ", "\n", "\n\n", "\t", " \t \n", "a", "Hello world", "Hello, world!",
    " And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    "I'm here. You're sure? We've won, they'll go, he'd say, it's John's 'quote'",
    "I'M SHOUTING, DON'T", "''s ''t 'S 'RE", "rock'n'roll '", "x's'",
    "Numbers: 1 12 123 1234 12345 3.14159 -42 1,000,000 ½ ² Ⅻ ٣٤٥ ١٢",
    "multiple   spaces    here", "trailing spaces   ", "   leading", "tabs\tand\t\ttabs",
    "lines\nand\n\nmore\r\nlines\n", "mixed \n\t \u00a0 nbsp\u3000ideographic\u2028sep\u0085nel",
    "\u000b\u000c\u001c\u001d\u001e\u001f\u180e\u200b\u2060 controls",
    "日本語のテキストです。", "中文文本，包括标点符号！", "한국어 텍스트입니다.",
    "Café naïve résumé façade Ångström", "e\u0301 combining a\u0308\u0323",
    "emoji 😀😃 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️", "♪♪♪ ♪ ♩♫♬♭♮♯ (music) [laughs]",
    "العربية نص تجريبي، مع علامات.", "עברית", "Русский текст, ёлка.", "Ελληνικά κείμενο",
    "हिन्दी पाठ", "ภาษาไทย", "Tiếng Việt có dấu", "<|endoftext|> <|en|> not special",
    "!!!??? ... --- ((( ))) <<>> {{}} [[]] @@## $$%% ^^&& **", "a-b_c.d/e\\f|g~h`i",
    "http://example.com/path?q=1&r=2#frag", "user@example.org", "C++ and C# and F#",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 300, "ab" * 257, "lo" + "o" * 1000 + "ng", "🎵" * 40, "中" * 200, "1" * 101,
    " " * 50 + "end", "!" * 77, "\ufffd replacement \ufffd",
    "Ünïcödé ﬁ ligature ﬀ Ǆ ǅ ǆ", "ß ẞ İ ı ς Σ", "\u0345 ypogegrammeni", "\U00010400 deseret",
]


def random_texts(seed, n):
    rng = random.Random(seed)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
                list(" \t\n\r'.,!?-\"()[]♪") + [" "] * 10 + ["'s", "'ll", "'re"] +
                list("éüßñçøåœ日本中文한국語мирعربيשלוםαβγ१२३٣½😀👍\u00a0\u3000\u0301\u200b"))
    out = []
    for _ in range(n):
        k = rng.randint(0, 40)
        out.append("".join(rng.choice(alphabet) for _ in range(k)))
    return out


def invalid_utf8_cases(seed, n):
    fixed = [
        b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc2", b"\xc2\x41", b"\xc2\x80", b"\xdf\xbf",
        b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xe0\xa0", b"\xe0\xa0\x80", b"\xe1\x80", b"\xe1\x80\x41",
        b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf",
        b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf0\x90", b"\xf0\x90\x80", b"\xf0\x90\x80\x80",
        b"\xf0\x90\x80\x41", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
        b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xfe", b"\xff", b"\xff\xfe",
        b"a\xe2\x82", b"\xe2\x82a", b"\xe2\x82\xe2\x82\xac", b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80\x80",
        b"\xc3\xa9\xa9", b"\xe6\x97\xa5\xe6\x9c", b"\x00\xc3", b"\xc3\x00",
    ]
    rng = random.Random(seed)
    for _ in range(n):
        k = rng.randint(1, 12)
        fixed.append(bytes(rng.choice([rng.randint(0, 255), rng.randint(0x80, 0xbf),
                                       rng.choice([0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5]),
                                       rng.randint(0x20, 0x7e)]) for _ in range(k)))
    return fixed


def write_goldens(shared, outdir):
    ml = load_ranks(f"{shared}/multilingual.tiktoken")
    g2 = load_ranks(f"{shared}/gpt2.tiktoken")
    with open(f"{outdir}/encode.jsonl", "w") as f:
        for t in CORPUS:
            f.write(json.dumps({"text": t, "multilingual": encode(ml, t), "gpt2": encode(g2, t)},
                               ensure_ascii=True) + "\n")
    with open(f"{outdir}/decode_invalid.jsonl", "w") as f:
        for b in invalid_utf8_cases(16, 300):
            f.write(json.dumps({"hex": b.hex(), "text": b.decode("utf-8", errors="replace")},
                               ensure_ascii=True) + "\n")
    out = {}
    for n_vocab, ranks in ((51864, g2), (51865, ml), (51866, ml)):
        lay = layout(n_vocab)
        inv_r = {v: k for k, v in ranks.items()}
        inv_s = {v: k for k, v in lay.items()}
        names = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|su|>", "<|translate|>",
                 "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                 "<|notimestamps|>", "<|0.00|>", "<|0.02|>", "<|1.08|>", "<|30.00|>"]
        if n_vocab == 51866:
            names.append("<|yue|>")
        sample = [lay["<|0.00|>"], 2425, lay["<|1.08|>"], lay["<|30.00|>"], 13]
        out[str(n_vocab)] = {
            "specials": {k: lay[k] for k in names},
            "non_speech": non_speech(ranks, n_vocab),
            "timestamps": decode(inv_r, inv_s, list(range(lay["<|0.00|>"], n_vocab))),
            "sample_ids": sample,
            "sample_with_timestamps": decode(inv_r, inv_s, sample),
        }
    with open(f"{outdir}/specials.json", "w") as f:
        json.dump(out, f, ensure_ascii=True, indent=0)
        f.write("\n")


def main():
    cmd = sys.argv[1]
    if cmd in ("encode", "encode-hex"):
        ranks = load_ranks(sys.argv[2])
        for line in sys.stdin:
            line = line.rstrip("\n")
            if cmd == "encode-hex":
                text = bytes.fromhex(line).decode("utf-8", errors="replace")
            else:
                v = json.loads(line)
                text = v["text"] if isinstance(v, dict) else v
            print(json.dumps(encode(ranks, text)))
    elif cmd == "specials":
        print(json.dumps(layout(int(sys.argv[2]))))
    elif cmd == "non-speech":
        print(json.dumps(non_speech(load_ranks(sys.argv[2]), int(sys.argv[3]))))
    elif cmd == "decode-hex":
        for line in sys.stdin:
            print(json.dumps(bytes.fromhex(line.strip()).decode("utf-8", errors="replace")))
    elif cmd == "classes":
        print("\n".join(classes()))
    elif cmd == "goldens":
        write_goldens(sys.argv[2], sys.argv[3])
    elif cmd == "random":
        for t in random_texts(int(sys.argv[2]), int(sys.argv[3])):
            print(json.dumps(t))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
