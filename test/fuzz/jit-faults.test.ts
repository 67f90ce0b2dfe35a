// Regressions found by the in-process differential fuzzer (interpreter against every block
// compiled) in how compiled blocks fault. Each program runs on the interpreter, with every block
// compiled and with multi-block regions; the expected values are worked out from the SDM here.
import { describe, expect, it } from 'vitest';
import { ARITH, flatProtectedVm, GDT_BASE, le32, PF, rd32, segDescriptor, setupProtected } from '../support/x86-guest.js';
import { loadCore } from './cores.js';
import type { Core } from './inproc.js';

const R_HLT = 3, R_SHUTDOWN = 5;

const cores: Core[] = [await loadCore('interpreter'), await loadCore('compiled'), await loadCore('regions')];

/** 1 MiB of RAM, `code` at 0x1000, flat 32-bit protected mode at CPL 0, ESP 0x8000. */
function protMode(core: Core, code: number[]) {
  return flatProtectedVm(core.Vm, code);
}

describe.each(cores.map((c) => [c.name, c] as const))('faults in compiled blocks (%s)', (_name, core) => {
  it('ADD [m32], r32 across into a read-only page: #PF with the flags of the instruction before', () => {
    // cmp eax, edx ; add [0x4FFE], ebx ; hlt       (the #PF handler at 0x2000: hlt)
    const code = [0x39, 0xd0, 0x01, 0x1d, 0xfe, 0x4f, 0x00, 0x00, 0xf4];
    const { vm, vcpu } = protMode(core, code);
    // Identity paging of the first MiB, page 5 read-only (with CR0.WP, for CPL 0 too), page 4
    // writable and already dirty (so that the TLB grants writes to it at the first access).
    setupProtected(vm, vcpu, { gates: { 14: 0x2000 }, paging: { pte: { 4: (4 << 12) | 0x63, 5: (5 << 12) | 1 }, wp: true } });
    vm.writePhys(0x2000, new Uint8Array([0xf4]));
    vm.writePhys(0x4ffc, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    vcpu.setRegs({ ...vcpu.getRegs(), eax: 0x40ffa, edx: 0x30ffa, ebx: 0xffffffff }); // (the ADD would set CF and AF)
    expect(vcpu.run(1000)).toBe(R_HLT);
    const r = vcpu.getRegs();
    // In the handler: EIP past its HLT, the error code (present, write) and the ADD's EIP on the stack.
    expect(r.eip).toBe(0x2001);
    // (CR2: an address of the access in the read-only page.)
    expect(vcpu.getSregs().cr2 >>> 12).toBe(5);
    expect(rd32(vm, r.esp)).toBe(0x3);
    expect(rd32(vm, r.esp + 4)).toBe(0x1002);
    // 0x40FFA - 0x30FFA = 0x10000: PF only. The pushed EFLAGS and the handler's are the CMP's.
    expect((rd32(vm, r.esp + 12) & ARITH).toString(16)).toBe(PF.toString(16));
    expect((r.eflags & ARITH).toString(16)).toBe(PF.toString(16));
    // Nothing was written.
    expect([...vm.readPhys(0x4ffc, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a far JMP to a TSS whose CS faults: the instructions before it are counted at the exit', () => {
    // mov eax, 1 ; mov ebx, 2 ; jmp far 0x20:0
    const code = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xbb, 0x02, 0x00, 0x00, 0x00, 0xea, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00];
    const { vm, vcpu } = protMode(core, code);
    // GDT: null, code 0x08, data 0x10, the current TSS 0x18 (busy), the target TSS 0x20 at 0x6000,
    // whose CS selector is null: the switch commits, then loading CS raises #TS in the new task,
    // whose SS is not loaded yet: no stack for the delivery, #DF, triple fault.
    const gdt = [
      ...new Array<number>(8).fill(0),
      ...segDescriptor(0, 0xffffffff, 0xb), ...segDescriptor(0, 0xffffffff, 0x3),
      ...segDescriptor(0x5000, 0x67, 0xb, false), ...segDescriptor(0x6000, 0x67, 0x9, false),
    ];
    vm.writePhys(GDT_BASE, new Uint8Array(gdt));
    const tss = new Uint8Array(0x68);
    tss.set(le32(0x3000), 0x20); // EIP
    vm.writePhys(0x6000, tss);
    const s = vcpu.getSregs();
    s.gdt = { base: GDT_BASE, limit: gdt.length - 1 };
    s.idt = { base: 0, limit: 0 };
    s.tr = { selector: 0x18, base: 0x5000, limit: 0x67, type: 0xb, present: true, dpl: 0, db: false, s: false, g: false, avl: false, unusable: false };
    vcpu.setSregs(s);
    expect(vcpu.run(1000)).toBe(R_SHUTDOWN);
    // The two MOVs retired; the JMP did not.
    expect(vcpu.exit.instructions).toBe(2);
    const r = vcpu.getRegs();
    expect([r.eax, r.ebx]).toEqual([0, 0]); // the new task's registers (its TSS is zero)
    expect(rd32(vm, 0x5000 + 0x28)).toBe(1); // the old task's EAX, saved before the switch
    expect(r.eip).toBe(0x3000);
  });
});
