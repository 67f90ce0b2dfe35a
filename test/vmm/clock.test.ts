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
  it('follows the host clock from its creation', () => {
    let ms = 1000;
    const c = new RealtimeClock(() => ms);
    expect(c.now()).toBe(0);
    ms += 1.5;
    expect(c.now()).toBe(1_500_000);
    c.skipTo(1e12); // cannot jump
    expect(c.now()).toBe(1_500_000);
  });

  it('estimates budgets from the measured speed', () => {
    let ms = 0;
    const c = new RealtimeClock(() => ms);
    c.startSlice();
    ms += 1; // 1 ms for 100,000 instructions: 0.1 per ns
    c.retire(100_000);
    const rate = c.instructionsPerNs;
    expect(rate).toBeGreaterThan(0.02);
    expect(rate).toBeLessThan(0.1);
    const now = c.now();
    expect(c.budgetUntil(now + 1_000_000, 1e9)).toBe(Math.ceil(1_000_000 * rate));
    expect(c.budgetUntil(now - 1, 1e9)).toBe(1);
    expect(c.budgetUntil(Infinity, 10)).toBe(10);
    // Far deadlines are capped so the loop looks at the time again within a few ms.
    expect(c.budgetUntil(now + 1e12, 1e12)).toBeLessThanOrEqual(Math.ceil(2_000_000 * rate));
  });

  it('ignores short slices when measuring', () => {
    let ms = 0;
    const c = new RealtimeClock(() => ms);
    const before = c.instructionsPerNs;
    c.startSlice();
    ms += 0.001;
    c.retire(5);
    expect(c.instructionsPerNs).toBe(before);
  });
});
