// IBM PC/AT "system control port B" (I/O port 0x61), following the IBM PC AT Technical Reference
// (port 61h: timer 2 gate, speaker data, parity/channel check enables, refresh detect, OUT2 and
// error status), as kept by later chipsets (Intel PIIX/ICH "NMI status and control register").
//
// Model notes:
// - Bits 0-3 are read/write: bit 0 drives GATE2 of the 8254, bit 1 enables speaker data (there
//   is no sound output; the bit is only stored), bits 2 and 3 are the parity and channel check
//   enables (stored; this machine raises neither error).
// - Bit 4 (refresh detect) toggles every 15.085 us, derived from the clock rather than from
//   counter 1 of the PIT. Bit 5 is OUT2 of the PIT. Bits 6 and 7 (channel check / parity error)
//   read 0. Writes to bits 4-7 are ignored.
// - A 2- or 4-byte access is split into byte cycles as the ISA bus does; the upper bytes address
//   neighbouring ports that are not ours, so they read as all ones and their writes are dropped.

import type { Clock, Device, DeviceState, RegisterDevice } from './device.js';
import type { Pit8254 } from './pit8254.js';

const PORTB_TIMER2_GATE = 0x01;
const PORTB_WRITABLE = 0x0f;
const PORTB_REFRESH = 0x10;
const PORTB_OUT2 = 0x20;
/** Half period of the refresh-detect toggle, in ns. */
export const REFRESH_TOGGLE_NS = 15085;

export class SystemControlPortB implements RegisterDevice, Device {
  /** Bits 0-3 as written. */
  private value = 0;

  constructor(
    private readonly pit: Pit8254,
    private readonly clock: Clock,
  ) {
    this.reset();
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= (offset + i === 0 ? this.readByte() : 0xff) << (8 * i);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      if (offset + i === 0) this.writeByte((value >>> (8 * i)) & 0xff);
    }
  }

  reset(): void {
    this.value = 0;
    this.pit.setGate(2, false);
  }

  save(): DeviceState {
    return { kind: 'port61', version: 1, value: this.value };
  }

  restore(state: DeviceState): void {
    if (state.kind !== 'port61' || state.version !== 1) {
      throw new Error(`port61: cannot restore state of kind ${String(state.kind)} version ${String(state.version)}`);
    }
    const v = state.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || (v & ~PORTB_WRITABLE) !== 0) {
      throw new Error('port61: saved field value is not a 4-bit integer');
    }
    this.value = v;
    this.pit.setGate(2, (v & PORTB_TIMER2_GATE) !== 0);
  }

  private readByte(): number {
    const refresh = Math.floor(this.clock.now() / REFRESH_TOGGLE_NS) % 2 === 1 ? PORTB_REFRESH : 0;
    const out2 = this.pit.output(2) ? PORTB_OUT2 : 0;
    return this.value | refresh | out2;
  }

  private writeByte(v: number): void {
    this.value = v & PORTB_WRITABLE;
    this.pit.setGate(2, (v & PORTB_TIMER2_GATE) !== 0);
  }
}
