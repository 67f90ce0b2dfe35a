// The CPL right after CR0.PE is set: CS still holds a real-mode selector, whose low two bits are
// not a privilege level; the CPL stays 0 until a protected-mode CS load. (Conforming segments,
// where the CPL is not the DPL of CS either, are covered by the Bochs-checked set,
// test/cpu/protection-bochs.test.ts.) A flat real-mode guest at 0000:7C00, hand-assembled.
import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/vmm/machine.js';

async function runFlat(code: number[]) {
  const m = new Machine({
    memorySize: 4 * 1024 * 1024,
    kernel: new Uint8Array(code),
    kernelPath: 'cpl.bin',
    clock: 'virtual',
    rtcStartMs: Date.UTC(2000, 0, 1),
    exitPort: 'plain',
    noReboot: true,
    timeoutMs: 10_000,
    console: { writeByte: () => {} },
  });
  return m.run();
}

describe('CPL after CR0.PE is set', () => {
  it('is 0 while CS holds a real-mode selector with RPL bits 3 (privileged instructions and I/O work)', async () => {
    const code = new Array<number>(0x60).fill(0xf4);
    // 7C00: jmp far 07C3:0005          -> CS = 0x07C3 (base 0x7C30), IP = 5: linear 0x7C35
    code.splice(0, 5, 0xea, 0x05, 0x00, 0xc3, 0x07);
    code.splice(0x35, 18,
      0x0f, 0x20, 0xc0, //  mov eax, cr0
      0x0c, 0x01, //        or al, 1
      0x0f, 0x22, 0xc0, //  mov cr0, eax        PE = 1; CS is still 0x07C3
      0x0f, 0x20, 0xc0, //  mov eax, cr0        #GP at CPL 3 (and the IVT is no IDT: shutdown)
      0x0f, 0x22, 0xd8, //  mov cr3, eax
      0xb0, 0x00, //        mov al, 0
      0xe6, 0xf4); //       out 0xf4, al        #GP at CPL 3 with IOPL 0
    const r = await runFlat(code);
    expect({ status: r.status, reason: r.reason }).toEqual({ status: 0, reason: 'the guest wrote 0 to the exit port' });
  });
});
