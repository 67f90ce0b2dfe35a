import { describe, expect, it } from 'vitest';
import type { MachineControl } from '../../src/devices/device.js';
import { ExitDevice } from '../../src/devices/exit-device.js';

class RecordingControl implements MachineControl {
  readonly events: string[] = [];
  requestReset(source: string): void {
    this.events.push(`reset:${source}`);
  }
  requestExit(status: number, source: string): void {
    this.events.push(`exit:${status}:${source}`);
  }
  setA20(enabled: boolean): void {
    this.events.push(`a20:${enabled}`);
  }
}

describe('ExitDevice', () => {
  it('plain mode exits with the low byte of the value', () => {
    const c = new RecordingControl();
    const d = new ExitDevice(c, 'plain');
    d.write(0, 1, 0);
    d.write(0, 1, 3);
    d.write(0, 4, 0x1234);
    expect(c.events).toEqual(['exit:0:exit port', 'exit:3:exit port', 'exit:52:exit port']);
  });

  it("qemu mode exits with (value << 1) | 1, as QEMU's isa-debug-exit", () => {
    const c = new RecordingControl();
    const d = new ExitDevice(c, 'qemu');
    d.write(0, 1, 0);
    d.write(0, 1, 0x10);
    d.write(0, 2, 0x0181); // (0x181 << 1 | 1) & 0xff = 0x03
    d.write(0, 4, 0xffffffff);
    expect(c.events).toEqual(['exit:1:exit port', 'exit:33:exit port', 'exit:3:exit port', 'exit:255:exit port']);
  });

  it('only the access width of the value counts', () => {
    const c = new RecordingControl();
    const d = new ExitDevice(c, 'qemu');
    d.write(0, 1, 0x1ff); // byte write: value 0xff
    expect(c.events).toEqual(['exit:255:exit port']);
  });

  it('reads as all ones for the access size', () => {
    const d = new ExitDevice(new RecordingControl(), 'plain');
    expect(d.read(0, 1)).toBe(0xff);
    expect(d.read(0, 2)).toBe(0xffff);
    expect(d.read(0, 4)).toBe(0xffffffff);
  });

  it('rejects bad offsets, sizes and modes', () => {
    const c = new RecordingControl();
    const d = new ExitDevice(c, 'plain');
    expect(() => d.write(1, 1, 0)).toThrow(/offset/);
    expect(() => d.write(0, 3, 0)).toThrow(/size/);
    expect(() => new ExitDevice(c, 'bogus' as 'plain')).toThrow(/mode/);
    expect(c.events).toEqual([]);
  });

  it('save/restore checks the mode', () => {
    const d = new ExitDevice(new RecordingControl(), 'qemu');
    const s = d.save();
    expect(s).toMatchObject({ kind: 'exit-device', version: 1, mode: 'qemu' });
    d.restore(s);
    expect(() => new ExitDevice(new RecordingControl(), 'plain').restore(s)).toThrow(/mode/);
  });
});
