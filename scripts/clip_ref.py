"""clip_ref.py - reference CLIP (Hugging Face CLIPModel semantics) in PyTorch,
plus a dependency-free safetensors reader/writer.

Used by scripts/gen_tiny_models.py (golden outputs for the C tests) and by
bench/bench_torch.py (the PyTorch side of `mediagrep bench encoder`). The
forward pass follows transformers' modeling_clip.py: patch conv, class token,
position embeddings, pre-LN, pre-LN blocks (q scaled by head_dim^-0.5),
post-LN on the class token, projection; text: token + position embeddings,
causal mask, final LN, pooled at the first EOT token, projection.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32,
             "I64": np.int64, "U8": np.uint8, "BF16": None}


def st_save(path, tensors, metadata=None):
    """tensors: list of (name, np.ndarray, dtype_name). dtype_name F32/F16/BF16/I32/U8."""
    header = {}
    blobs = []
    off = 0
    for name, arr, dt in tensors:
        arr = np.ascontiguousarray(arr)
        if dt == "BF16":
            a32 = np.ascontiguousarray(arr, dtype=np.float32)
            u = a32.view(np.uint32).astype(np.uint64)
            u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
            raw = u.astype(np.uint16).tobytes()
        else:
            raw = arr.astype(ST_DTYPES[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
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


def st_load(path):
    """Returns {name: np.ndarray} (BF16 widened to float32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[base + b:base + end]
        if e["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=ST_DTYPES[e["dtype"]])
        out[name] = arr.reshape(e["shape"]).copy()
    return out


def bf16_round(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def act_fn(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return lambda x: F.gelu(x)
    raise ValueError(name)


class RefCLIP:
    """CLIP forward from a dict of HF-named tensors (torch tensors, any float dtype)."""

    def __init__(self, cfg, w, dtype=torch.float64):
        self.cfg = cfg
        self.dtype = dtype
        self.w = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in w.items()
                  if np.asarray(v).dtype.kind == "f"}

    def _block(self, x, p, heads, act, eps, causal):
        w = self.w
        B, S, D = x.shape
        hd = D // heads
        r = x
        h = F.layer_norm(x, (D,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)
        q = F.linear(h, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]) * hd ** -0.5
        k = F.linear(h, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"])
        v = F.linear(h, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"])
        q, k, v = (t.view(B, S, heads, hd).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2)
        if causal:
            mask = torch.full((S, S), float("-inf"), dtype=s.dtype).triu(1)
            s = s + mask
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, S, D)
        x = r + F.linear(a, w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"])
        r = x
        h = F.layer_norm(x, (D,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
        h = act(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"]))
        return r + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])

    @torch.no_grad()
    def encode_image(self, pixels):
        """pixels: [B,3,S,S] normalized. Returns raw (unnormalized) embeddings [B,P]."""
        c = self.cfg["vision_config"]
        w = self.w
        x = torch.as_tensor(pixels).to(self.dtype)
        P = c["patch_size"]
        D = c["hidden_size"]
        e = F.conv2d(x, w["vision_model.embeddings.patch_embedding.weight"], stride=P)
        e = e.flatten(2).transpose(1, 2)
        cls = w["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, D)
        h = torch.cat([cls, e], dim=1) + w["vision_model.embeddings.position_embedding.weight"][None]
        eps = c.get("layer_norm_eps", 1e-5)
        h = F.layer_norm(h, (D,), w["vision_model.pre_layrnorm.weight"], w["vision_model.pre_layrnorm.bias"], eps)
        act = act_fn(c.get("hidden_act", "quick_gelu"))
        for i in range(c["num_hidden_layers"]):
            h = self._block(h, f"vision_model.encoder.layers.{i}.", c["num_attention_heads"], act, eps, False)
        pooled = F.layer_norm(h[:, 0], (D,), w["vision_model.post_layernorm.weight"],
                              w["vision_model.post_layernorm.bias"], eps)
        return pooled @ w["visual_projection.weight"].T

    @torch.no_grad()
    def encode_text(self, ids):
        """ids: list of int lists (SOT..EOT). Returns raw embeddings [B,P]."""
        c = self.cfg["text_config"]
        w = self.w
        D = c["hidden_size"]
        eps = c.get("layer_norm_eps", 1e-5)
        act = act_fn(c.get("hidden_act", "quick_gelu"))
        L = c.get("max_position_embeddings", 77)
        t = torch.zeros((len(ids), L), dtype=torch.long)
        for i, s in enumerate(ids):
            t[i, :len(s)] = torch.tensor(s)
        h = w["text_model.embeddings.token_embedding.weight"][t] + \
            w["text_model.embeddings.position_embedding.weight"][:L][None]
        for i in range(c["num_hidden_layers"]):
            h = self._block(h, f"text_model.encoder.layers.{i}.", c["num_attention_heads"], act, eps, True)
        h = F.layer_norm(h, (D,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"], eps)
        eos = c.get("eos_token_id", 2)
        if eos == 2:   # legacy HF configs: pool at the highest id (EOT)
            pos = t.argmax(dim=-1)
        else:
            pos = (t == eos).int().argmax(dim=-1)
        pooled = h[torch.arange(len(ids)), pos]
        return pooled @ w["text_projection.weight"].T


def normalize_crop(crop_u8, mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711)):
    """HWC uint8 -> CHW float32 exactly as torchvision ToTensor + Normalize."""
    x = torch.from_numpy(np.ascontiguousarray(crop_u8)).permute(2, 0, 1).float().div(255)
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (x - m) / s


def pil_preprocess(path, size):
    """OpenAI CLIP's preprocess as Pillow + torchvision run it; returns the HWC uint8 crop."""
    from PIL import Image
    im = Image.open(path)
    w, h = im.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BICUBIC)
    left = int(round((nw - size) / 2.0))
    top = int(round((nh - size) / 2.0))
    im = im.crop((left, top, left + size, top + size)).convert("RGB")
    return np.asarray(im, dtype=np.uint8)
