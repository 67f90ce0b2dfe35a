import { describe, expect, it } from 'vitest';
import type { DeviceState } from '../../src/devices/device.js';
import { POLL_READS, Uart16550 } from '../../src/devices/uart16550.js';
import { ConsoleInput } from '../../src/vmm/console.js';
import { ManualClock, RecordingIrq, RecordingSink } from '../support/doubles.js';

// Register offsets.
const RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
// MCR bits.
const DTR = 0x01, RTS = 0x02, OUT1 = 0x04, OUT2 = 0x08, LOOP = 0x10;

/** 4 character times in ns: `bits` per character at 1.8432 MHz / 16 / divisor (datasheet). */
function timeout(bits: number, divisor: number): number {
  return Math.ceil((4 * bits * 16 * divisor * 1e9) / 1_843_200);
}
/** The power-on line settings: divisor 12 (9600 baud), LCR 0 = 5 data bits, 1 stop: 7 bits. */
const TIMEOUT_POWER_ON = timeout(7, 12);

function make() {
  const irq = new RecordingIrq();
  const sink = new RecordingSink();
  const clock = new ManualClock();
  const uart = new Uart16550(irq, sink, clock);
  const rd = (off: number) => uart.read(off, 1);
  const wr = (off: number, v: number) => uart.write(off, 1, v);
  return { irq, sink, clock, uart, rd, wr };
}

describe('Uart16550 registers', () => {
  it('has the datasheet reset values', () => {
    const { irq, rd } = make();
    expect(rd(IER)).toBe(0);
    expect(rd(IIR)).toBe(0x01);
    expect(rd(LCR)).toBe(0);
    expect(rd(MCR)).toBe(0);
    expect(rd(LSR)).toBe(0x60);
    expect(rd(MSR)).toBe(0xb0); // CTS|DSR|DCD of a connected terminal, RI clear, no deltas
    expect(irq.level).toBe(false);
  });

  it('switches offsets 0/1 to the divisor latch with DLAB', () => {
    const { sink, rd, wr, uart } = make();
    wr(IER, 0x05);
    uart.receive(Uint8Array.of(0x41));
    wr(LCR, 0x83);
    expect(rd(LCR)).toBe(0x83);
    wr(DLL, 0x01);
    wr(DLM, 0x02);
    expect(rd(DLL)).toBe(0x01);
    expect(rd(DLM)).toBe(0x02);
    // Nothing was transmitted, IER untouched, the received byte is still there.
    expect(sink.bytes).toEqual([]);
    expect(rd(LSR) & 0x01).toBe(1);
    wr(LCR, 0x03);
    expect(rd(IER)).toBe(0x05);
    expect(rd(RBR)).toBe(0x41);
    wr(THR, 0x42);
    expect(sink.bytes).toEqual([0x42]);
    wr(LCR, 0x83);
    expect(rd(DLL)).toBe(0x01);
    expect(rd(DLM)).toBe(0x02);
  });

  it('reads back LCR, MCR (bits 0-4), IER (bits 0-3) and the scratch register', () => {
    const { rd, wr } = make();
    wr(LCR, 0x5b);
    expect(rd(LCR)).toBe(0x5b);
    wr(MCR, 0xff);
    expect(rd(MCR)).toBe(0x1f);
    wr(MCR, 0x0b);
    expect(rd(MCR)).toBe(0x0b);
    wr(IER, 0xff);
    expect(rd(IER)).toBe(0x0f);
    for (const v of [0x00, 0x55, 0xaa, 0xff]) {
      wr(SCR, v);
      expect(rd(SCR)).toBe(v);
    }
  });

  it('treats wider accesses as byte accesses at the offset', () => {
    const { uart } = make();
    expect(uart.read(LSR, 2)).toBe(0x60);
    uart.write(SCR, 4, 0x12345678);
    expect(uart.read(SCR, 4)).toBe(0x78);
  });

  it('throws on an offset outside 0..7', () => {
    const { uart } = make();
    expect(() => uart.read(8, 1)).toThrow(/offset 8/);
    expect(() => uart.write(-1, 1, 0)).toThrow(/offset -1/);
  });
});

describe('Uart16550 transmit', () => {
  it('sends THR writes to the sink at once and keeps THRE|TEMT set', () => {
    const { sink, rd, wr } = make();
    for (const b of [0x68, 0x69, 0x0a]) {
      wr(THR, b);
      expect(rd(LSR)).toBe(0x60);
    }
    expect(sink.bytes).toEqual([0x68, 0x69, 0x0a]);
  });
});

describe('Uart16550 receiver and FIFO', () => {
  it('holds one byte in 16450 mode and 16 with FIFOs on', () => {
    const { uart, rd, wr } = make();
    expect(uart.rxSpace()).toBe(1);
    expect(uart.receive(Uint8Array.of(1, 2, 3))).toBe(1);
    expect(uart.rxSpace()).toBe(0);
    expect(rd(LSR)).toBe(0x61);
    expect(rd(RBR)).toBe(1);
    expect(rd(LSR)).toBe(0x60);

    wr(FCR, 0x01);
    expect(uart.rxSpace()).toBe(16);
    const input = Uint8Array.from({ length: 20 }, (_, i) => 0x30 + i);
    expect(uart.receive(input)).toBe(16);
    expect(uart.rxSpace()).toBe(0);
    expect(uart.receive(input.subarray(16))).toBe(0);
    // No overrun from host input: the caller retries.
    expect(rd(LSR)).toBe(0x61);
    for (let i = 0; i < 16; i++) {
      expect(rd(LSR) & 0x01).toBe(1);
      expect(rd(RBR)).toBe(0x30 + i);
    }
    expect(rd(LSR)).toBe(0x60);
    expect(uart.rxSpace()).toBe(16);
    // An empty RBR reads the last byte again.
    expect(rd(RBR)).toBe(0x3f);
  });

  it('reports FIFO mode in IIR bits 7:6; FCR is write-only', () => {
    const { rd, wr } = make();
    wr(FCR, 0x01);
    expect(rd(IIR)).toBe(0xc1);
    wr(FCR, 0xc7);
    expect(rd(IIR)).toBe(0xc1); // offset 2 reads IIR, not FCR
    wr(FCR, 0x00);
    expect(rd(IIR)).toBe(0x01);
  });

  it('clears the RX FIFO with FCR bit 1 and on a mode change', () => {
    const { uart, rd, wr } = make();
    wr(FCR, 0x01);
    uart.receive(Uint8Array.of(1, 2, 3));
    wr(FCR, 0x05); // clear XMIT only: RX kept
    expect(rd(LSR) & 0x01).toBe(1);
    wr(FCR, 0x03); // clear RCVR
    expect(rd(LSR)).toBe(0x60);
    expect(uart.rxSpace()).toBe(16);

    uart.receive(Uint8Array.of(4, 5));
    wr(FCR, 0x00); // FIFO -> 16450 mode empties the FIFO
    expect(rd(LSR)).toBe(0x60);
    uart.receive(Uint8Array.of(6));
    wr(FCR, 0x01); // 16450 -> FIFO mode too
    expect(rd(LSR)).toBe(0x60);
    uart.receive(Uint8Array.of(7));
    wr(FCR, 0x01); // rewriting the same mode keeps data
    expect(rd(RBR)).toBe(7);
  });

  it('raises data-available at the trigger level and the timeout below it after 4 characters', () => {
    const cases: [number, number][] = [[0x01, 1], [0x41, 4], [0x81, 8], [0xc1, 14]];
    for (const [fcr, trigger] of cases) {
      const { clock, uart, rd, wr } = make();
      wr(FCR, fcr);
      wr(IER, 0x01);
      if (trigger > 1) {
        uart.receive(new Uint8Array(trigger - 1));
        expect(rd(IIR)).toBe(0xc1); // below the trigger: nothing yet
        clock.t += TIMEOUT_POWER_ON;
        expect(rd(IIR)).toBe(0xcc); // character timeout
        uart.receive(new Uint8Array(1));
      } else {
        uart.receive(new Uint8Array(1));
      }
      expect(rd(IIR)).toBe(0xc4);
      rd(RBR);
      expect(rd(IIR)).toBe(0xc1); // below the trigger again, and the read restarted the timer
      if (trigger > 1) {
        clock.t += TIMEOUT_POWER_ON - 1;
        expect(rd(IIR)).toBe(0xc1);
        clock.t += 1;
        expect(rd(IIR)).toBe(0xcc);
      }
    }
  });

  it('times the character timeout from LCR and the divisor latch', () => {
    // [LCR, divisor, bits per character]: start + data + parity + stop.
    const cases: [number, number, number][] = [
      [0x03, 1, 10], // 8N1 at 115200
      [0x1a, 12, 10], // 7E1 at 9600
      [0x0f, 3, 12], // 8 data, parity, 2 stop
      [0x04, 1, 7.5], // 5 data, 1.5 stop
      [0x03, 0, 10], // divisor 0 counts as 65536
    ];
    for (const [lcr, divisor, bits] of cases) {
      const { clock, uart, rd, wr } = make();
      wr(LCR, 0x80);
      wr(DLL, divisor & 0xff);
      wr(DLM, divisor >> 8);
      wr(LCR, lcr);
      wr(FCR, 0x81);
      wr(IER, 0x01);
      clock.t = 5000;
      uart.receive(Uint8Array.of(1));
      expect(uart.nextDeadline()).toBe(5000 + timeout(bits, divisor || 0x10000));
      clock.t = uart.nextDeadline() - 1;
      expect(rd(IIR)).toBe(0xc1);
      clock.t++;
      expect(rd(IIR)).toBe(0xcc);
    }
  });

  it('restarts the timeout when a byte arrives, and raises the line at the deadline', () => {
    const { clock, irq, uart, rd, wr } = make();
    wr(FCR, 0x81); // trigger 8
    wr(MCR, OUT2);
    wr(IER, 0x01);
    expect(uart.nextDeadline()).toBe(Infinity); // empty
    uart.receive(Uint8Array.of(1));
    expect(uart.nextDeadline()).toBe(TIMEOUT_POWER_ON);
    clock.t = 1000;
    uart.receive(Uint8Array.of(2));
    expect(uart.nextDeadline()).toBe(1000 + TIMEOUT_POWER_ON);
    clock.t = 1000 + TIMEOUT_POWER_ON;
    expect(irq.level).toBe(false); // the line follows when the machine advances the device
    uart.advance(clock.t);
    expect(irq.level).toBe(true);
    expect(uart.nextDeadline()).toBe(Infinity); // seen: no event until the next byte or read
    expect(rd(IIR)).toBe(0xcc);
    expect(rd(RBR)).toBe(1);
    expect(irq.level).toBe(false); // the read cleared the timeout
    expect(uart.nextDeadline()).toBe(clock.t + TIMEOUT_POWER_ON);
    expect(rd(RBR)).toBe(2);
    expect(uart.nextDeadline()).toBe(Infinity);
    // No timeout in 16450 mode, nor with the receive interrupt disabled.
    wr(FCR, 0x00);
    uart.receive(Uint8Array.of(3));
    expect(uart.nextDeadline()).toBe(Infinity);
    wr(FCR, 0xc1); // back to FIFO mode (which empties it), trigger 14
    wr(IER, 0x00);
    uart.receive(Uint8Array.of(4));
    expect(uart.nextDeadline()).toBe(Infinity);
    clock.t += TIMEOUT_POWER_ON;
    wr(IER, 0x01); // enabled after the timeout passed: reported at once
    expect(irq.level).toBe(true);
    expect(rd(IIR)).toBe(0xcc);
  });

  it('raises data-available (0x04) for any byte in 16450 mode', () => {
    const { uart, rd, wr } = make();
    wr(IER, 0x01);
    uart.receive(Uint8Array.of(9));
    expect(rd(IIR)).toBe(0x04);
    rd(RBR);
    expect(rd(IIR)).toBe(0x01);
  });

  it('overruns when a looped-back byte finds the FIFO full; LSR read clears OE', () => {
    const { uart, rd, wr } = make();
    wr(FCR, 0x01);
    wr(MCR, LOOP);
    for (let i = 0; i < 16; i++) wr(THR, i);
    expect(rd(LSR)).toBe(0x61);
    wr(THR, 0x99);
    expect(rd(LSR)).toBe(0x63); // DR|OE|THRE|TEMT
    expect(rd(LSR)).toBe(0x61); // OE cleared by the read
    // The overrunning byte never entered the FIFO.
    for (let i = 0; i < 16; i++) expect(rd(RBR)).toBe(i);
    expect(rd(LSR)).toBe(0x60);
  });

  it('overwrites RBR on overrun in 16450 mode', () => {
    const { rd, wr } = make();
    wr(MCR, LOOP);
    wr(THR, 0x11);
    wr(THR, 0x22);
    expect(rd(LSR)).toBe(0x63);
    expect(rd(RBR)).toBe(0x22);
    expect(rd(LSR)).toBe(0x60);
  });

  it('accepts no host input in loopback (SIN disconnected)', () => {
    const { uart, wr } = make();
    wr(MCR, LOOP);
    expect(uart.rxSpace()).toBe(0);
    expect(uart.receive(Uint8Array.of(1))).toBe(0);
    wr(MCR, 0);
    expect(uart.receive(Uint8Array.of(1))).toBe(1);
  });
});

describe('Uart16550 interrupts', () => {
  it('prioritises line status > data > THRE > modem status', () => {
    const { clock, rd, wr } = make();
    wr(FCR, 0xc1); // trigger 14
    wr(MCR, LOOP | OUT2);
    for (let i = 0; i < 17; i++) wr(THR, i); // 16 bytes + an overrun
    rd(MSR); // drop deltas from entering loopback
    wr(MCR, LOOP | OUT2 | RTS); // DCTS
    wr(IER, 0x0f); // THRI 0 -> 1 raises THRE
    expect(rd(IIR)).toBe(0xc6); // line status
    rd(LSR);
    expect(rd(IIR)).toBe(0xc4); // data available (16 >= 14)
    for (let i = 0; i < 3; i++) rd(RBR);
    clock.t += TIMEOUT_POWER_ON;
    expect(rd(IIR)).toBe(0xcc); // 13 < 14: timeout
    for (let i = 0; i < 13; i++) rd(RBR);
    expect(rd(IIR)).toBe(0xc2); // THRE; the read clears it
    expect(rd(IIR)).toBe(0xc0); // modem status
    expect(rd(MSR) & 0x0f).toBe(0x01);
    expect(rd(IIR)).toBe(0xc1);
  });

  it('masks each source with its IER bit', () => {
    const { uart, rd, wr } = make();
    uart.receive(Uint8Array.of(1));
    wr(IER, 0x0e);
    expect(rd(IIR)).toBe(0x02); // THRE, not data
    wr(IER, 0x00);
    expect(rd(IIR)).toBe(0x01);
    wr(IER, 0x01);
    expect(rd(IIR)).toBe(0x04);
  });

  it('raises THRE when THRI is enabled, clears it on IIR read, re-raises on THR write', () => {
    const { rd, wr } = make();
    expect(rd(IIR)).toBe(0x01);
    wr(IER, 0x02);
    expect(rd(IIR)).toBe(0x02);
    expect(rd(IIR)).toBe(0x01); // cleared by the previous read
    wr(IER, 0x02); // THRI already set: no new interrupt
    expect(rd(IIR)).toBe(0x01);
    wr(THR, 0x41); // transmitted at once: THR empty again
    expect(rd(IIR)).toBe(0x02);
    wr(IER, 0x00);
    wr(IER, 0x02); // 0 -> 1 again
    expect(rd(IIR)).toBe(0x02);
  });

  it('drives the IRQ line only with OUT2 set, and only on level changes', () => {
    const { irq, uart, rd, wr } = make();
    wr(IER, 0x01);
    uart.receive(Uint8Array.of(1));
    expect(irq.changes).toEqual([]); // pending but OUT2 clear
    wr(MCR, OUT2);
    expect(irq.changes).toEqual([true]);
    wr(SCR, 1);
    rd(LSR);
    rd(IIR); // data interrupt is not cleared by IIR reads
    expect(irq.changes).toEqual([true]);
    rd(RBR);
    expect(irq.changes).toEqual([true, false]);
    uart.receive(Uint8Array.of(2));
    expect(irq.changes).toEqual([true, false, true]);
    wr(MCR, 0);
    expect(irq.changes).toEqual([true, false, true, false]);
  });

  it('raises the line for THRE after each transmit (interrupt-driven TX)', () => {
    const { irq, rd, wr } = make();
    wr(MCR, OUT2 | DTR | RTS);
    wr(IER, 0x02);
    expect(irq.level).toBe(true);
    rd(IIR);
    expect(irq.level).toBe(false);
    wr(THR, 0x41);
    expect(irq.level).toBe(true);
  });

  it('raises and clears the line for overrun line status', () => {
    const { irq, rd, wr } = make();
    wr(IER, 0x04);
    wr(MCR, LOOP | OUT2);
    wr(THR, 1);
    expect(irq.level).toBe(false);
    wr(THR, 2); // overrun
    expect(irq.level).toBe(true);
    expect(rd(IIR)).toBe(0x06);
    expect(rd(LSR) & 0x02).toBe(0x02);
    expect(irq.level).toBe(false);
    expect(rd(IIR)).toBe(0x01);
  });
});

describe('Uart16550 modem control and loopback', () => {
  it('reports CTS|DSR|DCD outside loopback whatever MCR holds', () => {
    const { rd, wr } = make();
    for (const m of [0, DTR | RTS, OUT1 | OUT2, DTR | RTS | OUT1 | OUT2]) {
      wr(MCR, m);
      expect(rd(MSR)).toBe(0xb0);
    }
  });

  it('loops transmitted bytes into the receiver instead of the sink', () => {
    const { sink, uart, rd, wr } = make();
    wr(FCR, 0x01);
    wr(MCR, LOOP);
    wr(THR, 0x55);
    wr(THR, 0xaa);
    expect(sink.bytes).toEqual([]);
    expect(rd(LSR)).toBe(0x61);
    expect(rd(RBR)).toBe(0x55);
    expect(rd(RBR)).toBe(0xaa);
    wr(MCR, 0);
    wr(THR, 0x33);
    expect(sink.bytes).toEqual([0x33]);
    expect(uart.rxSpace()).toBe(16);
  });

  it('maps RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD in loopback', () => {
    const { rd, wr } = make();
    const map: [number, number][] = [[RTS, 0x10], [DTR, 0x20], [OUT1, 0x40], [OUT2, 0x80]];
    for (const [m, msr] of map) {
      wr(MCR, LOOP | m);
      expect(rd(MSR) & 0xf0).toBe(msr);
    }
    wr(MCR, LOOP | 0x0f);
    expect(rd(MSR) & 0xf0).toBe(0xf0);
  });

  it('sets delta bits on changes, TERI only on RI trailing edge; MSR read clears them', () => {
    const { rd, wr } = make();
    wr(MCR, LOOP); // CTS, DSR, DCD fall from the connected-terminal state
    expect(rd(MSR)).toBe(0x0b);
    expect(rd(MSR)).toBe(0x00);
    wr(MCR, LOOP | RTS);
    expect(rd(MSR)).toBe(0x11); // CTS | DCTS
    wr(MCR, LOOP | RTS | DTR);
    expect(rd(MSR)).toBe(0x32); // CTS|DSR | DDSR
    wr(MCR, LOOP | RTS | DTR | OUT1);
    expect(rd(MSR)).toBe(0x70); // RI rising: no TERI
    wr(MCR, LOOP | RTS | DTR);
    expect(rd(MSR)).toBe(0x34); // RI falling: TERI
    wr(MCR, LOOP | RTS | DTR | OUT2);
    expect(rd(MSR)).toBe(0xb8); // DCD | DDCD
    wr(MCR, 0); // back to the terminal: CTS/DSR/DCD unchanged, no deltas
    expect(rd(MSR)).toBe(0xb0);
  });

  it('raises the modem status interrupt and clears it on MSR read', () => {
    const { irq, rd, wr } = make();
    wr(IER, 0x08);
    wr(MCR, OUT2);
    expect(irq.level).toBe(false);
    wr(MCR, LOOP | OUT2 | RTS); // CTS and DCD stay asserted, DSR falls
    expect(irq.level).toBe(true);
    expect(rd(IIR)).toBe(0x00);
    expect(rd(MSR)).toBe(0x92); // CTS|DCD | DDSR
    expect(irq.level).toBe(false);
    expect(rd(IIR)).toBe(0x01);
  });
});

describe('Uart16550 Linux 8250 autoconfig probe', () => {
  it('is detected as a 16550A', () => {
    const { irq, sink, rd, wr } = make();
    // IER test: upper bits clear, lower four read back.
    const savedIer = rd(IER);
    wr(IER, 0);
    const scratch2 = rd(IER) & 0x0f;
    wr(IER, 0x0f);
    const scratch3 = rd(IER) & 0x0f;
    wr(IER, savedIer);
    expect(scratch2).toBe(0);
    expect(scratch3).toBe(0x0f);

    const saveMcr = rd(MCR);
    const saveLcr = rd(LCR);
    // Loopback test: LOOP | RTS | OUT2 gives CTS | DCD.
    wr(MCR, LOOP | 0x0a);
    const status1 = rd(MSR) & 0xf0;
    wr(MCR, saveMcr);
    expect(status1).toBe(0x90);
    // All outputs looped.
    wr(MCR, 0x1f);
    expect(rd(MSR) & 0xf0).toBe(0xf0);
    wr(MCR, saveMcr);

    // EFR probe (LCR = 0xBF): on a 16550A offset 2 is still FCR/IIR.
    wr(LCR, 0xbf);
    wr(2, 0);
    wr(LCR, 0);
    // FIFO test.
    wr(FCR, 0x01);
    expect(rd(IIR) >> 6).toBe(3);
    // autoconfig_16550a: no EFR (reads IIR, non-zero), no 64-byte FIFO (IIR bit 5 clear).
    wr(LCR, 0xbf);
    expect(rd(2)).not.toBe(0);
    wr(LCR, 0);
    wr(FCR, 0x21);
    expect(rd(IIR) & 0x20).toBe(0);
    wr(FCR, 0x01);
    wr(LCR, 0x80);
    wr(FCR, 0x21);
    expect(rd(IIR) & 0x20).toBe(0);
    wr(LCR, 0);
    // No UUE bit (XScale) in IER.
    wr(IER, 0x40);
    expect(rd(IER) & 0x40).toBe(0);
    wr(IER, 0);
    // Older detection: FCR = 0xE7 or 0xC1, then IIR bits 7:6.
    wr(FCR, 0xe7);
    expect(rd(IIR) & 0xc0).toBe(0xc0);
    wr(FCR, 0xc1);
    expect(rd(IIR) & 0xc0).toBe(0xc0);
    // Scratch register holds values (8250 vs 16450 test).
    wr(SCR, 0xa5);
    expect(rd(SCR)).toBe(0xa5);
    wr(SCR, 0x5a);
    expect(rd(SCR)).toBe(0x5a);

    // Restore and clear, as autoconfig does.
    wr(LCR, saveLcr);
    wr(MCR, saveMcr);
    wr(FCR, 0x07);
    wr(FCR, 0);
    rd(RBR);
    wr(IER, 0);
    expect(rd(LSR)).toBe(0x60);
    expect(rd(IIR)).toBe(0x01);
    expect(sink.bytes).toEqual([]);
    expect(irq.changes).toEqual([]);

    // serial8250_startup's THRE test: enabling THRI yields a THRE interrupt in IIR, twice.
    wr(IER, 0);
    wr(IER, 0x02);
    const iir1 = rd(IIR);
    wr(IER, 0);
    wr(IER, 0x02);
    const iir2 = rd(IIR);
    wr(IER, 0);
    expect(iir1 & 0x01).toBe(0);
    expect(iir2 & 0x01).toBe(0);
  });
});

describe('Uart16550 reset and snapshots', () => {
  it('reset() restores power-on state and lowers the line', () => {
    const { irq, uart, rd, wr } = make();
    wr(FCR, 0x01);
    wr(MCR, OUT2);
    wr(IER, 0x0f);
    uart.receive(Uint8Array.of(1, 2));
    expect(irq.level).toBe(true);
    uart.reset();
    expect(irq.level).toBe(false);
    expect(rd(IIR)).toBe(0x01);
    expect(rd(LSR)).toBe(0x60);
    expect(rd(MCR)).toBe(0);
    expect(rd(IER)).toBe(0);
    expect(uart.rxSpace()).toBe(1);
  });

  it('saves and restores all state including FIFO contents, re-raising the line', () => {
    const a = make();
    a.wr(LCR, 0x83);
    a.wr(DLL, 0x01);
    a.wr(DLM, 0x00);
    a.wr(LCR, 0x03);
    a.wr(FCR, 0x81);
    a.wr(SCR, 0x77);
    a.wr(MCR, LOOP | OUT2 | RTS);
    a.wr(THR, 0x10);
    a.wr(THR, 0x11);
    a.wr(MCR, OUT2 | RTS | DTR);
    a.uart.receive(Uint8Array.of(0x12, 0x13));
    a.wr(IER, 0x0f);
    a.clock.t = 1_000_000;
    a.rd(RBR); // 0x10 read; FIFO holds 0x11 (looped back), 0x12 0x13 (host)
    a.rd(LSR);
    a.rd(LSR);
    const saved = JSON.parse(JSON.stringify(a.uart.save())) as DeviceState;
    expect(saved.kind).toBe('uart16550');
    expect(saved.version).toBe(2);

    const b = make();
    b.uart.restore(saved);
    expect(b.uart.save()).toEqual(saved);
    expect(b.uart.hostUnread).toBe(2);
    expect(b.irq.changes).toEqual([true]);
    expect(b.rd(LCR)).toBe(0x03);
    expect(b.rd(MCR)).toBe(OUT2 | RTS | DTR);
    expect(b.rd(IER)).toBe(0x0f);
    expect(b.rd(SCR)).toBe(0x77);
    b.clock.t = 1_000_000 + timeout(10, 1); // the timer restarted at the read, 8N1 at 115200
    expect(b.rd(IIR)).toBe(0xcc); // 3 bytes below trigger 8
    expect(b.uart.rxSpace()).toBe(13);
    expect(b.rd(RBR)).toBe(0x11);
    expect(b.rd(RBR)).toBe(0x12);
    expect(b.rd(RBR)).toBe(0x13);
    expect(b.rd(RBR)).toBe(0x13); // empty: last byte
    // Modem deltas and THRE latch survived: THRE then modem status.
    expect(b.rd(IIR)).toBe(0xc2);
    expect(b.rd(IIR)).toBe(0xc0);
    expect(b.rd(MSR)).toBe(0xb0 | (a.rd(MSR) & 0x0f));
    b.wr(LCR, 0x83);
    expect(b.rd(DLL)).toBe(0x01);
    expect(b.rd(DLM)).toBe(0x00);
  });

  it('restores an idle state with the line low and rejects foreign state', () => {
    const a = make();
    const b = make();
    b.wr(MCR, OUT2);
    b.wr(IER, 0x02);
    expect(b.irq.level).toBe(true);
    b.uart.restore(a.uart.save());
    expect(b.irq.level).toBe(false);
    expect(() => b.uart.restore({ kind: 'i8254', version: 1 })).toThrow(/kind i8254/);
    expect(() => b.uart.restore({ ...a.uart.save(), version: 1 })).toThrow(/version 1/);
    expect(() => b.uart.restore({ ...a.uart.save(), rxFromHost: [1] })).toThrow(/malformed/);
    expect(() => b.uart.restore({ ...a.uart.save(), rx: [0, 0], rxFromHost: [0, 0] })).toThrow(/capacity/);
  });
});

/** A host feed that records what the UART hands back. */
class RecordingHost {
  readonly back: number[][] = [];
  putBack(bytes: Uint8Array): void {
    this.back.push([...bytes]);
  }
}

describe('Uart16550 host input: when the receiver is ready', () => {
  it('is not ready at power-on: IER = 0, no polling', () => {
    const { uart } = make();
    expect(uart.rxReady()).toBe(false);
  });

  it('is ready with the receive interrupt enabled and routed to the PIC (IER.RDI and OUT2)', () => {
    const { uart, wr } = make();
    wr(IER, 0x01);
    expect(uart.rxReady()).toBe(false); // OUT2 clear: the interrupt cannot reach the PIC
    wr(MCR, OUT2);
    expect(uart.rxReady()).toBe(true);
    wr(IER, 0x0e); // every other source, but not RDI
    expect(uart.rxReady()).toBe(false);
    wr(IER, 0x01);
    wr(MCR, DTR | RTS);
    expect(uart.rxReady()).toBe(false);
    wr(MCR, DTR | RTS | OUT2);
    expect(uart.rxReady()).toBe(true);
  });

  it('is ready while the guest polls LSR as a receiver does', () => {
    const { uart, rd, wr } = make();
    for (let i = 1; i < POLL_READS; i++) {
      rd(LSR);
      expect(uart.rxReady()).toBe(false);
    }
    rd(LSR);
    expect(uart.rxReady()).toBe(true);
    rd(LSR);
    expect(uart.rxReady()).toBe(true);
    // Reading the byte ends the poll: the next byte comes when it polls again.
    uart.receive(Uint8Array.of(0x41));
    rd(LSR);
    expect(uart.rxReady()).toBe(true);
    expect(rd(RBR)).toBe(0x41);
    expect(uart.rxReady()).toBe(false);
  });

  it('counts only LSR reads in a row: any other access starts the count again', () => {
    for (const off of [RBR, IER, IIR, LCR, MCR, MSR, SCR]) {
      const { uart, rd } = make();
      for (let i = 1; i < POLL_READS; i++) rd(LSR);
      rd(off);
      for (let i = 1; i < POLL_READS; i++) rd(LSR);
      expect(uart.rxReady(), `read of offset ${off}`).toBe(false);
    }
    for (const off of [THR, IER, FCR, LCR, MCR, LSR, MSR, SCR]) {
      const { uart, rd, wr } = make();
      for (let i = 1; i < POLL_READS; i++) rd(LSR);
      wr(off, 0);
      for (let i = 1; i < POLL_READS; i++) rd(LSR);
      expect(uart.rxReady(), `write of offset ${off}`).toBe(false);
    }
  });

  it("is not ready during Linux's console writes (IER = 0, LSR polled for THRE)", () => {
    const { uart, rd, wr } = make();
    wr(FCR, 0x81);
    wr(MCR, DTR | RTS | OUT2);
    for (let line = 0; line < 3; line++) {
      const ier = rd(IER);
      wr(IER, 0);
      // Byte by byte: wait for THRE, write THR.
      for (let i = 0; i < 20; i++) {
        rd(LSR);
        expect(uart.rxReady()).toBe(false);
        wr(THR, 0x61);
      }
      // Through the FIFO: the last THRE wait, then the final wait for BOTH_EMPTY.
      rd(LSR);
      rd(LSR);
      expect(uart.rxReady()).toBe(false);
      wr(IER, ier);
    }
  });

  it('is never ready in loopback, where SIN is disconnected', () => {
    const { uart, rd, wr } = make();
    wr(IER, 0x01);
    wr(MCR, LOOP | OUT2);
    for (let i = 0; i < 2 * POLL_READS; i++) rd(LSR);
    expect(uart.rxReady()).toBe(false);
    wr(MCR, OUT2);
    expect(uart.rxReady()).toBe(true);
  });
});

describe('Uart16550 host input: bytes the guest discards unread go back to the host', () => {
  it('counts host bytes until the guest reads them', () => {
    const { uart, rd, wr } = make();
    wr(FCR, 0x01);
    uart.receive(Uint8Array.of(1, 2, 3));
    expect(uart.hostUnread).toBe(3);
    rd(RBR);
    expect(uart.hostUnread).toBe(2);
    rd(RBR);
    rd(RBR);
    rd(RBR); // empty: nothing more
    expect(uart.hostUnread).toBe(0);
  });

  it('on an RX FIFO reset (FCR bit 1), in order, and not the bytes looped back', () => {
    const { uart, rd, wr } = make();
    const host = new RecordingHost();
    uart.host = host;
    wr(FCR, 0x01);
    uart.receive(Uint8Array.of(1, 2));
    wr(MCR, LOOP);
    wr(THR, 0x99);
    wr(MCR, 0);
    uart.receive(Uint8Array.of(3));
    expect(rd(RBR)).toBe(1);
    wr(FCR, 0x03);
    expect(host.back).toEqual([[2, 3]]);
    expect(uart.hostUnread).toBe(0);
    expect(rd(LSR) & 0x01).toBe(0);
    wr(FCR, 0x05); // clear XMIT only
    expect(host.back).toEqual([[2, 3]]);
  });

  it('on a switch between 16450 and FIFO mode, either way', () => {
    const { uart, wr } = make();
    const host = new RecordingHost();
    uart.host = host;
    uart.receive(Uint8Array.of(7)); // 16450 mode: RBR
    wr(FCR, 0x01);
    expect(host.back).toEqual([[7]]);
    uart.receive(Uint8Array.of(8, 9));
    wr(FCR, 0x81); // same mode, new trigger: kept
    expect(host.back).toEqual([[7]]);
    wr(FCR, 0x00);
    expect(host.back).toEqual([[7], [8, 9]]);
  });

  it('when a looped-back byte overwrites a host byte in RBR (16450 overrun)', () => {
    const { uart, rd, wr } = make();
    const host = new RecordingHost();
    uart.host = host;
    uart.receive(Uint8Array.of(0x41));
    wr(MCR, LOOP);
    wr(THR, 0x42);
    expect(host.back).toEqual([[0x41]]);
    expect(uart.hostUnread).toBe(0);
    expect(rd(LSR)).toBe(0x63); // the overrun the guest caused is still reported
    expect(rd(RBR)).toBe(0x42);
  });

  it('on a chip reset, and when the host detaches (keeping looped-back bytes)', () => {
    const a = make();
    const host = new RecordingHost();
    a.uart.host = host;
    a.uart.receive(Uint8Array.of(5));
    a.uart.reset();
    expect(host.back).toEqual([[5]]);
    expect(a.uart.hostUnread).toBe(0);

    const b = make();
    b.uart.host = host;
    b.wr(FCR, 0x01);
    b.uart.receive(Uint8Array.of(1));
    b.wr(MCR, LOOP);
    b.wr(THR, 0x77);
    b.wr(MCR, 0);
    b.uart.receive(Uint8Array.of(2));
    b.uart.detachHost();
    expect(host.back).toEqual([[5], [1, 2]]);
    expect(b.uart.host).toBe(null);
    expect(b.rd(RBR)).toBe(0x77);
    expect(b.rd(LSR) & 0x01).toBe(0);
  });
});

// Every access Linux 6.1's 8250 driver makes to COM1 from power-on until a process has opened the
// console (captured with `vmrun --trace io` booting images/linux/bzImage with the busybox
// initramfs; each console write shortened to two characters): early console setup, console
// writes (IER saved and cleared, LSR/THR, IER restored), the 16550A probe (IER 0x0F, FIFO
// tests and reset, an RBR read), console writes through the FIFO, then serial8250_startup
// (FIFO reset, the interrupt registers read, THRE tests, OUT2, the registers read again "for
// luck") and set_termios (IER = RLSI|RDI, divisor, FCR 0x01 then 0x81, DTR|RTS|OUT2).
const LINUX_OPEN =
  'w1=0 w3=93 w0=c w1=0 w3=13 w2=0 w4=1 ' +
  'r1 w1=0 r5 w0=4c r5 w0=69 r5 w1=0 r1 w1=0 r5 w0=42 r5 w0=49 r5 w1=0 ' +
  'r1 w1=0 r1 w1=f r1 w1=0 r4 r3 w3=bf w2=0 w3=0 w2=1 r2 w3=13 w4=1 w2=1 w2=7 w2=0 r0 w1=0 ' +
  'r1 w1=0 r5 w0=73 r5 w0=65 r5 w1=0 w4=1 r1 w1=0 r5 w0=46 r5 w0=72 r5 w1=0 ' +
  'r1 w1=5 r5 w0=46 r5 w0=72 r5 r5 w1=0 ' +
  'w2=1 w2=7 w2=0 r5 r0 r2 r6 r5 r5 w1=2 r2 w1=0 w1=2 r2 w1=0 w3=3 w4=9 w1=2 r5 r2 w1=0 r5 r0 r2 r6 ' +
  'w1=5 w3=93 w0=c w1=0 w3=13 w2=1 w2=81 w4=9 w4=b';

type Receiver = NonNullable<ConsoleInput['target']>;

/**
 * Plays LINUX_OPEN against a UART fed by a ConsoleInput (pumped after every access, as the run
 * loop does after every exit), then runs the receive interrupt handler until the line drops.
 * Returns what the handler received and the bytes the driver's own RBR reads took before.
 */
function linuxOpen(receiver: (uart: Uart16550) => Receiver, text: string) {
  const { irq, uart, rd, wr } = make();
  const input = new ConsoleInput();
  input.target = receiver(uart);
  input.push(new TextEncoder().encode(text)); // piped at time 0
  const discarded: number[] = [];
  const access = (op: string): void => {
    const m = /^([rw])(\d)(?:=([0-9a-f]+))?$/.exec(op);
    if (m === null) throw new Error(`bad op ${op}`);
    const off = Number(m[2]);
    if (m[1] === 'r') {
      const v = rd(off);
      if (off === RBR && v !== 0) discarded.push(v); // what a "for luck" read took
    } else {
      wr(off, parseInt(m[3], 16));
    }
    input.pump();
  };
  for (const op of LINUX_OPEN.split(' ')) access(op);
  const received: number[] = [];
  for (let irqs = 0; irq.level && irqs < 100; irqs++) {
    // serial8250_handle_irq: IIR, then LSR; serial8250_rx_chars: RBR while LSR.DR.
    rd(IIR);
    input.pump();
    let lsr = rd(LSR);
    input.pump();
    while (lsr & 0x01) {
      received.push(rd(RBR));
      input.pump();
      lsr = rd(LSR);
      input.pump();
    }
  }
  return { received: String.fromCharCode(...received), discarded: String.fromCharCode(...discarded), unread: input.unread };
}

describe('Uart16550 fed by ConsoleInput: Linux opening the console', () => {
  const text = 'echo vmrun-$((6*7))\nuname -m\npoweroff -f\n';

  it('delivers every byte piped at time 0 to the receive interrupt handler, in order', () => {
    const r = linuxOpen((u) => u, text);
    expect(r.discarded).toBe('');
    expect(r.received).toBe(text);
    expect(r.unread).toBe(0);
  });

  it('loses input to the FIFO resets and "for luck" reads when fed without the gate', () => {
    // The same UART, but a receiver that claims to be always ready (as before the gate).
    const ungated = (u: Uart16550): Receiver => ({
      receive: (b) => u.receive(b),
      rxSpace: () => u.rxSpace(),
      get hostUnread() {
        return u.hostUnread;
      },
      get host() {
        return u.host;
      },
      set host(h) {
        u.host = h;
      },
    });
    const r = linuxOpen(ungated, text);
    expect(r.discarded).not.toBe('');
    expect(r.discarded + r.received).toBe(text);
  });
});

describe('Uart16550 fed by ConsoleInput: holding, putting back, counting', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const drain = (rd: (o: number) => number) => {
    let s = '';
    while (rd(LSR) & 0x01) s += String.fromCharCode(rd(RBR));
    return s;
  };

  it('holds input while the receiver is not ready, then feeds it as far as the FIFO has room', () => {
    const { uart, rd, wr } = make();
    const input = new ConsoleInput();
    input.target = uart;
    input.push(bytes('0123456789abcdefXYZ'));
    wr(FCR, 0x01);
    input.pump();
    expect(uart.hostUnread).toBe(0);
    expect(input.pending).toBe(19);
    expect(input.unread).toBe(19);
    wr(MCR, OUT2);
    wr(IER, 0x01);
    input.pump();
    expect(uart.hostUnread).toBe(16);
    expect(input.pending).toBe(3);
    expect(input.unread).toBe(19);
    expect(drain(rd)).toBe('0123456789abcdef');
    input.pump();
    expect(drain(rd)).toBe('XYZ');
    expect(input.unread).toBe(0);
  });

  it('sends bytes the guest discarded again, before the rest, also from a partly sent chunk', () => {
    const { uart, rd, wr } = make();
    const input = new ConsoleInput();
    input.target = uart;
    wr(FCR, 0x01);
    wr(MCR, OUT2);
    wr(IER, 0x01);
    input.push(bytes('abcdefghijklmnopqrst'));
    input.push(bytes('uv'));
    input.pump(); // a..p in the FIFO, q..t and uv queued
    expect(rd(RBR)).toBe(0x61);
    wr(FCR, 0x03); // the guest resets its receiver: b..p come back
    expect(input.pending).toBe(21);
    expect(input.unread).toBe(21);
    input.pump();
    let got = 'a' + drain(rd);
    input.pump();
    got += drain(rd);
    expect(got).toBe('abcdefghijklmnopqrstuv');
  });

  it('takes back what a replaced receiver held (a machine reset under --reboot)', () => {
    const a = make();
    const b = make();
    const input = new ConsoleInput();
    input.target = a.uart;
    a.wr(MCR, OUT2);
    a.wr(IER, 0x01);
    input.push(bytes('xy'));
    input.pump(); // 16450 mode: x in RBR
    expect(a.uart.hostUnread).toBe(1);
    input.target = b.uart;
    expect(a.uart.host).toBe(null);
    expect(b.uart.host).toBe(input);
    expect(input.unread).toBe(2);
    b.wr(FCR, 0x01);
    b.wr(MCR, OUT2);
    b.wr(IER, 0x01);
    input.pump();
    expect(drain(b.rd)).toBe('xy');
  });
});
