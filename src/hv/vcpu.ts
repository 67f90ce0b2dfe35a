// A virtual CPU with hardware-assisted semantics, shaped like a KVM vCPU file descriptor.
// run() executes guest code until something needs the monitor and says why in `exit`.

import { Cpu } from '../cpu/cpu.js';
import type { PhysicalMemory } from '../cpu/memory.js';
import { makeFieldsMutable } from '../cpu/shapes.js';
import { ExitRecord } from './exit.js';
import type { CpuidEntry, FpuState, MsrEntry, Regs, Sregs } from './types.js';

export class Vcpu {
  /** The exit record, rewritten by every run() (like the mmap'd kvm_run). */
  readonly exit = new ExitRecord();
  private readonly cpu: Cpu;

  constructor(phys: PhysicalMemory) {
    this.cpu = new Cpu(phys);
    makeFieldsMutable(this.exit); // the core rewrites it at every exit (see src/cpu/shapes.ts)
  }

  /**
   * Run until an exit, for at most `budget` instructions (the preemption timer).
   * Returns the exit reason; details are in `this.exit`.
   */
  run(budget: number): number {
    this.cpu.run(budget, this.exit);
    return this.exit.reason;
  }

  getRegs(): Regs { return this.cpu.getRegs(); }
  setRegs(regs: Regs): void { this.cpu.setRegs(regs); }
  getSregs(): Sregs { return this.cpu.getSregs(); }
  setSregs(sregs: Sregs): void { this.cpu.setSregs(sregs); }
  getFpu(): FpuState { return this.cpu.x87.getState(); }
  setFpu(state: FpuState): void { this.cpu.x87.setState(state); }
  setCpuid(entries: CpuidEntry[]): void { this.cpu.setCpuid(entries); }
  getMsrs(indices: number[]): MsrEntry[] { return this.cpu.getMsrs(indices); }
  setMsrs(entries: MsrEntry[]): void { this.cpu.setMsrs(entries); }

  /**
   * The TSC offset (as KVM's KVM_VCPU_TSC_OFFSET attribute): the guest's TSC reads
   * instructions retired + offset. The monitor moves it on by the guest time that passes
   * without instructions (idle HLT, I/O bus time), so the TSC follows the machine clock.
   */
  get tscOffset(): number { return this.cpu.tscOffset; }
  set tscOffset(v: number) { this.cpu.tscOffset = v; }

  /** Code compiled so far (as KVM's binary stats): units compiled and the milliseconds it took. */
  get compileStats(): { units: number; ms: number } {
    return { units: this.cpu.codeStats.unitsCompiled, ms: this.cpu.codeStats.compileMs };
  }

  /** Total guest instructions retired since creation. */
  get instructions(): number { return this.cpu.instructionCount; }

  /** Interrupts can be injected now: EFLAGS.IF = 1 and no STI / MOV SS shadow. */
  get readyForInterruptInjection(): boolean { return this.cpu.canInjectInterrupt(); }

  /** Queue an external interrupt, delivered at the start of the next run() (KVM_INTERRUPT). */
  injectInterrupt(vector: number): void { this.cpu.injectInterrupt(vector); }

  /** Ask run() to exit with IrqWindowOpen as soon as an interrupt could be injected. */
  requestInterruptWindow(enable: boolean): void { this.cpu.irqWindowRequested = enable; }

  /** Up to 15 bytes of code at CS:eip, as far as they can be read (for error reports). */
  codeBytes(eip: number): number[] { return this.cpu.codeBytes(eip); }

  /** Reset to the power-on state (real mode, CS:IP F000:FFF0). */
  reset(): void { this.cpu.reset(); }
}
