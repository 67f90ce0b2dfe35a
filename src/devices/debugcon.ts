// Bochs / QEMU debug console ("port E9 hack"), per the Bochs user manual ("Debug port / 0xE9
// hack") and QEMU's isa-debugcon documentation: a byte written to the port goes straight to the
// host; reading the port returns 0xE9 so that a guest can detect the device.
//
// Model note: a 2- or 4-byte access is split into byte cycles as the ISA bus does; only the low
// byte belongs to this one-byte port. The upper bytes address neighbouring ports that are not
// ours: they read as all ones and their writes are dropped (QEMU behaves the same).

import type { ByteSink, Device, DeviceState, RegisterDevice } from './device.js';

/** The value a read of the port returns: the port number, the device's "present" signature. */
const DEBUGCON_READBACK = 0xe9;

export class DebugConsole implements RegisterDevice, Device {
  constructor(private readonly sink: ByteSink) {}

  read(offset: number, size: number): number {
    checkOffset(offset);
    if (size === 1) return DEBUGCON_READBACK;
    return (((size === 2 ? 0xffff : 0xffffffff) & ~0xff) | DEBUGCON_READBACK) >>> 0;
  }

  write(offset: number, _size: number, value: number): void {
    checkOffset(offset);
    this.sink.writeByte(value & 0xff);
  }

  /** Stateless: nothing to reset. */
  reset(): void {}

  save(): DeviceState {
    return { kind: 'debugcon', version: 1 };
  }

  restore(s: DeviceState): void {
    if (s.kind !== 'debugcon' || s.version !== 1) {
      throw new Error(`debugcon: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
  }
}

function checkOffset(offset: number): void {
  if (offset !== 0) throw new Error(`debugcon: access at register offset ${offset} (valid: 0)`);
}
