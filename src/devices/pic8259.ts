// Intel 8259A Programmable Interrupt Controller, as the cascaded master/slave pair of a PC/AT
// (slave INT on master IR2); follows the Intel "8259A Programmable Interrupt Controller"
// datasheet (231468), with the ELCR1/ELCR2 edge/level control registers of the Intel 82371AB
// PIIX4 datasheet (ports 0x4D0/0x4D1).
//
// Model notes:
// - The INTA sequence is atomic: acknowledge() performs both INTA pulses at once. A request that
//   goes away before acknowledge() is called yields the default (spurious) IR7 vector.
// - Edge mode: the IRR bit latches on a rising edge and is dropped when the input goes low again
//   (the datasheet requires IR to stay high until INTA; a shorter pulse is a removed request).
//   Level mode (ICW1 LTIM, or the ELCR bit for that input): IRR follows the input level.
// - ICW1 resets the edge-sense circuit: an input that is high then must go low and high again.
//   Besides the datasheet's list (IMR cleared, IR7 lowest, special mask off, read IRR, ICW4
//   functions zeroed), ICW1 also clears ISR and the rotate-in-AEOI flag, as a fresh start.
// - Only 8086/8088 mode exists: ICW1 without IC4 (which leaves µPM = 0) and ICW4 with µPM = 0
//   select 8080/8085 mode and throw. Buffered mode (ICW4 BUF) is accepted when its M/S bit agrees
//   with the chip's wiring (master/slave); otherwise it throws.
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

/** PIIX ELCR bits that are read-only 0: IRQ0, 1, 2 on ELCR1; IRQ8, 13 on ELCR2. */
const ELCR1_WRITABLE = 0xf8;
const ELCR2_WRITABLE = 0xde;

const STATE_KIND = 'pic8259-pair';
const STATE_VERSION = 1;

/** One 8259A chip's saved registers (part of the pair's state). */
interface ChipState {
  lines: number;
  irr: number;
  isr: number;
  imr: number;
  elcr: number;
  initStep: number;
  icw1: number;
  vectorBase: number;
  icw3: number;
  icw4: number;
  lowest: number;
  rotateInAeoi: boolean;
  specialMask: boolean;
  readIsr: boolean;
  pollPending: boolean;
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
  vectorBase = 0;
  icw3 = 0;
  icw4 = 0;
  /** The level with the lowest priority (7 after ICW1); lowest + 1 has the highest. */
  lowest = 7;
  rotateInAeoi = false;
  specialMask = false;
  readIsr = false;
  pollPending = false;

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
        // 8086 mode: T7-T3 of the vector; the low three bits are the level.
        this.vectorBase = value & 0xf8;
        this.initStep = (this.icw1 & ICW1_SNGL) === 0 ? INIT_ICW3 : this.afterIcw3();
        return;
      case INIT_ICW3:
        this.icw3 = this.isMaster ? value : value & 7;
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
    if ((value & ICW1_IC4) === 0) {
      throw new Error(
        `8259A ${this.name()}: ICW1 0x${hex(value)} without IC4 selects 8080/8085 mode, which is not implemented`,
      );
    }
    this.icw1 = value;
    this.initStep = INIT_ICW2;
    this.icw3 = this.isMaster ? 0 : 7; // "slave mode address set to 7"
    this.icw4 = 0;
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
    if ((value & ICW4_UPM) === 0) {
      throw new Error(
        `8259A ${this.name()}: ICW4 0x${hex(value)} selects 8080/8085 mode (µPM = 0), which is not implemented`,
      );
    }
    if ((value & ICW4_BUF) !== 0 && ((value & ICW4_MS) !== 0) !== this.isMaster) {
      throw new Error(
        `8259A ${this.name()}: ICW4 0x${hex(value)} selects buffered ${this.isMaster ? 'slave' : 'master'} mode on the ${this.name()} chip, which is not implemented`,
      );
    }
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
    this.vectorBase = this.isMaster ? 0x08 : 0x70;
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
      vectorBase: this.vectorBase,
      icw3: this.icw3,
      icw4: this.icw4,
      lowest: this.lowest,
      rotateInAeoi: this.rotateInAeoi,
      specialMask: this.specialMask,
      readIsr: this.readIsr,
      pollPending: this.pollPending,
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
    this.vectorBase = s.vectorBase & 0xf8;
    this.icw3 = s.icw3;
    this.icw4 = s.icw4;
    this.lowest = s.lowest;
    this.rotateInAeoi = s.rotateInAeoi;
    this.specialMask = s.specialMask;
    this.readIsr = s.readIsr;
    this.pollPending = s.pollPending;
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
  if ((icw1 & ICW1_IC4) === 0) throw bad('icw1');
  return {
    lines: byte('lines'),
    irr: byte('irr'),
    isr: byte('isr'),
    imr: byte('imr'),
    elcr: byte('elcr'),
    initStep,
    icw1,
    vectorBase: byte('vectorBase'),
    icw3: byte('icw3'),
    icw4: byte('icw4'),
    lowest: byte('lowest', 7),
    rotateInAeoi: flag('rotateInAeoi'),
    specialMask: flag('specialMask'),
    readIsr: flag('readIsr'),
    pollPending: flag('pollPending'),
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
   * INTA cycle: the vector (ICW2 base + level) of the highest-priority request, through the
   * slave when the master's level is cascaded. With no request left, the chip's IR7 vector
   * (spurious; no ISR bit set on that chip, though a master that saw IR2 sets its ISR bit 2).
   */
  acknowledge(): number {
    const m = this.master;
    const level = m.pendingLevel;
    if (level < 0) return m.vectorBase + 7;
    if ((m.slaveLevels() & (1 << level)) === 0) {
      m.ackLevel();
      return m.vectorBase + level;
    }
    const s = this.slave;
    if (level !== CASCADE_IRQ) {
      throw new Error(`8259A master: ICW3 declares a slave on IR${level}, but only IR2 has one`);
    }
    if ((s.icw1 & ICW1_SNGL) === 0 && s.icw3 !== CASCADE_IRQ) {
      throw new Error(`8259A slave: ICW3 slave ID ${s.icw3} does not answer cascade address ${CASCADE_IRQ}`);
    }
    m.ackLevel();
    const slaveLevel = s.ackLevel();
    return s.vectorBase + (slaveLevel < 0 ? 7 : slaveLevel);
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

function hex(v: number): string {
  return v.toString(16).padStart(2, '0');
}
