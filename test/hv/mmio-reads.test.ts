// Instructions with more than one MMIO read (CMPS, MOVS between two MMIO ranges, their REP forms)
// complete, and every read reaches the device exactly once, as KVM's emulator keeps the data of
// the reads it has already done ("fragments") while it completes the instruction. The device
// here has read side effects: every read is logged, and a register returns a new value each time.
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import { Vm } from '../../src/hv/vm.js';
import type { Vcpu } from '../../src/hv/vcpu.js';

// RAM below 0x80000; 0x90000 and up is MMIO (no memory region). Code at 0000:7C00.
const RAM = 0x80000;
const A = 0x90000, B = 0xa0000;

interface Access { op: 'r' | 'w'; addr: number; size: number; value: number }

/** A device: reads of A+k return table[k] (logged); B+k likewise with its own table. */
class Device {
  readonly log: Access[] = [];
  constructor(private readonly a: number[], private readonly b: number[]) {}
  read(addr: number, size: number): number {
    const table = addr >= B ? this.b : this.a;
    const base = addr >= B ? B : A;
    let v = 0;
    for (let k = 0; k < size; k++) v |= (table[addr - base + k] ?? 0) << (8 * k);
    this.log.push({ op: 'r', addr, size, value: v });
    return v;
  }
  write(addr: number, size: number, value: number): void {
    this.log.push({ op: 'w', addr, size, value });
  }
}

function machine(code: number[], regs: Partial<Record<'eax' | 'ecx' | 'esi' | 'edi', number>>) {
  const vm = new Vm(RAM);
  vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: RAM, hostOffset: 0, readonly: false });
  vm.writePhys(0x7c00, new Uint8Array([...code, 0xf4])); // ..., hlt
  const vcpu = vm.createVcpu();
  const s = vcpu.getSregs();
  const seg = (sel: number) => ({ ...s.ds, selector: sel, base: sel * 16 });
  // DS = 0x9000 (A), ES = 0xA000 (B)
  vcpu.setSregs({ ...s, cs: { ...s.cs, selector: 0, base: 0 }, ds: seg(A >> 4), es: seg(B >> 4), ss: seg(0) });
  vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x7c00, esp: 0x7000, ...regs });
  return { vm, vcpu };
}

/** Run to HLT, answering MMIO exits from the device; `onExit` runs after each MMIO exit. */
function runToHlt(vcpu: Vcpu, dev: Device, onExit?: (n: number) => void): number {
  const x = vcpu.exit;
  for (let n = 0; n < 200; n++) {
    const reason = vcpu.run(1000);
    if (reason === ExitReason.Hlt) return n;
    if (reason !== ExitReason.Mmio) throw new Error(`unexpected exit ${reason}`);
    if (x.mmioWrite) dev.write(x.mmioAddr, x.mmioSize, x.mmioData);
    else x.mmioData = dev.read(x.mmioAddr, x.mmioSize);
    onExit?.(n);
  }
  throw new Error('the instruction never completed (200 exits)');
}

const flags = (vcpu: Vcpu) => vcpu.getRegs().eflags & 0x8d5;
const ZF = 0x40;

describe('instructions with two MMIO reads', () => {
  it('CMPSB with both operands in MMIO completes, reading each once', () => {
    const dev = new Device([7], [7]);
    const { vcpu } = machine([0xa6], { esi: 0, edi: 0 }); // cmpsb
    runToHlt(vcpu, dev);
    expect(dev.log).toEqual([{ op: 'r', addr: A, size: 1, value: 7 }, { op: 'r', addr: B, size: 1, value: 7 }]);
    expect(flags(vcpu) & ZF).toBe(ZF);
    expect(vcpu.getRegs().esi & 0xffff).toBe(1);
    expect(vcpu.getRegs().edi & 0xffff).toBe(1);
  });

  it('REPE CMPSB over MMIO stops at the first difference; every byte read once, in order', () => {
    const dev = new Device([5, 6, 7, 8], [5, 6, 9, 8]);
    const { vcpu } = machine([0xf3, 0xa6], { ecx: 4, esi: 0, edi: 0 }); // repe cmpsb
    runToHlt(vcpu, dev);
    expect(dev.log.map((e) => [e.op, e.addr])).toEqual([
      ['r', A], ['r', B], ['r', A + 1], ['r', B + 1], ['r', A + 2], ['r', B + 2],
    ]);
    const r = vcpu.getRegs();
    expect(r.ecx & 0xffff).toBe(1);
    expect(r.esi & 0xffff).toBe(3);
    expect(r.edi & 0xffff).toBe(3);
    expect(flags(vcpu) & ZF).toBe(0);
  });

  it('REP MOVSW from MMIO to MMIO: read, write, read, write', () => {
    const dev = new Device([0x11, 0x22, 0x33, 0x44], []);
    const { vcpu } = machine([0xf3, 0xa5], { ecx: 2, esi: 0, edi: 0 }); // rep movsw
    runToHlt(vcpu, dev);
    expect(dev.log).toEqual([
      { op: 'r', addr: A, size: 2, value: 0x2211 },
      { op: 'w', addr: B, size: 2, value: 0x2211 },
      { op: 'r', addr: A + 2, size: 2, value: 0x4433 },
      { op: 'w', addr: B + 2, size: 2, value: 0x4433 },
    ]);
    expect(vcpu.getRegs().ecx & 0xffff).toBe(0);
  });

  it('REP LODSB from MMIO reads each byte once', () => {
    const dev = new Device([1, 2, 3], []);
    const { vcpu } = machine([0xf3, 0xac], { ecx: 3, esi: 0 }); // rep lodsb
    runToHlt(vcpu, dev);
    expect(dev.log.map((e) => e.addr)).toEqual([A, A + 1, A + 2]);
    expect(vcpu.getRegs().eax & 0xff).toBe(3);
  });

  it('an interrupt injected after the first read exit is taken after the instruction completes', () => {
    const dev = new Device([4], [4]);
    // IVT[0x40] -> 0000:7D00, where the handler is HLT.
    const { vm, vcpu } = machine([0xfb, 0xa6], { esi: 0, edi: 0 }); // sti; cmpsb
    vm.writePhys(0x40 * 4, new Uint8Array([0x00, 0x7d, 0x00, 0x00]));
    vm.writePhys(0x7d00, new Uint8Array([0xf4]));
    runToHlt(vcpu, dev, (n) => {
      if (n === 0) vcpu.injectInterrupt(0x40);
    });
    expect(dev.log.map((e) => e.addr)).toEqual([A, B]);
    expect(vcpu.getRegs().eip).toBe(0x7d01); // in the handler
    // The frame's return address is the instruction after CMPSB.
    expect(Array.from(vm.readPhys(0x7000 - 6, 2))).toEqual([0x02, 0x7c]);
  });

  it('POPA with the stack in MMIO: eight reads, each once, and the registers loaded', () => {
    const dev = new Device(Array.from({ length: 16 }, (_, k) => k + 1), []);
    const { vcpu } = machine([0x61], {}); // popa
    const s = vcpu.getSregs();
    vcpu.setSregs({ ...s, ss: { ...s.ss, selector: A >> 4, base: A } });
    vcpu.setRegs({ ...vcpu.getRegs(), esp: 0 });
    runToHlt(vcpu, dev);
    expect(dev.log.map((e) => e.addr)).toEqual([0, 2, 4, 6, 8, 10, 12, 14].map((o) => A + o));
    const r = vcpu.getRegs();
    // POPA pops DI, SI, BP, (SP skipped), BX, DX, CX, AX.
    expect([r.edi & 0xffff, r.esi & 0xffff, r.ebp & 0xffff, r.ebx & 0xffff, r.edx & 0xffff, r.ecx & 0xffff, r.eax & 0xffff])
      .toEqual([0x0201, 0x0403, 0x0605, 0x0a09, 0x0c0b, 0x0e0d, 0x100f]);
    expect(r.esp & 0xffff).toBe(16);
  });
});
