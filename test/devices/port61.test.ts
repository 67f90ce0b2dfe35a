import { describe, expect, it } from 'vitest';
import type { Clock, IrqLine } from '../../src/devices/device.js';
import { Pit8254, nsAtPitTick, pitTicksAt } from '../../src/devices/pit8254.js';
import { REFRESH_TOGGLE_NS, SystemControlPortB } from '../../src/devices/port61.js';

class ManualClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

const noIrq: IrqLine = { setLevel: () => {} };

function setup(): { clock: ManualClock; pit: Pit8254; port: SystemControlPortB } {
  const clock = new ManualClock();
  const pit = new Pit8254(clock, noIrq);
  const port = new SystemControlPortB(pit, clock);
  return { clock, pit, port };
}

function at(clock: ManualClock, tick: number): void {
  clock.t = nsAtPitTick(tick) + 100;
}

/** Latch and read counter 2 of the PIT. */
function count2(pit: Pit8254): number {
  pit.write(3, 1, 0x80);
  const lo = pit.read(2, 1);
  return lo | (pit.read(2, 1) << 8);
}

describe('system control port B (0x61)', () => {
  it('bit 0 gates PIT counter 2', () => {
    const { clock, pit, port } = setup();
    at(clock, 0);
    pit.write(3, 1, 0xb4); // counter 2, mode 2
    pit.write(2, 1, 0xe8);
    pit.write(2, 1, 0x03); // 1000
    at(clock, 100);
    expect(count2(pit)).toBe(1000); // gate low since reset: loaded, not counting
    port.write(0, 1, 0x01); // gate rises in tick 100: reload at 101
    at(clock, 151);
    expect(count2(pit)).toBe(950);
    port.write(0, 1, 0x00);
    at(clock, 400);
    expect(count2(pit)).toBe(950);
  });

  it('bit 5 reads OUT2', () => {
    const { clock, pit, port } = setup();
    at(clock, 0);
    port.write(0, 1, 0x01);
    pit.write(3, 1, 0xb0); // counter 2, mode 0
    pit.write(2, 1, 10);
    pit.write(2, 1, 0);
    const written = pitTicksAt(clock.t);
    at(clock, written + 10);
    expect(port.read(0, 1) & 0x20).toBe(0);
    at(clock, written + 11);
    expect(port.read(0, 1) & 0x20).toBe(0x20);
  });

  it('bits 0-3 read back; writes to bits 4-7 are ignored and bits 6-7 read 0', () => {
    const { clock, port } = setup();
    clock.t = 0; // refresh bit 0; OUT2 high (counter 2 unloaded in mode 3 after reset)
    expect(port.read(0, 1)).toBe(0x20);
    port.write(0, 1, 0xfe);
    expect(port.read(0, 1)).toBe(0x20 | 0x0e);
    port.write(0, 1, 0x05);
    expect(port.read(0, 1) & 0xcf).toBe(0x05);
  });

  it('bit 4 toggles every 15.085 us', () => {
    const { clock, port } = setup();
    const bit4 = (ns: number): number => {
      clock.t = ns;
      return (port.read(0, 1) >> 4) & 1;
    };
    expect(REFRESH_TOGGLE_NS).toBe(15085);
    expect(bit4(0)).toBe(0);
    expect(bit4(15084)).toBe(0);
    expect(bit4(15085)).toBe(1);
    expect(bit4(30169)).toBe(1);
    expect(bit4(30170)).toBe(0);
    expect(bit4(15085 * 1_000_000_001)).toBe(1); // beyond 2^32 ns
  });

  it('wider accesses read all ones above the port', () => {
    const { clock, port } = setup();
    clock.t = 0;
    expect(port.read(0, 2)).toBe(0xff20);
    expect(port.read(0, 4)).toBe(0xffffff20);
  });

  it('reset clears the register and the gate; save/restore re-drives the gate', () => {
    const { clock, pit, port } = setup();
    at(clock, 0);
    pit.write(3, 1, 0xb4);
    pit.write(2, 1, 100);
    pit.write(2, 1, 0);
    port.write(0, 1, 0x0b);
    const state = JSON.parse(JSON.stringify(port.save()));
    port.reset();
    expect(port.read(0, 1) & 0x0f).toBe(0);
    at(clock, 10);
    const held = count2(pit);
    at(clock, 20);
    expect(count2(pit)).toBe(held); // gate low
    port.restore(state);
    expect(port.read(0, 1) & 0x0f).toBe(0x0b);
    at(clock, 30);
    expect(count2(pit)).toBe(100 - 9); // gate rose in tick 20, reloaded at 21
    expect(() => port.restore({ kind: 'port92', version: 1, value: 0 })).toThrow(/port61/);
  });
});
