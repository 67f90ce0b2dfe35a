// The machine's two buses: the 64 KiB x86 I/O port space and guest-physical MMIO.
// A device is mapped at a base with a length; an access reaches it with offset = address - base
// (plus an optional offset bias, for devices whose register offsets are not contiguous ports,
// such as the i8042 at 0x60 and 0x64). Addresses nobody claims read as all ones and drop
// writes, as an ISA bus with nothing answering does.

import type { RegisterDevice } from '../devices/device.js';

/** Called for every port or MMIO access when tracing is on; `name` is null for unclaimed ones. */
export type BusTrace = (write: boolean, addr: number, size: number, value: number, name: string | null) => void;

/** All ones for an access of `size` bytes. */
export function allOnes(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

function maskFor(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : -1;
}

const PORT_SPACE = 0x10000;
const MAX_PORT_DEVICES = 0x7fff;

/** Human-readable port number, e.g. 0x3f8. */
export function hexPort(port: number): string {
  return '0x' + port.toString(16).padStart(2, '0');
}

export class PortBus {
  /** Port → index into the device arrays, or -1 when unclaimed. */
  private readonly owner = new Int16Array(PORT_SPACE).fill(-1);
  private readonly devices: RegisterDevice[] = [];
  /** Per device: offset = port + delta (delta = offsetBias - base). */
  private readonly deltas: number[] = [];
  private readonly names: string[] = [];
  private readonly ranges: { base: number; length: number; name: string }[] = [];
  /** Set to trace every access (slow path only when set). */
  trace: BusTrace | null = null;

  /**
   * Claim ports base .. base+length-1 for `dev`. An access at `port` reaches the device with
   * offset `port - base + offsetBias`. Throws when a port is already claimed.
   */
  register(base: number, length: number, dev: RegisterDevice, name: string, offsetBias = 0): void {
    if (!Number.isInteger(base) || !Number.isInteger(length) || length < 1 || base < 0 || base + length > PORT_SPACE) {
      throw new RangeError(`port bus: bad range ${hexPort(base)}+${length} for ${name}`);
    }
    for (let p = base; p < base + length; p++) {
      const id = this.owner[p];
      if (id >= 0) {
        throw new Error(`port bus: ${name} at ${hexPort(base)}-${hexPort(base + length - 1)} overlaps ${this.names[id]} at ${hexPort(p)}`);
      }
    }
    if (this.devices.length >= MAX_PORT_DEVICES) throw new Error('port bus: too many devices');
    const id = this.devices.length;
    this.devices.push(dev);
    this.deltas.push(offsetBias - base);
    this.names.push(name);
    this.ranges.push({ base, length, name });
    this.owner.fill(id, base, base + length);
  }

  /** Read `size` bytes (1, 2, 4) at `port`; unclaimed ports read all ones. */
  read(port: number, size: number): number {
    const id = this.owner[port & 0xffff];
    let value: number;
    if (id < 0) value = allOnes(size);
    else value = (this.devices[id].read(port + this.deltas[id], size) & maskFor(size)) >>> 0;
    if (this.trace !== null) this.trace(false, port, size, value, id < 0 ? null : this.names[id]);
    return value;
  }

  /** Write the low `size` bytes of `value` at `port`; writes to unclaimed ports are dropped. */
  write(port: number, size: number, value: number): void {
    const id = this.owner[port & 0xffff];
    const v = (value & maskFor(size)) >>> 0;
    if (this.trace !== null) this.trace(true, port, size, v, id < 0 ? null : this.names[id]);
    if (id >= 0) this.devices[id].write(port + this.deltas[id], size, v);
  }

  /** The name of the device that claims `port`, or null. */
  nameAt(port: number): string | null {
    const id = this.owner[port & 0xffff];
    return id < 0 ? null : this.names[id];
  }

  /** The registered ranges, in registration order (for diagnostics). */
  map(): { base: number; length: number; name: string }[] {
    return this.ranges.map((r) => ({ ...r }));
  }
}

/** Guest-physical MMIO windows. Few regions, so a linear scan over flat arrays. */
export class MmioBus {
  private readonly bases: number[] = [];
  private readonly ends: number[] = [];
  private readonly devices: RegisterDevice[] = [];
  private readonly names: string[] = [];
  trace: BusTrace | null = null;

  /** Claim guest-physical addr .. addr+length-1 (below 4 GiB). Throws on overlap. */
  register(addr: number, length: number, dev: RegisterDevice, name: string): void {
    if (!Number.isInteger(addr) || !Number.isInteger(length) || length < 1 || addr < 0 || addr + length > 0x1_0000_0000) {
      throw new RangeError(`mmio bus: bad range 0x${addr.toString(16)}+${length} for ${name}`);
    }
    const end = addr + length;
    for (let i = 0; i < this.bases.length; i++) {
      if (addr < this.ends[i] && this.bases[i] < end) {
        throw new Error(`mmio bus: ${name} at 0x${addr.toString(16)} overlaps ${this.names[i]}`);
      }
    }
    this.bases.push(addr);
    this.ends.push(end);
    this.devices.push(dev);
    this.names.push(name);
  }

  private find(addr: number): number {
    const bases = this.bases;
    for (let i = 0; i < bases.length; i++) {
      if (addr >= bases[i] && addr < this.ends[i]) return i;
    }
    return -1;
  }

  read(addr: number, size: number): number {
    const a = addr >>> 0;
    const i = this.find(a);
    const value = i < 0 ? allOnes(size) : (this.devices[i].read(a - this.bases[i], size) & maskFor(size)) >>> 0;
    if (this.trace !== null) this.trace(false, a, size, value, i < 0 ? null : this.names[i]);
    return value;
  }

  write(addr: number, size: number, value: number): void {
    const a = addr >>> 0;
    const i = this.find(a);
    const v = (value & maskFor(size)) >>> 0;
    if (this.trace !== null) this.trace(true, a, size, v, i < 0 ? null : this.names[i]);
    if (i >= 0) this.devices[i].write(a - this.bases[i], size, v);
  }

  nameAt(addr: number): string | null {
    const i = this.find(addr >>> 0);
    return i < 0 ? null : this.names[i];
  }
}
