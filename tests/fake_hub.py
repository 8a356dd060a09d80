#!/usr/bin/python3
"""fake_hub.py - a stand-in for the Hugging Face hub, for tests/test_pull.c.

Serves ROOT/{repo}/{file} on 127.0.0.1 (ephemeral port) with the hub's URL
layout and headers:

  HEAD/GET /{org}/{repo}/resolve/{rev}/{file}
      non-LFS files: 200, ETag = git blob sha1, Content-Length, X-Repo-Commit
      LFS files (*.safetensors, *.bin, *.pt, *.h5, *.msgpack, *.onnx, as in
      the hub's default .gitattributes): 302 to /cdn/{org}/{repo}/{file} with X-Linked-Etag
      (sha256), X-Linked-Size, and an ETag that is NOT the content's (like
      the hub's, which is the LFS pointer's sha1)
  HEAD/GET /cdn/{org}/{repo}/{file}: the bytes, with Range / 206 / 416
  missing repo -> 404 X-Error-Code: RepoNotFound; missing file -> 404
  EntryNotFound; revision starting with "missing" -> 404 RevisionNotFound.

Fault modes: prefix the path with /_fault/{mode} (the client's endpoint is
then http://127.0.0.1:PORT/_fault/{mode}); redirects keep the prefix.
  drop     the first GET of each file sends half the body, then closes
  corrupt  bodies have one byte flipped (headers still give the true digests)
  norange  Range is ignored: always 200 with the whole body
  nosize   HEAD answers carry no size (so a complete .part meets a 416)
  weak     weak ETags (W/"..."), no X-Linked-Etag: nothing to verify
  slow     bodies trickle at a few bytes per second
  auth     resolve URLs need "Authorization: Bearer test-token" (else 401);
           the LFS redirect goes to http://localhost:PORT (another host name)
  e500     every request answers 500

Fixtures: --whisper-fixtures writes these repos under ROOT before serving
(deterministic bytes; the test compares what it pulls with ROOT's files):
  testorg/tiny-whisper     config.json (model_type whisper), generation_config.json,
                           preprocessor_config.json, tokenizer_config.json,
                           tokenizer.json, model.safetensors (~150 KB, a valid
                           safetensors header); no added_tokens.json,
                           normalizer.json, special_tokens_map.json (404s)
  testorg/whisper-vocab    no tokenizer.json: vocab.json, merges.txt,
                           added_tokens.json, normalizer.json instead
  testorg/whisper-changing a copy of tiny-whisper the test edits
  testorg/whisper-notok    config.json and model.safetensors only
  testorg/whisper-bin      config.json, tokenizer.json, pytorch_model.bin only
  testorg/whisper-sharded  model.safetensors.index.json + two shards
  testorg/bert             config.json with model_type "bert"

Options: --root DIR (required), --port-file F (the port, written once
listening), --log F (one line per request: METHOD PATH range=R auth=yes|no
status=S sent=N, N being the body bytes the server sends; written before the
response completes). The server exits when its stdin reaches EOF (the test
process holds the other end of a pipe), on SIGTERM, or after --max-seconds.
"""
import argparse
import hashlib
import http.server
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse

ARGS = None
LOG_LOCK = threading.Lock()
DROPPED = set()
DROPPED_LOCK = threading.Lock()
TOKEN = "test-token"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".h5", ".msgpack", ".onnx")


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pseudo_random(n, seed):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def safetensors_bytes(name, n_floats, seed):
    """A valid safetensors file with one F32 tensor of n_floats values."""
    header = json.dumps({"__metadata__": {"format": "pt"},
                         name: {"dtype": "F32", "shape": [n_floats],
                                "data_offsets": [0, 4 * n_floats]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + pseudo_random(4 * n_floats, seed)


def write_whisper_fixtures(root):
    def write(repo, files):
        d = os.path.join(root, repo)
        os.makedirs(d, exist_ok=True)
        for fname, data in files.items():
            if isinstance(data, (dict, list)):
                data = (json.dumps(data, indent=2) + "\n").encode()
            elif isinstance(data, str):
                data = data.encode()
            with open(os.path.join(d, fname), "wb") as f:
                f.write(data)

    config = {"_name_or_path": "openai/whisper-tiny", "architectures": ["WhisperForConditionalGeneration"],
              "model_type": "whisper", "d_model": 8, "encoder_layers": 1, "decoder_layers": 1,
              "encoder_attention_heads": 2, "decoder_attention_heads": 2, "num_mel_bins": 80,
              "max_source_positions": 1500, "max_target_positions": 448, "vocab_size": 51865,
              "suppress_tokens": [1, 2, 7], "begin_suppress_tokens": [220, 50257]}
    gen = {"decoder_start_token_id": 50258, "eos_token_id": 50257, "no_timestamps_token_id": 50363,
           "lang_to_id": {"<|en|>": 50259}, "task_to_id": {"transcribe": 50359}}
    pre = {"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80,
           "hop_length": 160, "n_fft": 400, "sampling_rate": 16000, "chunk_length": 30}
    tokcfg = {"tokenizer_class": "WhisperTokenizer", "model_max_length": 1024}
    vocab = {"!": 0, "a": 1, "b": 2, "ab": 3, "\u0120the": 4}
    tokenizer = {"version": "1.0", "added_tokens": [{"id": 50257, "content": "<|endoftext|>", "special": True}],
                 "model": {"type": "BPE", "vocab": vocab, "merges": ["a b"]}}
    weights = safetensors_bytes("model.encoder.conv1.weight", 150 * 256 + 3, "tiny-whisper")
    tiny = {"config.json": config, "generation_config.json": gen, "preprocessor_config.json": pre,
            "tokenizer_config.json": tokcfg, "tokenizer.json": tokenizer, "model.safetensors": weights}
    write("testorg/tiny-whisper", tiny)
    write("testorg/whisper-changing", tiny)
    write("testorg/whisper-vocab", {
        "config.json": config, "vocab.json": vocab, "merges.txt": "#version: 0.2\na b\n",
        "added_tokens.json": {"<|endoftext|>": 50257}, "normalizer.json": {"colour": "color"},
        "model.safetensors": safetensors_bytes("model.decoder.embed_tokens.weight", 4096, "vocab")})
    write("testorg/whisper-notok", {"config.json": config,
                                    "model.safetensors": safetensors_bytes("w", 64, "notok")})
    write("testorg/whisper-bin", {"config.json": config, "tokenizer.json": tokenizer,
                                  "pytorch_model.bin": pseudo_random(4096, "bin")})
    index = {"metadata": {"total_size": 512},
             "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    write("testorg/whisper-sharded", {
        "config.json": config, "tokenizer.json": tokenizer, "model.safetensors.index.json": index,
        "model-00001-of-00002.safetensors": safetensors_bytes("a", 64, "s1"),
        "model-00002-of-00002.safetensors": safetensors_bytes("b", 64, "s2")})
    write("testorg/bert", {"config.json": {"architectures": ["BertModel"], "model_type": "bert",
                                           "hidden_size": 8}})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub/1"

    def log_message(self, fmt, *args):  # silence the default stderr log
        pass

    def log_req(self, status, sent):
        if not ARGS.log:
            return
        line = "%s %s range=%s auth=%s status=%d sent=%d\n" % (
            self.command, self.path, self.headers.get("Range") or "-",
            "yes" if self.headers.get("Authorization") else "no", status, sent)
        with LOG_LOCK:
            with open(ARGS.log, "a") as f:
                f.write(line)

    def do_HEAD(self):
        self.handle_req(head=True)

    def do_GET(self):
        self.handle_req(head=False)

    # -- responses ---------------------------------------------------------

    # Each request is logged before the last byte of its response goes out,
    # so a client that has its answer finds the request in the log.

    def simple(self, status, headers=None, body=b"", head=False):
        self.log_req(status, 0 if head else len(body))
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def error(self, status, code, msg, head):
        body = ('{"error": "%s"}' % msg).encode()
        hdrs = {"Content-Type": "application/json", "X-Error-Message": msg}
        if code:
            hdrs["X-Error-Code"] = code
        self.simple(status, hdrs, body, head)

    def serve_bytes(self, data, etag, head, mode, key):
        if mode == "corrupt" and data:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        total = len(data)
        rng = self.headers.get("Range")
        if mode == "norange":
            rng = None
        start = 0
        status = 200
        if rng:
            try:
                unit, spec = rng.split("=", 1)
                first = spec.split("-", 1)[0]
                start = int(first)
                assert unit.strip() == "bytes"
            except Exception:
                return self.simple(400, {}, b"bad range", head)
            if start >= total:
                return self.simple(416, {"Content-Range": "bytes */%d" % total}, b"", head)
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("X-Repo-Commit", COMMIT)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, total - 1, total))
        if not (head and mode == "nosize"):
            self.send_header("Content-Length", str(len(body)))
        if head:
            self.log_req(status, 0)
            self.end_headers()
            return
        self.end_headers()
        if mode == "drop" and start == 0:
            with DROPPED_LOCK:
                first = key not in DROPPED
                DROPPED.add(key)
            if first:
                half = len(body) // 2
                self.log_req(status, half)
                self.wfile.write(body[:half])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
        if mode == "slow":
            self.log_req(status, -1)  # trickles until the client gives up
            sent = 0
            self.close_connection = True
            try:
                deadline = time.time() + 20
                while sent < len(body) and time.time() < deadline:
                    self.wfile.write(body[sent:sent + 4])
                    self.wfile.flush()
                    sent += len(body[sent:sent + 4])
                    time.sleep(0.2)
            except OSError:
                pass
            return
        self.log_req(status, len(body))
        self.wfile.write(body)

    # -- routing -----------------------------------------------------------

    def handle_req(self, head):
        path = self.path.split("?", 1)[0]
        mode = ""
        prefix = ""
        if path.startswith("/_fault/"):
            mode, _, rest = path[len("/_fault/"):].partition("/")
            prefix = "/_fault/" + mode
            path = "/" + rest
        if mode == "e500":
            return self.error(500, "", "internal error (fault mode)", head)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if any(p in ("", ".", "..") for p in parts):
            return self.error(400, "", "bad path", head)
        root = ARGS.root
        if parts[0] == "cdn" and len(parts) >= 3:
            repo, fname = "/".join(parts[1:-1]), parts[-1]
            fpath = os.path.join(root, repo, fname)
            if not os.path.isfile(fpath):
                return self.error(404, "", "no such object", head)
            with open(fpath, "rb") as f:
                data = f.read()
            etag = '"%s"' % hashlib.md5(data).hexdigest()  # a CDN's own tag
            if mode == "weak":
                etag = 'W/"%s"' % etag.strip('"')
            return self.serve_bytes(data, etag, head, mode, "cdn/" + repo + "/" + fname)
        if "resolve" not in parts or parts.index("resolve") + 2 >= len(parts):
            return self.error(404, "", "unknown route", head)
        i = parts.index("resolve")
        repo, rev, fname = "/".join(parts[:i]), parts[i + 1], "/".join(parts[i + 2:])
        if mode == "auth" and self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.error(401, "", "Invalid credentials in Authorization header", head)
        if not repo or not os.path.isdir(os.path.join(root, repo)):
            return self.error(404, "RepoNotFound", "Repository not found", head)
        if rev.startswith("missing"):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev, head)
        fpath = os.path.join(root, repo, fname)
        if not os.path.isfile(fpath):
            return self.error(404, "EntryNotFound", "Entry not found", head)
        with open(fpath, "rb") as f:
            data = f.read()
        if fname.endswith(LFS_SUFFIXES):
            host = "127.0.0.1"
            if mode == "auth":
                host = "localhost"
            loc = "http://%s:%d%s/cdn/%s/%s" % (host, self.server.server_address[1], prefix,
                                                urllib.parse.quote(repo), urllib.parse.quote(fname))
            hdrs = {"Location": loc, "X-Repo-Commit": COMMIT,
                    # the hub's ETag here is the LFS pointer's git sha1: not the content's
                    "ETag": '"%s"' % git_sha1(b"version https://git-lfs.github.com/spec/v1\n")}
            if mode == "weak":
                hdrs["ETag"] = 'W/"%s"' % hashlib.md5(data).hexdigest()
            else:
                hdrs["X-Linked-Etag"] = '"%s"' % hashlib.sha256(data).hexdigest()
                if mode != "nosize":
                    hdrs["X-Linked-Size"] = str(len(data))
            return self.simple(302, hdrs, b"", head)
        etag = '"%s"' % git_sha1(data)
        if mode == "weak":
            etag = 'W/"%s"' % git_sha1(data)[:20]
        return self.serve_bytes(data, etag, head, mode, repo + "/" + fname)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # dropped connections are expected


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except Exception:
        pass
    os._exit(0)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--no-stdin-watch", action="store_true")
    ap.add_argument("--whisper-fixtures", action="store_true")
    ARGS = ap.parse_args()
    if ARGS.whisper_fixtures:
        write_whisper_fixtures(ARGS.root)
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    port = srv.server_address[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, ARGS.port_file)
    else:
        print(port, flush=True)
    if not ARGS.no_stdin_watch:
        threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Timer(ARGS.max_seconds, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
