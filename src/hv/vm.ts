// The VM: guest-physical memory over one block of host memory (a region of the machine's one
// WebAssembly.Memory, which also holds the vCPU's state), divided into KVM-style memory slots.
// Guest-physical space that no region covers is MMIO: accesses to it leave run() as Mmio exits.

import { PhysicalMemory } from '../cpu/memory.js';
import type { MemoryRegion } from './types.js';
import { Vcpu } from './vcpu.js';

export class Vm {
  /** The host memory behind every memory region (host offset 0 is byte 0). */
  readonly bytes: Uint8Array;
  private readonly phys: PhysicalMemory;
  private readonly regions = new Map<number, MemoryRegion>();
  private vcpu: Vcpu | null = null;

  /** `hostSize`: bytes of host memory to back all regions (a multiple of 4096). */
  constructor(hostSize: number) {
    if (hostSize <= 0 || hostSize % 4096 !== 0) throw new RangeError('host memory size must be a positive multiple of 4096');
    this.phys = new PhysicalMemory(hostSize);
    this.bytes = this.phys.u8;
  }

  /** Map (or with size 0, unmap) a slot, like KVM_SET_USER_MEMORY_REGION. */
  setMemoryRegion(region: MemoryRegion): void {
    const { slot, guestPhys, size, hostOffset } = region;
    if (guestPhys % 4096 !== 0 || size % 4096 !== 0 || hostOffset % 4096 !== 0) {
      throw new RangeError(`memory slot ${slot}: addresses and size must be page aligned`);
    }
    const old = this.regions.get(slot);
    if (old) this.phys.unmap(old.guestPhys, old.size);
    if (size === 0) {
      this.regions.delete(slot);
      return;
    }
    if (hostOffset + size > this.bytes.length) throw new RangeError(`memory slot ${slot} exceeds the host buffer`);
    if (guestPhys + size > 0x1_0000_0000) throw new RangeError(`memory slot ${slot} exceeds the 4 GiB physical space`);
    for (const r of this.regions.values()) {
      if (guestPhys < r.guestPhys + r.size && r.guestPhys < guestPhys + size) {
        throw new RangeError(`memory slot ${slot} overlaps slot ${r.slot}`);
      }
    }
    this.regions.set(slot, { ...region });
    this.phys.map(guestPhys, size, hostOffset, region.readonly);
  }

  getMemoryRegions(): MemoryRegion[] {
    return [...this.regions.values()].map((r) => ({ ...r }));
  }

  /**
   * Copy bytes into guest-physical memory from the monitor side (a loader). Code cached from the
   * pages written is invalidated. Throws when the range is not backed by writable RAM.
   */
  writePhys(guestPhys: number, data: Uint8Array): void {
    this.phys.hostWrite(guestPhys, data);
  }

  /** Copy bytes out of guest-physical memory (unmapped bytes read as 0xFF). */
  readPhys(guestPhys: number, length: number): Uint8Array {
    return this.phys.hostRead(guestPhys, length);
  }

  /** The A20 gate (port 0x92, the i8042 output port). Disabled, physical bit 20 reads as 0. */
  setA20(enabled: boolean): void {
    this.phys.setA20(enabled);
  }

  get a20(): boolean {
    return this.phys.a20;
  }

  /** One vCPU per VM for now (uniprocessor PC). */
  createVcpu(): Vcpu {
    if (this.vcpu) throw new Error('this VM already has a vCPU');
    this.vcpu = new Vcpu(this.phys);
    return this.vcpu;
  }
}
