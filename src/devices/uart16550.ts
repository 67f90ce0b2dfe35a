// National Semiconductor / TI PC16550D (16550A) UART with FIFOs, as a PC COM port; follows the
// TI "PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs" datasheet (SNLS378).
//
// Model notes (where an emulated line differs from a wire):
// - Transmission is instantaneous: a THR write hands the byte to the sink at once, so THR and
//   the transmitter shift register are always empty (LSR THRE|TEMT always set, TX FIFO empty).
// - Host input arrives in bursts: `receive()` puts bytes into the RX FIFO at one instant, as many
//   as it has room for, never more (host input never overruns). What the guest sees from then on
//   follows the datasheet: LSR.DR, the trigger levels, and the character timeout, which the
//   divisor latch and LCR time: in FIFO mode, with data in the RX FIFO and nothing received or
//   read for 4 character times (start + data + parity + stop bits at the programmed baud rate,
//   1.8432 MHz / 16 / divisor), IIR reports the timeout (0x0C) until the next RBR read.
// - Host input is always clean: parity, framing and break errors never occur; only overrun
//   (a byte looped back into a full receiver) sets an error bit. The break bit (LCR bit 6) reads
//   back but cannot be carried by a byte sink, and per the datasheet it acts on SOUT only, so it
//   is not looped back either.
// - The PC gates the INTR pin with OUT2 (MCR bit 3). We drive the IRQ line as
//   "interrupt pending && MCR.OUT2" in every mode, including loopback (where a real PC would see
//   the OUT2 pin forced inactive); nothing Linux or a BIOS does depends on that difference.
//
// The host side (vmrun's console input) is a terminal that sends only when the guest is ready to
// receive, which `rxReady()` tells it; the chip itself never sees the difference. Ready means:
// - not in loopback (SIN is disconnected there), and
// - either an interrupt-driven receiver: IER.RDI set and OUT2 set (the receive interrupt can
//   reach the PIC); Linux's 8250 driver gets there when a process opens the port, after its
//   FIFO resets and its "for luck" RBR reads, and clears IER around every console write;
// - or a polled receiver: POLL_READS reads of LSR in a row with no other access to the UART in
//   between. THRE and TEMT are always set here, so a guest that reads LSR again without having
//   done anything else waits for DR; Linux's transmit polling reads LSR at most twice in a row
//   (a console write through the FIFO: the last THRE wait, then BOTH_EMPTY).
// Host bytes the guest discards unread are handed back to the host (`host.putBack`), in order,
// to be received again: an RX FIFO reset (FCR bit 1, or a switch between 16450 and FIFO mode),
// a loopback byte overwriting RBR, a chip reset. So a FIFO reset while the gate is open never
// loses input, and no guest sequence can: the only other way a byte leaves is an RBR read.

import type { ByteSink, Clock, Device, DeviceState, IrqLine, RegisterDevice, TimedDevice } from './device.js';

// Register offsets (DLAB = 0 / DLAB = 1).
const UART_RX = 0; // RBR (read), THR (write); DLL when DLAB = 1
const UART_IER = 1; // DLM when DLAB = 1
const UART_IIR = 2; // IIR (read), FCR (write)
const UART_LCR = 3;
const UART_MCR = 4;
const UART_LSR = 5;
const UART_MSR = 6;
const UART_SCR = 7;

// IER
const UART_IER_RDI = 0x01;
const UART_IER_THRI = 0x02;
const UART_IER_RLSI = 0x04;
const UART_IER_MSI = 0x08;
const UART_IER_MASK = 0x0f; // bits 4-7 are always 0 on a 16550A

// IIR
const UART_IIR_NO_INT = 0x01;
const UART_IIR_MSI = 0x00;
const UART_IIR_THRI = 0x02;
const UART_IIR_RDI = 0x04;
const UART_IIR_RLSI = 0x06;
const UART_IIR_RX_TIMEOUT = 0x0c;
const UART_IIR_FIFO_ENABLED = 0xc0;

// FCR
const UART_FCR_ENABLE_FIFO = 0x01;
const UART_FCR_CLEAR_RCVR = 0x02;
const UART_FCR_DMA_SELECT = 0x08;
const UART_FCR_TRIGGER_MASK = 0xc0;

// LCR
const UART_LCR_WLEN_MASK = 0x03; // word length - 5
const UART_LCR_STOP = 0x04; // 2 stop bits (1.5 with 5-bit words)
const UART_LCR_PARITY = 0x08;
const UART_LCR_DLAB = 0x80;

// MCR
const UART_MCR_DTR = 0x01;
const UART_MCR_RTS = 0x02;
const UART_MCR_OUT1 = 0x04;
const UART_MCR_OUT2 = 0x08;
const UART_MCR_LOOP = 0x10;
const UART_MCR_MASK = 0x1f; // bits 5-7 are always 0 on a 16550A

// LSR
const UART_LSR_DR = 0x01;
const UART_LSR_OE = 0x02;
const UART_LSR_PE = 0x04;
const UART_LSR_FE = 0x08;
const UART_LSR_BI = 0x10;
const UART_LSR_THRE = 0x20;
const UART_LSR_TEMT = 0x40;
const UART_LSR_BRK_ERROR_BITS = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;

// MSR
const UART_MSR_DCTS = 0x01;
const UART_MSR_DDSR = 0x02;
const UART_MSR_TERI = 0x04;
const UART_MSR_DDCD = 0x08;
const UART_MSR_CTS = 0x10;
const UART_MSR_DSR = 0x20;
const UART_MSR_RI = 0x40;
const UART_MSR_DCD = 0x80;
const UART_MSR_DELTA_MASK = UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_TERI | UART_MSR_DDCD;
/** Modem inputs of a connected terminal outside loopback: CTS, DSR and DCD asserted, RI not. */
const MSR_LINES_CONNECTED = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;

const FIFO_SIZE = 16;
const FIFO_MASK = FIFO_SIZE - 1;
/** RX trigger level by FCR bits 7:6. */
const RX_TRIGGER = Uint8Array.of(1, 4, 8, 14);

/** The PC's UART clock: 1.8432 MHz, divided by 16 × the divisor latch for one bit time. */
const UART_CLOCK_HZ = 1_843_200;
/** The character timeout: 4 character times without a byte received or read. */
const TIMEOUT_CHARS = 4;
/** LSR reads in a row (no other UART access between them) that make a polled receiver. */
export const POLL_READS = 4;

const STATE_KIND = 'uart16550';
const STATE_VERSION = 2;

/** The host side feeding the receiver: takes back host bytes the guest discarded unread. */
export interface HostInput {
  putBack(bytes: Uint8Array): void;
}

export class Uart16550 implements RegisterDevice, Device, TimedDevice {
  private readonly irq: IrqLine;
  private readonly sink: ByteSink;
  private readonly clock: Clock;
  /** Where discarded host bytes go back to; null: nowhere (they were not the host's). */
  host: HostInput | null = null;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  /** FCR bits kept: ENABLE_FIFO, DMA_SELECT, trigger level (bits 7:6). Always 0 with FIFOs off. */
  private fcr = 0;
  private dll = 0;
  private dlm = 0;
  private scr = 0;
  /** Latched LSR error bits (OE/PE/FE/BI), cleared by an LSR read. */
  private lsrErrors = 0;
  /** MSR delta bits 0-3, cleared by an MSR read. */
  private msrDeltas = 0;
  /** Current modem-status inputs, MSR bits 4-7. */
  private msrLines = MSR_LINES_CONNECTED;
  /** THRE interrupt latch: set when THR empties or IER.THRI is enabled, cleared per datasheet. */
  private thriPending = false;

  /** Receiver FIFO ring (capacity 16 with FIFOs on, 1 otherwise: the RBR). */
  private readonly rxFifo = new Uint8Array(FIFO_SIZE);
  /** 1 where the byte at the same slot came from the host (`receive`), 0 if looped back. */
  private readonly rxFromHost = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** How many of the rxCount bytes came from the host. */
  private rxHostCount = 0;
  /** What RBR reads when the receiver is empty: the last byte read. */
  private lastRx = 0;
  /** Clock time of the last byte received into the RX FIFO or read from it (character timeout). */
  private rxIdleSince = 0;
  /** advance() has seen the current character timeout (nextDeadline then reports none). */
  private rxTimeoutSeen = false;
  /** 4 character times in ns, from LCR and the divisor latch. */
  private timeoutNs = 0;
  /** Consecutive LSR reads with no other UART access between them (saturates at POLL_READS). */
  private lsrPolls = 0;

  /** Level currently driven on the IRQ line. */
  private irqLevel = false;

  constructor(irq: IrqLine, sink: ByteSink, clock: Clock) {
    this.irq = irq;
    this.sink = sink;
    this.clock = clock;
    this.reset();
  }

  /** Power-on / master reset. Host bytes still in the receiver go back to the host. */
  reset(): void {
    this.clearRx();
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.fcr = 0;
    // The divisor latch is undefined at power-on; start at 12 (9600 baud from 1.8432 MHz).
    this.dll = 0x0c;
    this.dlm = 0;
    this.scr = 0;
    this.lsrErrors = 0;
    this.msrDeltas = 0;
    this.msrLines = MSR_LINES_CONNECTED;
    this.thriPending = false;
    this.rxFifo.fill(0);
    this.lastRx = 0;
    this.lsrPolls = 0;
    this.updateTiming();
    this.updateIrq();
  }

  read(offset: number, _size: number): number {
    if (offset === UART_LSR) {
      if (this.lsrPolls < POLL_READS) this.lsrPolls++;
    } else {
      this.lsrPolls = 0;
    }
    switch (offset) {
      case UART_RX:
        if (this.lcr & UART_LCR_DLAB) return this.dll;
        return this.readRbr();
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) return this.dlm;
        return this.ier;
      case UART_IIR:
        return this.readIir();
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR:
        return this.readLsr();
      case UART_MSR:
        return this.readMsr();
      case UART_SCR:
        return this.scr;
      default:
        throw new Error(`uart16550: read of register offset ${offset} (valid: 0..7)`);
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    this.lsrPolls = 0;
    switch (offset) {
      case UART_RX:
        if (this.lcr & UART_LCR_DLAB) {
          this.dll = v;
          this.updateTiming();
        } else {
          this.writeThr(v);
        }
        return;
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) {
          this.dlm = v;
          this.updateTiming();
        } else {
          this.writeIer(v);
        }
        return;
      case UART_IIR:
        this.writeFcr(v);
        return;
      case UART_LCR:
        this.lcr = v;
        this.updateTiming();
        return;
      case UART_MCR:
        this.writeMcr(v);
        return;
      case UART_LSR:
        // LSR is read-only on a PC (the datasheet reserves writes for factory test).
        return;
      case UART_MSR:
        // MSR is read-only; its inputs come from the modem lines (or MCR in loopback).
        return;
      case UART_SCR:
        this.scr = v;
        return;
      default:
        throw new Error(`uart16550: write of register offset ${offset} (valid: 0..7)`);
    }
  }

  /**
   * Host input (stdin) into the receiver FIFO, all at this instant; returns how many bytes were
   * accepted (at most `rxSpace()`).
   */
  receive(bytes: Uint8Array): number {
    const space = this.rxSpace();
    const n = bytes.length < space ? bytes.length : space;
    for (let i = 0; i < n; i++) {
      const slot = (this.rxHead + this.rxCount) & FIFO_MASK;
      this.rxFifo[slot] = bytes[i];
      this.rxFromHost[slot] = 1;
      this.rxCount++;
    }
    if (n > 0) {
      this.rxHostCount += n;
      this.restartTimeout();
      this.updateIrq();
    }
    return n;
  }

  /** Bytes the receiver can accept now (0 in loopback, where SIN is disconnected). */
  rxSpace(): number {
    if (this.mcr & UART_MCR_LOOP) return 0;
    return this.rxCapacity() - this.rxCount;
  }

  /** The guest is ready to receive host input (see the notes at the top of this file). */
  rxReady(): boolean {
    const mcr = this.mcr;
    if (mcr & UART_MCR_LOOP) return false;
    if (this.ier & UART_IER_RDI && mcr & UART_MCR_OUT2) return true;
    return this.lsrPolls >= POLL_READS;
  }

  /** Host bytes in the receiver that the guest has not read. */
  get hostUnread(): number {
    return this.rxHostCount;
  }

  /**
   * The host stops feeding this receiver (its machine is being replaced): host bytes the guest
   * has not read go back to the host, bytes looped back stay, and `host` is forgotten.
   */
  detachHost(): void {
    const host = this.host;
    this.host = null;
    if (host === null || this.rxHostCount === 0) return;
    const back = new Uint8Array(this.rxHostCount);
    let n = 0;
    let kept = 0;
    for (let i = 0; i < this.rxCount; i++) {
      const slot = (this.rxHead + i) & FIFO_MASK;
      if (this.rxFromHost[slot] !== 0) {
        back[n++] = this.rxFifo[slot];
      } else {
        const to = (this.rxHead + kept++) & FIFO_MASK;
        this.rxFifo[to] = this.rxFifo[slot];
        this.rxFromHost[to] = 0;
      }
    }
    this.rxCount = kept;
    this.rxHostCount = 0;
    host.putBack(back);
    this.updateIrq();
  }

  /** The character timeout, while one is running (FIFO mode, data, receive interrupt enabled). */
  nextDeadline(): number {
    if (this.rxTimeoutSeen || this.rxCount === 0) return Infinity;
    if (!(this.fcr & UART_FCR_ENABLE_FIFO) || !(this.ier & UART_IER_RDI)) return Infinity;
    return this.rxIdleSince + this.timeoutNs;
  }

  advance(now: number): void {
    if (this.rxCount > 0 && now >= this.rxIdleSince + this.timeoutNs) this.rxTimeoutSeen = true;
    this.updateIrq();
  }

  /** Recompute the interrupt output and drive the line only when its level changes. */
  updateIrq(): void {
    const level = this.pendingInterrupt() !== UART_IIR_NO_INT && (this.mcr & UART_MCR_OUT2) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.setLevel(level);
    }
  }

  save(): DeviceState {
    const rx: number[] = [];
    const rxFromHost: number[] = [];
    for (let i = 0; i < this.rxCount; i++) {
      rx.push(this.rxFifo[(this.rxHead + i) & FIFO_MASK]);
      rxFromHost.push(this.rxFromHost[(this.rxHead + i) & FIFO_MASK]);
    }
    return {
      kind: STATE_KIND,
      version: STATE_VERSION,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      fcr: this.fcr,
      dll: this.dll,
      dlm: this.dlm,
      scr: this.scr,
      lsrErrors: this.lsrErrors,
      msrDeltas: this.msrDeltas,
      thriPending: this.thriPending,
      lastRx: this.lastRx,
      rx,
      rxFromHost,
      rxIdleSince: this.rxIdleSince,
      rxTimeoutSeen: this.rxTimeoutSeen,
      lsrPolls: this.lsrPolls,
    };
  }

  restore(s: DeviceState): void {
    if (s.kind !== STATE_KIND || s.version !== STATE_VERSION) {
      throw new Error(
        `uart16550: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`,
      );
    }
    const rx = s.rx;
    const fromHost = s.rxFromHost;
    if (!Array.isArray(rx) || !Array.isArray(fromHost) || fromHost.length !== rx.length ||
        typeof s.thriPending !== 'boolean' || typeof s.rxTimeoutSeen !== 'boolean' ||
        typeof s.rxIdleSince !== 'number' || !Number.isFinite(s.rxIdleSince) ||
        typeof s.lsrPolls !== 'number' || !Number.isInteger(s.lsrPolls) || s.lsrPolls < 0 || s.lsrPolls > POLL_READS) {
      throw new Error('uart16550: malformed saved state (rx / rxFromHost / thriPending / timeout / lsrPolls)');
    }
    const fcr = byteField(s, 'fcr');
    const mcr = byteField(s, 'mcr');
    const capacity = fcr & UART_FCR_ENABLE_FIFO ? FIFO_SIZE : 1;
    if (rx.length > capacity) {
      throw new Error(`uart16550: saved RX FIFO holds ${rx.length} bytes, capacity ${capacity}`);
    }
    this.ier = byteField(s, 'ier') & UART_IER_MASK;
    this.lcr = byteField(s, 'lcr');
    this.mcr = mcr & UART_MCR_MASK;
    this.fcr = fcr & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
    this.dll = byteField(s, 'dll');
    this.dlm = byteField(s, 'dlm');
    this.scr = byteField(s, 'scr');
    this.lsrErrors = byteField(s, 'lsrErrors') & UART_LSR_BRK_ERROR_BITS;
    this.msrDeltas = byteField(s, 'msrDeltas') & UART_MSR_DELTA_MASK;
    this.thriPending = s.thriPending;
    this.lastRx = byteField(s, 'lastRx');
    this.msrLines = this.modemInputs();
    this.rxFifo.fill(0);
    this.rxFromHost.fill(0);
    this.rxHead = 0;
    this.rxCount = 0;
    this.rxHostCount = 0;
    for (let i = 0; i < rx.length; i++) {
      const b = rx[i];
      const h = fromHost[i];
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 0xff || (h !== 0 && h !== 1)) {
        throw new Error(`uart16550: malformed saved RX byte at ${i}`);
      }
      this.rxFifo[i] = b;
      this.rxFromHost[i] = h;
      this.rxCount++;
      this.rxHostCount += h;
    }
    this.rxIdleSince = s.rxIdleSince;
    this.rxTimeoutSeen = s.rxTimeoutSeen;
    this.lsrPolls = s.lsrPolls;
    this.updateTiming();
    // Re-derive the line: drive it unconditionally so it matches the restored state.
    this.irqLevel =
      this.pendingInterrupt() !== UART_IIR_NO_INT && (this.mcr & UART_MCR_OUT2) !== 0;
    this.irq.setLevel(this.irqLevel);
  }

  // --- registers -------------------------------------------------------------------------------

  private readRbr(): number {
    if (this.rxCount === 0) return this.lastRx;
    const head = this.rxHead;
    const b = this.rxFifo[head];
    this.rxHostCount -= this.rxFromHost[head];
    this.rxHead = (head + 1) & FIFO_MASK;
    this.rxCount--;
    this.lastRx = b;
    // A read of the FIFO clears a timeout indication and restarts the timer.
    this.restartTimeout();
    this.updateIrq();
    return b;
  }

  private writeThr(v: number): void {
    // Writing THR clears the THRE interrupt; the byte leaves at once, so THR is empty again
    // and the THRE interrupt is raised anew.
    if (this.mcr & UART_MCR_LOOP) this.loopbackReceive(v);
    else this.sink.writeByte(v);
    this.thriPending = true;
    this.updateIrq();
  }

  /** A byte arriving from the transmitter in loopback: may overrun the receiver. */
  private loopbackReceive(v: number): void {
    if (this.rxCount < this.rxCapacity()) {
      const slot = (this.rxHead + this.rxCount) & FIFO_MASK;
      this.rxFifo[slot] = v;
      this.rxFromHost[slot] = 0;
      this.rxCount++;
      this.restartTimeout();
      return;
    }
    this.lsrErrors |= UART_LSR_OE;
    // 16450 mode: the new character overwrites RBR. FIFO mode: the character in the shift
    // register is overwritten and never reaches the FIFO.
    if (!(this.fcr & UART_FCR_ENABLE_FIFO)) {
      const head = this.rxHead;
      if (this.rxFromHost[head] !== 0) {
        this.rxFromHost[head] = 0;
        this.rxHostCount--;
        if (this.host !== null) this.host.putBack(this.rxFifo.slice(head, head + 1));
      }
      this.rxFifo[head] = v;
    }
  }

  private writeIer(v: number): void {
    const old = this.ier;
    this.ier = v & UART_IER_MASK;
    // Enabling THRI while THR is empty (always, here) raises the THRE interrupt.
    if (!(old & UART_IER_THRI) && this.ier & UART_IER_THRI) this.thriPending = true;
    this.updateIrq();
  }

  private readIir(): number {
    const id = this.pendingInterrupt();
    if (id === UART_IIR_THRI) {
      // Reading IIR while THRE is the reported source clears it.
      this.thriPending = false;
      this.updateIrq();
    }
    return this.fcr & UART_FCR_ENABLE_FIFO ? id | UART_IIR_FIFO_ENABLED : id;
  }

  private writeFcr(v: number): void {
    const enable = v & UART_FCR_ENABLE_FIFO;
    // Switching between 16450 and FIFO mode empties the FIFOs.
    if (enable !== (this.fcr & UART_FCR_ENABLE_FIFO)) this.clearRx();
    if (!enable) {
      // With FCR0 = 0 the other bits are not programmed.
      this.fcr = 0;
    } else {
      if (v & UART_FCR_CLEAR_RCVR) this.clearRx();
      // UART_FCR_CLEAR_XMIT (bit 2): the transmit FIFO is always empty (instant transmit).
      this.fcr = v & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
    }
    this.updateIrq();
  }

  /** Empties the receiver; host bytes in it go back to the host, oldest first. */
  private clearRx(): void {
    if (this.rxHostCount > 0 && this.host !== null) {
      const back = new Uint8Array(this.rxHostCount);
      let n = 0;
      for (let i = 0; i < this.rxCount; i++) {
        const slot = (this.rxHead + i) & FIFO_MASK;
        if (this.rxFromHost[slot] !== 0) back[n++] = this.rxFifo[slot];
      }
      this.host.putBack(back);
    }
    this.rxFromHost.fill(0);
    this.rxHead = 0;
    this.rxCount = 0;
    this.rxHostCount = 0;
    this.rxTimeoutSeen = false;
  }

  /** A byte entered or left the RX FIFO: the character timeout starts over. */
  private restartTimeout(): void {
    this.rxIdleSince = this.clock.now();
    this.rxTimeoutSeen = false;
  }

  /** Recomputes 4 character times from LCR and the divisor latch. */
  private updateTiming(): void {
    const lcr = this.lcr;
    const wordBits = 5 + (lcr & UART_LCR_WLEN_MASK);
    // 1.5 stop bits with 5-bit words, else 2, when LCR bit 2 is set.
    const stopBits = lcr & UART_LCR_STOP ? (wordBits === 5 ? 1.5 : 2) : 1;
    const bits = 1 + wordBits + (lcr & UART_LCR_PARITY ? 1 : 0) + stopBits;
    // The datasheet does not define divisor 0; a 16-bit down-counter reloaded with 0 divides
    // by 65536, which is what we assume.
    const divisor = (this.dlm << 8) | this.dll || 0x10000;
    this.timeoutNs = Math.ceil((TIMEOUT_CHARS * bits * 16 * divisor * 1e9) / UART_CLOCK_HZ);
  }

  private writeMcr(v: number): void {
    this.mcr = v & UART_MCR_MASK;
    const lines = this.modemInputs();
    const old = this.msrLines;
    const changed = old ^ lines;
    // DCTS/DDSR/DDCD on any change; TERI only on RI's trailing edge (1 -> 0).
    this.msrDeltas |=
      ((changed & (UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD)) >> 4) |
      ((old & ~lines & UART_MSR_RI) >> 4);
    this.msrLines = lines;
    this.updateIrq();
  }

  private readLsr(): number {
    const v =
      (this.rxCount > 0 ? UART_LSR_DR : 0) | this.lsrErrors | UART_LSR_THRE | UART_LSR_TEMT;
    if (this.lsrErrors !== 0) {
      this.lsrErrors = 0;
      this.updateIrq();
    }
    return v;
  }

  private readMsr(): number {
    const v = this.msrLines | this.msrDeltas;
    if (this.msrDeltas !== 0) {
      this.msrDeltas = 0;
      this.updateIrq();
    }
    return v;
  }

  // --- derived state ---------------------------------------------------------------------------

  private rxCapacity(): number {
    return this.fcr & UART_FCR_ENABLE_FIFO ? FIFO_SIZE : 1;
  }

  /** MSR bits 4-7: the modem inputs, or MCR looped back (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD). */
  private modemInputs(): number {
    const m = this.mcr;
    if (!(m & UART_MCR_LOOP)) return MSR_LINES_CONNECTED;
    return (
      (m & UART_MCR_RTS ? UART_MSR_CTS : 0) |
      (m & UART_MCR_DTR ? UART_MSR_DSR : 0) |
      (m & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
      (m & UART_MCR_OUT2 ? UART_MSR_DCD : 0)
    );
  }

  /** The highest-priority enabled interrupt source as IIR bits 3:0 (UART_IIR_NO_INT if none). */
  private pendingInterrupt(): number {
    const ier = this.ier;
    if (ier & UART_IER_RLSI && this.lsrErrors !== 0) return UART_IIR_RLSI;
    if (ier & UART_IER_RDI && this.rxCount > 0) {
      if (!(this.fcr & UART_FCR_ENABLE_FIFO)) return UART_IIR_RDI;
      if (this.rxCount >= RX_TRIGGER[this.fcr >> 6]) return UART_IIR_RDI;
      // Below the trigger level: the timeout, once 4 character times passed with no byte
      // received or read.
      if (this.clock.now() - this.rxIdleSince >= this.timeoutNs) return UART_IIR_RX_TIMEOUT;
    }
    if (ier & UART_IER_THRI && this.thriPending) return UART_IIR_THRI;
    if (ier & UART_IER_MSI && this.msrDeltas !== 0) return UART_IIR_MSI;
    return UART_IIR_NO_INT;
  }
}

function byteField(s: DeviceState, name: string): number {
  const v = s[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xff) {
    throw new Error(`uart16550: malformed saved state field ${name}`);
  }
  return v;
}
