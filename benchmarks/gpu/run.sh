#!/usr/bin/env bash
# On the GPU machine, in one call: the carried wheels installed into a private folder, ffmpeg unpacked,
# then the benchmark (bench.py), which writes its JSON under $OUT. With --dry-run it runs here too, on
# the CPU, at tiny sizes (CI runs it so that it cannot rot):
#   bash benchmarks/gpu/run.sh --dry-run
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$(mktemp -d)}
if [ -d .carry/wheels ] && ! python3 -c 'import keras' 2>/dev/null; then
  site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .carry/wheels/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -s .carry/ffmpeg.xz ] && ! python3 -c 'import imageio_ffmpeg' 2>/dev/null; then
  xz -dc .carry/ffmpeg.xz > /tmp/dreamvid-ffmpeg && chmod +x /tmp/dreamvid-ffmpeg
  export DREAMVID_FFMPEG=/tmp/dreamvid-ffmpeg
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec python3 benchmarks/gpu/bench.py --out "$out" "$@"
