// Test exit device at port 0xF4, after QEMU's "isa-debug-exit" (QEMU documentation and
// hw/misc/debugexit behaviour): a write ends the run with a status derived from the value.
//
// Modes:
// - 'plain': the status is the low byte of the value written (0 = success), the vmrun protocol.
// - 'qemu':  the status is ((value << 1) | 1) & 0xFF, what QEMU's process exits with, so test
//            suites written for QEMU see the same exit status.
// The whole value of a 1-, 2- or 4-byte write counts (the device decodes the access width, as
// QEMU's iosize property does). Reads return all ones for the access size.

import type { Device, DeviceState, MachineControl, RegisterDevice } from './device.js';

export type ExitPortMode = 'plain' | 'qemu';

export class ExitDevice implements RegisterDevice, Device {
  constructor(
    private readonly control: MachineControl,
    private readonly mode: ExitPortMode,
  ) {
    if (mode !== 'plain' && mode !== 'qemu') throw new Error(`exit-device: unknown mode ${String(mode)}`);
  }

  read(offset: number, size: number): number {
    checkAccess(offset, size);
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }

  write(offset: number, size: number, value: number): void {
    checkAccess(offset, size);
    const v = size === 1 ? value & 0xff : size === 2 ? value & 0xffff : value >>> 0;
    const status = this.mode === 'plain' ? v & 0xff : ((v << 1) | 1) & 0xff;
    this.control.requestExit(status, 'exit port');
  }

  /** Stateless: nothing to reset. */
  reset(): void {}

  save(): DeviceState {
    return { kind: 'exit-device', version: 1, mode: this.mode };
  }

  restore(s: DeviceState): void {
    if (s.kind !== 'exit-device' || s.version !== 1) {
      throw new Error(`exit-device: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
    if (s.mode !== this.mode) {
      throw new Error(`exit-device: saved mode ${String(s.mode)} differs from this device's mode ${this.mode}`);
    }
  }
}

function checkAccess(offset: number, size: number): void {
  if (offset !== 0) throw new Error(`exit-device: access at register offset ${offset} (valid: 0)`);
  if (size !== 1 && size !== 2 && size !== 4) throw new Error(`exit-device: access size ${size} (valid: 1, 2, 4)`);
}
