#!/bin/sh
# Build the benchmark's 486 guest: an i386 Linux bzImage for a 486SX (math emulation, no TSC,
# CMOV or CMPXCHG8B needed, XZ-compressed) and the initramfs of the paging workload.
#
#   images/linux/build-486.sh        # work dir /tmp/vmrun-linux-486 (or $WORK)
#
# The same machinery as build.sh (kbuild.sh): tinyconfig + config-fragment (the bundled kernel's
# options) + config-fragment-486 (the 486 overrides), checked, then make bzImage under nice.
# Needs (Debian 12): linux-source-6.1 build-essential bc bison flex libelf-dev xz-utils, and a gcc
# that can compile -m32 (Debian's gcc does, for a freestanding program).
# Outputs images/linux/bzImage-486, images/linux/config-486 and images/linux/initramfs-paging.cpio.gz
# (/init = paging-walk.c). The build is reproducible, as build.sh's is.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/vmrun-linux-486}   # not build.sh's: the two configurations would rebuild each other
. "$HERE/kbuild.sh"

kbuild_prepare ld gcc make xz gzip bison flex bc

echo "== configuring: tinyconfig + config-fragment + config-fragment-486"
kconfigure "$HERE/config-fragment" "$HERE/config-fragment-486"

echo "== building bzImage (make -j$JOBS)"
kmake bzImage

echo "== building paging-walk (/init of initramfs-paging.cpio.gz)"
OUT=$WORK/out
mkdir -p "$OUT"
# Freestanding (no libc, no libgcc), for a 486, no build id, stripped: the same bytes every time.
gcc -m32 -march=i486 -O2 -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns \
  -fno-stack-protector -fno-pic -fno-asynchronous-unwind-tables -nostdlib -static -Wall -Wextra -Werror \
  -Wl,--build-id=none -Wl,-z,noexecstack -s -o "$OUT/paging-walk" "$HERE/paging-walk.c"

echo "== building the initramfs"
cat > "$OUT/initramfs-paging.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
file /init $OUT/paging-walk 0755 0 0
LIST
kinitramfs "$OUT/initramfs-paging.cpio.gz" "$OUT/initramfs-paging.list"

cp "$SRC/arch/x86/boot/bzImage" "$HERE/bzImage-486"
cp "$SRC/.config" "$HERE/config-486"
cp "$OUT/initramfs-paging.cpio.gz" "$HERE/initramfs-paging.cpio.gz"

echo "== done"
ls -l "$HERE/bzImage-486" "$HERE/initramfs-paging.cpio.gz"
sha256sum "$HERE/bzImage-486" "$HERE/initramfs-paging.cpio.gz"
