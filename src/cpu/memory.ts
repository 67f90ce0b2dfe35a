// Guest-physical memory as the core sees it: the host memory of the VM (a region of the machine's
// one WebAssembly.Memory, see state.ts), a page map from guest-physical pages to host offsets
// (unmapped pages are MMIO), the A20 gate, and the set of pages that hold decoded code (so that
// writing them invalidates the cached blocks).

import { allocateMachineMemory, RAM_OFFSET } from './state.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
const PAGES = 1 << 20; // 4 GiB of physical address space

export class PhysicalMemory {
  /** The machine's memory: the vCPU state, the TLB and, from RAM_OFFSET, the host memory. */
  readonly memory: WebAssembly.Memory;
  readonly buffer: ArrayBuffer;
  /** Views of the host memory (index 0 is host offset 0, at RAM_OFFSET in the buffer). */
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  /** Host byte offset of each guest-physical page, or -1 when nothing is mapped there (MMIO). */
  readonly pageHost: Int32Array;
  /** 1 for pages of a read-only slot (guest writes are dropped, as KVM does for a ROM slot without MMIO). */
  readonly pageReadonly: Uint8Array;
  /** 1 for pages from which blocks were decoded. */
  readonly codePage: Uint8Array;
  /** Bit 20 of physical addresses is forced to 0 while the gate is closed. */
  a20Mask = -1;
  /** Called when the translation of physical pages changes (slot map, A20): the TLB must be flushed. */
  onMapChange: (() => void) | null = null;
  /** Called when bytes `offset .. offset + length` of a page holding decoded code are written. */
  onCodeWrite: ((page: number, offset: number, length: number) => void) | null = null;

  /** `hostBytes`: the size of the host memory behind the guest's RAM and ROM (a multiple of 4096). */
  constructor(hostBytes: number) {
    this.memory = allocateMachineMemory(hostBytes);
    const buffer = this.memory.buffer;
    this.buffer = buffer;
    this.u8 = new Uint8Array(buffer, RAM_OFFSET, hostBytes);
    this.u16 = new Uint16Array(buffer, RAM_OFFSET, hostBytes >>> 1);
    this.i32 = new Int32Array(buffer, RAM_OFFSET, hostBytes >>> 2);
    this.pageHost = new Int32Array(PAGES).fill(-1);
    this.pageReadonly = new Uint8Array(PAGES);
    this.codePage = new Uint8Array(PAGES);
  }

  get a20(): boolean {
    return this.a20Mask === -1;
  }

  setA20(enabled: boolean): void {
    const mask = enabled ? -1 : ~(1 << 20);
    if (mask === this.a20Mask) return;
    this.a20Mask = mask;
    this.onMapChange?.();
  }

  map(guestPhys: number, size: number, hostOffset: number, readonly: boolean): void {
    const first = guestPhys >>> PAGE_SHIFT;
    const count = size >>> PAGE_SHIFT;
    for (let k = 0; k < count; k++) {
      this.pageHost[first + k] = hostOffset + k * PAGE_SIZE;
      this.pageReadonly[first + k] = readonly ? 1 : 0;
    }
    this.onMapChange?.();
  }

  unmap(guestPhys: number, size: number): void {
    const first = guestPhys >>> PAGE_SHIFT;
    const count = size >>> PAGE_SHIFT;
    for (let k = 0; k < count; k++) {
      this.codeWritten(first + k, 0, PAGE_SIZE);
      this.pageHost[first + k] = -1;
      this.pageReadonly[first + k] = 0;
    }
    this.onMapChange?.();
  }

  /** Bytes of a page were changed behind the core: decoded code over them is dropped. */
  codeWritten(page: number, offset: number, length: number): void {
    if (this.codePage[page] !== 0) this.onCodeWrite?.(page, offset, length);
  }

  /** Monitor-side write (a loader): bypasses A20 and read-only slots, invalidates cached code. */
  hostWrite(guestPhys: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const addr = guestPhys + done;
      const page = Math.floor(addr / PAGE_SIZE);
      const host = page < PAGES ? this.pageHost[page] : -1;
      if (host < 0) {
        throw new RangeError(`guest-physical address 0x${addr.toString(16)} is not backed by RAM`);
      }
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      this.u8.set(data.subarray(done, done + n), host + off);
      this.codeWritten(page, off, n);
      done += n;
    }
  }

  /** Monitor-side read; unmapped bytes read as 0xFF. */
  hostRead(guestPhys: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const addr = guestPhys + done;
      const page = Math.floor(addr / PAGE_SIZE);
      const host = page < PAGES ? this.pageHost[page] : -1;
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - done);
      if (host < 0) out.fill(0xff, done, done + n);
      else out.set(this.u8.subarray(host + off, host + off + n), done);
      done += n;
    }
    return out;
  }
}
