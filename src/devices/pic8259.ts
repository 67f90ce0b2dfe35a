// Intel 8259A Programmable Interrupt Controller, as the cascaded master/slave pair of a PC/AT
// (slave INT on master IR2); follows the Intel "8259A Programmable Interrupt Controller"
// datasheet (231468), with the ELCR1/ELCR2 edge/level control registers of the Intel 82371AB
// PIIX4 datasheet (ports 0x4D0/0x4D1).
//
// Model notes:
// - acknowledge() is one x86 interrupt acknowledge: two INTA pulses to both chips (the wiring of
//   a PC), of which the CPU reads the data bus only during the second (Intel's 8086 and 80386
//   manuals; a P6 bus's single acknowledge transaction is turned into the same two pulses by the
//   chipset). Each chip runs the datasheet's INTA sequence on those pulses and keeps its place
//   in it from one acknowledge to the next:
//   - 8086 mode (ICW4 µPM = 1): pulse 1 freezes the highest request, sets its ISR bit and clears
//     an edge IRR bit (nothing on the bus); pulse 2 puts ICW2 T7-T3 + level on the bus; auto-EOI
//     ends there. So every acknowledge is one whole sequence.
//   - MCS-80/85 mode (ICW1 without IC4, which zeroes ICW4, or ICW4 µPM = 0): pulse 1 freezes the
//     level as above and puts CALL (0xCD) on the bus, pulse 2 the low byte of the routine address
//     (ICW1 A7-A5 + level * 4 with ADI = 1, A7-A6 + level * 8 with ADI = 0), pulse 3 the high byte
//     (ICW2); auto-EOI clears the ISR bit at the end of pulse 3. With two pulses per acknowledge
//     the CPU receives, from a chip in this mode, the low address byte, then 0xCD (pulse 3 of the
//     first sequence and pulse 1 of the next), then ICW2 (pulses 2 and 3), and so on; the ISR bit
//     is set from pulse 1, which may be in an earlier acknowledge. (The CALL opcode of pulse 1
//     is on the bus during the CPU's first INTA cycle, whose data the CPU does not read.) The
//     PIIX4 datasheet requires IC4 = 1 and µPM = 1 for its integrated pair and says nothing of
//     the other settings, so this follows the discrete 8259A.
//   - A chip with no request at pulse 1 answers as if IR7 had requested (vector, address bytes and
//     cascade address), without setting an ISR bit.
//   - Cascade: the master drives the cascade address of a level its ICW3 marks as a slave input
//     from the end of pulse 1 to the end of its sequence and leaves the data bus to the slave
//     whose ICW3 ID matches; that slave freezes its own request when first addressed (pulse 2:
//     the address is on the cascade lines only from the end of pulse 1) and drives the bytes
//     from pulse 2 on in its own mode. A slave in single mode (SNGL) ignores the
//     cascade lines and, like a lone 8259A, answers every pulse with its own sequence.
//   - What the datasheets leave undefined stops the run with an error naming the chips and their
//     registers: a pulse the CPU reads that no chip drives (a slave input no slave ID answers),
//     two chips driving different bytes on it (a single-mode slave beside the master), a slave in
//     the middle of a sequence receiving a pulse without its cascade address or a pulse its mode
//     has no byte for (master and slave in different modes: the first such interrupt is delivered,
//     the error comes at the next acknowledge), and any acknowledge while a cascaded chip's
//     buffered-mode M/S bit contradicts its wiring (its cascade lines then face the other chip's
//     as inputs against inputs or outputs against outputs).
//   A request that goes away before acknowledge() yields the default IR7 answer.
// - Edge mode: the IRR bit latches on a rising edge and is dropped when the input goes low again
//   (the datasheet requires IR to stay high until INTA; a shorter pulse is a removed request).
//   Level mode (ICW1 LTIM, or the ELCR bit for that input): IRR follows the input level.
// - ICW1 resets the edge-sense circuit: an input that is high then must go low and high again.
//   Besides the datasheet's list (IMR cleared, IR7 lowest, special mask off, read IRR, ICW4
//   functions zeroed), ICW1 also clears ISR and the rotate-in-AEOI flag, as a fresh start.
// - ICW3 is stored as written; a slave uses its bits 2-0 as its ID. Buffered mode (ICW4 BUF)
//   changes nothing else here: the M/S bit then makes the chip master or slave, which must agree
//   with its wiring by the time of an acknowledge (see above).
// - In special mask mode an in-service level blocks only itself; every unmasked level, higher or
//   lower, may interrupt.
// - reset() leaves both chips as a PC BIOS programs them (vector bases 0x08/0x70, cascade on IR2,
//   8086 mode, edge triggered, ELCR = 0) but with every level masked, so that nothing reaches a
//   guest that has not programmed the controller itself. Input levels are wires driven by other
//   devices and survive reset.
// - Addresses decode A0 only (offset & 1), as the PIIX aliases 0x20/0x21 through 0x3C/0x3D.

import type { Device, DeviceState, IrqLine, RegisterDevice } from './device.js';

// Command-port write decoding.
const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_ADI = 0x04; // MCS-80/85 CALL address interval: 1 = 4 bytes, 0 = 8 bytes
const ICW1_LTIM = 0x08;
const ICW1_SELECT = 0x10; // bit 4 set on the command port: ICW1
const OCW3_SELECT = 0x08; // bit 4 clear, bit 3 set: OCW3 (both clear: OCW2)

// ICW4
const ICW4_UPM = 0x01; // 1 = 8086/8088 mode
const ICW4_AEOI = 0x02;
const ICW4_MS = 0x04; // master (1) / slave (0), meaningful in buffered mode only
const ICW4_BUF = 0x08;
const ICW4_SFNM = 0x10;

// OCW2 command field (bits 7-5: R, SL, EOI)
const OCW2_ROTATE_AEOI_CLEAR = 0x00;
const OCW2_NONSPECIFIC_EOI = 0x20;
const OCW2_NOP = 0x40;
const OCW2_SPECIFIC_EOI = 0x60;
const OCW2_ROTATE_AEOI_SET = 0x80;
const OCW2_ROTATE_NONSPECIFIC_EOI = 0xa0;
const OCW2_SET_PRIORITY = 0xc0;
const OCW2_ROTATE_SPECIFIC_EOI = 0xe0;

// OCW3
const OCW3_RIS = 0x01;
const OCW3_RR = 0x02;
const OCW3_P = 0x04;
const OCW3_SMM = 0x20;
const OCW3_ESMM = 0x40;

// Initialization sequence: which ICW the data port expects next (0: initialized).
const INIT_DONE = 0;
const INIT_ICW2 = 2;
const INIT_ICW3 = 3;
const INIT_ICW4 = 4;

/** The master input the slave's INT output drives. */
const CASCADE_IRQ = 2;

/** MCS-80/85 mode: the first byte of the INTA sequence, an 8080 CALL instruction. */
const CALL_OPCODE = 0xcd;
/** INTA sequence position (`intaStep`): pulses of the current sequence already received. */
const INTA_IDLE = 0;
const INTA_AFTER_BYTE1 = 1;
const INTA_AFTER_BYTE2 = 2; // MCS-80/85 only

/** PIIX ELCR bits that are read-only 0: IRQ0, 1, 2 on ELCR1; IRQ8, 13 on ELCR2. */
const ELCR1_WRITABLE = 0xf8;
const ELCR2_WRITABLE = 0xde;

const STATE_KIND = 'pic8259-pair';
const STATE_VERSION = 2;

/** One 8259A chip's saved registers (part of the pair's state). */
interface ChipState {
  lines: number;
  irr: number;
  isr: number;
  imr: number;
  elcr: number;
  initStep: number;
  icw1: number;
  icw2: number;
  icw3: number;
  icw4: number;
  lowest: number;
  rotateInAeoi: boolean;
  specialMask: boolean;
  readIsr: boolean;
  pollPending: boolean;
  intaStep: number;
  intaLevel: number;
  intaDefault: boolean;
  cas: number;
}

/**
 * One 8259A. Offset 0 is the command port (ICW1, OCW2, OCW3 written; IRR, ISR or poll word read),
 * offset 1 the data port (ICW2-4 during initialization, then OCW1 = IMR; reads IMR).
 * Built by PicPair, which wires the cascade and owns reset/save/restore.
 */
export class Pic8259 implements RegisterDevice {
  readonly isMaster: boolean;
  /** The chip and input this chip's INT output drives (the slave drives master IR2), or null. */
  private readonly cascadeTo: Pic8259 | null;

  /** Current levels of the IR0-7 input wires. */
  lines = 0;
  irr = 0;
  isr = 0;
  imr = 0;
  /** ELCR bits for this chip (1 = level triggered). */
  elcr = 0;
  /** Inputs that are level triggered: all with ICW1 LTIM, else the ELCR bits. */
  levelMask = 0;
  initStep = INIT_DONE;
  icw1 = 0;
  /** 8086 mode: T7-T3 of the vectors (bits 7-3); MCS-80/85 mode: A15-A8 of the routine address. */
  icw2 = 0;
  icw3 = 0;
  icw4 = 0;
  /** The level with the lowest priority (7 after ICW1); lowest + 1 has the highest. */
  lowest = 7;
  rotateInAeoi = false;
  specialMask = false;
  readIsr = false;
  pollPending = false;
  /** INTA sequence: pulses received (INTA_*), the frozen level, and whether it is the IR7 default. */
  intaStep = INTA_IDLE;
  intaLevel = 7;
  intaDefault = false;
  /** The cascade address this chip drives as master (from pulse 1 to its last pulse), or -1. */
  cas = -1;

  /** Result of priority resolution: the level INT is raised for, or -1. */
  pendingLevel = -1;
  /** The INT output pin. */
  intOut = false;

  constructor(isMaster: boolean, cascadeTo: Pic8259 | null) {
    this.isMaster = isMaster;
    this.cascadeTo = cascadeTo;
  }

  read(offset: number, size: number): number {
    if (size === 1) return this.readByte(offset & 1);
    checkSize(size);
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.readByte((offset + i) & 1) << (8 * i);
    return value >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    if (size === 1) {
      this.writeByte(offset & 1, value & 0xff);
      return;
    }
    checkSize(size);
    for (let i = 0; i < size; i++) this.writeByte((offset + i) & 1, (value >>> (8 * i)) & 0xff);
  }

  private readByte(a0: number): number {
    // After a poll command the next read of either port is an interrupt acknowledge.
    if (this.pollPending) {
      this.pollPending = false;
      const level = this.ackLevel();
      return level < 0 ? 0 : 0x80 | level;
    }
    if (a0 === 1) return this.imr;
    return this.readIsr ? this.isr : this.irr;
  }

  private writeByte(a0: number, value: number): void {
    if (a0 === 0) {
      if ((value & ICW1_SELECT) !== 0) this.writeIcw1(value);
      else if ((value & OCW3_SELECT) !== 0) this.writeOcw3(value);
      else this.writeOcw2(value);
      return;
    }
    switch (this.initStep) {
      case INIT_ICW2:
        this.icw2 = value;
        this.initStep = (this.icw1 & ICW1_SNGL) === 0 ? INIT_ICW3 : this.afterIcw3();
        return;
      case INIT_ICW3:
        this.icw3 = value;
        this.initStep = this.afterIcw3();
        return;
      case INIT_ICW4:
        this.writeIcw4(value);
        return;
      default:
        this.imr = value; // OCW1
        this.update();
    }
  }

  private afterIcw3(): number {
    return (this.icw1 & ICW1_IC4) !== 0 ? INIT_ICW4 : INIT_DONE;
  }

  private writeIcw1(value: number): void {
    this.icw1 = value;
    this.initStep = INIT_ICW2;
    this.icw3 = this.isMaster ? 0 : 7; // "slave mode address set to 7"
    this.icw4 = 0; // without IC4 it stays 0: MCS-80/85 mode, no auto-EOI, not buffered
    this.intaStep = INTA_IDLE; // an INTA sequence under way is abandoned
    this.cas = -1;
    this.imr = 0;
    this.isr = 0;
    this.lowest = 7;
    this.rotateInAeoi = false;
    this.specialMask = false;
    this.readIsr = false;
    this.pollPending = false;
    this.levelMask = (value & ICW1_LTIM) !== 0 ? 0xff : this.elcr;
    // Reset the edge-sense circuit: latched edges are forgotten, level inputs still request.
    this.irr = this.lines & this.levelMask;
    this.update();
  }

  private writeIcw4(value: number): void {
    this.icw4 = value;
    this.initStep = INIT_DONE;
    this.update();
  }

  private writeOcw2(value: number): void {
    const level = value & 7;
    switch (value & 0xe0) {
      case OCW2_NONSPECIFIC_EOI:
        this.nonSpecificEoi(false);
        break;
      case OCW2_ROTATE_NONSPECIFIC_EOI:
        this.nonSpecificEoi(true);
        break;
      case OCW2_SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        break;
      case OCW2_ROTATE_SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        this.lowest = level;
        break;
      case OCW2_SET_PRIORITY:
        this.lowest = level;
        break;
      case OCW2_ROTATE_AEOI_SET:
        this.rotateInAeoi = true;
        return;
      case OCW2_ROTATE_AEOI_CLEAR:
        this.rotateInAeoi = false;
        return;
      case OCW2_NOP:
        return;
    }
    this.update();
  }

  /** Clear the in-service bit with the highest priority (in special mask mode: of unmasked levels). */
  private nonSpecificEoi(rotate: boolean): void {
    const candidates = this.specialMask ? this.isr & ~this.imr : this.isr;
    if (candidates === 0) return;
    let level = (this.lowest + 1) & 7;
    while ((candidates & (1 << level)) === 0) level = (level + 1) & 7;
    this.isr &= ~(1 << level);
    if (rotate) this.lowest = level;
  }

  private writeOcw3(value: number): void {
    if ((value & OCW3_ESMM) !== 0) {
      this.specialMask = (value & OCW3_SMM) !== 0;
      this.update();
    }
    if ((value & OCW3_RR) !== 0) this.readIsr = (value & OCW3_RIS) !== 0;
    if ((value & OCW3_P) !== 0) this.pollPending = true;
  }

  /** Levels whose IR input is a slave's INT (ICW3 bits of a cascaded master). */
  slaveLevels(): number {
    return this.isMaster && (this.icw1 & ICW1_SNGL) === 0 ? this.icw3 : 0;
  }

  /**
   * Whether a request on `level` would raise INT now, given the masks and what is in service
   * (a halted CPU can be woken by such a line only).
   */
  wouldInterrupt(level: number): boolean {
    const saved = this.irr;
    this.irr |= 1 << level;
    const r = this.resolve();
    this.irr = saved;
    return r >= 0;
  }

  /** In single mode (ICW1 SNGL): no cascade, no ICW3. */
  isSingle(): boolean {
    return (this.icw1 & ICW1_SNGL) !== 0;
  }

  /** 8086/8088 mode (ICW4 µPM = 1), else MCS-80/85 mode. */
  is8086(): boolean {
    return (this.icw4 & ICW4_UPM) !== 0;
  }

  /** A cascaded chip whose buffered-mode M/S bit makes it the other role than its wiring. */
  roleContradictsWiring(): boolean {
    return !this.isSingle() && (this.icw4 & ICW4_BUF) !== 0 && ((this.icw4 & ICW4_MS) !== 0) !== this.isMaster;
  }

  /**
   * INTA pulse 1 of a sequence: freeze the resolved level (IR7 by default when none is left), set
   * its ISR bit, clear an edge-triggered IRR bit. In 8086 mode auto-EOI is applied here at once
   * (the sequence ends within the same acknowledge); in MCS-80/85 mode at finishInta.
   */
  beginInta(): void {
    this.intaStep = INTA_AFTER_BYTE1;
    const level = this.pendingLevel;
    if (level < 0) {
      this.intaLevel = 7;
      this.intaDefault = true;
      return;
    }
    this.intaLevel = level;
    this.intaDefault = false;
    const bit = 1 << level;
    if ((this.levelMask & bit) === 0) this.irr &= ~bit;
    if ((this.icw4 & ICW4_AEOI) !== 0 && this.is8086()) {
      if (this.rotateInAeoi) this.lowest = level;
    } else {
      this.isr |= bit;
    }
    this.update();
  }

  /** The end of the last pulse of a sequence: MCS-80/85 auto-EOI. */
  finishInta(): void {
    this.intaStep = INTA_IDLE;
    this.cas = -1;
    if (this.intaDefault || (this.icw4 & ICW4_AEOI) === 0 || this.is8086()) return;
    const level = this.intaLevel;
    this.isr &= ~(1 << level);
    if (this.rotateInAeoi) this.lowest = level;
    this.update();
  }

  /** The byte this chip puts on the data bus in pulse 2 or 3 of its sequence for the frozen level. */
  sequenceByte(pulse: number): number {
    const level = this.intaLevel;
    if (this.is8086()) return (this.icw2 & 0xf8) | level;
    if (pulse === 3) return this.icw2;
    return (this.icw1 & ICW1_ADI) !== 0 ? (this.icw1 & 0xe0) | (level << 2) : (this.icw1 & 0xc0) | (level << 3);
  }

  /** The number of INTA pulses in this chip's sequence. */
  sequenceLength(): number {
    return this.is8086() ? 2 : 3;
  }

  /**
   * One INTA pulse to a chip that runs its own sequence: the master, or a chip in single mode.
   * Returns the byte it drives, or -1. A master drives no byte for a level that is a slave
   * input; it drives that level's cascade address (`cas`) instead.
   */
  ownPulse(): number {
    if (this.intaStep === INTA_IDLE) {
      this.beginInta();
      this.cas = (this.slaveLevels() & (1 << this.intaLevel)) !== 0 ? this.intaLevel : -1;
      return this.is8086() ? -1 : CALL_OPCODE;
    }
    const pulse = this.intaStep + 1;
    const v = this.cas < 0 ? this.sequenceByte(pulse) : -1;
    if (pulse === this.sequenceLength()) this.finishInta();
    else this.intaStep = INTA_AFTER_BYTE2;
    return v;
  }

  /** Priority resolution: the highest-priority level that may interrupt now, or -1. */
  private resolve(): number {
    const req = this.irr & ~this.imr & 0xff;
    if (req === 0) return -1;
    const isr = this.isr;
    let level = (this.lowest + 1) & 7;
    if (this.specialMask) {
      const eligible = req & ~isr;
      if (eligible === 0) return -1;
      while ((eligible & (1 << level)) === 0) level = (level + 1) & 7;
      return level;
    }
    // Fully nested: the first in-service level met blocks itself and everything below it, except
    // that in special fully nested mode a slave's level stays open to its own slave's requests.
    const sfnmLevels = (this.icw4 & ICW4_SFNM) !== 0 ? this.slaveLevels() : 0;
    for (let n = 0; n < 8; n++) {
      const bit = 1 << level;
      if ((isr & bit) !== 0) return (sfnmLevels & req & bit) !== 0 ? level : -1;
      if ((req & bit) !== 0) return level;
      level = (level + 1) & 7;
    }
    return -1;
  }

  /** Re-resolve priorities and drive the INT output (and the cascade input it feeds). */
  update(): void {
    const level = this.resolve();
    this.pendingLevel = level;
    const out = level >= 0;
    if (out !== this.intOut) {
      this.intOut = out;
      if (this.cascadeTo !== null) this.cascadeTo.setInput(CASCADE_IRQ, out);
    }
  }

  /** Re-derive the resolved level and INT without driving the cascade (restore). */
  recompute(): void {
    this.pendingLevel = this.resolve();
    this.intOut = this.pendingLevel >= 0;
  }

  /** Drive input IR`irq` (0-7). Used by the pair's IRQ lines and by the cascade. */
  setInput(irq: number, high: boolean): void {
    const bit = 1 << irq;
    if (high) {
      if ((this.lines & bit) !== 0) return;
      this.lines |= bit;
      this.irr |= bit; // rising edge, or level high
    } else {
      if ((this.lines & bit) === 0) return;
      this.lines &= ~bit;
      this.irr &= ~bit; // level low, or an edge request removed before INTA
    }
    this.update();
  }

  /** Write this chip's ELCR bits (already limited to the writable ones). */
  setElcr(value: number): void {
    this.elcr = value;
    const level = (this.icw1 & ICW1_LTIM) !== 0 ? 0xff : value;
    this.levelMask = level;
    this.irr = (this.irr & ~level) | (this.lines & level);
    this.update();
  }

  /**
   * The chip's part of an INTA sequence (or a poll read): take the resolved level, set its ISR bit
   * (or apply auto-EOI), clear an edge-triggered IRR bit. Returns the level, or -1 when nothing is
   * requesting (the caller supplies the IR7 default vector; no ISR bit is set).
   */
  ackLevel(): number {
    const level = this.pendingLevel;
    if (level < 0) return -1;
    const bit = 1 << level;
    if ((this.levelMask & bit) === 0) this.irr &= ~bit;
    if ((this.icw4 & ICW4_AEOI) !== 0) {
      if (this.rotateInAeoi) this.lowest = level;
    } else {
      this.isr |= bit;
    }
    this.update();
    return level;
  }

  name(): string {
    return this.isMaster ? 'master' : 'slave';
  }

  /** Program the chip as a PC BIOS leaves it, all levels masked (see model notes). */
  resetChip(): void {
    this.icw1 = ICW1_SELECT | ICW1_IC4;
    this.initStep = INIT_DONE;
    this.icw2 = this.isMaster ? 0x08 : 0x70;
    this.icw3 = this.isMaster ? 1 << CASCADE_IRQ : CASCADE_IRQ;
    this.icw4 = ICW4_UPM;
    this.imr = 0xff;
    this.isr = 0;
    this.elcr = 0;
    this.levelMask = 0;
    this.irr = 0;
    this.lowest = 7;
    this.rotateInAeoi = false;
    this.specialMask = false;
    this.readIsr = false;
    this.pollPending = false;
    this.intaStep = INTA_IDLE;
    this.intaLevel = 7;
    this.intaDefault = false;
    this.cas = -1;
    this.recompute();
  }

  saveChip(): ChipState {
    return {
      lines: this.lines,
      irr: this.irr,
      isr: this.isr,
      imr: this.imr,
      elcr: this.elcr,
      initStep: this.initStep,
      icw1: this.icw1,
      icw2: this.icw2,
      icw3: this.icw3,
      icw4: this.icw4,
      lowest: this.lowest,
      rotateInAeoi: this.rotateInAeoi,
      specialMask: this.specialMask,
      readIsr: this.readIsr,
      pollPending: this.pollPending,
      intaStep: this.intaStep,
      intaLevel: this.intaLevel,
      intaDefault: this.intaDefault,
      cas: this.cas,
    };
  }

  /** Load registers from a state checked by parseChipState; the caller re-derives INT. */
  restoreChip(s: ChipState): void {
    this.lines = s.lines;
    this.irr = s.irr;
    this.isr = s.isr;
    this.imr = s.imr;
    this.elcr = s.elcr;
    this.initStep = s.initStep;
    this.icw1 = s.icw1;
    this.icw2 = s.icw2;
    this.icw3 = s.icw3;
    this.icw4 = s.icw4;
    this.lowest = s.lowest;
    this.rotateInAeoi = s.rotateInAeoi;
    this.specialMask = s.specialMask;
    this.readIsr = s.readIsr;
    this.pollPending = s.pollPending;
    this.intaStep = s.intaStep;
    this.intaLevel = s.intaLevel;
    this.intaDefault = s.intaDefault;
    this.cas = s.cas;
    this.levelMask = (this.icw1 & ICW1_LTIM) !== 0 ? 0xff : this.elcr;
  }
}

/** Check one chip's saved state before anything is changed. */
function parseChipState(raw: unknown, name: string): ChipState {
  if (typeof raw !== 'object' || raw === null) throw new Error(`8259A ${name}: saved state is missing`);
  const s = raw as Record<string, unknown>;
  const bad = (key: string): Error => new Error(`8259A ${name}: bad saved field ${key}`);
  const byte = (key: string, max = 0xff): number => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw bad(key);
    return v;
  };
  const flag = (key: string): boolean => {
    const v = s[key];
    if (typeof v !== 'boolean') throw bad(key);
    return v;
  };
  const initStep = byte('initStep', INIT_ICW4);
  if (initStep === 1) throw bad('initStep');
  const icw1 = byte('icw1');
  const icw4 = byte('icw4');
  const intaStep = byte('intaStep', INTA_AFTER_BYTE2);
  if (intaStep === INTA_AFTER_BYTE2 && (icw4 & ICW4_UPM) !== 0) throw bad('intaStep');
  const rawCas = s.cas;
  if (rawCas !== -1 && (typeof rawCas !== 'number' || !Number.isInteger(rawCas) || rawCas < 0 || rawCas > 7)) throw bad('cas');
  return {
    lines: byte('lines'),
    irr: byte('irr'),
    isr: byte('isr'),
    imr: byte('imr'),
    elcr: byte('elcr'),
    initStep,
    icw1,
    icw2: byte('icw2'),
    icw3: byte('icw3'),
    icw4,
    lowest: byte('lowest', 7),
    rotateInAeoi: flag('rotateInAeoi'),
    specialMask: flag('specialMask'),
    readIsr: flag('readIsr'),
    pollPending: flag('pollPending'),
    intaStep,
    intaLevel: byte('intaLevel', 7),
    intaDefault: flag('intaDefault'),
    cas: rawCas,
  };
}

/** One input of the pair, handed to a device. */
class PicIrqLine implements IrqLine {
  private readonly chip: Pic8259;
  private readonly input: number;

  constructor(chip: Pic8259, input: number) {
    this.chip = chip;
    this.input = input;
  }

  setLevel(high: boolean): void {
    this.chip.setInput(this.input, high);
  }
}

/** ELCR1 (offset 0, IRQ0-7) and ELCR2 (offset 1, IRQ8-15). */
class Elcr implements RegisterDevice {
  private readonly master: Pic8259;
  private readonly slave: Pic8259;

  constructor(master: Pic8259, slave: Pic8259) {
    this.master = master;
    this.slave = slave;
  }

  read(offset: number, size: number): number {
    checkSize(size);
    let value = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const b = o === 0 ? this.master.elcr : o === 1 ? this.slave.elcr : 0xff;
      value |= b << (8 * i);
    }
    return value >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    checkSize(size);
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const b = (value >>> (8 * i)) & 0xff;
      if (o === 0) this.master.setElcr(b & ELCR1_WRITABLE);
      else if (o === 1) this.slave.setElcr(b & ELCR2_WRITABLE);
    }
  }
}

/** The PC's two cascaded 8259As (slave on master IR2) and their ELCR. */
export class PicPair implements Device {
  readonly master: Pic8259;
  readonly slave: Pic8259;
  readonly elcr: RegisterDevice;
  private readonly irqLines: (PicIrqLine | null)[];

  constructor() {
    this.master = new Pic8259(true, null);
    this.slave = new Pic8259(false, this.master);
    this.elcr = new Elcr(this.master, this.slave);
    this.irqLines = [];
    for (let irq = 0; irq < 16; irq++) {
      this.irqLines.push(
        irq === CASCADE_IRQ ? null : new PicIrqLine(irq < 8 ? this.master : this.slave, irq & 7),
      );
    }
    this.reset();
  }

  /** The input line for IRQ `irq` (0-15 except 2, the cascade); the same object every call. */
  irqLine(irq: number): IrqLine {
    if (irq === CASCADE_IRQ) throw new Error('8259A: IRQ 2 is the cascade input from the slave, not a device line');
    const line = Number.isInteger(irq) && irq >= 0 && irq < 16 ? this.irqLines[irq] : undefined;
    if (line === undefined || line === null) throw new Error(`8259A: no IRQ ${irq} (0-15)`);
    return line;
  }

  /** Whether IRQ `irq` rising now would reach the CPU's INTR (through the cascade for 8-15). */
  canWake(irq: number): boolean {
    if (irq < 8) return this.master.wouldInterrupt(irq);
    return this.slave.wouldInterrupt(irq & 7) && this.master.wouldInterrupt(CASCADE_IRQ);
  }

  /** INTR output of the master: an unmasked request with priority over what is in service. */
  hasInterrupt(): boolean {
    return this.master.intOut;
  }

  /**
   * One x86 interrupt acknowledge: two INTA pulses (see the model notes); returns the byte on the
   * data bus during the second, which the CPU takes as the vector.
   */
  acknowledge(): number {
    checkRole(this.master);
    checkRole(this.slave);
    this.pulse(false);
    return this.pulse(true);
  }

  /**
   * One INTA pulse to both chips; returns the byte on the data bus, or -1 when none drives it
   * (an error when the CPU reads this pulse: `cpuReads`).
   */
  private pulse(cpuReads: boolean): number {
    const m = this.master;
    const s = this.slave;
    // The cascade address during this pulse: the master drives it from the end of its pulse 1.
    const cas = m.cas;
    const masterPulse = m.intaStep + 1;
    const mByte = m.ownPulse();
    let sByte = -1;
    if (s.isSingle()) {
      sByte = s.ownPulse();
    } else if (cas >= 0 && (s.icw3 & 7) === cas) {
      sByte = this.cascadedSlavePulse(masterPulse);
    } else if (s.intaStep !== INTA_IDLE) {
      throw new Error(
        `8259A slave: an INTA pulse without its cascade address (ID ${s.icw3 & 7}) came while it waits for byte ${s.intaStep + 1} of its ${modeName(s)} sequence (slave ICW4 0x${hex(s.icw4)}, master ICW4 0x${hex(m.icw4)}); what it does then is undefined`,
      );
    }
    if (!cpuReads) return mByte >= 0 ? mByte : sByte;
    if (mByte >= 0 && sByte >= 0 && mByte !== sByte) {
      throw new Error(
        `8259A: master and slave both drive the data bus in the INTA cycle (master IR${m.intaLevel}: 0x${hex(mByte)}; slave in single mode, ICW1 0x${hex(s.icw1)}, IR${s.intaLevel}: 0x${hex(sByte)})`,
      );
    }
    if (mByte >= 0) return mByte;
    if (sByte >= 0) return sByte;
    throw new Error(
      `8259A master: IR${cas} is a slave input by ICW3 0x${hex(m.icw3)}, but the slave's ID is ${s.icw3 & 7} (ICW3 0x${hex(s.icw3)}${s.isSingle() ? ', single mode' : ''}): no chip drives the vector, the data bus is undriven`,
    );
  }

  /** The slave, addressed by the cascade lines, in pulse 2 or 3 of the master's sequence. */
  private cascadedSlavePulse(masterPulse: number): number {
    const s = this.slave;
    if (masterPulse === 2 && s.intaStep === INTA_IDLE) {
      s.beginInta(); // first addressed: the slave freezes its own request
      const v = s.sequenceByte(2);
      if (s.sequenceLength() === 2) s.finishInta();
      else s.intaStep = INTA_AFTER_BYTE2;
      return v;
    }
    if (masterPulse === 3 && s.intaStep === INTA_AFTER_BYTE2) {
      const v = s.sequenceByte(3);
      s.finishInta();
      return v;
    }
    throw new Error(
      `8259A slave: addressed for byte ${masterPulse} of the master's ${modeName(this.master)} INTA sequence (master ICW4 0x${hex(this.master.icw4)}) while ${s.intaStep === INTA_IDLE ? 'idle' : `waiting for byte ${s.intaStep + 1}`} in ${modeName(s)} mode (slave ICW4 0x${hex(s.icw4)}); what it does then is undefined`,
    );
  }

  reset(): void {
    this.slave.resetChip();
    this.master.resetChip();
    this.syncCascade();
  }

  save(): DeviceState {
    return {
      kind: STATE_KIND,
      version: STATE_VERSION,
      master: this.master.saveChip(),
      slave: this.slave.saveChip(),
    };
  }

  restore(state: DeviceState): void {
    if (state.kind !== STATE_KIND || state.version !== STATE_VERSION) {
      throw new Error(`8259A: cannot restore state ${String(state.kind)} version ${String(state.version)}`);
    }
    const master = parseChipState(state.master, 'master');
    const slave = parseChipState(state.slave, 'slave');
    this.master.restoreChip(master);
    this.slave.restoreChip(slave);
    this.slave.recompute();
    this.syncCascade();
  }

  /** Make master IR2's wire agree with the slave's INT output, then re-derive the master's INT. */
  private syncCascade(): void {
    const bit = 1 << CASCADE_IRQ;
    if (this.slave.intOut) {
      this.master.lines |= bit;
    } else {
      this.master.lines &= ~bit;
      this.master.irr &= ~bit;
    }
    if ((this.master.levelMask & bit) !== 0) this.master.irr = (this.master.irr & ~bit) | (this.master.lines & bit);
    this.master.recompute();
  }
}

function checkSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) throw new Error(`8259A: bad access size ${size}`);
}

/** An acknowledge is undefined while a chip's buffered-mode M/S bit contradicts its wiring. */
function checkRole(chip: Pic8259): void {
  if (!chip.roleContradictsWiring()) return;
  throw new Error(
    `8259A ${chip.name()}: ICW4 0x${hex(chip.icw4)} selects buffered ${chip.isMaster ? 'slave' : 'master'} mode on the chip wired as the ${chip.name()}; with both chips' cascade lines ${chip.isMaster ? 'inputs' : 'outputs'}, an interrupt acknowledge is undefined`,
  );
}

function modeName(chip: Pic8259): string {
  return chip.is8086() ? '8086' : 'MCS-80/85';
}

function hex(v: number): string {
  return v.toString(16).padStart(2, '0');
}
