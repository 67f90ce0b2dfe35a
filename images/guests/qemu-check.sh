#!/bin/bash
# Boot every test guest under qemu-system-i386 (SeaBIOS loads the sector from a raw drive) and
# compare the serial output and exit status with what the guest is meant to do.
# Usage: images/guests/qemu-check.sh   (after build.sh; needs qemu-system-i386)
# QEMU's isa-debug-exit turns a guest status v written to port 0xF4 into exit status (v<<1)|1.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
command -v qemu-system-i386 >/dev/null || { echo "qemu-check.sh: qemu-system-i386 not found" >&2; exit 1; }
qemu=(qemu-system-i386 -display none -monitor none -serial stdio
      -device isa-debug-exit,iobase=0xf4,iosize=0x04)
failed=0

# check NAME EXPECTED_OUTPUT EXPECTED_STATUS TIMEOUT INPUT [extra qemu args...]
check() {
  local name=$1 want=$2 want_rc=$3 secs=$4 input=$5
  shift 5
  local out got rc
  out=$(mktemp)
  printf '%s' "$input" | timeout "$secs" "${qemu[@]}" "$@" \
    -drive "format=raw,file=$dir/$name.bin" >"$out" 2>/dev/null
  rc=${PIPESTATUS[1]}
  # Compare byte for byte (as hex); show the output with sed's escapes (\r, $ = end of line).
  got=$(od -An -tx1 -v "$out" | tr -d ' \n')
  local want_hex shown
  want_hex=$(printf "$want" | od -An -tx1 -v | tr -d ' \n')
  shown=$(sed -n l "$out" | tr -d '\n')
  rm -f "$out"
  if [ "$got" = "$want_hex" ] && [ "$rc" = "$want_rc" ]; then
    echo "ok    $name: status $rc, output: $shown"
  else
    echo "FAIL  $name: status $rc (want $want_rc), output: $shown (want: $want)"
    failed=1
  fi
}

check hello        'Hello from vmrun guest\r\n'                          1   10 ''
check pit-tick     'pit-tick: 100 ticks\r\n'                             1   10 ''
check uart-irq     'HELLO Q\r\nuart-irq: bye\r\n'                        1   10 'hello q'
check pm-paging    'pm-paging: ok\r\n'                                   1   10 ''
check bad-opcode   'bad-opcode\r\nbad-opcode: addps executed\r\n'        1   10 ''
check legacy-modes 'legacy-modes: ok\r\n'                                1   10 ''
check spin         ''                                                    124 3  ''
log=$(mktemp)
check triple-fault ''                                                    0   10 '' -no-reboot -d cpu_reset -D "$log"
if grep -q 'Triple fault' "$log"; then
  echo "ok    triple-fault: QEMU logged \"Triple fault\""
else
  echo "FAIL  triple-fault: no \"Triple fault\" in QEMU's -d cpu_reset log"
  failed=1
fi
rm -f "$log"
exit $failed
