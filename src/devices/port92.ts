// PS/2 "System Control Port A" at 0x92 (fast A20 gate and fast reset), per the IBM Personal
// System/2 Hardware Interface Technical Reference (System Control Port A) and Intel PIIX/ICH
// datasheets (port 92h: bit 0 ALT_RST#/INIT_NOW, bit 1 ALT_A20_GATE).
//
// Model notes:
// - Bit 1 (A20) is read/write; a change calls control.setA20. On a PC the CPU's A20 gate is the
//   OR of this bit and the i8042 output port's A20 bit; combining the two is the machine's job.
// - Bit 0 (fast reset) reads back as written; a 0 → 1 transition asks the machine for a reset
//   (on the chipset it pulses INIT). Writing 1 while it already reads 1 does nothing, as on the
//   hardware, so a guest must write 0 first (reset() clears the register).
// - Bits 2-7 (bit 3 power-on password lock, bits 6-7 fixed-disk activity light, the rest
//   reserved) are stored and read back; none of them has an effect in this machine.
// - A 2- or 4-byte access is split into byte cycles as the ISA bus does; the upper bytes address
//   neighbouring ports that are not ours, so they read as all ones and their writes are dropped.

import type { Device, DeviceState, MachineControl, RegisterDevice } from './device.js';

const PORT92_RESET = 0x01;
const PORT92_A20 = 0x02;

export class Port92 implements RegisterDevice, Device {
  private value = 0;

  constructor(private readonly control: MachineControl) {}

  read(offset: number, size: number): number {
    checkOffset(offset);
    if (size === 1) return this.value;
    return (((size === 2 ? 0xffff : 0xffffffff) & ~0xff) | this.value) >>> 0;
  }

  write(offset: number, _size: number, value: number): void {
    checkOffset(offset);
    const old = this.value;
    const v = value & 0xff;
    this.value = v;
    if ((old ^ v) & PORT92_A20) this.control.setA20((v & PORT92_A20) !== 0);
    if (v & PORT92_RESET && !(old & PORT92_RESET)) this.control.requestReset('port 0x92');
  }

  /** Power-on value 0: A20 not forced by this port, reset bit clear. */
  reset(): void {
    this.value = 0;
  }

  save(): DeviceState {
    return { kind: 'port92', version: 1, value: this.value };
  }

  /** The A20 side effect is the machine's own saved state: restore does not call setA20. */
  restore(s: DeviceState): void {
    if (s.kind !== 'port92' || s.version !== 1) {
      throw new Error(`port92: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
    const v = s.value;
    if (typeof v !== 'number' || v !== (v & 0xff)) throw new Error('port92: malformed saved value');
    this.value = v;
  }
}

function checkOffset(offset: number): void {
  if (offset !== 0) throw new Error(`port92: access at register offset ${offset} (valid: 0)`);
}
