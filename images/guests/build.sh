#!/bin/sh
# Assemble every images/guests/*.asm into a flat .bin boot sector with NASM.
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
  if [ "$size" -ne 512 ]; then
    echo "build.sh: $bin is $size bytes, expected one 512-byte sector" >&2
    exit 1
  fi
  echo "built $(basename "$bin")"
done
