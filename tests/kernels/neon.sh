#!/usr/bin/env bash
# The NEON kernel table (src/engine/simd/ with GD_SIMD_NEON) cross-compiled
# for AArch64 with the kernel test (test_simd_kernels.c, against the
# reference in tests/support/ref_ops.c) and run under qemu-user: the NEON
# mapping builds and computes what the reference does.  Exits 77 when the
# cross compiler or qemu is missing (scripts/setup.sh installs
# gcc-aarch64-linux-gnu, libgomp1-arm64-cross and qemu-user).
set -euo pipefail
src=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
for tool in "$cc" qemu-aarch64; do
  command -v "$tool" >/dev/null ||
    { echo "no $tool here (scripts/setup.sh installs it): the NEON kernels are not tested"; exit 77; }
done
out=${GD_TEST_TMP:-/tmp}/neon
mkdir -p "$out"
# The project's flags (CMakeLists.txt), for AArch64: NEON needs no flag there.
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -DGD_SIMD_NEON -DGD_TEST_NEON \
  -fopenmp -I"$src/include" -I"$src/src" -I"$src/tests/support" \
  "$src"/src/engine/simd/*.c "$src/tests/kernels/test_simd_kernels.c" \
  "$src/tests/support/ref_ops.c" "$src/src/model/model.c" "$src/src/error.c" -lm \
  -o "$out/test_simd_kernels"
file "$out/test_simd_kernels" | grep -q "ARM aarch64" || { echo "FAIL: not an AArch64 binary"; exit 1; }
OMP_NUM_THREADS=2 qemu-aarch64 -L "$sysroot" "$out/test_simd_kernels" NEON
