// Reset Control Register at port 0xCF9, per the Intel 82371AB PIIX4 datasheet ("RC—Reset Control
// Register", I/O 0CF9h) and later ICH datasheets: bit 1 SRST (system reset: 1 = hard, 0 = soft),
// bit 2 RCPU (reset CPU: a 0 → 1 transition starts the reset selected by bit 1), bit 3 FULL_RST
// (ICH: full reset with power cycle). Linux's "reboot=pci" and many firmwares write 0x02, then
// 0x06 (or 0x0E) here.
//
// Model notes:
// - Every kind of reset (soft, hard, full) is one machine reset request.
// - QEMU triggers the reset on any write with bit 2 set, not only on a 0 → 1 edge; since bit 2
//   never reads back as 1 (it is not stored, as on PIIX4), the two rules agree for every sequence
//   a guest can observe.
// - Reads return bits 1 and 3 as last written. The register is one byte: a 2- or 4-byte access
//   reaches neighbouring ports that are not ours (the PCI configuration ports when a PCI host
//   bridge sits at 0xCF8); their bytes read as all ones and their writes are dropped.

import type { Device, DeviceState, MachineControl, RegisterDevice } from './device.js';

const RC_SRST = 0x02;
const RC_RCPU = 0x04;
const RC_FULL_RST = 0x08;
const RC_STORED = RC_SRST | RC_FULL_RST;

export class ResetControl implements RegisterDevice, Device {
  private value = 0;

  constructor(private readonly control: MachineControl) {}

  read(offset: number, size: number): number {
    checkOffset(offset);
    if (size === 1) return this.value;
    return (((size === 2 ? 0xffff : 0xffffffff) & ~0xff) | this.value) >>> 0;
  }

  write(offset: number, _size: number, value: number): void {
    checkOffset(offset);
    const v = value & 0xff;
    this.value = v & RC_STORED;
    if (v & RC_RCPU) this.control.requestReset(`port 0xcf9 (${v & (RC_SRST | RC_FULL_RST) ? 'hard' : 'soft'} reset)`);
  }

  reset(): void {
    this.value = 0;
  }

  save(): DeviceState {
    return { kind: 'reset-control', version: 1, value: this.value };
  }

  restore(s: DeviceState): void {
    if (s.kind !== 'reset-control' || s.version !== 1) {
      throw new Error(`reset-control: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
    const v = s.value;
    if (typeof v !== 'number' || v !== (v & RC_STORED)) throw new Error('reset-control: malformed saved value');
    this.value = v;
  }
}

function checkOffset(offset: number): void {
  if (offset !== 0) throw new Error(`reset-control: access at register offset ${offset} (valid: 0)`);
}
