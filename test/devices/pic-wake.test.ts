// PicPair.canWake: whether an IRQ rising now would reach the CPU — what a halted vCPU waits for.
import { describe, expect, it } from 'vitest';
import { PicPair } from '../../src/devices/pic8259.js';

/** Both chips initialised as a PC BIOS does: edge triggered, cascaded on IR2, 8086 mode. */
function pcPics(masterMask: number, slaveMask: number): PicPair {
  const p = new PicPair();
  p.master.write(0, 1, 0x11); p.master.write(1, 1, 0x20); p.master.write(1, 1, 0x04); p.master.write(1, 1, 0x01);
  p.slave.write(0, 1, 0x11); p.slave.write(1, 1, 0x28); p.slave.write(1, 1, 0x02); p.slave.write(1, 1, 0x01);
  p.master.write(1, 1, masterMask);
  p.slave.write(1, 1, slaveMask);
  return p;
}

describe('PicPair.canWake', () => {
  it('follows the masks, of the slave and of the cascade line', () => {
    const p = pcPics(0xef, 0xfe); // master: only IRQ4 and not IR2; slave: IRQ8
    expect(p.canWake(4)).toBe(true);
    expect(p.canWake(0)).toBe(false);
    expect(p.canWake(8)).toBe(false); // the cascade (master IR2) is masked
    p.master.write(1, 1, 0xeb); // open IR2
    expect(p.canWake(8)).toBe(true);
    expect(p.canWake(9)).toBe(false);
  });

  it('a level in service blocks itself and the levels below it (fully nested)', () => {
    const p = pcPics(0x00, 0x00);
    p.irqLine(1).setLevel(true);
    expect(p.acknowledge()).toBe(0x21); // IRQ1 now in service, no EOI
    p.irqLine(1).setLevel(false);
    expect(p.canWake(0)).toBe(true); // higher priority
    expect(p.canWake(1)).toBe(false);
    expect(p.canWake(4)).toBe(false);
    p.master.write(0, 1, 0x20); // EOI
    expect(p.canWake(4)).toBe(true);
  });
});
