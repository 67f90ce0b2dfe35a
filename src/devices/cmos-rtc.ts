// Motorola MC146818A real-time clock plus CMOS RAM, as on the IBM PC/AT (index port 0x70 =
// offset 0, data port 0x71 = offset 1); follows the Motorola "MC146818A Real-Time Clock Plus RAM
// (RTC)" datasheet, with the PC/AT CMOS layout of the IBM PC AT Technical Reference and the
// memory-size bytes QEMU and SeaBIOS use.
//
// Model notes:
// - The clock never ticks. The time is derived from the machine clock: the RTC's seconds counter
//   is `secBase` at clock instant `tBase` (ns), an instant at which an update cycle completed,
//   and advances by one every 1e9 ns after it. At clock time 0 the RTC shows opts.startTimeMs.
//   Interrupt flags (PF, AF, UF) are brought up to date lazily (`sync`) whenever the registers
//   are touched or advance() runs, and nextDeadline() publishes the next instant the IRQ8 line
//   would rise.
// - An update cycle is taken as instantaneous at each second boundary; UIP (register A bit 7)
//   reads 1 during the 244 us before it (t_BUC in the datasheet) while updates are enabled.
// - While counting, the time registers are formatted on each read in the current data mode
//   (BCD/binary, 12/24 hour). While the clock is held (SET = 1, or the divider is not at the
//   normal 010 setting), they are plain bytes, as in the chip: the counted time is copied into
//   them when the hold begins, the guest may rewrite them, and they are decoded in the data mode
//   of that moment when counting resumes. A date that does not exist (31 February, BCD digits
//   above 9, hour 25) is normalised by calendar arithmetic at that point instead of confusing
//   the chip's counters as it would on silicon.
// - Changing DM or 24/12 while counting re-formats the same time (the chip would keep the old
//   bytes and miscount until software rewrote them); nothing relies on that.
// - Writing a time register while counting (SET = 0) sets that field at once; the rest of the
//   time continues from the written value, keeping the divider phase.
// - Day of week is derived from the date plus a stored offset, so a value the guest writes reads
//   back and then advances at midnight as in the chip (a written value outside 1..7 reads back
//   normalised into 1..7 once counting resumes).
// - The century byte (0x32) counts with the year (the chip itself does not touch it; on a PC
//   the BIOS keeps it): the RTC reports the true year 19xx/20xx.
// - Daylight-saving mode (register B bit 0, DSE), as the datasheet gives it (the US rule of
//   1967-1986): on the last Sunday in April the update after 1:59:59 AM shows 3:00:00 AM; on the
//   last Sunday in October, the first time the time reaches 1:59:59 AM, the next update shows
//   1:00:00 AM. The chip decides "last Sunday" from its own registers: day of week 1 (Sunday)
//   with a date of 24 or later in April, 25 or later in October (the last seven days), so a day
//   of week the guest wrote counts. That the October hour has been repeated is a latch inside
//   the chip; here it is the second that was repeated (`dstRepeat`), forgotten when the time
//   passes it the second time, so writing the time back into that hour afterwards repeats it
//   again. A special update is an update like any other: it sets UF, and AF when the new time
//   matches the alarm (an alarm inside the skipped hour does not fire that day; one inside the
//   repeated hour fires twice).
// - SQWE (register B bit 3) is stored and read back; the SQW pin is not connected on a PC.
// - The divider settings 000 and 001 select 4.194304 MHz / 1.048576 MHz time bases, which a PC's
//   32.768 kHz crystal cannot drive correctly, and 11x holds the divider in reset: all of them
//   stop the clock and the periodic interrupt here. Leaving the 11x reset starts the first
//   update half a second later (datasheet).
// - The IRQ output follows the datasheet: it is asserted while IRQF = 1 and released only by a
//   read of register C (or reset()). The PC's IRQ8 is edge-triggered, so a guest that does not
//   read register C gets no further interrupts, as on hardware.
// - Index port reads return 0xFF (port 0x70 is write-only on a PC). The index is masked to 7
//   bits; bit 7 of the last index write is the NMI mask (exposed as `nmiMasked`).
// - reset() is the chip's RESET pin (a system reset): it clears PIE, AIE, UIE, SQWE and the
//   interrupt flags; the time and the battery-backed RAM survive.
// - A 2- or 4-byte access is split into byte cycles at consecutive offsets, as the ISA bus
//   does; bytes beyond the two ports read as all ones and their writes are dropped.

import type { Clock, Device, DeviceState, IrqLine, RegisterDevice, TimedDevice } from './device.js';

// CMOS offsets (names as in Linux's mc146818rtc.h where it has them).
const RTC_SECONDS = 0x00;
const RTC_SECONDS_ALARM = 0x01;
const RTC_MINUTES = 0x02;
const RTC_MINUTES_ALARM = 0x03;
const RTC_HOURS = 0x04;
const RTC_HOURS_ALARM = 0x05;
const RTC_DAY_OF_WEEK = 0x06;
const RTC_DAY_OF_MONTH = 0x07;
const RTC_MONTH = 0x08;
const RTC_YEAR = 0x09;
const RTC_REG_A = 0x0a;
const RTC_REG_B = 0x0b;
const RTC_REG_C = 0x0c;
const RTC_REG_D = 0x0d;
const CMOS_DIAGNOSTIC = 0x0e;
const CMOS_SHUTDOWN = 0x0f;
const CMOS_FLOPPY_TYPE = 0x10;
const CMOS_EQUIPMENT = 0x14;
const CMOS_BASE_MEM_LO = 0x15;
const CMOS_BASE_MEM_HI = 0x16;
const CMOS_EXT_MEM_LO = 0x17;
const CMOS_EXT_MEM_HI = 0x18;
const CMOS_CHECKSUM_HI = 0x2e;
const CMOS_CHECKSUM_LO = 0x2f;
const CMOS_EXT_MEM2_LO = 0x30;
const CMOS_EXT_MEM2_HI = 0x31;
const RTC_CENTURY = 0x32;
const CMOS_MEM_ABOVE_16M_LO = 0x34;
const CMOS_MEM_ABOVE_16M_HI = 0x35;

// Register A
const RTC_UIP = 0x80;
const RTC_DIV_CTL = 0x70;
const RTC_REF_CLCK_32KHZ = 0x20; // divider 010: normal operation with a 32.768 kHz crystal
const RTC_RATE_SELECT = 0x0f;

// Register B
const RTC_SET = 0x80;
const RTC_PIE = 0x40;
const RTC_AIE = 0x20;
const RTC_UIE = 0x10;
const RTC_DM_BINARY = 0x04;
const RTC_24H = 0x02;
const RTC_DST_EN = 0x01;

// Register C
const RTC_IRQF = 0x80;
const RTC_PF = 0x40;
const RTC_AF = 0x20;
const RTC_UF = 0x10;

// Register D
const RTC_VRT = 0x80;

/** Equipment byte: bit 1 maths coprocessor present, bit 2 PS/2 pointing device present (as
 * QEMU sets it), display bits 5-4 = 00 (EGA/VGA with its own BIOS), no diskette drive. */
const EQUIPMENT_DEFAULT = 0x06;

const NS_PER_SEC = 1e9;
/** Datasheet t_BUC: UIP rises this long before an update cycle. */
const UIP_LEAD_NS = 244_000;
const SECONDS_PER_DAY = 86400;
/** Alarm field decodes: "don't care" (11xxxxxx) and "never matches" (a value the clock cannot show). */
const ALARM_ANY = -1;
const ALARM_NEVER = -2;

const KIB = 1024;
const MIB = 1024 * 1024;

/** DSE: the special updates follow 1:59:59 AM (second of the day). */
const DSE_SECOND_OF_DAY = 1 * 3600 + 59 * 60 + 59;
// Kinds of DSE update (nextDstNs): spring forward, fall back, the end of the repeated hour.
const DST_FORWARD = 1;
const DST_BACK = 2;
const DST_REPEAT_END = 3;

/** Days before each month in a common year. */
const DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

export interface CmosRtcOptions {
  /** Wall time (ms since the epoch, UTC) that corresponds to clock time 0. */
  startTimeMs: number;
  /** Bytes of guest RAM. */
  memorySize: number;
}

export class CmosRtc implements RegisterDevice, Device, TimedDevice {
  private readonly ram = new Uint8Array(128);
  private index = 0;
  private nmiMask = false;

  /** RTC seconds (since 1970-01-01 UTC) shown from clock instant `tBase` on (while counting). */
  private secBase = 0;
  /** Clock instant (ns) of an update-cycle boundary: fixes the divider phase while it runs. */
  private tBase = 0;
  /** Written day of week minus the day of week derived from the date, mod 7 (while counting). */
  private dowAdjust = 0;
  /** Clock instant up to which the interrupt flags in register C are accounted for. */
  private syncedNs = 0;
  /** Current level of the IRQ8 line as last driven. */
  private irqLevel = false;
  /** DSE: the 1:59:59 AM (RTC second) after which October's hour was repeated, or -1. */
  private dstRepeat = -1;
  // Scratch, written by nextDstNs: the 1:59:59 AM second of the next DSE update and its kind.
  private dstSecond = 0;
  private dstKind = 0;

  // Scratch calendar fields (binary), written by `splitSeconds`.
  private fYear = 0;
  private fMonth = 0;
  private fDate = 0;
  private fHour = 0;
  private fMin = 0;
  private fSec = 0;
  private fDays = 0;

  constructor(
    private readonly clock: Clock,
    private readonly irq8: IrqLine,
    opts: CmosRtcOptions,
  ) {
    const start = opts.startTimeMs;
    if (!Number.isFinite(start)) throw new Error(`cmos-rtc: startTimeMs ${start} is not a finite time`);
    const mem = opts.memorySize;
    if (!Number.isFinite(mem) || mem < 0) throw new Error(`cmos-rtc: memorySize ${mem} is not a byte count`);
    const ram = this.ram;
    ram[RTC_REG_A] = RTC_REF_CLCK_32KHZ | 0x06; // 1024 Hz periodic rate, as a BIOS leaves it
    ram[RTC_REG_B] = RTC_24H; // BCD, 24-hour, no interrupts
    ram[CMOS_DIAGNOSTIC] = 0;
    ram[CMOS_SHUTDOWN] = 0;
    ram[CMOS_FLOPPY_TYPE] = 0;
    ram[CMOS_EQUIPMENT] = EQUIPMENT_DEFAULT;
    const baseKb = 640;
    ram[CMOS_BASE_MEM_LO] = baseKb & 0xff;
    ram[CMOS_BASE_MEM_HI] = baseKb >> 8;
    const extKb = mem > MIB ? Math.min(Math.floor((mem - MIB) / KIB), 0xffff) : 0;
    ram[CMOS_EXT_MEM_LO] = ram[CMOS_EXT_MEM2_LO] = extKb & 0xff;
    ram[CMOS_EXT_MEM_HI] = ram[CMOS_EXT_MEM2_HI] = extKb >> 8;
    const above16 = mem > 16 * MIB ? Math.min(Math.floor((mem - 16 * MIB) / (64 * KIB)), 0xffff) : 0;
    ram[CMOS_MEM_ABOVE_16M_LO] = above16 & 0xff;
    ram[CMOS_MEM_ABOVE_16M_HI] = above16 >> 8;
    // The PC/AT checksum over 0x10-0x2D, high byte first.
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += ram[i];
    ram[CMOS_CHECKSUM_HI] = (sum >> 8) & 0xff;
    ram[CMOS_CHECKSUM_LO] = sum & 0xff;

    const sec = Math.floor(start / 1000);
    this.secBase = sec;
    this.tBase = -Math.round((start - sec * 1000) * 1e6);
    this.syncedNs = this.now();
  }

  /** Bit 7 of the last write to the index port: NMI disabled. */
  get nmiMasked(): boolean {
    return this.nmiMask;
  }

  // ---- bus access ---------------------------------------------------------------------------

  read(offset: number, size: number): number {
    if (offset !== 0 && offset !== 1) throw new Error(`cmos-rtc: read at register offset ${offset} (valid: 0, 1)`);
    if (size === 1) return this.readByte(offset);
    let v = 0;
    for (let i = 0; i < size; i++) {
      const off = offset + i;
      v |= (off <= 1 ? this.readByte(off) : 0xff) << (8 * i);
    }
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    if (offset !== 0 && offset !== 1) throw new Error(`cmos-rtc: write at register offset ${offset} (valid: 0, 1)`);
    if (size === 1) {
      this.writeByte(offset, value & 0xff);
      return;
    }
    for (let i = 0; i < size; i++) {
      const off = offset + i;
      if (off <= 1) this.writeByte(off, (value >>> (8 * i)) & 0xff);
    }
  }

  private readByte(offset: number): number {
    if (offset === 0) return 0xff; // the index port is write-only
    return this.readRegister(this.index);
  }

  private writeByte(offset: number, v: number): void {
    if (offset === 0) {
      this.index = v & 0x7f;
      this.nmiMask = (v & 0x80) !== 0;
      return;
    }
    this.writeRegister(this.index, v);
  }

  private readRegister(reg: number): number {
    switch (reg) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY: {
        const now = this.now();
        if (this.counting()) {
          this.sync(now); // DSE updates up to now move the time base
          this.updateIrq();
          this.formatTime(now);
        }
        return this.ram[reg];
      }
      case RTC_REG_A: {
        const now = this.now();
        let v = this.ram[RTC_REG_A] & 0x7f;
        if (this.counting() && this.phaseOf(now) >= NS_PER_SEC - UIP_LEAD_NS) v |= RTC_UIP;
        return v;
      }
      case RTC_REG_C: {
        this.sync(this.now());
        const flags = this.ram[RTC_REG_C];
        const v = this.irqf() ? flags | RTC_IRQF : flags;
        this.ram[RTC_REG_C] = 0;
        this.updateIrq();
        return v;
      }
      case RTC_REG_D:
        return RTC_VRT; // the battery is always good
      default:
        return this.ram[reg];
    }
  }

  private writeRegister(reg: number, v: number): void {
    switch (reg) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY: {
        if (!this.counting()) {
          this.ram[reg] = v; // held: the bytes are the time
          return;
        }
        const now = this.now();
        this.sync(now);
        this.formatTime(now);
        this.ram[reg] = v;
        // Continue from the written time, keeping the divider phase: the current second began
        // at the last update boundary.
        this.tBase += this.elapsedSeconds(now) * NS_PER_SEC;
        this.loadTime();
        this.updateIrq();
        return;
      }
      case RTC_REG_A: {
        const now = this.now();
        this.sync(now);
        const wasRunning = this.dividerRunning();
        const wasCounting = this.counting();
        if (wasCounting) this.formatTime(now);
        this.ram[RTC_REG_A] = v & 0x7f; // UIP is read-only
        if (!wasRunning && this.dividerRunning()) {
          // Leaving divider reset: the first update cycle begins half a second later.
          this.tBase = now - NS_PER_SEC / 2;
          if (this.counting()) this.loadTime();
        }
        this.updateIrq();
        return;
      }
      case RTC_REG_B: {
        const now = this.now();
        this.sync(now);
        const wasCounting = this.counting();
        if (wasCounting) this.formatTime(now);
        if (v & RTC_SET) v &= ~RTC_UIE; // the datasheet: setting SET clears UIE
        this.ram[RTC_REG_B] = v;
        if (!wasCounting && this.counting()) {
          // SET released with the divider running: continue from the bytes, in phase.
          this.tBase += this.elapsedSeconds(now) * NS_PER_SEC;
          this.loadTime();
        }
        this.updateIrq();
        return;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      case RTC_SECONDS_ALARM:
      case RTC_MINUTES_ALARM:
      case RTC_HOURS_ALARM:
        // Updates so far were compared with the old alarm.
        this.sync(this.now());
        this.ram[reg] = v;
        return;
      default:
        this.ram[reg] = v;
    }
  }

  // ---- time -----------------------------------------------------------------------------------

  private now(): number {
    return Math.floor(this.clock.now());
  }

  private dividerRunning(): boolean {
    return (this.ram[RTC_REG_A] & RTC_DIV_CTL) === RTC_REF_CLCK_32KHZ;
  }

  /** The time registers count (rather than hold bytes): divider running and SET clear. */
  private counting(): boolean {
    return this.dividerRunning() && (this.ram[RTC_REG_B] & RTC_SET) === 0;
  }

  /** Whole update cycles since `tBase` at clock instant `t`. */
  private elapsedSeconds(t: number): number {
    return Math.floor((t - this.tBase) / NS_PER_SEC);
  }

  /** Nanoseconds since the last update boundary at `t`. */
  private phaseOf(t: number): number {
    const e = t - this.tBase;
    return e - Math.floor(e / NS_PER_SEC) * NS_PER_SEC;
  }

  /** Write the counted time at `now` into the time-register bytes, in the current data mode. */
  private formatTime(now: number): void {
    const s = this.secBase + this.elapsedSeconds(now);
    this.splitSeconds(s);
    const ram = this.ram;
    const b = ram[RTC_REG_B];
    ram[RTC_SECONDS] = encode(this.fSec, b);
    ram[RTC_MINUTES] = encode(this.fMin, b);
    ram[RTC_HOURS] = encodeHour(this.fHour, b);
    ram[RTC_DAY_OF_WEEK] = encode(mod(weekday(this.fDays) - 1 + this.dowAdjust, 7) + 1, b);
    ram[RTC_DAY_OF_MONTH] = encode(this.fDate, b);
    ram[RTC_MONTH] = encode(this.fMonth, b);
    ram[RTC_YEAR] = encode(mod(this.fYear, 100), b);
    ram[RTC_CENTURY] = encode(Math.floor(this.fYear / 100), b);
  }

  /** Decode the time-register bytes (current data mode) into `secBase` and `dowAdjust`. */
  private loadTime(): void {
    const ram = this.ram;
    const b = ram[RTC_REG_B];
    const year = decode(ram[RTC_CENTURY], b) * 100 + decode(ram[RTC_YEAR], b);
    const days = daysFromCivil(year, decode(ram[RTC_MONTH], b), decode(ram[RTC_DAY_OF_MONTH], b));
    this.secBase =
      days * SECONDS_PER_DAY + decodeHour(ram[RTC_HOURS], b) * 3600 + decode(ram[RTC_MINUTES], b) * 60 + decode(ram[RTC_SECONDS], b);
    const realDays = Math.floor(this.secBase / SECONDS_PER_DAY); // after normalisation
    this.dowAdjust = mod(decode(ram[RTC_DAY_OF_WEEK], b) - weekday(realDays), 7);
  }

  /** Calendar fields of RTC second `s` into the scratch fields. */
  private splitSeconds(s: number): void {
    const days = Math.floor(s / SECONDS_PER_DAY);
    let sod = s - days * SECONDS_PER_DAY;
    this.fDays = days;
    this.fHour = Math.floor(sod / 3600);
    sod -= this.fHour * 3600;
    this.fMin = Math.floor(sod / 60);
    this.fSec = sod - this.fMin * 60;
    const y = yearOfDay(days);
    let doy = days - daysBeforeYear(y);
    const leap = isLeap(y) ? 1 : 0;
    let m = 11;
    while (m > 0 && doy < DAYS_BEFORE_MONTH[m] + (m >= 2 ? leap : 0)) m--;
    doy -= DAYS_BEFORE_MONTH[m] + (m >= 2 ? leap : 0);
    this.fYear = y;
    this.fMonth = m + 1;
    this.fDate = doy + 1;
  }

  // ---- interrupts -----------------------------------------------------------------------------

  /** Periodic interrupts per second for the rate select in register A (0 = off). */
  private periodicPerSecond(): number {
    const rs = this.ram[RTC_REG_A] & RTC_RATE_SELECT;
    if (rs === 0) return 0;
    if (rs <= 2) return rs === 1 ? 256 : 128; // the datasheet's special cases for 32.768 kHz
    return 32768 >> (rs - 1);
  }

  /** Number of periodic edges from `tBase` up to and including instant `t`. */
  private periodicIndex(t: number, perSec: number): number {
    const e = t - this.tBase;
    const q = Math.floor(e / NS_PER_SEC);
    const r = e - q * NS_PER_SEC;
    return q * perSec + Math.floor((r * perSec) / NS_PER_SEC);
  }

  /** Instant (ns, rounded up) of periodic edge number `idx`. */
  private periodicTime(idx: number, perSec: number): number {
    const q = Math.floor(idx / perSec);
    const j = idx - q * perSec;
    return this.tBase + q * NS_PER_SEC + Math.ceil((j * NS_PER_SEC) / perSec);
  }

  /** Bring the flags in register C up to clock instant `now`. */
  private sync(now: number): void {
    const from = this.syncedNs;
    if (now <= from) return;
    this.syncedNs = now;
    if (!this.dividerRunning()) return;
    let flags = this.ram[RTC_REG_C];
    const perSec = this.periodicPerSecond();
    if (perSec !== 0 && this.periodicIndex(now, perSec) > this.periodicIndex(from, perSec)) flags |= RTC_PF;
    if ((this.ram[RTC_REG_B] & RTC_SET) === 0) {
      let f = from;
      for (;;) {
        const tr = this.nextDstNs();
        if (tr > now) break;
        // Ordinary updates before the DSE update, then the DSE update itself.
        flags |= this.updateFlags(f, tr - 1);
        this.applyDst(tr);
        flags |= RTC_UF;
        if (this.nextAlarmAfter(this.secBase - 1) === this.secBase) flags |= RTC_AF;
        f = tr;
      }
      flags |= this.updateFlags(f, now);
    }
    this.ram[RTC_REG_C] = flags;
  }

  /** UF and AF for the ordinary updates in (from, to], all after the time base. */
  private updateFlags(from: number, to: number): number {
    const kFrom = this.elapsedSeconds(from);
    const kTo = this.elapsedSeconds(to);
    if (kTo <= kFrom) return 0;
    if (this.nextAlarmAfter(this.secBase + kFrom) <= this.secBase + kTo) return RTC_UF | RTC_AF;
    return RTC_UF;
  }

  // ---- daylight saving (DSE) ------------------------------------------------------------------

  /**
   * Clock instant of the next DSE special update after the time base (Infinity without DSE or
   * while the time is held); leaves its 1:59:59 AM second and kind in dstSecond / dstKind.
   */
  private nextDstNs(): number {
    if ((this.ram[RTC_REG_B] & RTC_DST_EN) === 0 || !this.counting()) return Infinity;
    const s = this.secBase;
    const year = yearOfDay(Math.floor(s / SECONDS_PER_DAY));
    let q = Infinity;
    for (let y = year; y <= year + 1 && q === Infinity; y++) {
      const april = this.lastSundayFrom(y, 4, 24) * SECONDS_PER_DAY + DSE_SECOND_OF_DAY;
      const october = this.lastSundayFrom(y, 10, 25) * SECONDS_PER_DAY + DSE_SECOND_OF_DAY;
      if (april >= s) {
        q = april;
        this.dstKind = DST_FORWARD;
      } else if (october >= s) {
        q = october;
        this.dstKind = october === this.dstRepeat ? DST_REPEAT_END : DST_BACK;
      }
    }
    this.dstSecond = q;
    return this.tBase + (q - s + 1) * NS_PER_SEC;
  }

  /** The day (number) in `first`..`first`+6 of month `m` of year `y` whose day-of-week register reads 1. */
  private lastSundayFrom(y: number, m: number, first: number): number {
    const d0 = daysFromCivil(y, m, first);
    for (let i = 0; i < 7; i++) {
      if (mod(weekday(d0 + i) - 1 + this.dowAdjust, 7) === 0) return d0 + i;
    }
    return d0; // not reached: one day in seven reads 1
  }

  /** Make the DSE update found by nextDstNs, at clock instant `tr`, the new time base. */
  private applyDst(tr: number): void {
    const q = this.dstSecond;
    this.tBase = tr;
    switch (this.dstKind) {
      case DST_FORWARD:
        this.secBase = q + 1 + 3600; // 3:00:00 AM
        break;
      case DST_BACK:
        this.secBase = q + 1 - 3600; // 1:00:00 AM again
        this.dstRepeat = q;
        break;
      default: // DST_REPEAT_END: the second 1:59:59 AM goes on to 2:00:00 AM
        this.secBase = q + 1;
        this.dstRepeat = -1;
    }
  }

  private irqf(): boolean {
    return (this.ram[RTC_REG_C] & this.ram[RTC_REG_B] & (RTC_PF | RTC_AF | RTC_UF)) !== 0;
  }

  private updateIrq(): void {
    const level = this.irqf();
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq8.setLevel(level);
    }
  }

  /** The first RTC second after `s` whose time of day matches the alarm, or Infinity. */
  private nextAlarmAfter(s: number): number {
    const b = this.ram[RTC_REG_B];
    const aS = decodeAlarm(this.ram[RTC_SECONDS_ALARM], b, false);
    const aM = decodeAlarm(this.ram[RTC_MINUTES_ALARM], b, false);
    const aH = decodeAlarm(this.ram[RTC_HOURS_ALARM], b, true);
    if (aS === ALARM_NEVER || aM === ALARM_NEVER || aH === ALARM_NEVER) return Infinity;
    const day = Math.floor(s / SECONDS_PER_DAY);
    const sod = s - day * SECONDS_PER_DAY;
    const h = Math.floor(sod / 3600);
    const m = Math.floor((sod - h * 3600) / 60);
    const sec = sod - h * 3600 - m * 60;
    const base = day * SECONDS_PER_DAY;
    const s0 = nextAllowed(aS, -1, 59);
    const m0 = nextAllowed(aM, -1, 59);
    if (allows(aH, h)) {
      if (allows(aM, m)) {
        const s1 = nextAllowed(aS, sec, 59);
        if (s1 >= 0) return base + h * 3600 + m * 60 + s1;
      }
      const m1 = nextAllowed(aM, m, 59);
      if (m1 >= 0 && s0 >= 0) return base + h * 3600 + m1 * 60 + s0;
    }
    const h1 = nextAllowed(aH, h, 23);
    if (h1 >= 0 && m0 >= 0 && s0 >= 0) return base + h1 * 3600 + m0 * 60 + s0;
    const h0 = nextAllowed(aH, -1, 23);
    if (h0 < 0 || m0 < 0 || s0 < 0) return Infinity;
    return base + SECONDS_PER_DAY + h0 * 3600 + m0 * 60 + s0;
  }

  // ---- TimedDevice ----------------------------------------------------------------------------

  nextDeadline(): number {
    // While IRQ8 is asserted nothing can change it except a read of register C.
    if (this.irqLevel || !this.dividerRunning()) return Infinity;
    const b = this.ram[RTC_REG_B];
    const from = this.syncedNs;
    let d = Infinity;
    if (b & RTC_PIE) {
      const perSec = this.periodicPerSecond();
      if (perSec !== 0) d = this.periodicTime(this.periodicIndex(from, perSec) + 1, perSec);
    }
    if ((b & RTC_SET) === 0) {
      const k = this.elapsedSeconds(from);
      if (b & RTC_UIE) d = Math.min(d, this.tBase + (k + 1) * NS_PER_SEC);
      if (b & RTC_AIE) {
        const a = this.nextAlarmAfter(this.secBase + k);
        if (a !== Infinity) d = Math.min(d, this.tBase + (a - this.secBase) * NS_PER_SEC);
        // A DSE update moves the time: the alarm is found again from there.
        d = Math.min(d, this.nextDstNs());
      }
    }
    return d;
  }

  advance(now: number): void {
    this.sync(Math.floor(now));
    this.updateIrq();
  }

  // ---- life cycle -----------------------------------------------------------------------------

  reset(): void {
    this.sync(this.now());
    this.ram[RTC_REG_B] &= ~(RTC_PIE | RTC_AIE | RTC_UIE | 0x08 /* SQWE */);
    this.ram[RTC_REG_C] = 0;
    this.index = 0;
    this.nmiMask = false;
    this.updateIrq();
  }

  save(): DeviceState {
    return {
      kind: 'cmos-rtc',
      version: 2,
      ram: Array.from(this.ram),
      index: this.index,
      nmiMasked: this.nmiMask,
      secBase: this.secBase,
      tBase: this.tBase,
      dowAdjust: this.dowAdjust,
      syncedNs: this.syncedNs,
      dstRepeat: this.dstRepeat,
    };
  }

  restore(s: DeviceState): void {
    if (s.kind !== 'cmos-rtc' || s.version !== 2) {
      throw new Error(`cmos-rtc: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
    const ram = s.ram;
    if (!Array.isArray(ram) || ram.length !== 128) throw new Error('cmos-rtc: malformed saved RAM');
    for (let i = 0; i < 128; i++) {
      const v: unknown = ram[i];
      if (typeof v !== 'number' || v !== (v & 0xff)) throw new Error(`cmos-rtc: malformed saved RAM byte at ${i}`);
    }
    const index = num(s, 'index');
    if (index !== (index & 0x7f)) throw new Error('cmos-rtc: malformed saved index');
    if (typeof s.nmiMasked !== 'boolean') throw new Error('cmos-rtc: malformed saved field nmiMasked');
    const secBase = num(s, 'secBase');
    const tBase = num(s, 'tBase');
    const dowAdjust = num(s, 'dowAdjust');
    const syncedNs = num(s, 'syncedNs');
    const dstRepeat = num(s, 'dstRepeat');
    if (dstRepeat !== -1 && (!Number.isInteger(dstRepeat) || mod(dstRepeat, SECONDS_PER_DAY) !== DSE_SECOND_OF_DAY)) {
      throw new Error('cmos-rtc: malformed saved field dstRepeat');
    }
    for (let i = 0; i < 128; i++) this.ram[i] = ram[i] as number;
    this.index = index;
    this.nmiMask = s.nmiMasked;
    this.secBase = secBase;
    this.tBase = tBase;
    this.dowAdjust = dowAdjust;
    this.syncedNs = syncedNs;
    this.dstRepeat = dstRepeat;
    // Re-derive the line: drive it unconditionally so it matches the restored flags.
    this.irqLevel = this.irqf();
    this.irq8.setLevel(this.irqLevel);
  }
}

// ---- helpers (pure) -------------------------------------------------------------------------

function num(s: DeviceState, name: string): number {
  const v = s[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`cmos-rtc: malformed saved field ${name}`);
  return v;
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Leap years in 1..y (proleptic Gregorian; valid for negative y too). */
function leapsThrough(y: number): number {
  return Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400);
}

/** Days from 1970-01-01 to January 1 of year y. */
function daysBeforeYear(y: number): number {
  return 365 * (y - 1970) + leapsThrough(y - 1) - leapsThrough(1969);
}

/** The year (proleptic Gregorian) of day number `days` (0 = 1970-01-01). */
function yearOfDay(days: number): number {
  let y = 1970 + Math.floor(days / 365.2425);
  while (daysBeforeYear(y) > days) y--;
  while (daysBeforeYear(y + 1) <= days) y++;
  return y;
}

/** Days from 1970-01-01 to y-m-d; out-of-range months and days carry into the next field. */
function daysFromCivil(y: number, m: number, d: number): number {
  const m0 = m - 1;
  const yy = y + Math.floor(m0 / 12);
  const mm = mod(m0, 12);
  return daysBeforeYear(yy) + DAYS_BEFORE_MONTH[mm] + (mm >= 2 && isLeap(yy) ? 1 : 0) + d - 1;
}

/** Day of week 1 (Sunday) .. 7 for a day number; 1970-01-01 was a Thursday. */
function weekday(days: number): number {
  return mod(days + 4, 7) + 1;
}

/** Binary value to a register byte in the data mode of register B `b`. */
function encode(v: number, b: number): number {
  if (b & RTC_DM_BINARY) return v & 0xff;
  return (((Math.floor(v / 10) % 10) << 4) | v % 10) & 0xff;
}

/** Register byte to a binary value (BCD digits above 9 are taken at face value). */
function decode(v: number, b: number): number {
  if (b & RTC_DM_BINARY) return v;
  return (v >> 4) * 10 + (v & 0x0f);
}

function encodeHour(h: number, b: number): number {
  if (b & RTC_24H) return encode(h, b);
  const h12 = h % 12 === 0 ? 12 : h % 12;
  return encode(h12, b) | (h >= 12 ? 0x80 : 0);
}

function decodeHour(v: number, b: number): number {
  if (b & RTC_24H) return decode(v, b);
  const h12 = decode(v & 0x7f, b);
  return (h12 % 12) + (v & 0x80 ? 12 : 0);
}

/** Decode an alarm byte to a binary value, ALARM_ANY for 11xxxxxx, or ALARM_NEVER when the time
 * register can never hold that byte (so the comparison never succeeds). */
function decodeAlarm(v: number, b: number, hours: boolean): number {
  if ((v & 0xc0) === 0xc0) return ALARM_ANY;
  const bcd = (b & RTC_DM_BINARY) === 0;
  if (hours && (b & RTC_24H) === 0) {
    const low = v & 0x7f;
    if (bcd && ((low & 0x0f) > 9 || low >> 4 > 9)) return ALARM_NEVER;
    const h12 = decode(low, b);
    if (h12 < 1 || h12 > 12) return ALARM_NEVER;
    return (h12 % 12) + (v & 0x80 ? 12 : 0);
  }
  if (bcd && ((v & 0x0f) > 9 || v >> 4 > 9)) return ALARM_NEVER;
  const x = decode(v, b);
  return x > (hours ? 23 : 59) ? ALARM_NEVER : x;
}

function allows(a: number, x: number): boolean {
  return a === ALARM_ANY || a === x;
}

/** Smallest value > x and <= max that alarm field `a` accepts, or -1. */
function nextAllowed(a: number, x: number, max: number): number {
  if (a === ALARM_ANY) return x + 1 <= max ? x + 1 : -1;
  return a > x ? a : -1;
}
