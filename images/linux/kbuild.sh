# Shared machinery of images/linux/build.sh and build-486.sh (sourced, not run): the fixed build
# identity, the tool check, the extraction of Debian's linux-source-6.1, `kmake`, the
# tinyconfig + fragments configuration with its check, and the initramfs packing.
#
# The caller sets HERE (images/linux) and may set WORK, TARBALL, JOBS before sourcing it.

WORK=${WORK:-/tmp/vmrun-linux}
TARBALL=${TARBALL:-/usr/src/linux-source-6.1.tar.xz}
JOBS=${JOBS:-2}
SRC=$WORK/linux-source-6.1
ME=$(basename "$0")

# Fixed build identity (shows in the banner: "Linux version 6.1.x (vmrun@vmrun) #1 ...").
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2024'
export KBUILD_BUILD_USER=vmrun
export KBUILD_BUILD_HOST=vmrun
export KBUILD_BUILD_VERSION=1
# The mtime of everything in the initramfs.
export SOURCE_DATE_EPOCH=1704067200
export LC_ALL=C TZ=UTC

# kbuild_prepare TOOL...: check the tools and the tarball, extract the source once.
kbuild_prepare() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$ME: $tool not found" >&2; exit 2; }
  done
  [ -f "$TARBALL" ] || { echo "$ME: $TARBALL not found (apt-get install linux-source-6.1)" >&2; exit 2; }
  mkdir -p "$WORK"
  if [ ! -f "$SRC/Makefile" ]; then
    echo "== extracting $TARBALL into $WORK"
    tar -C "$WORK" -xf "$TARBALL"
  fi
}

kmake() {
  nice -n 10 make -C "$SRC" ARCH=i386 -j"$JOBS" "$@"
}

# kconfigure FRAGMENT...: tinyconfig, the fragments appended in order (a later line wins over an
# earlier one for the same option), olddefconfig; then every option must have the value its last
# fragment line gives it (a missing dependency would silently drop one).
kconfigure() {
  kmake tinyconfig >/dev/null
  cat "$@" >> "$SRC/.config"
  kmake olddefconfig >/dev/null
  missing=0
  # The last line of the fragments for each option, in the order the options first appear.
  cat "$@" | grep -E '^(CONFIG_[A-Z0-9_]+=.*|# CONFIG_[A-Z0-9_]+ is not set)$' | awk '
    { opt = $0; sub(/^# /, "", opt); sub(/[= ].*$/, "", opt)
      if (!(opt in last)) order[n++] = opt
      last[opt] = $0 }
    END { for (k = 0; k < n; k++) print last[order[k]] }' | while read -r line; do
    case $line in
      "# "*) opt=${line#"# "}; opt=${opt%" is not set"}
             if grep -q "^$opt=" "$SRC/.config"; then echo "$ME: $opt should be off" >&2; exit 1; fi ;;
      *)     grep -qxF "$line" "$SRC/.config" || { echo "$ME: $line did not stick" >&2; exit 1; } ;;
    esac
  done || missing=1
  [ "$missing" = 0 ] || exit 1
}

# kinitramfs OUT.cpio.gz LIST: pack a gen_init_cpio file list (files given with their host paths)
# with the kernel's own usr/gen_init_cpio, every mtime SOURCE_DATE_EPOCH, then gzip -n -9.
kinitramfs() {
  out=$1 list=$2
  [ -x "$WORK/out/gen_init_cpio" ] || { mkdir -p "$WORK/out"; gcc -O2 -o "$WORK/out/gen_init_cpio" "$SRC/usr/gen_init_cpio.c"; }
  # gen_init_cpio takes -t for directories and nodes but a file's own mtime for files: fix it.
  awk '$1 == "file" { print $3 }' "$list" | while read -r f; do touch -d "@$SOURCE_DATE_EPOCH" "$f"; done
  "$WORK/out/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$list" > "${out%.gz}"
  gzip -n -9 < "${out%.gz}" > "$out"
}
