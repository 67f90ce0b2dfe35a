// The host side of the serial console: buffered output (stdout, a file, or nowhere), matching of
// the output against --expect / --fail-on, and host input (stdin) queued for the guest's UART.
//
// Output is buffered and written in chunks (when the buffer fills, every ~20 ms from the run
// loop, and at the end), never one write per byte.
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

/** Where flushed output goes; null discards it. */
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
    } catch {
      // The reader went away (EPIPE) or the disk is full: keep running, drop the output.
      this.writer = null;
    }
  }
}

/** A sink that discards everything (COM2 when not configured). */
export const NULL_SINK: ByteSink = { writeByte(): void {} };

/** A writer to a stream such as process.stdout; write errors (EPIPE) disable it. */
export function streamWriter(stream: NodeJS.WritableStream): ChunkWriter {
  let broken = false;
  stream.on('error', () => {
    broken = true;
  });
  return (chunk) => {
    if (!broken) stream.write(chunk);
  };
}

/** A writer to a file (truncated at open); `close()` closes it. */
export function fileWriter(path: string): { writer: ChunkWriter; close(): void } {
  const fd = fs.openSync(path, 'w');
  let open = true;
  return {
    writer: (chunk) => {
      if (open) fs.writeSync(fd, chunk);
    },
    close: () => {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
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
