import { describe, expect, it } from 'vitest';
import { BufferedSink, ConsoleInput, ConsoleMatcher, EscapeFilter, LineBuffer } from '../../src/vmm/console.js';

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

  it('drops output after the writer fails (a closed pipe)', () => {
    let calls = 0;
    const sink = new BufferedSink(() => {
      calls++;
      throw new Error('EPIPE');
    });
    sink.writeByte(1);
    sink.flush();
    sink.writeByte(2);
    sink.flush();
    expect(calls).toBe(1);
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
