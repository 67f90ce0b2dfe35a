#!/bin/sh
# Rebuild images/linux/initramfs-busybox.cpio.gz: Debian's static i386 BusyBox in a gzip newc
# initramfs, so that the test kernel boots to a shell.
#
#   images/linux/build-busybox.sh               # downloads the pinned .deb with apt-get download
#   DEB=path/to/busybox-static_..._i386.deb images/linux/build-busybox.sh
#
# Needs: dpkg-deb, python3, gzip, and a host that runs i386 binaries (an x86 Linux; the applet
# list comes from `busybox --list-full`). Without DEB it needs the i386 architecture in apt
# (`dpkg --add-architecture i386 && apt-get update`). The .deb is checked against its SHA-256, so
# the same package always gives the same bytes.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/vmrun-busybox}
PKG=busybox-static
VERSION=1:1.35.0-4+deb12u1+b1
DEB_SHA256=725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c
# The mtime of everything in the initramfs (2024-01-01, as build.sh).
SOURCE_DATE_EPOCH=1704067200
export LC_ALL=C TZ=UTC

for tool in dpkg-deb python3 gzip sha256sum; do
  command -v "$tool" >/dev/null || { echo "build-busybox.sh: $tool not found" >&2; exit 2; }
done

rm -rf "$WORK"
mkdir -p "$WORK"
if [ -z "${DEB:-}" ]; then
  echo "== downloading $PKG:i386=$VERSION"
  (cd "$WORK" && apt-get download "$PKG:i386=$VERSION")
  DEB=$(ls "$WORK"/${PKG}_*_i386.deb)
fi
echo "$DEB_SHA256  $DEB" | sha256sum -c - >/dev/null || {
  echo "build-busybox.sh: $DEB is not $PKG $VERSION i386 (SHA-256 differs)" >&2; exit 1; }

echo "== unpacking $DEB"
dpkg-deb -x "$DEB" "$WORK/pkg"
BB=$WORK/pkg/bin/busybox
"$BB" --list-full > "$WORK/applets" || {
  echo "build-busybox.sh: cannot run $BB (an i386 binary) on this host" >&2; exit 2; }

echo "== writing the file list"
ROOT=$WORK/root
mkdir -p "$ROOT/etc"
# /init is busybox's init (an applet chosen by argv[0]); it reads /etc/inittab.
cat > "$ROOT/etc/inittab" <<'EOF'
# BusyBox init for the vmrun test guest: mount /proc, then a login shell on the serial console
# (opened as its controlling terminal, so job control and Ctrl-C work), started again when it
# exits. `poweroff` ends the run (there is nothing to unmount: everything is in the initramfs).
::sysinit:/bin/mount -t proc proc /proc
ttyS0::respawn:-/bin/sh
EOF
cat > "$ROOT/etc/profile" <<'EOF'
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PS1='vmrun:\w\$ '
EOF
{
  echo "dir /bin 0755 0 0"
  echo "dir /dev 0755 0 0"
  echo "nod /dev/console 0600 0 0 c 5 1"
  echo "nod /dev/null 0666 0 0 c 1 3"
  echo "nod /dev/ttyS0 0660 0 0 c 4 64"
  echo "nod /dev/zero 0666 0 0 c 1 5"
  echo "dir /etc 0755 0 0"
  echo "file /etc/inittab $ROOT/etc/inittab 0644 0 0"
  echo "file /etc/profile $ROOT/etc/profile 0644 0 0"
  echo "file /bin/busybox $BB 0755 0 0"
  echo "slink /init /bin/busybox 0777 0 0"
  echo "dir /proc 0755 0 0"
  echo "dir /root 0700 0 0"
  echo "dir /sbin 0755 0 0"
  echo "dir /tmp 1777 0 0"
  echo "dir /usr 0755 0 0"
  echo "dir /usr/bin 0755 0 0"
  echo "dir /usr/sbin 0755 0 0"
  # One symbolic link per applet, where busybox --install would put it.
  while read -r applet; do
    [ "$applet" = bin/busybox ] || echo "slink /$applet /bin/busybox 0777 0 0"
  done < "$WORK/applets"
} > "$WORK/initramfs.list"

echo "== packing"
python3 "$HERE/mkcpio.py" "$WORK/initramfs.list" "$SOURCE_DATE_EPOCH" > "$WORK/initramfs.cpio"
gzip -n -9 < "$WORK/initramfs.cpio" > "$WORK/initramfs-busybox.cpio.gz"
cp "$WORK/initramfs-busybox.cpio.gz" "$HERE/initramfs-busybox.cpio.gz"

echo "== done: $(wc -l < "$WORK/applets") applets"
ls -l "$HERE/initramfs-busybox.cpio.gz"
sha256sum "$HERE/initramfs-busybox.cpio.gz"
