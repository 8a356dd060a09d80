#!/usr/bin/python3
"""gen_tiny_whisper.py - deterministic tiny random Whisper models in the real
file layouts, deterministic test audio, and the goldens of the reference
(scripts/whisper_ref.py) for the C implementation (src/whisper/).

  gen_tiny_whisper.py --out DIR            models + audio (numpy + the ffmpeg CLI; what ctest runs)
  gen_tiny_whisper.py --out DIR --check    also verify the sha256s the goldens record
  gen_tiny_whisper.py --out DIR --goldens  also recompute tests/golden/whisper/* (needs torch)

Models go to DIR/<name>/, audio to DIR/../test-audio-whisper/. Weights come
from numpy's legacy RandomState (stable across numpy versions), so both
regenerate bit-identically; tests/golden/whisper/README.md describes the
layouts, the weight recipe and the golden format.

The weight recipe (so that greedy decoding depends on the audio and runs
through the rules instead of repeating one token): random weights plus a few
reserved residual dimensions written by construction (see make_weights):
  encoder dim 0   a loudness detector: conv1/conv2 channel 0 average the mel
                  bins and frames, thresholded by GELU; no block writes dim 0;
  decoder dim 2   a constant K from the positional table, cancelled by a
                  cross-attention head that max-pools the loudness; the
                  no-speech row reads it (silence -> no_speech_prob ~ 1, and
                  the text logits flatten: low avg_logprob -> the skip);
  decoder dim 3   a ramp over positions read by the <|endoftext|> row (eot
                  becomes likelier as the sequence grows);
  decoder dims 4,5 a rotation over positions read by the timestamp rows
                  (cos/sin of the time): the preferred timestamp advances
                  with the token position;
  decoder dim 6   a constant read by every timestamp row (their total mass
                  against the best text token: the forced-timestamp rule);
and a few hundred text-token rows (and the language rows) scaled up over the
small base rows of the rest of the vocabulary.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "whisper")
GOLDEN = os.path.join(ROOT, "tests", "golden", "whisper")

PRESETS = {
    "whisper-tiny-ml": dict(seed=11, d=64, eh=4, dh=2, el=2, dl=2, ffn=160, n_mels=80, n_vocab=51865,
                            naming="hf", dtype="F32"),
    "whisper-tiny-ml-openai": dict(base="whisper-tiny-ml", naming="openai", dtype="F16", dims_in="metadata"),
    "whisper-tiny-en-openai": dict(seed=23, d=48, eh=3, dh=3, el=3, dl=1, ffn=192, n_mels=80, n_vocab=51864,
                                   naming="openai", dtype="F32", dims_in="config", text_gain=1.3),
    "whisper-tiny-v3": dict(seed=37, d=64, eh=4, dh=2, el=2, dl=2, ffn=160, n_mels=128, n_vocab=51866,
                            naming="hf", dtype="BF16"),
}

# knobs of the recipe (shared by all presets)
K_CONST = 30.0       # decoder dim 2 constant (silence)
ENERGY_THR = 0.1     # mel level (normalized, mean over bins) above which a frame counts as loud
ENERGY_GAIN = 20.0
K_CANCEL = 8.0       # how strongly the pooled loudness cancels K
N_TEXT = 400         # text-token rows scaled up
TEXT_SCALE = 0.8
BASE_SCALE = 0.02
BASE_DOWN = 4.0      # every other row reads -BASE_DOWN on the constant dim 6
LANG_SCALE = 0.6
EOT_RAMP = 24.0
EOT_READ = 6.0
TS_ROT = 6.0
TS_READ = 2.5
C6 = 6.0
TS_CONST = 1.6
TS_SHARED = 2.0
EOT_AFTER_TS = 1.0
TS_NOISE = 0.12
NS_READ = 2.6
POS_NOISE = 0.6
POS_NOISE_OUT = 2.5  # on the output half of the dims
TIME_PERIOD = 160.0  # token positions per 30 s of preferred time
CROSS_GAIN = 2.0
CROSS_OUT = 0.7
SELF_QK = 3.0


def resolve(name):
    p = dict(PRESETS[name])
    if "base" in p:
        b = dict(PRESETS[p.pop("base")])
        b.update(p)
        p = b
    return p


def specials(n_vocab):
    """ids of the specials laid out from n_vocab (tokenizer.py get_encoding)."""
    multilingual = n_vocab >= 51865
    n_langs = n_vocab - 51765 - int(multilingual)
    eot = 50257 if multilingual else 50256
    s = dict(eot=eot, sot=eot + 1, lang0=eot + 2, n_langs=n_langs)
    s["translate"] = eot + 2 + n_langs
    s["transcribe"] = s["translate"] + 1
    s["sot_lm"] = s["translate"] + 2
    s["sot_prev"] = s["translate"] + 3
    s["no_speech"] = s["translate"] + 4
    s["no_timestamps"] = s["translate"] + 5
    s["ts0"] = s["translate"] + 6
    assert s["ts0"] + 1501 == n_vocab
    return s


def sinusoids(length, channels, max_timescale=10000):
    inc = np.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def make_weights(p):
    """OpenAI-named float32 weights (the recipe in the module docstring)."""
    rs = np.random.RandomState(p["seed"])
    D, F, M, V = p["d"], p["ffn"], p["n_mels"], p["n_vocab"]
    sp = specials(V)
    w = {}

    def lin(name, n_out, n_in, bias=True, gain=1.0):
        w[name + ".weight"] = rs.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)
        if bias:
            w[name + ".bias"] = rs.standard_normal(n_out) * 0.05

    def ln(name):
        w[name + ".weight"] = 1.0 + rs.standard_normal(D) * 0.1
        w[name + ".bias"] = rs.standard_normal(D) * 0.1

    def block(pre, cross):
        ln(pre + "attn_ln")
        lin(pre + "attn.query", D, D, gain=SELF_QK)
        lin(pre + "attn.key", D, D, bias=False, gain=SELF_QK)
        lin(pre + "attn.value", D, D)
        lin(pre + "attn.out", D, D)
        if cross:
            ln(pre + "cross_attn_ln")
            lin(pre + "cross_attn.query", D, D, gain=CROSS_GAIN)
            lin(pre + "cross_attn.key", D, D, bias=False, gain=CROSS_GAIN)
            lin(pre + "cross_attn.value", D, D, gain=1.5)
            lin(pre + "cross_attn.out", D, D, gain=CROSS_OUT)
        ln(pre + "mlp_ln")
        lin(pre + "mlp.0", F, D, gain=1.2)
        lin(pre + "mlp.2", D, F)

    # --- encoder
    w["encoder.conv1.weight"] = rs.standard_normal((D, M, 3)) * 2.0 / np.sqrt(3 * M)
    w["encoder.conv1.bias"] = rs.standard_normal(D) * 0.1
    w["encoder.conv2.weight"] = rs.standard_normal((D, D, 3)) * 1.5 / np.sqrt(3 * D)
    w["encoder.conv2.bias"] = rs.standard_normal(D) * 0.1
    pos = sinusoids(1500, D)
    for i in range(p["el"]):
        block(f"encoder.blocks.{i}.", False)
    ln("encoder.ln_post")
    # loudness detector on encoder dim 0
    w["encoder.conv1.weight"][0] = ENERGY_GAIN / (3 * M)
    w["encoder.conv1.bias"][0] = -ENERGY_GAIN * ENERGY_THR
    w["encoder.conv2.weight"][0] = 0.0
    w["encoder.conv2.weight"][0, 0, :] = 1.0 / 3
    w["encoder.conv2.bias"][0] = 0.0
    pos[:, 0] = 0.0
    w["encoder.positional_embedding"] = pos
    for i in range(p["el"]):
        q = f"encoder.blocks.{i}."
        for n in ("attn.out", "mlp.2"):
            w[q + n + ".weight"][0] = 0.0
            w[q + n + ".bias"][0] = 0.0
    w["encoder.ln_post.weight"][0] = 1.0
    w["encoder.ln_post.bias"][0] = 0.0

    # --- decoder
    E = rs.standard_normal((V, D)) * BASE_SCALE
    text_ids = np.sort(rs.choice(np.arange(256, 30000), N_TEXT, replace=False))
    E[text_ids] = rs.standard_normal((N_TEXT, D)) * TEXT_SCALE * p.get("text_gain", 1.0) * \
        (0.6 + 0.8 * rs.random_sample((N_TEXT, 1)))
    E[sp["lang0"]:sp["lang0"] + sp["n_langs"]] = rs.standard_normal((sp["n_langs"], D)) * LANG_SCALE
    E[sp["eot"]] = rs.standard_normal(D) * TEXT_SCALE * 0.5
    E[sp["no_speech"]] = rs.standard_normal(D) * BASE_SCALE
    ts = np.arange(1501)
    u_ts = rs.standard_normal(D) * TS_SHARED / np.sqrt(D)
    E[sp["ts0"]:] = rs.standard_normal((1501, D)) * TS_NOISE + u_ts
    E[:, 2:7] = 0.0
    E[:, 6] = -BASE_DOWN
    E[text_ids, 6] = 0.0
    E[sp["lang0"]:sp["lang0"] + sp["n_langs"], 6] = 0.0
    E[sp["eot"], 6] = 0.0
    E[sp["no_speech"], 2] = NS_READ
    E[sp["eot"], 3] = EOT_READ
    E[sp["ts0"]:, 4] = TS_READ * np.cos(np.pi * ts / 1500)
    E[sp["ts0"]:, 5] = TS_READ * np.sin(np.pi * ts / 1500)
    E[sp["ts0"]:, 6] = TS_CONST
    w["decoder.token_embedding.weight"] = E
    P = rs.standard_normal((448, D)) * POS_NOISE
    P[:, 7 + (D - 7) // 2:] *= POS_NOISE_OUT / POS_NOISE
    pp = np.arange(448)
    P[:, 2] = K_CONST
    P[:, 3] = EOT_RAMP * (pp / 448.0) - 3.0
    ang = np.pi * np.minimum(pp / TIME_PERIOD, 1.0)
    P[:, 4] = TS_ROT * np.cos(ang)
    P[:, 5] = TS_ROT * np.sin(ang)
    P[:, 6] = C6
    w["decoder.positional_embedding"] = P
    for i in range(p["dl"]):
        block(f"decoder.blocks.{i}.", True)
    ln("decoder.ln")
    # reserved decoder dims 2..6: no block writes them ...
    for i in range(p["dl"]):
        q = f"decoder.blocks.{i}."
        for n in ("attn.out", "cross_attn.out", "mlp.2"):
            w[q + n + ".weight"][2:7] = 0.0
            w[q + n + ".bias"][2:7] = 0.0
    w["decoder.ln.weight"][2:7] = 1.0
    w["decoder.ln.bias"][2:7] = 0.0
    # with tied embeddings a token's own row dominates the residual, so it would predict itself (greedy
    # decoding repeating one token): random signs on the final LN's gains take the self-preference away
    sign = np.where(rs.random_sample(D) < 0.5, -1.0, 1.0)
    sign[2:7] = 1.0
    w["decoder.ln.weight"] *= sign
    # eot likelier right after a timestamp (so that windows also end "text <|t|> eot": single timestamp ending)
    bump = w["decoder.ln.weight"] * u_ts * EOT_AFTER_TS
    bump[2:7] = 0.0
    E[sp["eot"]] += bump
    # ... except head 0 of the first cross-attention: it max-pools the encoder's loudness (dim 0)
    # with a query read from the constant dim 2 and writes minus the loudness into dim 2.
    hd = D // p["dh"]
    q = "decoder.blocks.0.cross_attn."
    for n in ("query", "key", "value"):
        w[q + n + ".weight"][:hd] = 0.0
        if n != "key":
            w[q + n + ".bias"][:hd] = 0.0
    w[q + "query.weight"][0, 2] = 3.0
    w[q + "key.weight"][0, 0] = 3.0
    w[q + "value.weight"][0, 0] = 1.0
    w[q + "out.weight"][:, :hd] = 0.0
    w[q + "out.weight"][2, 0] = -K_CANCEL
    w["decoder.blocks.0.cross_attn_ln.weight"][2] = 1.0
    w["decoder.blocks.0.cross_attn_ln.bias"][2] = 0.0
    return {k: np.asarray(v, dtype=np.float32) for k, v in w.items()}, text_ids


def to_hf(w):
    """OpenAI names -> Hugging Face names (the inverse of whisper_ref.hf_to_openai)."""
    o = {}
    for k, v in w.items():
        if k == "encoder.positional_embedding":
            n = "model.encoder.embed_positions.weight"
        elif k == "decoder.positional_embedding":
            n = "model.decoder.embed_positions.weight"
        elif k.startswith("decoder.token_embedding."):
            n = "model.decoder.embed_tokens.weight"
        elif k.startswith("encoder.ln_post."):
            n = "model.encoder.layer_norm." + k.split(".")[-1]
        elif k.startswith("decoder.ln."):
            n = "model.decoder.layer_norm." + k.split(".")[-1]
        elif k.startswith("encoder.conv"):
            n = "model." + k
        else:
            tower, _, i, *rest = k.split(".")
            tail = ".".join(rest)
            for a, b in (("cross_attn_ln.", "encoder_attn_layer_norm."), ("attn_ln.", "self_attn_layer_norm."),
                         ("mlp_ln.", "final_layer_norm."), ("cross_attn.", "encoder_attn."), ("attn.", "self_attn."),
                         ("mlp.0.", "fc1."), ("mlp.2.", "fc2.")):
                if tail.startswith(a):
                    tail = b + tail[len(a):]
                    break
            for a, b in ((".query.", ".q_proj."), (".key.", ".k_proj."), (".value.", ".v_proj."), (".out.", ".out_proj.")):
                tail = tail.replace(a, b)
            n = f"model.{tower}.layers.{i}.{tail}"
        o[n] = v
    return o


def dims_of(p):
    return dict(n_mels=p["n_mels"], n_audio_ctx=1500, n_audio_state=p["d"], n_audio_head=p["eh"],
                n_audio_layer=p["el"], n_vocab=p["n_vocab"], n_text_ctx=448, n_text_state=p["d"],
                n_text_head=p["dh"], n_text_layer=p["dl"])


def hf_config(p):
    sp = specials(p["n_vocab"])
    base = json.load(open(os.path.join(SHARED, "whisper-base-hf", "config.json")))
    c = dict(base)
    c.pop("_name_or_path", None)
    c.update({"d_model": p["d"], "encoder_layers": p["el"], "decoder_layers": p["dl"], "num_hidden_layers": p["el"],
              "encoder_attention_heads": p["eh"], "decoder_attention_heads": p["dh"],
              "encoder_ffn_dim": p["ffn"], "decoder_ffn_dim": p["ffn"], "num_mel_bins": p["n_mels"],
              "max_source_positions": 1500, "max_target_positions": 448, "vocab_size": p["n_vocab"],
              "activation_function": "gelu", "scale_embedding": False, "torch_dtype": "float32",
              "decoder_start_token_id": sp["sot"], "bos_token_id": sp["eot"], "eos_token_id": sp["eot"],
              "pad_token_id": sp["eot"], "begin_suppress_tokens": [220, sp["eot"]],
              "forced_decoder_ids": [[1, sp["lang0"]], [2, sp["transcribe"]], [3, sp["no_timestamps"]]],
              "classifier_proj_size": 256, "model_type": "whisper"})
    c["suppress_tokens"] = suppress_tokens_hf(p)
    return c


def suppress_tokens_hf(p):
    """HF's suppress_tokens: the non-speech tokens + the specials whisper adds (in the base config, computed
    here by rule for the other layouts from the base list's text part)."""
    base = json.load(open(os.path.join(SHARED, "whisper-base-hf", "config.json")))["suppress_tokens"]
    sp = specials(p["n_vocab"])
    text = [t for t in base if t < 50257]
    if p["n_vocab"] == 51864:
        return None  # English-only HF exports are not generated here
    return sorted(set(text + [sp["sot"], sp["translate"], sp["transcribe"], sp["sot_lm"], sp["sot_prev"],
                              sp["no_speech"]]))


LANG_CODES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt "
    "la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc "
    "ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue").split()


def generation_config(p):
    sp = specials(p["n_vocab"])
    return {
        "begin_suppress_tokens": [220, sp["eot"]], "bos_token_id": sp["eot"], "decoder_start_token_id": sp["sot"],
        "eos_token_id": sp["eot"], "pad_token_id": sp["eot"],
        "forced_decoder_ids": [[1, None], [2, sp["transcribe"]]], "is_multilingual": p["n_vocab"] >= 51865,
        "lang_to_id": {f"<|{c}|>": sp["lang0"] + i for i, c in enumerate(LANG_CODES[:sp["n_langs"]])},
        "max_initial_timestamp_index": 50, "max_length": 448, "no_timestamps_token_id": sp["no_timestamps"],
        "prev_sot_token_id": sp["sot_prev"], "return_timestamps": False,
        "suppress_tokens": [t for t in suppress_tokens_hf(p) if t < sp["eot"]],
        "task_to_id": {"transcribe": sp["transcribe"], "translate": sp["translate"]},
        "transformers_version": "4.38.2"}


def st_save(path, tensors, metadata=None):
    """tensors: list of (name, float32 array, dtype F32/F16/BF16). numpy only."""
    header, blobs, off = {}, [], 0
    for name, arr, dt in tensors:
        a = np.ascontiguousarray(arr, dtype=np.float32)
        if dt == "BF16":
            u = a.view(np.uint32).astype(np.uint64)
            raw = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
        elif dt == "F16":
            raw = a.astype(np.float16).tobytes()
        else:
            raw = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def stored(w, dtype):
    """The weights as the file stores them (fp16 / bf16 rounding)."""
    if dtype == "F16":
        return {k: v.astype(np.float16).astype(np.float32) for k, v in w.items()}
    if dtype == "BF16":
        out = {}
        for k, v in w.items():
            u = np.ascontiguousarray(v, dtype=np.float32).view(np.uint32).astype(np.uint64)
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
            out[k] = u.astype(np.uint32).view(np.float32)
        return out
    return w


def write_model(name, out):
    p = resolve(name)
    w, text_ids = make_weights(p)
    d = os.path.join(out, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    meta = {"format": "pt"}
    if p["naming"] == "hf":
        tensors = to_hf(w)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(hf_config(p), f, indent=2)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump(generation_config(p), f, indent=2)
        if p["n_vocab"] == 51865:
            for fn in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                       "preprocessor_config.json"):
                shutil.copyfile(os.path.join(SHARED, "whisper-base-hf", fn), os.path.join(d, fn))
        else:
            shutil.copyfile(os.path.join(SHARED, "multilingual.tiktoken"), os.path.join(d, "multilingual.tiktoken"))
    else:
        tensors = w
        if p.get("dims_in") == "metadata":
            meta["dims"] = json.dumps(dims_of(p))
        else:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(dims_of(p), f, indent=2)
        tk = "multilingual" if p["n_vocab"] >= 51865 else "gpt2"
        shutil.copyfile(os.path.join(SHARED, tk + ".tiktoken"), os.path.join(d, tk + ".tiktoken"))
    st_save(os.path.join(d, "model.safetensors"), [(k, v, p["dtype"]) for k, v in sorted(tensors.items())],
            metadata=meta)
    return d, p, stored(w, p["dtype"])


# ----------------------------------------------------------------------------- audio

SR = 16000


def speech_like(rs, seconds, sr=SR, amp=0.3):
    """Bursts of harmonics with gliding pitch and moving formants, fricative noise, pauses."""
    n = int(round(seconds * sr))
    out = np.zeros(n)
    t = 0
    while t < n:
        kind = rs.random_sample()
        if kind < 0.12:      # pause (short or a phrase break)
            t += int(sr * (0.6 + 1.2 * rs.random_sample() if rs.random_sample() < 0.4 else 0.05 + 0.25 * rs.random_sample()))
            continue
        dur = int(sr * (0.08 + 0.25 * rs.random_sample()))
        m = min(dur, n - t)
        if m <= 0:
            break
        tt = np.arange(m) / sr
        env = np.abs(np.sin(np.pi * np.arange(m) / max(m - 1, 1))) ** 0.7
        if kind < 0.25:      # fricative: high-passed noise
            x = rs.standard_normal(m)
            x = x - np.concatenate([[0], x[:-1]])
            seg = 0.25 * x * env
        else:                # voiced: harmonics of a gliding f0 under two formants
            f0a, f0b = 90 + 160 * rs.random_sample(), 90 + 160 * rs.random_sample()
            f0 = f0a + (f0b - f0a) * tt / max(tt[-1], 1e-3)
            ph = 2 * np.pi * np.cumsum(f0) / sr
            fm1, fm2 = 300 + 600 * rs.random_sample(), 900 + 1800 * rs.random_sample()
            seg = np.zeros(m)
            for h in range(1, 30):
                fh = h * f0.mean()
                if fh > 4000:
                    break
                g = np.exp(-((fh - fm1) / 200) ** 2) + 0.6 * np.exp(-((fh - fm2) / 300) ** 2) + 0.05
                seg += g * np.sin(h * ph + rs.random_sample() * 6.28)
            seg = seg / max(np.abs(seg).max(), 1e-9) * env
        out[t:t + m] += seg * amp * (0.4 + 0.6 * rs.random_sample())
        t += m
    out += rs.standard_normal(n) * 0.002
    return out


def write_wav(path, x, sr=SR, channels=1):
    s = np.clip(np.round(np.asarray(x) * 32767), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes(s.tobytes())


def ffmpeg(args):
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error"] + args, check=True)


AUDIO = ["short.wav", "exact30.wav", "30p5.wav", "long75.flac", "silence.wav", "stereo44k.wav", "video.mkv",
         "jfk.flac"]


def audio_path(adir, name):
    if name == "jfk.flac":
        return os.path.join(SHARED, "jfk.flac")
    return os.path.join(adir, name)


def write_audio(adir):
    os.makedirs(adir, exist_ok=True)
    rs = np.random.RandomState(4242)
    write_wav(os.path.join(adir, "short.wav"), speech_like(rs, 4.2))
    write_wav(os.path.join(adir, "exact30.wav"), speech_like(rs, 30.0))
    write_wav(os.path.join(adir, "30p5.wav"), speech_like(rs, 30.5))
    long = speech_like(rs, 75.0)
    long[int(40 * SR):int(47 * SR)] *= 0.0   # a 7 s gap inside
    tmp = os.path.join(adir, "long75.tmp.wav")
    write_wav(tmp, long)
    ffmpeg(["-i", tmp, "-c:a", "flac", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
            os.path.join(adir, "long75.flac")])
    os.remove(tmp)
    write_wav(os.path.join(adir, "silence.wav"), np.zeros(12 * SR))
    n = int(14 * 44100)
    left = speech_like(rs, 14.0, sr=44100)
    right = 0.5 * left + speech_like(rs, 14.0, sr=44100, amp=0.15)
    st = np.stack([left, right], 1).reshape(-1)
    write_wav(os.path.join(adir, "stereo44k.wav"), st[:2 * n], sr=44100, channels=2)
    tmp = os.path.join(adir, "video.tmp.flac")
    vt = os.path.join(adir, "video.tmp.wav")
    write_wav(vt, speech_like(rs, 8.0))
    ffmpeg(["-i", vt, "-c:a", "flac", "-fflags", "+bitexact", "-map_metadata", "-1", tmp])
    ffmpeg(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=8", "-i", tmp, "-map", "0:v", "-map",
            "1:a", "-c:v", "ffv1", "-c:a", "copy", "-fflags", "+bitexact", "-flags", "+bitexact",
            "-map_metadata", "-1", "-shortest", os.path.join(adir, "video.mkv")])
    os.remove(tmp)
    os.remove(vt)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def survey(name, d, adir, audios=None):
    import torch
    import whisper_ref as W
    model, tok = W.load_model(d, torch.float64)
    for an in audios or AUDIO:
        audio, _ = W.load_audio(audio_path(adir, an))
        mel = W.log_mel_spectrogram(audio, model.dims["n_mels"])
        lang, probs = W.detect_language(model, tok, W.pad_or_trim(mel, W.N_FRAMES)) if model.is_multilingual \
            else ("en", {})
        r = W.transcribe(model, tok, mel, temperature=(0.0,), language="en")
        print(f"{name} {an}: lang {lang} {max(probs.values()) if probs else 1:.2f} segs {len(r['segments'])}")
        for wn in r["windows"]:
            x = wn["attempts"][-1]
            nts = sum(t >= tok.timestamp_begin for t in x["tokens"])
            print(f"  seek {wn['seek']:5d}+{wn['segment_size']:4d} n {len(x['tokens']):3d} ts {nts:3d} "
                  f"lp {x['avg_logprob']:7.3f} cr {x['compression_ratio']:5.2f} ns {x['no_speech_prob']:.3f} "
                  f"forced {x['forced_ts']:3d} {x['end']:9s} fb {int(x['needs_fallback'])} skip {int(wn['skipped'])} "
                  f"cut {wn.get('cut')} mingap {min([g for g in x['gaps'] if g is not None] or [0]):.2g} "
                  f"{x['text'][:50]!r}")


# ----------------------------------------------------------------------------- goldens (torch)

ENC_ROWS = (0, 1, 2, 100, 749, 750, 1498, 1499)
TEACHER_TEXT = [("ts", 0), ("text", " And so my fellow Americans,"), ("ts", 50), ("ts", 50), ("text", " ask not"),
                ("ts", 120), ("ts", 131), ("text", " what your country can do"), ("ts", 400)]
FALLBACK_TEMPS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _r(x, digits=10):
    """floats rounded to `digits` significant digits (recursively); NaN/inf -> None."""
    if isinstance(x, float):
        if x != x or x in (float("inf"), float("-inf")):
            return None
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _r(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_r(v, digits) for v in x]
    return x


def teacher_tokens(tok):
    ids = list(tok.set_language("en", "transcribe").sot_sequence)
    for kind, v in TEACHER_TEXT:
        ids += [tok.timestamp_begin + v] if kind == "ts" else tok.encode(v)
    return ids


def window_record(wn, tok):
    x = wn["attempts"][-1]
    g = [None if v is None else round(v, 5) for v in x["gaps"]] if x["temperature"] == 0 else None
    return dict(seek=wn["seek"], segment_size=wn["segment_size"], prompt_len=wn["prompt_len"], tokens=x["tokens"],
                text=x["text"], sum_logprob=x["sum_logprob"], avg_logprob=x["avg_logprob"],
                compression_ratio=x["compression_ratio"], no_speech_prob=x["no_speech_prob"],
                temperature=x["temperature"], needs_fallback=x["needs_fallback"], skipped=wn["skipped"],
                cut=wn.get("cut"), seek_after=wn["seek_after"], forced_ts=x["forced_ts"], end=x["end"],
                min_gap=min([v for v in x["gaps"] if v is not None] or [None]) if g is not None else None, gaps=g)


def run_case(W, model, tok, mel, case):
    import torch  # noqa: F401
    r = W.transcribe(model, tok, mel, temperature=case["temperature"], language=case["language"],
                     condition_on_previous_text=case["condition_on_previous_text"])
    return r


def make_goldens(name, d, p, adir):
    import torch
    import whisper_ref as W
    os.makedirs(GOLDEN, exist_ok=True)
    model, tok = W.load_model(d, torch.float64)
    m32, tok32 = W.load_model(d, torch.float32)
    sp = {k: getattr(tok, k) for k in ("eot", "sot", "translate", "transcribe", "sot_lm", "sot_prev", "no_speech",
                                        "no_timestamps", "timestamp_begin")}
    sp["lang_begin"] = tok.all_language_tokens[0]
    sp["n_langs"] = tok.num_languages
    out = dict(model=name, model_sha256=sha256(os.path.join(d, "model.safetensors")), dims=model.dims,
               file_dtype=p["dtype"], naming=p["naming"], specials=sp, blank=tok.encode(" ") + [tok.eot],
               suppress_tokens=W._suppress_list(tok, "-1"),
               reference="scripts/whisper_ref.py (openai/whisper 20240930 semantics), float64", audio={})
    cases = []
    notes = []
    for an in AUDIO:
        audio, _ = W.load_audio(audio_path(adir, an))
        mel = W.log_mel_spectrogram(audio, model.dims["n_mels"], dtype=torch.float64)
        mel32 = W.log_mel_spectrogram(audio, model.dims["n_mels"], dtype=torch.float32)
        content = mel.shape[-1] - W.N_FRAMES
        seg = W.pad_or_trim(mel[:, :min(W.N_FRAMES, content)])
        xa = model.encoder(seg)
        xa32 = m32.encoder(W.pad_or_trim(mel32[:, :min(W.N_FRAMES, content)]))
        a = dict(encoder=dict(rows={str(i): xa[i].tolist() for i in ENC_ROWS}, mean=xa.mean().item(),
                              mean_abs=xa.abs().mean().item(),
                              f32_max_abs_diff=(xa32.double() - xa).abs().max().item()))
        ids = teacher_tokens(tok)
        lg = model.logits(ids, model.cross_kv(xa))
        pos = []
        for i in range(len(ids)):
            top = torch.topk(lg[i], 5)
            pos.append(dict(top5=[[int(t), v] for t, v in zip(top.indices.tolist(), top.values.tolist())],
                            mean=lg[i].mean().item(), std=lg[i].std().item()))
        a["teacher"] = dict(tokens=ids, positions=pos)
        if model.is_multilingual:
            code, probs = W.detect_language(model, tok, W.pad_or_trim(mel, W.N_FRAMES))
            top = sorted(probs.items(), key=lambda kv: -kv[1])[:5]
            a["language"] = dict(code=code, top5=[[c, v] for c, v in top])
        out["audio"][an] = a
        todo = [dict(id="t0_en", temperature=(0.0,), language="en", condition_on_previous_text=True)]
        if model.is_multilingual:
            todo.append(dict(id="t0_auto", temperature=(0.0,), language=None, condition_on_previous_text=True))
        todo.append(dict(id="t0_en_nocond", temperature=(0.0,), language="en", condition_on_previous_text=False))
        todo.append(dict(id="fallback_en", temperature=FALLBACK_TEMPS, language="en",
                         condition_on_previous_text=True))
        base = None
        for c in todo:
            r = run_case(W, model, tok, mel, c)
            rec = dict(id=c["id"], audio=an, options=dict(temperature=list(c["temperature"]), language=c["language"],
                                                           condition_on_previous_text=c["condition_on_previous_text"]),
                       language=r["language"], content_frames=r["content_frames"], text=r["text"])
            if c["id"] == "fallback_en":
                # T > 0 results are torch samples: keep the decisions, and which windows are comparable
                # (every window up to and including the first one whose result came from T > 0)
                wins, comparable = [], True
                for wn in r["windows"]:
                    t0 = wn["attempts"][0]
                    wins.append(dict(seek=wn["seek"], comparable=comparable, t0_needs_fallback=t0["needs_fallback"],
                                     t0_avg_logprob=t0["avg_logprob"], t0_compression_ratio=t0["compression_ratio"],
                                     t0_no_speech_prob=t0["no_speech_prob"],
                                     final_temperature=wn["attempts"][-1]["temperature"],
                                     attempts=len(wn["attempts"]), skipped=wn["skipped"]))
                    if wn["attempts"][-1]["temperature"] > 0:
                        comparable = False
                rec["windows"] = wins
                rec.pop("text")
                cases.append(rec)
                continue
            if c["id"] == "t0_en_nocond" and len(r["windows"]) < 2:
                continue
            if c["id"] == "t0_auto" and r["language"] == "en" and base is not None:
                continue
            rec["segments"] = r["segments"]
            rec["windows"] = [window_record(wn, tok) for wn in r["windows"]]
            if c["id"] == "t0_en":
                base = rec
                r32 = W.transcribe(m32, tok32, mel32, temperature=(0.0,), language="en")
                same = [w64["tokens"] == w32["attempts"][-1]["tokens"] and w64["seek"] == w32["seek"]
                        for w64, w32 in zip(rec["windows"], r32["windows"])]
                rec["f32_same_windows"] = same if len(r32["windows"]) == len(rec["windows"]) else same + [False]
                if not all(rec["f32_same_windows"]):
                    notes.append(f"{an}: float32 reference differs from float64 at windows {rec['f32_same_windows']}")
            cases.append(rec)
        print(f"{name} {an}: done", flush=True)
    out["notes"] = notes
    path = os.path.join(GOLDEN, name + ".json")
    head = {k: v for k, v in out.items() if k != "audio"}
    with open(path, "w") as f:
        f.write("{\n")
        for k, v in head.items():
            f.write(f"{json.dumps(k)}: {json.dumps(_r(v), ensure_ascii=False, separators=(',', ':'))},\n")
        f.write('"audio": {\n')
        f.write(",\n".join(f"{json.dumps(k)}: {json.dumps(_r(v), separators=(',', ':'))}"
                            for k, v in out["audio"].items()))
        f.write("},\n\"transcribe\": [\n")
        f.write(",\n".join(json.dumps(_r(c), ensure_ascii=False, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def audio_goldens(adir):
    """tests/golden/whisper/audio.json: decoded samples and log-mel checks per test file."""
    import torch
    import whisper_ref as W
    res = {}
    for an in AUDIO:
        audio, raw = W.load_audio(audio_path(adir, an))
        e = dict(path=("shared:whisper/" if an == "jfk.flac" else "test-audio-whisper/") + an, n_samples=len(audio),
                 s16_sha256=hashlib.sha256(raw).hexdigest(), sum_abs=float(np.abs(audio.astype(np.float64)).sum()))
        for nm in (80, 128):
            a = torch.from_numpy(np.asarray(audio, dtype=np.float32)).double()
            a = torch.nn.functional.pad(a, (0, W.N_SAMPLES))
            st = torch.stft(a, W.N_FFT, W.HOP_LENGTH, window=torch.hann_window(W.N_FFT, dtype=torch.float64),
                            return_complex=True)
            mels = torch.from_numpy(W.mel_filters(nm)).double() @ (st[..., :-1].abs() ** 2)
            lmax = torch.clamp(mels, min=1e-10).log10().max().item()
            mel = W.log_mel_spectrogram(audio, nm, dtype=torch.float64)
            mel32 = W.log_mel_spectrogram(audio, nm, dtype=torch.float32)
            nf = mel.shape[-1]
            content = nf - W.N_FRAMES
            w0 = W.pad_or_trim(mel[:, :min(W.N_FRAMES, content)])
            frames = sorted({0, 1, 100, max(content - 1, 0), content, nf - 1})
            bins = sorted({0, 1, 40, nm - 1})
            e[f"mel{nm}"] = dict(
                n_frames=nf, content_frames=content, log10_max=lmax, max=mel.max().item(), min=mel.min().item(),
                bin_sums_frames_0_3000=mel[:, :W.N_FRAMES].sum(1).tolist(), bin_sums_window0=w0.sum(1).tolist(),
                bin_sums_all=mel.sum(1).tolist(),
                values=[[b, fr, mel[b, fr].item()] for b in bins for fr in frames],
                f32_max_abs_diff=(mel32.double() - mel).abs().max().item())
        res[an] = e
        print(f"audio {an}: {len(audio)} samples", flush=True)
    path = os.path.join(GOLDEN, "audio.json")
    with open(path, "w") as f:
        f.write('{"audio": {\n')
        f.write(",\n".join(f"{json.dumps(k)}: {json.dumps(_r(v), separators=(',', ':'))}" for k, v in res.items()))
        f.write("\n}}\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory to write the models into")
    ap.add_argument("--goldens", action="store_true", help="also recompute tests/golden/whisper/")
    ap.add_argument("--check", action="store_true", help="verify the sha256s the goldens record")
    ap.add_argument("--only", nargs="*", help="presets to build (default: all)")
    ap.add_argument("--no-audio-golden", action="store_true", help="with --goldens: leave audio.json alone")
    ap.add_argument("--survey", action="store_true", help="print per-window decoding stats (tuning; torch)")
    a = ap.parse_args()
    adir = os.path.join(os.path.dirname(os.path.abspath(a.out.rstrip("/"))), "test-audio-whisper")
    write_audio(adir)
    print(f"wrote {adir}")
    bad = 0
    if a.goldens and not a.no_audio_golden:
        audio_goldens(adir)
    for name in a.only or PRESETS:
        d, p, w = write_model(name, a.out)
        print(f"wrote {d}")
        if a.survey:
            survey(name, d, adir)
        if a.goldens:
            make_goldens(name, d, p, adir)
        if a.check:
            g = os.path.join(GOLDEN, name + ".json")
            with open(g) as f:
                gj = json.load(f)
            got = sha256(os.path.join(d, "model.safetensors"))
            if got != gj["model_sha256"]:
                print(f"{name}: model.safetensors sha256 {got} differs from the golden's {gj['model_sha256']}: "
                      "regenerate the goldens with --goldens")
                bad += 1
    if a.check:
        with open(os.path.join(GOLDEN, "audio.json")) as f:
            aj = json.load(f)
        for name, e in aj["audio"].items():
            s = subprocess.run(["ffmpeg", "-nostdin", "-threads", "0", "-i", audio_path(adir, name), "-f", "s16le",
                                "-ac", "1", "-acodec", "pcm_s16le", "-ar", "16000", "-"], capture_output=True,
                               check=True).stdout
            if hashlib.sha256(s).hexdigest() != e["s16_sha256"]:
                print(f"{name}: decoded samples differ from the golden's")
                bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
