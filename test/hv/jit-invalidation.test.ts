// Block invalidation and exactness of compiled code, through the KVM-shaped API. The block
// compiler is forced on from the first execution of every block (threshold 1, set before the
// core is loaded), so every loop below runs as compiled JavaScript — including regions that span
// several blocks of a page — and must behave exactly as an x86 (P6) would: self-modifying code
// seen at the next instruction, monitor writes seen on re-entry, faults exact to the instruction
// (EIP, registers, flags, CR2, instruction count), Budget exits exact, segment loads honoured by
// the very next access, interrupts taken at instruction boundaries.
//
// Expected values are computed here analytically or by a small model of the guest program, never
// by the core. (Running this file with VMRUN_JIT=0 runs the same checks on the interpreter.)
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import type { Regs } from '../../src/hv/types.js';
import {
  addFlags, ARITH, decFlags, incFlags, logicFlags, le32, NONFLAT_BASE, PT_BASE, rd32, realModeVm, SEL_DATA, SEL_DATA_10000, segCache,
  setupProtected, subFlags, wr32, ZF, type FlagResult,
} from '../support/x86-guest.js';

process.env.VMRUN_JIT_THRESHOLD = '1';
// Multi-block regions (up to 64 instructions) unless the including file asked for single blocks
// (jit-invalidation-single.test.ts runs this file again with the default, VMRUN_JIT_REGION=0).
process.env.VMRUN_JIT_REGION ??= '64';
const { Vm } = await import('../../src/hv/vm.js');
type VmT = InstanceType<typeof Vm>;
type VcpuT = ReturnType<VmT['createVcpu']>;

const MB = 1 << 20;

/** A VM with 1 MiB of RAM, `code` at 0x1000, the vCPU in flat 32-bit protected mode there. */
function protMode(code: number[]): { vm: VmT; vcpu: VcpuT } {
  const vm = new Vm(MB);
  vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: MB, hostOffset: 0, readonly: false });
  vm.writePhys(0x1000, new Uint8Array(code));
  const vcpu = vm.createVcpu();
  const s = vcpu.getSregs();
  s.cr0 = 0x11;
  s.cs = segCache(8, 0, 0xb);
  s.ds = s.es = s.ss = s.fs = s.gs = segCache(SEL_DATA, 0, 3);
  vcpu.setSregs(s);
  vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x1000, esp: 0x8000, eflags: 2 });
  return { vm, vcpu };
}

/** A VM with 1 MiB of RAM, `code` at 0x7C00, the vCPU in real mode at 0000:7C00. */
function realMode(code: number[]): { vm: VmT; vcpu: VcpuT } {
  return realModeVm(Vm, code);
}

function setRegs(vcpu: VcpuT, r: Partial<Regs>): void {
  vcpu.setRegs({ ...vcpu.getRegs(), ...r });
}

/** Run to the HLT that ends a test program; returns the instructions retired by that run. */
function runToHlt(vcpu: VcpuT): number {
  expect(vcpu.run(10_000_000)).toBe(ExitReason.Hlt);
  return vcpu.exit.instructions;
}

/** Expect the arithmetic flags of `eflags` that `ref` defines to be the reference's. */
function expectFlags(eflags: number, ref: FlagResult): void {
  expect((eflags & ref.defined).toString(16)).toBe((ref.flags & ref.defined).toString(16));
}

// =============================================================================================

describe('self-modifying code in compiled loops', () => {
  it('a hot single-block loop that rewrites an immediate of its own block sees it on the next iteration', () => {
    // 1000: mov eax, 1            B8 01 00 00 00   <- the imm32 at 0x1001 is rewritten
    // 1005: add ebx, eax          01 C3
    // 1007: mov edi, 0x3000       BF 00 30 00 00   (scratch)
    // 100C: cmp ecx, 500          81 F9 F4 01 00 00
    // 1012: cmove edi, ebp        0F 44 FD         (ebp = 0x1001: the code, when ecx == 500)
    // 1015: mov [edi], edx        89 17
    // 1017: dec ecx               49
    // 1018: jnz 0x1000            75 E6
    // 101A: hlt                   F4
    const code = [
      0xb8, 0x01, 0x00, 0x00, 0x00, 0x01, 0xc3, 0xbf, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0xf4, 0x01,
      0x00, 0x00, 0x0f, 0x44, 0xfd, 0x89, 0x17, 0x49, 0x75, 0xe6, 0xf4,
    ];
    const { vm, vcpu } = protMode(code);
    setRegs(vcpu, { ecx: 1000, ebx: 0, ebp: 0x1001, edx: 100 });
    // 500 iterations run the unmodified loop; the one with ecx = 500 writes 100 over the 1 after
    // its MOV has run; the 499 left all add 100.
    expect(runToHlt(vcpu)).toBe(1000 * 8 + 1);
    const r = vcpu.getRegs();
    expect(r.ebx).toBe(501 * 1 + 499 * 100);
    expect([r.eax, r.ecx]).toEqual([100, 0]);
    expect(rd32(vm, 0x1001)).toBe(100);
  });

  it('the same in real mode (16-bit code)', () => {
    // 7C00: mov ax, 1             B8 01 00         <- imm16 at 0x7C01
    // 7C03: add bx, ax            01 C3
    // 7C05: mov di, 0x3000        BF 00 30
    // 7C08: cmp cx, 500           81 F9 F4 01
    // 7C0C: cmove di, bp          0F 44 FD         (bp = 0x7C01)
    // 7C0F: mov [di], dx          89 15
    // 7C11: dec cx                49
    // 7C12: jnz 0x7C00            75 EC
    // 7C14: hlt                   F4
    const code = [
      0xb8, 0x01, 0x00, 0x01, 0xc3, 0xbf, 0x00, 0x30, 0x81, 0xf9, 0xf4, 0x01, 0x0f, 0x44, 0xfd, 0x89,
      0x15, 0x49, 0x75, 0xec, 0xf4,
    ];
    const { vcpu } = realMode(code);
    setRegs(vcpu, { ecx: 1000, ebx: 0, ebp: 0x7c01, edx: 100 });
    expect(runToHlt(vcpu)).toBe(1000 * 8 + 1);
    const r = vcpu.getRegs();
    expect(r.ebx & 0xffff).toBe(501 * 1 + 499 * 100);
    expect(r.ecx & 0xffff).toBe(0);
  });

  it('a multi-block loop: the tail block rewrites the else block, seen at its next execution', () => {
    // 1000: mov eax, ecx          89 C8
    // 1002: test al, 1            A8 01
    // 1004: jz 0x100B             74 05
    // 1006: add ebx, 3            83 C3 03         (odd ecx)
    // 1009: jmp 0x1012            EB 07
    // 100B: mov eax, 1            B8 01 00 00 00   (even ecx) <- imm32 at 0x100C is rewritten
    // 1010: add esi, eax          01 C6
    // 1012: mov edi, 0x3000       BF 00 30 00 00
    // 1017: cmp ecx, 501          81 F9 F5 01 00 00  (odd: the next block run is the even one)
    // 101D: cmove edi, ebp        0F 44 FD         (ebp = 0x100C)
    // 1020: mov [edi], edx        89 17
    // 1022: dec ecx               49
    // 1023: jnz 0x1000            75 DB
    // 1025: hlt                   F4
    const code = [
      0x89, 0xc8, 0xa8, 0x01, 0x74, 0x05, 0x83, 0xc3, 0x03, 0xeb, 0x07, 0xb8, 0x01, 0x00, 0x00, 0x00,
      0x01, 0xc6, 0xbf, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0xf5, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xfd,
      0x89, 0x17, 0x49, 0x75, 0xdb, 0xf4,
    ];
    const { vcpu } = protMode(code);
    setRegs(vcpu, { ecx: 1000, ebx: 0, esi: 0, ebp: 0x100c, edx: 1000 });
    expect(runToHlt(vcpu)).toBe(1000 * 11 + 1);
    const r = vcpu.getRegs();
    // Even ecx in [502, 1000] (250 of them) ran the old MOV, even ecx in [2, 500] (250) the new;
    // the first of those runs right after the writing iteration (head, even block: no instruction
    // in between that the compiler would hand to the interpreter).
    expect(r.esi).toBe(250 * 1 + 250 * 1000);
    expect(r.ebx).toBe(500 * 3);
  });

  it('a multi-block loop: the if block rewrites the loop head (a byte write), seen at its next execution', () => {
    // 1000: add ebx, 1            83 C3 01         <- imm8 at 0x1002 is rewritten
    // 1003: test cl, 1            F6 C1 01
    // 1006: jz 0x101A             74 12
    // 1008: mov edi, 0x3000       BF 00 30 00 00   (odd ecx)
    // 100D: cmp ecx, 301          81 F9 2D 01 00 00
    // 1013: cmove edi, ebp        0F 44 FD         (ebp = 0x1002)
    // 1016: mov [edi], dl         88 17
    // 1018: jmp 0x101D            EB 03
    // 101A: add esi, 2            83 C6 02         (even ecx)
    // 101D: dec ecx               49
    // 101E: jnz 0x1000            75 E0
    // 1020: hlt                   F4
    const code = [
      0x83, 0xc3, 0x01, 0xf6, 0xc1, 0x01, 0x74, 0x12, 0xbf, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0x2d,
      0x01, 0x00, 0x00, 0x0f, 0x44, 0xfd, 0x88, 0x17, 0xeb, 0x03, 0x83, 0xc6, 0x02, 0x49, 0x75, 0xe0,
      0xf4,
    ];
    const { vcpu } = protMode(code);
    setRegs(vcpu, { ecx: 1000, ebx: 0, esi: 0, ebp: 0x1002, edx: 5 });
    expect(runToHlt(vcpu)).toBe(500 * 10 + 500 * 6 + 1);
    const r = vcpu.getRegs();
    // The head ran with ecx = 1000 … 301 (700 times) adding 1, then 300 times adding 5.
    expect(r.ebx).toBe(700 * 1 + 300 * 5);
    expect(r.esi).toBe(500 * 2);
  });

  // The three writers below replace the 4 bytes after them, `add eax, 0x11 ; nop` (83 C0 11 90),
  // with `inc esi` × 4 (46 46 46 46), in the iteration with ecx = 400: that same iteration must
  // already run the new instructions (P6 detects a write to any instruction in flight).
  const NEW4 = 0x46464646;

  /**
   * Run one of those loops (1000 iterations, EDX = NEW4, ESI counting the new instructions) to its
   * HLT with `regs` added: the VM, the registers and the instructions retired.
   */
  function runRewriteLoop(code: number[], regs: Partial<Regs>): { vm: VmT; r: Regs; count: number } {
    const { vm, vcpu } = protMode(code);
    setRegs(vcpu, { ecx: 1000, esi: 0, edx: NEW4, ...regs });
    const count = runToHlt(vcpu);
    return { vm, r: vcpu.getRegs(), count };
  }

  it('a MOV that writes the instruction right after it: the new instruction runs', () => {
    // 1000: mov edi, 0x3000       BF 00 30 00 00
    // 1005: cmp ecx, 400          81 F9 90 01 00 00
    // 100B: cmove edi, ebp        0F 44 FD         (ebp = 0x1010)
    // 100E: mov [edi], edx        89 17
    // 1010: add eax, 0x11         83 C0 11         <- replaced
    // 1013: nop                   90               <-
    // 1014: dec ecx               49
    // 1015: jnz 0x1000            75 E9
    // 1017: hlt                   F4
    const code = [
      0xbf, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xfd, 0x89, 0x17,
      0x83, 0xc0, 0x11, 0x90, 0x49, 0x75, 0xe9, 0xf4,
    ];
    const { vm, r, count } = runRewriteLoop(code, { eax: 0, ebp: 0x1010 });
    expect(count).toBe(600 * 8 + 400 * 10 + 1);
    expect(r.eax).toBe(600 * 0x11);
    expect(r.esi).toBe(400 * 4);
    expect(rd32(vm, 0x1010)).toBe(NEW4);
  });

  it('a PUSH that writes the instruction right after it: the new instruction runs', () => {
    // 1000: mov esp, 0x7FF0       BC F0 7F 00 00
    // 1005: cmp ecx, 400          81 F9 90 01 00 00
    // 100B: cmove esp, ebp        0F 44 E5         (ebp = 0x1013: the push writes 0x100F..0x1012)
    // 100E: push edx              52
    // 100F: add eax, 0x11         83 C0 11         <- replaced
    // 1012: nop                   90               <-
    // 1013: dec ecx               49
    // 1014: jnz 0x1000            75 EA
    // 1016: hlt                   F4
    const code = [
      0xbc, 0xf0, 0x7f, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xe5, 0x52, 0x83,
      0xc0, 0x11, 0x90, 0x49, 0x75, 0xea, 0xf4,
    ];
    const { vm, r, count } = runRewriteLoop(code, { eax: 0, ebp: 0x1013 });
    expect(count).toBe(600 * 8 + 400 * 10 + 1);
    expect(r.eax).toBe(600 * 0x11);
    expect(r.esi).toBe(400 * 4);
    expect(r.esp).toBe(0x7fec);
    expect(rd32(vm, 0x100f)).toBe(NEW4);
  });

  it('a STOSD (an instruction the compiler calls a handler for) that writes the next instruction', () => {
    // 1000: mov edi, 0x3000       BF 00 30 00 00
    // 1005: cmp ecx, 400          81 F9 90 01 00 00
    // 100B: cmove edi, ebp        0F 44 FD         (ebp = 0x1011)
    // 100E: mov eax, edx          89 D0
    // 1010: stosd                 AB
    // 1011: add ebx, 0x11         83 C3 11         <- replaced
    // 1014: nop                   90               <-
    // 1015: dec ecx               49
    // 1016: jnz 0x1000            75 E8
    // 1018: hlt                   F4
    const code = [
      0xbf, 0x00, 0x30, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xfd, 0x89, 0xd0,
      0xab, 0x83, 0xc3, 0x11, 0x90, 0x49, 0x75, 0xe8, 0xf4,
    ];
    const { vm, r, count } = runRewriteLoop(code, { ebx: 0, ebp: 0x1011 });
    expect(count).toBe(600 * 9 + 400 * 11 + 1);
    expect(r.ebx).toBe(600 * 0x11);
    expect(r.esi).toBe(400 * 4);
    expect(rd32(vm, 0x1011)).toBe(NEW4);
  });

  // A CALL whose return-address push lands on the callee's code: ESP = 0x1025 in the iteration
  // with ecx = 400, so the push replaces the imm32 of `mov ebx, imm32` at 0x1020 with the return
  // address (and RET pops it back from there). The callee must run with the new immediate at once.
  //
  // 1020: mov ebx, 0x11111111     BB 11 11 11 11   <- imm32 at 0x1021 replaced by the push
  // 1025: add esi, ebx            01 DE
  // 1027: ret                     C3
  const CALLEE = [0xbb, 0x11, 0x11, 0x11, 0x11, 0x01, 0xde, 0xc3];
  const callCases = [
    {
      name: 'CALL rel32',
      // 1000: mov esp, 0x8000     BC 00 80 00 00
      // 1005: cmp ecx, 400        81 F9 90 01 00 00
      // 100B: cmove esp, ebp      0F 44 E5         (ebp = 0x1025)
      // 100E: call 0x1020         E8 0D 00 00 00
      // 1013: dec ecx             49
      // 1014: jnz 0x1000          75 EA
      // 1016: hlt                 F4
      // 1017: nop × 9
      code: [0xbc, 0x00, 0x80, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xe5, 0xe8, 0x0d, 0x00, 0x00, 0x00, 0x49, 0x75, 0xea, 0xf4],
      ret: 0x1013,
    },
    {
      name: 'CALL EDI (a handler call)',
      // 1000: mov esp, 0x8000     BC 00 80 00 00
      // 1005: cmp ecx, 400        81 F9 90 01 00 00
      // 100B: cmove esp, ebp      0F 44 E5         (ebp = 0x1025)
      // 100E: call edi            FF D7            (edi = 0x1020)
      // 1010: dec ecx             49
      // 1011: jnz 0x1000          75 ED
      // 1013: hlt                 F4
      // 1014: nop × 12
      code: [0xbc, 0x00, 0x80, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xe5, 0xff, 0xd7, 0x49, 0x75, 0xed, 0xf4],
      ret: 0x1010,
    },
  ];
  for (const t of callCases) {
    it(`a ${t.name} whose push writes the callee's code: the callee runs the new code`, () => {
      const code = [...t.code, ...new Array(0x20 - t.code.length).fill(0x90), ...CALLEE];
      const { vm, vcpu } = protMode(code);
      setRegs(vcpu, { ecx: 1000, esi: 0, ebp: 0x1025, edi: 0x1020 });
      expect(runToHlt(vcpu)).toBe(1000 * 9 + 1);
      const r = vcpu.getRegs();
      expect(rd32(vm, 0x1021).toString(16)).toBe(t.ret.toString(16));
      // 600 calls with the old immediate, 400 (from the writing one on) with the return address.
      expect((r.esi >>> 0).toString(16)).toBe(((600 * 0x11111111 + 400 * t.ret) >>> 0).toString(16));
      expect(r.ebx).toBe(t.ret);
    });
  }

  // The same through a CALL to the instruction right after it (the get-PC idiom), in a loop of two
  // blocks that the compiler keeps in one region: the push must end the compiled code before it
  // goes on to the (now stale) second block.
  const getPcCases = [
    {
      name: 'CALL rel32',
      // 1000: mov esp, 0x8000     BC 00 80 00 00
      // 1005: cmp ecx, 400        81 F9 90 01 00 00
      // 100B: cmove esp, ebp      0F 44 E5         (ebp = 0x1018: the push writes 0x1014..0x1017)
      // 100E: call 0x1013         E8 00 00 00 00
      // 1013: mov ebx, 0x11111111 BB 11 11 11 11   <- imm32 replaced by the return address 0x1013
      // 1018: add esi, ebx        01 DE
      // 101A: dec ecx             49
      // 101B: jnz 0x1000          75 E3
      // 101D: hlt                 F4
      code: [
        0xbc, 0x00, 0x80, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xe5, 0xe8, 0x00,
        0x00, 0x00, 0x00, 0xbb, 0x11, 0x11, 0x11, 0x11, 0x01, 0xde, 0x49, 0x75, 0xe3, 0xf4,
      ],
      ret: 0x1013,
    },
    {
      name: 'CALL EDI (a handler call)',
      // 1000: mov esp, 0x8000     BC 00 80 00 00
      // 1005: cmp ecx, 400        81 F9 90 01 00 00
      // 100B: cmove esp, ebp      0F 44 E5         (ebp = 0x1015: the push writes 0x1011..0x1014)
      // 100E: call edi            FF D7            (edi = 0x1010)
      // 1010: mov ebx, 0x11111111 BB 11 11 11 11   <- imm32 replaced by the return address 0x1010
      // 1015: add esi, ebx        01 DE
      // 1017: dec ecx             49
      // 1018: jnz 0x1000          75 E6
      // 101A: hlt                 F4
      code: [
        0xbc, 0x00, 0x80, 0x00, 0x00, 0x81, 0xf9, 0x90, 0x01, 0x00, 0x00, 0x0f, 0x44, 0xe5, 0xff, 0xd7,
        0xbb, 0x11, 0x11, 0x11, 0x11, 0x01, 0xde, 0x49, 0x75, 0xe6, 0xf4,
      ],
      ret: 0x1010,
    },
  ];
  for (const t of getPcCases) {
    it(`a ${t.name} to the next instruction (get-PC) whose push writes that instruction, in a two-block hot loop`, () => {
      const { vm, vcpu } = protMode(t.code);
      setRegs(vcpu, { ecx: 1000, esi: 0, ebp: t.ret + 5, edi: t.ret });
      expect(runToHlt(vcpu)).toBe(1000 * 8 + 1);
      const r = vcpu.getRegs();
      expect(rd32(vm, t.ret + 1).toString(16)).toBe(t.ret.toString(16));
      // 600 iterations with the old immediate, 400 (from the writing one on) with the return address.
      expect((r.esi >>> 0).toString(16)).toBe(((600 * 0x11111111 + 400 * t.ret) >>> 0).toString(16));
      expect(r.ebx).toBe(t.ret);
    });
  }
});

// =============================================================================================

describe('code written by the monitor over compiled code', () => {
  // 1000: add ebx, 1              83 C3 01         (imm8 at 0x1002)
  // 1003: add esi, 2              83 C6 02         (imm8 at 0x1005)
  // 1006: dec ecx                 49
  // 1007: jnz 0x1000              75 F7
  // 1009: hlt                     F4
  const LOOP = [0x83, 0xc3, 0x01, 0x83, 0xc6, 0x02, 0x49, 0x75, 0xf7, 0xf4];

  it('a loop run hot, rewritten with vm.writePhys, then re-entered runs the new code', () => {
    const { vm, vcpu } = protMode(LOOP);
    setRegs(vcpu, { ecx: 1000, ebx: 0, esi: 0 });
    expect(runToHlt(vcpu)).toBe(4 * 1000 + 1);
    expect([vcpu.getRegs().ebx, vcpu.getRegs().esi]).toEqual([1000, 2000]);
    vm.writePhys(0x1002, new Uint8Array([5]));
    vm.writePhys(0x1005, new Uint8Array([7]));
    setRegs(vcpu, { eip: 0x1000, ecx: 1000, ebx: 0, esi: 0 });
    expect(runToHlt(vcpu)).toBe(4 * 1000 + 1);
    expect([vcpu.getRegs().ebx, vcpu.getRegs().esi]).toEqual([5000, 7000]);
  });

  it('a loop stopped by the budget in the middle of its block, patched ahead of and behind EIP, continues with the new code', () => {
    const { vm, vcpu } = protMode(LOOP);
    setRegs(vcpu, { ecx: 1000, ebx: 0, esi: 0 });
    // 300 iterations and the first ADD of the 301st.
    expect(vcpu.run(4 * 300 + 1)).toBe(ExitReason.Budget);
    expect(vcpu.exit.instructions).toBe(4 * 300 + 1);
    expect(vcpu.getRegs()).toMatchObject({ eip: 0x1003, ebx: 301, esi: 600, ecx: 700 });
    vm.writePhys(0x1002, new Uint8Array([9])); // behind EIP: seen from the next iteration
    vm.writePhys(0x1005, new Uint8Array([7])); // ahead of EIP: seen by this iteration
    expect(runToHlt(vcpu)).toBe(4 * 1000 + 1 - (4 * 300 + 1));
    expect(vcpu.getRegs().ebx).toBe(301 + 699 * 9);
    expect(vcpu.getRegs().esi).toBe(600 + 700 * 7);
  });

  it('a hot multi-block loop replaced by a loop of a different shape at the same address', () => {
    // 1000: test cl, 1            F6 C1 01
    // 1003: jz 0x100A             74 05
    // 1005: add ebx, 3            83 C3 03
    // 1008: jmp 0x100D            EB 03
    // 100A: add esi, 5            83 C6 05
    // 100D: dec ecx               49
    // 100E: jnz 0x1000            75 F0
    // 1010: hlt                   F4
    const old = [0xf6, 0xc1, 0x01, 0x74, 0x05, 0x83, 0xc3, 0x03, 0xeb, 0x03, 0x83, 0xc6, 0x05, 0x49, 0x75, 0xf0, 0xf4];
    const { vm, vcpu } = protMode(old);
    setRegs(vcpu, { ecx: 1000, ebx: 0, esi: 0 });
    expect(runToHlt(vcpu)).toBe(500 * 6 + 500 * 5 + 1);
    expect([vcpu.getRegs().ebx, vcpu.getRegs().esi]).toEqual([1500, 2500]);
    // 1000: lea ebx, [ebx+ecx*2]  8D 1C 4B
    // 1003: add esi, 0x1000       81 C6 00 10 00 00
    // 1009: dec ecx               49
    // 100A: jnz 0x1000            75 F4
    // 100C: hlt                   F4
    vm.writePhys(0x1000, new Uint8Array([0x8d, 0x1c, 0x4b, 0x81, 0xc6, 0x00, 0x10, 0x00, 0x00, 0x49, 0x75, 0xf4, 0xf4]));
    setRegs(vcpu, { eip: 0x1000, ecx: 1000, ebx: 0, esi: 0 });
    expect(runToHlt(vcpu)).toBe(1000 * 4 + 1);
    expect(vcpu.getRegs()).toMatchObject({ eip: 0x100d, ebx: 1000 * 1001, esi: 0x1000 * 1000, ecx: 0 });
  });
});

// =============================================================================================

describe('faults inside compiled code', () => {
  const PF_HANDLER = 0x5000;
  const NOT_PRESENT = 0x80; // page 0x80000

  /** Protected mode with paging (page 0x80 as `pte`), #PF → a HLT at 0x5000. */
  function pagedVm(code: number[], pte: number, wp = false): { vm: VmT; vcpu: VcpuT } {
    const m = protMode(code);
    setupProtected(m.vm, m.vcpu, { gates: { 14: PF_HANDLER }, paging: { pte: { [NOT_PRESENT]: pte }, wp } });
    m.vm.writePhys(PF_HANDLER, new Uint8Array([0xf4])); // hlt
    return m;
  }

  /** The #PF frame at ESP: error code, EIP, CS, EFLAGS. */
  /** A fault pushes EFLAGS with RF = 1 (SDM vol. 3, 17.3.1.1). */
  const F_RF = 0x10000;
  function pfFrame(vm: VmT, vcpu: VcpuT): { err: number; eip: number; cs: number; eflags: number } {
    const esp = vcpu.getRegs().esp;
    expect(esp).toBe(0x8000 - 16);
    return { err: rd32(vm, esp), eip: rd32(vm, esp + 4), cs: rd32(vm, esp + 8) & 0xffff, eflags: rd32(vm, esp + 12) };
  }

  it('a #PF in a hot loop is taken exactly at the faulting instruction', () => {
    // 1000: add eax, 7            83 C0 07
    // 1003: mov edx, [esi]        8B 16            <- #PF when esi reaches 0x80000
    // 1005: inc ebx               43
    // 1006: add esi, 16           83 C6 10
    // 1009: jmp 0x1000            EB F5
    const code = [0x83, 0xc0, 0x07, 0x8b, 0x16, 0x43, 0x83, 0xc6, 0x10, 0xeb, 0xf5];
    const { vm, vcpu } = pagedVm(code, 0);
    setRegs(vcpu, { eax: 0, ebx: 0, esi: 0x7f000 });
    // 256 iterations read the page below; the 257th does its ADD and faults on the MOV.
    expect(vcpu.run(1_000_000)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.instructions).toBe(256 * 5 + 1 + 1); // + the handler's HLT
    expect(vcpu.instructions).toBe(256 * 5 + 1 + 1);
    const r = vcpu.getRegs();
    expect(r.eip).toBe(PF_HANDLER + 1);
    expect(r.eax).toBe(257 * 7); // the ADD before the MOV is done
    expect(r.ebx).toBe(256); // the INC after it is not
    expect(r.esi).toBe(0x80000);
    expect(vcpu.getSregs().cr2).toBe(0x80000);
    const f = pfFrame(vm, vcpu);
    expect(f).toMatchObject({ err: 0, eip: 0x1003, cs: 8 });
    expectFlags(f.eflags, addFlags(256 * 7, 7));
  });

  it('a #PF in a non-entry block of a multi-block hot loop: EIP, registers and the count are exact', () => {
    // 1000: add eax, 7            83 C0 07
    // 1003: test bl, 1            F6 C3 01
    // 1006: jnz 0x1013            75 0B
    // 1008: add ecx, 2            83 C1 02         (even ebx)
    // 100B: mov edx, [esi]        8B 16            <- #PF when esi reaches 0x80000
    // 100D: inc ebx               43
    // 100E: add esi, 16           83 C6 10
    // 1011: jmp 0x1000            EB ED
    // 1013: inc ebx               43               (odd ebx)
    // 1014: jmp 0x1000            EB EA
    const code = [
      0x83, 0xc0, 0x07, 0xf6, 0xc3, 0x01, 0x75, 0x0b, 0x83, 0xc1, 0x02, 0x8b, 0x16, 0x43, 0x83, 0xc6,
      0x10, 0xeb, 0xed, 0x43, 0xeb, 0xea,
    ];
    const { vm, vcpu } = pagedVm(code, 0);
    setRegs(vcpu, { eax: 0, ebx: 0, ecx: 0, esi: 0x7f000 });
    // Pairs of iterations (even: 3 + 5, odd: 3 + 2 instructions), 256 of them complete; then the
    // head, the ADD ECX and the faulting MOV.
    expect(vcpu.run(1_000_000)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.instructions).toBe(256 * 13 + 3 + 1 + 1);
    expect(vcpu.instructions).toBe(256 * 13 + 3 + 1 + 1);
    const r = vcpu.getRegs();
    expect(r).toMatchObject({ eip: PF_HANDLER + 1, eax: 7 * 513, ebx: 512, ecx: 2 * 257, esi: 0x80000 });
    expect(vcpu.getSregs().cr2).toBe(0x80000);
    const f = pfFrame(vm, vcpu);
    expect(f).toMatchObject({ err: 0, eip: 0x100b, cs: 8 });
    expectFlags(f.eflags, addFlags(2 * 256, 2));
  });

  it('EFLAGS pushed by a #PF are those of the ALU instruction before the faulting access', () => {
    // 1000: sub eax, ebx          29 D8            (its flags are overwritten by the ADD below
    // 1002: mov edx, [esi]        8B 16             unless the MOV faults)
    // 1004: add esi, 16           83 C6 10
    // 1007: jmp 0x1000            EB F7
    const code = [0x29, 0xd8, 0x8b, 0x16, 0x83, 0xc6, 0x10, 0xeb, 0xf7];
    const { vm, vcpu } = pagedVm(code, 0);
    setRegs(vcpu, { eax: 769, ebx: 3, esi: 0x7f000 });
    expect(vcpu.run(1_000_000)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.instructions).toBe(256 * 4 + 1 + 1);
    // The 257th SUB computes 1 - 3: CF, AF and SF set, ZF, OF and PF clear.
    const ref = subFlags(1, 3);
    expect(ref.flags).toBe(0x91);
    const f = pfFrame(vm, vcpu);
    expect(f.eip).toBe(0x1002);
    expect(f.eflags).toBe(F_RF | 0x2 | 0x91);
    expect(vcpu.getRegs().eax).toBe(-2 >>> 0);
    expect(vcpu.getRegs().eflags & ARITH).toBe(0x91);
    // (What a stale record would give: the previous iteration's ADD ESI, 16.)
    expect(addFlags(0x7fff0, 16).flags).not.toBe(0x91);
  });

  it('a read-modify-write that faults on a read-only page leaves memory and the earlier flags unchanged', () => {
    // 1000: mov edx, [esi+16]     8B 56 10         (reads one element ahead: the page is in the
    // 1003: sub eax, ebx          29 D8             TLB for reading before the write faults)
    // 1005: add [esi], ecx        01 0E            <- #PF (write to a read-only page, CR0.WP)
    // 1007: lea esi, [esi+16]     8D 76 10         (no flags: the ADD's flags stay live)
    // 100A: jmp 0x1000            EB F4
    const code = [0x8b, 0x56, 0x10, 0x29, 0xd8, 0x01, 0x0e, 0x8d, 0x76, 0x10, 0xeb, 0xf4];
    const { vm, vcpu } = pagedVm(code, (NOT_PRESENT << 12) | 1, true);
    wr32(vm, 0x80000, 0xaabbccdd);
    setRegs(vcpu, { eax: 769, ebx: 3, ecx: 0x100, esi: 0x7f000 });
    expect(vcpu.run(1_000_000)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.instructions).toBe(256 * 5 + 2 + 1);
    expect(vcpu.getSregs().cr2).toBe(0x80000);
    const f = pfFrame(vm, vcpu);
    expect(f).toMatchObject({ err: 3, eip: 0x1005, cs: 8 }); // present, write, supervisor
    expect(f.eflags).toBe(F_RF | 0x2 | subFlags(1, 3).flags);
    expect(rd32(vm, 0x80000)).toBe(0xaabbccdd);
    for (let k = 0; k < 256; k++) expect(rd32(vm, 0x7f000 + 16 * k)).toBe(0x100);
    expect(vcpu.getRegs()).toMatchObject({ esi: 0x80000, eax: -2 >>> 0 });
  });
});

// =============================================================================================

// A multi-block loop with a memory operand, and an independent model of it.
// 1000: inc eax                   40
// 1001: test al, 3                A8 03
// 1003: jnz 0x1009                75 04
// 1005: add ebx, eax              01 C3
// 1007: jmp 0x1011                EB 08
// 1009: sub edx, eax              29 C2
// 100B: add [0x3000], edx         01 15 00 30 00 00
// 1011: dec ecx                   49
// 1012: jnz 0x1000                75 EC
// 1014: hlt                       F4
const MODEL_CODE = [
  0x40, 0xa8, 0x03, 0x75, 0x04, 0x01, 0xc3, 0xeb, 0x08, 0x29, 0xc2, 0x01, 0x15, 0x00, 0x30, 0x00,
  0x00, 0x49, 0x75, 0xec, 0xf4,
];
const MODEL_BOUNDARIES = [0x1000, 0x1001, 0x1003, 0x1005, 0x1007, 0x1009, 0x100b, 0x1011, 0x1012, 0x1014];
const MODEL_INIT = { eax: 0, ebx: 0, ecx: 3000, edx: 0x12345678 };

class LoopModel {
  eax = MODEL_INIT.eax >>> 0;
  ebx = MODEL_INIT.ebx >>> 0;
  ecx = MODEL_INIT.ecx >>> 0;
  edx = MODEL_INIT.edx >>> 0;
  mem = 0;
  eip = 0x1000;
  f: FlagResult = { flags: 0, defined: ARITH };
  count = 0;
  halted = false;

  step(): void {
    if (this.halted) throw new Error('model: past the HLT');
    let a: number;
    switch (this.eip) {
      case 0x1000: a = this.eax; this.eax = (a + 1) >>> 0; this.f = incFlags(a, this.f.flags); this.eip = 0x1001; break;
      case 0x1001: this.f = logicFlags(this.eax & 3, 1); this.eip = 0x1003; break;
      case 0x1003: this.eip = (this.f.flags & ZF) === 0 ? 0x1009 : 0x1005; break;
      case 0x1005: a = this.ebx; this.ebx = (a + this.eax) >>> 0; this.f = addFlags(a, this.eax); this.eip = 0x1007; break;
      case 0x1007: this.eip = 0x1011; break;
      case 0x1009: a = this.edx; this.edx = (a - this.eax) >>> 0; this.f = subFlags(a, this.eax); this.eip = 0x100b; break;
      case 0x100b: a = this.mem; this.mem = (a + this.edx) >>> 0; this.f = addFlags(a, this.edx); this.eip = 0x1011; break;
      case 0x1011: a = this.ecx; this.ecx = (a - 1) >>> 0; this.f = decFlags(a, this.f.flags); this.eip = 0x1012; break;
      case 0x1012: this.eip = (this.f.flags & ZF) === 0 ? 0x1000 : 0x1014; break;
      case 0x1014: this.eip = 0x1015; this.halted = true; break;
      default: throw new Error(`model: bad eip ${this.eip.toString(16)}`);
    }
    this.count++;
  }

  advanceTo(count: number): void {
    while (this.count < count) this.step();
  }

  /** Instructions to the HLT (inclusive), from the start. */
  static total(): number {
    const m = new LoopModel();
    while (!m.halted) m.step();
    return m.count;
  }
}

function modelVm(): { vm: VmT; vcpu: VcpuT } {
  const m = protMode(MODEL_CODE);
  setRegs(m.vcpu, MODEL_INIT);
  return m;
}

/** The guest state against the model: registers, the memory operand and the defined flags. */
function expectModel(vm: VmT, vcpu: VcpuT, m: LoopModel, what: string): void {
  const r = vcpu.getRegs();
  expect({ what, eip: r.eip, eax: r.eax >>> 0, ebx: r.ebx >>> 0, ecx: r.ecx >>> 0, edx: r.edx >>> 0, mem: rd32(vm, 0x3000), esp: r.esp })
    .toEqual({ what, eip: m.eip, eax: m.eax, ebx: m.ebx, ecx: m.ecx, edx: m.edx, mem: m.mem, esp: 0x8000 });
  expect({ what, flags: r.eflags & m.f.defined }).toEqual({ what, flags: m.f.flags & m.f.defined });
}

describe('Budget exits in compiled code', () => {
  it('small budgets on a hot multi-block loop: each exit is exact and the state matches the model', () => {
    const total = LoopModel.total();
    const { vm, vcpu } = modelVm();
    const model = new LoopModel();
    const budgets = [7, 13, 1000, 1, 2, 3, 5, 64, 65, 6, 4, 9];
    let done = 0;
    for (let k = 0; ; k++) {
      const b = budgets[k % budgets.length];
      const reason = vcpu.run(b);
      if (done + b < total) {
        expect({ k, reason, n: vcpu.exit.instructions }).toEqual({ k, reason: ExitReason.Budget, n: b });
      } else {
        expect({ k, reason, n: vcpu.exit.instructions }).toEqual({ k, reason: ExitReason.Hlt, n: total - done });
      }
      done += vcpu.exit.instructions;
      expect(vcpu.instructions).toBe(done);
      model.advanceTo(done);
      expectModel(vm, vcpu, model, `after run ${k} (${done} instructions)`);
      if (reason === ExitReason.Hlt) break;
    }
    expect(model.halted).toBe(true);

    // One straight run of the same program ends in the same state.
    const straight = modelVm();
    expect(straight.vcpu.run(10_000_000)).toBe(ExitReason.Hlt);
    expect(straight.vcpu.exit.instructions).toBe(total);
    expect(straight.vcpu.getRegs()).toEqual(vcpu.getRegs());
    expect(rd32(straight.vm, 0x3000)).toBe(rd32(vm, 0x3000));
  });

  it('a single run with budget n stops where n instructions of the model are', () => {
    const total = LoopModel.total();
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 13, 99, 1000, 1001, 4097, total - 2, total - 1]) {
      const { vm, vcpu } = modelVm();
      expect(vcpu.run(n)).toBe(ExitReason.Budget);
      expect(vcpu.exit.instructions).toBe(n);
      const model = new LoopModel();
      model.advanceTo(n);
      expectModel(vm, vcpu, model, `budget ${n}`);
    }
  });
});

// =============================================================================================

describe('segment loads inside compiled blocks', () => {
  // 1000: mov ds, ax              8E D8
  // 1002: mov [ebx], ecx          89 0B
  // 1004: add edi, [0x200]        03 3D 00 02 00 00
  // 100A: mov ds, dx              8E DA
  // 100C: mov [ebx+4], ecx        89 4B 04
  // 100F: add esi, [0x200]        03 35 00 02 00 00
  // 1015: add ebx, 8              83 C3 08
  // 1018: dec ecx                 49
  // 1019: jnz 0x1000              75 E5
  // 101B: hlt                     F4
  const SWITCH = [
    0x8e, 0xd8, 0x89, 0x0b, 0x03, 0x3d, 0x00, 0x02, 0x00, 0x00, 0x8e, 0xda, 0x89, 0x4b, 0x04, 0x03,
    0x35, 0x00, 0x02, 0x00, 0x00, 0x83, 0xc3, 0x08, 0x49, 0x75, 0xe5, 0xf4,
  ];
  const N = 200;

  function segVm(code: number[], dsNonFlat: boolean): { vm: VmT; vcpu: VcpuT } {
    const m = protMode(code);
    setupProtected(m.vm, m.vcpu);
    if (dsNonFlat) {
      const s = m.vcpu.getSregs();
      s.ds = segCache(SEL_DATA_10000, NONFLAT_BASE, 3);
      m.vcpu.setSregs(s);
    }
    wr32(m.vm, 0x200, 1000); // what [0x200] reads through a flat DS
    wr32(m.vm, NONFLAT_BASE + 0x200, 1); // … and through DS with base 0x10000
    return m;
  }

  it('flat → base 0x10000 → flat within one hot block: each access uses the DS just loaded', () => {
    const { vm, vcpu } = segVm(SWITCH, false);
    setRegs(vcpu, { eax: SEL_DATA_10000, edx: SEL_DATA, ebx: 0x40000, ecx: N, esi: 0, edi: 0 });
    expect(runToHlt(vcpu)).toBe(N * 9 + 1);
    const r = vcpu.getRegs();
    expect(r.edi).toBe(N * 1); // read through the non-flat DS
    expect(r.esi).toBe(N * 1000); // read through the flat DS
    for (let i = 0; i < N; i++) {
      const c = N - i, off = 0x40000 + 8 * i;
      expect([i, rd32(vm, NONFLAT_BASE + off), rd32(vm, off + 4)]).toEqual([i, c, c]);
      expect([i, rd32(vm, off), rd32(vm, NONFLAT_BASE + off + 4)]).toEqual([i, 0, 0]);
    }
    expect(vcpu.getSregs().ds.base).toBe(0);
  });

  it('base 0x10000 → flat → base 0x10000 within one hot block (entered with DS not flat)', () => {
    const { vm, vcpu } = segVm(SWITCH, true);
    setRegs(vcpu, { eax: SEL_DATA, edx: SEL_DATA_10000, ebx: 0x40000, ecx: N, esi: 0, edi: 0 });
    expect(runToHlt(vcpu)).toBe(N * 9 + 1);
    const r = vcpu.getRegs();
    expect(r.edi).toBe(N * 1000);
    expect(r.esi).toBe(N * 1);
    for (let i = 0; i < N; i++) {
      const c = N - i, off = 0x40000 + 8 * i;
      expect([i, rd32(vm, off), rd32(vm, NONFLAT_BASE + off + 4)]).toEqual([i, c, c]);
      expect([i, rd32(vm, NONFLAT_BASE + off), rd32(vm, off + 4)]).toEqual([i, 0, 0]);
    }
    expect(vcpu.getSregs().ds.base).toBe(NONFLAT_BASE);
  });

  it('DS changed by other blocks of a hot multi-block loop: the head block writes through the current DS', () => {
    // 1000: mov [ebx], ecx        89 0B            (through DS as the previous iteration left it)
    // 1002: test cl, 1            F6 C1 01
    // 1005: jz 0x100B             74 04
    // 1007: mov ds, ax            8E D8            (odd ecx: base 0x10000)
    // 1009: jmp 0x100D            EB 02
    // 100B: mov ds, dx            8E DA            (even ecx: flat)
    // 100D: add ebx, 4            83 C3 04
    // 1010: dec ecx               49
    // 1011: jnz 0x1000            75 ED
    // 1013: hlt                   F4
    const code = [0x89, 0x0b, 0xf6, 0xc1, 0x01, 0x74, 0x04, 0x8e, 0xd8, 0xeb, 0x02, 0x8e, 0xda, 0x83, 0xc3, 0x04, 0x49, 0x75, 0xed, 0xf4];
    const { vm, vcpu } = segVm(code, false);
    setRegs(vcpu, { eax: SEL_DATA_10000, edx: SEL_DATA, ebx: 0x40000, ecx: N });
    expect(runToHlt(vcpu)).toBe((N / 2) * 8 + (N / 2) * 7 + 1);
    for (let i = 0; i < N; i++) {
      const c = N - i, off = 0x40000 + 4 * i;
      const nonFlat = i > 0 && (c + 1) % 2 === 1; // DS as loaded in the iteration with ecx = c + 1
      const [at, other] = nonFlat ? [NONFLAT_BASE + off, off] : [off, NONFLAT_BASE + off];
      expect([i, rd32(vm, at), rd32(vm, other)]).toEqual([i, c, 0]);
    }
  });

  it('code compiled while DS was flat, entered again with DS not flat, writes through the new DS', () => {
    // 1000: mov [ebx], ecx        89 0B
    // 1002: add ebx, 4            83 C3 04
    // 1005: xchg eax, edx         92
    // 1006: mov ds, ax            8E D8            (alternately flat and base 0x10000)
    // 1008: jmp 0x100A            EB 00
    // 100A: dec ecx               49               (a block on the loop, entered from outside
    // 100B: jnz 0x1000            75 F3             after each load: first with DS flat, then not)
    // 100D: hlt                   F4
    const code = [0x89, 0x0b, 0x83, 0xc3, 0x04, 0x92, 0x8e, 0xd8, 0xeb, 0x00, 0x49, 0x75, 0xf3, 0xf4];
    const { vm, vcpu } = segVm(code, true);
    setRegs(vcpu, { eax: SEL_DATA_10000, edx: SEL_DATA, ebx: 0x40000, ecx: N });
    expect(runToHlt(vcpu)).toBe(N * 7 + 1);
    for (let i = 0; i < N; i++) {
      const c = N - i, off = 0x40000 + 4 * i;
      const nonFlat = i % 2 === 0; // the initial DS, then as loaded by the previous iteration
      const [at, other] = nonFlat ? [NONFLAT_BASE + off, off] : [off, NONFLAT_BASE + off];
      expect([i, rd32(vm, at), rd32(vm, other)]).toEqual([i, c, 0]);
    }
  });
});

// =============================================================================================

describe('external interrupts between runs of compiled code', () => {
  it('an interrupt injected after a small-budget exit returns to that exact instruction boundary', () => {
    // Handler (vector 0x20): records the return EIP in a list at 0x6004 (count at 0x6000).
    // 5000: push eax              50
    // 5001: push ebx              53
    // 5002: mov ebx, [0x6000]     8B 1D 00 60 00 00
    // 5008: mov eax, [esp+8]      8B 44 24 08
    // 500C: mov [0x6004+ebx*4], eax  89 04 9D 04 60 00 00
    // 5013: inc dword [0x6000]    FF 05 00 60 00 00
    // 5019: pop ebx               5B
    // 501A: pop eax               58
    // 501B: iret                  CF
    const handler = [
      0x50, 0x53, 0x8b, 0x1d, 0x00, 0x60, 0x00, 0x00, 0x8b, 0x44, 0x24, 0x08, 0x89, 0x04, 0x9d, 0x04,
      0x60, 0x00, 0x00, 0xff, 0x05, 0x00, 0x60, 0x00, 0x00, 0x5b, 0x58, 0xcf,
    ];
    const HANDLER_INSNS = 9;
    const { vm, vcpu } = modelVm();
    setupProtected(vm, vcpu, { gates: { 0x20: 0x5000 } });
    vm.writePhys(0x5000, new Uint8Array(handler));
    setRegs(vcpu, { eflags: 0x202 });
    const model = new LoopModel();
    const returns: number[] = [];
    const budgets = [16, 23, 10, 11, 57, 1000, 12, 30, 19, 14];
    let loopInsns = 0, injected = false;
    for (let k = 0; ; k++) {
      const b = budgets[k % budgets.length];
      const reason = vcpu.run(b);
      loopInsns += vcpu.exit.instructions - (injected ? HANDLER_INSNS : 0);
      injected = false;
      model.advanceTo(loopInsns);
      expectModel(vm, vcpu, model, `after run ${k}`);
      expect(vcpu.getRegs().eflags & 0x200).toBe(0x200);
      if (reason === ExitReason.Hlt) break;
      expect({ k, reason, n: vcpu.exit.instructions }).toEqual({ k, reason: ExitReason.Budget, n: b });
      expect(vcpu.readyForInterruptInjection).toBe(true);
      returns.push(vcpu.getRegs().eip);
      vcpu.injectInterrupt(0x20);
      injected = true;
    }
    expect(model.halted).toBe(true);
    expect(returns.length).toBeGreaterThan(100);
    expect(rd32(vm, 0x6000)).toBe(returns.length);
    for (let i = 0; i < returns.length; i++) {
      expect(MODEL_BOUNDARIES).toContain(returns[i]);
      expect([i, rd32(vm, 0x6004 + 4 * i)]).toEqual([i, returns[i]]);
    }
    // Every boundary of the loop was interrupted at some point (the budgets are chosen so).
    expect(new Set(returns).size).toBeGreaterThanOrEqual(MODEL_BOUNDARIES.length - 1);
  });
});

// =============================================================================================

describe('the successor cache (the block that followed a block, found again by EIP alone)', () => {
  it('a far jump to the same IP in another code segment runs the other code', () => {
    // 0000:7C00  jmp far [0x6000]            FF 2E 00 60      (0800:0000, then 0900:0000)
    // 0800:0000  mov al, 1                   B0 01
    //            mov word [0x6002], 0x0900   C7 06 02 60 00 09
    //            jmp 0000:7C00               EA 00 7C 00 00
    // 0900:0000  mov al, 2                   B0 02
    //            hlt                         F4
    const { vm, vcpu } = realMode([0xff, 0x2e, 0x00, 0x60]);
    vm.writePhys(0x6000, new Uint8Array([0x00, 0x00, 0x00, 0x08]));
    vm.writePhys(0x8000, new Uint8Array([0xb0, 0x01, 0xc7, 0x06, 0x02, 0x60, 0x00, 0x09, 0xea, 0x00, 0x7c, 0x00, 0x00]));
    vm.writePhys(0x9000, new Uint8Array([0xb0, 0x02, 0xf4]));
    // The second far jump reaches IP 0 from the same block: found by IP alone it would be 0800:0000
    // again, forever.
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.instructions).toBe(1 + 3 + 1 + 2);
    expect(vcpu.getRegs().eax & 0xff).toBe(2);
    expect(vcpu.getSregs().cs.selector).toBe(0x900);
  });

  for (const [what, flush] of [
    ['INVLPG', [0x0f, 0x01, 0x3d, 0x00, 0x30, 0x00, 0x00]], //   invlpg [0x3000]
    ['a CR3 reload', [0x0f, 0x20, 0xdb, 0x0f, 0x22, 0xdb]], //   mov ebx, cr3 ; mov cr3, ebx
  ] as const) {
    it(`a page remapped and flushed with ${what}: the jump into it runs the new page's code`, () => {
      // 1000: inc ecx                           41
      // 1001: jmp 0x3000                        E9 FA 1F 00 00
      // 3000 (physical 3000): add eax, 1        83 C0 01
      //       jmp 0x2000                        E9 F8 EF FF FF
      // 2000: mov dword [PTE of 0x3000], 0x4003 C7 05 0C 30 02 00 03 40 00 00
      //       (the flush)
      //       jmp 0x1000                        E9 rel32
      // 3000 (physical 4000): add eax, 100      83 C0 64
      //       hlt                               F4
      const { vm, vcpu } = protMode([0x41, 0xe9, 0xfa, 0x1f, 0x00, 0x00]);
      setupProtected(vm, vcpu, { paging: {} });
      vm.writePhys(0x3000, new Uint8Array([0x83, 0xc0, 0x01, 0xe9, ...le32(0x2000 - 0x3008)]));
      const back = 0x1000 - (0x2000 + 10 + flush.length + 5);
      vm.writePhys(0x2000, new Uint8Array([0xc7, 0x05, ...le32(PT_BASE + 3 * 4), ...le32(0x4003), ...flush, 0xe9, ...le32(back)]));
      vm.writePhys(0x4000, new Uint8Array([0x83, 0xc0, 0x64, 0xf4]));
      setRegs(vcpu, { eax: 0, ecx: 0 });
      // Found by EIP alone, 0x3000 would be the old page's block again, forever.
      expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
      expect(vcpu.getRegs()).toMatchObject({ eax: 101, ecx: 2 });
    });
  }
});

// =============================================================================================

describe('debug traps inside compiled code', () => {
  it('a data breakpoint hit by a POP traps right after it, not later in the block', () => {
    // 1000: mov eax, 0x7000      B8 00 70 00 00
    // 1005: mov dr0, eax         0F 23 C0
    // 1008: mov eax, 0x000F0001  B8 01 00 0F 00      (L0, read/write, 4 bytes)
    // 100D: mov dr7, eax         0F 23 F8
    // 1010: mov esp, 0x6FF0      BC F0 6F 00 00
    // 1015: pop edx              5A                  <- the 5th reads 0x7000
    // 1016: inc ebx              43
    // 1017: jmp 0x1015           EB FC
    const { vm, vcpu } = protMode([
      0xb8, 0x00, 0x70, 0x00, 0x00, 0x0f, 0x23, 0xc0, 0xb8, 0x01, 0x00, 0x0f, 0x00, 0x0f, 0x23, 0xf8,
      0xbc, 0xf0, 0x6f, 0x00, 0x00, 0x5a, 0x43, 0xeb, 0xfc,
    ]);
    setupProtected(vm, vcpu, { gates: { 1: 0x5000 } });
    vm.writePhys(0x5000, new Uint8Array([0xf4])); // hlt
    setRegs(vcpu, { ebx: 0 });
    expect(vcpu.run(10_000)).toBe(ExitReason.Hlt);
    const r = vcpu.getRegs();
    expect(r.ebx).toBe(4);
    // The #DB frame below ESP 0x7004: its EIP is the instruction after the POP. (Pushing that frame
    // writes 0x7000 too, which traps again in the handler; that frame lies below this one.)
    expect(rd32(vm, 0x7004 - 12)).toBe(0x1016);
    expect(r.esp).toBeLessThan(0x7004 - 12);
  });
});
