// Reproducers for state that Vcpu.reset() (Cpu.reset in src/cpu/cpu.ts) leaves from before the
// reset, found because the in-process fuzzer reuses one vCPU for many cases (inproc.ts works
// around both). The expectations are the SDM's.
import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/hv/vm.js';
import { realModeVm } from '../../support/x86-guest.js';

const R_HLT = 3;

describe('Vcpu.reset()', () => {
  // DR7 reads 0x400 after the reset, but the breakpoints the core derived from the old DR7 (in
  // updateDebug, only called on MOV DR7 / MOV CR4) stay armed: an instruction breakpoint on
  // DR0 = 0 then fires at linear address 0.
  it('disarms the breakpoints DR7 had enabled (SDM vol. 3 table 9-1: DR7 = 0x400)', () => {
    // 7C00: mov eax, 1 ; mov dr7, eax (L0: execution breakpoint at DR0 = 0) ; hlt
    const { vm, vcpu } = realModeVm(Vm, [0x66, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x23, 0xf8, 0xf4]);
    expect(vcpu.run(100)).toBe(R_HLT);
    vcpu.reset();
    // 0000:0000: jmp 0x08 (over the IVT entry of #DB at 4, which points to 0000:0100) ; 0008: hlt
    vm.writePhys(0, new Uint8Array([0xeb, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0xf4]));
    // 0100: mov al, 0x42 ; hlt (the #DB handler)
    vm.writePhys(0x100, new Uint8Array([0xb0, 0x42, 0xf4]));
    const s = vcpu.getSregs();
    s.cs = { ...s.cs, selector: 0, base: 0 };
    vcpu.setSregs(s);
    vcpu.setRegs({ ...vcpu.getRegs(), eip: 0, esp: 0x7000 });
    expect(vcpu.run(100)).toBe(R_HLT);
    const r = vcpu.getRegs();
    expect([r.eip, r.eax & 0xff]).toEqual([9, 0]);
  });

  // The TSC reads instructions retired since the vCPU was created plus an offset; reset() keeps both.
  it('sets the time-stamp counter to 0 (SDM vol. 3 17.17: the TSC is set to 0 on RESET)', () => {
    const { vcpu } = realModeVm(Vm, [0x90, 0x90, 0x90, 0xf4]);
    expect(vcpu.run(100)).toBe(R_HLT);
    vcpu.reset();
    expect(vcpu.getMsrs([0x10])[0].value).toBe(0n);
  });
});
