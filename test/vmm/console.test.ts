import { describe, expect, it } from 'vitest';
import { closeSync, openSync } from 'node:fs';
import {
  BufferedSink,
  ConsoleInput,
  ConsoleMatcher,
  DEBUGCON_PREFIX,
  ESCAPE_HELP,
  ESCAPE_HELP_RAW,
  EscapeFilter,
  FdOutput,
  LineBuffer,
  StderrChannel,
  describeWriteError,
} from '../../src/vmm/console.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('BufferedSink', () => {
  it('hands output over in chunks, not per byte', () => {
    const chunks: string[] = [];
    const sink = new BufferedSink((c) => chunks.push(new TextDecoder().decode(c)));
    for (const b of bytes('hello\nworld')) sink.writeByte(b);
    expect(chunks).toEqual([]);
    sink.flush();
    sink.flush();
    expect(chunks).toEqual(['hello\nworld']);
    expect(sink.bytes).toBe(11);
  });

  it('flushes by itself when its buffer fills', () => {
    let total = 0;
    const sink = new BufferedSink((c) => (total += c.length));
    for (let i = 0; i < 70_000; i++) sink.writeByte(0x41);
    expect(total).toBe(65536);
    sink.flush();
    expect(total).toBe(70_000);
  });

  it('reports a writer that fails (a closed pipe) once, and writes nothing after it', () => {
    let calls = 0;
    const errors: unknown[] = [];
    const sink = new BufferedSink(() => {
      calls++;
      throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    });
    sink.onError = (e) => errors.push(e);
    sink.writeByte(1);
    sink.flush();
    sink.writeByte(2);
    sink.flush();
    expect(calls).toBe(1);
    expect(errors).toHaveLength(1);
    expect(sink.error).toBe(errors[0]);
    expect(describeWriteError(sink.error)).toBe('the reader closed the pipe (EPIPE)');
  });
});

/** A writeSync double: a pipe with `pipe.room` bytes free, EAGAIN when there are none. */
function fakeFd(pipe: { room: number }, fail?: () => NodeJS.ErrnoException | null) {
  const written: number[] = [];
  let calls = 0;
  const writeSync = (_fd: number, b: Uint8Array, off: number, len: number): number => {
    calls++;
    const e = fail?.() ?? null;
    if (e !== null) throw e;
    const n = Math.min(pipe.room, len);
    if (n === 0) throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
    pipe.room -= n;
    written.push(...b.subarray(off, off + n));
    return n;
  };
  return { written, writeSync, calls: () => calls };
}

describe('FdOutput', () => {
  it('keeps bytes a full non-blocking descriptor refused (EAGAIN), in order, and writes them later', () => {
    const pipe = { room: 3 };
    const fd = fakeFd(pipe);
    const out = new FdOutput(1, 'stdout', fd.writeSync);
    out.write(bytes('abcde'));
    out.write(bytes('fg'));
    expect(String.fromCharCode(...fd.written)).toBe('abc');
    expect(out.pending).toBe(4);
    expect(out.tryWrite()).toBe(false);
    pipe.room = 2;
    expect(out.tryWrite()).toBe(false);
    expect(String.fromCharCode(...fd.written)).toBe('abcde');
    pipe.room = 100;
    expect(out.tryWrite()).toBe(true);
    expect(String.fromCharCode(...fd.written)).toBe('abcdefg');
    expect(out.pending).toBe(0);
    expect(out.error).toBeNull();
  });

  it('drain() waits, sleeping between tries, until the descriptor takes the bytes', async () => {
    const pipe = { room: 0 };
    const fd = fakeFd(pipe);
    const out = new FdOutput(1, 'stdout', fd.writeSync);
    out.write(bytes('hello'));
    setTimeout(() => (pipe.room = 100), 30);
    const started = performance.now();
    expect(await out.drain(() => false)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(String.fromCharCode(...fd.written)).toBe('hello');
    expect(fd.calls()).toBeLessThan(12); // slept between tries, not a busy loop
  });

  it('drain() stops waiting when told to give up, and can wait for a low-water mark', async () => {
    const pipe = { room: 0 };
    const out = new FdOutput(1, 'stdout', fakeFd(pipe).writeSync);
    out.write(new Uint8Array(100));
    let tries = 0;
    expect(await out.drain(() => ++tries > 3)).toBe(false);
    expect(out.pending).toBe(100);
    pipe.room = 60;
    expect(await out.drain(() => false, 50)).toBe(true);
    expect(out.pending).toBe(40);
  });

  it('a write error ends the output: reported once, the queued and later bytes counted as lost', () => {
    let err: NodeJS.ErrnoException | null = null;
    const pipe = { room: 0 };
    const out = new FdOutput(1, 'stdout', fakeFd(pipe, () => err).writeSync);
    const errors: string[] = [];
    out.onError = (e) => errors.push(String(e.code));
    out.write(bytes('abc'));
    err = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    pipe.room = 10;
    out.write(bytes('de'));
    out.write(bytes('f'));
    expect(errors).toEqual(['ENOSPC']);
    expect(out.error?.code).toBe('ENOSPC');
    expect(out.lost).toBe(6);
    expect(out.pending).toBe(0);
  });

  it('sees ENOSPC from /dev/full at the write', () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const out = new FdOutput(fd, '/dev/full');
      out.write(bytes('lost'));
      expect(out.error?.code).toBe('ENOSPC');
      expect(describeWriteError(out.error)).toBe('no space left on the device (ENOSPC)');
    } finally {
      closeSync(fd);
    }
  });
});

describe('StderrChannel (vmrun and the debug console on one stderr)', () => {
  function channel() {
    const written: number[] = [];
    const out = new FdOutput(2, 'stderr', (_fd, b, off, len) => {
      written.push(...b.subarray(off, off + len));
      return len;
    });
    const ch = new StderrChannel(out);
    const guest = (s: string | number[]): void => {
      for (const b of typeof s === 'string' ? bytes(s) : s) ch.debugcon.writeByte(b);
    };
    const text = (): string => {
      ch.flush();
      return new TextDecoder().decode(new Uint8Array(written));
    };
    return { ch, guest, text };
  }

  it('marks each guest line, and ends a partial one before vmrun writes', () => {
    const { ch, guest, text } = channel();
    guest('vmrun: the guest wrote 0 to the exit port (exit status 0)\n{"status":0}\npartial');
    ch.line('vmrun: the real line');
    guest('more\n');
    expect(text()).toBe(
      `${DEBUGCON_PREFIX}vmrun: the guest wrote 0 to the exit port (exit status 0)\n${DEBUGCON_PREFIX}{"status":0}\n` +
        `${DEBUGCON_PREFIX}partial\nvmrun: the real line\n${DEBUGCON_PREFIX}more\n`,
    );
    for (const l of text().split('\n')) expect(l.startsWith('vmrun:') ? l : 'ok', l).toMatch(/^(ok|vmrun: the real line)$/);
  });

  it('takes CR LF as one line end and escapes what other readers take for a line break or a control', () => {
    const { ch, guest, text } = channel();
    guest('a\r\nb\rvmrun: x\n');
    guest([0x1b, 0x5b, 0x41, 0x7f, 0x0b, 0x0c, 0x09, 0x0a]); // ESC [ A, DEL, VT, FF, tab
    guest([0xc2, 0x85, 0x76, 0xe2, 0x80, 0xa8, 0x7b, 0xe2, 0x80, 0xa9, 0x0a]); // NEL v, U+2028 {, U+2029
    guest('é € ’ ©\n');
    guest([0x0d]);
    ch.close();
    expect(text()).toBe(
      `${DEBUGCON_PREFIX}a\n${DEBUGCON_PREFIX}b\\x0dvmrun: x\n` +
        `${DEBUGCON_PREFIX}\\x1b[A\\x7f\\x0b\\x0c\t\n` +
        `${DEBUGCON_PREFIX}\\u0085v\\u2028{\\u2029\n` +
        `${DEBUGCON_PREFIX}é € ’ ©\n` +
        `${DEBUGCON_PREFIX}\\x0d\n`,
    );
    // No line, split the way Python's str.splitlines() splits, starts with vmrun: or {.
    for (const l of text().split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/)) expect(l).not.toMatch(/^(vmrun:|\{)/);
  });

  it('shows bytes that are not valid UTF-8 as \\xNN (no C1 control for a Latin-1 reader)', () => {
    const { ch, guest, text } = channel();
    guest([0x85, 0x76, 0x0a]); // NEL alone: a line break to a Latin-1 reader
    guest([0xc3, 0x61, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf5, 0x80, 0x0a]); // cut, overlong, surrogate, F5
    guest([0xf0, 0x9f, 0x98, 0x80, 0x0a]); // U+1F600 passes
    guest([0xe2, 0x82]); // cut by vmrun's line
    ch.line('vmrun: x');
    expect(text()).toBe(
      `${DEBUGCON_PREFIX}\\x85v\n` +
        `${DEBUGCON_PREFIX}\\xc3a\\xc0\\xaf\\xed\\xa0\\x80\\xf5\\x80\n` +
        `${DEBUGCON_PREFIX}\u{1f600}\n` +
        `${DEBUGCON_PREFIX}\\xe2\\x82\nvmrun: x\n`,
    );
    for (const l of new TextDecoder('latin1').decode(bytes(text())).split(/[\n\r\v\f\x1c-\x1e\x85]/)) {
      expect(l).not.toMatch(/^(vmrun: [^x]|\{)/);
    }
  });

  it('holds a CR at a flush until the next byte says whether it ends the line', () => {
    const { ch, guest, text } = channel();
    guest('x\r');
    expect(text()).toBe(`${DEBUGCON_PREFIX}x`);
    guest('\n');
    expect(text()).toBe(`${DEBUGCON_PREFIX}x\n`);
    ch.line('vmrun: done');
    expect(text()).toBe(`${DEBUGCON_PREFIX}x\nvmrun: done\n`);
  });

  it('prints the Ctrl-A h help on a line of its own in a raw terminal', () => {
    expect(ESCAPE_HELP_RAW).toBe(`\r\n${ESCAPE_HELP}\r\n`);
  });
});

describe('ConsoleMatcher', () => {
  function feed(m: ConsoleMatcher, s: string): void {
    for (const b of bytes(s)) m.push(b);
  }

  it('matches --expect at a newline', () => {
    const hits: [number, string][] = [];
    const m = new ConsoleMatcher(/login:/, null, (status, reason) => hits.push([status, reason]));
    feed(m, 'booting\nwelcome, login: ');
    expect(hits).toEqual([]);
    m.check();
    expect(hits).toEqual([[0, 'the console output matched --expect /login:/']]);
    feed(m, 'login:\n');
    expect(hits).toHaveLength(1);
  });

  it('gives --fail-on priority and remembers it', () => {
    const hits: number[] = [];
    const m = new ConsoleMatcher(/done/, /FAIL/, (status) => hits.push(status));
    feed(m, 'test 1 FAIL\ndone\n');
    expect(hits).toEqual([1]);
    expect(m.matched).toBe('fail-on');
    expect(m.failMatched).toBe(true);
  });

  it('records a --fail-on match after an --expect match', () => {
    const hits: number[] = [];
    const m = new ConsoleMatcher(/ok/, /panic/, (status) => hits.push(status));
    feed(m, 'ok\n');
    feed(m, 'Kernel panic\n');
    expect(hits).toEqual([0]);
    expect(m.matched).toBe('expect');
    expect(m.failMatched).toBe(true);
  });

  it('decodes UTF-8 split across pushes', () => {
    const hits: number[] = [];
    const m = new ConsoleMatcher(/héllo/, null, (status) => hits.push(status));
    feed(m, 'héllo\n');
    expect(hits).toEqual([0]);
  });
});

describe('ConsoleInput', () => {
  it('feeds the UART as far as it has room and keeps the rest', () => {
    const q = new ConsoleInput();
    let space = 3;
    const got: number[] = [];
    q.target = {
      rxSpace: () => space,
      receive: (b) => {
        const n = Math.min(space, b.length);
        got.push(...b.subarray(0, n));
        space -= n;
        return n;
      },
    };
    let woke = 0;
    q.waker = () => woke++;
    q.push(bytes('abcde'));
    q.push(bytes('fg'));
    expect(woke).toBe(2);
    expect(q.pending).toBe(7);
    q.pump();
    expect(String.fromCharCode(...got)).toBe('abc');
    expect(q.pending).toBe(4);
    space = 16;
    q.pump();
    expect(String.fromCharCode(...got)).toBe('abcdefg');
    expect(q.pending).toBe(0);
    expect(q.open).toBe(true);
    q.end();
    expect(q.open).toBe(false);
  });
});

describe('EscapeFilter', () => {
  it('implements Ctrl-A x, Ctrl-A Ctrl-A and Ctrl-A h', () => {
    let quit = 0;
    let help = 0;
    const f = new EscapeFilter(() => quit++, () => help++);
    expect([...f.filter(new Uint8Array([0x61, 0x01, 0x01, 0x62]))]).toEqual([0x61, 0x01, 0x62]);
    expect([...f.filter(new Uint8Array([0x01, 0x68, 0x63]))]).toEqual([0x63]);
    expect(help).toBe(1);
    // An escape split across two reads.
    expect([...f.filter(new Uint8Array([0x64, 0x01]))]).toEqual([0x64]);
    expect([...f.filter(new Uint8Array([0x78, 0x65]))]).toEqual([]);
    expect(quit).toBe(1);
    expect([...f.filter(new Uint8Array([0x01, 0x7a]))]).toEqual([0x7a]);
  });
});

describe('LineBuffer', () => {
  it('joins lines into one write', () => {
    const writes: string[] = [];
    const lb = new LineBuffer((t) => writes.push(t));
    lb.push('a');
    lb.push('b');
    lb.flush();
    lb.flush();
    expect(writes).toEqual(['a\nb\n']);
  });
});
