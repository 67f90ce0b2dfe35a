import { describe, expect, it } from 'vitest';
import type { ByteSink } from '../../src/devices/device.js';
import { DebugConsole } from '../../src/devices/debugcon.js';

class RecordingSink implements ByteSink {
  readonly bytes: number[] = [];
  writeByte(byte: number): void {
    this.bytes.push(byte);
  }
}

describe('DebugConsole', () => {
  it('sends each written byte to the sink', () => {
    const sink = new RecordingSink();
    const d = new DebugConsole(sink);
    for (const ch of 'hi\n') d.write(0, 1, ch.charCodeAt(0));
    expect(String.fromCharCode(...sink.bytes)).toBe('hi\n');
  });

  it('sends only the low byte of a wide write', () => {
    const sink = new RecordingSink();
    const d = new DebugConsole(sink);
    d.write(0, 2, 0x4241);
    expect(sink.bytes).toEqual([0x41]);
  });

  it('reads 0xE9, the presence signature', () => {
    const d = new DebugConsole(new RecordingSink());
    expect(d.read(0, 1)).toBe(0xe9);
    expect(d.read(0, 2)).toBe(0xffe9);
  });

  it('rejects other offsets and foreign state', () => {
    const d = new DebugConsole(new RecordingSink());
    expect(() => d.read(2, 1)).toThrow(/offset 2/);
    expect(() => d.restore({ kind: 'uart', version: 1 })).toThrow();
    d.restore(d.save());
  });
});
