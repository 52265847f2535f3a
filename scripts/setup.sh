#!/usr/bin/env bash
# Sets gigadream up on a fresh Debian 12 machine:
#   1. installs the Debian packages it needs (apt-get; as root or through sudo)
#      and OpenSeadragon, for `gigadream zoom`, from npm into scripts/viewer/node_modules/,
#   2. configures and builds it into build/ (Release),
#   3. imports the models of models/catalog.ini into models/*.h5 and puts its
#      photos into images/ (from ../shared when there, else downloaded),
#   4. renders the quick start: jobs/quickstart.ini -> out/quickstart.tif.
# Options: --deps-only (step 1 only), --no-quickstart (skip step 4),
#          --no-bench (leave out what only scripts/bench.sh needs: PyTorch...).
# Environment: GIGADREAM_MODEL_MIRROR (default ../shared/models) for the models,
#              GIGADREAM_IMAGE_MIRROR (default ../shared/images) for the photos.
set -euo pipefail
cd "$(dirname "$0")/.."

deps_only=0
quickstart=1
bench=1
for a in "$@"; do
  case "$a" in
    --deps-only) deps_only=1 ;;
    --no-quickstart) quickstart=0 ;;
    --no-bench) bench=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$a' (try --help)" >&2; exit 1 ;;
  esac
done

# Build and run-time dependencies, then what the tests and benchmarks use.
packages=(
  build-essential cmake pkg-config
  libopenmpi-dev openmpi-bin libdnnl-dev ocl-icd-opencl-dev libtiff-dev libhdf5-openmpi-dev hdf5-tools
  libcmocka-dev libinih-dev librandom123-dev libpng-dev libjpeg-dev liblcms2-dev
  libcairo2-dev fonts-dejavu-core # the gallery's labels
  libtiff-tools python3 xxd procps time clang # the tests' tools (clang: the second compiler)
  munge slurmctld slurmd slurm-client # scripts/slurm-local.sh (Slurm tests)
  chromium # the deep-zoom viewer's test (headless screenshot)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross libgomp1-arm64-cross qemu-user # the NEON kernels' test
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev # ONNX import (onnx.proto compiled by protoc-c)
  libonnx-testdata python3-onnx python3-torchvision python3-protobuf python3-h5py python3-pil # ONNX import tests
)
# npm installs OpenSeadragon (scripts/viewer/package.json); Debian's npm unless one is on PATH.
command -v npm >/dev/null || packages+=(npm)
bench_packages=(python3-torch python3-h5py python3-numpy python3-pil libopenblas-dev) # scripts/bench.sh
[ "$bench" -eq 1 ] && packages+=("${bench_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# OpenSeadragon, pinned by scripts/viewer/package-lock.json, into
# scripts/viewer/node_modules/ (git-ignored).
if [ ! -f scripts/viewer/node_modules/openseadragon/build/openseadragon/openseadragon.min.js ]; then
  echo "setup: installing OpenSeadragon from npm into scripts/viewer/node_modules/"
  npm ci --prefix scripts/viewer --no-audit --no-fund >/dev/null ||
    { echo "setup: npm could not install OpenSeadragon (scripts/viewer/package-lock.json): gigadream zoom needs it" >&2; exit 1; }
fi
[ "$deps_only" -eq 1 ] && exit 0

echo "setup: building into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null

echo "setup: importing models into models/, photos into images/"
if ! scripts/fetch-models.sh; then
  # fetch-models.sh has listed each file it could not get and why.
  echo "setup: built build/gigadream, but could not get every model and photo of" \
    "models/catalog.ini (listed above): the quick start is skipped" >&2
  exit 1
fi

if [ "$quickstart" -eq 1 ]; then
  mkdir -p out
  echo "setup: quick start: build/gigadream render jobs/quickstart.ini"
  build/gigadream render jobs/quickstart.ini
  echo "setup: done; the dream is out/quickstart.tif"
fi
