#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan+UBSan) and runs each
# for a bounded time on its seed corpus (tests/data and the goldens). Any
# crash, leak or sanitizer report fails. Usage: run_fuzzers.sh SRC BUILD [SECONDS]
set -euo pipefail
src=$1 build=$2 secs=${3:-15}
cmake -S "$src/fuzz" -B "$build/fuzz" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/fuzz-configure.log"
cmake --build "$build/fuzz" -j2 > "$build/fuzz-build.log"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{image,safetensors,config,tokenizer,textquery,wtokenizer,searchreq,capture}
find "$src/tests/data/images" -type f -size -200k -exec cp {} "$work/image/" \; 2>/dev/null || true
cp "$src"/tests/golden/models/tiny-p16-gelu.safetensors "$work/safetensors/"
printf '{"text_config":{"hidden_size":48,"num_attention_heads":3},"vision_config":{"patch_size":16}}' > "$work/config/seed.json"
head -c 4000 "$src/tests/data/tokenizer_corpus.txt" > "$work/tokenizer/seed.txt"
printf 'harbor museum' > "$work/textquery/a"; printf '"gate office" INV-2041' > "$work/textquery/b"
printf 'caf\xc3\xa9 "un closed NEAR(a b) text:x* -y ^z' > "$work/textquery/c"
{ printf '\x00\x01'; head -c 2000 "$src/../shared/whisper/multilingual.tiktoken"; } > "$work/wtokenizer/tik"
printf '\x01\x01{"model":{"type":"BPE","vocab":{"!":0,"<|endoftext|>":50257},"merges":["a b"]},"added_tokens":[{"id":50258,"content":"<|startoftranscript|>"}]}' > "$work/wtokenizer/hf"
printf '\x02\x01{"a":0,"\xc4\xa0":1}\x00{"<|endoftext|>":50257}\x00#version\na b\n' > "$work/wtokenizer/voc"
printf '\x03\x01\x00\x10IQ== 5\nIg== 50256\n' > "$work/wtokenizer/splice"
printf '\x04\x00\x01\x00\x00\x5c\xc4\x00\x00\xff\xff\xff\xff' > "$work/wtokenizer/ids"
{ printf '\x05'; head -c 3000 "$src/tests/golden/wtok/encode.jsonl"; } > "$work/wtokenizer/text"
printf '{"query": "a dog", "k": 5, "kind": "video", "per_video": 2, "cutoff": false}' > "$work/searchreq/a"
printf '{"larger_than": "1.5M", "smaller_than": 4096, "after": "2020-02-29", "before": "2021-01-01"}' > "$work/searchreq/b"
printf '{"only": "text", "text_weight": 2.5, "min_score": -0.1, "path": "*/2020/*", "exact": true}' > "$work/searchreq/c"
printf '{"taken_after": "2021-07-01", "near": [48.85, 2.29], "radius_km": 2.5, "camera": "canon", "lens": "RF"}' > "$work/searchreq/f"
# capture: the images that carry EXIF, a photo tagged with every field, a QuickTime file, texts
cp "$src"/tests/data/images/{jpeg_exif*,png_exif*,tif_tiled_orient3_56x44.tif,avif_chelsea_96x64.avif}* "$work/capture/" 2>/dev/null || true
cp "$src"/tests/data/capture/* "$work/capture/"
printf '2021:07:04 18:30:05+02:00' > "$work/capture/t1"; printf '+48.8584+002.2945+035.5/' > "$work/capture/t2"
printf '500K' > "$work/searchreq/d"; printf '2024-13-45' > "$work/searchreq/e"
for t in image safetensors config tokenizer textquery wtokenizer searchreq capture; do
  echo "== fuzz_$t (${secs}s)"
  rc=0
  ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 "$build/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$build/fuzz/crash-$t-" "$work/$t" > "$work/$t.log" 2>&1 || rc=$?
  grep -E "stat::number_of_executed_units|ERROR|SUMMARY" "$work/$t.log" || true
  if [ $rc -ne 0 ]; then tail -40 "$work/$t.log"; echo "fuzz_$t FAILED (exit $rc)"; exit 1; fi
done
echo "fuzzers: no crashes"
