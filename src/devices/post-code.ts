// POST code / I/O delay port at 0x80, as on IBM PC/AT compatibles (the "manufacturing test port"
// of the IBM PC AT Technical Reference; POST-card convention). Linux writes it for I/O delays.
//
// Model notes:
// - Every byte written is recorded; the last 256 are kept in a ring buffer.
// - A read returns the last byte written (many chipsets latch the port this way), or 0xFF when
//   nothing was written yet (an undriven ISA bus).
// - A 2- or 4-byte access is split into byte cycles as the ISA bus does: only the low byte
//   reaches this one-byte port; the upper bytes address the neighbouring ports, which are not
//   ours, so they read as all ones and their writes are dropped.

import type { Device, DeviceState, RegisterDevice } from './device.js';

const HISTORY = 256;

export class PostCodePort implements RegisterDevice, Device {
  private readonly ring = new Uint8Array(HISTORY);
  /** Index of the next slot to write in `ring`. */
  private head = 0;
  /** Number of valid entries in `ring` (at most HISTORY). */
  private count = 0;
  private lastValue = -1;

  /** The last 256 bytes written, oldest first (a fresh copy). */
  get codes(): number[] {
    const out: number[] = new Array<number>(this.count);
    const start = (this.head - this.count + HISTORY) % HISTORY;
    for (let i = 0; i < this.count; i++) out[i] = this.ring[(start + i) % HISTORY];
    return out;
  }

  /** The last byte written, or -1 when none was. */
  get last(): number {
    return this.lastValue;
  }

  read(offset: number, size: number): number {
    checkOffset(offset);
    const low = this.lastValue < 0 ? 0xff : this.lastValue;
    return size === 1 ? low : (((size === 2 ? 0xffff : 0xffffffff) & ~0xff) | low) >>> 0;
  }

  write(offset: number, _size: number, value: number): void {
    checkOffset(offset);
    const b = value & 0xff;
    this.ring[this.head] = b;
    this.head = (this.head + 1) % HISTORY;
    if (this.count < HISTORY) this.count++;
    this.lastValue = b;
  }

  /** A system reset does not clear the record: it is a debugging aid that outlives resets. */
  reset(): void {}

  save(): DeviceState {
    return { kind: 'post-code', version: 1, codes: this.codes, last: this.lastValue };
  }

  restore(s: DeviceState): void {
    if (s.kind !== 'post-code' || s.version !== 1) {
      throw new Error(`post-code: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
    const codes = s.codes;
    const last = s.last;
    if (!Array.isArray(codes) || codes.length > HISTORY || typeof last !== 'number') {
      throw new Error('post-code: malformed saved state');
    }
    this.head = 0;
    this.count = 0;
    for (const c of codes) {
      if (typeof c !== 'number' || c !== (c & 0xff)) throw new Error('post-code: malformed saved code');
      this.ring[this.head++] = c;
      this.count++;
    }
    this.head %= HISTORY;
    if (!(last === -1 || last === (last & 0xff))) throw new Error('post-code: malformed saved last value');
    this.lastValue = last;
  }
}

function checkOffset(offset: number): void {
  if (offset !== 0) throw new Error(`post-code: access at register offset ${offset} (valid: 0)`);
}
