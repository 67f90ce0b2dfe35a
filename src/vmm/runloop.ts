// The run loop: vcpu.run() with a budget that ends at the nearest device deadline, then the exit
// is routed to a bus, timed devices are brought up to date and a pending PIC interrupt is
// injected (or an interrupt window requested). It is shaped like the KVM_RUN loop of a
// user-space monitor with a user-space interrupt controller (QEMU's -machine kernel_irqchip=off).
//
// Hot path: the synchronous inner loop `step()` allocates nothing per exit. The async outer loop
// only runs every ~20 ms of wall time (flush the console, let stdin and signals in) and while
// the guest idles in realtime mode.

import { EXIT_REASON_NAMES, ExitReason, type ExitRecord } from '../hv/exit.js';
import type { Regs, Sregs } from '../hv/types.js';
import type { TimedDevice } from '../devices/device.js';
import { hexPort, type MmioBus, type PortBus } from './bus.js';
import type { MachineClock } from './clock.js';
import {
  STATUS_CRASH, STATUS_MONITOR_ERROR, STATUS_OK, STATUS_TIMEOUT, type StopKind,
} from './status.js';

/** The part of a vCPU the loop drives; the real src/hv Vcpu satisfies it structurally. */
/** Guest time one port access takes on the I/O bus (virtual clock), as on a PC's LPC/ISA bus. */
export const IO_ACCESS_NS = 1000;

export interface LoopVcpu {
  readonly exit: ExitRecord;
  run(budget: number): number;
  readonly readyForInterruptInjection: boolean;
  injectInterrupt(vector: number): void;
  requestInterruptWindow(enable: boolean): void;
  getRegs(): Regs;
  getSregs(): Sregs;
  /** Up to 15 bytes of code at CS:eip (for error reports); optional. */
  codeBytes?(eip: number): number[];
  /** Code compiled so far; optional. */
  readonly compileStats?: { units: number; ms: number };
}

/** The interrupt controller's CPU side (the 8259A pair's INTR pin and INTA cycle). */
export interface InterruptController {
  hasInterrupt(): boolean;
  acknowledge(): number;
  /** Whether IRQ `irq` rising now would interrupt the CPU (masks, priority); absent: always. */
  canWake?(irq: number): boolean;
}

/** Host console input on its way to the guest's UART. */
export interface ConsoleInputSource {
  /** Bytes queued for the guest. */
  readonly pending: number;
  /** More input may still arrive (stdin not at end). */
  readonly open: boolean;
  /** Move queued bytes into the UART as far as its receiver has room. */
  pump(): void;
  /** Set by the run loop while it sleeps; the input calls it when bytes arrive. */
  waker: (() => void) | null;
}

export interface RunHooks {
  /**
   * At wall-clock points (~20 ms), before sleeping and at the end: flush buffered output. A
   * promise returned between two slices (output backed up behind a slow reader) is awaited
   * before the guest runs on.
   */
  flush(): void | Promise<void>;
  /** At points fixed by the instruction count (Budget and Hlt exits): e.g. console matching. */
  checkpoint(): void;
}

export interface RunLoopParts {
  vcpu: LoopVcpu;
  ports: PortBus;
  mmio: MmioBus;
  clock: MachineClock;
  /** Devices with deadlines (PIT, RTC). */
  timers: TimedDevice[];
  /**
   * The IRQ each timer raises at its deadline (same order). A halted vCPU waits only for the
   * deadlines whose line could interrupt it; without this, for every deadline.
   */
  timerIrqs?: readonly number[];
  pic: InterruptController;
}

export interface RunLoopOptions {
  /**
   * Wall-clock limit in ms (0 or absent: none) → status 124, counted from `run()` unless
   * `deadline` says where it ends; the stop line names this value.
   */
  timeoutMs?: number;
  /** Where the limit ends, on the `wallClock` scale (the CLI's is counted from process start). */
  deadline?: number;
  /** Most instructions per vcpu.run() (default 1,000,000). */
  sliceInstructions?: number;
  /** Wall ms between yields to the event loop (default 20). */
  yieldMs?: number;
  input?: ConsoleInputSource | null;
  hooks?: RunHooks | null;
  traceExits?: boolean;
  traceIrq?: boolean;
  /** Where trace lines go (default: none). */
  traceLine?: ((line: string) => void) | null;
  /** Wall clock in ms (default performance.now); injectable for tests. */
  wallClock?: () => number;
  /**
   * Called before the next run() with the guest time (ns) that passed without instructions —
   * the virtual clock's idle skips and I/O bus time; with the realtime clock, host time the
   * instructions did not account for (the guest runs slower than 1 ns per instruction) — so
   * the machine can move time sources inside the vCPU (the TSC) along with the clock.
   */
  onTimeWithoutInstructions?: ((ns: number) => void) | null;
}

export interface ExitStats {
  total: number;
  byReason: Record<string, number>;
  /** Io exits per port, keyed '0x3f8'. */
  byPort: Record<string, number>;
}

export interface RunResult {
  /** The process exit status (src/vmm/status.ts). */
  status: number;
  /** The machine-readable reason. */
  kind: StopKind;
  /** Why the run stopped, one sentence. */
  reason: string;
  /** The guest asked for a reset and rebooting is allowed: the caller restarts the machine. */
  reset: boolean;
  instructions: number;
  /** Guest time at the stop, ns. */
  guestNs: number;
  wallMs: number;
  /**
   * performance.now() (ms since the process started) just before this loop's first vcpu.run(),
   * NaN when the guest never ran. The CLI reports the first machine's as the launch time.
   */
  firstRunAt: number;
  interruptsInjected: number;
  /** Code the vCPU compiled (units, ms), when it reports it. */
  compiled: { units: number; ms: number } | null;
  exits: ExitStats;
  /** With a crash (4) or a timeout (124): registers and the last exits handled, one per line. */
  dump: string[];
}

const DEFAULT_SLICE = 1_000_000;
const DEFAULT_YIELD_MS = 20;
/**
 * The wall time the loop may run between two looks at the clock (timeout, signals, console
 * flushes). The loop looks after a number of exits and bounds each vcpu.run() by instructions;
 * both numbers are fitted at every look to the speed just measured, so a guest that runs slowly
 * (self-modifying code, slow exits) is looked at as often as a fast one.
 */
const CHECK_MS = 5;
/** Exits between wall-clock checks to start with, and at most (Budget and Hlt exits also check). */
const CHECK_EVERY = 512;
/** The smallest slice the fitting may choose. */
const MIN_SLICE = 64;
/** Where the fitting starts (it grows fourfold per look while the guest is fast). */
const FIRST_SLICE = 4096;
const FIRST_CHECK_EVERY = 4;
const RING = 16;
const RING_MASK = RING - 1;

const ACT_STOP = 0;
const ACT_YIELD = 1;
const ACT_WAIT = 2;

export function hex8(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

function hex4(v: number): string {
  return (v & 0xffff).toString(16).padStart(4, '0');
}

export class RunLoop {
  private readonly vcpu: LoopVcpu;
  private readonly ports: PortBus;
  private readonly mmio: MmioBus;
  private readonly clock: MachineClock;
  private readonly virtual: boolean;
  private readonly timers: TimedDevice[];
  private readonly timerIrqs: readonly number[] | null;
  private readonly pic: InterruptController;
  private readonly input: ConsoleInputSource | null;
  private readonly hooks: RunHooks | null;
  private readonly slice: number;
  private readonly yieldMs: number;
  private readonly timeoutMs: number;
  private readonly deadline: number | undefined;
  private readonly wall: () => number;
  private readonly traceExits: boolean;
  private readonly traceIrq: boolean;
  private readonly traceLine: ((line: string) => void) | null;
  private readonly onTimeWithoutInstructions: ((ns: number) => void) | null;
  /** Guest ns that passed without instructions, not yet reported. */
  private skippedNs = 0;
  /** Realtime: the clock and the step count when time was last accounted for. */
  private syncNs = 0;
  private syncSteps = 0;

  private stopStatus = -1;
  private stopKind: StopKind = 'halt';
  private stopReason = '';
  private stopReset = false;
  private halted = false;
  private windowRequested = false;
  private startWall = 0;
  private timeoutAt = Infinity;
  private nextYieldAt = 0;
  private countdown = CHECK_EVERY;
  /** Exits between looks at the wall clock, fitted to the measured speed. */
  private checkEvery = CHECK_EVERY;
  /** Instructions per vcpu.run() at most, fitted to the measured speed (≤ slice). */
  private runSlice = 0;
  /** The wall clock and the counters at the last look. */
  private lastCheckWall = 0;
  private lastCheckInstr = 0;
  private lastCheckExits = 0;
  /** Guest time the outer loop should sleep until (realtime HLT, or Infinity: input only). */
  private waitUntil = 0;
  private wake: (() => void) | null = null;
  private running = false;
  private firstRunAt = NaN;

  instructions = 0;
  /** Instructions and exception deliveries: what budgets are counted in. */
  private steps = 0;
  interruptsInjected = 0;
  private totalExits = 0;
  private readonly reasonCounts = new Float64Array(16);
  private readonly portCounts: Float64Array;

  // The last RING exits: reason, address (port or MMIO), value, size, direction (1 = write/out).
  private readonly ringReason = new Uint8Array(RING);
  private readonly ringAddr = new Float64Array(RING);
  private readonly ringValue = new Float64Array(RING);
  private readonly ringSize = new Uint8Array(RING);
  private readonly ringWrite = new Uint8Array(RING);
  private readonly ringCount = new Uint32Array(RING);
  private readonly ringInstr = new Float64Array(RING);
  private ringPos = 0;

  /**
   * `previous`: a loop that has finished and that this one replaces (a reboot): its large
   * tables are taken over, cleared, rather than allocated again.
   */
  constructor(parts: RunLoopParts, options: RunLoopOptions = {}, previous?: RunLoop) {
    if (previous !== undefined && !previous.running) {
      this.portCounts = previous.portCounts;
      this.portCounts.fill(0);
    } else {
      this.portCounts = new Float64Array(0x10000);
    }
    this.vcpu = parts.vcpu;
    this.ports = parts.ports;
    this.mmio = parts.mmio;
    this.clock = parts.clock;
    this.virtual = parts.clock.mode === 'virtual';
    this.timers = parts.timers.slice();
    this.timerIrqs = parts.timerIrqs ?? null;
    this.pic = parts.pic;
    this.input = options.input ?? null;
    this.hooks = options.hooks ?? null;
    this.slice = Math.max(1, Math.floor(options.sliceInstructions ?? DEFAULT_SLICE));
    this.yieldMs = options.yieldMs ?? DEFAULT_YIELD_MS;
    this.timeoutMs = options.timeoutMs ?? 0;
    this.deadline = options.deadline;
    this.wall = options.wallClock ?? (() => performance.now());
    this.traceLine = options.traceLine ?? null;
    this.onTimeWithoutInstructions = options.onTimeWithoutInstructions ?? null;
    this.traceExits = (options.traceExits ?? false) && this.traceLine !== null;
    this.traceIrq = (options.traceIrq ?? false) && this.traceLine !== null;
  }

  /** True once a stop has been requested. */
  get stopping(): boolean {
    return this.stopStatus >= 0;
  }

  /**
   * End the run after the exit being handled. The first request wins. `reset`: the guest asked
   * for a reset and the caller should restart the machine.
   */
  requestStop(status: number, kind: StopKind, reason: string, reset = false): void {
    if (this.stopStatus >= 0) return;
    this.stopStatus = status;
    this.stopKind = kind;
    this.stopReason = reason;
    this.stopReset = reset;
    const w = this.wake;
    if (w !== null) w();
  }

  async run(): Promise<RunResult> {
    if (this.running) throw new Error('run loop already running');
    this.running = true;
    this.startWall = this.wall();
    this.timeoutAt = this.timeoutMs > 0 ? this.deadline ?? this.startWall + this.timeoutMs : Infinity;
    this.nextYieldAt = this.startWall + this.yieldMs;
    this.runSlice = Math.min(this.slice, FIRST_SLICE);
    this.checkEvery = FIRST_CHECK_EVERY;
    this.countdown = FIRST_CHECK_EVERY;
    this.lastCheckWall = this.startWall;
    let dump: string[] = [];
    try {
      for (;;) {
        let action: number;
        try {
          action = this.step();
        } catch (e) {
          this.requestStop(STATUS_MONITOR_ERROR, 'monitor-error', this.monitorError(describeThrown(e)));
          if (process.env.VMRUN_DEBUG && e instanceof Error && e.stack && this.traceLine === null) process.stderr.write(e.stack + '\n');
          action = ACT_STOP;
        }
        if (action === ACT_STOP) break;
        if (this.hooks !== null) {
          const backedUp = this.hooks.flush();
          if (backedUp !== undefined) await backedUp;
        }
        if (action === ACT_YIELD) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          this.nextYieldAt = this.wall() + this.yieldMs;
        } else {
          await this.sleep();
          this.nextYieldAt = this.wall() + this.yieldMs;
        }
      }
      if (this.stopStatus === STATUS_CRASH || this.stopStatus === STATUS_TIMEOUT) dump = this.dumpState();
    } finally {
      this.running = false;
      // Time that passed without instructions since the last run() still reaches the TSC.
      this.reportTimeWithoutInstructions();
      if (this.hooks !== null) {
        try {
          this.hooks.checkpoint();
        } finally {
          this.hooks.flush();
        }
      }
    }
    return {
      status: this.stopStatus,
      kind: this.stopKind,
      reason: this.stopReason,
      reset: this.stopReset,
      instructions: this.instructions,
      guestNs: this.clock.now(),
      wallMs: this.wall() - this.startWall,
      firstRunAt: this.firstRunAt,
      interruptsInjected: this.interruptsInjected,
      compiled: this.vcpu.compileStats ?? null,
      exits: this.exitStats(),
      dump,
    };
  }

  /** The synchronous inner loop: runs until a stop, a yield point or an idle wait. */
  private step(): number {
    const vcpu = this.vcpu;
    const ex = vcpu.exit;
    const clock = this.clock;
    const input = this.input;
    for (;;) {
      if (this.stopStatus >= 0) return ACT_STOP;
      if (input !== null && input.pending > 0) input.pump();

      const now = clock.now();
      let deadline = this.nextDeadline();
      if (deadline <= now) {
        this.advanceTimers(now);
        deadline = this.nextDeadline();
      }
      this.deliverInterrupts();
      if (this.stopStatus >= 0) return ACT_STOP;

      if (this.halted) {
        if (this.wall() >= this.timeoutAt) return this.timeoutStop();
        // A halted vCPU is woken only by an interrupt: the deadlines of timers whose line is
        // masked (or blocked by what is in service) cannot wake it, and it waits for the others.
        deadline = this.wakeDeadline();
        if (deadline === Infinity) {
          if (input !== null && input.open) {
            this.waitUntil = Infinity;
            return ACT_WAIT;
          }
          this.requestStop(STATUS_OK, 'idle', 'the guest halted with interrupts enabled and nothing left to wake it (no timer that can interrupt it, no console input to come)');
          return ACT_STOP;
        }
        if (clock.mode === 'realtime') {
          // Idle: guest time catches up with host time (a deadline it passes is due now).
          clock.catchUp();
          if (deadline <= clock.now()) continue;
          this.waitUntil = deadline;
          return ACT_WAIT;
        }
        if (deadline > now) this.skippedNs += deadline - now;
        clock.skipTo(deadline);
        if (--this.countdown <= 0) {
          const a = this.wallCheck();
          if (a >= 0) return a;
        }
        continue;
      }

      this.reportTimeWithoutInstructions();
      // A run ends at the next multiple of the slice at the latest, whatever runSlice is: the
      // checkpoints there (console matching) fall at the same instruction counts every run.
      const toMark = this.slice - (this.steps % this.slice);
      const budget = clock.budgetUntil(deadline, this.runSlice < toMark ? this.runSlice : toMark);
      clock.startSlice();
      // The launch time: the process clock (not the injectable wall clock) at the first run().
      if (Number.isNaN(this.firstRunAt)) this.firstRunAt = performance.now();
      const reason = vcpu.run(budget);
      // An exception delivery spends a step of the budget and an instruction's time.
      const steps = ex.instructions + ex.deliveries;
      clock.retire(steps);
      this.steps += steps;
      this.instructions += ex.instructions;
      this.totalExits++;
      this.reasonCounts[reason & 15]++;
      if (reason === ExitReason.Budget || reason === ExitReason.Hlt) {
        // Points fixed by the instruction count: console matching stays deterministic.
        if (this.hooks !== null && (reason === ExitReason.Hlt || this.steps % this.slice === 0)) this.hooks.checkpoint();
        this.countdown = 1;
      }

      let addr = -1;
      let value = 0;
      let size = 0;
      let write = 0;
      let count = 1;
      switch (reason) {
        case ExitReason.Io: {
          const port = ex.ioPort;
          const n = ex.ioCount;
          const data = ex.ioData;
          const ports = this.ports;
          size = ex.ioSize;
          this.portCounts[port & 0xffff]++;
          // A legacy port access takes about a microsecond of bus time on a PC; guests time
          // themselves by it (Linux's PIT calibration, port 0x80 delays).
          clock.stall(IO_ACCESS_NS * n);
          if (this.virtual) this.skippedNs += IO_ACCESS_NS * n;
          if (ex.ioIn) {
            for (let i = 0; i < n; i++) data[i] = ports.read(port, size);
          } else {
            write = 1;
            for (let i = 0; i < n; i++) ports.write(port, size, data[i]);
          }
          addr = port;
          value = data[0];
          count = n;
          break;
        }
        case ExitReason.Mmio:
          size = ex.mmioSize;
          addr = ex.mmioAddr;
          if (ex.mmioWrite) {
            write = 1;
            this.mmio.write(ex.mmioAddr, ex.mmioSize, ex.mmioData);
          } else {
            ex.mmioData = this.mmio.read(ex.mmioAddr, ex.mmioSize);
          }
          value = ex.mmioData;
          break;
        case ExitReason.Hlt:
          if (ex.interruptsEnabled) this.halted = true;
          else this.requestStop(STATUS_OK, 'halt', 'the guest halted with interrupts disabled (halted for good)');
          break;
        case ExitReason.Shutdown:
          this.requestStop(STATUS_CRASH, 'triple-fault', 'the guest crashed: triple fault (shutdown)');
          break;
        case ExitReason.InternalError:
          this.requestStop(STATUS_MONITOR_ERROR, 'monitor-error', this.describeInternalError(ex));
          break;
        case ExitReason.IrqWindowOpen:
        case ExitReason.Budget:
        case ExitReason.Debug:
          break;
        default:
          this.requestStop(STATUS_MONITOR_ERROR, 'monitor-error', this.monitorError(`unknown exit reason ${reason}`));
      }

      const r = this.ringPos;
      this.ringReason[r] = reason;
      this.ringAddr[r] = addr;
      this.ringValue[r] = value;
      this.ringSize[r] = size;
      this.ringWrite[r] = write;
      this.ringCount[r] = count;
      this.ringInstr[r] = this.instructions;
      this.ringPos = (r + 1) & RING_MASK;
      if (this.traceExits) this.traceLine!(this.describeExit(r));

      if (--this.countdown <= 0) {
        const a = this.wallCheck();
        if (a >= 0) return a;
      }
    }
  }

  /**
   * Tell the machine how much guest time passed without instructions since the last report.
   * Virtual clock: the idle skips and bus time counted in skippedNs. Realtime clock: the host
   * time elapsed beyond one nanosecond per instruction and delivery, so that the TSC (one cycle
   * per instruction at a nominal 1 GHz) tells host time as the PIT and the RTC do.
   */
  private reportTimeWithoutInstructions(): void {
    if (!this.virtual) {
      const now = this.clock.now();
      const extra = now - this.syncNs - (this.steps - this.syncSteps);
      this.syncNs = now;
      this.syncSteps = this.steps;
      if (extra > 0) this.skippedNs += extra;
    }
    if (this.skippedNs > 0) {
      if (this.onTimeWithoutInstructions !== null) this.onTimeWithoutInstructions(this.skippedNs);
      this.skippedNs = 0;
    }
  }

  /** Timeout and yield checks; returns an action or -1 to keep running. */
  private wallCheck(): number {
    const w = this.wall();
    this.fitChecks(w);
    this.countdown = this.checkEvery;
    if (w >= this.timeoutAt) return this.timeoutStop();
    if (w >= this.nextYieldAt) return ACT_YIELD;
    return -1;
  }

  /**
   * Fit the exits between looks and the instructions per run() to what the last interval
   * measured, so that the next interval takes about CHECK_MS of wall time whatever the guest
   * does. Shrinking follows a slow interval at once; growing is at most fourfold per look.
   */
  private fitChecks(w: number): void {
    const dt = w - this.lastCheckWall;
    const di = this.instructions - this.lastCheckInstr;
    const de = this.totalExits - this.lastCheckExits;
    this.lastCheckWall = w;
    this.lastCheckInstr = this.instructions;
    this.lastCheckExits = this.totalExits;
    if (!(dt > 0)) {
      this.checkEvery = Math.min(CHECK_EVERY, this.checkEvery * 4);
      this.runSlice = Math.min(this.slice, this.runSlice * 4);
      return;
    }
    const scale = CHECK_MS / dt;
    const exits = Math.floor(de * scale);
    this.checkEvery = Math.max(1, Math.min(CHECK_EVERY, this.checkEvery * 4, exits));
    if (di > 0) {
      const insns = Math.floor(di * scale);
      this.runSlice = Math.max(Math.min(MIN_SLICE, this.slice), Math.min(this.slice, this.runSlice * 4, insns));
    }
  }

  private timeoutStop(): number {
    this.requestStop(STATUS_TIMEOUT, 'timeout', `timeout: the guest was still running after ${fmtSeconds(this.timeoutMs)}`);
    return ACT_STOP;
  }

  /**
   * A monitor error's stop line, as a core error has it: CS:EIP and the bytes of the instruction
   * whose exit was being handled (a device error), or of the next one, then the reason.
   */
  private monitorError(reason: string): string {
    let at = '';
    try {
      const ex = this.vcpu.exit;
      const access = ex.reason === ExitReason.Io || ex.reason === ExitReason.Mmio;
      const eip = access ? ex.insnEip : this.vcpu.getRegs().eip;
      const bytes = this.vcpu.codeBytes?.(eip) ?? [];
      at = ` at ${hex4(this.vcpu.getSregs().cs.selector)}:${hex8(eip)}${formatBytes(bytes)}`;
    } catch {
      // the state is unreadable: the reason alone
    }
    return `monitor error${at}: ${reason}`;
  }

  private nextDeadline(): number {
    const timers = this.timers;
    let d = Infinity;
    for (let i = 0; i < timers.length; i++) {
      const t = timers[i].nextDeadline();
      if (t < d) d = t;
    }
    return d;
  }

  /** The nearest deadline of a timer whose interrupt could wake a halted vCPU. */
  private wakeDeadline(): number {
    const irqs = this.timerIrqs;
    const pic = this.pic;
    if (irqs === null || pic.canWake === undefined) return this.nextDeadline();
    const timers = this.timers;
    let d = Infinity;
    for (let i = 0; i < timers.length; i++) {
      const t = timers[i].nextDeadline();
      if (t < d && pic.canWake(irqs[i])) d = t;
    }
    return d;
  }

  private advanceTimers(now: number): void {
    const timers = this.timers;
    for (let i = 0; i < timers.length; i++) {
      if (timers[i].nextDeadline() <= now) timers[i].advance(now);
    }
  }

  private deliverInterrupts(): void {
    const vcpu = this.vcpu;
    if (this.pic.hasInterrupt()) {
      if (vcpu.readyForInterruptInjection) {
        const vector = this.pic.acknowledge();
        vcpu.injectInterrupt(vector);
        this.interruptsInjected++;
        this.halted = false;
        if (this.windowRequested) {
          vcpu.requestInterruptWindow(false);
          this.windowRequested = false;
        }
        if (this.traceIrq) this.traceLine!(`irq: inject vector 0x${vector.toString(16)} at ${this.instructions} instructions`);
      } else {
        if (!this.windowRequested) {
          vcpu.requestInterruptWindow(true);
          this.windowRequested = true;
          if (this.traceIrq) this.traceLine!('irq: pending, interrupt window requested');
        }
        // A halted vCPU that cannot take the interrupt now runs until the window opens.
        this.halted = false;
      }
    } else if (this.windowRequested) {
      vcpu.requestInterruptWindow(false);
      this.windowRequested = false;
    }
  }

  /** Sleep (outer loop) until guest time `waitUntil`, console input, a stop or the timeout. */
  private sleep(): Promise<void> {
    let ms = this.waitUntil === Infinity ? Infinity : (this.waitUntil - this.clock.now()) / 1e6;
    const toTimeout = this.timeoutAt - this.wall();
    if (toTimeout < ms) ms = toTimeout;
    if (ms > 1000) ms = 1000; // wake up now and then regardless
    if (ms < 0) ms = 0;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        if (this.input !== null) this.input.waker = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      if (this.input !== null) this.input.waker = done;
    });
  }

  private describeInternalError(ex: ExitRecord): string {
    return `monitor error at ${hex4(ex.errCs)}:${hex8(ex.errEip)}${formatBytes(ex.errBytes)}: ${ex.errReason || 'internal error'}`;
  }

  private describeExit(r: number): string {
    const reason = this.ringReason[r];
    const name = EXIT_REASON_NAMES[reason] ?? `reason ${reason}`;
    const at = `@${this.ringInstr[r]}`;
    if (reason === ExitReason.Io) {
      const port = this.ringAddr[r];
      const dev = this.ports.nameAt(port) ?? 'unclaimed';
      const dir = this.ringWrite[r] ? 'out' : 'in';
      const rep = this.ringCount[r] > 1 ? ` x${this.ringCount[r]}` : '';
      return `exit ${name} ${dir}${this.ringSize[r] === 1 ? 'b' : this.ringSize[r] === 2 ? 'w' : 'l'} ${hexPort(port)} (${dev}) = 0x${this.ringValue[r].toString(16)}${rep} ${at}`;
    }
    if (reason === ExitReason.Mmio) {
      const dir = this.ringWrite[r] ? 'write' : 'read';
      return `exit ${name} ${dir}${this.ringSize[r]} 0x${hex8(this.ringAddr[r])} = 0x${this.ringValue[r].toString(16)} ${at}`;
    }
    return `exit ${name} ${at}`;
  }

  /** The last exits handled, oldest first. */
  lastExits(): string[] {
    const lines: string[] = [];
    const n = Math.min(this.totalExits, RING);
    for (let k = n; k > 0; k--) lines.push(this.describeExit((this.ringPos - k) & RING_MASK));
    return lines;
  }

  /** Registers and recent exits, for a crash or a timeout. */
  dumpState(): string[] {
    const lines: string[] = [];
    try {
      lines.push(...formatRegisters(this.vcpu.getRegs(), this.vcpu.getSregs()));
    } catch (e) {
      lines.push(`registers unavailable: ${e instanceof Error ? e.message : String(e)}`);
    }
    const exits = this.lastExits();
    if (exits.length > 0) {
      lines.push(`last ${exits.length} exits (oldest first):`);
      for (const l of exits) lines.push('  ' + l);
    }
    return lines;
  }

  exitStats(): ExitStats {
    const byReason: Record<string, number> = {};
    for (let i = 0; i < this.reasonCounts.length; i++) {
      if (this.reasonCounts[i] > 0) byReason[EXIT_REASON_NAMES[i] ?? `reason-${i}`] = this.reasonCounts[i];
    }
    const byPort: Record<string, number> = {};
    for (let p = 0; p < 0x10000; p++) {
      if (this.portCounts[p] > 0) byPort[hexPort(p)] = this.portCounts[p];
    }
    return { total: this.totalExits, byReason, byPort };
  }
}

/** One line for anything thrown: an Error's message, or the value itself (a core sentinel). */
export function describeThrown(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0];
  let text: string;
  try {
    text = JSON.stringify(e) ?? String(e);
  } catch {
    text = String(e);
  }
  return `non-Error value thrown: ${text.length > 200 ? text.slice(0, 200) + '…' : text}`;
}

/** " (bytes 0f 0b)", or nothing for no bytes. */
function formatBytes(bytes: readonly number[]): string {
  return bytes.length === 0 ? '' : ` (bytes ${bytes.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join(' ')})`;
}

function fmtSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(3)} s`;
}

function fmtSeg(name: string, s: Sregs['cs']): string {
  return `${name}=${hex4(s.selector)} ${hex8(s.base)} ${hex8(s.limit)} type ${s.type.toString(16)}${s.db ? ' D' : ''}${s.present ? '' : ' NP'}`;
}

/** Registers in QEMU's `info registers` spirit, several per line. */
export function formatRegisters(r: Regs, s: Sregs): string[] {
  return [
    `EAX=${hex8(r.eax)} EBX=${hex8(r.ebx)} ECX=${hex8(r.ecx)} EDX=${hex8(r.edx)}`,
    `ESI=${hex8(r.esi)} EDI=${hex8(r.edi)} EBP=${hex8(r.ebp)} ESP=${hex8(r.esp)}`,
    `EIP=${hex8(r.eip)} EFL=${hex8(r.eflags)} CS:EIP=${hex4(s.cs.selector)}:${hex8(r.eip)}`,
    `${fmtSeg('CS', s.cs)}  ${fmtSeg('SS', s.ss)}`,
    `${fmtSeg('DS', s.ds)}  ${fmtSeg('ES', s.es)}`,
    `${fmtSeg('FS', s.fs)}  ${fmtSeg('GS', s.gs)}`,
    `GDT=${hex8(s.gdt.base)} ${hex4(s.gdt.limit)}  IDT=${hex8(s.idt.base)} ${hex4(s.idt.limit)}  TR=${hex4(s.tr.selector)}`,
    `CR0=${hex8(s.cr0)} CR2=${hex8(s.cr2)} CR3=${hex8(s.cr3)} CR4=${hex8(s.cr4)} EFER=${hex8(s.efer)}`,
  ];
}
