#!/usr/bin/env python3
"""gen_tiny_models.py - deterministic tiny random CLIP models in the real
Hugging Face layout (config.json, model.safetensors, vocab.json, merges.txt),
and golden outputs from the reference forward (scripts/clip_ref.py).

  gen_tiny_models.py --out DIR            models only (numpy; what ctest runs)
  gen_tiny_models.py --out DIR --goldens  also recompute tests/golden/models/*
                                          (needs python3-torch, python3-pil)

Weights come from numpy's legacy RandomState (stable across numpy versions),
so the models regenerate bit-identically; the goldens record each model's
sha256 and the C tests check it before comparing.

The presets cover what the C side must not get wrong: patch 32 and 16,
non-default head counts (head_dim 16 and 32), a projection that is not
square, quick_gelu and exact gelu, LayerNorm weights and every bias away from
0/1, legacy (2) and explicit (49407) eos_token_id, and the OpenAI/OpenCLIP
tensor naming (fused in_proj, transposed projections) stored as F16/BF16.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import st_save, st_load, bf16_round  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PRESETS = {
    # ViT layout at the real 224 input (7x7 patches), tiny widths.
    "tiny-p32": dict(seed=1, image_size=224, patch=32, vd=64, vheads=4, vlayers=2, vint=256,
                     td=48, theads=3, tlayers=2, tint=96, proj=40, act="quick_gelu", eps=1e-5,
                     eos=49407, naming="hf", dtype="F32"),
    "tiny-p16-gelu": dict(seed=2, image_size=64, patch=16, vd=96, vheads=6, vlayers=3, vint=200,
                          td=64, theads=2, tlayers=2, tint=160, proj=32, act="gelu", eps=1e-6,
                          eos=2, naming="hf", dtype="F32"),
    # Same weights as tiny-p32 under OpenAI names, F16 / BF16 on disk.
    "tiny-p32-openai-f16": dict(base="tiny-p32", naming="openai", dtype="F16"),
    "tiny-p32-bf16": dict(base="tiny-p32", naming="hf", dtype="BF16"),
}


def make_weights(p):
    rs = np.random.RandomState(p["seed"])
    w = {}

    def lin(name, n_out, n_in, bias=True, gain=1.0):
        w[name + ".weight"] = (rs.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)).astype(np.float32)
        if bias:
            w[name + ".bias"] = (rs.standard_normal(n_out) * 0.05).astype(np.float32)

    def ln(name, d):
        w[name + ".weight"] = (1.0 + rs.standard_normal(d) * 0.1).astype(np.float32)
        w[name + ".bias"] = (rs.standard_normal(d) * 0.1).astype(np.float32)

    def tower(pre, d, layers, inter):
        for i in range(layers):
            q = f"{pre}.encoder.layers.{i}."
            ln(q + "layer_norm1", d)
            for n in ("q_proj", "k_proj", "v_proj"):
                lin(q + "self_attn." + n, d, d, gain=1.5)
            lin(q + "self_attn.out_proj", d, d)
            ln(q + "layer_norm2", d)
            lin(q + "mlp.fc1", inter, d, gain=1.2)
            lin(q + "mlp.fc2", d, inter)

    vd, td, P = p["vd"], p["td"], p["patch"]
    g = p["image_size"] // P
    w["vision_model.embeddings.class_embedding"] = (rs.standard_normal(vd) * 0.5).astype(np.float32)
    w["vision_model.embeddings.patch_embedding.weight"] = (
        rs.standard_normal((vd, 3, P, P)) / np.sqrt(3 * P * P)).astype(np.float32)
    w["vision_model.embeddings.position_embedding.weight"] = (
        rs.standard_normal((g * g + 1, vd)) * 0.3).astype(np.float32)
    ln("vision_model.pre_layrnorm", vd)
    tower("vision_model", vd, p["vlayers"], p["vint"])
    ln("vision_model.post_layernorm", vd)
    lin("visual_projection", p["proj"], vd, bias=False)
    w["text_model.embeddings.token_embedding.weight"] = (rs.standard_normal((49408, td)) * 0.5).astype(np.float32)
    w["text_model.embeddings.position_embedding.weight"] = (rs.standard_normal((77, td)) * 0.3).astype(np.float32)
    tower("text_model", td, p["tlayers"], p["tint"])
    ln("text_model.final_layer_norm", td)
    lin("text_projection", p["proj"], td, bias=False)
    w["logit_scale"] = np.array(np.log(1 / 0.07), dtype=np.float32)
    return w


def to_openai(w, p):
    """HF names -> OpenAI CLIP state-dict names (fused qkv, transposed projections)."""
    o = {}
    for tower, pre, opre in (("v", "vision_model", "visual."), ("t", "text_model", "")):
        layers = p["vlayers"] if tower == "v" else p["tlayers"]
        for i in range(layers):
            s = f"{pre}.encoder.layers.{i}."
            d = f"{opre}transformer.resblocks.{i}."
            o[d + "attn.in_proj_weight"] = np.concatenate(
                [w[s + f"self_attn.{n}_proj.weight"] for n in "qkv"], 0)
            o[d + "attn.in_proj_bias"] = np.concatenate([w[s + f"self_attn.{n}_proj.bias"] for n in "qkv"], 0)
            for a, b in (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
                         ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
                o[d + b + ".weight"] = w[s + a + ".weight"]
                o[d + b + ".bias"] = w[s + a + ".bias"]
    o["visual.class_embedding"] = w["vision_model.embeddings.class_embedding"]
    o["visual.conv1.weight"] = w["vision_model.embeddings.patch_embedding.weight"]
    o["visual.positional_embedding"] = w["vision_model.embeddings.position_embedding.weight"]
    for a, b in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        o[f"visual.{b}.weight"] = w[f"vision_model.{a}.weight"]
        o[f"visual.{b}.bias"] = w[f"vision_model.{a}.bias"]
    o["visual.proj"] = np.ascontiguousarray(w["visual_projection.weight"].T)
    o["token_embedding.weight"] = w["text_model.embeddings.token_embedding.weight"]
    o["positional_embedding"] = w["text_model.embeddings.position_embedding.weight"]
    o["ln_final.weight"] = w["text_model.final_layer_norm.weight"]
    o["ln_final.bias"] = w["text_model.final_layer_norm.bias"]
    o["text_projection"] = np.ascontiguousarray(w["text_projection.weight"].T)
    o["logit_scale"] = w["logit_scale"]
    return o


def config_json(p):
    return {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": p["proj"],
        "logit_scale_init_value": 2.6592, "torch_dtype": "float32",
        "text_config": {"hidden_size": p["td"], "intermediate_size": p["tint"], "num_attention_heads": p["theads"],
                        "num_hidden_layers": p["tlayers"], "hidden_act": p["act"], "layer_norm_eps": p["eps"],
                        "max_position_embeddings": 77, "vocab_size": 49408, "eos_token_id": p["eos"],
                        "bos_token_id": 49406, "pad_token_id": 1, "projection_dim": p["proj"],
                        "model_type": "clip_text_model"},
        "vision_config": {"hidden_size": p["vd"], "intermediate_size": p["vint"], "num_attention_heads": p["vheads"],
                          "num_hidden_layers": p["vlayers"], "hidden_act": p["act"], "layer_norm_eps": p["eps"],
                          "image_size": p["image_size"], "patch_size": p["patch"], "num_channels": 3,
                          "projection_dim": p["proj"], "model_type": "clip_vision_model"},
    }


def tokenizer_dir():
    for d in (os.path.join(ROOT, "assets", "clip-tokenizer"), os.path.join(ROOT, "..", "shared", "clip-tokenizer")):
        if os.path.exists(os.path.join(d, "vocab.json")):
            return d
    sys.exit("gen_tiny_models: vocab.json/merges.txt not found in assets/clip-tokenizer or ../shared")


def resolve(name):
    p = dict(PRESETS[name])
    if "base" in p:
        b = dict(PRESETS[p.pop("base")])
        b.update(p)
        p = b
    return p


def write_model(name, out):
    p = resolve(name)
    w = make_weights(p)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tensors = to_openai(w, p) if p["naming"] == "openai" else w
    st_save(os.path.join(d, "model.safetensors"),
            [(k, v, p["dtype"]) for k, v in sorted(tensors.items())], metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json(p), f, indent=2)
    td = tokenizer_dir()
    for fn in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(td, fn), os.path.join(d, fn))
    return d, p, w


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


TEXTS = ["a photo of a cat", "a dog catching a frisbee", "", "A red car parked on a street at night!",
         "x " * 100]


def make_goldens(name, d, p, w):
    import torch
    from clip_ref import RefCLIP, normalize_crop, pil_preprocess
    import ref_tokenizer
    # weights as stored on disk (F16/BF16 rounding included)
    if p["dtype"] == "F16":
        w = {k: v.astype(np.float16).astype(np.float32) for k, v in w.items()}
    elif p["dtype"] == "BF16":
        w = {k: bf16_round(v) for k, v in w.items()}
    cfg = config_json(p)
    ref = RefCLIP(cfg, w, torch.float64)
    S = p["image_size"]
    rs = np.random.RandomState(1000 + p["seed"])
    crops = [rs.randint(0, 256, (S, S, 3)).astype(np.uint8)]
    # smooth gradient image (structured content)
    yy, xx = np.mgrid[0:S, 0:S]
    crops.append(np.stack([(xx * 255 // max(S - 1, 1)), (yy * 255 // max(S - 1, 1)),
                           ((xx + yy) * 127 // max(S - 1, 1))], -1).astype(np.uint8))
    # a real photograph through Pillow's preprocessing
    photo = os.path.join(ROOT, "samples", "images", "chelsea.png")
    if not os.path.exists(photo):
        photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
    crops.append(pil_preprocess(photo, S))
    pix = torch.stack([normalize_crop(c) for c in crops])
    img = ref.encode_image(pix).numpy()
    tok = ref_tokenizer.RefTokenizer()
    ids = [tok.tokenize(t, 77) for t in TEXTS]
    txt = ref.encode_text(ids).numpy()
    # sanity: float32 torch agrees with the float64 reference
    r32 = RefCLIP(cfg, w, torch.float32)
    e32 = r32.encode_image(pix.float()).double().numpy()
    assert np.abs(e32 - img).max() < 1e-4, np.abs(e32 - img).max()
    L = max(len(s) for s in ids)
    idarr = np.zeros((len(ids), 77), dtype=np.int32)
    for i, s in enumerate(ids):
        idarr[i, :len(s)] = s
    gdir = os.path.join(ROOT, "tests", "golden", "models")
    os.makedirs(gdir, exist_ok=True)
    st_save(os.path.join(gdir, name + ".safetensors"), [
        ("pixels_u8", np.stack(crops), "U8"),
        ("image_raw", img.astype(np.float32), "F32"),
        ("text_ids", idarr, "I32"),
        ("text_len", np.array([len(s) for s in ids], dtype=np.int32), "I32"),
        ("text_raw", txt.astype(np.float32), "F32"),
        ("logit_scale", np.array(w["logit_scale"], dtype=np.float32), "F32"),
    ], metadata={"model": name, "model_sha256": sha256(os.path.join(d, "model.safetensors")),
                 "photo": "samples/images/chelsea.png", "texts": json.dumps(TEXTS)})
    print(f"{name}: golden image_raw[0,:4]={img[0, :4]} text_raw[0,:4]={txt[0, :4]} max_len={L}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory to write the models into")
    ap.add_argument("--goldens", action="store_true", help="also recompute tests/golden/models/")
    ap.add_argument("--check", action="store_true",
                    help="verify each model's sha256 against the one its golden records")
    ap.add_argument("--only", nargs="*", help="presets to build (default: all)")
    a = ap.parse_args()
    bad = 0
    for name in a.only or PRESETS:
        d, p, w = write_model(name, a.out)
        print(f"wrote {d}")
        if a.goldens:
            make_goldens(name, d, p, w)
        if a.check:
            g = os.path.join(ROOT, "tests", "golden", "models", name + ".safetensors")
            with open(g, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                meta = json.loads(f.read(n))["__metadata__"]
            got = sha256(os.path.join(d, "model.safetensors"))
            if got != meta["model_sha256"]:
                print(f"{name}: model.safetensors sha256 {got} differs from the golden's {meta['model_sha256']}: "
                      f"regenerate goldens with --goldens")
                bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
