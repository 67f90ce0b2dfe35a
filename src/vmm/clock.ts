// The machine's single clock, in nanoseconds since power-on, in two flavours.
//
// VirtualClock (the default): time is a pure function of the guest's work, so a run is
// reproducible. Every retired instruction takes NS_PER_INSTRUCTION nanoseconds (the guest
// sees a 1 GHz CPU retiring one instruction per cycle, whatever the host's speed), and a HLT
// with nothing to do jumps the clock straight to the next device deadline ("skipped idle time").
//
// RealtimeClock (--clock realtime): time follows the host's monotonic clock. The run loop
// cannot jump it, so HLT sleeps until the deadline or console input instead. Instruction
// budgets are estimated from the guest's measured speed. The monitor's own pauses between
// slices are held back from guest time, which catches up with host time when the guest idles.

import type { Clock } from '../devices/device.js';

/** Guest time per retired instruction in virtual mode: 1 ns (a 1 GHz, one-IPC CPU). */
export const NS_PER_INSTRUCTION = 1;

export type ClockMode = 'virtual' | 'realtime';

/** What the run loop needs from the clock on top of the devices' `now()`. */
export interface MachineClock extends Clock {
  readonly mode: ClockMode;
  /** Mark the start of a vcpu.run() slice (used to measure guest speed in realtime mode). */
  startSlice(): void;
  /** Account for instructions retired by the slice that just ended. */
  retire(instructions: number): void;
  /** An instruction budget (1 .. max) that ends at or just after `deadline` (ns; may be Infinity). */
  budgetUntil(deadline: number, max: number): number;
  /** Idle until `deadline`. Virtual: the clock jumps there. Realtime: nothing (the caller sleeps). */
  skipTo(deadline: number): void;
  /** Guest time spent outside instructions (I/O bus cycles). Virtual: the clock advances. Realtime: nothing. */
  stall(ns: number): void;
  /**
   * Realtime: while held (the monitor's own work between slices: flushing output, letting the
   * event loop run), host time does not count as guest time, so the guest does not see the
   * monitor's pauses as time jumps (Linux's TSC calibration rejects a loop iteration 10 times
   * longer than another). Virtual: nothing.
   */
  hold(on: boolean): void;
  /** Realtime: the guest is idle; its time catches up with host time. Virtual: nothing. */
  catchUp(): void;
}

export class VirtualClock implements MachineClock {
  readonly mode = 'virtual' as const;
  readonly nsPerInstruction: number;
  private t = 0;
  /** Instructions retired so far. */
  instructions = 0;
  /** Nanoseconds skipped while halted. */
  idleNs = 0;

  constructor(nsPerInstruction = NS_PER_INSTRUCTION) {
    if (!(nsPerInstruction > 0)) throw new RangeError('nsPerInstruction must be positive');
    this.nsPerInstruction = nsPerInstruction;
  }

  now(): number {
    return this.t;
  }

  startSlice(): void {}

  retire(instructions: number): void {
    this.instructions += instructions;
    this.t += instructions * this.nsPerInstruction;
  }

  budgetUntil(deadline: number, max: number): number {
    const ns = deadline - this.t;
    if (ns <= 0) return 1;
    if (ns === Infinity) return max;
    const n = Math.ceil(ns / this.nsPerInstruction);
    return n < max ? n : max;
  }

  skipTo(deadline: number): void {
    if (deadline > this.t && deadline !== Infinity) {
      this.idleNs += deadline - this.t;
      this.t = deadline;
    }
  }

  /** Guest time spent outside instructions, e.g. on the I/O bus (a port access takes ~1 µs on a PC). */
  stall(ns: number): void {
    this.stallNs += ns;
    this.t += ns;
  }

  /** Nanoseconds spent in stall(). */
  stallNs = 0;

  hold(_on: boolean): void {}

  catchUp(): void {}
}

/** Host time source in milliseconds (injectable for tests). */
export type MsSource = () => number;

/** Initial guess of the guest's speed: 20 million instructions per second. */
const INITIAL_INSTRUCTIONS_PER_NS = 0.02;
/** In realtime mode a slice lasts at most about this long, so deadlines are seen promptly. */
const REALTIME_SLICE_NS = 2_000_000;

export class RealtimeClock implements MachineClock {
  readonly mode = 'realtime' as const;
  private readonly source: MsSource;
  private readonly originMs: number;
  private sliceStart = 0;
  /** Measured guest speed, instructions per host nanosecond. */
  instructionsPerNs = INITIAL_INSTRUCTIONS_PER_NS;
  instructions = 0;

  /** Host time held back from guest time (see hold), and where the current hold began. */
  private heldMs = 0;
  private holdStart = -1;

  constructor(source: MsSource = () => performance.now()) {
    this.source = source;
    this.originMs = source();
  }

  now(): number {
    const host = this.holdStart >= 0 ? this.holdStart : this.source();
    return Math.floor((host - this.originMs - this.heldMs) * 1e6);
  }

  hold(on: boolean): void {
    if (on) {
      if (this.holdStart < 0) this.holdStart = this.source();
    } else if (this.holdStart >= 0) {
      this.heldMs += this.source() - this.holdStart;
      this.holdStart = -1;
    }
  }

  catchUp(): void {
    this.hold(false);
    this.heldMs = 0;
  }

  startSlice(): void {
    this.sliceStart = this.now();
  }

  retire(instructions: number): void {
    this.instructions += instructions;
    const elapsed = this.now() - this.sliceStart;
    // Only long slices say anything about the speed (short ones are dominated by exit cost).
    if (instructions >= 10_000 && elapsed >= 100_000) {
      this.instructionsPerNs = this.instructionsPerNs * 0.75 + (instructions / elapsed) * 0.25;
    }
  }

  budgetUntil(deadline: number, max: number): number {
    let ns = deadline - this.now();
    if (ns <= 0) return 1;
    if (ns > REALTIME_SLICE_NS) ns = REALTIME_SLICE_NS;
    const n = Math.ceil(ns * this.instructionsPerNs);
    return n < 1 ? 1 : n < max ? n : max;
  }

  skipTo(_deadline: number): void {}

  stall(_ns: number): void {}
}

export function createClock(mode: ClockMode): MachineClock {
  return mode === 'realtime' ? new RealtimeClock() : new VirtualClock();
}
