import { describe, expect, it } from 'vitest';
import type { MachineControl } from '../../src/devices/device.js';
import { I8042 } from '../../src/devices/i8042.js';
import { RecordingIrq } from '../support/doubles.js';

const DATA = 0, CMD = 1, STATUS = 1;
// Status bits.
const OBF = 0x01, IBF = 0x02, SYS = 0x04, CMDDAT = 0x08, KEYLOCK = 0x10, AUXDATA = 0x20;
// CTR bits.
const KBDINT = 0x01, AUXINT = 0x02, CTR_SYS = 0x04, KBDDIS = 0x10, AUXDIS = 0x20, XLATE = 0x40;

class RecordingControl implements MachineControl {
  readonly events: string[] = [];
  requestReset(source: string): void {
    this.events.push(`reset:${source}`);
  }
  requestExit(status: number, source: string): void {
    this.events.push(`exit:${status}:${source}`);
  }
  setA20(enabled: boolean): void {
    this.events.push(`a20:${enabled}`);
  }
}

function make() {
  const control = new RecordingControl();
  const irq1 = new RecordingIrq();
  const irq12 = new RecordingIrq();
  const kbc = new I8042(control, irq1, irq12);
  const status = () => kbc.read(STATUS, 1);
  const data = () => kbc.read(DATA, 1);
  const cmd = (v: number) => kbc.write(CMD, 1, v);
  const out = (v: number) => kbc.write(DATA, 1, v);
  /** Read every pending output byte. */
  const drain = () => {
    const bytes: number[] = [];
    while (status() & OBF) bytes.push(data());
    return bytes;
  };
  const setCtr = (v: number) => {
    cmd(0x60);
    out(v);
  };
  const getCtr = () => {
    cmd(0x20);
    return data();
  };
  return { control, irq1, irq12, kbc, status, data, cmd, out, drain, setCtr, getCtr };
}

describe('I8042 controller', () => {
  it('has the documented reset state', () => {
    const { status, getCtr, irq1, irq12 } = make();
    expect(status()).toBe(KEYLOCK | SYS); // nothing pending, not inhibited, POST passed
    expect(getCtr()).toBe(0x45);
    expect(irq1.changes).toEqual([true, false]); // the CTR reply itself interrupted
    expect(irq12.changes).toEqual([]);
  });

  it('IBF is never set and CMD/DATA tracks the last port written', () => {
    const { status, cmd, out, data } = make();
    cmd(0xaa);
    expect(status() & (IBF | CMDDAT)).toBe(CMDDAT);
    expect(data()).toBe(0x55);
    out(0xf4);
    expect(status() & (IBF | CMDDAT)).toBe(0);
  });

  it('0x60 writes the CTR and 0x20 reads it back', () => {
    const { setCtr, getCtr, status } = make();
    setCtr(0x00);
    expect(getCtr()).toBe(0x00);
    expect(status() & SYS).toBe(0); // status SYS mirrors CTR bit 2
    setCtr(0x47);
    expect(getCtr()).toBe(0x47);
  });

  it('internal RAM 0x21-0x3F / 0x61-0x7F is read/write storage', () => {
    const { cmd, out, data } = make();
    cmd(0x65);
    out(0x5a);
    cmd(0x25);
    expect(data()).toBe(0x5a);
  });

  it('self-test answers 0x55 and sets SYS', () => {
    const { setCtr, cmd, data, status, getCtr } = make();
    setCtr(0x01);
    expect(status() & SYS).toBe(0);
    cmd(0xaa);
    expect(status() & OBF).toBe(OBF);
    expect(data()).toBe(0x55);
    expect(status() & SYS).toBe(SYS);
    expect(getCtr()).toBe(0x01 | CTR_SYS);
  });

  it('interface tests answer 0x00', () => {
    const { cmd, data } = make();
    cmd(0xa9);
    expect(data()).toBe(0x00);
    cmd(0xab);
    expect(data()).toBe(0x00);
  });

  it('0xA7/0xA8 and 0xAD/0xAE toggle the disable bits', () => {
    const { cmd, getCtr } = make();
    cmd(0xa7);
    expect(getCtr() & AUXDIS).toBe(AUXDIS);
    cmd(0xa8);
    expect(getCtr() & AUXDIS).toBe(0);
    cmd(0xad);
    expect(getCtr() & KBDDIS).toBe(KBDDIS);
    cmd(0xae);
    expect(getCtr() & KBDDIS).toBe(0);
  });

  it('0xD1 drives A20 and the reset line; 0xD0 reads the output port', () => {
    const { control, cmd, out, data } = make();
    cmd(0xd0);
    expect(data()).toBe(0xcf);
    cmd(0xd1);
    out(0xdd); // A20 off, reset inactive
    expect(control.events).toEqual(['a20:false']);
    cmd(0xd1);
    out(0xdf);
    expect(control.events).toEqual(['a20:false', 'a20:true']);
    cmd(0xd0);
    expect(data()).toBe(0xcf);
    cmd(0xd1);
    out(0xfe); // reset asserted
    expect(control.events).toEqual(['a20:false', 'a20:true', 'a20:true', 'reset:i8042']);
  });

  it('0xD0 reports a full output buffer in bit 4 (keyboard) / bit 5 (aux)', () => {
    const { cmd, out, data, drain } = make();
    cmd(0xd3);
    out(0x11); // aux byte waiting in the buffer
    cmd(0xd0); // the reply queues behind it
    expect(drain()).toEqual([0x11, 0xcf | 0x20]);
    cmd(0xd2);
    out(0x22);
    cmd(0xd0);
    expect(data()).toBe(0x22);
    expect(data()).toBe(0xcf | 0x10);
  });

  it('0xFE and pulses with bit 0 clear reset the machine; others do not', () => {
    const { control, cmd } = make();
    cmd(0xff);
    cmd(0xfd); // pulse A20 only
    expect(control.events).toEqual([]);
    cmd(0xfe);
    cmd(0xf0);
    expect(control.events).toEqual(['reset:i8042', 'reset:i8042']);
  });

  it('commands the IBM references do not define are ignored: no reply, no state change, CMD/DATA set', () => {
    const defined = (v: number) =>
      (v >= 0x20 && v <= 0x3f) || (v >= 0x60 && v <= 0x7f) || (v >= 0xa4 && v <= 0xab) || v === 0xad || v === 0xae ||
      (v >= 0xc0 && v <= 0xc2) || (v >= 0xd0 && v <= 0xd4) || v === 0xe0 || v >= 0xf0;
    const undefinedCmds = Array.from({ length: 256 }, (_, v) => v).filter((v) => !defined(v));
    expect(undefinedCmds).toContain(0x00);
    expect(undefinedCmds).toContain(0xac);
    expect(undefinedCmds.length).toBe(256 - 32 - 32 - 8 - 2 - 3 - 5 - 1 - 16);
    const { control, cmd, out, status, drain, getCtr, kbc, irq1 } = make();
    const before = JSON.stringify(kbc.save());
    for (const v of undefinedCmds) {
      cmd(v);
      expect(status(), `command 0x${v.toString(16)}`).toBe(KEYLOCK | SYS | CMDDAT);
    }
    expect(drain()).toEqual([]);
    expect(irq1.changes).toEqual([]);
    expect(control.events).toEqual([]);
    const after = kbc.save();
    expect(JSON.stringify({ ...after, lastWasCmd: false })).toBe(before);
    expect(getCtr()).toBe(0x45);
    // Like any command, an undefined one ends a command still waiting for its data byte.
    cmd(0x60);
    cmd(0x00);
    out(0xee); // reaches the keyboard: echo
    expect(drain()).toEqual([0xee]);
    expect(getCtr()).toBe(0x45);
  });

  it('0xC0 reads the input port: keyboard not inhibited, colour display, no jumper, lines high', () => {
    const { cmd, drain } = make();
    cmd(0xc0);
    expect(drain()).toEqual([0xbf]);
  });

  it('0xC1 / 0xC2 copy input port bits 0-3 / 4-7 into status bits 4-7 until the next write', () => {
    const { cmd, out, status, drain } = make();
    cmd(0xc1);
    expect(status()).toBe(0xf0 | SYS | CMDDAT);
    expect(status()).toBe(0xf0 | SYS | CMDDAT); // continuous
    cmd(0xc2);
    expect(status()).toBe(0xb0 | SYS | CMDDAT);
    out(0xee); // a data byte ends the copy and goes to the keyboard as usual
    expect(status()).toBe(KEYLOCK | SYS | OBF);
    expect(drain()).toEqual([0xee]);
    cmd(0xc1);
    cmd(0xaa); // so does a command
    expect(status()).toBe(KEYLOCK | SYS | CMDDAT | OBF);
    expect(drain()).toEqual([0x55]);
  });

  it('0xE0 reads the test inputs: T0 keyboard clock, T1 auxiliary clock, low while disabled', () => {
    const { cmd, drain } = make();
    cmd(0xe0);
    expect(drain()).toEqual([0x03]);
    cmd(0xad);
    cmd(0xe0);
    expect(drain()).toEqual([0x02]);
    cmd(0xae);
    cmd(0xa7);
    cmd(0xe0);
    expect(drain()).toEqual([0x01]);
  });

  it('password security: 0xA4 tests, 0xA5 loads up to a 0, 0xA6 enables only with a password', () => {
    const { cmd, out, drain } = make();
    cmd(0xa4);
    expect(drain()).toEqual([0xf1]);
    cmd(0xa6); // no password: nothing happens
    out(0xee);
    expect(drain()).toEqual([0xee]);
    cmd(0xa5);
    out(0x00); // an empty password installs nothing
    cmd(0xa4);
    expect(drain()).toEqual([0xf1]);
    cmd(0xa5);
    out(0x19); // "P" in scan code set 1
    out(0x1e);
    expect(drain()).toEqual([]); // the bytes did not reach the keyboard
    out(0x00);
    out(0xee); // after the 0, data goes to the keyboard again
    expect(drain()).toEqual([0xee]);
    cmd(0xa4);
    expect(drain()).toEqual([0xfa]);
    cmd(0xa6);
    cmd(0x20); // controller replies still pass
    expect(drain()).toEqual([0x45]);
    expect(() => out(0xee)).toThrow(/keyboard byte 0xee .*password security/);
  });

  it('a password load ended by another command keeps the bytes so far', () => {
    const { cmd, out, drain } = make();
    cmd(0xa5);
    out(0x19);
    cmd(0xa4);
    expect(drain()).toEqual([0xfa]);
  });

  it('a command abandons a pending data byte', () => {
    const { cmd, out, data, getCtr } = make();
    cmd(0x60);
    cmd(0xa9); // new command instead of the CTR byte
    expect(data()).toBe(0x00);
    out(0xee); // now goes to the keyboard: echo
    expect(data()).toBe(0xee);
    expect(getCtr()).toBe(0x45);
  });

  it('0xD2 loops a byte back as keyboard data with IRQ1', () => {
    const { cmd, out, status, data, irq1, irq12 } = make();
    cmd(0xd2);
    out(0x5a);
    expect(status() & (OBF | AUXDATA)).toBe(OBF);
    expect(irq1.level).toBe(true);
    expect(data()).toBe(0x5a);
    expect(irq1.level).toBe(false);
    expect(irq12.changes).toEqual([]);
  });

  it('0xD3 loops a byte back as aux data with IRQ12 only when AUXINT is set', () => {
    const { cmd, out, status, data, irq1, irq12, setCtr } = make();
    cmd(0xd3);
    out(0x5a);
    expect(status() & (OBF | AUXDATA)).toBe(OBF | AUXDATA);
    expect(irq12.level).toBe(false); // CTR 0x45: AUXINT off
    expect(data()).toBe(0x5a);
    expect(status() & (OBF | AUXDATA)).toBe(0);
    setCtr(0x47);
    irq1.changes.length = 0;
    cmd(0xd3);
    out(0xa5);
    expect(irq12.level).toBe(true);
    expect(irq1.changes).toEqual([]);
    expect(data()).toBe(0xa5);
    expect(irq12.level).toBe(false);
  });

  it('enabling the interrupt bit with data waiting raises the line', () => {
    const { cmd, out, setCtr, irq1, data } = make();
    setCtr(0x44); // KBDINT off
    cmd(0xd2);
    out(0x01);
    expect(irq1.level).toBe(false);
    cmd(0x60);
    // The CTR byte cannot be written while the buffer is full in a real 8042 either; here the
    // write completes at once and the waiting byte interrupts.
    out(0x45);
    expect(irq1.level).toBe(true);
    expect(data()).toBe(0x01);
  });

  it('reading an empty buffer returns the last byte read', () => {
    const { cmd, data } = make();
    cmd(0xaa);
    expect(data()).toBe(0x55);
    expect(data()).toBe(0x55);
  });

  it('queued bytes give one IRQ1 edge each', () => {
    const { out, data, irq1 } = make();
    out(0xf2); // identify: three bytes
    expect(irq1.changes).toEqual([true]);
    expect(data()).toBe(0xfa);
    expect(irq1.changes).toEqual([true, false, true]);
    data();
    data();
    expect(irq1.changes).toEqual([true, false, true, false, true, false]);
  });

  it('wide accesses: only the low byte reaches the addressed register', () => {
    const { kbc, data, status } = make();
    kbc.write(CMD, 2, 0xa9aa); // byte 0 → 0x64 (self-test); byte 1 is port 0x65: dropped
    expect(data()).toBe(0x55);
    expect(status() & OBF).toBe(0); // no 0xA9 reply
    kbc.write(CMD, 1, 0xab);
    expect(kbc.read(DATA, 2)).toBe(0xff00); // port 0x61 is not ours
    expect(kbc.read(STATUS, 4)).toBe((0xffffff00 | SYS | KEYLOCK | CMDDAT) >>> 0);
  });
});

describe('I8042 keyboard', () => {
  it('reset answers ACK then BAT 0xAA', () => {
    const { out, drain } = make();
    out(0xff);
    expect(drain()).toEqual([0xfa, 0xaa]);
  });

  it('identify answers ACK 0xAB 0x83, translated to 0x41 with CTR XLATE', () => {
    const { out, drain, setCtr } = make();
    out(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x41]); // reset CTR has XLATE
    setCtr(0x45 & ~XLATE);
    out(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x83]);
  });

  it('enable, disable, defaults, LEDs and typematic answer ACKs', () => {
    const { out, drain, kbc } = make();
    out(0xf5);
    expect(kbc.keyboardScanning).toBe(false);
    out(0xf4);
    expect(kbc.keyboardScanning).toBe(true);
    out(0xf6);
    out(0xed);
    out(0x07);
    out(0xf3);
    out(0x20);
    expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa]);
    expect(kbc.keyboardLeds).toBe(0x07);
    expect(kbc.keyboardTypematic).toBe(0x20);
  });

  it('a command byte instead of an argument runs as a command', () => {
    const { out, drain, kbc } = make();
    out(0xed);
    out(0xee); // echo, not an LED value
    expect(drain()).toEqual([0xfa, 0xee]);
    expect(kbc.keyboardLeds).toBe(0);
  });

  it('echo answers 0xEE', () => {
    const { out, drain } = make();
    out(0xee);
    expect(drain()).toEqual([0xee]);
  });

  it('scan code set: select and query (translated and raw)', () => {
    const { out, drain, setCtr } = make();
    out(0xf0);
    out(0x00);
    expect(drain()).toEqual([0xfa, 0xfa, 0x41]); // set 2 through the translation table
    out(0xf0);
    out(0x01);
    setCtr(0x05);
    out(0xf0);
    out(0x00);
    expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0x01]);
    out(0xf0);
    out(0x07); // no such set
    expect(drain()).toEqual([0xfa, 0xfe]);
  });

  it('unknown commands answer 0xFE; 0xFE resends the last byte', () => {
    const { out, drain } = make();
    out(0x12);
    expect(drain()).toEqual([0xfe]);
    out(0xee);
    out(0xfe);
    expect(drain()).toEqual([0xee, 0xee]);
  });

  it('data waits while the keyboard interface is disabled; a write re-enables it', () => {
    const { out, cmd, status, data, getCtr, drain } = make();
    out(0xee);
    expect(data()).toBe(0xee);
    out(0xf2);
    cmd(0xad); // disable: the two remaining ID bytes stay in the keyboard
    expect(data()).toBe(0xfa); // already in the output buffer
    expect(status() & OBF).toBe(0);
    cmd(0xae);
    expect(drain()).toEqual([0xab, 0x41]);
    cmd(0xad);
    out(0xee);
    expect(drain()).toEqual([0xee]);
    expect(getCtr() & KBDDIS).toBe(0);
  });

  it('controller replies go before keyboard bytes', () => {
    const { out, cmd, drain } = make();
    out(0xf2); // 0xfa moves into the buffer at once
    cmd(0xaa);
    expect(drain()).toEqual([0xfa, 0x55, 0xab, 0x41]);
  });
});

describe('I8042 PS/2 mouse (0xD4)', () => {
  function aux(m: ReturnType<typeof make>, ...bytes: number[]) {
    for (const b of bytes) {
      m.cmd(0xd4);
      m.out(b);
    }
  }

  it('reset answers ACK, 0xAA, 0x00 as aux data', () => {
    const m = make();
    aux(m, 0xff);
    expect(m.status() & (OBF | AUXDATA)).toBe(OBF | AUXDATA);
    expect(m.drain()).toEqual([0xfa, 0xaa, 0x00]);
  });

  it('identify answers ACK 0x00', () => {
    const m = make();
    aux(m, 0xf2);
    expect(m.drain()).toEqual([0xfa, 0x00]);
  });

  it('status request reflects reporting, scaling, resolution and sample rate', () => {
    const m = make();
    aux(m, 0xe9);
    expect(m.drain()).toEqual([0xfa, 0x00, 0x02, 100]);
    aux(m, 0xf4, 0xe7, 0xe8, 0x03, 0xf3, 200, 0xf0, 0xe9);
    expect(m.drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x70, 0x03, 200]);
    aux(m, 0xf5, 0xe6, 0xea, 0xe9);
    expect(m.drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0x00, 0x03, 200]);
    aux(m, 0xf6, 0xe9);
    expect(m.drain()).toEqual([0xfa, 0xfa, 0x00, 0x02, 100]);
  });

  it('bad resolution and unknown commands answer 0xFE', () => {
    const m = make();
    aux(m, 0xe8, 0x09, 0x55);
    expect(m.drain()).toEqual([0xfa, 0xfe, 0xfe]);
  });

  it('read data returns an idle packet; wrap mode echoes until 0xEC', () => {
    const m = make();
    aux(m, 0xeb);
    expect(m.drain()).toEqual([0xfa, 0x08, 0x00, 0x00]);
    aux(m, 0xee, 0x12, 0xf4, 0xec, 0xf2);
    expect(m.drain()).toEqual([0xfa, 0x12, 0xf4, 0xfa, 0xfa, 0x00]);
  });

  it('aux data raises IRQ12 when AUXINT is on, and waits while the aux port is disabled', () => {
    const m = make();
    m.setCtr(0x47);
    m.irq1.changes.length = 0;
    aux(m, 0xf2);
    expect(m.irq12.level).toBe(true);
    m.cmd(0xa7); // the ACK is already in the output buffer; the ID byte waits in the mouse
    expect(m.data()).toBe(0xfa);
    expect(m.status() & OBF).toBe(0);
    expect(m.irq12.level).toBe(false);
    m.cmd(0xa8);
    expect(m.irq12.level).toBe(true);
    expect(m.data()).toBe(0x00);
    expect(m.irq1.changes).toEqual([]);
  });

  it('0xD4 re-enables a disabled aux interface', () => {
    const m = make();
    m.cmd(0xa7);
    aux(m, 0xf2);
    expect(m.drain()).toEqual([0xfa, 0x00]);
    expect(m.getCtr() & AUXDIS).toBe(0);
  });
});

describe('I8042 Linux probe sequence', () => {
  it('passes the checks drivers/input/serio/i8042.c makes', () => {
    const m = make();
    // i8042_controller_check: flush, read CTR.
    expect(m.drain()).toEqual([]);
    const ctr = m.getCtr();
    // i8042_controller_selftest
    m.cmd(0xaa);
    expect(m.data()).toBe(0x55);
    // i8042_controller_init: disable both interrupts and write the CTR back.
    m.setCtr(ctr & ~(KBDINT | AUXINT));
    // i8042_check_aux: loop-back test.
    m.cmd(0xd3);
    m.out(0x5a);
    expect(m.status() & AUXDATA).toBe(AUXDATA);
    expect(m.data()).toBe(0x5a);
    // MUX detection: a plain controller echoes the magic sequence unchanged.
    for (const b of [0xf0, 0x56, 0xa4]) {
      m.cmd(0xd3);
      m.out(b);
      expect(m.data()).toBe(b);
    }
    // toggle aux disable
    m.cmd(0xa7);
    expect(m.getCtr() & AUXDIS).toBe(AUXDIS);
    m.cmd(0xa8);
    expect(m.getCtr() & AUXDIS).toBe(0);
    // IRQ12 delivery test.
    m.setCtr((ctr & ~AUXDIS) | AUXINT);
    m.cmd(0xd3);
    m.out(0xa5);
    expect(m.irq12.level).toBe(true);
    expect(m.status() & AUXDATA).toBe(AUXDATA);
    expect(m.data()).toBe(0xa5);
    expect(m.irq12.level).toBe(false);
  });
});

describe('I8042 life cycle', () => {
  it('reset returns to the reset state and drops the lines', () => {
    const m = make();
    m.setCtr(0x07);
    m.out(0xf2);
    expect(m.irq1.level).toBe(true);
    m.cmd(0x60); // pending command
    m.kbc.reset();
    expect(m.irq1.level).toBe(false);
    expect(m.status()).toBe(KEYLOCK | SYS);
    expect(m.getCtr()).toBe(0x45);
  });

  it('save/restore round-trips queues and re-drives the lines', () => {
    const m = make();
    m.setCtr(0x47);
    m.out(0xed); // LEDs command waiting for its argument
    m.cmd(0xd4);
    m.out(0xe9);
    const s = JSON.parse(JSON.stringify(m.kbc.save()));
    expect(s.kind).toBe('i8042');
    const n = make();
    n.kbc.restore(s);
    expect(n.irq1.changes).toEqual([true]);
    expect(n.irq12.changes).toEqual([false]);
    n.out(0x02); // the LED argument
    expect(n.kbc.keyboardLeds).toBe(2);
    expect(n.drain()).toEqual([0xfa, 0xfa, 0xfa, 0x00, 0x02, 100]);
    expect(() => n.kbc.restore({ ...s, version: 1 })).toThrow();
    expect(() => n.kbc.restore({ ...s, obf: 1 })).toThrow(/obf/);
    expect(() => n.kbc.restore({ ...s, pollInput: 3 })).toThrow(/pollInput/);
    expect(() => n.kbc.restore({ ...s, securityOn: true })).toThrow(/securityOn/);
  });

  it('save/restore keeps the input-port copy, the password and security', () => {
    const m = make();
    m.cmd(0xa5);
    m.out(0x19);
    m.out(0x00);
    m.cmd(0xa6);
    m.cmd(0xc2);
    const n = make();
    n.kbc.restore(JSON.parse(JSON.stringify(m.kbc.save())));
    expect(n.status()).toBe(0xb0 | SYS | CMDDAT);
    n.cmd(0xa4);
    expect(n.drain()).toEqual([0xfa]);
    expect(() => n.out(0xf2)).toThrow(/password security/);
  });
});
