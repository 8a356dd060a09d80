#!/usr/bin/python3
"""whisper_ref.py - our own reference of openai/whisper (release 20240930)
semantics in PyTorch, for the goldens of the C implementation (src/whisper/).

Written from the semantics of whisper/audio.py, model.py, tokenizer.py,
decoding.py and transcribe.py of that release (no code copied):

  audio     load_audio: the ffmpeg CLI (-nostdin -threads 0 -i F -f s16le -ac 1
            -acodec pcm_s16le -ar 16000 -), samples s16 / 32768.
  mel       log_mel_spectrogram(padding=480000): torch.stft(n_fft 400, hop 160,
            periodic Hann, center=True, reflect), last frame dropped, |X|^2,
            mel_filters.npz, log10(max(x, 1e-10)), max(x, max - 8), (x + 4) / 4.
  model     AudioEncoder (conv1 k3 p1, GELU(erf), conv2 k3 s2 p1, GELU, + the
            checkpoint's positional table, pre-LN residual attention blocks,
            ln_post); TextDecoder (token + learned positions, causal
            self-attention, cross-attention, MLP, ln, logits = x @ E^T).
            q and k are both scaled by head_dim^-0.25; key projections have no
            bias. The decoder recomputes the whole sequence at each step (no
            KV cache): that is the truth the C KV cache is checked against.
  tokenizer tiktoken semantics (GPT-2 split pattern with `regex`, rank-based
            merging), the specials laid out from n_vocab as get_encoding does.
  decoding  DecodingTask + GreedyDecoder + SuppressBlank, SuppressTokens("-1"),
            ApplyTimestampRules(max_initial_timestamp 1.0); sample_len =
            n_text_ctx // 2; the <|startofprev|> prompt; no_speech_prob at the
            sot position of the first step; avg_logprob = sum / (len + 1);
            compression ratio with zlib; detect_language.
  transcribe the 20240930 loop: seek/segment_size, pad_or_trim'd mel windows,
            decode_with_fallback over the temperatures (the silence clause of
            that release: no fallback once no_speech_prob > no_speech_threshold,
            whatever the log-prob), the no-speech skip, segment cutting at
            consecutive timestamps / single timestamp ending, seek advance,
            prompt_reset_since (condition_on_previous_text False or T > 0.5),
            empty/instantaneous segments cleared. Word timestamps, clip
            timestamps, initial_prompt, hallucination_silence_threshold, beam
            search and best_of are out of scope (their defaults).

  --dtype float64 is the truth for the goldens; float32 is what the original
  runs on a CPU (fp16=False). Sampling at T > 0 uses
  torch.distributions.Categorical with torch's generator, seeded per call:
  those windows cannot be compared with another implementation.

Models: a directory with model.safetensors in Hugging Face names (config.json
from WhisperConfig) or OpenAI names (ModelDimensions in config.json or in the
safetensors __metadata__ "dims"), tensors F32/F16/BF16. Tokenizer: a .tiktoken
file in the directory, else ../shared/whisper/{multilingual,gpt2}.tiktoken
by n_vocab (the HF vocab.json, if present, is checked against it).

CLI:  /usr/bin/python3 scripts/whisper_ref.py MODEL_DIR AUDIO [--language en]
          [--temperature 0 [0.2 ...]] [--no-condition] [--dtype float32]
prints the transcribe() result (and the per-window trace) as JSON.
"""
import argparse
import base64
import json
import math
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import regex
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "whisper")

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30
N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE  # 480000
N_FRAMES = N_SAMPLES // HOP_LENGTH      # 3000

# LANGUAGES of tokenizer.py, in its order (the order of the language tokens).
LANG_CODES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt "
    "la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc "
    "ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue").split()
assert len(LANG_CODES) == 100

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


# ----------------------------------------------------------------------------- safetensors

def st_read(path):
    """Returns ({name: np.ndarray}, metadata dict, {name: dtype string}). F16 stays float16,
    BF16 is widened to float32 exactly."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out, dts = {}, {}
    np_dt = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32, "I64": np.int64}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[base + b:base + end]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np_dt[e["dtype"]])
        out[name] = arr.reshape(e["shape"]).copy()
        dts[name] = e["dtype"]
    return out, header.get("__metadata__", {}) or {}, dts


# ----------------------------------------------------------------------------- audio

def load_audio(path, sr=SAMPLE_RATE):
    """The ffmpeg CLI exactly as whisper/audio.py runs it; returns (float32 samples, raw s16 bytes)."""
    cmd = ["ffmpeg", "-nostdin", "-threads", "0", "-i", path, "-f", "s16le", "-ac", "1",
           "-acodec", "pcm_s16le", "-ar", str(sr), "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.int16).flatten().astype(np.float32) / 32768.0, out


def mel_filters(n_mels):
    with np.load(os.path.join(SHARED, "mel_filters.npz"), allow_pickle=False) as f:
        return f[f"mel_{n_mels}"]


def log_mel_spectrogram(audio, n_mels, padding=N_SAMPLES, dtype=torch.float64):
    """audio: float32 numpy samples. Returns [n_mels, (n + padding) // 160] in dtype."""
    a = torch.from_numpy(np.asarray(audio, dtype=np.float32)).to(dtype)
    if padding > 0:
        a = F.pad(a, (0, padding))
    window = torch.hann_window(N_FFT, dtype=dtype)
    stft = torch.stft(a, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    mags = stft[..., :-1].abs() ** 2
    filt = torch.from_numpy(mel_filters(n_mels)).to(dtype)
    mel = filt @ mags
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def pad_or_trim(x, length=N_FRAMES):
    if x.shape[-1] > length:
        return x[..., :length]
    if x.shape[-1] < length:
        return F.pad(x, (0, length - x.shape[-1]))
    return x


# ----------------------------------------------------------------------------- tokenizer

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class Tokenizer:
    """tiktoken semantics over a rank file, with whisper's specials laid out from n_vocab."""

    def __init__(self, n_vocab, tiktoken_path=None, language=None, task=None):
        self.multilingual = n_vocab >= 51865
        self.num_languages = n_vocab - 51765 - int(self.multilingual)
        name = "multilingual" if self.multilingual else "gpt2"
        path = tiktoken_path or os.path.join(SHARED, name + ".tiktoken")
        self.ranks = {}
        with open(path) as f:
            for line in f:
                if line.strip():
                    tok, rank = line.split()
                    self.ranks[base64.b64decode(tok)] = int(rank)
        self.id_to_bytes = {v: k for k, v in self.ranks.items()}
        n_ranks = len(self.ranks)
        specials = ["<|endoftext|>", "<|startoftranscript|>"]
        specials += [f"<|{c}|>" for c in LANG_CODES[:self.num_languages]]
        specials += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                     "<|notimestamps|>"]
        specials += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
        self.special = {s: n_ranks + i for i, s in enumerate(specials)}
        self.special_by_id = {v: k for k, v in self.special.items()}
        if n_ranks + len(specials) != n_vocab:
            raise ValueError(f"{path}: {n_ranks} ranks + {len(specials)} specials != n_vocab {n_vocab}")
        sp = self.special
        self.eot = sp["<|endoftext|>"]
        self.sot = sp["<|startoftranscript|>"]
        self.translate = sp["<|translate|>"]
        self.transcribe = sp["<|transcribe|>"]
        self.sot_lm = sp["<|startoflm|>"]
        self.sot_prev = sp["<|startofprev|>"]
        self.no_speech = sp["<|nospeech|>"]
        self.no_timestamps = sp["<|notimestamps|>"]
        self.timestamp_begin = sp["<|0.00|>"]
        self.all_language_codes = LANG_CODES[:self.num_languages]
        self.all_language_tokens = [sp[f"<|{c}|>"] for c in self.all_language_codes]
        self.pat = regex.compile(GPT2_PAT)
        self.set_language(language, task)

    def set_language(self, language, task):
        """get_tokenizer(multilingual, language, task): English-only models get neither."""
        if not self.multilingual:
            language, task = None, None
        else:
            language = language or "en"
            task = task or "transcribe"
        self.language, self.task = language, task
        seq = [self.sot]
        if language is not None:
            seq.append(self.sot + 1 + LANG_CODES.index(language))
        if task is not None:
            seq.append(self.transcribe if task == "transcribe" else self.translate)
        self.sot_sequence = tuple(seq)
        return self

    def _bpe(self, piece):
        if piece in self.ranks:
            return [self.ranks[piece]]
        parts = [piece[i:i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best, bi = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get(parts[i] + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            parts[bi:bi + 2] = [parts[bi] + parts[bi + 1]]
        return [self.ranks[p] for p in parts]

    def encode(self, text):
        out = []
        for m in self.pat.findall(text):
            out.extend(self._bpe(m.encode("utf-8")))
        return out

    def decode_bytes(self, ids):
        b = []
        for t in ids:
            if t in self.id_to_bytes:
                b.append(self.id_to_bytes[t])
            else:
                b.append(self.special_by_id[t].encode())
        return b"".join(b)

    def decode(self, ids):
        """tokenizer.decode: timestamps dropped, other specials written as their names."""
        return self.decode_bytes([t for t in ids if t < self.timestamp_begin]).decode("utf-8", errors="replace")

    def non_speech_tokens(self):
        symbols = list("\"#()*+/:;<=>@[\\]^_`{|}~\u300c\u300d\u300e\u300f")
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} \u266a\u266a \u266a\u266a\u266a".split()
        misc = set("\u2669\u266a\u266b\u266c\u266d\u266e\u266f")
        result = {self.encode(" -")[0], self.encode(" '")[0]}
        for s in symbols + sorted(misc):
            for toks in (self.encode(s), self.encode(" " + s)):
                if len(toks) == 1 or s in misc:
                    result.add(toks[0])
        return tuple(sorted(result))

    def check_vocab_json(self, path):
        """The HF vocab.json (GPT-2 byte-to-unicode strings) must name the same ranks."""
        with open(path, encoding="utf-8") as f:
            vocab = json.load(f)
        dec = {v: k for k, v in bytes_to_unicode().items()}
        bad = 0
        for s, i in vocab.items():
            if i < len(self.ranks):
                if bytes(dec[c] for c in s) != self.id_to_bytes.get(i):
                    bad += 1
            elif self.special_by_id.get(i, s) != s:
                bad += 1
        if bad:
            raise ValueError(f"{path}: {bad} entries disagree with the tiktoken ranks")


# ----------------------------------------------------------------------------- model

HF_MAP = [("self_attn_layer_norm", "attn_ln"), ("encoder_attn_layer_norm", "cross_attn_ln"),
          ("final_layer_norm", "mlp_ln"), ("self_attn.", "attn."), ("encoder_attn.", "cross_attn."),
          ("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"), ("out_proj", "out"),
          ("fc1", "mlp.0"), ("fc2", "mlp.2")]


def hf_to_openai(name):
    n = name[len("model."):] if name.startswith("model.") else name
    if n == "encoder.embed_positions.weight":
        return "encoder.positional_embedding"
    if n == "decoder.embed_positions.weight":
        return "decoder.positional_embedding"
    if n.startswith("decoder.embed_tokens."):
        return "decoder.token_embedding." + n.split(".")[-1]
    if n.startswith("encoder.layer_norm."):
        return "encoder.ln_post." + n.split(".")[-1]
    if n.startswith("decoder.layer_norm."):
        return "decoder.ln." + n.split(".")[-1]
    n = n.replace(".layers.", ".blocks.")
    for a, b in HF_MAP:
        n = n.replace(a, b)
    return n


def model_dims(d, meta):
    """ModelDimensions from config.json (HF WhisperConfig or OpenAI keys) or metadata "dims"."""
    cfg = None
    if os.path.exists(os.path.join(d, "config.json")):
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
    elif "dims" in meta:
        cfg = json.loads(meta["dims"])
    else:
        raise ValueError(f"{d}: no config.json and no dims metadata")
    if "n_mels" in cfg:
        return {k: int(cfg[k]) for k in ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                                         "n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer")}
    return dict(n_mels=cfg["num_mel_bins"], n_audio_ctx=cfg["max_source_positions"], n_audio_state=cfg["d_model"],
                n_audio_head=cfg["encoder_attention_heads"], n_audio_layer=cfg["encoder_layers"],
                n_vocab=cfg["vocab_size"], n_text_ctx=cfg["max_target_positions"], n_text_state=cfg["d_model"],
                n_text_head=cfg["decoder_attention_heads"], n_text_layer=cfg["decoder_layers"])


class Whisper:
    def __init__(self, model_dir, dtype=torch.float64, weights=None, dims=None):
        self.dir = model_dir
        self.dtype = dtype
        if weights is None:
            raw, meta, self.file_dtypes = st_read(os.path.join(model_dir, "model.safetensors"))
            dims = model_dims(model_dir, meta)
        else:
            raw = weights
        self.dims = dims
        w = {}
        for k, v in raw.items():
            name = hf_to_openai(k) if k.startswith("model.") else k
            w[name] = torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype)
        if "decoder.token_embedding.weight" not in w:
            raise ValueError(f"{model_dir}: no decoder token embedding (names: {sorted(raw)[:4]}...)")
        self.w = w
        self.n_vocab = dims["n_vocab"]
        self.is_multilingual = self.n_vocab >= 51865
        self.num_languages = self.n_vocab - 51765 - int(self.is_multilingual)

    def _lin(self, x, p, bias=True):
        b = self.w.get(p + ".bias") if bias else None
        return F.linear(x, self.w[p + ".weight"], b)

    def _ln(self, x, p):
        return F.layer_norm(x, (x.shape[-1],), self.w[p + ".weight"], self.w[p + ".bias"], 1e-5)

    def _attn(self, x, kv, p, n_head, causal, kv_cache=None):
        q = self._lin(x, p + ".query")
        if kv_cache is not None:
            k, v = kv_cache
        else:
            k = self._lin(kv, p + ".key", bias=False)
            v = self._lin(kv, p + ".value")
        T, D = q.shape
        hd = D // n_head
        scale = hd ** -0.25
        qh = (q.view(T, n_head, hd).transpose(0, 1)) * scale
        kh = (k.view(-1, n_head, hd).transpose(0, 1)) * scale
        vh = v.view(-1, n_head, hd).transpose(0, 1)
        s = qh @ kh.transpose(-1, -2)
        if causal:
            s = s + torch.full((T, T), float("-inf"), dtype=s.dtype).triu(1)
        a = torch.softmax(s, dim=-1) @ vh
        return self._lin(a.transpose(0, 1).reshape(T, D), p + ".out")

    def _mlp(self, x, p):
        return self._lin(F.gelu(self._lin(x, p + ".mlp.0")), p + ".mlp.2")

    @torch.no_grad()
    def encoder(self, mel):
        """mel [n_mels, 3000] -> [n_audio_ctx, n_audio_state]."""
        w = self.w
        x = mel.to(self.dtype)[None]
        x = F.gelu(F.conv1d(x, w["encoder.conv1.weight"], w["encoder.conv1.bias"], padding=1))
        x = F.gelu(F.conv1d(x, w["encoder.conv2.weight"], w["encoder.conv2.bias"], stride=2, padding=1))
        x = x[0].transpose(0, 1)
        x = x + w["encoder.positional_embedding"][:x.shape[0]]
        for i in range(self.dims["n_audio_layer"]):
            p = f"encoder.blocks.{i}"
            x = x + self._attn(self._ln(x, p + ".attn_ln"), self._ln(x, p + ".attn_ln"), p + ".attn",
                               self.dims["n_audio_head"], False)
            x = x + self._mlp(self._ln(x, p + ".mlp_ln"), p)
        return self._ln(x, "encoder.ln_post")

    @torch.no_grad()
    def cross_kv(self, xa):
        """The cross-attention keys/values of every decoder layer (a pure function of xa)."""
        return [(self._lin(xa, f"decoder.blocks.{i}.cross_attn.key", bias=False),
                 self._lin(xa, f"decoder.blocks.{i}.cross_attn.value"))
                for i in range(self.dims["n_text_layer"])]

    @torch.no_grad()
    def logits(self, tokens, ckv, positions=None):
        """Full recompute over tokens (list of ids); logits [len(positions), n_vocab] at positions
        (default: all)."""
        w = self.w
        t = torch.tensor(tokens, dtype=torch.long)
        x = w["decoder.token_embedding.weight"][t] + w["decoder.positional_embedding"][:len(tokens)]
        for i in range(self.dims["n_text_layer"]):
            p = f"decoder.blocks.{i}"
            x = x + self._attn(self._ln(x, p + ".attn_ln"), self._ln(x, p + ".attn_ln"), p + ".attn",
                               self.dims["n_text_head"], True)
            x = x + self._attn(self._ln(x, p + ".cross_attn_ln"), None, p + ".cross_attn",
                               self.dims["n_text_head"], False, kv_cache=ckv[i])
            x = x + self._mlp(self._ln(x, p + ".mlp_ln"), p)
        x = self._ln(x, "decoder.ln")
        if positions is not None:
            x = x[positions]
        return x @ w["decoder.token_embedding.weight"].T


def open_tokenizer(model_dir, n_vocab):
    tk = None
    for fn in sorted(os.listdir(model_dir)):
        if fn.endswith(".tiktoken"):
            tk = os.path.join(model_dir, fn)
    tok = Tokenizer(n_vocab, tk)
    vj = os.path.join(model_dir, "vocab.json")
    if os.path.exists(vj):
        tok.check_vocab_json(vj)
    return tok


# ----------------------------------------------------------------------------- decoding

def compression_ratio(text):
    b = text.encode("utf-8")
    return len(b) / len(zlib.compress(b))


def detect_language(model, tok, mel_segment):
    """model.detect_language on one [n_mels, 3000] segment -> (code, {code: prob} in LANGUAGES order)."""
    xa = model.encoder(mel_segment)
    lg = model.logits([tok.sot], model.cross_kv(xa))[0].clone()
    mask = torch.ones(lg.shape[-1], dtype=torch.bool)
    mask[tok.all_language_tokens] = False
    lg[mask] = float("-inf")
    probs = lg.softmax(dim=-1)
    d = {c: probs[t].item() for t, c in zip(tok.all_language_tokens, tok.all_language_codes)}
    return max(d, key=d.get), d


class Options:
    def __init__(self, temperature=0.0, language="en", task="transcribe", prompt=None, suppress_tokens="-1",
                 suppress_blank=True, without_timestamps=False, max_initial_timestamp=1.0, sample_len=None):
        self.__dict__.update(locals())
        del self.__dict__["self"]


def _suppress_list(tok, spec):
    if isinstance(spec, str):
        spec = [int(t) for t in spec.split(",")] if spec else []
    spec = list(spec or [])
    if -1 in spec:
        spec = [t for t in spec if t >= 0]
        spec.extend(tok.non_speech_tokens())
    spec.extend([tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech])
    return sorted(set(spec))


def apply_timestamp_rules(tok, logits, seq, sample_begin, max_initial_index):
    """ApplyTimestampRules on one sequence (seq = all tokens so far). Returns 1 when the
    forced-timestamp rule fired."""
    tb = tok.timestamp_begin
    logits[tok.no_timestamps] = float("-inf")
    sampled = seq[sample_begin:]
    last_ts = len(sampled) >= 1 and sampled[-1] >= tb
    pen_ts = len(sampled) < 2 or sampled[-2] >= tb
    if last_ts:
        if pen_ts:
            logits[tb:] = float("-inf")
        else:
            logits[:tok.eot] = float("-inf")
    ts = [t for t in sampled if t >= tb]
    if ts:
        last = ts[-1] if (last_ts and not pen_ts) else ts[-1] + 1
        logits[tb:last] = float("-inf")
    if len(seq) == sample_begin:
        logits[:tb] = float("-inf")
        if max_initial_index is not None:
            logits[tb + max_initial_index + 1:] = float("-inf")
    lp = F.log_softmax(logits, dim=-1)
    if lp[tb:].logsumexp(dim=-1) > lp[:tb].max():
        logits[:tb] = float("-inf")
        return 1
    return 0


def decode(model, tok, mel_segment, opt, xa=None, generator=None):
    """DecodingTask.run for one segment with GreedyDecoder. Returns a dict with the
    DecodingResult fields plus a trace (per step at T = 0: top-1 id, top-1 - top-2 gap of the
    filtered logits; the forced-timestamp count; why the loop ended)."""
    tok.set_language(opt.language, opt.task)
    n_ctx = model.dims["n_text_ctx"]
    sample_len = opt.sample_len or n_ctx // 2
    sot_seq = list(tok.sot_sequence)
    if opt.without_timestamps:
        sot_seq.append(tok.no_timestamps)
    initial = list(sot_seq)
    if opt.prompt:
        p = tok.encode(" " + opt.prompt.strip()) if isinstance(opt.prompt, str) else list(opt.prompt)
        initial = [tok.sot_prev] + p[-(n_ctx // 2 - 1):] + initial
    sample_begin = len(initial)
    sot_index = initial.index(tok.sot)
    suppress = _suppress_list(tok, opt.suppress_tokens) if opt.suppress_tokens else None
    blank = tok.encode(" ") + [tok.eot]
    max_init = None
    if not opt.without_timestamps and opt.max_initial_timestamp:
        max_init = round(opt.max_initial_timestamp / (CHUNK_LENGTH / model.dims["n_audio_ctx"]))
    if xa is None:
        xa = model.encoder(mel_segment)
    ckv = model.cross_kv(xa)
    tokens = list(initial)
    sum_lp = torch.zeros((), dtype=model.dtype)
    no_speech_prob = float("nan")
    gaps, forced, end = [], 0, "sample_len"
    for i in range(sample_len):
        if i == 0:
            lg = model.logits(tokens, ckv, [sot_index, len(tokens) - 1])
            no_speech_prob = lg[0].softmax(dim=-1)[tok.no_speech].item()
            logits = lg[1].clone()
        else:
            logits = model.logits(tokens, ckv, [len(tokens) - 1])[0].clone()
        if opt.suppress_blank and len(tokens) == sample_begin:
            logits[blank] = float("-inf")
        if suppress:
            logits[suppress] = float("-inf")
        if not opt.without_timestamps:
            forced += apply_timestamp_rules(tok, logits, tokens, sample_begin, max_init)
        if opt.temperature == 0:
            nxt = int(logits.argmax().item())
            top = torch.topk(logits, 2)
            g = (top.values[0] - top.values[1]).item()
            gaps.append(g if math.isfinite(g) else None)
        else:
            nxt = int(torch.distributions.Categorical(logits=logits / opt.temperature).sample().item())
        lp = F.log_softmax(logits, dim=-1)[nxt]
        sum_lp = sum_lp + lp
        tokens.append(nxt)
        if nxt == tok.eot:
            end = "eot"
            break
        if len(tokens) > n_ctx:
            end = "n_ctx"
            break
    out = tokens[sample_begin:]
    if tok.eot in out:
        out = out[:out.index(tok.eot)]
    text = tok.decode(out).strip()
    s = sum_lp.item()
    return dict(tokens=out, text=text, sum_logprob=s, avg_logprob=s / (len(out) + 1), no_speech_prob=no_speech_prob,
                temperature=opt.temperature, compression_ratio=compression_ratio(text), language=opt.language,
                gaps=gaps, forced_ts=forced, end=end, prompt_len=len(initial) - len(sot_seq))


# ----------------------------------------------------------------------------- transcribe

def transcribe(model, tok, mel, temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), compression_ratio_threshold=2.4,
               logprob_threshold=-1.0, no_speech_threshold=0.6, condition_on_previous_text=True, language=None,
               task="transcribe", seed=0):
    """transcribe() of 20240930 on a precomputed padded mel ([n_mels, content + 3000]). Returns the
    reference's result dict plus "windows" (one record per decoded window)."""
    gen_seed = seed
    temps = [temperature] if isinstance(temperature, (int, float)) else list(temperature)
    content_frames = mel.shape[-1] - N_FRAMES
    lang_probs = None
    if language is None:
        if not model.is_multilingual:
            language = "en"
        else:
            language, lang_probs = detect_language(model, tok, pad_or_trim(mel, N_FRAMES))
    tok.set_language(language, task)
    input_stride = N_FRAMES // model.dims["n_audio_ctx"]
    time_precision = input_stride * HOP_LENGTH / SAMPLE_RATE
    seek = 0
    all_tokens, all_segments, windows = [], [], []
    prompt_reset_since = 0
    while seek < content_frames:
        time_offset = float(seek * HOP_LENGTH / SAMPLE_RATE)
        segment_size = min(N_FRAMES, content_frames - seek)
        mel_segment = pad_or_trim(mel[:, seek:seek + segment_size], N_FRAMES)
        segment_duration = segment_size * HOP_LENGTH / SAMPLE_RATE
        prompt = all_tokens[prompt_reset_since:]
        xa = model.encoder(mel_segment)
        attempts = []
        result = None
        for t in temps:
            torch.manual_seed(gen_seed)
            gen_seed += 1
            result = decode(model, tok, None, Options(temperature=t, language=language, task=task, prompt=prompt),
                            xa=xa)
            nf = False
            if compression_ratio_threshold is not None and result["compression_ratio"] > compression_ratio_threshold:
                nf = True
            if logprob_threshold is not None and result["avg_logprob"] < logprob_threshold:
                nf = True
            if no_speech_threshold is not None and result["no_speech_prob"] > no_speech_threshold:
                nf = False  # silence (the 20240930 clause: no log-prob condition)
            result["needs_fallback"] = nf
            attempts.append(result)
            if not nf:
                break
        win = dict(seek=seek, segment_size=segment_size, prompt_len=len(prompt[-(model.dims["n_text_ctx"] // 2 - 1):]),
                   attempts=attempts, skipped=False)
        windows.append(win)
        tokens = result["tokens"]
        if no_speech_threshold is not None:
            should_skip = result["no_speech_prob"] > no_speech_threshold
            if logprob_threshold is not None and result["avg_logprob"] > logprob_threshold:
                should_skip = False
            if should_skip:
                win["skipped"] = True
                seek += segment_size
                win["seek_after"] = seek
                continue

        def new_segment(start, end, toks):
            text_tokens = [x for x in toks if x < tok.eot]
            return dict(seek=seek, start=start, end=end, text=tok.decode(text_tokens), tokens=list(toks),
                        temperature=result["temperature"], avg_logprob=result["avg_logprob"],
                        compression_ratio=result["compression_ratio"], no_speech_prob=result["no_speech_prob"])

        current = []
        tb = tok.timestamp_begin
        is_ts = [x >= tb for x in tokens]
        single_ending = is_ts[-2:] == [False, True]
        consecutive = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]
        if consecutive:
            slices = list(consecutive)
            if single_ending:
                slices.append(len(tokens))
            last_slice = 0
            for cur in slices:
                sl = tokens[last_slice:cur]
                current.append(new_segment(time_offset + (sl[0] - tb) * time_precision,
                                           time_offset + (sl[-1] - tb) * time_precision, sl))
                last_slice = cur
            if single_ending:
                seek += segment_size
                win["cut"] = "pairs+single_ending"
            else:
                seek += (tokens[last_slice - 1] - tb) * input_stride
                win["cut"] = "pairs"
        else:
            duration = segment_duration
            ts = [x for x in tokens if x >= tb]
            if ts and ts[-1] != tb:
                duration = (ts[-1] - tb) * time_precision
            current.append(new_segment(time_offset, time_offset + duration, tokens))
            seek += segment_size
            win["cut"] = "single" if ts and ts[-1] != tb else "none"
        for s in current:
            if s["start"] == s["end"] or s["text"].strip() == "":
                s["text"] = ""
                s["tokens"] = []
        for s in current:
            all_segments.append(dict(id=len(all_segments), **s))
        all_tokens.extend([x for s in current for x in s["tokens"]])
        if not condition_on_previous_text or result["temperature"] > 0.5:
            prompt_reset_since = len(all_tokens)
        win["seek_after"] = seek
    return dict(text=tok.decode(all_tokens), segments=all_segments, language=language, windows=windows,
                language_probs=lang_probs, content_frames=content_frames)


def load_model(model_dir, dtype=torch.float64):
    m = Whisper(model_dir, dtype)
    return m, open_tokenizer(model_dir, m.n_vocab)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("audio")
    ap.add_argument("--language", default=None)
    ap.add_argument("--temperature", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ap.add_argument("--no-condition", action="store_true", help="condition_on_previous_text=False")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    a = ap.parse_args()
    dt = torch.float64 if a.dtype == "float64" else torch.float32
    model, tok = load_model(a.model, dt)
    audio, _ = load_audio(a.audio)
    mel = log_mel_spectrogram(audio, model.dims["n_mels"], dtype=dt)
    r = transcribe(model, tok, mel, temperature=tuple(a.temperature), language=a.language,
                   condition_on_previous_text=not a.no_condition)
    json.dump(r, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
