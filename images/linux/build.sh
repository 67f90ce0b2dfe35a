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
WORK=${WORK:-/tmp/vmrun-linux}
TARBALL=${TARBALL:-/usr/src/linux-source-6.1.tar.xz}
JOBS=${JOBS:-2}
SRC=$WORK/linux-source-6.1

# Fixed build identity (shows in the banner: "Linux version 6.1.x (vmrun@vmrun) #1 ...").
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2024'
export KBUILD_BUILD_USER=vmrun
export KBUILD_BUILD_HOST=vmrun
export KBUILD_BUILD_VERSION=1
# The mtime of everything in the initramfs.
export SOURCE_DATE_EPOCH=1704067200
export LC_ALL=C TZ=UTC

for tool in nasm ld gcc make lz4 xz gzip bison flex bc; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found" >&2; exit 2; }
done
[ -f "$TARBALL" ] || { echo "build.sh: $TARBALL not found (apt-get install linux-source-6.1)" >&2; exit 2; }

mkdir -p "$WORK"
if [ ! -f "$SRC/Makefile" ]; then
  echo "== extracting $TARBALL into $WORK"
  tar -C "$WORK" -xf "$TARBALL"
fi

kmake() {
  nice -n 10 make -C "$SRC" ARCH=i386 -j"$JOBS" "$@"
}

echo "== configuring: tinyconfig + config-fragment"
kmake tinyconfig >/dev/null
cat "$HERE/config-fragment" >> "$SRC/.config"
kmake olddefconfig >/dev/null

# Every option the fragment sets must have survived olddefconfig (a dependency may drop one).
missing=0
grep -E '^(CONFIG_[A-Z0-9_]+=.*|# CONFIG_[A-Z0-9_]+ is not set)$' "$HERE/config-fragment" | while read -r line; do
  case $line in
    "# "*) opt=${line#"# "}; opt=${opt%" is not set"}
           if grep -q "^$opt=" "$SRC/.config"; then echo "build.sh: $opt should be off" >&2; exit 1; fi ;;
    *)     grep -qxF "$line" "$SRC/.config" || { echo "build.sh: $line did not stick" >&2; exit 1; } ;;
  esac
done || missing=1
[ "$missing" = 0 ] || exit 1

echo "== building bzImage (make -j$JOBS)"
kmake bzImage

echo "== building /init"
OUT=$WORK/out
mkdir -p "$OUT"
nasm -f elf32 "$HERE/init.asm" -o "$OUT/init.o"
ld -m elf_i386 -static -s --build-id=none -z noexecstack -o "$OUT/init" "$OUT/init.o"

echo "== building the initramfs"
gcc -O2 -o "$OUT/gen_init_cpio" "$SRC/usr/gen_init_cpio.c"
cat > "$OUT/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
file /init $OUT/init 0755 0 0
EOF
# gen_init_cpio takes -t for directories and nodes but a file's own mtime for files: fix it.
touch -d "@$SOURCE_DATE_EPOCH" "$OUT/init"
"$OUT/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$OUT/initramfs.list" > "$OUT/initramfs.cpio"
gzip -n -9 < "$OUT/initramfs.cpio" > "$OUT/initramfs.cpio.gz"

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
