import { describe, expect, it } from 'vitest';
import { CmosRtc } from '../../src/devices/cmos-rtc.js';
import { ManualClock, RecordingIrq } from '../support/doubles.js';

// Register indexes.
const SEC = 0x00, SEC_ALARM = 0x01, MIN = 0x02, MIN_ALARM = 0x03, HOUR = 0x04, HOUR_ALARM = 0x05;
const DOW = 0x06, DATE = 0x07, MONTH = 0x08, YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c;
const REG_D = 0x0d, CENTURY = 0x32;
// Register B bits.
const SET = 0x80, PIE = 0x40, AIE = 0x20, UIE = 0x10, SQWE = 0x08, DM_BINARY = 0x04, H24 = 0x02;
// Register C bits.
const IRQF = 0x80, PF = 0x40, AF = 0x20, UF = 0x10;

const MS = 1e6; // ns
const S = 1e9; // ns

// Thursday 29 February 2024, 23:59:58.500 UTC.
const START = Date.UTC(2024, 1, 29, 23, 59, 58, 500);

function make(startTimeMs = START, memorySize = 32 * 1024 * 1024) {
  const clock = new ManualClock();
  const irq = new RecordingIrq();
  const rtc = new CmosRtc(clock, irq, { startTimeMs, memorySize });
  const rd = (reg: number) => {
    rtc.write(0, 1, reg);
    return rtc.read(1, 1);
  };
  const wr = (reg: number, v: number) => {
    rtc.write(0, 1, reg);
    rtc.write(1, 1, v);
  };
  const time = () => [CENTURY, YEAR, MONTH, DATE, DOW, HOUR, MIN, SEC].map(rd);
  /** Move the clock and run the device's deadline loop as the run loop would. */
  const runTo = (t: number) => {
    for (;;) {
      const d = rtc.nextDeadline();
      if (d > t) break;
      clock.t = Math.max(clock.t, d);
      rtc.advance(clock.t);
    }
    clock.t = t;
    rtc.advance(t);
  };
  return { clock, irq, rtc, rd, wr, time, runTo };
}

describe('CmosRtc time registers', () => {
  it('derive the start time in BCD, 24-hour (the BIOS default)', () => {
    const { rd, time } = make();
    expect(rd(REG_B)).toBe(H24);
    // century, year, month, date, day of week (Thursday = 5), hour, minute, second
    expect(time()).toEqual([0x20, 0x24, 0x02, 0x29, 0x05, 0x23, 0x59, 0x58]);
  });

  it('follow the clock across midnight, month end in a leap year and day of week', () => {
    const { clock, time } = make();
    clock.t = 499 * MS;
    expect(time()[7]).toBe(0x58);
    clock.t = 500 * MS; // the update boundary
    expect(time()[7]).toBe(0x59);
    clock.t = 1500 * MS;
    expect(time()).toEqual([0x20, 0x24, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00]);
  });

  it('follow the clock across a century and a year end', () => {
    const { clock, time } = make(Date.UTC(1999, 11, 31, 23, 59, 59, 0));
    expect(time()).toEqual([0x19, 0x99, 0x12, 0x31, 0x06, 0x23, 0x59, 0x59]); // a Friday
    clock.t = 1 * S;
    expect(time()).toEqual([0x20, 0x00, 0x01, 0x01, 0x07, 0x00, 0x00, 0x00]);
  });

  it('binary data mode (DM = 1)', () => {
    const { wr, time } = make();
    wr(REG_B, H24 | DM_BINARY);
    expect(time()).toEqual([20, 24, 2, 29, 5, 23, 59, 58]);
  });

  it('12-hour mode: bit 7 of the hour is PM; midnight is 12 AM', () => {
    const { wr, rd, clock } = make();
    wr(REG_B, 0); // BCD, 12-hour
    expect(rd(HOUR)).toBe(0x80 | 0x11); // 23h = 11 PM
    clock.t = 1500 * MS;
    expect(rd(HOUR)).toBe(0x12); // 00h = 12 AM
    wr(REG_B, DM_BINARY);
    clock.t = 1500 * MS + 12 * 3600 * S;
    expect(rd(HOUR)).toBe(0x80 | 12); // noon = 12 PM
  });

  it('SET freezes the time; written registers are the time when SET clears', () => {
    const { wr, rd, clock, time } = make();
    clock.t = 100 * MS;
    wr(REG_B, SET | H24);
    clock.t = 5 * S; // frozen
    expect(time()).toEqual([0x20, 0x24, 0x02, 0x29, 0x05, 0x23, 0x59, 0x58]);
    // Set 2031-07-15 (a Tuesday) 08:30:00 in BCD.
    wr(CENTURY, 0x20);
    wr(YEAR, 0x31);
    wr(MONTH, 0x07);
    wr(DATE, 0x15);
    wr(DOW, 0x03);
    wr(HOUR, 0x08);
    wr(MIN, 0x30);
    wr(SEC, 0x00);
    clock.t = 6 * S;
    expect(rd(SEC)).toBe(0x00); // still held
    wr(REG_B, H24); // release at clock 6 s; the divider phase (boundary at n s + 500 ms) is kept
    clock.t = 6 * S + 499 * MS;
    expect(time()).toEqual([0x20, 0x31, 0x07, 0x15, 0x03, 0x08, 0x30, 0x00]);
    clock.t = 6 * S + 500 * MS;
    expect(rd(SEC)).toBe(0x01);
    clock.t = 6 * S + 500 * MS + 59 * S;
    expect(rd(MIN)).toBe(0x31);
  });

  it('held bytes read back exactly as written, whatever they are', () => {
    const { wr, rd } = make();
    wr(REG_B, SET | H24);
    wr(SEC, 0xff);
    expect(rd(SEC)).toBe(0xff);
  });

  it('a time register written while counting sets that field and keeps counting', () => {
    const { wr, rd, clock } = make();
    clock.t = 200 * MS;
    wr(MIN, 0x10);
    expect([rd(HOUR), rd(MIN), rd(SEC)]).toEqual([0x23, 0x10, 0x58]);
    clock.t = 500 * MS;
    expect([rd(MIN), rd(SEC)]).toEqual([0x10, 0x59]);
    clock.t = 1500 * MS;
    expect([rd(MIN), rd(SEC), rd(DATE)]).toEqual([0x11, 0x00, 0x29]);
  });

  it('a written day of week is kept and advances at midnight', () => {
    const { wr, rd, clock } = make();
    wr(DOW, 0x02);
    expect(rd(DOW)).toBe(0x02);
    clock.t = 1500 * MS;
    expect(rd(DOW)).toBe(0x03);
  });

  it('an impossible date is normalised when counting resumes', () => {
    const { wr, time } = make();
    wr(REG_B, SET | H24);
    wr(MONTH, 0x02);
    wr(DATE, 0x30); // 30 February 2024 = 1 March
    wr(REG_B, H24);
    const t = time();
    expect([t[2], t[3]]).toEqual([0x03, 0x01]);
  });

  it('SET clears UIE (datasheet)', () => {
    const { wr, rd } = make();
    wr(REG_B, SET | UIE | H24);
    expect(rd(REG_B)).toBe(SET | H24);
  });

});

describe('CmosRtc daylight-saving mode (DSE)', () => {
  const DSE = 0x01;
  const HMS = (rd: (r: number) => number) => [rd(HOUR), rd(MIN), rd(SEC)];

  it('last Sunday in April: 1:59:59 AM is followed by 3:00:00 AM', () => {
    // Sunday 28 April 2024 01:59:58.500 (the divider's updates fall on n s + 500 ms).
    const { wr, rd, clock } = make(Date.UTC(2024, 3, 28, 1, 59, 58, 500));
    wr(REG_B, H24 | DSE);
    expect(rd(REG_B)).toBe(H24 | DSE);
    expect(rd(DOW)).toBe(1);
    clock.t = 500 * MS;
    expect(HMS(rd)).toEqual([0x01, 0x59, 0x59]);
    clock.t = 1500 * MS;
    expect(HMS(rd)).toEqual([0x03, 0x00, 0x00]);
    clock.t = 2500 * MS + 3600 * S;
    expect(HMS(rd)).toEqual([0x04, 0x00, 0x01]);
    expect([rd(DATE), rd(MONTH), rd(DOW)]).toEqual([0x28, 0x04, 1]);
  });

  it('last Sunday in October: the hour from 1:00 to 1:59:59 AM comes twice, once', () => {
    // Sunday 27 October 2024 01:59:58.500.
    const { wr, rd, clock } = make(Date.UTC(2024, 9, 27, 1, 59, 58, 500));
    wr(REG_B, H24 | DSE);
    clock.t = 1500 * MS;
    expect(HMS(rd)).toEqual([0x01, 0x00, 0x00]);
    clock.t = 1500 * MS + 3599 * S;
    expect(HMS(rd)).toEqual([0x01, 0x59, 0x59]);
    clock.t = 1500 * MS + 3600 * S;
    expect(HMS(rd)).toEqual([0x02, 0x00, 0x00]);
    // A day later the clock is an hour behind a plain count, as it should be.
    clock.t = 1500 * MS + 3600 * S + 86400 * S;
    expect([rd(DATE), ...HMS(rd)]).toEqual([0x28, 0x02, 0x00, 0x00]);
  });

  it('nothing special on other Sundays, on other days, or without DSE', () => {
    const cases: [number, boolean][] = [
      [Date.UTC(2024, 3, 21, 1, 59, 59, 500), true], // Sunday 21 April: not in the last seven days
      [Date.UTC(2024, 3, 29, 1, 59, 59, 500), true], // Monday 29 April
      [Date.UTC(2024, 9, 20, 1, 59, 59, 500), true], // Sunday 20 October
      [Date.UTC(2024, 3, 28, 1, 59, 59, 500), false], // the April day, DSE off
      [Date.UTC(2024, 9, 27, 1, 59, 59, 500), false], // the October day, DSE off
    ];
    for (const [start, dse] of cases) {
      const { wr, rd, clock } = make(start);
      wr(REG_B, dse ? H24 | DSE : H24);
      clock.t = 500 * MS;
      expect(HMS(rd), new Date(start).toISOString()).toEqual([0x02, 0x00, 0x00]);
    }
  });

  it('the chip goes by its own day-of-week register and its date', () => {
    // Saturday 27 April 2024, with the day of week written as 1: the chip takes it for Sunday.
    const { wr, rd, clock } = make(Date.UTC(2024, 3, 27, 1, 59, 59, 500));
    wr(REG_B, H24 | DSE);
    wr(DOW, 0x01);
    clock.t = 500 * MS;
    expect(HMS(rd)).toEqual([0x03, 0x00, 0x00]);
    // The real Sunday now reads 2: no special update there.
    clock.t = 500 * MS + 86400 * S - 3601 * S;
    expect([rd(DATE), rd(DOW), ...HMS(rd)]).toEqual([0x28, 0x02, 0x01, 0x59, 0x59]);
    clock.t = 500 * MS + 86400 * S - 3600 * S;
    expect(HMS(rd)).toEqual([0x02, 0x00, 0x00]);
  });

  it('works in 12-hour binary mode: 1:59:59 AM to 3:00:00 AM', () => {
    const { wr, rd, clock } = make(Date.UTC(2024, 3, 28, 1, 59, 59, 500));
    wr(REG_B, DM_BINARY | DSE); // binary, 12-hour
    expect(HMS(rd)).toEqual([1, 59, 59]);
    clock.t = 500 * MS;
    expect(HMS(rd)).toEqual([3, 0, 0]);
  });

  it('a special update sets UF and AF like an ordinary one; the skipped hour has no alarm, the repeated one two', () => {
    const spring = make(Date.UTC(2024, 3, 28, 1, 59, 59, 500));
    spring.wr(REG_A, 0x20); // no periodic flag
    spring.wr(HOUR_ALARM, 0x03);
    spring.wr(MIN_ALARM, 0x00);
    spring.wr(SEC_ALARM, 0x00);
    spring.rd(REG_C);
    spring.wr(REG_B, H24 | DSE | AIE);
    expect(spring.rtc.nextDeadline()).toBe(500 * MS); // the special update matches 03:00:00
    spring.runTo(500 * MS);
    expect(spring.irq.level).toBe(true);
    expect(spring.rd(REG_C)).toBe(IRQF | AF | UF);
    spring.wr(HOUR_ALARM, 0x02);
    spring.wr(MIN_ALARM, 0x30);
    // 02:30:00 does not exist today: the next one is tomorrow, 23.5 hours on.
    expect(spring.rtc.nextDeadline()).toBe(500 * MS + (23 * 3600 + 30 * 60) * S);

    const fall = make(Date.UTC(2024, 9, 27, 1, 29, 59, 500));
    fall.wr(HOUR_ALARM, 0x01);
    fall.wr(MIN_ALARM, 0x30);
    fall.wr(SEC_ALARM, 0x00);
    fall.rd(REG_C);
    fall.wr(REG_B, H24 | DSE | AIE);
    const alarms: number[] = [];
    for (let t = 0; t < 3 * 3600 * S; ) {
      const d = fall.rtc.nextDeadline();
      if (d > 3 * 3600 * S) break;
      fall.runTo(d);
      t = d;
      if (fall.irq.level) {
        alarms.push(d);
        expect(fall.rd(REG_C) & AF).toBe(AF);
      }
    }
    expect(alarms).toEqual([500 * MS, 500 * MS + 3600 * S]);
  });

  it('turning DSE on or off changes nothing at once; writing the time into the repeated hour repeats it again', () => {
    const { wr, rd, clock } = make(Date.UTC(2024, 9, 27, 1, 59, 59, 500));
    expect(HMS(rd)).toEqual([0x01, 0x59, 0x59]);
    wr(REG_B, H24 | DSE);
    expect(HMS(rd)).toEqual([0x01, 0x59, 0x59]);
    clock.t = 500 * MS;
    expect(HMS(rd)).toEqual([0x01, 0x00, 0x00]);
    clock.t = 500 * MS + 3600 * S;
    expect(HMS(rd)).toEqual([0x02, 0x00, 0x00]); // the latch is spent
    wr(HOUR, 0x01); // 01:00:00 again, counting
    clock.t = 500 * MS + 7200 * S;
    expect(HMS(rd)).toEqual([0x01, 0x00, 0x00]); // 01:59:59 reached "first" again
    wr(REG_B, H24);
    expect(HMS(rd)).toEqual([0x01, 0x00, 0x00]);
  });

  it('save/restore keeps the repeated hour', () => {
    const a = make(Date.UTC(2024, 9, 27, 1, 59, 59, 500));
    a.wr(REG_B, H24 | DSE);
    a.clock.t = 600 * MS;
    expect(HMS(a.rd)).toEqual([0x01, 0x00, 0x00]);
    const st = JSON.parse(JSON.stringify(a.rtc.save()));
    expect(st.version).toBe(2);
    const b = make(0);
    b.clock.t = 600 * MS;
    b.rtc.restore(st);
    b.clock.t = 600 * MS + 3600 * S;
    expect(HMS(b.rd)).toEqual([0x02, 0x00, 0x00]);
    expect(() => b.rtc.restore({ ...st, dstRepeat: 5 })).toThrow(/dstRepeat/);
  });
});

describe('CmosRtc register A', () => {
  it('resets to divider 010, rate 6', () => {
    const { rd } = make();
    expect(rd(REG_A)).toBe(0x26);
  });

  it('UIP is set during the 244 us before each update, and is read-only', () => {
    const { rd, wr, clock } = make();
    clock.t = 500 * MS - 244_001;
    expect(rd(REG_A) & 0x80).toBe(0);
    clock.t = 500 * MS - 244_000;
    expect(rd(REG_A) & 0x80).toBe(0x80);
    clock.t = 500 * MS - 1;
    expect(rd(REG_A) & 0x80).toBe(0x80);
    clock.t = 500 * MS;
    expect(rd(REG_A) & 0x80).toBe(0);
    wr(REG_A, 0xa6);
    expect(rd(REG_A)).toBe(0x26);
    clock.t = 1500 * MS - 1000;
    wr(REG_B, SET | H24); // SET: no updates, no UIP
    expect(rd(REG_A) & 0x80).toBe(0);
  });

  it('a divider other than 010 stops the clock; leaving reset, the first update is 0.5 s later', () => {
    const { rd, wr, clock } = make();
    clock.t = 100 * MS;
    wr(REG_A, 0x66); // divider 110: reset
    clock.t = 10 * S;
    expect(rd(SEC)).toBe(0x58);
    expect(rd(REG_A) & 0x80).toBe(0);
    wr(REG_A, 0x26);
    clock.t = 10 * S + 499 * MS;
    expect(rd(SEC)).toBe(0x58);
    clock.t = 10 * S + 500 * MS;
    expect(rd(SEC)).toBe(0x59);
    wr(REG_A, 0x06); // divider 000: not a 32.768 kHz time base
    clock.t = 20 * S;
    expect(rd(SEC)).toBe(0x59);
  });
});

describe('CmosRtc registers C and D, IRQ8', () => {
  it('register D reads VRT = 1', () => {
    const { rd, wr } = make();
    wr(REG_D, 0);
    expect(rd(REG_D)).toBe(0x80);
  });

  it('periodic interrupt at 1024 Hz: deadline, IRQ, read of C clears and drops the line', () => {
    const { rd, wr, rtc, irq, clock } = make();
    expect(rtc.nextDeadline()).toBe(Infinity);
    wr(REG_B, PIE | H24);
    // Edges are aligned to the divider: clock 0 is 500 ms into a second; the next 1/1024 s
    // boundary after that is 976562.5 ns later (rounded up).
    expect(rtc.nextDeadline()).toBe(976_563);
    clock.t = 976_562;
    rtc.advance(clock.t);
    expect(irq.level).toBe(false);
    clock.t = 976_563;
    rtc.advance(clock.t);
    expect(irq.changes).toEqual([true]);
    expect(rtc.nextDeadline()).toBe(Infinity); // the line is high until C is read
    expect(rd(REG_C)).toBe(IRQF | PF);
    expect(irq.changes).toEqual([true, false]);
    expect(rd(REG_C)).toBe(0);
    expect(rtc.nextDeadline()).toBe(-500 * MS + Math.ceil((514 * S) / 1024));
  });

  it('periodic rates: 256 Hz, 128 Hz, 8192 Hz, 2 Hz, and 0 = off', () => {
    const cases: [number, number][] = [
      [1, 256],
      [2, 128],
      [3, 8192],
      [15, 2],
    ];
    for (const [rs, hz] of cases) {
      const { wr, rd, rtc, clock } = make();
      wr(REG_A, 0x20 | rs);
      wr(REG_B, PIE | H24);
      const d1 = rtc.nextDeadline();
      clock.t = d1;
      rtc.advance(d1);
      rd(REG_C);
      const d2 = rtc.nextDeadline();
      expect(Math.abs(d2 - d1 - S / hz)).toBeLessThanOrEqual(1);
    }
    const { wr, rtc } = make();
    wr(REG_A, 0x20);
    wr(REG_B, PIE | H24);
    expect(rtc.nextDeadline()).toBe(Infinity);
  });

  it('flags are set without their enable bit, but only enabled flags interrupt', () => {
    const { rd, irq, clock, rtc } = make();
    clock.t = 2 * S;
    rtc.advance(clock.t);
    expect(irq.changes).toEqual([]);
    // 1024 Hz is always running; updates happened, and the alarm bytes (0 = 00:00:00) matched
    // at midnight.
    expect(rd(REG_C)).toBe(PF | AF | UF);
  });

  it('enabling an interrupt whose flag is already set raises IRQ8 at once', () => {
    const { wr, irq, clock } = make();
    clock.t = 1 * S;
    wr(REG_B, UIE | H24);
    expect(irq.level).toBe(true);
  });

  it('update-ended interrupt once per second', () => {
    const { wr, rd, rtc, irq, runTo } = make();
    wr(REG_A, 0x20); // no periodic
    rd(REG_C);
    wr(REG_B, UIE | H24);
    expect(rtc.nextDeadline()).toBe(500 * MS);
    runTo(500 * MS);
    expect(irq.level).toBe(true);
    expect(rd(REG_C)).toBe(IRQF | UF);
    expect(rd(SEC)).toBe(0x59);
    expect(rtc.nextDeadline()).toBe(1500 * MS);
  });

  it('alarm interrupt at an exact time', () => {
    const { wr, rd, rtc, irq, runTo } = make();
    wr(REG_A, 0x20);
    wr(HOUR_ALARM, 0x00);
    wr(MIN_ALARM, 0x00);
    wr(SEC_ALARM, 0x05);
    rd(REG_C);
    wr(REG_B, AIE | H24);
    // 00:00:05 is 7 updates after 23:59:58: at 0.5 s + 6 s.
    expect(rtc.nextDeadline()).toBe(6500 * MS);
    runTo(6500 * MS - 1);
    expect(irq.level).toBe(false);
    runTo(6500 * MS);
    expect(irq.level).toBe(true);
    expect(rd(REG_C)).toBe(IRQF | AF | UF);
    expect(rd(SEC)).toBe(0x05);
    // The next match is a day later.
    expect(rtc.nextDeadline()).toBe(6500 * MS + 86400 * S);
  });

  it('alarm "don\'t care" values (0xC0-0xFF) match every value', () => {
    const { wr, rd, rtc } = make();
    wr(REG_A, 0x20);
    wr(HOUR_ALARM, 0xc0);
    wr(MIN_ALARM, 0xff);
    wr(SEC_ALARM, 0x30);
    rd(REG_C);
    wr(REG_B, AIE | H24);
    // 23:59:58 → next hh:mm:30 is 00:00:30, 32 s later.
    expect(rtc.nextDeadline()).toBe(500 * MS + 31 * S);
    wr(SEC_ALARM, 0xc0); // every second: an alarm with every update
    expect(rtc.nextDeadline()).toBe(500 * MS);
    wr(HOUR_ALARM, 0x02);
    wr(MIN_ALARM, 0xc0);
    wr(SEC_ALARM, 0x00); // 02:mm:00 → 02:00:00
    expect(rtc.nextDeadline()).toBe(1500 * MS + 2 * 3600 * S);
  });

  it('alarm bytes are compared in 12-hour format when the hour mode is 12-hour', () => {
    const { wr, rd, rtc } = make();
    wr(REG_A, 0x20);
    wr(REG_B, 0); // BCD, 12-hour
    wr(HOUR_ALARM, 0x81); // 1 PM
    wr(MIN_ALARM, 0x00);
    wr(SEC_ALARM, 0x00);
    rd(REG_C);
    wr(REG_B, AIE);
    expect(rtc.nextDeadline()).toBe(1500 * MS + 13 * 3600 * S);
    wr(HOUR_ALARM, 0x13); // not a 12-hour value: never matches
    expect(rtc.nextDeadline()).toBe(Infinity);
  });

  it('an alarm passed while nobody looked sets AF on the next read of C', () => {
    const { wr, rd, clock } = make();
    wr(HOUR_ALARM, 0x12);
    wr(MIN_ALARM, 0x34);
    wr(SEC_ALARM, 0x56);
    rd(REG_C);
    clock.t = 10 * 3600 * S;
    expect(rd(REG_C) & AF).toBe(0); // 09:59:58
    clock.t = 13 * 3600 * S;
    expect(rd(REG_C) & AF).toBe(AF); // 12:59:58: 12:34:56 went by
  });

  it('no updates or alarms while SET; periodic interrupts continue', () => {
    const { wr, rd, clock } = make();
    wr(SEC_ALARM, 0xc0);
    wr(MIN_ALARM, 0xc0);
    wr(HOUR_ALARM, 0xc0);
    wr(REG_B, SET | H24);
    rd(REG_C);
    clock.t = 3 * S;
    expect(rd(REG_C)).toBe(PF);
  });
});

describe('CmosRtc CMOS RAM', () => {
  it('memory-size bytes for 32 MiB', () => {
    const { rd } = make(START, 32 * 1024 * 1024);
    expect([rd(0x15), rd(0x16)]).toEqual([0x80, 0x02]); // 640 KB
    expect([rd(0x17), rd(0x18)]).toEqual([0x00, 0x7c]); // 31744 KB
    expect([rd(0x30), rd(0x31)]).toEqual([0x00, 0x7c]);
    expect([rd(0x34), rd(0x35)]).toEqual([0x00, 0x01]); // 256 × 64 KiB
  });

  it('memory-size bytes saturate and vanish as documented', () => {
    const big = make(START, 128 * 1024 * 1024);
    expect([big.rd(0x17), big.rd(0x18)]).toEqual([0xff, 0xff]);
    expect([big.rd(0x34), big.rd(0x35)]).toEqual([0x00, 0x07]); // 1792
    const small = make(START, 1024 * 1024);
    expect([small.rd(0x17), small.rd(0x18), small.rd(0x34), small.rd(0x35)]).toEqual([0, 0, 0, 0]);
  });

  it('fixed bytes, checksum and plain storage', () => {
    const { rd, wr } = make();
    expect(rd(0x0e)).toBe(0);
    expect(rd(0x0f)).toBe(0);
    expect(rd(0x10)).toBe(0);
    expect(rd(0x14)).toBe(0x06);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += rd(i);
    expect((rd(0x2e) << 8) | rd(0x2f)).toBe(sum);
    wr(0x0f, 0x0a);
    expect(rd(0x0f)).toBe(0x0a);
    wr(0x7f, 0x5a);
    expect(rd(0x7f)).toBe(0x5a);
  });

  it('the index is masked to 7 bits; bit 7 is the NMI mask; the index port reads 0xFF', () => {
    const { rtc } = make();
    rtc.write(0, 1, 0x80 | 0x40);
    expect(rtc.nmiMasked).toBe(true);
    rtc.write(1, 1, 0x77);
    rtc.write(0, 1, 0x40);
    expect(rtc.nmiMasked).toBe(false);
    expect(rtc.read(1, 1)).toBe(0x77);
    expect(rtc.read(0, 1)).toBe(0xff);
  });

  it('a 16-bit access is split: index then data', () => {
    const { rtc, rd } = make();
    rtc.write(0, 2, 0x3c41); // index 0x41, data 0x3c
    expect(rd(0x41)).toBe(0x3c);
    rtc.write(0, 1, 0x41);
    expect(rtc.read(0, 2)).toBe(0x3cff);
    expect(() => rtc.read(2, 1)).toThrow(/offset 2/);
  });
});

describe('CmosRtc life cycle', () => {
  it('reset clears the interrupt enables and flags, keeps the time and RAM', () => {
    const { wr, rd, rtc, irq, clock } = make();
    wr(0x0f, 0x05);
    clock.t = 1 * S;
    wr(REG_B, PIE | UIE | SQWE | H24 | DM_BINARY);
    expect(irq.level).toBe(true);
    rtc.reset();
    expect(irq.level).toBe(false);
    expect(rd(REG_B)).toBe(H24 | DM_BINARY);
    expect(rd(REG_C)).toBe(0);
    expect(rd(0x0f)).toBe(0x05);
    expect(rd(SEC)).toBe(59);
  });

  it('save/restore keeps the time, the settings and re-raises a pending interrupt', () => {
    const a = make();
    a.clock.t = 2 * S;
    a.wr(REG_B, SET | H24);
    a.wr(HOUR, 0x07);
    a.rd(REG_C); // drop the flags of the updates before SET
    a.wr(REG_B, H24 | UIE);
    a.wr(0x50, 0xaa);
    expect(a.irq.level).toBe(false);
    a.clock.t = 3 * S;
    a.rtc.advance(a.clock.t);
    expect(a.irq.level).toBe(true);
    const s = JSON.parse(JSON.stringify(a.rtc.save()));
    expect(s.kind).toBe('cmos-rtc');

    const b = make(0); // a different start time: the saved state wins
    b.clock.t = 3 * S;
    b.rtc.restore(s);
    expect(b.irq.changes).toEqual([true]);
    expect(b.time()).toEqual(a.time());
    expect(b.rd(HOUR)).toBe(0x07);
    expect(b.rd(0x50)).toBe(0xaa);
    expect(b.rd(REG_C)).toBe(IRQF | UF | PF);
    b.clock.t = 4 * S;
    a.clock.t = 4 * S;
    expect(b.time()).toEqual(a.time());
    expect(() => b.rtc.restore({ ...s, version: 1 })).toThrow();
    expect(() => b.rtc.restore({ ...s, ram: [1, 2] })).toThrow(/RAM/);
  });
});
