#!/usr/bin/env bash
# Here, before a call on the GPU machine (which has JAX, PyTorch, OpenCV, NumPy, Pillow, Rich, Typer and
# h5py, but neither Keras nor imageio-ffmpeg, and no network): the wheels Keras needs for the machine's
# Python 3.12 and the bundled ffmpeg binary, compressed, into .carry/ (ignored by git), which the call
# names in `carry`. About 3 MB of wheels and 48 MB of ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .carry/wheels
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .carry/wheels "keras==3.15.1" "optree==0.20.0" "namex==0.1.0"
ffmpeg=$(python3 -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
[ -s .carry/ffmpeg.xz ] || xz -T0 -6 -c "$ffmpeg" > .carry/ffmpeg.xz
ls -la .carry .carry/wheels
