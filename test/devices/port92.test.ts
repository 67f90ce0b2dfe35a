import { describe, expect, it } from 'vitest';
import type { MachineControl } from '../../src/devices/device.js';
import { Port92 } from '../../src/devices/port92.js';

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

function make() {
  const c = new RecordingControl();
  const p = new Port92(c);
  return { c, p };
}

describe('Port92', () => {
  it('reads 0 after power-on', () => {
    const { p } = make();
    expect(p.read(0, 1)).toBe(0);
  });

  it('bit 1 sets the A20 gate, reported only on change', () => {
    const { c, p } = make();
    p.write(0, 1, 0x02);
    expect(p.read(0, 1)).toBe(0x02);
    p.write(0, 1, 0x02);
    p.write(0, 1, 0x00);
    expect(c.events).toEqual(['a20:true', 'a20:false']);
  });

  it('bit 0 rising asks for a reset, once per 0 → 1 transition', () => {
    const { c, p } = make();
    p.write(0, 1, 0x01);
    expect(c.events).toEqual(['reset:port 0x92']);
    expect(p.read(0, 1)).toBe(0x01);
    p.write(0, 1, 0x01); // still 1: no new edge
    expect(c.events.length).toBe(1);
    p.write(0, 1, 0x00);
    p.write(0, 1, 0x03);
    expect(c.events).toEqual(['reset:port 0x92', 'a20:true', 'reset:port 0x92']);
  });

  it('stores the other bits', () => {
    const { c, p } = make();
    p.write(0, 1, 0xc8);
    expect(p.read(0, 1)).toBe(0xc8);
    expect(c.events).toEqual([]);
  });

  it('reset clears the register so a later write of 1 resets again', () => {
    const { c, p } = make();
    p.write(0, 1, 0x03);
    p.reset();
    expect(p.read(0, 1)).toBe(0);
    p.write(0, 1, 0x01);
    expect(c.events.filter((e) => e.startsWith('reset')).length).toBe(2);
  });

  it('wide accesses: only the low byte is this port', () => {
    const { p } = make();
    p.write(0, 2, 0xff02);
    expect(p.read(0, 1)).toBe(0x02);
    expect(p.read(0, 2)).toBe(0xff02);
  });

  it('saves and restores', () => {
    const { p } = make();
    p.write(0, 1, 0x0a);
    const { c, p: q } = make();
    q.restore(JSON.parse(JSON.stringify(p.save())));
    expect(q.read(0, 1)).toBe(0x0a);
    expect(c.events).toEqual([]);
    expect(() => q.restore({ kind: 'port92', version: 9 })).toThrow();
    expect(() => q.write(1, 1, 0)).toThrow(/offset 1/);
  });
});
