// The host side of the serial console: buffered output (stdout, a file, or nowhere), matching of
// the output against --expect / --fail-on, and host input (stdin) queued for the guest's UART.
// Also the host side of vmrun's stderr, which the debug console (port 0xE9) may share.
//
// Output is buffered and written in chunks (when the buffer fills, every ~20 ms from the run
// loop, and at the end), never one write per byte. Every file descriptor is written with
// fs.writeSync, so that a write error (EPIPE, ENOSPC, EIO) is seen at once and reported: output
// that cannot be written is never dropped without a word. A descriptor that is non-blocking (a
// pipe a parent process made so) may refuse with EAGAIN: the bytes are then kept in order and
// written later, and the caller can wait for them (FdOutput.drain) without spinning.
//
// Interactive input (stdin is a terminal) goes through QEMU's escape character Ctrl-A:
//   Ctrl-A x        quit (vmrun exits with status 0)
//   Ctrl-A Ctrl-A   send one Ctrl-A to the guest
//   Ctrl-A h        print the escape keys on stderr
//   Ctrl-A <other>  send <other>
// Piped input is passed through untouched.

import * as fs from 'node:fs';
import type { ByteSink } from '../devices/device.js';
import type { ConsoleInputSource } from './runloop.js';

const OUT_BUFFER = 64 * 1024;

/** Where flushed output goes; null discards it. A writer may throw: the sink reports it. */
export type ChunkWriter = ((chunk: Uint8Array) => void) | null;

/** A byte sink that buffers and hands whole chunks to a writer. */
export class BufferedSink implements ByteSink {
  private readonly buf = new Uint8Array(OUT_BUFFER);
  private len = 0;
  private writer: ChunkWriter;
  /** Total bytes the guest wrote. */
  bytes = 0;
  /** Sees every byte (console matching); optional. */
  tap: ConsoleMatcher | null = null;
  /** The error the writer threw, if it did; output after it is not written. */
  error: unknown = null;
  /** Called once, with the error, when the writer throws. */
  onError: ((e: unknown) => void) | null = null;

  constructor(writer: ChunkWriter) {
    this.writer = writer;
  }

  writeByte(byte: number): void {
    const b = byte & 0xff;
    this.bytes++;
    if (this.writer !== null) {
      this.buf[this.len++] = b;
      if (this.len === OUT_BUFFER) this.flush();
    }
    if (this.tap !== null) this.tap.push(b);
  }

  flush(): void {
    if (this.len === 0 || this.writer === null) return;
    const chunk = this.buf.slice(0, this.len);
    this.len = 0;
    try {
      this.writer(chunk);
    } catch (e) {
      // The output is lost from here on: say so once, and stop trying.
      this.writer = null;
      this.error = e;
      if (this.onError !== null) this.onError(e);
    }
  }
}

/** A sink that discards everything (COM2 when not configured). */
export const NULL_SINK: ByteSink = { writeByte(): void {} };

/** What a failed write's error code means, in a few words. */
export function describeWriteError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'EPIPE':
      return 'the reader closed the pipe (EPIPE)';
    case 'ENOSPC':
      return 'no space left on the device (ENOSPC)';
    case 'EDQUOT':
      return 'disk quota exceeded (EDQUOT)';
    case 'EFBIG':
      return 'the file is too large (EFBIG)';
    case 'EIO':
      return 'input/output error (EIO)';
    case 'EBADF':
      return 'the descriptor is not open for writing (EBADF)';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/** Resolves after `ms` milliseconds (timers do not keep a finished process alive longer). */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Bytes for one file descriptor, written with fs.writeSync in the order given. A write error
 * other than EAGAIN ends the output (`error`, `onError`; the bytes still queued are `lost`).
 * EAGAIN (a non-blocking pipe that is full) keeps the bytes queued; `tryWrite()` and `drain()`
 * write them later.
 */
export class FdOutput {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already written. */
  private head = 0;
  private queued = 0;
  /** The write error that ended this output, if any. */
  error: NodeJS.ErrnoException | null = null;
  /** Bytes given to write() that were never written (after an error). */
  lost = 0;
  /** Called once, with the error, when a write fails. */
  onError: ((e: NodeJS.ErrnoException) => void) | null = null;

  constructor(
    readonly fd: number,
    /** For messages: "stdout", "/tmp/console.txt". */
    readonly name: string,
    private readonly writeSync: (fd: number, b: Uint8Array, off: number, len: number) => number = fs.writeSync,
  ) {}

  /** Bytes waiting to be written (the descriptor said EAGAIN). */
  get pending(): number {
    return this.queued;
  }

  /** Queue bytes and write as many as the descriptor takes now. The chunk is not copied. */
  write(chunk: Uint8Array): void {
    if (this.error !== null) {
      this.lost += chunk.length;
      return;
    }
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.tryWrite();
  }

  /** Write what is queued as far as the descriptor takes it now; true when nothing is left. */
  tryWrite(): boolean {
    while (this.chunks.length > 0) {
      const c = this.chunks[0];
      let n: number;
      try {
        n = this.writeSync(this.fd, c, this.head, c.length - this.head);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') return false;
        if (err.code === 'EINTR') continue;
        this.fail(err);
        return false;
      }
      if (n <= 0) return false; // nothing taken: as EAGAIN
      this.head += n;
      this.queued -= n;
      if (this.head >= c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return true;
  }

  /**
   * Wait until at most `below` bytes are queued, sleeping between tries (1 ms, doubling up to
   * 50 ms), or until `giveUp()` says to stop waiting. True when the queue got that short.
   */
  async drain(giveUp: () => boolean, below = 0): Promise<boolean> {
    let ms = 1;
    for (;;) {
      this.tryWrite();
      if (this.error !== null) return false;
      if (this.queued <= below) return true;
      if (giveUp()) return false;
      await sleep(ms);
      ms = Math.min(ms * 2, 50);
    }
  }

  private fail(e: NodeJS.ErrnoException): void {
    this.error = e;
    this.lost += this.queued;
    this.chunks.length = 0;
    this.head = 0;
    this.queued = 0;
    if (this.onError !== null) this.onError(e);
  }
}

/** A writer for a BufferedSink that queues on an FdOutput (which reports its own errors). */
export function fdWriter(out: FdOutput): ChunkWriter {
  return (chunk) => out.write(chunk);
}

/** What the debug console's lines start with when they share stderr with vmrun's own lines. */
export const DEBUGCON_PREFIX = 'debugcon: ';

const PREFIX_BYTES = new TextEncoder().encode(DEBUGCON_PREFIX);
const HEX = '0123456789abcdef';

/**
 * vmrun's stderr, shared by vmrun's own lines (stop line, JSON, stats, traces, messages) and,
 * with `--debugcon stderr`, the guest's port 0xE9 output. The guest cannot make a line that
 * looks like vmrun's: each of its lines starts with DEBUGCON_PREFIX, a partial line of it is
 * ended before vmrun writes, and every byte that some reader takes for a line break or a
 * terminal control (C0 controls but tab and LF, DEL, C1 controls, U+2028, U+2029) is shown as
 * an escape (\x0d, \u0085), as is every byte that is not valid UTF-8 (\x85 alone). CR LF counts
 * as one line end.
 */
export class StderrChannel {
  private buf = new Uint8Array(4096);
  private len = 0;
  /** A guest line is open: its prefix has been written, its newline not yet. */
  private guestLineOpen = false;
  /** A CR held back: CR LF is one line end, a CR alone is shown as an escape. */
  private heldCR = false;
  /** The bytes of a UTF-8 sequence not yet complete, its code point so far, and what it needs. */
  private held: number[] = [];
  private codePoint = 0;
  private continuations = 0;
  private minCodePoint = 0;
  private readonly encoder = new TextEncoder();

  constructor(private readonly out: FdOutput) {}

  /** The sink for port 0xE9. */
  readonly debugcon: ByteSink = {
    writeByte: (byte: number): void => this.guestByte(byte & 0xff),
  };

  /** vmrun's own text, whole lines; a guest line still open is ended first. */
  write(text: string): void {
    this.endGuestLine();
    this.push(this.encoder.encode(text));
  }

  /** One line of vmrun's own. */
  line(text: string): void {
    this.write(text + '\n');
  }

  /** Hand what is buffered to the descriptor (guest bytes held for the next byte stay held). */
  flush(): void {
    if (this.len === 0) return;
    const chunk = this.buf.slice(0, this.len);
    this.len = 0;
    this.out.write(chunk);
  }

  /** At the end: show held bytes, end an open guest line, and flush. */
  close(): void {
    this.endGuestLine();
    this.flush();
  }

  private endGuestLine(): void {
    if (this.heldCR) {
      this.heldCR = false;
      this.escapeByte(0x0d);
    }
    this.invalidSequence();
    if (this.guestLineOpen) {
      this.pushByte(10);
      this.guestLineOpen = false;
    }
  }

  /**
   * One byte of the guest's. UTF-8 is decoded as it comes: a complete character goes out as it
   * is, or as \uXXXX when it is a C1 control or a line or paragraph separator; bytes that are
   * not valid UTF-8 are shown as \xNN (so that a reader decoding Latin-1 sees no C1 control).
   */
  private guestByte(b: number): void {
    if (this.heldCR) {
      this.heldCR = false;
      if (b === 10) {
        this.guestNewline();
        return;
      }
      this.escapeByte(0x0d);
    }
    if (this.continuations > 0) {
      if ((b & 0xc0) === 0x80) {
        this.held.push(b);
        this.codePoint = (this.codePoint << 6) | (b & 0x3f);
        if (--this.continuations === 0) this.completeSequence();
        return;
      }
      this.invalidSequence();
    }
    if (b < 0x80) {
      if (b === 10) this.guestNewline();
      else if (b === 0x0d) this.heldCR = true;
      else if ((b < 0x20 && b !== 9) || b === 0x7f) this.escapeByte(b);
      else {
        this.openLine();
        this.pushByte(b);
      }
    } else if (b >= 0xc2 && b <= 0xdf) {
      this.startSequence(b, 1, b & 0x1f, 0x80);
    } else if (b >= 0xe0 && b <= 0xef) {
      this.startSequence(b, 2, b & 0x0f, 0x800);
    } else if (b >= 0xf0 && b <= 0xf4) {
      this.startSequence(b, 3, b & 0x07, 0x10000);
    } else {
      this.escapeByte(b); // a continuation byte alone, C0, C1, F5..FF: never valid here
    }
  }

  private startSequence(lead: number, continuations: number, bits: number, min: number): void {
    this.held.push(lead);
    this.continuations = continuations;
    this.codePoint = bits;
    this.minCodePoint = min;
  }

  private completeSequence(): void {
    const cp = this.codePoint;
    if (cp < this.minCodePoint || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      this.invalidSequence(); // overlong, a surrogate, or beyond Unicode
      return;
    }
    const held = this.held;
    this.held = [];
    if (cp <= 0x9f || cp === 0x2028 || cp === 0x2029) {
      this.escapeCodePoint(cp);
      return;
    }
    this.openLine();
    for (const x of held) this.pushByte(x);
  }

  /** Show the bytes of an incomplete or invalid sequence as \xNN. */
  private invalidSequence(): void {
    this.continuations = 0;
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    for (const x of held) this.escapeByte(x);
  }

  private guestNewline(): void {
    this.openLine();
    this.pushByte(10);
    this.guestLineOpen = false;
  }

  private openLine(): void {
    if (this.guestLineOpen) return;
    this.guestLineOpen = true;
    for (let i = 0; i < PREFIX_BYTES.length; i++) this.pushByte(PREFIX_BYTES[i]);
  }

  private escapeByte(b: number): void {
    this.openLine();
    this.pushAscii(`\\x${HEX[b >> 4]}${HEX[b & 15]}`);
  }

  private escapeCodePoint(cp: number): void {
    this.openLine();
    this.pushAscii(`\\u${cp.toString(16).padStart(4, '0')}`);
  }

  private pushAscii(text: string): void {
    for (let i = 0; i < text.length; i++) this.pushByte(text.charCodeAt(i));
  }

  private pushByte(b: number): void {
    if (this.len === this.buf.length) {
      if (this.len >= OUT_BUFFER) {
        this.flush();
      } else {
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf);
        this.buf = bigger;
      }
    }
    this.buf[this.len++] = b;
  }

  private push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.pushByte(bytes[i]);
  }
}

/** Characters of recent output kept for matching; a match must fit in this window. */
export const MATCH_WINDOW = 16 * 1024;

/**
 * Watches console output for --fail-on and --expect. It decodes output as UTF-8 and checks the
 * recent window at each newline and at each checkpoint; the first match calls `onMatch`
 * (status 1 for --fail-on, 0 for --expect). --fail-on is checked first.
 */
export class ConsoleMatcher {
  private readonly pendingBytes = new Uint8Array(4096);
  private n = 0;
  private text = '';
  private dirty = false;
  private readonly decoder = new TextDecoder('utf-8');
  /** Which pattern matched first, if any. */
  matched: 'expect' | 'fail-on' | null = null;
  /** --fail-on matched at some point (even after the run had already been told to stop). */
  failMatched = false;

  constructor(
    private readonly expect: RegExp | null,
    private readonly failOn: RegExp | null,
    private readonly onMatch: (status: number, reason: string) => void,
  ) {}

  push(b: number): void {
    if (this.n === this.pendingBytes.length) this.decodePending();
    this.pendingBytes[this.n++] = b;
    this.dirty = true;
    if (b === 10) this.check();
  }

  /** Match what arrived since the last check. */
  check(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.decodePending();
    if (this.failOn !== null && !this.failMatched && this.failOn.test(this.text)) {
      this.failMatched = true;
      if (this.matched === null) {
        this.matched = 'fail-on';
        this.onMatch(1, `the console output matched --fail-on ${String(this.failOn)}`);
      }
    }
    if (this.expect !== null && this.matched === null && this.expect.test(this.text)) {
      this.matched = 'expect';
      this.onMatch(0, `the console output matched --expect ${String(this.expect)}`);
    }
  }

  private decodePending(): void {
    if (this.n === 0) return;
    this.text += this.decoder.decode(this.pendingBytes.subarray(0, this.n), { stream: true });
    this.n = 0;
    if (this.text.length > 2 * MATCH_WINDOW) this.text = this.text.slice(-MATCH_WINDOW);
  }
}

/** What host input feeds: the console UART's receiver. */
export interface SerialReceiver {
  receive(bytes: Uint8Array): number;
  rxSpace(): number;
  /** The guest is ready to receive (the device decides from what the guest does); absent: always. */
  rxReady?(): boolean;
  /** Host bytes in the receiver the guest has not read yet; absent: none are kept. */
  readonly hostUnread?: number;
  /** Where the receiver hands back host bytes the guest discarded unread; set by ConsoleInput. */
  host?: { putBack(bytes: Uint8Array): void } | null;
  /** No longer fed (a new machine took over): hand back the host bytes not read, forget `host`. */
  detachHost?(): void;
}

/** Bytes pending above which stdin is paused, and below which it resumes. */
const INPUT_HIGH_WATER = 1024 * 1024;
const INPUT_LOW_WATER = 64 * 1024;

/**
 * Host input queued for the guest's UART. Bytes go in only while the receiver says it is ready,
 * as far as it has room; bytes the receiver hands back (the guest reset its FIFO before reading
 * them) go to the front of the queue, to be sent again.
 */
export class ConsoleInput implements ConsoleInputSource {
  private readonly chunks: Uint8Array[] = [];
  private offset = 0;
  private queued = 0;
  private ended = false;
  private receiver: SerialReceiver | null = null;
  waker: (() => void) | null = null;
  /** Called when the queue drains below the low-water mark after having been above it. */
  onLowWater: (() => void) | null = null;
  private high = false;

  get pending(): number {
    return this.queued;
  }

  /** Bytes the guest has not read: queued here and held in the receiver. */
  get unread(): number {
    const t = this.receiver;
    return this.queued + (t !== null ? (t.hostUnread ?? 0) : 0);
  }

  get target(): SerialReceiver | null {
    return this.receiver;
  }

  /** Connects a receiver; the one it replaces (a machine reset) hands back what it held unread. */
  set target(t: SerialReceiver | null) {
    const old = this.receiver;
    if (old === t) return;
    if (old !== null) {
      if (old.detachHost !== undefined) old.detachHost();
      else old.host = null;
    }
    this.receiver = t;
    if (t !== null) t.host = this;
  }

  /** Bytes the receiver discarded before the guest read them: they are sent again, first. */
  putBack(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.offset > 0) {
      this.chunks[0] = this.chunks[0].subarray(this.offset);
      this.offset = 0;
    }
    this.chunks.unshift(bytes.slice());
    this.queued += bytes.length;
  }

  get open(): boolean {
    return !this.ended;
  }

  /** True when the queue holds so much that the producer should pause. */
  get full(): boolean {
    return this.queued >= INPUT_HIGH_WATER;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.queued += bytes.length;
    if (this.queued >= INPUT_HIGH_WATER) this.high = true;
    const w = this.waker;
    if (w !== null) w();
  }

  /** No more input will come (stdin ended, or detached). */
  end(): void {
    this.ended = true;
    const w = this.waker;
    if (w !== null) w();
  }

  pump(): void {
    const t = this.receiver;
    if (t === null) return;
    if (t.rxReady !== undefined && !t.rxReady()) return;
    while (this.chunks.length > 0 && t.rxSpace() > 0) {
      const c = this.chunks[0];
      const accepted = t.receive(this.offset === 0 ? c : c.subarray(this.offset));
      if (accepted <= 0) break;
      this.offset += accepted;
      this.queued -= accepted;
      if (this.offset >= c.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    if (this.high && this.queued < INPUT_LOW_WATER) {
      this.high = false;
      if (this.onLowWater !== null) this.onLowWater();
    }
  }
}

const CTRL_A = 0x01;

export const ESCAPE_HELP = 'vmrun console: Ctrl-A x quit, Ctrl-A Ctrl-A send Ctrl-A, Ctrl-A h this help';
/**
 * The help as Ctrl-A h prints it: the terminal is in raw mode (LF does not return the carriage)
 * and the guest's line may be half written, so it starts on a line of its own and ends with CR LF.
 */
export const ESCAPE_HELP_RAW = `\r\n${ESCAPE_HELP}\r\n`;

/** Applies the Ctrl-A escapes to terminal input. */
export class EscapeFilter {
  private armed = false;

  constructor(
    private readonly onQuit: () => void,
    private readonly onHelp: () => void,
  ) {}

  /** The bytes to pass to the guest. */
  filter(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    let n = 0;
    for (let i = 0; i < data.length; i++) {
      const b = data[i];
      if (this.armed) {
        this.armed = false;
        if (b === 0x78 || b === 0x58) {
          this.onQuit();
          return out.subarray(0, n);
        }
        if (b === 0x68 || b === 0x48) {
          this.onHelp();
          continue;
        }
        out[n++] = b; // Ctrl-A Ctrl-A gives Ctrl-A; any other key passes
      } else if (b === CTRL_A) {
        this.armed = true;
      } else {
        out[n++] = b;
      }
    }
    return out.subarray(0, n);
  }
}

/** The subset of process.stdin used here (a tty.ReadStream when it is a terminal). */
type Stdin = NodeJS.ReadStream & { setRawMode?: (mode: boolean) => unknown; isRaw?: boolean };

/**
 * Connects process.stdin to a ConsoleInput: raw mode and Ctrl-A escapes on a terminal, plain
 * bytes from a pipe or file. `detach()` restores the terminal and releases stdin so the process
 * can exit; it also runs on process exit as a safety net.
 */
export class StdinConsole {
  private readonly stdin: Stdin;
  private attached = false;
  private rawSet = false;
  private readonly escapes: EscapeFilter | null;
  private readonly onData = (data: Buffer | string): void => {
    let bytes: Uint8Array = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.escapes !== null) bytes = this.escapes.filter(bytes);
    this.input.push(bytes);
    if (this.input.full) this.stdin.pause();
  };
  private readonly onEnd = (): void => {
    this.input.end();
  };
  private readonly onExit = (): void => {
    this.restoreTty();
  };

  constructor(
    private readonly input: ConsoleInput,
    options: { onQuit: () => void; onHelp: () => void; stdin?: Stdin },
  ) {
    this.stdin = options.stdin ?? (process.stdin as Stdin);
    this.escapes = this.stdin.isTTY ? new EscapeFilter(options.onQuit, options.onHelp) : null;
  }

  get interactive(): boolean {
    return this.escapes !== null;
  }

  attach(): void {
    if (this.attached) return;
    this.attached = true;
    const s = this.stdin;
    if (s.isTTY && typeof s.setRawMode === 'function') {
      s.setRawMode(true);
      this.rawSet = true;
      process.on('exit', this.onExit);
    }
    this.input.onLowWater = () => {
      if (this.attached) s.resume();
    };
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('error', this.onEnd);
    s.resume();
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    const s = this.stdin;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('error', this.onEnd);
    this.input.onLowWater = null;
    s.pause();
    this.restoreTty();
    process.off('exit', this.onExit);
    this.input.end();
  }

  private restoreTty(): void {
    if (this.rawSet && typeof this.stdin.setRawMode === 'function') {
      this.rawSet = false;
      try {
        this.stdin.setRawMode(false);
      } catch {
        // the terminal is gone
      }
    }
  }
}

/** Buffered text lines for stderr (trace output), flushed with the console. */
export class LineBuffer {
  private lines: string[] = [];
  constructor(private readonly write: (text: string) => void) {}
  readonly push = (line: string): void => {
    this.lines.push(line);
    if (this.lines.length >= 4096) this.flush();
  };
  flush(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    this.write(text);
  }
}
