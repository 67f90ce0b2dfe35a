import { describe, expect, it } from 'vitest';
import type { RegisterDevice } from '../../src/devices/device.js';
import { MmioBus, PortBus } from '../../src/vmm/bus.js';

/** A device that records accesses and reads back `base + offset` (or a fixed value). */
class Recorder implements RegisterDevice {
  readonly reads: [number, number][] = [];
  readonly writes: [number, number, number][] = [];
  constructor(private readonly readValue?: number) {}
  read(offset: number, size: number): number {
    this.reads.push([offset, size]);
    return this.readValue ?? 0x10 + offset;
  }
  write(offset: number, size: number, value: number): void {
    this.writes.push([offset, size, value]);
  }
}

describe('PortBus', () => {
  it('dispatches by port with offset = port - base', () => {
    const bus = new PortBus();
    const com1 = new Recorder();
    bus.register(0x3f8, 8, com1, 'com1');
    expect(bus.read(0x3fd, 1)).toBe(0x15);
    bus.write(0x3f8, 1, 0x41);
    expect(com1.reads).toEqual([[5, 1]]);
    expect(com1.writes).toEqual([[0, 1, 0x41]]);
    expect(bus.nameAt(0x3ff)).toBe('com1');
    expect(bus.nameAt(0x400)).toBeNull();
  });

  it('passes 2- and 4-byte accesses through to the device with their size', () => {
    const bus = new PortBus();
    const dev = new Recorder(0x12345678);
    bus.register(0x40, 4, dev, 'pit');
    expect(bus.read(0x40, 2)).toBe(0x5678); // masked to the access size
    expect(bus.read(0x40, 4)).toBe(0x12345678);
    bus.write(0x42, 2, 0xabcdef);
    bus.write(0x40, 4, -1);
    expect(dev.reads).toEqual([[0, 2], [0, 4]]);
    expect(dev.writes).toEqual([[2, 2, 0xcdef], [0, 4, 0xffffffff]]);
  });

  it('reads unclaimed ports as all ones and drops writes to them', () => {
    const bus = new PortBus();
    expect(bus.read(0x1234, 1)).toBe(0xff);
    expect(bus.read(0x1234, 2)).toBe(0xffff);
    expect(bus.read(0xcf8, 4)).toBe(0xffffffff);
    expect(() => bus.write(0x1234, 1, 0)).not.toThrow();
  });

  it('rejects overlapping and out-of-range registrations', () => {
    const bus = new PortBus();
    bus.register(0x20, 2, new Recorder(), 'pic-master');
    expect(() => bus.register(0x21, 1, new Recorder(), 'other')).toThrow(/overlaps pic-master at 0x21/);
    expect(() => bus.register(0x1f, 2, new Recorder(), 'other')).toThrow(/overlaps/);
    expect(() => bus.register(0xffff, 2, new Recorder(), 'big')).toThrow(RangeError);
    expect(() => bus.register(0x10, 0, new Recorder(), 'empty')).toThrow(RangeError);
    bus.register(0x22, 1, new Recorder(), 'next door'); // adjacent is fine
  });

  it('applies an offset bias (the i8042: port 0x60 → offset 0, port 0x64 → offset 1)', () => {
    const bus = new PortBus();
    const kbd = new Recorder();
    bus.register(0x60, 1, kbd, 'i8042-data');
    bus.register(0x64, 1, kbd, 'i8042-cmd', 1);
    bus.write(0x64, 1, 0xfe);
    bus.write(0x60, 1, 0xf4);
    expect(bus.read(0x64, 1)).toBe(0x11);
    expect(kbd.writes).toEqual([[1, 1, 0xfe], [0, 1, 0xf4]]);
    expect(bus.read(0x61, 1)).toBe(0xff);
  });

  it('traces claimed and unclaimed accesses when asked', () => {
    const bus = new PortBus();
    bus.register(0x80, 1, new Recorder(7), 'post');
    const seen: string[] = [];
    bus.trace = (write, port, size, value, name) => seen.push(`${write ? 'w' : 'r'} ${port.toString(16)} ${size} ${value.toString(16)} ${name}`);
    bus.write(0x80, 1, 0x55);
    bus.read(0x80, 1);
    bus.read(0x81, 2);
    expect(seen).toEqual(['w 80 1 55 post', 'r 80 1 7 post', 'r 81 2 ffff null']);
  });

  it('lists its map', () => {
    const bus = new PortBus();
    bus.register(0x70, 2, new Recorder(), 'rtc');
    expect(bus.map()).toEqual([{ base: 0x70, length: 2, name: 'rtc' }]);
  });
});

describe('MmioBus', () => {
  it('dispatches by address and reads unclaimed space as all ones', () => {
    const bus = new MmioBus();
    const apic = new Recorder(0xdeadbeef);
    bus.register(0xfee00000, 0x1000, apic, 'lapic');
    expect(bus.read(0xfee00030, 4)).toBe(0xdeadbeef);
    bus.write(0xfee000b0, 4, 0);
    expect(apic.reads).toEqual([[0x30, 4]]);
    expect(apic.writes).toEqual([[0xb0, 4, 0]]);
    expect(bus.read(0xfec00000, 4)).toBe(0xffffffff);
    expect(bus.read(0xfec00000, 1)).toBe(0xff);
    expect(() => bus.write(0xfec00000, 4, 1)).not.toThrow();
    expect(bus.nameAt(0xfee00fff)).toBe('lapic');
    expect(bus.nameAt(0xfee01000)).toBeNull();
  });

  it('rejects overlaps and ranges beyond 4 GiB', () => {
    const bus = new MmioBus();
    bus.register(0xfec00000, 0x1000, new Recorder(), 'ioapic');
    expect(() => bus.register(0xfec00800, 0x1000, new Recorder(), 'x')).toThrow(/overlaps ioapic/);
    expect(() => bus.register(0xfffff000, 0x2000, new Recorder(), 'x')).toThrow(RangeError);
  });
});
