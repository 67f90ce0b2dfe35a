#!/bin/sh
# Rebuild the vmrun test guest: an i386 Linux bzImage and a gzip initramfs holding a tiny /init.
#
#   images/linux/build.sh            # work dir /tmp/vmrun-linux (or $WORK)
#
# Needs (Debian 12): linux-source-6.1 build-essential bc bison flex libelf-dev lz4 nasm.
# Outputs images/linux/bzImage (LZ4), images/linux/bzImage-xz (the same kernel compressed with XZ,
# the benchmark's decompression-heavy workload) and images/linux/initramfs.cpio.gz. The build is
# reproducible: the same source package and toolchain give the same bytes.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/kbuild.sh"    # WORK (default /tmp/vmrun-linux), TARBALL, JOBS, SRC, kmake, kconfigure, kinitramfs

kbuild_prepare nasm ld gcc make lz4 xz gzip bison flex bc

echo "== configuring: tinyconfig + config-fragment"
kconfigure "$HERE/config-fragment"

echo "== building bzImage (make -j$JOBS)"
kmake bzImage

echo "== building /init"
OUT=$WORK/out
mkdir -p "$OUT"
nasm -f elf32 "$HERE/init.asm" -o "$OUT/init.o"
ld -m elf_i386 -static -s --build-id=none -z noexecstack -o "$OUT/init" "$OUT/init.o"

echo "== building the initramfs"
cat > "$OUT/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
file /init $OUT/init 0755 0 0
EOF
kinitramfs "$OUT/initramfs.cpio.gz" "$OUT/initramfs.list"

cp "$SRC/arch/x86/boot/bzImage" "$HERE/bzImage"
cp "$OUT/initramfs.cpio.gz" "$HERE/initramfs.cpio.gz"
cp "$SRC/.config" "$HERE/config"

echo "== building the XZ variant (bzImage-xz): the same kernel, only the compression differs"
"$SRC/scripts/config" --file "$SRC/.config" -d KERNEL_LZ4 -e KERNEL_XZ
kmake olddefconfig >/dev/null
grep -qx 'CONFIG_KERNEL_XZ=y' "$SRC/.config" || { echo "build.sh: CONFIG_KERNEL_XZ did not stick" >&2; exit 1; }
kmake bzImage
cp "$SRC/arch/x86/boot/bzImage" "$HERE/bzImage-xz"

echo "== done"
ls -l "$HERE/bzImage" "$HERE/bzImage-xz" "$HERE/initramfs.cpio.gz"
sha256sum "$HERE/bzImage" "$HERE/bzImage-xz" "$HERE/initramfs.cpio.gz"
