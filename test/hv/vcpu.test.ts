// The KVM-shaped contract: a vCPU driven directly, asserting the exits it produces.
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import { Vm } from '../../src/hv/vm.js';
import { flatProtectedVm, realModeVm } from '../support/x86-guest.js';

const MB = 1 << 20;

/** A VM with `ram` bytes at 0, `code` at 0x7C00, the vCPU in real mode at 0000:7C00. */
function realMode(code: number[], ram = MB) {
  return realModeVm(Vm, code, ram);
}

/** The vCPU in flat 32-bit protected mode at `eip` with code at 0x1000. */
function protMode(code: number[], ram = MB) {
  return flatProtectedVm(Vm, code, ram);
}

describe('vCPU exits', () => {
  it('OUT exits with port, size, direction and data, then continues after the instruction', () => {
    // mov dx, 0x3f8 ; mov al, 'A' ; out dx, al ; hlt
    const { vcpu } = realMode([0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xf4]);
    expect(vcpu.run(1000)).toBe(ExitReason.Io);
    const x = vcpu.exit;
    expect([x.ioPort, x.ioSize, x.ioIn, x.ioCount, x.ioData[0]]).toEqual([0x3f8, 1, false, 1, 0x41]);
    expect(x.instructions).toBe(3);
    expect(vcpu.getRegs().eip).toBe(0x7c06);
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
  });

  it('IN completes on the next run() with the data the monitor put in the record', () => {
    // in ax, 0x60 ; hlt
    const { vcpu } = realMode([0xe5, 0x60, 0xf4]);
    expect(vcpu.run(1000)).toBe(ExitReason.Io);
    expect(vcpu.exit.ioIn).toBe(true);
    expect(vcpu.exit.ioSize).toBe(2);
    vcpu.exit.ioData[0] = 0xbeef;
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().eax & 0xffff).toBe(0xbeef);
  });

  it('REP INSB delivers one element per exit and advances only when the count is exhausted', () => {
    // push 0 ; pop es ; mov di, 0x500 ; mov cx, 2 ; mov dx, 0x71 ; rep insb ; hlt
    const { vm, vcpu } = realMode([0x6a, 0x00, 0x07, 0xbf, 0x00, 0x05, 0xb9, 0x02, 0x00, 0xba, 0x71, 0x00, 0xf3, 0x6c, 0xf4]);
    expect(vcpu.run(1000)).toBe(ExitReason.Io);
    vcpu.exit.ioData[0] = 0x11;
    expect(vcpu.run(1000)).toBe(ExitReason.Io);
    vcpu.exit.ioData[0] = 0x22;
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
    expect([...vm.readPhys(0x500, 2)]).toEqual([0x11, 0x22]);
    expect(vcpu.getRegs().ecx & 0xffff).toBe(0);
  });

  it('an MMIO read exits and the instruction completes with the monitor data', () => {
    // mov eax, [0x200000] ; hlt   (no memory region there)
    const { vcpu } = protMode([0xa1, 0x00, 0x00, 0x20, 0x00, 0xf4]);
    expect(vcpu.run(1000)).toBe(ExitReason.Mmio);
    const x = vcpu.exit;
    expect([x.mmioAddr, x.mmioSize, x.mmioWrite]).toEqual([0x200000, 4, false]);
    x.mmioData = 0x12345678;
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().eax).toBe(0x12345678);
  });

  it('an MMIO write exits after the instruction with its data', () => {
    // mov word [0x300010], 0xabcd ; hlt
    const { vcpu } = protMode([0x66, 0xc7, 0x05, 0x10, 0x00, 0x30, 0x00, 0xcd, 0xab, 0xf4]);
    expect(vcpu.run(1000)).toBe(ExitReason.Mmio);
    const x = vcpu.exit;
    expect([x.mmioAddr, x.mmioSize, x.mmioWrite, x.mmioData]).toEqual([0x300010, 2, true, 0xabcd]);
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
  });

  it('the budget ends run() with a Budget exit after exactly that many instructions', () => {
    // l: inc eax ; jmp l
    const { vcpu } = protMode([0x40, 0xeb, 0xfd]);
    expect(vcpu.run(1001)).toBe(ExitReason.Budget);
    expect(vcpu.exit.instructions).toBe(1001);
    expect(vcpu.getRegs().eax).toBe(501);
  });

  it('HLT reports whether interrupts are enabled', () => {
    const { vcpu } = realMode([0xfa, 0xf4, 0xfb, 0xf4]); // cli ; hlt ; sti ; hlt
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.interruptsEnabled).toBe(false);
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.exit.interruptsEnabled).toBe(true);
  });

  it('injects an external interrupt through the real-mode IVT when ready', () => {
    const code = [0xfb, 0xf4, 0xf4]; // sti ; hlt ; hlt
    const { vm, vcpu } = realMode(code);
    // IVT[0x20] -> 0000:0x7d00: mov bl, 0x99 ; iret
    vm.writePhys(0x80, new Uint8Array([0x00, 0x7d, 0x00, 0x00]));
    vm.writePhys(0x7d00, new Uint8Array([0xb3, 0x99, 0xcf]));
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.readyForInterruptInjection).toBe(true);
    vcpu.injectInterrupt(0x20);
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().ebx & 0xff).toBe(0x99);
    expect(vcpu.getRegs().eip).toBe(0x7c03); // after the second HLT
  });

  it('STI shadow: the interrupt window opens only after the instruction following STI', () => {
    // cli ; sti ; nop ; nop ; hlt
    const { vcpu } = realMode([0xfa, 0xfb, 0x90, 0x90, 0xf4]);
    vcpu.requestInterruptWindow(true);
    expect(vcpu.run(100)).toBe(ExitReason.IrqWindowOpen);
    expect(vcpu.getRegs().eip).toBe(0x7c03); // cli, sti and the shadowed nop have run
  });

  it('a triple fault is a Shutdown exit', () => {
    // lidt [limit 0] ; int3  -> #GP on delivery -> #DF -> shutdown
    const { vm, vcpu } = realMode([0x0f, 0x01, 0x1e, 0x00, 0x06, 0xcc, 0xf4]);
    vm.writePhys(0x600, new Uint8Array([0, 0, 0, 0, 0, 0]));
    expect(vcpu.run(100)).toBe(ExitReason.Shutdown);
  });

  it('an unimplemented instruction is an InternalError naming CS:EIP and the bytes', () => {
    // addps xmm0, xmm1 (SSE is not part of the core)
    const { vcpu } = realMode([0x90, 0x0f, 0x58, 0xc1]);
    expect(vcpu.run(100)).toBe(ExitReason.InternalError);
    const x = vcpu.exit;
    expect(x.errCs).toBe(0);
    expect(x.errEip).toBe(0x7c01);
    expect(x.errBytes.slice(0, 3)).toEqual([0x0f, 0x58, 0xc1]);
    expect(x.errReason).toMatch(/0F 58/);
  });

  it('self-modifying code: a write to decoded code is seen by the next execution', () => {
    // l: mov al, 1 ; mov byte [0x1001], 7 ; dec ecx ; jnz l ; hlt   (rewrites the imm of mov al)
    const code = [0xb0, 0x01, 0xc6, 0x05, 0x01, 0x10, 0x00, 0x00, 0x07, 0x49, 0x75, 0xf4, 0xf4];
    const { vcpu } = protMode(code);
    vcpu.setRegs({ ...vcpu.getRegs(), ecx: 2 });
    expect(vcpu.run(1000)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().eax & 0xff).toBe(7);
  });

  it('code loaded by the monitor over old code replaces it', () => {
    const { vm, vcpu } = protMode([0xb0, 0x01, 0xf4]); // mov al,1 ; hlt
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    vm.writePhys(0x1000, new Uint8Array([0xb0, 0x02, 0xf4]));
    vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x1000 });
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().eax & 0xff).toBe(2);
  });

  it('A20: with the gate closed, 0xFFFF:0x0010 wraps to physical 0', () => {
    // mov ax, 0xffff ; mov ds, ax ; mov al, [0x10] ; hlt
    const { vm, vcpu } = realMode([0xb8, 0xff, 0xff, 0x8e, 0xd8, 0xa0, 0x10, 0x00, 0xf4], 2 * MB);
    vm.writePhys(0x0, new Uint8Array([0xaa]));
    vm.writePhys(0x100000, new Uint8Array([0xbb]));
    vm.setA20(false);
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().eax & 0xff).toBe(0xaa);
    vm.setA20(true);
    vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x7c00 });
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vcpu.getRegs().eax & 0xff).toBe(0xbb);
  });
});

describe('Vm memory slots', () => {
  it('rejects overlapping and unaligned slots', () => {
    const vm = new Vm(2 * MB);
    vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: MB, hostOffset: 0, readonly: false });
    expect(() => vm.setMemoryRegion({ slot: 1, guestPhys: 0x80000, size: MB, hostOffset: MB, readonly: false })).toThrow(/overlaps/);
    expect(() => vm.setMemoryRegion({ slot: 2, guestPhys: 0x100, size: 4096, hostOffset: MB, readonly: false })).toThrow(/aligned/);
  });

  it('writes to a read-only slot are dropped', () => {
    const vm = new Vm(2 * MB);
    vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: MB, hostOffset: 0, readonly: false });
    vm.setMemoryRegion({ slot: 1, guestPhys: 0x100000, size: 4096, hostOffset: MB, readonly: true });
    vm.writePhys(0x100000, new Uint8Array([0x55]));
    vm.writePhys(0x7c00, new Uint8Array([0xc7, 0x06, 0x10, 0x00, 0x34, 0x12, 0xf4])); // mov word [0x10], 0x1234 (ds=0xffff below)
    const vcpu = vm.createVcpu();
    const s = vcpu.getSregs();
    s.cs = { ...s.cs, selector: 0, base: 0 };
    s.ds = { ...s.ds, selector: 0xffff, base: 0xffff0 };
    vcpu.setSregs(s);
    vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x7c00 });
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    expect(vm.readPhys(0x100000, 1)[0]).toBe(0x55);
  });
});

describe('vCPU FPU state', () => {
  it('getFpu/setFpu carry the x87 registers and control word (FLD1 seen through getFpu)', () => {
    const { vcpu } = protMode([0xd9, 0xe8, 0xf4]); // fld1 ; hlt
    expect(vcpu.run(100)).toBe(ExitReason.Hlt);
    const st = vcpu.getFpu();
    expect(st.fcw).toBe(0x37f);
    expect(st.fpr[0]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]); // 1.0 in 80-bit format
    vcpu.setFpu({ ...st, fcw: 0x27f });
    expect(vcpu.getFpu().fcw).toBe(0x27f);
  });
});
