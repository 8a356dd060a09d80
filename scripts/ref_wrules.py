#!/usr/bin/python3
"""ref_wrules.py - a Python/torch statement of openai/whisper 20240930's
decoding and transcription rules (decoding.py: SuppressBlank,
SuppressTokens, ApplyTimestampRules, greedy choice, log_softmax,
detect_language's softmax, no_speech_prob; transcribe.py: the cutting of a
window's tokens into segments and the seek advance; utils.py:
compression_ratio), written from the reference's semantics, used to make the
goldens under tests/golden/wrules/ that tests/test_wrules.c checks
src/whisper/wrules.c against:

  filters.txt   randomized filter cases: the -inf mask after the filters, the
                argmax, its log-probability, the no-speech probability
  split.txt     ~200 random window token sequences: segments and seek advance
  compress.txt  len(zlib.compress(text.encode())) and the ratio
  lang.txt      language detection probabilities and the chosen language

Logits are made by a hash that tests/test_wrules.c repeats (values k/256,
exact in float32), so no logits are stored. Run with /usr/bin/python3
(torch): /usr/bin/python3 scripts/ref_wrules.py [outdir]
"""
import os
import random
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

M32 = 0xFFFFFFFF


def layout(n_vocab):
    """Special ids of tokenizer.py for the three vocabulary sizes."""
    n_langs = 100 if n_vocab == 51866 else 99
    eot = 50256 if n_vocab == 51864 else 50257
    sp = {"n_vocab": n_vocab, "n_langs": n_langs, "eot": eot, "sot": eot + 1, "lang_begin": eot + 2}
    k = eot + 2 + n_langs
    for name in ("translate", "transcribe", "sot_lm", "sot_prev", "no_speech", "no_timestamps"):
        sp[name] = k
        k += 1
    sp["timestamp_begin"] = k
    assert k + 1501 == n_vocab
    return sp


def hash32(x):
    x &= M32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M32
    return x ^ (x >> 16)


def make_logits(n_vocab, seed, tb, text_q, ts_q):
    """logit[i] = ((h & 4095) - 2048 + 64 * bias_q) / 256, h = hash32(seed *
    2654435761 + i) (exact in float32)."""
    x = (np.uint64(seed * 2654435761 & M32) + np.arange(n_vocab, dtype=np.uint64)) & np.uint64(M32)
    for _ in range(2):
        x = ((x ^ (x >> np.uint64(16))) * np.uint64(0x45D9F3B)) & np.uint64(M32)
    x = x ^ (x >> np.uint64(16))
    q = np.where(np.arange(n_vocab) < tb, text_q, ts_q).astype(np.int64)
    num = (x & np.uint64(4095)).astype(np.int64) - 2048 + 64 * q
    return torch.tensor(num.astype(np.float32)) / 256.0


class Tok:
    def __init__(self, sp):
        self.__dict__.update(sp)

    def encode(self, text):
        assert text == " "
        return [220]


# ---- decoding.py's filters, restated ----------------------------------------

def suppress_blank(logits, tokens, tok, sample_begin):
    if tokens.shape[1] == sample_begin:
        logits[:, tok.encode(" ") + [tok.eot]] = -float("inf")


def suppress_tokens(logits, tokens, ids):
    logits[:, list(ids)] = -float("inf")


def timestamp_rules(logits, tokens, tok, sample_begin, max_initial_timestamp_index):
    inf = float("inf")
    tb = tok.timestamp_begin
    logits[:, tok.no_timestamps] = -inf
    for k in range(tokens.shape[0]):
        sampled = tokens[k, sample_begin:]
        seq = sampled.tolist()
        last_ts = len(seq) >= 1 and seq[-1] >= tb
        penult_ts = len(seq) < 2 or seq[-2] >= tb
        if last_ts:
            if penult_ts:
                logits[k, tb:] = -inf
            else:
                logits[k, : tok.eot] = -inf
        stamps = sampled[sampled.ge(tb)]
        if stamps.numel() > 0:
            if last_ts and not penult_ts:
                last = stamps[-1]
            else:
                last = stamps[-1] + 1
            logits[k, tb:last] = -inf
    if tokens.shape[1] == sample_begin:
        logits[:, :tb] = -inf
        if max_initial_timestamp_index is not None:
            logits[:, tb + max_initial_timestamp_index + 1 :] = -inf
    logprobs = F.log_softmax(logits.float(), dim=-1)
    for k in range(tokens.shape[0]):
        ts_lp = logprobs[k, tb:].logsumexp(dim=-1)
        text_max = logprobs[k, :tb].max()
        if ts_lp > text_max:
            logits[k, :tb] = -inf


def ranges_of(mask):
    out, i, n = [], 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            out += [i, j]
            i = j
        else:
            i += 1
    return out


def random_sampled(rng, tok, n):
    """A plausible or arbitrary sequence of sampled tokens."""
    tb = tok.timestamp_begin
    seq, t = [], rng.randrange(0, 200)
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            t = min(1500, t + rng.randrange(0, 60)) if rng.random() < 0.85 else rng.randrange(0, 1501)
            seq.append(tb + t)
        else:
            seq.append(rng.randrange(0, tok.eot))
    return seq


def gen_filters(rng, out):
    for case in range(240):
        n_vocab = rng.choice([51865] * 4 + [51864, 51866])
        sp = layout(n_vocab)
        tok = Tok(sp)
        tb = sp["timestamp_begin"]
        seed = rng.randrange(1, 1 << 30)
        text_q = rng.choice([0, 0, 4, -4])
        ts_q = rng.choice([-32, -24, -20, -18, -16, -12, -8, 0, 8])
        sample_begin = rng.randrange(1, 7)
        prefix = [rng.randrange(0, n_vocab) for _ in range(sample_begin)]
        n_sampled = 0 if rng.random() < 0.2 else rng.randrange(1, 10)
        tokens = prefix + random_sampled(rng, tok, n_sampled)
        blank = 1 if rng.random() < 0.8 else 0
        without_ts = 1 if rng.random() < 0.1 else 0
        max_idx = rng.choice([50, 50, 50, -1, 0, 7])
        supp = sorted(set(rng.randrange(0, n_vocab) for _ in range(rng.randrange(0, 30))))
        if rng.random() < 0.5:
            supp = sorted(set(supp + [sp["transcribe"], sp["translate"], sp["sot"], sp["sot_prev"],
                                      sp["sot_lm"], sp["no_speech"]]))
        logits = make_logits(n_vocab, seed, tb, text_q, ts_q)
        raw = logits.clone()
        no_speech = raw.float().softmax(dim=-1)[sp["no_speech"]].item()
        lg = logits[None, :]
        tt = torch.tensor([tokens])
        if blank:
            suppress_blank(lg, tt, tok, sample_begin)
        if supp:
            suppress_tokens(lg, tt, supp)
        if not without_ts:
            timestamp_rules(lg, tt, tok, sample_begin, None if max_idx < 0 else max_idx)
        mask = torch.isinf(lg[0]).tolist()
        rg = ranges_of(mask)
        am = lg[0].argmax(dim=-1).item()
        lp = F.log_softmax(lg.float(), dim=-1)[0, am].item()
        fields = ["case", case, n_vocab, seed, text_q, ts_q, sample_begin, blank, without_ts, max_idx,
                  len(tokens)] + tokens + [len(supp)] + supp + [len(rg) // 2] + rg + [am]
        out.write(" ".join(map(str, fields)) + " %s %s\n" % (float(lp).hex(), float(no_speech).hex()))


# ---- transcribe.py's cutting of a window, restated --------------------------

def split_window(tokens_list, tb, seek, segment_size):
    HOP_LENGTH, SAMPLE_RATE, input_stride = 160, 16000, 2
    time_precision = input_stride * HOP_LENGTH / SAMPLE_RATE
    time_offset = float(seek * HOP_LENGTH / SAMPLE_RATE)
    segment_duration = segment_size * HOP_LENGTH / SAMPLE_RATE
    tokens = torch.tensor(tokens_list, dtype=torch.long)
    segs = []
    timestamp_tokens = tokens.ge(tb)
    single_timestamp_ending = timestamp_tokens[-2:].tolist() == [False, True]
    consecutive = torch.where(timestamp_tokens[:-1] & timestamp_tokens[1:])[0]
    consecutive.add_(1)
    if len(consecutive) > 0:
        slices = consecutive.tolist()
        if single_timestamp_ending:
            slices.append(len(tokens))
        last_slice = 0
        for current_slice in slices:
            sliced = tokens[last_slice:current_slice]
            start_pos = sliced[0].item() - tb
            end_pos = sliced[-1].item() - tb
            segs.append((last_slice, current_slice, time_offset + start_pos * time_precision,
                         time_offset + end_pos * time_precision))
            last_slice = current_slice
        if single_timestamp_ending:
            advance = segment_size
        else:
            last_timestamp_pos = tokens[last_slice - 1].item() - tb
            advance = last_timestamp_pos * input_stride
    else:
        duration = segment_duration
        timestamps = tokens[timestamp_tokens.nonzero().flatten()]
        if len(timestamps) > 0 and timestamps[-1].item() != tb:
            duration = (timestamps[-1].item() - tb) * time_precision
        segs.append((0, len(tokens), time_offset, time_offset + duration))
        advance = segment_size
    return segs, advance


def random_window(rng, sp):
    tb, eot = sp["timestamp_begin"], sp["eot"]
    kind = rng.choice(["wellformed", "wellformed", "single_end", "pairs_end", "no_ts", "text_only",
                       "lone_ts", "random", "empty_or_short", "zero_ts"])
    text = lambda: rng.randrange(0, eot)
    if kind in ("wellformed", "single_end", "pairs_end"):
        t, seq = rng.randrange(0, 100), []
        for _ in range(rng.randrange(1, 6)):
            seq.append(tb + t)
            seq += [text() for _ in range(rng.randrange(1, 6))]
            t = min(1500, t + rng.randrange(0, 300))
            seq.append(tb + t)
            t = min(1500, t + rng.randrange(0, 50))
        if kind == "single_end":
            pass  # ends text, timestamp
        elif kind == "pairs_end" or rng.random() < 0.5:
            seq.append(tb + t)  # a timestamp pair at the end
            if rng.random() < 0.5:
                seq += [text() for _ in range(rng.randrange(1, 4))]  # unfinished segment
        return seq
    if kind == "no_ts":
        return [tb + rng.randrange(0, 1501)] + [text() for _ in range(rng.randrange(1, 12))] + \
            ([tb + rng.randrange(0, 1501)] if rng.random() < 0.5 else [])
    if kind == "text_only":
        return [text() for _ in range(rng.randrange(1, 20))]
    if kind == "lone_ts":
        return [text() for _ in range(rng.randrange(0, 5))] + [tb + rng.randrange(0, 1501)] + \
            [text() for _ in range(rng.randrange(0, 5))]
    if kind == "empty_or_short":
        return [rng.choice([text(), tb + rng.randrange(0, 1501)]) for _ in range(rng.randrange(0, 3))]
    if kind == "zero_ts":
        return [text() for _ in range(rng.randrange(1, 5))] + [tb] + \
            ([text()] if rng.random() < 0.5 else [])
    return [rng.choice([text(), tb + rng.randrange(0, 1501)]) for _ in range(rng.randrange(1, 30))]


def gen_split(rng, out):
    for case in range(220):
        n_vocab = rng.choice([51865] * 4 + [51864, 51866])
        sp = layout(n_vocab)
        toks = random_window(rng, sp)
        seek = rng.choice([0, 3000, rng.randrange(0, 200000)])
        segment_size = 3000 if rng.random() < 0.7 else rng.randrange(1, 3001)
        segs, advance = split_window(toks, sp["timestamp_begin"], seek, segment_size)
        f = ["split", case, n_vocab, seek, segment_size, len(toks)] + toks + [len(segs)]
        for a, b, s, e in segs:
            f += [a, b, float(s).hex(), float(e).hex()]
        f.append(advance)
        out.write(" ".join(map(str, f)) + "\n")


def gen_compress(rng, out):
    """Lines: cr UNIT_HEX COUNT LEN_COMPRESSED RATIO, the text = UNIT * COUNT."""
    cases = [("", 1), ("a", 1), (" ", 1), ("hello", 1), ("hello ", 50), ("And so, my fellow Americans, "
             "ask not what your country can do for you, ask what you can do for your country.", 1),
             ("ab", 1000), ("Ich bin ein Berliner. ", 3), ("日本語のテキストです。", 4),
             ("¿Qué tal? Très bien, merci! 😀", 1), ("la ", 400), ("x", 65536), (" Thank you.", 300)]
    alphabet = "abcdefghijklmnopqrstuvwxyz      ,.!?éüñ中文😀"
    for _ in range(36):
        n = rng.randrange(1, 500)
        k = rng.randrange(2, len(alphabet))
        cases.append(("".join(rng.choice(alphabet[:k]) for _ in range(n)), 1))
    for unit, count in cases:
        b = (unit * count).encode("utf-8")
        c = len(zlib.compress(b))
        u = unit.encode("utf-8")
        out.write("cr %s %d %d %s\n" % (u.hex() if u else "-", count, c, (len(b) / c).hex()))


def gen_lang(rng, out):
    for case in range(12):
        n_vocab = rng.choice([51865, 51866])
        sp = layout(n_vocab)
        seed = rng.randrange(1, 1 << 30)
        logits = make_logits(n_vocab, seed, sp["timestamp_begin"], 0, 0)[None, :]
        langs = list(range(sp["lang_begin"], sp["lang_begin"] + sp["n_langs"]))
        mask = torch.ones(logits.shape[-1], dtype=torch.bool)
        mask[langs] = False
        logits[:, mask] = -float("inf")
        probs = logits.softmax(dim=-1)[0]
        d = {j: probs[j].item() for j in langs}
        best = max(d, key=d.get) - sp["lang_begin"]
        out.write(" ".join(map(str, ["lang", n_vocab, seed, best] + [float(d[j]).hex() for j in langs])) + "\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "wrules")
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(20240930)
    with open(os.path.join(outdir, "filters.txt"), "w") as f:
        gen_filters(rng, f)
    with open(os.path.join(outdir, "split.txt"), "w") as f:
        gen_split(rng, f)
    with open(os.path.join(outdir, "compress.txt"), "w") as f:
        gen_compress(rng, f)
    with open(os.path.join(outdir, "lang.txt"), "w") as f:
        gen_lang(rng, f)


if __name__ == "__main__":
    main()
