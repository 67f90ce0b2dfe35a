// Single-step (TF), debug-register breakpoints (instruction, data, I/O, general detect), and far
// calls through call gates, in flat 32-bit protected mode (see Flat32 in harness.ts).
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import type { Segment } from '../../src/hv/types.js';
import { F32, Flat32, flatSeg } from './harness.js';

const m = new Flat32();
const C = F32.CODE;
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const movEax = (v: number) => [0xb8, ...le32(v)];
const MOV_DR0_EAX = [0x0f, 0x23, 0xc0];
const MOV_DR7_EAX = [0x0f, 0x23, 0xf8];

describe('single-step and breakpoints', () => {
  it('TF set by POPF traps (#DB) after the instruction that follows the POPF', () => {
    // pushf ; or dword [esp], 0x100 ; popf ; nop ; nop
    const r = m.run([0x9c, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9d, 0x90, 0x90]);
    expect(r.vector).toBe(1);
    expect(r.faultEip).toBe(C + 10); // after the first NOP
  });

  it('an instruction breakpoint (DR0, RW=00) faults before the instruction executes', () => {
    // mov eax, C+17 ; mov dr0, eax ; mov eax, 1 (L0) ; mov dr7, eax ; nop ; inc ebx
    const code = [...movEax(C + 17), ...MOV_DR0_EAX, ...movEax(1), ...MOV_DR7_EAX, 0x90, 0x43];
    const r = m.run(code);
    expect(r.vector).toBe(1);
    expect(r.faultEip).toBe(C + 17);
    expect(r.regs.ebx).toBe(0); // INC EBX did not run
  });

  it('a data write breakpoint traps after the write; a read does not trigger it', () => {
    const D = F32.DATA;
    const arm = [...movEax(D), ...MOV_DR0_EAX, ...movEax(0x000d0001), ...MOV_DR7_EAX]; // L0, RW=01 (write), LEN=4
    const read = m.run([...arm, 0x8b, 0x1d, ...le32(D + 2), 0x90]); // mov ebx, [D+2] ; nop
    expect(read.vector).toBe(-1);
    const write = m.run([...arm, 0xa3, ...le32(D + 1), 0x90]); // mov [D+1], eax ; nop
    expect(write.vector).toBe(1);
    expect(write.faultEip).toBe(C + 21);
  });

  it('an I/O breakpoint (CR4.DE, RW=10) traps after the OUT', () => {
    // mov eax, cr4 ; or eax, 8 ; mov cr4, eax ; mov eax, 0x80 ; mov dr0, eax ; mov eax, 0x20001 ; mov dr7, eax ; out 0x80, al ; nop
    const code = [0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x08, 0x0f, 0x22, 0xe0, ...movEax(0x80), ...MOV_DR0_EAX,
      ...movEax(0x20001), ...MOV_DR7_EAX, 0xe6, 0x80, 0x90];
    const r = m.run(code);
    expect(r.vector).toBe(1);
    expect(r.faultEip).toBe(C + code.length - 1);
  });

  it('DR7.GD makes the next MOV to or from a debug register fault with #DB', () => {
    const code = [...movEax(0x2000), ...MOV_DR7_EAX, 0x0f, 0x21, 0xf0]; // mov eax, dr6
    const r = m.run(code);
    expect(r.vector).toBe(1);
    expect(r.faultEip).toBe(C + 8);
  });
});

// A GDT for the call-gate tests: 0x08 code DPL0, 0x10 data DPL0, 0x1b code DPL3, 0x23 data DPL3,
// 0x28 TSS, 0x30 call gate (DPL3) -> 0x08:TARGET with 2 dword parameters, 0x38 call gate DPL0.
const GDT = 0x600, TSS = 0x700, TARGET = 0x30000, STACK0 = 0x70000, STACK3 = 0x60000;
function desc(base: number, limit: number, access: number, flags: number): number[] {
  return [limit & 0xff, (limit >> 8) & 0xff, base & 0xff, (base >> 8) & 0xff, (base >> 16) & 0xff, access,
    (flags << 4) | ((limit >> 16) & 0xf), (base >>> 24) & 0xff];
}
function gate(sel: number, off: number, dpl: number, params: number): number[] {
  return [off & 0xff, (off >> 8) & 0xff, sel & 0xff, sel >> 8, params, 0x8c | (dpl << 5), (off >> 16) & 0xff, (off >>> 24) & 0xff];
}
function seg(selector: number, type: number, dpl: number): Segment {
  return { ...flatSeg(selector, type >= 8), type, dpl };
}

function callGateRun(cpl: number, gateSel: number) {
  const gdt = [
    0, 0, 0, 0, 0, 0, 0, 0,
    ...desc(0, 0xfffff, 0x9b, 0xc), ...desc(0, 0xfffff, 0x93, 0xc),
    ...desc(0, 0xfffff, 0xfb, 0xc), ...desc(0, 0xfffff, 0xf3, 0xc),
    ...desc(TSS, 0x67, 0x89, 0), ...gate(0x08, TARGET, 3, 2), ...gate(0x08, TARGET, 0, 0),
  ];
  m.run([0xf4]); // reset the machine's memory and IDT
  m.write(GDT, gdt);
  m.write(TSS + 4, le32(STACK0));
  m.write(TSS + 8, [0x10, 0]);
  // push 0x11111111 ; push 0x22222222 ; call far gateSel:0 ; hlt
  m.write(C, [0x68, ...le32(0x11111111), 0x68, ...le32(0x22222222), 0x9a, 0, 0, 0, 0, gateSel, 0, 0xf4]);
  m.write(TARGET, [0xf4]); // the target halts (HLT at CPL 0) so the state can be inspected
  const s = m.vcpu.getSregs();
  s.gdt = { base: GDT, limit: gdt.length - 1 };
  s.cr0 = 0x11;
  s.cs = seg(cpl === 3 ? 0x1b : 0x08, 0xb, cpl);
  s.ds = s.es = s.fs = s.gs = s.ss = seg(cpl === 3 ? 0x23 : 0x10, 0x3, cpl);
  s.tr = { ...seg(0x28, 0xb, 0), s: false, limit: 0x67, base: TSS, g: false, db: false };
  m.vcpu.setSregs(s);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), eip: C, esp: cpl === 3 ? STACK3 : STACK0, eflags: 2 });
  const reason = m.vcpu.run(1000);
  return { reason, regs: m.vcpu.getRegs(), sregs: m.vcpu.getSregs() };
}

describe('call gates', () => {
  it('CALL through a DPL-3 gate from ring 3 switches to the TSS stack and copies the parameters', () => {
    const r = callGateRun(3, 0x33);
    expect(r.reason).toBe(ExitReason.Hlt);
    expect(r.regs.eip).toBe(TARGET + 1);
    expect(r.sregs.cs.selector).toBe(0x08);
    expect(r.sregs.ss.selector).toBe(0x10);
    const sp = r.regs.esp;
    expect(sp).toBe(STACK0 - 6 * 4);
    // stack: EIP, CS, param 2 (pushed last = nearest), param 1, old ESP, old SS
    expect(m.read32(sp)).toBe(C + 17);
    expect(m.read32(sp + 4) & 0xffff).toBe(0x1b);
    expect(m.read32(sp + 8)).toBe(0x22222222);
    expect(m.read32(sp + 12)).toBe(0x11111111);
    expect(m.read32(sp + 16)).toBe(STACK3 - 8);
    expect(m.read32(sp + 20) & 0xffff).toBe(0x23);
  });

  it('a gate with DPL 0 is out of reach of ring 3: #GP(gate selector)', () => {
    const r = callGateRun(3, 0x3b);
    // #GP delivery needs an IDT entry; the Flat32 IDT handler for 13 is a HLT at HANDLERS+13.
    expect(r.regs.eip).toBe(F32.HANDLERS + 13 + 1);
    expect(m.read32(r.regs.esp)).toBe(0x38);
  });

  it('CALL through a gate at the same privilege pushes only CS:EIP', () => {
    const r = callGateRun(0, 0x38);
    expect(r.regs.eip).toBe(TARGET + 1);
    expect(r.regs.esp).toBe(STACK0 - 8 - 8);
    expect(m.read32(r.regs.esp)).toBe(C + 17);
    expect(m.read32(r.regs.esp + 4) & 0xffff).toBe(0x08);
  });
});

describe('read-modify-write instructions are atomic with respect to faults', () => {
  it('ADC [mem], reg whose write faults (#PF on a read-only page) leaves EFLAGS unchanged', () => {
    // Page tables: identity map the first 4 MiB, with the data page read-only; CR0.WP = 1.
    const PD = 0x90000, PT = 0x91000, D = F32.DATA;
    const pt: number[] = [];
    for (let p = 0; p < 1024; p++) pt.push(...le32((p << 12) | ((p << 12) === D ? 0x01 : 0x03)));
    // mov eax, PD ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80010000 ; mov cr0, eax ; stc ; adc [D], ebx
    const code = [...movEax(PD), 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x01, 0x80, 0x0f, 0x22, 0xc0,
      0xf9, 0x11, 0x1d, ...le32(D)];
    const r = m.run(code, { ebx: 0xffffffff }, 0x2, [[PD, le32(PT | 3)], [PT, pt], [D, le32(1)]]);
    expect(r.vector).toBe(14);
    expect(r.faultEip).toBe(C + 20);
    // EFLAGS pushed by the #PF are those STC left (the ADC would have set ZF, PF and AF).
    const pushedFlags = m.read32(r.regs.esp + 12);
    expect(pushedFlags & 0x8d5).toBe(0x85); // CF from STC, PF|SF from the OR before it
    expect(m.read32(D)).toBe(1);
  });
});

describe('i686 system-instruction details', () => {
  it('SYSCALL, SYSRET, RSM and the reserved 0F 39 raise #UD on this Intel family-6 model', () => {
    for (const code of [[0x0f, 0x05], [0x0f, 0x07], [0x0f, 0xaa], [0x0f, 0x39]]) {
      const r = m.run(code);
      expect(r.vector, code.map((b) => b.toString(16)).join(' ')).toBe(6);
    }
  });

  it('RDPMC reads the P6 counters (MSR 0xC1, which count nothing and drop writes) and #GPs for counter 2', () => {
    // mov ecx, 0xc1 ; mov eax, 0x12345 ; xor edx, edx ; wrmsr ; xor ecx, ecx ; rdpmc
    const ok = m.run([0xb9, 0xc1, 0, 0, 0, ...movEax(0x12345), 0x31, 0xd2, 0x0f, 0x30, 0x31, 0xc9, 0x0f, 0x33]);
    expect(ok.vector).toBe(-1);
    expect(ok.regs.eax).toBe(0);
    const bad = m.run([0xb9, 2, 0, 0, 0, 0x0f, 0x33]);
    expect(bad.vector).toBe(13);
  });

  it('CR4 refuses VME and OSXMMEXCPT (not reported by CPUID) with #GP', () => {
    for (const bit of [0x1, 0x400]) {
      const r = m.run([...movEax(bit), 0x0f, 0x22, 0xe0]); // mov cr4, eax
      expect(r.vector).toBe(13);
    }
  });

  it('RDMSR of PAT and MTRRcap gives their power-on values; an unknown MSR #GPs', () => {
    const pat = m.run([0xb9, 0x77, 0x02, 0, 0, 0x0f, 0x32]);
    expect([pat.regs.eax, pat.regs.edx]).toEqual([0x00070406, 0x00070406]);
    const cap = m.run([0xb9, 0xfe, 0, 0, 0, 0x0f, 0x32]);
    expect(cap.regs.eax).toBe(0x508);
    expect(m.run([0xb9, 0x34, 0x12, 0, 0, 0x0f, 0x32]).vector).toBe(13);
  });
});

describe('PAE paging with NX and global pages', () => {
  // PDPT at 0x90000 -> page directory 0x91000: entry 0 -> page table 0x92000 (4 KiB pages for
  // 0–2 MiB, identity), entry 1 -> a 2 MiB page (NX) at linear 2 MiB mapping physical 0.
  const PDPT = 0x90000, PD = 0x91000, PT = 0x92000;
  const q = (lo: number, hi: number) => [...le32(lo), ...le32(hi)];
  function tables(nxCodePage: boolean): Array<[number, number[]]> {
    const pt: number[] = [];
    for (let p = 0; p < 512; p++) {
      const addr = p << 12;
      pt.push(...q(addr | 0x03, nxCodePage && addr === F32.DATA ? 0x80000000 : 0));
    }
    return [[PDPT, [...q(PD | 1, 0), ...q(0, 0), ...q(0, 0), ...q(0, 0)]],
      [PD, [...q(PT | 0x03, 0), ...q(0x000000 | 0x83, 0x80000000)]], [PT, pt]];
  }
  // mov eax, cr4 ; or eax, 0x20 (PAE) ; mov cr4, eax ; mov ecx, 0xC0000080 ; rdmsr ; or eax, 0x800 (NXE) ; wrmsr ;
  // mov eax, PDPT ; mov cr3, eax ; mov eax, cr0 ; or eax, 0x80000000 ; mov cr0, eax
  const enable = [0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32,
    0x0d, 0x00, 0x08, 0x00, 0x00, 0x0f, 0x30, ...movEax(PDPT), 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80,
    0x0f, 0x22, 0xc0];

  it('reads and writes through 4 KiB PAE pages and a 2 MiB page, setting A/D in the 64-bit entries', () => {
    // mov dword [0x250010], 0x55 ; mov ebx, [0x250010] ; mov dword [DATA], 7
    const code = [...enable, 0xc7, 0x05, ...le32(0x250010), ...le32(0x55), 0x8b, 0x1d, ...le32(0x250010),
      0xc7, 0x05, ...le32(F32.DATA), ...le32(7)];
    const r = m.run(code, {}, 0x2, tables(false));
    expect(r.vector).toBe(-1);
    expect(r.regs.ebx).toBe(0x55);
    expect(m.read32(0x50010)).toBe(0x55); // linear 0x250010 is physical 0x50010
    expect(m.read32(PD + 8) & 0x60).toBe(0x60); // the 2 MiB page's PDE: accessed and dirty
    expect(m.read32(PT + (F32.DATA >> 12) * 8) & 0x60).toBe(0x60);
    expect(m.read32(PD) & 0x20).toBe(0x20); // the PDE above the page table: accessed
  });

  it('a fetch from an NX page is a #PF with the I/D bit; reading it is allowed', () => {
    // jump into the NX data page: mov eax, DATA ; jmp eax   (the page holds a NOP + HLT)
    const code = [...enable, 0x8b, 0x1d, ...le32(F32.DATA), ...movEax(F32.DATA), 0xff, 0xe0];
    const r = m.run(code, {}, 0x2, [...tables(true), [F32.DATA, [0x90, 0xf4]]]);
    expect(r.vector).toBe(14);
    expect(r.errorCode).toBe(0x11); // present, instruction fetch
    expect(r.faultEip).toBe(F32.DATA);
    expect(r.regs.ebx & 0xffff).toBe(0xf490); // the read before the jump worked
  });
});

describe('CPU models (--cpu): the core honours the CPUID table', () => {
  it('on the i486 model CMOV, RDTSC, CMPXCHG8B and SYSENTER are #UD and CR4.PGE is #GP', async () => {
    const { cpuidForModel } = await import('../../src/hv/cpu-models.js');
    const i486 = new Flat32();
    i486.vcpu.setCpuid(cpuidForModel('i486'));
    // Flat32.run resets the vCPU, which keeps the CPUID table it was given.
    for (const code of [[0x0f, 0x44, 0xc1], [0x0f, 0x31], [0x0f, 0xc7, 0x0e], [0x0f, 0x34]]) {
      expect(i486.run(code).vector, code.map((b) => b.toString(16)).join(' ')).toBe(6);
    }
    expect(i486.run([...movEax(0x80), 0x0f, 0x22, 0xe0]).vector).toBe(13);
    // The default model has them: CMOV runs.
    expect(m.run([0x0f, 0x44, 0xc1]).vector).toBe(-1);
  });
});

describe('REP STOS / REP MOVS bulk path', () => {
  it('REP STOSD over 3 pages, then an overlapping forward REP MOVSB replicates bytes as x86 defines', () => {
    const D = F32.DATA;
    // Touch the pages first (so the TLB grants the fast path), then:
    // mov edi, D ; mov ecx, 3000 ; mov eax, 0xA5A5A5A5 ; cld ; rep stosd
    // mov byte [D], 0x11 ; mov esi, D ; mov edi, D+1 ; mov ecx, 5000 ; rep movsb
    const touch = [0xc7, 0x05, ...le32(D), 0, 0, 0, 0, 0xc7, 0x05, ...le32(D + 0x1000), 0, 0, 0, 0,
      0xc7, 0x05, ...le32(D + 0x2000), 0, 0, 0, 0];
    const code = [...touch, 0xbf, ...le32(D), 0xb9, ...le32(3000), ...movEax(0xa5a5a5a5), 0xfc, 0xf3, 0xab,
      0xc6, 0x05, ...le32(D), 0x11, 0xbe, ...le32(D), 0xbf, ...le32(D + 1), 0xb9, ...le32(5000), 0xf3, 0xa4];
    const r = m.run(code);
    expect(r.vector).toBe(-1);
    expect(r.regs.ecx).toBe(0);
    expect(r.regs.edi).toBe(D + 5001);
    // bytes D..D+5000 are all 0x11 (forward overlap copies the first byte along), the rest of the
    // STOSD area keeps 0xA5
    for (const off of [0, 1, 4095, 4096, 5000]) expect(m.read8(D + off), `offset ${off}`).toBe(0x11);
    expect(m.read8(D + 5001)).toBe(0xa5);
    expect(m.read32(D + 11996)).toBe(0xa5a5a5a5);
    expect(m.read8(D + 12000)).toBe(0);
  });
  // Each case against an element-by-element model of the instruction (read the element, then
  // write it, then step ESI/EDI), on pages the guest has touched first so that the bulk path runs.
  const D = F32.DATA;
  const AREA = 0x4000;
  const pattern = Array.from({ length: AREA }, (_, k) => (k * 167 + (k >> 8) * 13 + 1) & 0xff);
  const touch = [0, 1, 2, 3].flatMap((p) => [0x83, 0x05, ...le32(D + p * 0x1000), 0x00]); // add dword [page], 0
  interface Case { name: string; op: number[]; size: number; down: boolean; esi?: number; edi: number; ecx: number; eax?: number }
  const cases: Case[] = [
    { name: 'std ; rep movsd across pages, apart', op: [0xa5], size: 4, down: true, esi: D + 0x1ffc, edi: D + 0x3ff8, ecx: 0x500 },
    { name: 'std ; rep movsd, destination 16 bytes above the source (a memmove)', op: [0xa5], size: 4, down: true, esi: D + 0x2ff0, edi: D + 0x3000, ecx: 0x700 },
    { name: 'std ; rep movsd, destination 1 byte above the source', op: [0xa5], size: 4, down: true, esi: D + 0x2000, edi: D + 0x2001, ecx: 0x300 },
    { name: 'std ; rep movsb, destination below the source (bytes replicate)', op: [0xa4], size: 1, down: true, esi: D + 0x2801, edi: D + 0x2800, ecx: 0x1800 },
    { name: 'std ; rep movsd, destination 6 bytes below the source (elements replicate)', op: [0xa5], size: 4, down: true, esi: D + 0x3006, edi: D + 0x3000, ecx: 0x600 },
    { name: 'std ; rep movsw, elements straddling page boundaries', op: [0x66, 0xa5], size: 2, down: true, esi: D + 0x2fff, edi: D + 0x1fff, ecx: 0x900 },
    { name: 'cld ; rep movsd, destination 10 bytes above the source (elements replicate)', op: [0xa5], size: 4, down: false, esi: D + 0xf00, edi: D + 0xf0a, ecx: 0x800 },
    { name: 'cld ; rep movsd, destination 2 bytes above the source', op: [0xa5], size: 4, down: false, esi: D + 0x100, edi: D + 0x102, ecx: 0x900 },
    { name: 'std ; rep stosd across pages', op: [0xab], size: 4, down: true, edi: D + 0x3004, ecx: 0x900, eax: 0x12345678 },
    { name: 'std ; rep stosw, misaligned', op: [0x66, 0xab], size: 2, down: true, edi: D + 0x2ffd, ecx: 0x1000, eax: 0xbeef },
    { name: 'std ; rep stosb', op: [0xaa], size: 1, down: true, edi: D + 0x3fff, ecx: 0x3000, eax: 0x5c },
  ];
  for (const k of cases) {
    it(k.name, () => {
      const model = new Uint8Array(AREA);
      model.set(pattern);
      const step = k.down ? -k.size : k.size;
      let si = (k.esi ?? 0) - D, di = k.edi - D;
      for (let e = 0; e < k.ecx; e++) {
        const el = k.esi === undefined ? [0, 1, 2, 3].map((b) => ((k.eax ?? 0) >>> (8 * b)) & 0xff) : [...model.subarray(si, si + k.size)];
        for (let b = 0; b < k.size; b++) model[di + b] = el[b];
        si += step;
        di += step;
      }
      const code = [...touch, 0xbe, ...le32(k.esi ?? 0), 0xbf, ...le32(k.edi), 0xb9, ...le32(k.ecx), ...movEax(k.eax ?? 0),
        k.down ? 0xfd : 0xfc, 0xf3, ...k.op, 0xfc];
      const r = m.run(code, {}, 0x2, [[D, pattern]]);
      expect(r.vector).toBe(-1);
      expect(r.regs.ecx).toBe(0);
      expect(r.regs.edi).toBe((k.edi + k.ecx * step) >>> 0);
      if (k.esi !== undefined) expect(r.regs.esi).toBe((k.esi + k.ecx * step) >>> 0);
      const got = m.vm.readPhys(D, AREA);
      const bad = got.findIndex((v, a) => v !== model[a]);
      expect(bad, bad < 0 ? '' : `first difference at D+0x${bad.toString(16)}`).toBe(-1);
    });
  }
});

describe('the 4 GiB limit of a flat segment', () => {
  // mov eax, [disp32] ; mov ax, [disp32] ; mov eax, es:[disp32]
  for (const [name, code, regs, vector] of [
    ['a dword at 0xFFFFFFFD runs past the limit: #GP(0)', [0xa1, ...le32(0xfffffffd)], {}, 13],
    ['a dword at 0xFFFFFFFF: #GP(0)', [0x8b, 0x05, ...le32(0xffffffff)], {}, 13],
    ['a word at 0xFFFFFFFF: #GP(0)', [0x66, 0x8b, 0x05, ...le32(0xffffffff)], {}, 13],
    ['a dword at ES:0xFFFFFFFE: #GP(0)', [0x26, 0xa1, ...le32(0xfffffffe)], {}, 13],
  ] as const) {
    it(name, () => {
      const r = m.run([...code], regs);
      expect(r.vector).toBe(vector);
      expect(r.errorCode).toBe(0);
      expect(r.faultEip).toBe(C);
    });
  }
  it('a dword ending at 0xFFFFFFFF is inside it (the read reaches the bus)', () => {
    const r = m.run([0xa1, ...le32(0xfffffffc)]);
    expect(r.vector).toBe(-1);
    expect(r.exitReason).toBe(ExitReason.Mmio);
  });
});
