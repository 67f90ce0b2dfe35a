// Which MSRs exist follows the CPU model's CPUID table (src/cpu/msrs.ts): RDMSR/WRMSR of one the
// model does not have raise #GP, as on the real processor; the machine-check registers Linux and
// test kernels read exist where CPUID reports MCE and MCA.
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../src/hv/exit.js';
import { cpuidForModel, cpuModelNames } from '../../src/hv/cpu-models.js';
import { Vm } from '../../src/hv/vm.js';
import { F32, Flat32 } from './harness.js';

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const rdmsr = (index: number) => [0xb9, ...le32(index), 0x0f, 0x32]; // mov ecx, index ; rdmsr
const wrmsr = (index: number, lo: number, hi = 0) => [0xb9, ...le32(index), 0xb8, ...le32(lo), 0xba, ...le32(hi), 0x0f, 0x30];

function vcpuFor(model: string) {
  const vm = new Vm(1 << 20);
  vm.setMemoryRegion({ slot: 0, guestPhys: 0, size: 1 << 20, hostOffset: 0, readonly: false });
  const vcpu = vm.createVcpu();
  vcpu.setCpuid(cpuidForModel(model));
  return vcpu;
}

const exists = (model: string, index: number): boolean => {
  try {
    vcpuFor(model).getMsrs([index]);
    return true;
  } catch (e) {
    if (e instanceof RangeError) return false;
    throw e;
  }
};

const leaf1 = (model: string) => cpuidForModel(model).find((e) => e.function === 1)!.edx;
const ext1 = (model: string) => cpuidForModel(model).find((e) => e.function === 0x80000001)?.edx ?? 0;

describe('MSRs agree with CPUID, per model', () => {
  for (const model of cpuModelNames()) {
    it(`${model}: each MSR exists exactly when its CPUID feature is reported`, () => {
      const f = leaf1(model);
      const msr = (f & (1 << 5)) !== 0;
      expect(exists(model, 0x10), 'TSC').toBe(msr && (f & (1 << 4)) !== 0);
      expect(exists(model, 0x174), 'SYSENTER_CS (SEP)').toBe(msr && (f & (1 << 11)) !== 0);
      expect(exists(model, 0x277), 'PAT').toBe(msr && (f & (1 << 16)) !== 0);
      expect(exists(model, 0xfe), 'MTRRcap (MTRR)').toBe(msr && (f & (1 << 12)) !== 0);
      expect(exists(model, 0x179), 'MCG_CAP (MCE+MCA)').toBe(msr && (f & (1 << 7)) !== 0 && (f & (1 << 14)) !== 0);
      expect(exists(model, 0xc0000080), 'EFER (NX)').toBe(msr && (ext1(model) & (1 << 20)) !== 0);
      expect(exists(model, 0x1a0), 'MISC_ENABLE (not before the Pentium 4)').toBe(false);
    });
  }
});

describe('machine-check registers (pentium2)', () => {
  const m = new Flat32();

  it('RDMSR IA32_MCG_CAP gives MCG_CTL_P and 5 banks; the banks read 0', () => {
    const cap = m.run(rdmsr(0x179));
    expect(cap.vector).toBe(-1);
    expect([cap.regs.eax, cap.regs.edx]).toEqual([0x105, 0]);
    for (let bank = 0; bank < 5; bank++) {
      const st = m.run(rdmsr(0x401 + 4 * bank));
      expect([st.vector, st.regs.eax, st.regs.edx]).toEqual([-1, 0, 0]);
    }
    expect(m.run(rdmsr(0x401 + 4 * 5)).vector).toBe(13); // no sixth bank
  });

  it('MCi_CTL takes any value, MCi_STATUS only zero, MCG_CAP nothing', () => {
    expect(m.run([...wrmsr(0x400, -1, -1), ...rdmsr(0x400)]).regs.eax).toBe(0xffffffff);
    expect(m.run(wrmsr(0x401, 0)).vector).toBe(-1);
    expect(m.run(wrmsr(0x401, 1)).vector).toBe(13);
    expect(m.run(wrmsr(0x179, 0x105)).vector).toBe(13);
  });

  it('CR4.MCE can be set (CPUID reports MCE)', () => {
    const r = m.run([0xb8, ...le32(0x40), 0x0f, 0x22, 0xe0, 0x0f, 0x20, 0xe0]); // mov cr4, eax ; mov eax, cr4
    expect(r.vector).toBe(-1);
    expect(r.regs.eax & 0x40).toBe(0x40);
  });
});

describe('the P6 performance counters (a PMU that is not virtualised)', () => {
  const m = new Flat32();

  it("Linux's check finds no PMU: a counter written with another value reads back 0", () => {
    // wrmsr PERFCTR0 <- 0xffff ; rdmsr PERFCTR0 (check_hw_exists writes val ^ 0xffff, reads it back)
    const r = m.run([...wrmsr(0xc1, 0xffff), ...rdmsr(0xc1)]);
    expect(r.vector).toBe(-1);
    expect(r.regs.eax).toBe(0);
  });

  it('an event select with EN stops with an InternalError (counting is not implemented)', () => {
    const r = m.run(wrmsr(0x186, 0x00430079)); // EN | USR | OS, event 0x79
    expect(r.exitReason).toBe(ExitReason.InternalError);
  });

  for (const model of cpuModelNames()) {
    it(`${model} reports the hypervisor bit (CPUID.1:ECX[31]), as a KVM or QEMU guest sees it`, () => {
      expect(cpuidForModel(model).find((e) => e.function === 1)!.ecx >>> 31).toBe(1);
    });
  }
});
