// The in-process differential harness: one FuzzCase run through the hv API (Vm, Vcpu) of a core
// instance, with a simulated monitor, and the comparison of two runs' outcomes.
//
// The monitor answers every exit deterministically from the case's monitor seed and the exits
// seen so far: an IN gets data keyed by (port, size, the number of INs before it); an MMIO read
// gets data keyed by (address, size, the number of MMIO reads before it); writes are recorded.
// It slices the budget into run() calls of random lengths (most run to the end of what is left,
// some are short, so Budget exits fall inside blocks) and now and then injects an external
// interrupt, opening an interrupt window first when the vCPU cannot take it. Two cores that
// agree see exactly the same exits, data and injections; the first disagreement is reported.
//
// The core is passed in (a Core), so the caller loads two instances of it — one with the block
// compiler off, one with every block compiled — and runs each case through both.

import type { CpuidEntry, FpuState, MsrEntry, Regs, Sregs } from '../../src/hv/types.js';
import type { Vcpu } from '../../src/hv/vcpu.js';
import type { Vm } from '../../src/hv/vm.js';
import { background, HOST_SIZE, SLOTS, type FuzzCase } from './cases.js';
import { hash32, Rng } from './rng.js';

/** The core's compiler settings for each kind of instance (environment variables read when it loads). */
export const CORE_ENV: Record<string, Record<string, string | undefined>> = {
  // The block compiler off: every instruction through the interpreter's handlers.
  interpreter: { VMRUN_JIT: '0', VMRUN_JIT_THRESHOLD: undefined, VMRUN_JIT_REGION: undefined },
  // Every block compiled at its first execution, one block per WebAssembly unit.
  compiled: { VMRUN_JIT: undefined, VMRUN_JIT_THRESHOLD: '1', VMRUN_JIT_REGION: '0' },
  // The same with units of several blocks (the default).
  regions: { VMRUN_JIT: undefined, VMRUN_JIT_THRESHOLD: '1', VMRUN_JIT_REGION: undefined },
};

/** What a harness needs of a core instance. */
export interface Core {
  /** Shown in reports: 'interpreter' or 'compiled'. */
  name: string;
  Vm: typeof Vm;
  cpuidForModel(name: string): CpuidEntry[];
}

// Exit reasons (src/hv/exit.ts ExitReason; a const enum, so restated).
export const R_IO = 1, R_MMIO = 2, R_HLT = 3, R_IRQ_WINDOW = 4, R_SHUTDOWN = 5, R_DEBUG = 6, R_BUDGET = 7, R_INTERNAL = 8;
const REASON_NAMES = ['?', 'io', 'mmio', 'hlt', 'irq-window', 'shutdown', 'debug', 'budget', 'internal-error'];

/** MSRs read back at the end (the TSC counts retired instructions and deliveries). */
const MSRS = [0x10, 0x1b, 0x174, 0x175, 0x176, 0x179, 0x277, 0xc0000080];

/** How a case ended. */
export type End = 'budget' | 'exits' | 'shutdown' | 'internal-error' | 'debug' | 'watchdog' | 'js-exception';

export interface Outcome {
  end: End;
  /** One line per exit: reason, instructions and deliveries of that run(), and its details. */
  exits: string[];
  /** The InternalError's reason (also in the last exit line), or the JavaScript exception's. */
  error: string;
  regs: Regs;
  sregs: Sregs;
  fpu: FpuState;
  msrs: MsrEntry[];
  /** Instructions the case retired (Vcpu.instructions is cumulative). */
  instructions: number;
  /** The host buffer at the end (RAM and ROM). */
  memory: Uint8Array;
  /** Wall time of the runs, ms (not compared). */
  ms: number;
}

function sizeMask(size: number): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

const hx = (v: number): string => (v >>> 0).toString(16);

/** A core instance with one VM and vCPU, reused for every case (a fresh Vm costs ~4 ms). */
export class Runner {
  readonly vm: Vm;
  readonly vcpu: Vcpu;

  constructor(readonly core: Core) {
    this.vm = new core.Vm(HOST_SIZE);
    SLOTS.forEach((s, k) => this.vm.setMemoryRegion({ slot: k, guestPhys: s.guestPhys, size: s.size, hostOffset: s.guestPhys, readonly: s.readonly }));
    this.vcpu = this.vm.createVcpu();
  }

  /** Put the machine in the case's initial state. */
  load(c: FuzzCase): void {
    const { vm, vcpu } = this;
    vcpu.reset();
    vcpu.requestInterruptWindow(false);
    vcpu.tscOffset = 0;
    vm.setA20(true);
    this.clearBreakpoints();
    const bg = background(c.bg);
    for (const s of SLOTS) vm.writePhys(s.guestPhys, bg.subarray(s.guestPhys, s.guestPhys + s.size));
    for (const [addr, m] of c.mem) vm.writePhys(addr, typeof m === 'string' ? Buffer.from(m, 'hex') : m);
    vm.setA20(c.a20);
    vcpu.setCpuid(this.core.cpuidForModel(c.cpu));
    vcpu.setSregs(structuredClone(c.sregs));
    vcpu.setRegs({ ...c.regs });
    if (c.fpu !== null) vcpu.setFpu(structuredClone(c.fpu));
    // Only the MSRs the case's CPU model has (KVM_SET_MSRS refuses the others, as vmrun does).
    const present = new Set(presentMsrs(vcpu, c.msrs.map(([index]) => index)));
    vcpu.setMsrs(c.msrs.filter(([index]) => present.has(index)).map(([index, v]) => ({ index, value: BigInt('0x' + v) })));
  }

  /**
   * Vcpu.reset() zeroes DR7 but leaves the breakpoints it had enabled armed (the core derives
   * them only when DR7 or CR4 is written; test/fuzz/repro/reset.test.ts): a guest write of DR7
   * disarms them, so that a case does not inherit the last one's breakpoints.
   */
  private clearBreakpoints(): void {
    const { vm, vcpu } = this;
    // 0000:0500: mov eax, 0x400 ; mov dr7, eax ; hlt — and every interrupt vector leads there too:
    // a debug trap the last case left pending (reset() keeps that as well) is taken through the
    // real-mode IVT before or after the first instruction.
    const ivt = new Uint8Array(0x400);
    for (let v = 0; v < 256; v++) ivt.set([0x00, 0x05, 0x00, 0x00], v * 4);
    vm.writePhys(0, ivt);
    vm.writePhys(0x500, new Uint8Array([0x66, 0xb8, 0x00, 0x04, 0x00, 0x00, 0x0f, 0x23, 0xf8, 0xf4]));
    const s = vcpu.getSregs();
    s.cs = { ...s.cs, selector: 0, base: 0 };
    s.ss = { ...s.ss, selector: 0, base: 0 };
    vcpu.setSregs(s);
    for (let tries = 0; tries < 4; tries++) {
      vcpu.setRegs({ ...vcpu.getRegs(), eip: 0x500, esp: 0x7000, eflags: 2 });
      if (vcpu.run(10) === R_HLT && vcpu.getRegs().eip === 0x50a) return;
    }
    throw new Error(`the breakpoint-clearing prologue did not halt at 0000:050A (exit ${vcpu.exit.reason}, EIP ${hx(vcpu.getRegs().eip)})`);
  }

  /** Run a case; `watchdogMs` bounds its wall time (checked between run() calls). */
  run(c: FuzzCase, watchdogMs: number): Outcome {
    const { vcpu } = this;
    const t0 = performance.now();
    this.load(c);
    const before = vcpu.instructions;
    const mon = new Rng(c.monitor, 0x3d);
    const exits: string[] = [];
    let ins = 0, mmioReads = 0;
    let spent = 0;
    let end: End | null = null;
    let error = '';
    let pendingIrq = -1;
    while (end === null) {
      if (exits.length >= c.maxExits) { end = 'exits'; break; }
      const left = c.budget - spent;
      if (left <= 0) { end = 'budget'; break; }
      if (performance.now() - t0 > watchdogMs) { end = 'watchdog'; break; }
      const slice = mon.chance(0.75) ? left : Math.min(left, mon.range(1, 80));
      let reason: number;
      try {
        reason = vcpu.run(slice);
      } catch (e) {
        end = 'js-exception';
        error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        break;
      }
      const x = vcpu.exit;
      spent += x.instructions + x.deliveries;
      let line = `${REASON_NAMES[reason] ?? reason} n=${x.instructions} d=${x.deliveries}`;
      switch (reason) {
        case R_IO: {
          line += ` port=${hx(x.ioPort)} size=${x.ioSize} count=${x.ioCount} eip=${hx(x.insnEip)}`;
          if (x.ioIn) {
            const v = hash32(c.monitor, 1, x.ioPort, x.ioSize, ins++) & sizeMask(x.ioSize);
            x.ioData[0] = v;
            line += ` in=${hx(v)}`;
          } else {
            const data: string[] = [];
            for (let k = 0; k < x.ioCount; k++) data.push(hx(x.ioData[k]));
            line += ` out=${data.join(',')}`;
          }
          break;
        }
        case R_MMIO:
          line += ` addr=${hx(x.mmioAddr)} size=${x.mmioSize} eip=${hx(x.insnEip)}`;
          if (x.mmioWrite) {
            line += ` write=${hx(x.mmioData)}`;
          } else {
            const v = hash32(c.monitor, 2, x.mmioAddr, x.mmioSize, mmioReads++) & sizeMask(x.mmioSize);
            x.mmioData = v;
            line += ` read=${hx(v)}`;
          }
          break;
        case R_HLT: case R_BUDGET: case R_IRQ_WINDOW:
          break;
        case R_SHUTDOWN:
          end = 'shutdown';
          break;
        case R_INTERNAL:
          error = x.errReason;
          line += ` at ${hx(x.errCs)}:${hx(x.errEip)} bytes=${x.errBytes.map(hx).join(' ')} reason=${x.errReason}`;
          end = 'internal-error';
          break;
        default:
          end = 'debug';
      }
      line += ` if=${x.interruptsEnabled ? 1 : 0} ready=${x.readyForInterruptInjection ? 1 : 0}`;
      exits.push(line);
      if (end !== null) break;
      // External interrupts: now and then one is raised; it is injected when the vCPU can take it.
      if (pendingIrq < 0 && mon.chance(0.04)) pendingIrq = mon.chance(0.8) ? 0x20 + mon.int(16) : mon.int(256);
      if (pendingIrq >= 0) {
        if (vcpu.readyForInterruptInjection) {
          vcpu.injectInterrupt(pendingIrq);
          exits.push(`inject ${hx(pendingIrq)}`);
          pendingIrq = -1;
          vcpu.requestInterruptWindow(false);
        } else {
          vcpu.requestInterruptWindow(true);
        }
      }
    }
    const ms = performance.now() - t0;
    return {
      end, exits, error,
      regs: vcpu.getRegs(), sregs: vcpu.getSregs(), fpu: vcpu.getFpu(), msrs: vcpu.getMsrs(presentMsrs(vcpu, MSRS)),
      instructions: vcpu.instructions - before,
      memory: this.vm.bytes,
      ms,
    };
  }
}

/** Whether an outcome is a finding on its own (whatever the other run did). */
export function selfFinding(o: Outcome): string | null {
  if (o.end === 'js-exception') return `a JavaScript exception escaped run(): ${o.error}`;
  if (o.end === 'internal-error' && o.error.startsWith('core error')) return `a JavaScript exception inside the core: ${o.error}`;
  if (o.end === 'watchdog') return `the case did not finish within the watchdog (${o.ms.toFixed(0)} ms)`;
  return null;
}

/** Keep what compare() needs of an outcome whose memory is about to be reused. */
export function detach(o: Outcome): Outcome {
  return { ...o, memory: o.memory.slice() };
}

function diffObject(path: string, a: unknown, b: unknown, out: string[]): void {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      diffObject(path === '' ? k : `${path}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], out);
    }
    return;
  }
  if (a !== b) {
    const f = (v: unknown): string => (typeof v === 'number' ? `0x${hx(v)}` : typeof v === 'bigint' ? `0x${v.toString(16)}` : String(v));
    out.push(`${path}: ${f(a)} / ${f(b)}`);
  }
}

/**
 * The differences between two outcomes of one case (a, b: the two cores), as lines, or [] when
 * they agree. The exit sequence is compared up to its first difference.
 */
export function compare(a: Outcome, b: Outcome): string[] {
  const out: string[] = [];
  const n = Math.max(a.exits.length, b.exits.length);
  for (let k = 0; k < n; k++) {
    if (a.exits[k] !== b.exits[k]) {
      out.push(`exit ${k}: ${a.exits[k] ?? '(none)'}`, `     ${' '.repeat(String(k).length)}/ ${b.exits[k] ?? '(none)'}`);
      break;
    }
  }
  if (a.end !== b.end) out.push(`end: ${a.end} / ${b.end}`);
  if (a.instructions !== b.instructions) out.push(`instructions: ${a.instructions} / ${b.instructions}`);
  diffObject('regs', a.regs, b.regs, out);
  diffObject('sregs', a.sregs, b.sregs, out);
  diffObject('fpu', a.fpu, b.fpu, out);
  diffObject('msrs', a.msrs, b.msrs, out);
  if (Buffer.compare(a.memory, b.memory) !== 0) {
    const diffs: number[] = [];
    for (let k = 0; k < a.memory.length && diffs.length < 8; k++) if (a.memory[k] !== b.memory[k]) diffs.push(k);
    let count = 0;
    for (let k = 0; k < a.memory.length; k++) if (a.memory[k] !== b.memory[k]) count++;
    out.push(`memory: ${count} bytes differ, first at ${diffs.map((d) => `0x${hx(d)} (${hx(a.memory[d])}/${hx(b.memory[d])})`).join(', ')}`);
  }
  return out;
}

/** Those of `indices` that the vCPU's model has (getMsrs throws a RangeError for the others). */
function presentMsrs(vcpu: Vcpu, indices: readonly number[]): number[] {
  return indices.filter((index) => {
    try {
      vcpu.getMsrs([index]);
      return true;
    } catch (e) {
      if (e instanceof RangeError) return false;
      throw e;
    }
  });
}
