// Intel 8254 Programmable Interval Timer, following the Intel 8254 datasheet (order number
// 231164), wired as on the IBM PC/AT: a 1.193182 MHz input clock on all three counters, OUT0 to
// IRQ0 of the (edge-triggered) 8259A, counter 1 the DRAM refresh timer, OUT2 to the speaker with
// GATE2 driven by bit 0 of port 0x61. Register offsets: 0-2 counters, 3 control word.
//
// Model notes:
// - Nothing ticks. Each counter remembers the PIT clock tick at which its counting element (CE)
//   was loaded and derives its count and OUT level from (tick now - load tick). A PIT tick number
//   is the number of input-clock edges since the clock's time 0 (pitTicksAt).
// - As in the datasheet, a count is transferred to the CE on the clock edge that follows the
//   write (or the gate trigger in modes 1, 2, 3, 5). Between the write and that edge, the counter
//   reads its previous contents and OUT keeps its previous level.
// - Mode 0: OUT low from the control word (or the first byte of a two-byte count) until the CE
//   reaches 0, i.e. N + 1 clock edges after the count was written. Mode 1: OUT low from the edge
//   after a gate trigger for N ticks. Mode 2: period N, OUT low while the CE holds 1. Mode 3: OUT
//   high for ceil(N/2) ticks, low for floor(N/2); the CE counts down by two. Modes 4/5: OUT low
//   for one tick when the CE reaches 0, after a write (4) or a gate trigger (5).
// - A count written while a mode 2 counter runs is used from the next reload (end of period); in
//   mode 3 from the end of the current half-cycle (the datasheet's rule); in modes 1 and 5 from
//   the next trigger; in modes 0 and 4 from the next clock edge.
// - After terminal count, modes 0, 1, 4, 5 keep counting down through 0xFFFF (9999 in BCD).
// - A count of 1 in modes 2 and 3 is illegal per the datasheet; here mode 2 with N = 1 keeps OUT
//   low and mode 3 with N = 1 keeps OUT high (neither produces an edge).
// - BCD counting (control word bit 0): the counting element is four decades, each a 4-bit down
//   counter that, when it must count down from 0, borrows from the next decade and reloads 9 (the
//   datasheet: "Binary Coded Decimal (4 Decades)"). The datasheet does not say what happens to a
//   digit above 9 (a count such as 0x00AF): in this model, the most direct reading of that design,
//   such a digit counts down through its invalid values to 0 like any other (AF, AE, ..., A0,
//   99, ...) and is never reloaded above 9. So an initial count takes sum(digit * 10^i) clocks to
//   reach 0 (up to 15 * 1111 = 16665 for 0xFFFF; 0 stands for 10000), which is the period in
//   modes 2 and 3, and a counter read shows the CE's digits as they are, valid or not. From 0 the
//   CE wraps to 9999. Mode 3 counts down by two from the count with its lowest bit cleared (the
//   lowest digit's bit 0, which is the count's parity in BCD too).
// - Status bytes report the mode bits as written (6 and 7 are not folded to 2 and 3 there).
// - Power-on state is what a PC BIOS leaves: counter 0 mode 3 with count 0 (18.2 Hz), counter 1
//   mode 2 with count 18 (refresh), counter 2 mode 3 with no count and its gate low.
// - IRQ0: advance(now) raises the line for every rising edge of OUT0 up to `now`; several missed
//   periods are delivered as one edge (lost ticks), the phase stays that of the counter. After a
//   rising edge the line is left high until OUT0 is next seen low or the next edge, which pulses
//   the line low then high so the edge-triggered 8259A latches it again.

import type { Clock, Device, DeviceState, IrqLine, RegisterDevice, TimedDevice } from './device.js';

export const PIT_HZ = 1193182;

const NS_PER_S = 1_000_000_000;

/** Number of PIT input-clock edges in (0, ns]: floor(ns * PIT_HZ / 1e9), exact for ns < 2^53. */
export function pitTicksAt(ns: number): number {
  const whole = Math.floor(ns);
  let q = Math.floor(whole / NS_PER_S);
  let r = whole - q * NS_PER_S;
  if (r < 0) {
    q -= 1;
    r += NS_PER_S;
  } else if (r >= NS_PER_S) {
    q += 1;
    r -= NS_PER_S;
  }
  const x = r * PIT_HZ; // < 1.2e15: exact
  return q * PIT_HZ + (x - (x % NS_PER_S)) / NS_PER_S;
}

/** The first whole nanosecond at which pitTicksAt() reaches `tick`. */
export function nsAtPitTick(tick: number): number {
  let q = Math.floor(tick / PIT_HZ);
  let r = tick - q * PIT_HZ;
  if (r < 0) {
    q -= 1;
    r += PIT_HZ;
  } else if (r >= PIT_HZ) {
    q += 1;
    r -= PIT_HZ;
  }
  const x = r * NS_PER_S; // < 1.2e15: exact
  const rem = x % PIT_HZ;
  return q * NS_PER_S + (x - rem) / PIT_HZ + (rem > 0 ? 1 : 0);
}

// Control word fields.
const CW_SC_SHIFT = 6;
const CW_RW_SHIFT = 4;
const CW_MODE_SHIFT = 1;
const CW_BCD = 0x01;
const SC_READ_BACK = 3;
const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
// Read-back command bits (active low latch requests, counter select in bits 1-3).
const RB_NOT_COUNT = 0x20;
const RB_NOT_STATUS = 0x10;
// Status byte bits.
const ST_OUTPUT = 0x80;
const ST_NULL_COUNT = 0x40;

// Counter states.
/** A control word was written and no count since (or mode 0 between the two bytes of a count). */
const UNLOADED = 0;
/** Modes 1 and 5: a count is in the count register, the counter waits for a gate trigger. */
const WAITING = 1;
/** The CE is (or will be, at `origin`) loaded and counting. */
const RUNNING = 2;

// Latched-count read-out states.
const LATCH_NONE = 0;
const LATCH_LSB_LAST = 1;
const LATCH_MSB_LAST = 2;
const LATCH_LSB_THEN_MSB = 3;

class Counter {
  /** Mode bits as written (0-7); `mode` is the effective mode 0-5. */
  modeBits = 0;
  mode = 0;
  rw = 3;
  bcd = false;
  /** Count register (raw 16-bit value as written; BCD digits in BCD mode). */
  cr = 0;
  /** The count register value the CE was loaded with at `origin` (raw, as `cr`). */
  nRaw = 0;
  lsb = 0;
  writeMsbNext = false;
  readMsbNext = false;
  state = UNLOADED;
  /** Clocks from the initial count in use to 0 (1..65536; 1..16665 in BCD), see countFromCr. */
  n = 65536;
  /** PIT tick at which the CE was loaded with `n`. */
  origin = 0;
  /** CE contents (raw 16 bits) before `origin`, or while not RUNNING. */
  ceBefore = 0;
  /** OUT before `origin`. */
  outBefore = true;
  /** OUT while UNLOADED or WAITING. */
  outIdle = true;
  gate = true;
  /** Tick since which counting is suspended by a low gate (modes 0, 2, 3, 4), or -1. */
  pausedAt = -1;
  /** Modes 2/3: a count written while running, applied at tick `pendingAt`; 0 when none. */
  pendingN = 0;
  pendingRaw = 0;
  pendingAt = 0;
  /** Mode 3: `pendingAt` ends a high half-cycle, so the new count starts with its low half. */
  pendingLow = false;
  /** NULL COUNT is set until this tick (Infinity: until an event not yet scheduled). */
  nullUntil = Infinity;
  latch = 0;
  latchState = LATCH_NONE;
  status = 0;
  statusLatched = false;
}

function pausesOnGate(mode: number): boolean {
  return mode === 0 || mode === 2 || mode === 3 || mode === 4;
}

/** Ticks counted since `origin`, up to tick t (t >= origin), excluding ticks with the gate low. */
function elapsed(c: Counter, t: number): number {
  if (c.pausedAt < 0) return t - c.origin;
  const stop = c.pausedAt > c.origin ? c.pausedAt : c.origin;
  return (t < stop ? t : stop) - c.origin;
}

/** Apply a pending mode 2/3 count once its boundary has passed. */
function sync(c: Counter, t: number): void {
  if (c.pendingN !== 0 && c.pausedAt < 0 && t >= c.pendingAt) {
    const n = c.pendingN;
    c.n = n;
    c.nRaw = c.pendingRaw;
    c.origin = c.pendingLow ? c.pendingAt - ((n + 1) >>> 1) : c.pendingAt;
    c.pendingN = 0;
  }
}

/** CE contents at tick t: the 16 bits a counter read shows (BCD digits in BCD mode). */
function ceAt(c: Counter, t: number): number {
  if (c.state !== RUNNING || t < c.origin) return c.ceBefore;
  const e = elapsed(c, t);
  const n = c.n;
  switch (c.mode) {
    case 2:
      return countedDown(c, c.nRaw, e % n);
    case 3: {
      const k = e % n;
      const hi = (n + 1) >>> 1;
      return countedDown(c, c.nRaw & ~1, 2 * (k < hi ? k : k - hi));
    }
    default:
      return countedDown(c, c.nRaw, e);
  }
}

/** The CE after `steps` single decrements from `raw` (binary, or BCD as in the model notes). */
function countedDown(c: Counter, raw: number, steps: number): number {
  return c.bcd ? bcdCountedDown(raw, steps) : (raw - steps) & 0xffff;
}

/** Clocks from BCD contents `raw` down to 0: sum(digit * 10^i), digits 0-15 (0 for 0). */
function bcdValue(raw: number): number {
  return (raw >>> 12) * 1000 + ((raw >>> 8) & 0xf) * 100 + ((raw >>> 4) & 0xf) * 10 + (raw & 0xf);
}

/**
 * Four BCD decades after `steps` decrements from `raw`: a decade above 0 counts down by one, a
 * decade at 0 becomes 9 and borrows from the next. Digits above 9 count down through their
 * invalid values. Past 0 the decades wrap to 9999 and count in valid BCD.
 */
function bcdCountedDown(raw: number, steps: number): number {
  const value = bcdValue(raw);
  if (steps > value) return toBcd(9999 - ((steps - value - 1) % 10000));
  let result = 0;
  let e = steps;
  for (let shift = 0; shift < 16; shift += 4) {
    const d = (raw >>> shift) & 0xf;
    if (e <= d) return (result | ((d - e) << shift) | (raw & ~((0x10 << shift) - 1))) & 0xffff;
    // Down to 0, then each borrow from the next decade is ten more clocks (0 -> 9 -> ... -> 0).
    const rest = e - d;
    const borrows = Math.ceil(rest / 10);
    result |= (10 * borrows - rest) << shift;
    e = borrows;
  }
  return result; // not reached: steps <= value
}

/** OUT level at tick t. */
function outAt(c: Counter, t: number): boolean {
  if (c.state !== RUNNING) return c.outIdle;
  if (t < c.origin) return c.outBefore;
  const mode = c.mode;
  if ((mode === 2 || mode === 3) && c.pausedAt >= 0) return true;
  const e = elapsed(c, t);
  const n = c.n;
  switch (mode) {
    case 0:
    case 1:
      return e >= n;
    case 2:
      return e % n !== n - 1;
    case 3:
      return e % n < (n + 1) >>> 1;
    default:
      return e !== n;
  }
}

/**
 * The first tick u > t at which OUT rises (low at u - 1, high at u), assuming no further register
 * or gate activity; Infinity if none. A pending count must not be due yet (t < pendingAt).
 */
function nextRise(c: Counter, t: number): number {
  if (c.state !== RUNNING || c.pausedAt >= 0) return Infinity;
  const n = c.n;
  const l = c.origin;
  switch (c.mode) {
    case 0:
    case 1:
      return l + n > t ? l + n : Infinity;
    case 4:
    case 5:
      return l + n + 1 > t ? l + n + 1 : Infinity;
    case 2:
      // A pending count starts at the next reload, which is the next rise under the old count.
      if (c.pendingN !== 0) return c.pendingN >= 2 ? c.pendingAt : Infinity;
      if (n < 2) return Infinity;
      return t < l ? l + n : t - ((t - l) % n) + n;
    default: {
      const n2 = c.pendingN;
      if (n2 !== 0) {
        if (c.pendingLow) return n2 >= 2 ? c.pendingAt + (n2 >>> 1) : Infinity;
        if (n >= 2) return c.pendingAt;
        return n2 >= 2 ? c.pendingAt + n2 : Infinity;
      }
      if (n < 2) return Infinity;
      return t < l ? l + n : t - ((t - l) % n) + n;
    }
  }
}

function toBcd(v: number): number {
  return (
    (Math.floor(v / 1000) << 12) |
    (Math.floor(v / 100) % 10 << 8) |
    (Math.floor(v / 10) % 10 << 4) |
    v % 10
  );
}

/**
 * Clocks from the count register's value to 0: 1..65536 in binary (0 stands for 65536), and in
 * BCD 1..16665 (0 stands for 10000; a digit above 9 counts as its value, see the model notes).
 */
function countFromCr(c: Counter): number {
  const cr = c.cr;
  if (!c.bcd) return cr === 0 ? 65536 : cr;
  return cr === 0 ? 10000 : bcdValue(cr);
}

function latchCount(c: Counter, t: number): void {
  if (c.latchState !== LATCH_NONE) return; // a second latch before read-out is ignored
  c.latch = ceAt(c, t);
  c.latchState = c.rw === RW_LSB ? LATCH_LSB_LAST : c.rw === RW_MSB ? LATCH_MSB_LAST : LATCH_LSB_THEN_MSB;
}

function statusByte(c: Counter, t: number): number {
  return (
    (outAt(c, t) ? ST_OUTPUT : 0) |
    (t < c.nullUntil ? ST_NULL_COUNT : 0) |
    (c.rw << 4) |
    (c.modeBits << 1) |
    (c.bcd ? 1 : 0)
  );
}

/** Load the CE with `raw` (`n` clocks to 0) on the clock edge after tick t. */
function start(c: Counter, t: number, n: number, raw: number): void {
  c.state = RUNNING;
  c.origin = t + 1;
  c.n = n;
  c.nRaw = raw;
  c.pendingN = 0;
  c.nullUntil = c.origin;
}

/** A complete count has been written to the count register at tick t. */
function loadCount(c: Counter, t: number): void {
  const n = countFromCr(c);
  if (c.state === RUNNING && t < c.origin) {
    // The CE has not taken the previous count yet: it takes this one instead.
    c.n = n;
    c.nRaw = c.cr;
    c.pendingN = 0;
    c.nullUntil = c.origin;
    return;
  }
  switch (c.mode) {
    case 0:
    case 4:
      c.outBefore = c.mode === 0 ? false : outAt(c, t);
      c.ceBefore = ceAt(c, t);
      start(c, t, n, c.cr);
      return;
    case 1:
    case 5:
      if (c.state === UNLOADED) c.state = WAITING;
      c.nullUntil = Infinity; // transferred at the next trigger
      return;
    default:
      if (c.state === UNLOADED) {
        c.outBefore = true;
        c.ceBefore = ceAt(c, t);
        start(c, t, n, c.cr);
      } else if (c.pausedAt >= 0) {
        c.nullUntil = Infinity; // transferred when the gate rises
      } else {
        schedulePending(c, t, n);
      }
  }
}

/** Modes 2/3 while running: the new count takes over at the end of the period / half-cycle. */
function schedulePending(c: Counter, t: number, n: number): void {
  const period = c.n;
  const k = (t - c.origin) % period;
  const base = t - k;
  let at = base + period;
  let low = false;
  if (c.mode === 3) {
    const hi = (period + 1) >>> 1;
    if (k < hi && hi < period) {
      at = base + hi;
      low = true;
    }
  }
  c.pendingN = n;
  c.pendingRaw = c.cr;
  c.pendingAt = at;
  c.pendingLow = low;
  c.nullUntil = at;
}

export class Pit8254 implements RegisterDevice, Device, TimedDevice {
  private readonly counters: readonly Counter[] = [new Counter(), new Counter(), new Counter()];
  /** Tick up to which IRQ0 has been brought up to date. */
  private lastTick = 0;
  /** The level last driven on IRQ0. */
  private irqLevel = false;

  constructor(
    private readonly clock: Clock,
    private readonly irq0: IrqLine,
  ) {
    this.reset();
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(offset + i) << (8 * i);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  setGate(channel: number, high: boolean): void {
    const c = this.counter(channel);
    if (c.gate === high) return;
    const t = this.begin(channel);
    c.gate = high;
    const mode = c.mode;
    if (!high) {
      if (pausesOnGate(mode)) c.pausedAt = t;
    } else if (mode === 0 || mode === 4) {
      // Resume counting where it stopped.
      if (c.pausedAt >= 0) {
        const stop = c.pausedAt > c.origin ? c.pausedAt : c.origin;
        if (t > stop) c.origin += t - stop;
      }
      c.pausedAt = -1;
    } else if (c.state === UNLOADED) {
      c.pausedAt = -1;
    } else {
      // Trigger (modes 1, 2, 3, 5): reload the CE from the count register on the next edge.
      c.ceBefore = ceAt(c, t);
      c.outBefore = mode === 2 || mode === 3 ? true : outAt(c, t);
      c.pausedAt = -1;
      c.state = RUNNING;
      c.origin = t + 1;
      c.n = countFromCr(c);
      c.nRaw = c.cr;
      c.pendingN = 0;
      if (c.nullUntil > t) c.nullUntil = c.origin;
    }
    this.end(channel, t);
  }

  output(channel: number): boolean {
    const c = this.counter(channel);
    return outAt(c, this.begin(channel));
  }

  nextDeadline(): number {
    const tick = nextRise(this.counters[0], this.lastTick);
    return tick === Infinity ? Infinity : nsAtPitTick(tick);
  }

  advance(now: number): void {
    const c = this.counters[0];
    let t = pitTicksAt(now);
    if (t < this.lastTick) t = this.lastTick;
    const rose = nextRise(c, this.lastTick) <= t;
    sync(c, t);
    this.lastTick = t;
    if (rose) {
      if (this.irqLevel) this.irq0.setLevel(false);
      this.irq0.setLevel(true);
      this.irqLevel = true;
    } else {
      this.updateIrq(t);
    }
  }

  reset(): void {
    const t = pitTicksAt(this.clock.now());
    for (let i = 0; i < 3; i++) {
      const c = this.counters[i];
      c.modeBits = c.mode = 3;
      c.rw = 3;
      c.bcd = false;
      c.cr = 0;
      c.lsb = 0;
      c.writeMsbNext = c.readMsbNext = false;
      c.state = UNLOADED;
      c.n = 65536;
      c.nRaw = 0;
      c.origin = 0;
      c.ceBefore = 0;
      c.outBefore = c.outIdle = true;
      c.gate = i !== 2;
      c.pausedAt = c.gate ? -1 : t;
      c.pendingN = c.pendingRaw = c.pendingAt = 0;
      c.pendingLow = false;
      c.nullUntil = Infinity;
      c.latch = 0;
      c.latchState = LATCH_NONE;
      c.status = 0;
      c.statusLatched = false;
    }
    // What the BIOS programs: counter 0 at 18.2 Hz, counter 1 at the 15 us refresh rate.
    start(this.counters[0], t, 65536, 0);
    const c1 = this.counters[1];
    c1.modeBits = c1.mode = 2;
    c1.rw = RW_LSB;
    c1.cr = 18;
    start(c1, t, 18, 18);
    this.lastTick = t;
    this.updateIrq(t);
  }

  save(): DeviceState {
    return {
      kind: 'pit8254',
      version: 2,
      lastTick: this.lastTick,
      irqLevel: this.irqLevel,
      counters: this.counters.map((c) => ({
        modeBits: c.modeBits,
        rw: c.rw,
        bcd: c.bcd,
        cr: c.cr,
        lsb: c.lsb,
        writeMsbNext: c.writeMsbNext,
        readMsbNext: c.readMsbNext,
        state: c.state,
        n: c.n,
        nRaw: c.nRaw,
        origin: c.origin,
        ceBefore: c.ceBefore,
        outBefore: c.outBefore,
        outIdle: c.outIdle,
        gate: c.gate,
        pausedAt: c.pausedAt,
        pendingN: c.pendingN,
        pendingRaw: c.pendingRaw,
        pendingAt: c.pendingAt,
        pendingLow: c.pendingLow,
        nullUntil: c.nullUntil === Infinity ? null : c.nullUntil,
        latch: c.latch,
        latchState: c.latchState,
        status: c.status,
        statusLatched: c.statusLatched,
      })),
    };
  }

  restore(state: DeviceState): void {
    if (state.kind !== 'pit8254' || state.version !== 2) {
      throw new Error(`pit8254: cannot restore state of kind ${String(state.kind)} version ${String(state.version)}`);
    }
    const saved = state.counters;
    if (!Array.isArray(saved) || saved.length !== 3) throw new Error('pit8254: saved state needs 3 counters');
    for (let i = 0; i < 3; i++) {
      const s = saved[i] as Record<string, unknown>;
      const c = this.counters[i];
      c.modeBits = int(s, 'modeBits', 0, 7);
      c.mode = c.modeBits > 5 ? c.modeBits - 4 : c.modeBits;
      c.rw = int(s, 'rw', 1, 3);
      c.bcd = bool(s, 'bcd');
      c.cr = int(s, 'cr', 0, 0xffff);
      c.lsb = int(s, 'lsb', 0, 0xff);
      c.writeMsbNext = bool(s, 'writeMsbNext');
      c.readMsbNext = bool(s, 'readMsbNext');
      c.state = int(s, 'state', UNLOADED, RUNNING);
      c.n = int(s, 'n', 1, 65536);
      c.nRaw = int(s, 'nRaw', 0, 0xffff);
      c.origin = int(s, 'origin', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      c.ceBefore = int(s, 'ceBefore', 0, 0xffff);
      c.outBefore = bool(s, 'outBefore');
      c.outIdle = bool(s, 'outIdle');
      c.gate = bool(s, 'gate');
      c.pausedAt = int(s, 'pausedAt', -1, Number.MAX_SAFE_INTEGER);
      c.pendingN = int(s, 'pendingN', 0, 65536);
      c.pendingRaw = int(s, 'pendingRaw', 0, 0xffff);
      c.pendingAt = int(s, 'pendingAt', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      c.pendingLow = bool(s, 'pendingLow');
      c.nullUntil = s.nullUntil === null ? Infinity : int(s, 'nullUntil', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      c.latch = int(s, 'latch', 0, 0xffff);
      c.latchState = int(s, 'latchState', LATCH_NONE, LATCH_LSB_THEN_MSB);
      c.status = int(s, 'status', 0, 0xff);
      c.statusLatched = bool(s, 'statusLatched');
    }
    this.lastTick = int(state, 'lastTick', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    this.irqLevel = bool(state, 'irqLevel');
    // Drive IRQ0 again so a restored machine sees the level the saved one had.
    this.irq0.setLevel(this.irqLevel);
  }

  private counter(channel: number): Counter {
    if (channel !== 0 && channel !== 1 && channel !== 2) {
      throw new Error(`pit8254: no counter ${channel} (valid: 0-2)`);
    }
    return this.counters[channel];
  }

  /** Bring counter `channel` (and, for counter 0, IRQ0) up to the clock; returns the tick now. */
  private begin(channel: number): number {
    const now = this.clock.now();
    if (channel === 0) {
      this.advance(now);
      return this.lastTick;
    }
    const t = pitTicksAt(now);
    sync(this.counters[channel], t);
    return t;
  }

  /** After a change to counter `channel` at tick t: drive IRQ0 to OUT0. */
  private end(channel: number, t: number): void {
    if (channel === 0) this.updateIrq(t);
  }

  private updateIrq(t: number): void {
    const level = outAt(this.counters[0], t);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq0.setLevel(level);
    }
  }

  private readByte(offset: number): number {
    if (offset >= 0 && offset < 3) return this.readCounter(offset);
    return 0xff; // the control word register cannot be read on the 8254
  }

  private writeByte(offset: number, value: number): void {
    if (offset >= 0 && offset < 3) this.writeCounter(offset, value);
    else if (offset === 3) this.writeControl(value);
  }

  private readCounter(channel: number): number {
    const c = this.counters[channel];
    if (c.statusLatched) {
      c.statusLatched = false;
      return c.status;
    }
    const ls = c.latchState;
    if (ls !== LATCH_NONE) {
      if (ls === LATCH_LSB_THEN_MSB) {
        c.latchState = LATCH_MSB_LAST;
        return c.latch & 0xff;
      }
      c.latchState = LATCH_NONE;
      return ls === LATCH_LSB_LAST ? c.latch & 0xff : c.latch >>> 8;
    }
    const v = ceAt(c, this.begin(channel));
    switch (c.rw) {
      case RW_LSB:
        return v & 0xff;
      case RW_MSB:
        return v >>> 8;
      default:
        c.readMsbNext = !c.readMsbNext;
        return c.readMsbNext ? v & 0xff : v >>> 8;
    }
  }

  private writeCounter(channel: number, value: number): void {
    const c = this.counters[channel];
    const t = this.begin(channel);
    switch (c.rw) {
      case RW_LSB:
        c.cr = value;
        break;
      case RW_MSB:
        c.cr = value << 8;
        break;
      default:
        if (!c.writeMsbNext) {
          c.lsb = value;
          c.writeMsbNext = true;
          if (c.mode === 0) {
            // Mode 0: the first byte stops counting and drives OUT low at once.
            c.ceBefore = ceAt(c, t);
            c.state = UNLOADED;
            c.outIdle = false;
            c.pendingN = 0;
            this.end(channel, t);
          }
          return;
        }
        c.writeMsbNext = false;
        c.cr = c.lsb | (value << 8);
    }
    loadCount(c, t);
    this.end(channel, t);
  }

  private writeControl(value: number): void {
    const sc = value >>> CW_SC_SHIFT;
    if (sc === SC_READ_BACK) {
      this.readBack(value);
      return;
    }
    const c = this.counters[sc];
    const t = this.begin(sc);
    const rw = (value >>> CW_RW_SHIFT) & 3;
    if (rw === RW_LATCH) {
      latchCount(c, t);
      return;
    }
    c.ceBefore = ceAt(c, t); // the CE stops where it is until a count is loaded
    c.modeBits = (value >>> CW_MODE_SHIFT) & 7;
    c.mode = c.modeBits > 5 ? c.modeBits - 4 : c.modeBits;
    c.rw = rw;
    c.bcd = (value & CW_BCD) !== 0;
    c.state = UNLOADED;
    c.outIdle = c.mode !== 0;
    c.writeMsbNext = c.readMsbNext = false;
    c.latchState = LATCH_NONE;
    c.statusLatched = false;
    c.pendingN = 0;
    c.nullUntil = Infinity;
    c.pausedAt = !c.gate && pausesOnGate(c.mode) ? t : -1;
    this.end(sc, t);
  }

  private readBack(value: number): void {
    const wantCount = (value & RB_NOT_COUNT) === 0;
    const wantStatus = (value & RB_NOT_STATUS) === 0;
    for (let i = 0; i < 3; i++) {
      if ((value & (2 << i)) === 0) continue;
      const c = this.counters[i];
      const t = this.begin(i);
      if (wantCount) latchCount(c, t);
      if (wantStatus && !c.statusLatched) {
        c.status = statusByte(c, t);
        c.statusLatched = true;
      }
    }
  }
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new Error(`pit8254: saved field ${key} is not an integer in ${min}..${max}`);
  }
  return v;
}

function bool(o: Record<string, unknown>, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new Error(`pit8254: saved field ${key} is not a boolean`);
  return v;
}
