// Intel 8042 keyboard controller with a PS/2 (MF2) keyboard and a PS/2 mouse, as on PC/AT and
// PS/2 compatibles; follows the IBM PC AT and PS/2 Hardware Interface Technical References
// (keyboard/auxiliary device controller, keyboard and pointing-device command sets). Data port
// 0x60 = offset 0, command/status port 0x64 = offset 1.
//
// The controller command set is the PS/2 one (IBM Personal System/2 Hardware Interface Technical
// Reference, "Keyboard/Auxiliary Device Controller"): 0x20-0x3F read RAM, 0x60-0x7F write RAM,
// 0xA4-0xA6 password security, 0xA7-0xAB, 0xAD, 0xAE, 0xC0-0xC2 input port, 0xD0-0xD4, 0xE0 test
// inputs, 0xF0-0xFF pulse output port. Every other command byte (0x00-0x1F, 0x40-0x5F, 0x80-0xA3,
// 0xAC (the AT-only diagnostic dump, absent from the PS/2 set), 0xAF-0xBF, 0xC3-0xCF, 0xD5-0xDF,
// 0xE1-0xEF) is one the IBM references give no meaning; the model ignores it: no reply byte, no
// state change, except that it ends an unfinished command (as any command does) and sets status
// bit 3. That is what QEMU's i8042 does (hw/input/pckbd.c drops unknown commands with a log
// line); vendor extensions of AMI, Phoenix or HP controllers (0xA0/0xA1 copyright and version
// strings, 0xDD/0xDF A20 gating) are not part of the modelled part.
//
// Model notes:
// - Commands complete at once, so IBF (status bit 1) always reads 0.
// - Output comes from three sources: the controller's own replies (and the 0xD2/0xD3 loop-back
//   bytes), the keyboard and the mouse. Each has a queue; whenever the one-byte output buffer is
//   empty the controller moves the next byte into it, controller replies first, then keyboard
//   bytes while the keyboard interface is enabled (CTR bit 4 = 0), then mouse bytes while the
//   auxiliary interface is enabled (CTR bit 5 = 0). A queue that overflows drops the new byte
//   (a keyboard buffer overrun); only a guest that never reads can cause it.
// - IRQ1 is "output buffer full with keyboard data and CTR bit 0"; IRQ12 is "output buffer full
//   with auxiliary data and CTR bit 1". Reading port 0x60 empties the buffer (the line falls)
//   and the next byte, if any, is loaded at once (the line rises again: a fresh edge for the
//   edge-triggered PIC). Reading an empty buffer returns the last byte read.
// - Sending a byte to the keyboard (a port 0x60 write with no command pending) or to the mouse
//   (0xD4) clears that interface's disable bit in the CTR, as AMI-style controllers and QEMU do.
// - Reset state (no BIOS runs before the guest, so the controller is left as a PC BIOS leaves
//   it): CTR = 0x45 (keyboard interrupt enabled, system flag set because the power-on self-test
//   passed, scan-code translation on; auxiliary port enabled with its interrupt off), output
//   port 0xCF (reset line inactive, A20 enabled, clock/data lines high), no output pending.
//   The keyboard and mouse are in their power-on state; their power-on 0xAA is not queued.
// - The status register's system flag is CTR bit 2, as in the 8042 firmware; self-test (0xAA)
//   sets it.
// - Translation (CTR bit 6) is applied to the bytes the keyboard model can produce that the
//   8042 table changes: the ID byte 0x83 becomes 0x41 and a scan-code-set number 1/2/3 becomes
//   0x43/0x41/0x3F. ACK, BAT, echo, resend and the first ID byte are unchanged by the table.
//   There is no key input, so scan codes proper are never produced.
// - The mouse is a plain 3-byte PS/2 mouse (ID 0x00) that never moves: reset, identify, status
//   request, read data, enable/disable reporting, defaults, sample rate, resolution, scaling,
//   stream/remote and wrap modes are implemented. Unknown device commands answer 0xFE (resend),
//   as the devices do.
// - Output port writes (0xD1) call control.setA20 with bit 1 every time (each write is an explicit
//   gate setting) and bit 0 = 0 asks for a reset. Pulse commands 0xF0-0xFF: a 0 in bit 0 pulses
//   the reset line; pulses of the other lines are momentary and change nothing here.
// - The controller's 32-byte internal RAM is readable/writable with 0x20-0x3F/0x60-0x7F (byte 0
//   is the CTR).
// - Input port (0xC0): 0xBF. Bit 7 = 1 keyboard not inhibited (as status bit 4), bit 6 = 0 colour
//   primary display, bit 5 = 1 manufacturing jumper not installed, bit 4 = 1 (the AT's "512 KB on
//   the system board" jumper), bits 0-1 the keyboard and auxiliary data lines, idle high, bits 2-3
//   (reserved) high. 0xC1 / 0xC2 copy input port bits 0-3 / 4-7 into status bits 4-7; the
//   controller's firmware does that in a loop that ends when its input buffer fills, so the copy
//   lasts until the next write to either port (which is then handled as usual).
// - Test inputs (0xE0): bit 0 is T0, the keyboard clock line, bit 1 is T1, the auxiliary clock
//   line (PS/2); the controller holds a disabled interface's clock low, so each bit is 1 while its
//   interface is enabled (CTR bit 4 / bit 5 clear).
// - Password security: 0xA5 takes the bytes written to port 0x60 up to a 0 as the password (a
//   load ended by another command keeps the bytes so far); 0xA4 answers 0xFA when one is
//   installed, 0xF1 when not; 0xA6 turns security on only when one is installed. While it is on
//   the controller compares what the keyboard sends with the password instead of passing it on;
//   a keyboard byte arriving then is an error (the comparison is not modelled). This keyboard has
//   no keys, so only a reply to a command the guest sent it can arrive.
// - A 2- or 4-byte access is split into byte cycles by the ISA bus: only its low byte reaches
//   the addressed register. The upper bytes address the following ports (0x61.., 0x65..), which
//   are not this device's: they read as all ones and their writes are dropped.

import type { Device, DeviceState, IrqLine, MachineControl, RegisterDevice } from './device.js';

// Status register (port 0x64 read); names as in Linux's i8042.h.
const I8042_STR_OBF = 0x01;
const I8042_STR_SYSFLAG = 0x04;
const I8042_STR_CMDDAT = 0x08;
const I8042_STR_KEYLOCK = 0x10; // 1 = keyboard not inhibited
const I8042_STR_AUXDATA = 0x20;

// Controller command byte (CTR).
const I8042_CTR_KBDINT = 0x01;
const I8042_CTR_AUXINT = 0x02;
const I8042_CTR_SYSFLAG = 0x04;
const I8042_CTR_KBDDIS = 0x10;
const I8042_CTR_AUXDIS = 0x20;
const I8042_CTR_XLATE = 0x40;
const I8042_CTR_RESET_VALUE = I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_XLATE; // 0x45

// Output port.
const OUT_RESET = 0x01; // 0 = assert system reset
const OUT_A20 = 0x02;
const OUT_KBD_OBF = 0x10;
const OUT_AUX_OBF = 0x20;
const OUT_RESET_VALUE = 0xcf;

// Controller commands.
const CMD_READ_RAM = 0x20; // 0x20-0x3F
const CMD_WRITE_RAM = 0x60; // 0x60-0x7F
const CMD_PASSWORD_TEST = 0xa4;
const CMD_PASSWORD_LOAD = 0xa5;
const CMD_PASSWORD_ENABLE = 0xa6;
const CMD_AUX_DISABLE = 0xa7;
const CMD_AUX_ENABLE = 0xa8;
const CMD_AUX_TEST = 0xa9;
const CMD_CTL_TEST = 0xaa;
const CMD_KBD_TEST = 0xab;
const CMD_KBD_DISABLE = 0xad;
const CMD_KBD_ENABLE = 0xae;
const CMD_READ_INPORT = 0xc0;
const CMD_POLL_INPORT_LOW = 0xc1;
const CMD_POLL_INPORT_HIGH = 0xc2;
const CMD_READ_OUTPORT = 0xd0;
const CMD_WRITE_OUTPORT = 0xd1;
const CMD_KBD_LOOP = 0xd2;
const CMD_AUX_LOOP = 0xd3;
const CMD_AUX_SEND = 0xd4;
const CMD_READ_TEST_INPUTS = 0xe0;
const CMD_PULSE_BASE = 0xf0;

const CTL_TEST_OK = 0x55;
const PASSWORD_INSTALLED = 0xfa;
const PASSWORD_NOT_INSTALLED = 0xf1;

/** Input port: keyboard not inhibited, colour display, no manufacturing jumper, data lines high. */
const INPUT_PORT = 0xbf;
// Test inputs (0xE0).
const TEST_T0_KBD_CLOCK = 0x01;
const TEST_T1_AUX_CLOCK = 0x02;

// Status bits 4-7 while 0xC1 / 0xC2 copies input port bits into them.
const POLL_NONE = 0;
const POLL_LOW = 1;
const POLL_HIGH = 2;

// Device replies.
const ACK = 0xfa;
const RESEND = 0xfe;
const BAT_OK = 0xaa;
const KBD_ECHO = 0xee;

// Keyboard commands.
const KBD_CMD_SET_LEDS = 0xed;
const KBD_CMD_ECHO = 0xee;
const KBD_CMD_SCANSET = 0xf0;
const KBD_CMD_GETID = 0xf2;
const KBD_CMD_SET_REP = 0xf3;
const KBD_CMD_ENABLE = 0xf4;
const KBD_CMD_RESET_DIS = 0xf5;
const KBD_CMD_RESET_DEF = 0xf6;
const KBD_CMD_RESEND = 0xfe;
const KBD_CMD_RESET = 0xff;
const KBD_TYPEMATIC_DEFAULT = 0x2b; // 10.9 characters/s, 500 ms delay

// Mouse commands.
const AUX_CMD_SETSCALE11 = 0xe6;
const AUX_CMD_SETSCALE21 = 0xe7;
const AUX_CMD_SETRES = 0xe8;
const AUX_CMD_GETINFO = 0xe9;
const AUX_CMD_SETSTREAM = 0xea;
const AUX_CMD_READ_DATA = 0xeb;
const AUX_CMD_RESET_WRAP = 0xec;
const AUX_CMD_SET_WRAP = 0xee;
const AUX_CMD_SETPOLL = 0xf0; // remote mode
const AUX_CMD_GETID = 0xf2;
const AUX_CMD_SETRATE = 0xf3;
const AUX_CMD_ENABLE = 0xf4;
const AUX_CMD_DISABLE = 0xf5;
const AUX_CMD_RESET_DEF = 0xf6;
const AUX_CMD_RESEND = 0xfe;
const AUX_CMD_RESET_BAT = 0xff;
const AUX_RATE_DEFAULT = 100;
const AUX_RES_DEFAULT = 2; // 4 counts/mm

const QUEUE_SIZE = 64;

/** A fixed ring of bytes, each tagged "from the auxiliary device". */
class ByteQueue {
  readonly data = new Uint8Array(QUEUE_SIZE);
  readonly aux = new Uint8Array(QUEUE_SIZE);
  head = 0;
  count = 0;

  push(b: number, aux: boolean): void {
    if (this.count === QUEUE_SIZE) return; // overrun: the byte is lost
    const i = (this.head + this.count) % QUEUE_SIZE;
    this.data[i] = b;
    this.aux[i] = aux ? 1 : 0;
    this.count++;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  save(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) {
      const j = (this.head + i) % QUEUE_SIZE;
      out.push(this.data[j] | (this.aux[j] << 8));
    }
    return out;
  }

  restore(entries: unknown, what: string): void {
    if (!Array.isArray(entries) || entries.length > QUEUE_SIZE) throw new Error(`i8042: malformed saved ${what} queue`);
    this.clear();
    for (const e of entries) {
      if (typeof e !== 'number' || e !== (e & 0x1ff)) throw new Error(`i8042: malformed saved ${what} queue entry`);
      this.push(e & 0xff, (e & 0x100) !== 0);
    }
  }
}

export class I8042 implements RegisterDevice, Device {
  /** Internal RAM; byte 0 is the controller command byte (CTR). */
  private readonly ram = new Uint8Array(32);
  private outport = OUT_RESET_VALUE;
  /** Controller command waiting for its data byte on port 0x60, or 0. */
  private pendingCmd = 0;
  /** The last write went to the command port (status bit 3). */
  private lastWasCmd = false;
  /** 0xC1 / 0xC2 in progress: which input port nibble shows in status bits 4-7. */
  private pollInput = POLL_NONE;
  /** Password security (0xA4-0xA6): a password is stored / the comparison is on. */
  private passwordInstalled = false;
  private securityOn = false;

  // The output buffer.
  private obf = false;
  private obfAux = false;
  private obfByte = 0;
  private lastRead = 0;

  private readonly ctlQueue = new ByteQueue();
  private readonly kbdQueue = new ByteQueue();
  private readonly auxQueue = new ByteQueue();

  private irq1Level = false;
  private irq12Level = false;

  // Keyboard state.
  private kbdScanning = true;
  private kbdScanSet = 2;
  private kbdLeds = 0;
  private kbdTypematic = KBD_TYPEMATIC_DEFAULT;
  /** Keyboard command waiting for its argument byte, or 0. */
  private kbdPendingArg = 0;
  private kbdLastSent = ACK;

  // Mouse state.
  private auxReporting = false;
  private auxRemote = false;
  private auxWrap = false;
  private auxScale21 = false;
  private auxResolution = AUX_RES_DEFAULT;
  private auxRate = AUX_RATE_DEFAULT;
  /** Mouse command waiting for its argument byte, or 0. */
  private auxPendingArg = 0;
  private auxLastSent = ACK;

  constructor(
    private readonly control: MachineControl,
    private readonly irq1: IrqLine,
    private readonly irq12: IrqLine,
  ) {
    this.ram[0] = I8042_CTR_RESET_VALUE;
  }

  // ---- bus access ---------------------------------------------------------------------------

  read(offset: number, size: number): number {
    if (offset !== 0 && offset !== 1) throw new Error(`i8042: read at register offset ${offset} (valid: 0, 1)`);
    const v = offset === 0 ? this.readData() : this.readStatus();
    if (size === 1) return v;
    return (((size === 2 ? 0xffff : 0xffffffff) & ~0xff) | v) >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    if (offset !== 0 && offset !== 1) throw new Error(`i8042: write at register offset ${offset} (valid: 0, 1)`);
    if (offset === 0) this.writeData(value & 0xff);
    else this.writeCommand(value & 0xff);
  }

  private readStatus(): number {
    let v = I8042_STR_KEYLOCK;
    if (this.obf) v |= this.obfAux ? I8042_STR_OBF | I8042_STR_AUXDATA : I8042_STR_OBF;
    if (this.ram[0] & I8042_CTR_SYSFLAG) v |= I8042_STR_SYSFLAG;
    if (this.lastWasCmd) v |= I8042_STR_CMDDAT;
    if (this.pollInput !== POLL_NONE) {
      const nibble = this.pollInput === POLL_LOW ? INPUT_PORT & 0x0f : INPUT_PORT >>> 4;
      v = (v & 0x0f) | (nibble << 4);
    }
    return v;
  }

  private readData(): number {
    if (!this.obf) return this.lastRead;
    const v = this.obfByte;
    this.lastRead = v;
    this.obf = false;
    this.updateIrq(); // the line falls with OBF ...
    this.deliver(); // ... and rises again if another byte is waiting
    return v;
  }

  private writeData(v: number): void {
    this.lastWasCmd = false;
    this.pollInput = POLL_NONE;
    const cmd = this.pendingCmd;
    if (cmd !== 0) {
      this.pendingCmd = 0;
      if (cmd === CMD_PASSWORD_LOAD) {
        // Password bytes up to the terminating 0 (their values are not kept: see the notes).
        if (v !== 0) {
          this.passwordInstalled = true;
          this.pendingCmd = CMD_PASSWORD_LOAD;
        }
      } else if (cmd >= CMD_WRITE_RAM && cmd <= CMD_WRITE_RAM + 0x1f) {
        this.ram[cmd - CMD_WRITE_RAM] = v;
      } else if (cmd === CMD_WRITE_OUTPORT) {
        this.writeOutport(v);
      } else if (cmd === CMD_KBD_LOOP) {
        this.ctlQueue.push(v, false);
      } else if (cmd === CMD_AUX_LOOP) {
        this.ctlQueue.push(v, true);
      } else {
        // CMD_AUX_SEND
        this.ram[0] &= ~I8042_CTR_AUXDIS;
        this.auxWrite(v);
      }
    } else {
      this.ram[0] &= ~I8042_CTR_KBDDIS;
      this.kbdWrite(v);
    }
    this.deliver();
  }

  private writeCommand(v: number): void {
    this.lastWasCmd = true;
    this.pendingCmd = 0; // a new command abandons one still waiting for its data byte
    this.pollInput = POLL_NONE;
    if (v >= CMD_READ_RAM && v <= CMD_READ_RAM + 0x1f) {
      this.ctlQueue.push(this.ram[v - CMD_READ_RAM], false);
    } else if (
      (v >= CMD_WRITE_RAM && v <= CMD_WRITE_RAM + 0x1f) ||
      (v >= CMD_WRITE_OUTPORT && v <= CMD_AUX_SEND) ||
      v === CMD_PASSWORD_LOAD
    ) {
      this.pendingCmd = v;
    } else if (v >= CMD_PULSE_BASE) {
      if ((v & OUT_RESET) === 0) this.control.requestReset('i8042');
    } else {
      switch (v) {
        case CMD_PASSWORD_TEST:
          this.ctlQueue.push(this.passwordInstalled ? PASSWORD_INSTALLED : PASSWORD_NOT_INSTALLED, false);
          break;
        case CMD_PASSWORD_ENABLE:
          if (this.passwordInstalled) this.securityOn = true;
          break;
        case CMD_AUX_DISABLE:
          this.ram[0] |= I8042_CTR_AUXDIS;
          break;
        case CMD_AUX_ENABLE:
          this.ram[0] &= ~I8042_CTR_AUXDIS;
          break;
        case CMD_AUX_TEST:
        case CMD_KBD_TEST:
          this.ctlQueue.push(0x00, false); // no clock or data line stuck
          break;
        case CMD_CTL_TEST:
          this.ram[0] |= I8042_CTR_SYSFLAG;
          this.ctlQueue.push(CTL_TEST_OK, false);
          break;
        case CMD_KBD_DISABLE:
          this.ram[0] |= I8042_CTR_KBDDIS;
          break;
        case CMD_KBD_ENABLE:
          this.ram[0] &= ~I8042_CTR_KBDDIS;
          break;
        case CMD_READ_OUTPORT: {
          let p = this.outport & ~(OUT_KBD_OBF | OUT_AUX_OBF);
          if (this.obf) p |= this.obfAux ? OUT_AUX_OBF : OUT_KBD_OBF;
          this.ctlQueue.push(p, false);
          break;
        }
        case CMD_READ_INPORT:
          this.ctlQueue.push(INPUT_PORT, false);
          break;
        case CMD_POLL_INPORT_LOW:
          this.pollInput = POLL_LOW;
          break;
        case CMD_POLL_INPORT_HIGH:
          this.pollInput = POLL_HIGH;
          break;
        case CMD_READ_TEST_INPUTS: {
          const ctr = this.ram[0];
          const t0 = (ctr & I8042_CTR_KBDDIS) === 0 ? TEST_T0_KBD_CLOCK : 0;
          const t1 = (ctr & I8042_CTR_AUXDIS) === 0 ? TEST_T1_AUX_CLOCK : 0;
          this.ctlQueue.push(t0 | t1, false);
          break;
        }
        default:
          // A command the IBM references do not define: ignored (see the header).
          break;
      }
    }
    this.deliver();
  }

  private writeOutport(v: number): void {
    this.outport = v;
    this.control.setA20((v & OUT_A20) !== 0);
    if ((v & OUT_RESET) === 0) this.control.requestReset('i8042');
  }

  // ---- output buffer and interrupts -----------------------------------------------------------

  /** Fill an empty output buffer from the queues, then drive the IRQ lines. */
  private deliver(): void {
    if (!this.obf) {
      const ctr = this.ram[0];
      let q: ByteQueue | null = null;
      if (this.ctlQueue.count > 0) q = this.ctlQueue;
      else if (this.kbdQueue.count > 0 && (ctr & I8042_CTR_KBDDIS) === 0) {
        if (this.securityOn) {
          const b = this.kbdQueue.data[this.kbdQueue.head];
          throw new Error(
            `i8042: keyboard byte 0x${b.toString(16).padStart(2, '0')} arrived while password security (command 0xa6) is on; comparing it with the password is not modelled`,
          );
        }
        q = this.kbdQueue;
      }
      else if (this.auxQueue.count > 0 && (ctr & I8042_CTR_AUXDIS) === 0) q = this.auxQueue;
      if (q !== null) {
        this.obfByte = q.data[q.head];
        this.obfAux = q.aux[q.head] !== 0;
        q.head = (q.head + 1) % QUEUE_SIZE;
        q.count--;
        this.obf = true;
      }
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const ctr = this.ram[0];
    const l1 = this.obf && !this.obfAux && (ctr & I8042_CTR_KBDINT) !== 0;
    const l12 = this.obf && this.obfAux && (ctr & I8042_CTR_AUXINT) !== 0;
    if (l1 !== this.irq1Level) {
      this.irq1Level = l1;
      this.irq1.setLevel(l1);
    }
    if (l12 !== this.irq12Level) {
      this.irq12Level = l12;
      this.irq12.setLevel(l12);
    }
  }

  // ---- keyboard -------------------------------------------------------------------------------

  private kbdSend(b: number): void {
    this.kbdLastSent = b;
    this.kbdQueue.push(this.ram[0] & I8042_CTR_XLATE ? translate(b) : b, false);
  }

  private kbdDefaults(): void {
    this.kbdScanSet = 2;
    this.kbdTypematic = KBD_TYPEMATIC_DEFAULT;
  }

  private kbdWrite(v: number): void {
    const cmd = this.kbdPendingArg;
    if (cmd !== 0) {
      this.kbdPendingArg = 0;
      if (cmd === KBD_CMD_SCANSET) {
        if (v === 0) {
          this.kbdSend(ACK);
          this.kbdSend(this.kbdScanSet);
          return;
        }
        if (v <= 3) {
          this.kbdScanSet = v;
          this.kbdSend(ACK);
          return;
        }
      } else if ((v & 0x80) === 0) {
        if (cmd === KBD_CMD_SET_LEDS) this.kbdLeds = v & 0x07;
        else this.kbdTypematic = v; // KBD_CMD_SET_REP
        this.kbdSend(ACK);
        return;
      }
      // Not a valid argument: a byte with bit 7 set is taken as a new command, as the
      // keyboard does; anything else is refused.
      if ((v & 0x80) === 0) {
        this.kbdSend(RESEND);
        return;
      }
    }
    switch (v) {
      case KBD_CMD_SET_LEDS:
      case KBD_CMD_SET_REP:
      case KBD_CMD_SCANSET:
        this.kbdPendingArg = v;
        this.kbdSend(ACK);
        break;
      case KBD_CMD_ECHO:
        this.kbdSend(KBD_ECHO);
        break;
      case KBD_CMD_GETID:
        this.kbdSend(ACK);
        this.kbdSend(0xab);
        this.kbdSend(0x83);
        break;
      case KBD_CMD_ENABLE:
        this.kbdScanning = true;
        this.kbdSend(ACK);
        break;
      case KBD_CMD_RESET_DIS:
        this.kbdDefaults();
        this.kbdScanning = false;
        this.kbdSend(ACK);
        break;
      case KBD_CMD_RESET_DEF:
        this.kbdDefaults();
        this.kbdScanning = true;
        this.kbdSend(ACK);
        break;
      case KBD_CMD_RESEND:
        this.kbdQueue.push(this.ram[0] & I8042_CTR_XLATE ? translate(this.kbdLastSent) : this.kbdLastSent, false);
        break;
      case KBD_CMD_RESET:
        this.kbdDefaults();
        this.kbdLeds = 0;
        this.kbdScanning = true;
        this.kbdSend(ACK);
        this.kbdSend(BAT_OK);
        break;
      default:
        this.kbdSend(RESEND);
    }
  }

  // ---- mouse ----------------------------------------------------------------------------------

  private auxSend(b: number): void {
    this.auxLastSent = b;
    this.auxQueue.push(b, true);
  }

  private auxDefaults(): void {
    this.auxRate = AUX_RATE_DEFAULT;
    this.auxResolution = AUX_RES_DEFAULT;
    this.auxScale21 = false;
    this.auxReporting = false;
    this.auxRemote = false;
  }

  private auxWrite(v: number): void {
    if (this.auxWrap && v !== AUX_CMD_RESET_WRAP && v !== AUX_CMD_RESET_BAT) {
      this.auxSend(v); // wrap mode echoes everything but its two escapes
      return;
    }
    const cmd = this.auxPendingArg;
    if (cmd !== 0) {
      this.auxPendingArg = 0;
      if (cmd === AUX_CMD_SETRATE) {
        this.auxRate = v;
        this.auxSend(ACK);
      } else if (v <= 3) {
        this.auxResolution = v; // AUX_CMD_SETRES
        this.auxSend(ACK);
      } else {
        this.auxSend(RESEND);
      }
      return;
    }
    switch (v) {
      case AUX_CMD_SETSCALE11:
        this.auxScale21 = false;
        this.auxSend(ACK);
        break;
      case AUX_CMD_SETSCALE21:
        this.auxScale21 = true;
        this.auxSend(ACK);
        break;
      case AUX_CMD_SETRES:
      case AUX_CMD_SETRATE:
        this.auxPendingArg = v;
        this.auxSend(ACK);
        break;
      case AUX_CMD_GETINFO:
        this.auxSend(ACK);
        this.auxSend((this.auxRemote ? 0x40 : 0) | (this.auxReporting ? 0x20 : 0) | (this.auxScale21 ? 0x10 : 0));
        this.auxSend(this.auxResolution);
        this.auxSend(this.auxRate);
        break;
      case AUX_CMD_SETSTREAM:
        this.auxRemote = false;
        this.auxSend(ACK);
        break;
      case AUX_CMD_READ_DATA:
        this.auxSend(ACK);
        this.auxSend(0x08); // no buttons, no movement; bit 3 is always 1
        this.auxSend(0x00);
        this.auxSend(0x00);
        break;
      case AUX_CMD_RESET_WRAP:
        this.auxWrap = false;
        this.auxSend(ACK);
        break;
      case AUX_CMD_SET_WRAP:
        this.auxWrap = true;
        this.auxSend(ACK);
        break;
      case AUX_CMD_SETPOLL:
        this.auxRemote = true;
        this.auxSend(ACK);
        break;
      case AUX_CMD_GETID:
        this.auxSend(ACK);
        this.auxSend(0x00);
        break;
      case AUX_CMD_ENABLE:
        this.auxReporting = true;
        this.auxSend(ACK);
        break;
      case AUX_CMD_DISABLE:
        this.auxReporting = false;
        this.auxSend(ACK);
        break;
      case AUX_CMD_RESET_DEF:
        this.auxDefaults();
        this.auxSend(ACK);
        break;
      case AUX_CMD_RESEND:
        this.auxQueue.push(this.auxLastSent, true);
        break;
      case AUX_CMD_RESET_BAT:
        this.auxDefaults();
        this.auxWrap = false;
        this.auxSend(ACK);
        this.auxSend(BAT_OK);
        this.auxSend(0x00); // device ID
        break;
      default:
        this.auxSend(RESEND);
    }
  }

  // ---- life cycle -----------------------------------------------------------------------------

  reset(): void {
    this.ram.fill(0);
    this.ram[0] = I8042_CTR_RESET_VALUE;
    this.outport = OUT_RESET_VALUE;
    this.pendingCmd = 0;
    this.lastWasCmd = false;
    this.pollInput = POLL_NONE;
    this.passwordInstalled = false;
    this.securityOn = false;
    this.obf = false;
    this.obfAux = false;
    this.obfByte = 0;
    this.lastRead = 0;
    this.ctlQueue.clear();
    this.kbdQueue.clear();
    this.auxQueue.clear();
    this.kbdDefaults();
    this.kbdScanning = true;
    this.kbdLeds = 0;
    this.kbdPendingArg = 0;
    this.kbdLastSent = ACK;
    this.auxDefaults();
    this.auxWrap = false;
    this.auxPendingArg = 0;
    this.auxLastSent = ACK;
    this.updateIrq();
  }

  save(): DeviceState {
    return {
      kind: 'i8042',
      version: 2,
      ram: Array.from(this.ram),
      outport: this.outport,
      pendingCmd: this.pendingCmd,
      lastWasCmd: this.lastWasCmd,
      pollInput: this.pollInput,
      passwordInstalled: this.passwordInstalled,
      securityOn: this.securityOn,
      obf: this.obf,
      obfAux: this.obfAux,
      obfByte: this.obfByte,
      lastRead: this.lastRead,
      ctlQueue: this.ctlQueue.save(),
      kbdQueue: this.kbdQueue.save(),
      auxQueue: this.auxQueue.save(),
      kbdScanning: this.kbdScanning,
      kbdScanSet: this.kbdScanSet,
      kbdLeds: this.kbdLeds,
      kbdTypematic: this.kbdTypematic,
      kbdPendingArg: this.kbdPendingArg,
      kbdLastSent: this.kbdLastSent,
      auxReporting: this.auxReporting,
      auxRemote: this.auxRemote,
      auxWrap: this.auxWrap,
      auxScale21: this.auxScale21,
      auxResolution: this.auxResolution,
      auxRate: this.auxRate,
      auxPendingArg: this.auxPendingArg,
      auxLastSent: this.auxLastSent,
    };
  }

  /** Restores everything but the A20 gate and reset line, which are the machine's own state;
   * the IRQ lines are driven to match the restored output buffer. */
  restore(s: DeviceState): void {
    if (s.kind !== 'i8042' || s.version !== 2) {
      throw new Error(`i8042: cannot restore state of kind ${String(s.kind)} version ${String(s.version)}`);
    }
    const ram = s.ram;
    if (!Array.isArray(ram) || ram.length !== 32) throw new Error('i8042: malformed saved RAM');
    for (let i = 0; i < 32; i++) {
      const v: unknown = ram[i];
      if (typeof v !== 'number' || v !== (v & 0xff)) throw new Error(`i8042: malformed saved RAM byte at ${i}`);
    }
    const outport = byte(s, 'outport');
    const pendingCmd = byte(s, 'pendingCmd');
    const obfByte = byte(s, 'obfByte');
    const lastRead = byte(s, 'lastRead');
    const kbdScanSet = byte(s, 'kbdScanSet');
    const kbdLeds = byte(s, 'kbdLeds');
    const kbdTypematic = byte(s, 'kbdTypematic');
    const kbdPendingArg = byte(s, 'kbdPendingArg');
    const kbdLastSent = byte(s, 'kbdLastSent');
    const auxResolution = byte(s, 'auxResolution');
    const auxRate = byte(s, 'auxRate');
    const auxPendingArg = byte(s, 'auxPendingArg');
    const auxLastSent = byte(s, 'auxLastSent');
    const lastWasCmd = bool(s, 'lastWasCmd');
    const pollInput = byte(s, 'pollInput');
    if (pollInput > POLL_HIGH) throw new Error('i8042: malformed saved field pollInput');
    const passwordInstalled = bool(s, 'passwordInstalled');
    const securityOn = bool(s, 'securityOn');
    if (securityOn && !passwordInstalled) throw new Error('i8042: malformed saved field securityOn');
    const obf = bool(s, 'obf');
    const obfAux = bool(s, 'obfAux');
    const kbdScanning = bool(s, 'kbdScanning');
    const auxReporting = bool(s, 'auxReporting');
    const auxRemote = bool(s, 'auxRemote');
    const auxWrap = bool(s, 'auxWrap');
    const auxScale21 = bool(s, 'auxScale21');
    this.ctlQueue.restore(s.ctlQueue, 'controller');
    this.kbdQueue.restore(s.kbdQueue, 'keyboard');
    this.auxQueue.restore(s.auxQueue, 'auxiliary');
    for (let i = 0; i < 32; i++) this.ram[i] = ram[i] as number;
    this.outport = outport;
    this.pendingCmd = pendingCmd;
    this.lastWasCmd = lastWasCmd;
    this.pollInput = pollInput;
    this.passwordInstalled = passwordInstalled;
    this.securityOn = securityOn;
    this.obf = obf;
    this.obfAux = obfAux;
    this.obfByte = obfByte;
    this.lastRead = lastRead;
    this.kbdScanning = kbdScanning;
    this.kbdScanSet = kbdScanSet;
    this.kbdLeds = kbdLeds;
    this.kbdTypematic = kbdTypematic;
    this.kbdPendingArg = kbdPendingArg;
    this.kbdLastSent = kbdLastSent;
    this.auxReporting = auxReporting;
    this.auxRemote = auxRemote;
    this.auxWrap = auxWrap;
    this.auxScale21 = auxScale21;
    this.auxResolution = auxResolution;
    this.auxRate = auxRate;
    this.auxPendingArg = auxPendingArg;
    this.auxLastSent = auxLastSent;
    // Re-derive the lines: drive both unconditionally.
    const ctr = this.ram[0];
    this.irq1Level = obf && !obfAux && (ctr & I8042_CTR_KBDINT) !== 0;
    this.irq12Level = obf && obfAux && (ctr & I8042_CTR_AUXINT) !== 0;
    this.irq1.setLevel(this.irq1Level);
    this.irq12.setLevel(this.irq12Level);
  }

  // Read-only views for tests and monitors.
  /** Keyboard LED state last set with 0xED (bit 0 scroll, 1 num, 2 caps lock). */
  get keyboardLeds(): number {
    return this.kbdLeds;
  }
  /** Whether the keyboard is scanning (0xF4 / 0xF5). */
  get keyboardScanning(): boolean {
    return this.kbdScanning;
  }
  /** Keyboard typematic rate/delay byte last set with 0xF3. */
  get keyboardTypematic(): number {
    return this.kbdTypematic;
  }
}

/** The 8042's set-2 → set-1 translation for the bytes this keyboard model can send. */
function translate(b: number): number {
  switch (b) {
    case 0x01:
      return 0x43;
    case 0x02:
      return 0x41;
    case 0x03:
      return 0x3f;
    case 0x83:
      return 0x41;
    default:
      return b;
  }
}

function byte(s: DeviceState, name: string): number {
  const v = s[name];
  if (typeof v !== 'number' || v !== (v & 0xff)) throw new Error(`i8042: malformed saved field ${name}`);
  return v;
}

function bool(s: DeviceState, name: string): boolean {
  const v = s[name];
  if (typeof v !== 'boolean') throw new Error(`i8042: malformed saved field ${name}`);
  return v;
}
