#!/usr/bin/env python3
"""bench_whisper_torch.py - the PyTorch side of `mediagrep bench transcribe`.

A PyTorch implementation of OpenAI's Whisper (the architecture of
openai/whisper's model.py: AudioEncoder = conv1 + GELU, conv2 (stride 2) +
GELU, + positional table, pre-LN residual blocks, ln_post; TextDecoder =
token + positional embedding, blocks with causal self-attention, cross-
attention to the audio features and an MLP, final LN, logits = x @
token_embedding^T), written here with module names equal to the Hugging Face
tensor names so that the model directory's model.safetensors (F16/BF16/F32,
run in float32) loads with load_state_dict(strict=True). The decoder keeps a
KV cache the usual way: per layer a preallocated [N, n_text_ctx, D] key and
value tensor written at the new positions, attention over the filled prefix;
the cross-attention K/V are computed once per window from the encoder output
(as openai/whisper caches them on the first decoder call). Only the logits
rows that are used are computed (ours does the same).

It measures what the C side measures, with --threads torch threads:
  encoder_ms   ms per 30 s window at each --batches size (encoder + the
               cross-attention K/V of every decoder layer), best of --repeats
               after a warm-up;
  prefill_ms / step_ms   for each --seqs count N: the prompts of work.json
               (N sequences, each on its own window) in one call, then the
               teacher-forced steps one token per sequence per step (logits of
               that row + argmax), best of --repeats;
  whole        with --replay: the audio file loaded with the ffmpeg CLI and
               its log-mel computed as openai/whisper's audio.py does, then per
               window the encoder and the decoder teacher-forced on the token
               sequences our engine produced (same decoder inputs, same number
               of steps); argmax_agree = share of steps where PyTorch's raw
               argmax is the token we sampled (ours applies the suppression
               rules first, so this is information, not a test);
  agreement    --agree DIR holds mel.f32 (one window), enc.f32 (our encoder
               output), logits.f32 and agree.json ({tokens, argmax}) of a
               teacher-forced sequence: encoder cosine / max |diff|, per-row
               logits cosine and argmax equality.
With --int8 the same measurements for torch.ao.quantization.quantize_dynamic
on every nn.Linear (the convolutions, embeddings and the logits stay fp32,
as in our int8 mode) under the key "int8" (no whole-file run).
Prints one JSON object. Run it as `mediagrep bench transcribe --torch` does:
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=PASSIVE \\
    /usr/bin/python3 bench/bench_whisper_torch.py --model DIR --threads 2 ...
"""
import argparse
import copy
import json
import math
import os
import resource
import struct
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MEL_FILTERS = os.path.join(HERE, "..", "..", "shared", "whisper", "mel_filters.npz")
ATTN_CHUNK_BYTES = 1 << 30  # encoder attention scores computed a few windows at a time above this


# ---------------- weights ----------------

def load_safetensors(path):
    """{name without a leading "model.": float32 tensor}."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        dt = info["dtype"]
        if dt == "F16":
            a = np.frombuffer(buf, np.float16, (e - s) // 2, s).astype(np.float32)
        elif dt == "F32":
            a = np.frombuffer(buf, np.float32, (e - s) // 4, s).copy()
        elif dt == "BF16":
            a = (np.frombuffer(buf, np.uint16, (e - s) // 2, s).astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: dtype %s" % (name, dt))
        key = name[6:] if name.startswith("model.") else name
        out[key] = torch.from_numpy(a.reshape(info["shape"]))
    return out


def load_dims(model_dir):
    c = json.load(open(os.path.join(model_dir, "config.json")))
    return dict(n_mels=c["num_mel_bins"], n_audio_ctx=c["max_source_positions"], d=c["d_model"],
                enc_layers=c["encoder_layers"], enc_heads=c["encoder_attention_heads"], enc_ffn=c["encoder_ffn_dim"],
                dec_layers=c["decoder_layers"], dec_heads=c["decoder_attention_heads"], dec_ffn=c["decoder_ffn_dim"],
                n_vocab=c["vocab_size"], n_text_ctx=c["max_target_positions"])


# ---------------- the model ----------------

def attend(q, k, v, heads, mask=None):
    """softmax(q k^T / sqrt(hd) + mask) v over heads; q [N, T, D], k, v [N, S, D]."""
    n, t, d = q.shape
    s, hd = k.shape[1], d // heads
    q = q.view(n, t, heads, hd).transpose(1, 2)
    k = k.reshape(n, s, heads, hd).transpose(1, 2)
    v = v.reshape(n, s, heads, hd).transpose(1, 2)
    if mask is None and hasattr(F, "_scaled_dot_product_attention"):
        step = max(1, ATTN_CHUNK_BYTES // max(1, heads * t * s * 4))
        outs = [F._scaled_dot_product_attention(q[i:i + step], k[i:i + step], v[i:i + step], None, 0.0, False,
                                                False)[0] for i in range(0, n, step)]
        o = outs[0] if len(outs) == 1 else torch.cat(outs)
    else:
        a = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        if mask is not None:
            a = a + mask
        o = a.softmax(-1) @ v
    return o.transpose(1, 2).reshape(n, t, d)


class Attn(nn.Module):
    def __init__(self, d, kv_in=None):
        super().__init__()
        kv_in = kv_in or d
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(kv_in, d, bias=False)
        self.v_proj = nn.Linear(kv_in, d)
        self.out_proj = nn.Linear(d, d)


class Layer(nn.Module):
    def __init__(self, d, heads, ffn, cross=False, d_audio=None):
        super().__init__()
        self.heads = heads
        self.self_attn = Attn(d)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        if cross:
            self.encoder_attn = Attn(d, d_audio)
            self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def mlp(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class Encoder(nn.Module):
    def __init__(self, dm):
        super().__init__()
        d = dm["d"]
        self.conv1 = nn.Conv1d(dm["n_mels"], d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(dm["n_audio_ctx"], d)
        self.layers = nn.ModuleList([Layer(d, dm["enc_heads"], dm["enc_ffn"]) for _ in range(dm["enc_layers"])])
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, mel):  # [N, n_mels, 3000] -> [N, 1500, D]
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.embed_positions.weight
        for L in self.layers:
            h = L.self_attn_layer_norm(x)
            a = L.self_attn
            x = x + a.out_proj(attend(a.q_proj(h), a.k_proj(h), a.v_proj(h), L.heads))
            x = L.mlp(x)
        return self.layer_norm(x)


class Decoder(nn.Module):
    def __init__(self, dm):
        super().__init__()
        d = dm["d"]
        self.embed_tokens = nn.Embedding(dm["n_vocab"], d)
        self.embed_positions = nn.Embedding(dm["n_text_ctx"], d)
        self.layers = nn.ModuleList([Layer(d, dm["dec_heads"], dm["dec_ffn"], True, d)
                                     for _ in range(dm["dec_layers"])])
        self.layer_norm = nn.LayerNorm(d)
        self.n_ctx, self.d = dm["n_text_ctx"], d

    def cross_kv(self, xa):
        return [(L.encoder_attn.k_proj(xa), L.encoder_attn.v_proj(xa)) for L in self.layers]

    def new_cache(self, n):
        return [(torch.zeros(n, self.n_ctx, self.d), torch.zeros(n, self.n_ctx, self.d)) for _ in self.layers]

    def forward(self, tokens, pos0, cache, xkv, rows):
        """tokens [N, T] after pos0 cached positions; logits [N, len(rows), V] of those rows."""
        n, t = tokens.shape
        x = self.embed_tokens(tokens) + self.embed_positions.weight[pos0:pos0 + t]
        mask = None
        if t > 1:
            mask = torch.full((t, pos0 + t), float("-inf")).triu(pos0 + 1)
        for L, (kc, vc), (xk, xv) in zip(self.layers, cache, xkv):
            h = L.self_attn_layer_norm(x)
            a = L.self_attn
            kc[:n, pos0:pos0 + t] = a.k_proj(h)
            vc[:n, pos0:pos0 + t] = a.v_proj(h)
            x = x + a.out_proj(attend(a.q_proj(h), kc[:n, :pos0 + t], vc[:n, :pos0 + t], L.heads, mask))
            h = L.encoder_attn_layer_norm(x)
            c = L.encoder_attn
            x = x + c.out_proj(attend(c.q_proj(h), xk, xv, L.heads))
            x = L.mlp(x)
        x = self.layer_norm(x[:, rows])
        return x @ self.embed_tokens.weight.t()


def build(model_dir):
    dm = load_dims(model_dir)
    sd = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    enc, dec = Encoder(dm).eval(), Decoder(dm).eval()
    enc.load_state_dict({k[8:]: v for k, v in sd.items() if k.startswith("encoder.")}, strict=True)
    dec.load_state_dict({k[8:]: v for k, v in sd.items() if k.startswith("decoder.")}, strict=True)
    return dm, enc, dec


def quantized(m):
    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(m), {nn.Linear}, dtype=torch.qint8).eval()


# ---------------- audio (openai/whisper audio.py) ----------------

def load_audio(path):
    cmd = ["ffmpeg", "-nostdin", "-threads", "0", "-i", path, "-f", "s16le", "-ac", "1", "-acodec", "pcm_s16le",
           "-ar", "16000", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.int16).flatten().astype(np.float32) / 32768.0


def log_mel(audio, n_mels):
    a = F.pad(torch.from_numpy(audio), (0, 480000))
    stft = torch.stft(a, 400, 160, window=torch.hann_window(400), return_complex=True)
    mag = stft[..., :-1].abs() ** 2
    filters = torch.from_numpy(np.load(MEL_FILTERS)["mel_%d" % n_mels])
    spec = torch.clamp(filters @ mag, min=1e-10).log10()
    spec = torch.maximum(spec, spec.max() - 8.0)
    return (spec + 4.0) / 4.0


# ---------------- measurements ----------------

def best_of(fn, repeats):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_model(enc, dec, dm, a, work):
    out = {"encoder_ms": {}, "prefill_ms": {}, "step_ms": {}}
    g = torch.Generator().manual_seed(1)
    xkv = None
    for b in a.batches:
        x = torch.rand(b, dm["n_mels"], 3000, generator=g) * 2.5 - 1.0
        box = []

        def run():
            box[:] = [dec.cross_kv(enc(x))]
        out["encoder_ms"][str(b)] = 1e3 * best_of(run, a.repeats) / b
        if b == max(a.batches):  # the decoder runs on these windows (ours: its context's slots)
            xkv = box[0]
    nb = xkv[0][0].shape[0]
    prompt, steps = work["prompt"], work["steps"]
    P, G = len(prompt[0]), len(steps[0])
    cache = dec.new_cache(max(a.seqs))
    for n in a.seqs:
        idx = torch.tensor([i % nb for i in range(n)])
        kv = [(k[idx], v[idx]) for k, v in xkv]
        pt = torch.tensor(prompt[:n])
        st = torch.tensor(steps[:n])
        out["prefill_ms"][str(n)] = 1e3 * best_of(lambda: dec(pt, 0, cache, kv, [P - 3, P - 1]), a.repeats)

        def step_all():
            for k in range(G):
                dec(st[:, k:k + 1], P + k, cache, kv, [0]).argmax(-1)
        out["step_ms"][str(n)] = 1e3 * best_of(step_all, a.repeats) / G
    return out


def agreement(enc, dec, dm, adir, prec_tag):
    mel = np.fromfile(os.path.join(adir, "mel.f32"), np.float32).reshape(1, dm["n_mels"], 3000)
    ours = torch.from_numpy(np.fromfile(os.path.join(adir, "enc.f32"), np.float32).reshape(1, dm["n_audio_ctx"], -1))
    ag = json.load(open(os.path.join(adir, "agree.json")))
    toks = ag["tokens"]
    V = dm["n_vocab"]
    ol = torch.from_numpy(np.fromfile(os.path.join(adir, "logits.f32"), np.float32).reshape(len(toks), V))
    xa = enc(torch.from_numpy(mel))
    logits = dec(torch.tensor([toks]), 0, dec.new_cache(1), dec.cross_kv(xa), list(range(len(toks))))[0]
    targ = logits.argmax(-1)
    top2 = logits.topk(2, -1).values
    r = {
        "encoder_cosine": F.cosine_similarity(xa.flatten(), ours.flatten(), 0).item(),
        "encoder_max_abs": (xa - ours).abs().max().item(),
        "encoder_abs_max": xa.abs().max().item(),
        "logits_cosine_min": F.cosine_similarity(logits, ol, -1).min().item(),
        "logits_max_abs": (logits - ol).abs().max().item(),
        "argmax_rows": len(toks),
        "argmax_same": int(sum(int(x) == y for x, y in zip(targ.tolist(), ag["argmax"]))),
        "top2_margin_min": (top2[:, 0] - top2[:, 1]).min().item(),
    }
    if prec_tag:
        pe = torch.from_numpy(np.fromfile(os.path.join(adir, "enc_prec.f32"), np.float32).reshape(xa.shape))
        pl = torch.from_numpy(np.fromfile(os.path.join(adir, "logits_prec.f32"), np.float32).reshape(len(toks), V))
        r["prec_encoder_cosine"] = F.cosine_similarity(xa.flatten(), pe.flatten(), 0).item()
        r["prec_argmax_same"] = int((pl.argmax(-1) == targ).sum().item())
    return r, torch.from_numpy(mel), xa


def whole_file(enc, dec, dm, replay):
    r = {}
    t_all = time.perf_counter()
    audio = load_audio(replay["audio"])
    mel = log_mel(audio, dm["n_mels"])
    r["mel_s"] = time.perf_counter() - t_all
    r["duration_s"] = len(audio) / 16000.0
    content = mel.shape[-1] - 3000
    cache = dec.new_cache(1)
    enc_s = dec_s = 0.0
    steps = tokens = agree = 0
    for w in replay["windows"]:
        seek = w["seek"]
        size = min(3000, content - seek)
        seg = F.pad(mel[:, seek:seek + size], (0, 3000 - size))
        t0 = time.perf_counter()
        xkv = dec.cross_kv(enc(seg[None]))
        t1 = time.perf_counter()
        enc_s += t1 - t0
        tin, sampled = w["tokens_in"], w["sampled"]
        n = len(tin)
        sot = n - 4  # sot, language, task, no_timestamps end the input
        nxt = dec(torch.tensor([tin]), 0, cache, xkv, [sot, n - 1])[0, -1].argmax().item()
        steps += 1
        agree += nxt == sampled[0]
        for i in range(1, len(sampled)):
            nxt = dec(torch.tensor([[sampled[i - 1]]]), n + i - 1, cache, xkv, [0])[0, -1].argmax().item()
            steps += 1
            agree += nxt == sampled[i]
        tokens += len(sampled)
        dec_s += time.perf_counter() - t1
    r["wall_s"] = time.perf_counter() - t_all
    r.update(encode_s=enc_s, decode_s=dec_s, windows=len(replay["windows"]), steps=steps, tokens=tokens,
             argmax_agree=agree / max(1, steps))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--seqs", default="1,8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", required=True, help="work.json: {prompt: [[...]], steps: [[...]]}")
    ap.add_argument("--agree", help="folder with mel.f32, enc.f32, logits.f32, agree.json")
    ap.add_argument("--prec-tag", action="store_true", help="also compare enc_prec.f32 / logits_prec.f32")
    ap.add_argument("--replay", help="replay.json of our whole-file run")
    ap.add_argument("--int8", action="store_true")
    a = ap.parse_args()
    a.batches = [int(x) for x in a.batches.split(",") if x]
    a.seqs = [int(x) for x in a.seqs.split(",") if x]
    torch.set_num_threads(a.threads)
    out = {"torch": torch.__version__, "threads": a.threads}
    work = json.load(open(a.work))
    with torch.inference_mode():
        t0 = time.perf_counter()
        dm, enc, dec = build(a.model)
        out["load_s"] = time.perf_counter() - t0
        mel1 = xa = None
        if a.agree:
            out["agreement"], mel1, xa = agreement(enc, dec, dm, a.agree, a.prec_tag)
        out["fp32"] = bench_model(enc, dec, dm, a, work)
        if a.replay:
            out["whole"] = whole_file(enc, dec, dm, json.load(open(a.replay)))
        if a.int8:
            qe, qd = quantized(enc), quantized(dec)
            if mel1 is not None:
                out["agreement"]["int8_encoder_cosine"] = F.cosine_similarity(
                    qe(mel1).flatten(), xa.flatten(), 0).item()
            out["int8"] = bench_model(qe, qd, dm, a, work)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
