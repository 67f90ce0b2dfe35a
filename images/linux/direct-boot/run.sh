#!/bin/bash
# Boot images/linux under QEMU the way vmrun will: vmrun's own bzImage loader (src/loaders)
# builds the memory image (zero page, command line, kernel, initramfs) and a multiboot stub enters
# the kernel's 32-bit entry with ESI = boot_params. No real-mode setup code runs, unlike
# `qemu -kernel bzImage`. This checks the loader against a real kernel before the core can boot it.
#
#   images/linux/direct-boot/run.sh                     # MEM_MIB=128, CMDLINE="console=ttyS0 -- restart"
#   CMDLINE=console=ttyS0 images/linux/direct-boot/run.sh -cpu pentium2
#
# Extra arguments go to qemu-system-i386. QEMU gets MEM_MIB + 64 MiB of RAM: the stub and the
# modules sit at 32 MiB and up, SeaBIOS keeps tables at the top of RAM, and the kernel is told
# (e820) about MEM_MIB only, so neither can land on what the loader placed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${OUT:-/tmp/vmrun-direct-boot}
mem=${MEM_MIB:-128}
cmdline=${CMDLINE:-console=ttyS0 -- restart}
[ "$mem" -ge 64 ] || { echo "run.sh: MEM_MIB must be at least 64" >&2; exit 2; }
mkdir -p "$out"

"$root/node_modules/.bin/vite-node" "$here/dump.ts" -- \
  "$root/images/linux/bzImage" "$root/images/linux/initramfs.cpio.gz" "$mem" "$cmdline" "$out" \
  > "$out/layout.txt"
entry=$(sed -n 's/^ENTRY=//p' "$out/layout.txt")
esi=$(sed -n 's/^ESI=//p' "$out/layout.txt")
modules=$(grep -v -e '^#' -e '=' "$out/layout.txt" | paste -sd, -)
sed -n 's/^# /run.sh: loader: /p' "$out/layout.txt" >&2

nasm -f bin -DENTRY="$entry" -DBOOT_PARAMS="$esi" "$here/stub.asm" -o "$out/stub.mb"
exec qemu-system-i386 -nographic -monitor none -serial stdio -no-reboot -m $((mem + 64)) \
  -kernel "$out/stub.mb" -initrd "$modules" "$@"
