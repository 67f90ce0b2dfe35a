// The machine's single clock, in nanoseconds since power-on, in two flavours.
//
// VirtualClock (the default): time is a pure function of the guest's work, so a run is
// reproducible. Every retired instruction takes NS_PER_INSTRUCTION nanoseconds (the guest
// sees a 1 GHz CPU retiring one instruction per cycle, whatever the host's speed), and a HLT
// with nothing to do jumps the clock straight to the next device deadline ("skipped idle time").
//
// RealtimeClock (--clock realtime): time follows the host's monotonic clock, uniform over short
// intervals (a rate per instruction fitted every few milliseconds) and catching up when the
// guest idles. The run loop cannot jump it, so HLT sleeps until the deadline or console input.

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
  /** Guest time spent outside instructions (I/O bus cycles): the clock advances. */
  stall(ns: number): void;
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

  catchUp(): void {}
}

/** Host time source in milliseconds (injectable for tests). */
export type MsSource = () => number;

/** Initial guess of the guest's speed: 50 ns per instruction (20 MIPS). */
const INITIAL_NS_PER_STEP = 50;
/** In realtime mode a slice lasts at most about this long, so deadlines are seen promptly. */
const REALTIME_SLICE_NS = 2_000_000;
/** Host time between two fittings of the rate. */
const FIT_NS = 20_000_000;
/** The share of the difference from host time a fitting closes over its next interval. */
const FIT_GAIN = 0.5;
/**
 * The most a fitting changes the rate by (a factor): a busy host makes the guest's speed swing,
 * and a guest timing a loop (Linux's TSC calibration rejects an iteration ten times longer than
 * another) must not see its clock's rate swing with it within the loop.
 */
const MAX_RATE_STEP = 1.125;

/**
 * Guest time locked to host time. Within a short interval guest time advances uniformly — by a
 * rate per instruction and by the bus time of each port access, as with the virtual clock — so
 * a guest that times one of its clocks against another (Linux calibrating the TSC against the
 * PIT, which rejects a loop iteration ten times longer than another) sees consistent clocks, not
 * the host's jitter (garbage collection, the monitor's own pauses). Every 20 ms of host time
 * the rate is fitted to what the guest's speed was and to the difference from host time (by at
 * most an eighth), so guest time follows host time; when the guest idles it catches up at once.
 */
export class RealtimeClock implements MachineClock {
  readonly mode = 'realtime' as const;
  private readonly source: MsSource;
  private readonly originMs: number;
  /** Guest ns. */
  private t = 0;
  /** Guest ns per retired instruction (the rate). */
  nsPerStep = INITIAL_NS_PER_STEP;
  instructions = 0;
  /** Host time (ns since the origin), steps and guest time at the last fitting. */
  private fitHostNs = 0;
  private fitSteps = 0;

  constructor(source: MsSource = () => performance.now()) {
    this.source = source;
    this.originMs = source();
  }

  private hostNs(): number {
    return Math.floor((this.source() - this.originMs) * 1e6);
  }

  now(): number {
    return this.t;
  }

  startSlice(): void {}

  retire(instructions: number): void {
    this.instructions += instructions;
    this.t += Math.round(instructions * this.nsPerStep);
    const host = this.hostNs();
    const dh = host - this.fitHostNs;
    if (dh < FIT_NS) return;
    // Fit the rate: the host time the steps took, plus part of the difference from host time.
    const steps = this.instructions - this.fitSteps;
    if (steps > 0) {
      const want = (dh + FIT_GAIN * (host - this.t)) / steps;
      const r = Math.min(this.nsPerStep * MAX_RATE_STEP, Math.max(this.nsPerStep / MAX_RATE_STEP, want));
      this.nsPerStep = r < 1 ? 1 : r;
    }
    this.fitHostNs = host;
    this.fitSteps = this.instructions;
  }

  budgetUntil(deadline: number, max: number): number {
    let ns = deadline - this.t;
    if (ns <= 0) return 1;
    if (ns > REALTIME_SLICE_NS) ns = REALTIME_SLICE_NS;
    const n = Math.ceil(ns / this.nsPerStep);
    return n < 1 ? 1 : n < max ? n : max;
  }

  /** The run loop does not jump a realtime clock: it sleeps, then calls catchUp(). */
  skipTo(_deadline: number): void {}

  /** Bus time of port accesses, as with the virtual clock. */
  stall(ns: number): void {
    this.t += ns;
  }

  /** The guest idles: guest time catches up with host time (never goes back). */
  catchUp(): void {
    const host = this.hostNs();
    if (host > this.t) this.t = host;
    this.fitHostNs = host;
    this.fitSteps = this.instructions;
  }
}

export function createClock(mode: ClockMode): MachineClock {
  return mode === 'realtime' ? new RealtimeClock() : new VirtualClock();
}
