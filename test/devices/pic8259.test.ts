import { describe, expect, it } from 'vitest';
import { Pic8259, PicPair } from '../../src/devices/pic8259.js';

const CMD = 0;
const DATA = 1;

function out(chip: Pic8259, offset: number, value: number): void {
  chip.write(offset, 1, value);
}

function readIrr(chip: Pic8259): number {
  out(chip, CMD, 0x0a); // OCW3 RR=1 RIS=0
  return chip.read(CMD, 1);
}

function readIsr(chip: Pic8259): number {
  out(chip, CMD, 0x0b); // OCW3 RR=1 RIS=1
  return chip.read(CMD, 1);
}

function readImr(chip: Pic8259): number {
  return chip.read(DATA, 1);
}

/** Linux's init_8259A: mask all, ICW1-4 on both chips, then the wanted masks. */
function linuxInit(p: PicPair, masterMask = 0xfa, slaveMask = 0xff, icw4 = 0x01): void {
  out(p.master, DATA, 0xff);
  out(p.slave, DATA, 0xff);
  out(p.master, CMD, 0x11);
  out(p.master, DATA, 0x20);
  out(p.master, DATA, 0x04);
  out(p.master, DATA, icw4);
  out(p.slave, CMD, 0x11);
  out(p.slave, DATA, 0x28);
  out(p.slave, DATA, 0x02);
  out(p.slave, DATA, icw4 & ~0x10); // SFNM only matters on the master
  out(p.master, DATA, masterMask);
  out(p.slave, DATA, slaveMask);
}

/** A pair initialized Linux-style with every level unmasked. */
function openPair(icw4 = 0x01): PicPair {
  const p = new PicPair();
  linuxInit(p, 0x00, 0x00, icw4);
  return p;
}

function pulse(p: PicPair, irq: number): void {
  const line = p.irqLine(irq);
  line.setLevel(true);
  line.setLevel(false);
}

describe('PicPair wiring', () => {
  it('hands out one line object per IRQ and refuses the cascade and out-of-range IRQs', () => {
    const p = new PicPair();
    expect(p.irqLine(0)).toBe(p.irqLine(0));
    expect(p.irqLine(15)).toBe(p.irqLine(15));
    expect(p.irqLine(8)).not.toBe(p.irqLine(0));
    expect(() => p.irqLine(2)).toThrow(/IRQ 2/);
    expect(() => p.irqLine(16)).toThrow(/16/);
    expect(() => p.irqLine(-1)).toThrow();
    expect(() => p.irqLine(1.5)).toThrow();
  });

  it('resets to BIOS-like programming with every level masked', () => {
    const p = new PicPair();
    expect(readImr(p.master)).toBe(0xff);
    expect(readImr(p.slave)).toBe(0xff);
    p.irqLine(0).setLevel(true);
    expect(readIrr(p.master)).toBe(0x01);
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, DATA, 0xfe);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x08);
    p.irqLine(9).setLevel(true);
    out(p.master, DATA, 0xfb);
    out(p.slave, DATA, 0xfd);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x71);
  });

  it('reset() clears programming and in-service state', () => {
    const p = openPair();
    pulse(p, 3);
    p.irqLine(3).setLevel(true);
    p.acknowledge();
    p.reset();
    expect(readIsr(p.master)).toBe(0);
    expect(readImr(p.master)).toBe(0xff);
    expect(p.hasInterrupt()).toBe(false);
  });

  it('splits 16-bit accesses over the command and data ports', () => {
    const p = openPair();
    out(p.master, DATA, 0x5a);
    out(p.master, CMD, 0x0a);
    p.irqLine(1).setLevel(true);
    expect(p.master.read(CMD, 2)).toBe(0x5a02);
    p.master.write(CMD, 2, 0x3c_0b); // OCW3 read-ISR to the command port, 0x3C to IMR
    expect(readImr(p.master)).toBe(0x3c);
    expect(p.master.read(CMD, 1)).toBe(0); // ISR now selected
  });
});

describe('initialization (ICW1-ICW4)', () => {
  it('ICW1 clears IMR and ISR, resets priority, special mask, read register and edge sense', () => {
    const p = openPair();
    // Build up state that ICW1 must discard.
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0x25);
    out(p.master, CMD, 0xc4); // set priority: IR4 lowest, IR5 highest
    out(p.master, CMD, 0x68); // OCW3 special mask on
    out(p.master, DATA, 0x40);
    out(p.master, CMD, 0x0b); // read ISR
    expect(p.master.read(CMD, 1)).toBe(0x20);
    p.irqLine(6).setLevel(true); // masked: latched in IRR, not delivered
    expect(readIrr(p.master)).toBe(0x40);
    out(p.master, CMD, 0x0b);

    out(p.master, CMD, 0x11);
    expect(readImr(p.master)).toBe(0x00);
    expect(p.master.read(CMD, 1)).toBe(0x00); // IRR selected again; IR6's edge latch was reset
    out(p.master, DATA, 0x30);
    out(p.master, DATA, 0x04);
    out(p.master, DATA, 0x01);
    expect(readIsr(p.master)).toBe(0x00);
    // Edge sense reset: IRQ5 is still high, but must go low and high again to request.
    expect(readIrr(p.master)).toBe(0x00);
    expect(p.hasInterrupt()).toBe(false);
    p.irqLine(5).setLevel(false);
    p.irqLine(5).setLevel(true);
    p.irqLine(1).setLevel(true);
    // Priority reset: IR1 beats IR5 again (with IR5 highest it would have lost).
    expect(p.acknowledge()).toBe(0x31);
    // Special mask off: the in-service IR1 blocks IR5.
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x35);
  });

  it('ICW2 takes the vector base, ignoring its low three bits', () => {
    const p = new PicPair();
    linuxInit(p, 0x00);
    out(p.master, CMD, 0x11);
    out(p.master, DATA, 0x47);
    out(p.master, DATA, 0x04);
    out(p.master, DATA, 0x01);
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x43);
  });

  it('ICW3 is skipped in single mode, and IR2 is then an ordinary input of the master', () => {
    const p = new PicPair();
    out(p.master, CMD, 0x13); // SNGL, IC4
    out(p.master, DATA, 0x50);
    out(p.master, DATA, 0x01); // ICW4 straight after ICW2
    out(p.master, DATA, 0x00); // now OCW1
    expect(readImr(p.master)).toBe(0x00);
    out(p.slave, CMD, 0x11);
    out(p.slave, DATA, 0x60);
    out(p.slave, DATA, 0x02);
    out(p.slave, DATA, 0x01);
    out(p.slave, DATA, 0x00);
    p.irqLine(9).setLevel(true); // slave INT -> master IR2
    expect(p.acknowledge()).toBe(0x52); // the master answers for IR2 itself
    expect(readIsr(p.slave)).toBe(0);
  });

  it('ICW3 is expected when not single, and ICW4 only with IC4', () => {
    const p = new PicPair();
    out(p.master, CMD, 0x11);
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x04); // ICW3
    out(p.master, DATA, 0x03); // ICW4: AEOI
    out(p.master, DATA, 0x77); // OCW1
    expect(readImr(p.master)).toBe(0x77);
  });

  it('ICW1 without IC4 ends the sequence after ICW2 (single) or ICW3 and takes ICW4 as all zeros', () => {
    const p = new PicPair();
    out(p.master, CMD, 0x12); // SNGL, no IC4
    out(p.master, DATA, 0x40);
    out(p.master, DATA, 0x5a); // OCW1 already
    expect(readImr(p.master)).toBe(0x5a);
    out(p.slave, CMD, 0x18); // LTIM, cascade, no IC4
    out(p.slave, DATA, 0x28);
    out(p.slave, DATA, 0x02); // ICW3
    out(p.slave, DATA, 0x33); // OCW1
    expect(readImr(p.slave)).toBe(0x33);
    expect(p.save()).toMatchObject({ master: { icw4: 0, initStep: 0 }, slave: { icw4: 0, initStep: 0 } });
  });

  it('buffered mode whose M/S bit contradicts the wiring is accepted, and only an acknowledge is refused', () => {
    const p = openPair();
    out(p.master, CMD, 0x11);
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x04);
    out(p.master, DATA, 0x09); // buffered slave on the master chip
    out(p.master, DATA, 0x00);
    p.irqLine(3).setLevel(true);
    out(p.master, CMD, 0x0c); // poll needs no INTA cycle: it still works
    expect(p.master.read(CMD, 1)).toBe(0x83);
    out(p.master, CMD, 0x20);
    p.irqLine(4).setLevel(true);
    expect(p.hasInterrupt()).toBe(true);
    expect(() => p.acknowledge()).toThrow(/master: ICW4 0x09 selects buffered slave mode/);
    out(p.master, CMD, 0x11);
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x04);
    out(p.master, DATA, 0x0d); // buffered master: agrees with the wiring
    out(p.master, DATA, 0x00);
    out(p.slave, CMD, 0x11);
    out(p.slave, DATA, 0x28);
    out(p.slave, DATA, 0x02);
    out(p.slave, DATA, 0x0d); // buffered master on the slave chip
    p.irqLine(5).setLevel(false);
    p.irqLine(5).setLevel(true);
    expect(() => p.acknowledge()).toThrow(/slave: ICW4 0x0d selects buffered master mode/);
    // In single mode the M/S bit has no cascade lines to contradict (what stops this acknowledge
    // is the single-mode slave answering it beside the master).
    init(p.slave, 0x13, 0x28, -1, 0x0d);
    expect(() => p.acknowledge()).toThrow(/both drive the data bus/);
  });

  it('throws when the slave ID does not answer the cascade address 2', () => {
    const p = new PicPair();
    linuxInit(p, 0x00, 0x00);
    out(p.slave, CMD, 0x11);
    out(p.slave, DATA, 0x28);
    out(p.slave, DATA, 0x03); // wrong ID
    out(p.slave, DATA, 0x01);
    out(p.slave, DATA, 0x00);
    p.irqLine(8).setLevel(true);
    expect(p.hasInterrupt()).toBe(true);
    expect(() => p.acknowledge()).toThrow(/IR2 is a slave input by ICW3 0x04, but the slave's ID is 3 .*undriven/);
  });

  it('throws when master ICW3 declares a slave on an input no slave ID answers', () => {
    const p = new PicPair();
    linuxInit(p, 0x00, 0x00);
    out(p.master, CMD, 0x11);
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x0c); // slaves on IR2 and IR3
    out(p.master, DATA, 0x01);
    p.irqLine(3).setLevel(true);
    expect(() => p.acknowledge()).toThrow(/IR3 is a slave input by ICW3 0x0c/);
  });

  it('a slave whose ID names another slave input answers for that input (datasheet cascade rule)', () => {
    const p = new PicPair();
    linuxInit(p, 0x00, 0x00);
    out(p.master, CMD, 0x11);
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x08); // the slave input is IR3
    out(p.master, DATA, 0x01);
    out(p.slave, CMD, 0x11);
    out(p.slave, DATA, 0x28);
    out(p.slave, DATA, 0x03); // ID 3
    out(p.slave, DATA, 0x01);
    p.irqLine(3).setLevel(true); // a device on master IR3; the slave has no request
    expect(p.acknowledge()).toBe(0x2f); // the slave answers with its IR7 default
    expect(readIsr(p.master)).toBe(0x08);
    expect(readIsr(p.slave)).toBe(0x00);
    out(p.master, CMD, 0x20);
    p.irqLine(10).setLevel(true); // slave IR2 -> master IR2, now an ordinary input of the master
    expect(p.acknowledge()).toBe(0x22);
    expect(readIsr(p.slave)).toBe(0x00);
  });
});

/** ICW1, ICW2, then ICW3 unless single, ICW4 when IC4; all levels unmasked. */
function init(chip: Pic8259, icw1: number, icw2: number, icw3 = -1, icw4 = -1): void {
  out(chip, CMD, icw1);
  out(chip, DATA, icw2);
  if ((icw1 & 0x02) === 0) out(chip, DATA, icw3);
  if ((icw1 & 0x01) !== 0) out(chip, DATA, icw4);
  out(chip, DATA, 0x00);
}

describe('MCS-80/85 mode on the x86 INTA cycle (two pulses per acknowledge)', () => {
  it('a single chip: the CPU reads the low address byte, then CALL 0xCD, then ICW2, in turn', () => {
    const p = new PicPair();
    init(p.master, 0xf6, 0x12); // A7-A5 = 111, ADI (interval 4), single, no IC4; A15-A8 = 0x12
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0xe0 | (3 << 2)); // pulses 1, 2: CALL, low byte
    expect(readIsr(p.master)).toBe(0x08);
    p.irqLine(1).setLevel(true);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0xcd); // pulse 3 of IR3, pulse 1 of IR1
    expect(readIsr(p.master)).toBe(0x0a);
    p.irqLine(0).setLevel(true);
    expect(p.acknowledge()).toBe(0x12); // pulses 2, 3 of IR1: the CPU reads the high byte
    expect(p.acknowledge()).toBe(0xe0); // IR0: pulses 1, 2
    expect(readIsr(p.master)).toBe(0x0b);
  });

  it('interval 8 (ADI = 0) puts A7-A6 and the level in bits 5-3; a default is level 7 without ISR', () => {
    const p = new PicPair();
    init(p.master, 0xd2, 0x00); // A7-A6 = 11, interval 8, single
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0xc0 | (5 << 3));
    out(p.master, CMD, 0x20); // EOI
    expect(p.acknowledge()).toBe(0xcd); // nothing requests at pulse 1: IR7 default
    expect(p.acknowledge()).toBe(0x00);
    expect(readIsr(p.master)).toBe(0x00);
    expect(p.acknowledge()).toBe(0xc0 | (7 << 3));
  });

  it('ICW4 with µPM = 0 selects the same mode; auto-EOI clears ISR at the end of pulse 3', () => {
    const p = new PicPair();
    init(p.master, 0x13, 0x40, -1, 0x02); // single, IC4, interval 8; ICW4: AEOI, µPM = 0
    p.irqLine(4).setLevel(true);
    expect(p.acknowledge()).toBe(0x20);
    expect(readIsr(p.master)).toBe(0x10); // set from pulse 1 until pulse 3
    expect(p.acknowledge()).toBe(0xcd); // pulse 3 ends IR4's sequence; IR7 default at pulse 1
    expect(readIsr(p.master)).toBe(0x00);
  });

  it('a cascade in MCS-80/85 mode: the master sends CALL, the addressed slave the address bytes', () => {
    const p = new PicPair();
    init(p.master, 0x14, 0x30, 0x04); // interval 4, cascade, no IC4
    init(p.slave, 0x18, 0x77, 0x02); // LTIM, interval 8, cascade, no IC4
    p.irqLine(13).setLevel(true); // slave IR5 (level triggered)
    expect(p.acknowledge()).toBe(0x00 | (5 << 3)); // the slave's low byte: A7-A6 = 00
    expect(readIsr(p.master)).toBe(0x04);
    expect(readIsr(p.slave)).toBe(0x20);
    p.irqLine(0).setLevel(true);
    expect(p.acknowledge()).toBe(0xcd); // pulse 3 (the slave's ICW2), then the master's IR0 CALL
    expect(p.acknowledge()).toBe(0x30); // the master's IR0 high byte
  });

  it('a master in 8086 mode with a slave in MCS-80/85 mode: fine until a slave interrupt, then the next acknowledge stops', () => {
    const p = openPair();
    init(p.slave, 0x18, 0x28, 0x02); // the slave without IC4, as a mutated Linux init would leave it
    p.irqLine(0).setLevel(true);
    expect(p.acknowledge()).toBe(0x20); // master levels are untouched by the slave's mode
    out(p.master, CMD, 0x20);
    p.irqLine(9).setLevel(true);
    expect(p.acknowledge()).toBe(1 << 3); // the slave's byte 2: its low address byte
    out(p.slave, CMD, 0x20);
    out(p.master, CMD, 0x20);
    p.irqLine(1).setLevel(true);
    expect(() => p.acknowledge()).toThrow(/slave: an INTA pulse without its cascade address .* waits for byte 3/);
  });

  it('a master in MCS-80/85 mode with a slave in 8086 mode: the slave has no byte 3', () => {
    const p = new PicPair();
    init(p.master, 0x14, 0x30, 0x04);
    init(p.slave, 0x11, 0x28, 0x02, 0x01);
    p.irqLine(8).setLevel(true);
    expect(p.acknowledge()).toBe(0x28);
    expect(() => p.acknowledge()).toThrow(/slave: addressed for byte 3 .* idle in 8086 mode/);
  });

  it('ICW1 abandons a sequence under way', () => {
    const p = new PicPair();
    init(p.master, 0xf6, 0x12);
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0xec);
    init(p.master, 0x13, 0x20, -1, 0x01); // 8086 mode again
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0x25);
    expect(readIsr(p.master)).toBe(0x20);
  });

  it('save/restore keeps the place in a sequence', () => {
    const p = new PicPair();
    init(p.master, 0xf6, 0x12);
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0xec);
    const q = new PicPair();
    q.restore(JSON.parse(JSON.stringify(p.save())));
    q.irqLine(1).setLevel(true);
    expect(q.acknowledge()).toBe(0xcd);
    expect(q.acknowledge()).toBe(0x12);
  });
});

describe('a slave in single mode (no cascade address)', () => {
  it('answers every INTA: for master IR2 it gives the vector; beside a master level both drive the bus', () => {
    const p = openPair();
    init(p.slave, 0x13, 0x50, -1, 0x01); // single mode
    p.irqLine(11).setLevel(true);
    expect(p.acknowledge()).toBe(0x53);
    out(p.slave, CMD, 0x20);
    out(p.master, CMD, 0x20);
    p.irqLine(0).setLevel(true);
    expect(() => p.acknowledge()).toThrow(/both drive the data bus .*master IR0: 0x20; slave in single mode, ICW1 0x13, IR7: 0x57/);
  });
});

describe('Linux-style use', () => {
  it('IRQ0 edge: hasInterrupt, acknowledge 0x20, EOI', () => {
    const p = new PicPair();
    linuxInit(p, 0xfa, 0xff);
    expect(readImr(p.master)).toBe(0xfa);
    expect(readImr(p.slave)).toBe(0xff);
    expect(p.hasInterrupt()).toBe(false);
    p.irqLine(0).setLevel(true);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x20);
    expect(readIsr(p.master)).toBe(0x01);
    expect(readIrr(p.master)).toBe(0x00);
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, CMD, 0x20); // EOI
    expect(readIsr(p.master)).toBe(0x00);
    p.irqLine(0).setLevel(false);
    p.irqLine(0).setLevel(true);
    expect(p.acknowledge()).toBe(0x20);
  });

  it('IRQ8 through the cascade gives 0x28 with master IR2 and slave IR0 in service until both EOIs', () => {
    const p = new PicPair();
    linuxInit(p, 0xfa, 0xfe);
    p.irqLine(8).setLevel(true);
    expect(readIrr(p.slave)).toBe(0x01);
    expect(readIrr(p.master)).toBe(0x04);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x28);
    expect(readIsr(p.master)).toBe(0x04);
    expect(readIsr(p.slave)).toBe(0x01);
    expect(p.hasInterrupt()).toBe(false);
    p.irqLine(8).setLevel(false);
    p.irqLine(8).setLevel(true);
    // Still blocked by the slave's in-service IR0 (and the master's IR2).
    expect(p.hasInterrupt()).toBe(false);
    out(p.slave, CMD, 0x20);
    expect(readIsr(p.slave)).toBe(0x00);
    expect(readIsr(p.master)).toBe(0x04);
    expect(p.hasInterrupt()).toBe(false); // master IR2 still in service
    out(p.master, CMD, 0x20);
    expect(readIsr(p.master)).toBe(0x00);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x28);
  });
});

describe('OCW1 (IMR)', () => {
  it('masks levels without losing their requests, and reads back', () => {
    const p = openPair();
    out(p.master, DATA, 0x08);
    expect(readImr(p.master)).toBe(0x08);
    p.irqLine(3).setLevel(true);
    expect(readIrr(p.master)).toBe(0x08); // IRR latches regardless of the mask
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, DATA, 0x00);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x23);
  });

  it('masking master IR2 blocks the whole slave', () => {
    const p = openPair();
    out(p.master, DATA, 0x04);
    p.irqLine(12).setLevel(true);
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, DATA, 0x00);
    expect(p.acknowledge()).toBe(0x2c);
  });
});

describe('OCW2', () => {
  it('non-specific EOI clears the highest-priority ISR bit', () => {
    const p = openPair();
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0x25);
    p.irqLine(1).setLevel(true);
    expect(p.acknowledge()).toBe(0x21); // IR1 nests over IR5
    expect(readIsr(p.master)).toBe(0x22);
    out(p.master, CMD, 0x20);
    expect(readIsr(p.master)).toBe(0x20);
    out(p.master, CMD, 0x20);
    expect(readIsr(p.master)).toBe(0x00);
  });

  it('specific EOI clears the named level only', () => {
    const p = openPair();
    p.irqLine(5).setLevel(true);
    p.acknowledge();
    p.irqLine(1).setLevel(true);
    p.acknowledge();
    out(p.master, CMD, 0x65); // specific EOI IR5
    expect(readIsr(p.master)).toBe(0x02);
  });

  it('rotate on non-specific EOI makes the serviced level the lowest', () => {
    const p = openPair();
    p.irqLine(1).setLevel(true);
    expect(p.acknowledge()).toBe(0x21);
    out(p.master, CMD, 0xa0); // rotate on non-specific EOI: IR1 lowest, IR2 highest
    expect(readIsr(p.master)).toBe(0x00);
    p.irqLine(1).setLevel(false);
    p.irqLine(1).setLevel(true);
    p.irqLine(0).setLevel(true);
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x23); // IR3 now beats IR0 and IR1
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x20);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x21);
  });

  it('rotate on non-specific EOI with nothing in service does not rotate', () => {
    const p = openPair();
    out(p.master, CMD, 0xa0);
    p.irqLine(0).setLevel(true);
    p.irqLine(7).setLevel(true);
    expect(p.acknowledge()).toBe(0x20);
  });

  it('set priority command (specific rotation)', () => {
    const p = openPair();
    out(p.master, CMD, 0xc5); // IR5 lowest, IR6 highest
    p.irqLine(0).setLevel(true);
    p.irqLine(5).setLevel(true);
    p.irqLine(7).setLevel(true);
    expect(p.acknowledge()).toBe(0x27);
    // IR7 in service blocks IR0 and IR5 (lower in the rotated order).
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x20);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x25);
  });

  it('rotate on specific EOI clears the level and makes it the lowest', () => {
    const p = openPair();
    p.irqLine(4).setLevel(true);
    expect(p.acknowledge()).toBe(0x24);
    out(p.master, CMD, 0xe4);
    expect(readIsr(p.master)).toBe(0x00);
    p.irqLine(3).setLevel(true);
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0x25); // IR5 is highest after IR4 went to the bottom
  });

  it('rotate in auto-EOI mode: set and clear', () => {
    const p = openPair(0x03); // AEOI
    out(p.master, CMD, 0x80); // rotate in AEOI set
    p.irqLine(1).setLevel(true);
    expect(p.acknowledge()).toBe(0x21);
    expect(readIsr(p.master)).toBe(0x00);
    p.irqLine(0).setLevel(true);
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x23); // IR1 became the lowest: IR3 leads IR0
    expect(p.acknowledge()).toBe(0x20); // IR3 went to the bottom
    out(p.master, CMD, 0x00); // rotate in AEOI clear
    out(p.master, CMD, 0xc7); // back to IR0 highest
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0x25);
    p.irqLine(0).setLevel(false);
    p.irqLine(0).setLevel(true);
    p.irqLine(6).setLevel(true);
    expect(p.acknowledge()).toBe(0x20); // no rotation happened after IR5
  });

  it('no-operation OCW2 changes nothing', () => {
    const p = openPair();
    p.irqLine(3).setLevel(true);
    p.acknowledge();
    out(p.master, CMD, 0x40);
    expect(readIsr(p.master)).toBe(0x08);
  });
});

describe('OCW3', () => {
  it('selects IRR or ISR for command-port reads, and keeps the choice', () => {
    const p = openPair();
    p.irqLine(4).setLevel(true);
    p.irqLine(6).setLevel(true);
    expect(p.acknowledge()).toBe(0x24);
    out(p.master, CMD, 0x0a);
    expect(p.master.read(CMD, 1)).toBe(0x40);
    expect(p.master.read(CMD, 1)).toBe(0x40);
    out(p.master, CMD, 0x0b);
    expect(p.master.read(CMD, 1)).toBe(0x10);
    out(p.master, CMD, 0x08); // RR = 0: no change
    expect(p.master.read(CMD, 1)).toBe(0x10);
  });

  it('poll: the next read acknowledges and returns 0x80 | level, or 0 with nothing pending', () => {
    const p = openPair();
    out(p.master, CMD, 0x0c);
    expect(p.master.read(CMD, 1)).toBe(0x00);
    expect(p.master.read(CMD, 1)).toBe(0x00); // IRR again, poll was one-shot
    p.irqLine(6).setLevel(true);
    p.irqLine(4).setLevel(true);
    out(p.master, CMD, 0x0c);
    expect(p.master.read(CMD, 1)).toBe(0x84);
    expect(readIsr(p.master)).toBe(0x10);
    expect(readIrr(p.master)).toBe(0x40); // edge IRR cleared for the polled level
    out(p.master, CMD, 0x20);
    out(p.master, CMD, 0x0c);
    expect(p.master.read(CMD, 1)).toBe(0x86);
  });

  it('poll honours the mask and in-service blocking', () => {
    const p = openPair();
    p.irqLine(1).setLevel(true);
    p.acknowledge();
    p.irqLine(3).setLevel(true);
    out(p.master, CMD, 0x0c);
    expect(p.master.read(CMD, 1)).toBe(0x00);
  });

  it('special mask mode: in-service levels do not block lower ones, masked levels stay blocked', () => {
    const p = openPair();
    p.irqLine(1).setLevel(true);
    expect(p.acknowledge()).toBe(0x21);
    p.irqLine(4).setLevel(true);
    expect(p.hasInterrupt()).toBe(false); // fully nested: IR1 blocks IR4
    out(p.master, CMD, 0x68); // ESMM + SMM
    expect(p.hasInterrupt()).toBe(true);
    out(p.master, DATA, 0x10); // mask IR4
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, DATA, 0x02); // mask IR1 instead
    expect(p.acknowledge()).toBe(0x24);
    expect(readIsr(p.master)).toBe(0x12);
    // Non-specific EOI in special mask mode skips the masked IR1.
    out(p.master, CMD, 0x20);
    expect(readIsr(p.master)).toBe(0x02);
    out(p.master, CMD, 0x48); // ESMM with SMM = 0: special mask off
    p.irqLine(5).setLevel(true);
    expect(p.hasInterrupt()).toBe(false); // IR1 in service blocks again
    out(p.master, CMD, 0x28); // SMM without ESMM: ignored
    expect(p.hasInterrupt()).toBe(false);
  });
});

describe('triggering', () => {
  it('edge: a line that stays high does not re-request after EOI', () => {
    const p = openPair();
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x23);
    p.irqLine(3).setLevel(true); // still high: no edge
    out(p.master, CMD, 0x20);
    expect(p.hasInterrupt()).toBe(false);
    expect(readIrr(p.master)).toBe(0x00);
  });

  it('edge: a pulse that ends before INTA leaves no request', () => {
    const p = openPair();
    pulse(p, 0); // short pulse: request removed
    expect(readIrr(p.master)).toBe(0x00);
    expect(p.hasInterrupt()).toBe(false);
  });

  it('edge: a line that drops before INTA removes the request; acknowledging gives spurious IR7', () => {
    const p = openPair();
    p.irqLine(3).setLevel(true);
    expect(p.hasInterrupt()).toBe(true);
    p.irqLine(3).setLevel(false);
    expect(p.hasInterrupt()).toBe(false);
    expect(p.acknowledge()).toBe(0x27);
    expect(readIsr(p.master)).toBe(0x00);
  });

  it('level via ICW1 LTIM: IRR follows the line and re-requests after EOI while high', () => {
    const p = new PicPair();
    out(p.master, CMD, 0x19); // LTIM
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x04);
    out(p.master, DATA, 0x01);
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x23);
    expect(readIrr(p.master)).toBe(0x08); // not cleared by INTA
    expect(p.hasInterrupt()).toBe(false);
    out(p.master, CMD, 0x20);
    expect(p.hasInterrupt()).toBe(true);
    p.irqLine(3).setLevel(false);
    expect(readIrr(p.master)).toBe(0x00);
    expect(p.hasInterrupt()).toBe(false);
  });

  it('level via ICW1 LTIM: a line already high at ICW1 requests at once', () => {
    const p = new PicPair();
    p.irqLine(4).setLevel(true);
    out(p.master, CMD, 0x19);
    out(p.master, DATA, 0x20);
    out(p.master, DATA, 0x04);
    out(p.master, DATA, 0x01);
    expect(p.acknowledge()).toBe(0x24);
  });

  it('level via ELCR, per IRQ, with the PIIX read-only bits', () => {
    const p = openPair();
    p.elcr.write(0, 1, 0xff);
    p.elcr.write(1, 1, 0xff);
    expect(p.elcr.read(0, 1)).toBe(0xf8);
    expect(p.elcr.read(1, 1)).toBe(0xde);
    expect(p.elcr.read(0, 2)).toBe(0xdef8);
    p.elcr.write(0, 2, 0x0c20);
    expect(p.elcr.read(0, 1)).toBe(0x20);
    expect(p.elcr.read(1, 1)).toBe(0x0c);

    // IRQ5 level, IRQ3 edge.
    p.irqLine(5).setLevel(true);
    expect(p.acknowledge()).toBe(0x25);
    out(p.master, CMD, 0x20);
    expect(p.hasInterrupt()).toBe(true); // still high: requests again
    p.irqLine(5).setLevel(false);
    expect(p.hasInterrupt()).toBe(false);

    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x23);
    out(p.master, CMD, 0x20);
    expect(p.hasInterrupt()).toBe(false);

    // IRQ11 level on the slave: re-requests through the cascade after both EOIs.
    p.irqLine(11).setLevel(true);
    expect(p.acknowledge()).toBe(0x2b);
    out(p.slave, CMD, 0x20);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x2b);
  });

  it('switching an ELCR bit to level picks up a line that is already high', () => {
    const p = openPair();
    p.irqLine(10).setLevel(true);
    expect(p.acknowledge()).toBe(0x2a);
    out(p.slave, CMD, 0x20);
    out(p.master, CMD, 0x20);
    expect(p.hasInterrupt()).toBe(false); // edge: no new request
    p.elcr.write(1, 1, 0x04);
    expect(p.acknowledge()).toBe(0x2a);
  });
});

describe('priorities and cascade', () => {
  it('fully nested: 0 is highest; a higher level nests over a lower one in service', () => {
    const p = openPair();
    p.irqLine(7).setLevel(true);
    p.irqLine(4).setLevel(true);
    p.irqLine(6).setLevel(true);
    expect(p.acknowledge()).toBe(0x24);
    expect(p.hasInterrupt()).toBe(false); // IR6, IR7 blocked by IR4
    p.irqLine(3).setLevel(true);
    expect(p.acknowledge()).toBe(0x23); // higher priority nests
    expect(readIsr(p.master)).toBe(0x18);
    out(p.master, CMD, 0x20);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x26);
  });

  it('slave levels sit at master IR2 priority: above IR3-7, below IR0-1', () => {
    const p = openPair();
    p.irqLine(3).setLevel(true);
    p.irqLine(15).setLevel(true);
    expect(p.acknowledge()).toBe(0x2f);
    p.irqLine(1).setLevel(true);
    expect(p.acknowledge()).toBe(0x21);
    out(p.master, CMD, 0x20); // EOI IR1
    expect(p.hasInterrupt()).toBe(false); // IR2 (slave) still in service blocks IR3
    out(p.slave, CMD, 0x20);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x23);
  });

  it('slave priorities resolve inside the slave', () => {
    const p = openPair();
    p.irqLine(14).setLevel(true);
    p.irqLine(9).setLevel(true);
    expect(p.acknowledge()).toBe(0x29);
    out(p.slave, CMD, 0x20);
    out(p.master, CMD, 0x20);
    expect(p.acknowledge()).toBe(0x2e);
  });

  it('without special fully nested mode a higher slave request waits for the master IR2 EOI', () => {
    const p = openPair();
    p.irqLine(12).setLevel(true);
    expect(p.acknowledge()).toBe(0x2c);
    p.irqLine(9).setLevel(true);
    expect(readIrr(p.master)).toBe(0x04); // the slave's INT reached master IR2
    expect(p.hasInterrupt()).toBe(false);
  });

  it('special fully nested mode lets a higher slave request through while IR2 is in service', () => {
    const p = openPair(0x11); // SFNM
    p.irqLine(12).setLevel(true);
    expect(p.acknowledge()).toBe(0x2c);
    p.irqLine(13).setLevel(true);
    expect(p.hasInterrupt()).toBe(false); // lower in the slave: the slave keeps INT low
    p.irqLine(9).setLevel(true);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x29);
    expect(readIsr(p.slave)).toBe(0x12);
    p.irqLine(3).setLevel(true);
    expect(p.hasInterrupt()).toBe(false); // IR2 in service still blocks lower master levels
  });
});

describe('auto-EOI', () => {
  it('does not set ISR, so the next level is delivered without an EOI', () => {
    const p = openPair(0x03);
    p.irqLine(4).setLevel(true);
    expect(p.acknowledge()).toBe(0x24);
    expect(readIsr(p.master)).toBe(0x00);
    p.irqLine(6).setLevel(true);
    expect(p.acknowledge()).toBe(0x26);
    p.irqLine(8).setLevel(true);
    expect(p.acknowledge()).toBe(0x28);
    expect(readIsr(p.master)).toBe(0x00);
    expect(readIsr(p.slave)).toBe(0x00);
  });
});

describe('spurious interrupts', () => {
  it('master: IR7 vector with no ISR bit set', () => {
    const p = openPair();
    expect(p.acknowledge()).toBe(0x27);
    expect(readIsr(p.master)).toBe(0x00);
  });

  it('master: IR7 default when the request is masked by the time of INTA', () => {
    const p = openPair();
    p.irqLine(5).setLevel(true);
    out(p.master, DATA, 0x20);
    expect(p.acknowledge()).toBe(0x27);
    expect(readIsr(p.master)).toBe(0x00);
    expect(readIrr(p.master)).toBe(0x20);
  });

  it('slave: IR15 vector, slave ISR not set, master IR2 in service', () => {
    const p = openPair();
    // The slave's INT pulse reached master IR2, but the slave's request is gone by INTA.
    p.master.setInput(2, true);
    expect(p.hasInterrupt()).toBe(true);
    expect(p.acknowledge()).toBe(0x2f);
    expect(readIsr(p.slave)).toBe(0x00);
    expect(readIsr(p.master)).toBe(0x04);
  });
});

describe('save / restore', () => {
  it('round-trips through JSON and re-derives the INT output', () => {
    const p = openPair(0x11);
    p.elcr.write(0, 1, 0x20);
    out(p.master, CMD, 0xc3); // IR3 lowest
    p.irqLine(9).setLevel(true);
    expect(p.acknowledge()).toBe(0x29);
    p.irqLine(4).setLevel(true);
    p.irqLine(5).setLevel(true);
    p.irqLine(8).setLevel(true);
    out(p.slave, DATA, 0x80);
    out(p.master, CMD, 0x6b); // special mask on, read ISR
    const saved = JSON.parse(JSON.stringify(p.save()));
    expect(saved.kind).toBe('pic8259-pair');
    expect(saved.version).toBe(2);

    const q = new PicPair();
    q.restore(saved);
    expect(q.hasInterrupt()).toBe(p.hasInterrupt());
    expect(q.hasInterrupt()).toBe(true);
    expect(q.master.read(CMD, 1)).toBe(p.master.read(CMD, 1));
    expect(readImr(q.slave)).toBe(0x80);
    expect(q.elcr.read(0, 1)).toBe(0x20);
    for (let i = 0; i < 4; i++) {
      expect(q.acknowledge()).toBe(p.acknowledge());
      out(q.master, CMD, 0x20);
      out(p.master, CMD, 0x20);
      out(q.slave, CMD, 0x20);
      out(p.slave, CMD, 0x20);
    }
    // Line levels came across: IRQ5 (ELCR level) is still high and requesting.
    expect(readIrr(q.master) & 0x20).toBe(0x20);
    // Edge state came across: IRQ4 is still high, so raising it again is no edge.
    q.irqLine(4).setLevel(true);
    p.irqLine(4).setLevel(true);
    expect(readIrr(q.master)).toBe(readIrr(p.master));
  });

  it('restores a half-done initialization sequence and a pending poll', () => {
    const p = openPair();
    p.irqLine(6).setLevel(true);
    out(p.master, CMD, 0x0c);
    out(p.slave, CMD, 0x11);
    out(p.slave, DATA, 0x48);
    const q = new PicPair();
    q.restore(p.save());
    expect(q.master.read(CMD, 1)).toBe(0x86);
    out(q.slave, DATA, 0x02); // ICW3
    out(q.slave, DATA, 0x01); // ICW4
    out(q.slave, DATA, 0x00); // OCW1
    q.irqLine(10).setLevel(true);
    out(q.master, CMD, 0x20);
    expect(q.acknowledge()).toBe(0x4a);
  });

  it('restore re-raises the slave cascade into master IR2', () => {
    const p = openPair();
    p.irqLine(13).setLevel(true);
    const q = new PicPair();
    q.restore(p.save());
    expect(q.hasInterrupt()).toBe(true);
    expect(q.acknowledge()).toBe(0x2d);
  });

  it('rejects another kind, version or malformed fields without changing state', () => {
    const p = openPair();
    const good = p.save();
    expect(() => p.restore({ ...good, kind: 'uart16550' })).toThrow();
    expect(() => p.restore({ ...good, version: 1 })).toThrow();
    const bad = JSON.parse(JSON.stringify(good));
    bad.master.imr = 0x42;
    bad.slave.isr = 300;
    expect(() => p.restore(bad)).toThrow(/isr/);
    expect(readImr(p.master)).toBe(0x00);
  });
});
