#!/usr/bin/python3
"""gen_mel_golden.py - the reference log-mel for tests/test_mel.c.

openai/whisper's audio.log_mel_spectrogram(audio, n_mels, padding), written
out with the same torch calls (torch.stft n_fft 400, hop 160, periodic Hann,
centre/reflect, [..., :-1], |.|**2, filters @, clamp 1e-10, log10, max - 8,
(x + 4) / 4), once in float32 (what whisper computes) and once in float64
(float64 window and signal; the float32 filters of mel_filters.npz widened).

Usage (run with /usr/bin/python3, which has torch and numpy):
  gen_mel_golden.py ref DIR      reads DIR/cases.txt (lines "name n_mels pad";
                                 the signal is DIR/name.s16, raw s16le mono),
                                 writes DIR/name.f32 (float32) and
                                 DIR/name.f64 (float64), row-major
                                 [n_mels][n_frames]
  gen_mel_golden.py golden DIR OUT
                                 as ref, plus the small committed golden OUT
                                 (per case: the signal's FNV-1a 64 hash, the
                                 frame count, the float64 global max, and a
                                 few whole frames of the float64 result)
  gen_mel_golden.py decode FILE OUT.s16
                                 decodes with whisper's ffmpeg command
The test (test_mel) writes the signals and cases.txt, then runs `ref`.
"""
import os
import subprocess
import sys

import numpy as np
import torch

N_FFT, HOP = 400, 160
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "whisper")


def filters(n_mels):
    with np.load(os.path.join(SHARED, "mel_filters.npz")) as f:
        return torch.from_numpy(f[f"mel_{n_mels}"])


def log_mel(audio, n_mels, padding, dtype):
    """audio: float32 numpy array (s16 / 32768)."""
    x = torch.from_numpy(audio).to(dtype)
    if padding > 0:
        x = torch.nn.functional.pad(x, (0, padding))
    window = torch.hann_window(N_FFT, dtype=dtype)
    stft = torch.stft(x, N_FFT, HOP, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = filters(n_mels).to(dtype) @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    gmax = log_spec.max()
    log_spec = torch.maximum(log_spec, gmax - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    return log_spec.numpy(), float(gmax)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def cases(d):
    with open(os.path.join(d, "cases.txt")) as f:
        for line in f:
            if line.strip():
                name, n_mels, pad = line.split()
                yield name, int(n_mels), int(pad)


def pick_frames(n_samples, n_frames):
    content = n_samples // HOP
    want = [0, 1, 2, content // 2, content - 1, content, content + 1, n_frames - 1]
    return sorted({t for t in want if 0 <= t < n_frames})


def main():
    mode = sys.argv[1]
    if mode == "decode":
        pcm = subprocess.run(["ffmpeg", "-nostdin", "-threads", "0", "-i", sys.argv[2], "-f", "s16le", "-ac", "1",
                              "-acodec", "pcm_s16le", "-ar", "16000", "-"], capture_output=True, check=True).stdout
        with open(sys.argv[3], "wb") as f:
            f.write(pcm)
        return
    d = sys.argv[2]
    golden = []
    for name, n_mels, pad in cases(d):
        raw = open(os.path.join(d, name + ".s16"), "rb").read()
        audio = np.frombuffer(raw, np.int16).flatten().astype(np.float32) / 32768.0
        m32, _ = log_mel(audio, n_mels, pad, torch.float32)
        m64, gmax64 = log_mel(audio, n_mels, pad, torch.float64)
        m32.astype(np.float32).tofile(os.path.join(d, name + ".f32"))
        m64.astype(np.float64).tofile(os.path.join(d, name + ".f64"))
        if mode == "golden":
            nf = m64.shape[1]
            golden.append(f"case {name} {n_mels} {pad} {len(audio)} {fnv1a64(raw):016x} {nf} {gmax64:.17g}")
            for t in pick_frames(len(audio), nf):
                golden.append(f"frame {t} " + " ".join(f"{v:.17g}" for v in m64[:, t]))
    if mode == "golden":
        with open(sys.argv[3], "w") as f:
            f.write("# gen_mel_golden.py golden: float64 reference frames (see tests/test_mel.c)\n")
            f.write("\n".join(golden) + "\n")


if __name__ == "__main__":
    main()
