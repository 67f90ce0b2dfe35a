import { describe, expect, it } from 'vitest';
import { NS_PER_INSTRUCTION, RealtimeClock, VirtualClock, createClock } from '../../src/vmm/clock.js';

describe('VirtualClock', () => {
  it('counts retired instructions at a fixed rate', () => {
    const c = new VirtualClock();
    expect(c.mode).toBe('virtual');
    expect(c.now()).toBe(0);
    c.retire(1000);
    expect(c.now()).toBe(1000 * NS_PER_INSTRUCTION);
    const slow = new VirtualClock(4);
    slow.retire(10);
    expect(slow.now()).toBe(40);
  });

  it('gives a budget that ends at the deadline, at least 1 and at most max', () => {
    const c = new VirtualClock(2);
    c.retire(50); // t = 100
    expect(c.budgetUntil(1100, 1e6)).toBe(500);
    expect(c.budgetUntil(1101, 1e6)).toBe(501); // rounded up: reach the deadline
    expect(c.budgetUntil(50, 1e6)).toBe(1);
    expect(c.budgetUntil(100, 1e6)).toBe(1);
    expect(c.budgetUntil(Infinity, 1234)).toBe(1234);
    expect(c.budgetUntil(1e12, 1234)).toBe(1234);
  });

  it('jumps forward to a deadline when idle, never backwards', () => {
    const c = new VirtualClock();
    c.retire(10);
    c.skipTo(5000);
    expect(c.now()).toBe(5000);
    expect(c.idleNs).toBe(4990);
    c.skipTo(100);
    c.skipTo(Infinity);
    expect(c.now()).toBe(5000);
    c.retire(1);
    expect(c.now()).toBe(5001);
  });

  it('is the default', () => {
    expect(createClock('virtual')).toBeInstanceOf(VirtualClock);
    expect(createClock('realtime')).toBeInstanceOf(RealtimeClock);
  });

  it('rejects a non-positive rate', () => {
    expect(() => new VirtualClock(0)).toThrow(RangeError);
  });
});

describe('RealtimeClock', () => {
  it('starts at 0 and catches up with the host clock when the guest idles, never going back', () => {
    let ms = 1000;
    const c = new RealtimeClock(() => ms);
    expect(c.now()).toBe(0);
    ms += 1.5;
    expect(c.now()).toBe(0); // guest time moves with the guest's work, not by itself
    c.catchUp();
    expect(c.now()).toBe(1_500_000);
    c.skipTo(1e12); // the run loop sleeps instead
    expect(c.now()).toBe(1_500_000);
    c.retire(1000);
    const t = c.now();
    ms -= 1; // a host clock that went back (cannot, but the guest's must not)
    c.catchUp();
    expect(c.now()).toBe(t);
  });

  it('is uniform within an interval: instructions at the rate, port accesses at their bus time', () => {
    let ms = 0;
    const c = new RealtimeClock(() => ms);
    const rate = c.nsPerStep;
    c.retire(100);
    ms += 1.5; // a host hiccup (a collection, the monitor's own work) in the middle
    c.retire(100);
    c.stall(1000);
    expect(c.now()).toBe(Math.round(100 * rate) * 2 + 1000);
  });

  it('fits its rate to the host time the instructions took, and closes the gap', () => {
    let ms = 0;
    const c = new RealtimeClock(() => ms);
    // The guest runs 10 ns per instruction: 2,000,000 instructions per 20 ms of host time.
    for (let k = 0; k < 200; k++) {
      ms += 20;
      c.retire(2_000_000);
    }
    expect(c.nsPerStep).toBeGreaterThan(9.9);
    expect(c.nsPerStep).toBeLessThan(10.1);
    expect(Math.abs(c.now() - ms * 1e6)).toBeLessThan(1e6); // within 1 ms of host time after 4 s
  });

  it('changes its rate by at most an eighth per fitting', () => {
    let ms = 0;
    const c = new RealtimeClock(() => ms);
    const rate = c.nsPerStep;
    ms += 1000; // a long pause: the steps "took" 1 s
    c.retire(10);
    expect(c.nsPerStep).toBe(rate * 1.125);
  });

  it('estimates budgets from the rate, capped so deadlines are looked at within a few ms', () => {
    const c = new RealtimeClock(() => 0);
    const rate = c.nsPerStep;
    const now = c.now();
    expect(c.budgetUntil(now + 1_000_000, 1e9)).toBe(Math.ceil(1_000_000 / rate));
    expect(c.budgetUntil(now - 1, 1e9)).toBe(1);
    expect(c.budgetUntil(Infinity, 10)).toBe(10);
    expect(c.budgetUntil(now + 1e12, 1e12)).toBeLessThanOrEqual(Math.ceil(2_000_000 / rate));
  });
});
