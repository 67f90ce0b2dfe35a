// The decoded-code cache: a write to a page that holds decoded code drops only the blocks whose
// bytes it overlaps, a page whose code keeps changing runs uncached (one instruction at a time)
// for a while, and the cache's size is bounded. Each guest is real-mode code at 0000:7C00.
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import { Vm } from '../../src/hv/vm.js';
import type { Vcpu } from '../../src/hv/vcpu.js';
import type { Cpu } from '../../src/cpu/cpu.js';
import { realModeVm } from '../support/x86-guest.js';

const core = (vcpu: Vcpu): Cpu => (vcpu as unknown as { cpu: Cpu }).cpu;

/** Run until HLT (at most `max` instructions), returning the registers. */
function runToHlt(vcpu: Vcpu, max = 50_000_000) {
  let n = 0;
  for (;;) {
    const reason = vcpu.run(1_000_000);
    n += vcpu.exit.instructions;
    if (reason === ExitReason.Hlt) return vcpu.getRegs();
    if (reason !== ExitReason.Budget || n > max) throw new Error(`unexpected exit ${reason} after ${n} instructions`);
  }
}

function guest(code: number[], regs: Partial<{ ecx: number; esp: number }> = {}) {
  const { vm, vcpu } = realModeVm(Vm, code);
  vcpu.setRegs({ ...vcpu.getRegs(), ...regs });
  return { vm, vcpu, cpu: core(vcpu) };
}

describe('decoded-code cache', () => {
  it('a stack in the code page below the code: CALL/RET pushes drop no block', () => {
    const { vcpu, cpu } = guest([
      0xe8, 0x03, 0x00, //       top: call f
      0xe2, 0xfb, //                  loop top
      0xf4, //                        hlt
      0x40, //                   f:   inc ax
      0xc3, //                        ret
    ], { ecx: 10_000, esp: 0x7c00 });
    const r = runToHlt(vcpu);
    expect(r.eax & 0xffff).toBe(10_000);
    expect(cpu.codeStats.blocksDecoded).toBeLessThanOrEqual(4);
  });

  it('data written in the code page after the code drops no block', () => {
    const { vm, vcpu, cpu } = guest([
      0x40, //                   top: inc ax
      0xa3, 0x00, 0x7e, //            mov [0x7e00], ax
      0x49, //                        dec cx
      0x75, 0xf9, //                  jnz top
      0xf4, //                        hlt
    ], { ecx: 5000 });
    runToHlt(vcpu);
    expect(Array.from(vm.readPhys(0x7e00, 2))).toEqual([5000 & 0xff, 5000 >> 8]);
    expect(cpu.codeStats.blocksDecoded).toBeLessThanOrEqual(3);
  });

  it('a write over one block of a page drops that block, not the others', () => {
    const code = new Array<number>(0x48).fill(0x90);
    code.splice(0, 8, 0x40, 0xa3, 0x42, 0x7c, 0xeb, 0x3a, 0x90, 0x90); // A: inc ax; mov [B+2], ax; jmp B
    code.splice(0x40, 8, 0x81, 0xc3, 0x00, 0x00, 0x49, 0x75, 0xb9, 0xf4); // B: add bx, imm16; dec cx; jnz A; hlt
    const n = 40;
    const { vcpu, cpu } = guest(code, { ecx: n });
    const r = runToHlt(vcpu);
    expect(r.ebx & 0xffff).toBe((n * (n + 1)) / 2); // each pass adds the immediate A wrote
    // B is decoded again after each patch; A only once (the whole page used to go: 2n).
    expect(cpu.codeStats.blocksDecoded).toBeLessThanOrEqual(n + 3);
    expect(cpu.codeStats.volatilePages).toBe(0);
  });

  it('code that keeps rewriting the next instruction runs uncached, correctly, in bounded memory', () => {
    const { vcpu, cpu } = guest([
      0x40, //                   top: inc ax
      0xa3, 0x06, 0x7c, //            mov [next+2], ax
      0x81, 0xc3, 0x00, 0x00, // next: add bx, imm16 (the immediate just written)
      0x49, //                        dec cx
      0x75, 0xf5, //                  jnz top
      0xf4, //                        hlt
    ], { ecx: 20_000 });
    const r = runToHlt(vcpu);
    expect(r.ebx & 0xffff).toBe(((20_000 * 20_001) / 2) % 65536);
    expect(cpu.codeStats.volatilePages).toBeGreaterThanOrEqual(1);
    expect(cpu.codeStats.singleDecodes).toBeGreaterThan(10_000);
    // Without the uncached mode every pass decoded (and allocated) the block anew.
    expect(cpu.codeStats.blocksDecoded).toBeLessThan(2_000);
    expect(cpu.blocks.size).toBeLessThan(10);
  });

  it('the cache holds at most maxCachedInsns decoded instructions; beyond, it starts over', () => {
    const code: number[] = [];
    for (let k = 0; k < 100; k++) code.push(0xeb, 0x00); // 100 one-instruction blocks: jmp $+2
    code.push(0x49, 0x0f, 0x85, 0x33, 0xff, 0xf4); //      dec cx; jnz 0x7c00; hlt
    const { vcpu, cpu } = guest(code, { ecx: 30 });
    cpu.maxCachedInsns = 50;
    runToHlt(vcpu);
    expect(vcpu.getRegs().ecx & 0xffff).toBe(0);
    expect(cpu.codeStats.flushes).toBeGreaterThanOrEqual(30);
    expect(cpu.cachedInsns).toBeLessThanOrEqual(51);
    expect(cpu.blocks.size).toBeLessThanOrEqual(51);
  });

  it('resuming in the middle of a block (after each MMIO exit) shares its decoded instructions', () => {
    // 40 × add al, [0] with DS = 0x9000 (0x90000: no RAM, MMIO), then hlt
    const code: number[] = [];
    for (let k = 0; k < 40; k++) code.push(0x02, 0x06, 0x00, 0x00); // add al, [0x0000] (DS-relative)
    code.push(0xf4);
    const vm = new Vm(0x80000); // RAM below 0x80000; 0x90000 is MMIO
    vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: 0x80000, hostOffset: 0, readonly: false });
    vm.writePhys(0x7c00, new Uint8Array(code));
    const vcpu = vm.createVcpu();
    const s = vcpu.getSregs();
    vcpu.setSregs({ ...s, cs: { ...s.cs, selector: 0, base: 0 }, ds: { ...s.ds, selector: 0x9000, base: 0x90000 } });
    vcpu.setRegs({ ...vcpu.getRegs(), eax: 0, eip: 0x7c00, esp: 0x7000 });
    const cpu = core(vcpu);
    let reads = 0;
    for (;;) {
      const reason = vcpu.run(1000);
      if (reason === ExitReason.Hlt) break;
      expect(reason).toBe(ExitReason.Mmio);
      vcpu.exit.mmioData = 1;
      reads++;
    }
    expect(reads).toBe(40);
    expect(vcpu.getRegs().eax & 0xff).toBe(40);
    // One block decoded; each resumption after an exit took the rest of it, not a fresh decode
    // of up to 64 instructions (which kept 64 records per instruction of such code).
    expect(cpu.codeStats.blocksDecoded).toBe(1);
    expect(cpu.codeStats.tailBlocks).toBe(40);
    expect(cpu.cachedInsns).toBe(41);
  });
});
