#!/bin/sh
# Assemble every images/guests/*.asm into a flat .bin with NASM: a 512-byte boot sector, or, for a
# guest that includes mb-common.inc (a multiboot a.out-kludge image), a file of any size.
# Usage: images/guests/build.sh   (from anywhere)
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
if ! command -v nasm >/dev/null 2>&1; then
  echo "build.sh: nasm not found; install it (Debian/Ubuntu: apt-get install nasm)" >&2
  exit 1
fi
for src in "$dir"/*.asm; do
  bin="${src%.asm}.bin"
  nasm -f bin -w+all -I "$dir/" -o "$bin" "$src"
  size=$(wc -c < "$bin")
  if grep -q '^%include "mb-common.inc"' "$src"; then
    echo "built $(basename "$bin") (multiboot, $size bytes)"
    continue
  fi
  if [ "$size" -ne 512 ]; then
    echo "build.sh: $bin is $size bytes, expected one 512-byte sector" >&2
    exit 1
  fi
  echo "built $(basename "$bin")"
done
