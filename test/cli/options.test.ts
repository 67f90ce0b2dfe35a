import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RTC_MS,
  UsageError,
  parseAddress,
  parseCommandLine,
  parseRegex,
  parseRtc,
  parseSimple,
  parseSize,
  parseSuccess,
  parseTimeout,
  parseWithCommander,
  suggestOption,
} from '../../src/cli/options.js';

const env = { stdinIsTTY: false, nowMs: 1_700_000_000_000 };
const parse = (...args: string[]) => parseCommandLine(['node', 'vmrun', ...args], env, () => {});

function options(...args: string[]) {
  const r = parse(...args);
  if (r.kind !== 'run') throw new Error('expected options');
  return r.options;
}

describe('option values', () => {
  it('parses memory sizes; a bare number is MiB', () => {
    expect(parseSize('128M')).toBe(128 * 2 ** 20);
    expect(parseSize('128')).toBe(128 * 2 ** 20);
    expect(parseSize('1G')).toBe(2 ** 30);
    expect(parseSize('1gib')).toBe(2 ** 30);
    expect(parseSize('4096K')).toBe(4 * 2 ** 20);
    expect(parseSize('2M')).toBe(2 * 2 ** 20);
    expect(() => parseSize('1M')).toThrow(/too small/);
    expect(() => parseSize('4G')).toThrow(/too large/);
    expect(() => parseSize('2049K')).toThrow(/4 KiB/);
    expect(() => parseSize('lots')).toThrow(/not a size/);
  });

  it('parses addresses', () => {
    expect(parseAddress('0x7c00')).toBe(0x7c00);
    expect(parseAddress('1048576')).toBe(0x100000);
    expect(() => parseAddress('0x100000000')).toThrow();
    expect(() => parseAddress('-1')).toThrow();
  });

  it('parses regular expressions, with /re/flags', () => {
    expect(parseRegex('a.c').test('abc')).toBe(true);
    expect(parseRegex('/HELLO/i').test('hello')).toBe(true);
    expect(parseRegex('/a.b/s').test('a\nb')).toBe(true);
    expect(parseRegex('/^x$/m').test('y\nx\nz')).toBe(true);
    expect(parseRegex('/\\p{L}/u').test('é')).toBe(true);
    expect(parseRegex('/a/dv').flags).toBe('dv');
    expect(parseRegex('/usr').source).toBe('\\/usr'); // one slash: a plain pattern
    expect(() => parseRegex('(')).toThrow(/invalid regular expression/);
  });

  it('refuses the stateful flags g and y, and unknown flags, instead of taking them literally', () => {
    expect(() => parseRegex('/a/g')).toThrow(/flag g not allowed in \/a\/g: they make matching stateful/);
    expect(() => parseRegex('/a/iy')).toThrow(/flag y not allowed/);
    expect(() => parseRegex('/a/gy')).toThrow(/flags g and y not allowed/);
    expect(() => parseRegex('/a/x')).toThrow(/unknown flag x in \/a\/x/);
    expect(() => parseRegex('/a/b/c')).toThrow(/unknown flag c/);
    expect(() => parseRegex('/usr/bin')).toThrow(/unknown flags b, n in \/usr\/bin .*escape its slashes/);
    expect(() => parseRegex('/a/ii')).toThrow(/invalid regular expression/);
    expect(parseRegex('\\/a\\/g').test('/a/g')).toBe(true);
  });

  it('keeps a positive timeout positive', () => {
    expect(parseTimeout('0.0001')).toBe(0.0001);
    expect(parseTimeout('0')).toBe(0);
    expect(parseTimeout('2.5')).toBe(2.5);
    expect(() => parseTimeout('-1')).toThrow();
    expect(options('--kernel', 'k', '--timeout', '0.0001').timeoutMs).toBeGreaterThan(0);
    expect(options('--kernel', 'k', '--timeout', '0.0001').timeoutSec).toBe(0.0001);
  });

  it('parses --success rules', () => {
    expect(parseSuccess('exit-port')).toEqual({ kind: 'exit-port' });
    expect(parseSuccess('post:0x00')).toEqual({ kind: 'post', code: 0 });
    expect(parseSuccess('post:0xAa')).toEqual({ kind: 'post', code: 0xaa });
    expect(parseSuccess('post:255')).toEqual({ kind: 'post', code: 255 });
    for (const bad of ['post:256', 'post:0x100', 'post:', 'post', 'exitport', 'halt']) expect(() => parseSuccess(bad), bad).toThrow(/exit-port or post:CODE/);
    expect(options('--kernel', 'k').success).toEqual({ kind: 'any' });
  });

  it('parses RTC times as UTC', () => {
    expect(parseRtc('2000-01-01T00:00:00Z')).toBe(DEFAULT_RTC_MS);
    expect(parseRtc('2000-01-01')).toBe(DEFAULT_RTC_MS);
    expect(parseRtc('2000-01-01T01:00:00+01:00')).toBe(DEFAULT_RTC_MS);
    expect(parseRtc('2000-01-01 00:00:00')).toBe(DEFAULT_RTC_MS);
    expect(parseRtc('now')).toBe('now');
    expect(() => parseRtc('yesterday')).toThrow();
  });
});

describe('parseCommandLine', () => {
  it('applies the defaults', () => {
    const o = options('--kernel', 'k.bin');
    expect(o).toMatchObject({
      kernel: 'k.bin',
      append: undefined,
      memorySize: 128 * 2 ** 20,
      serial: { kind: 'stdio' },
      timeoutMs: 0,
      expect: null,
      failOn: null,
      trace: { exits: false, io: false, irq: false },
      stats: false,
      json: false,
      clock: 'virtual',
      rtcStartMs: DEFAULT_RTC_MS,
      reboot: false,
      exitPort: 'plain',
    });
    expect(o.loadAddr).toBeUndefined();
  });

  it('reads every option', () => {
    const o = options(
      '--kernel', 'k', '--initrd', 'i', '--append', 'console=ttyS0', '-m', '64M', '--serial', 'file:/tmp/x',
      '--timeout', '2.5', '--expect', 'ok', '--fail-on', '/panic/i', '--trace', 'io,irq', '--trace', 'exits',
      '--stats', '--json', '--clock', 'realtime', '--rtc', '2020-02-02T00:00:00Z', '--reboot', '--exit-port', 'qemu',
      '--load-addr', '0x100000', '--entry', '0x100010', '--bits', '32',
    );
    expect(o).toMatchObject({
      initrd: 'i', append: 'console=ttyS0', memorySize: 64 * 2 ** 20, serial: { kind: 'file', path: '/tmp/x' },
      timeoutMs: 2500, trace: { exits: true, io: true, irq: true }, stats: true, json: true, clock: 'realtime',
      rtcStartMs: Date.UTC(2020, 1, 2), reboot: true, exitPort: 'qemu', loadAddr: 0x100000, entry: 0x100010, bits: 32,
    });
    expect(o.failOn?.flags).toBe('i');
  });

  it('defaults to the realtime clock and host RTC time on an interactive terminal', () => {
    const r = parseCommandLine(['node', 'vmrun', '--kernel', 'k'], { ...env, stdinIsTTY: true }, () => {});
    expect(r.kind === 'run' && r.options.clock).toBe('realtime');
    expect(r.kind === 'run' && r.options.rtcStartMs).toBe(env.nowMs);
    const s = parseCommandLine(['node', 'vmrun', '--kernel', 'k', '--serial', 'none'], { ...env, stdinIsTTY: true }, () => {});
    expect(s.kind === 'run' && s.options.clock).toBe('virtual');
  });

  it('--no-reboot is the default and wins when last', () => {
    expect(options('--kernel', 'k', '--reboot', '--no-reboot').reboot).toBe(false);
  });

  it('prints help and version to the output callback', () => {
    let text = '';
    expect(parseCommandLine(['node', 'vmrun', '--help'], env, (s) => (text += s))).toEqual({ kind: 'exit', code: 0 });
    expect(text).toMatch(/Usage: vmrun/);
    expect(text).toMatch(/--kernel <file>/);
    text = '';
    expect(parseCommandLine(['node', 'vmrun', '--version'], env, (s) => (text += s))).toEqual({ kind: 'exit', code: 0 });
    expect(text.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('turns every usage problem into one UsageError line', () => {
    const bad: string[][] = [
      [],
      ['--kernel'],
      ['--kernel', 'k', '--bogus'],
      ['--kernel', 'k', 'extra'],
      ['--kernel', 'k', '-m', '1M'],
      ['--kernel', 'k', '--serial', 'tcp:1'],
      ['--kernel', 'k', '--clock', 'fast'],
      ['--kernel', 'k', '--trace', 'everything'],
      ['--kernel', 'k', '--timeout', 'soon'],
      ['--kernel', 'k', '--expect', '('],
      ['--kernel', 'k', '--bits', '64'],
      ['--kernel', 'k', '--rtc', 'noon'],
      ['--kernel', 'k', '--load-addr', 'here'],
      ['--kernel', 'k', '--expect', '/a/g'],
      ['--kernel', 'k', '--success', 'maybe'],
      ['--kernel', 'k', '--debugcon', 'stdout'],
      ['--kernel', 'k', '--json-file', ''],
    ];
    for (const args of bad) {
      let err: unknown;
      try {
        parse(...args);
      } catch (e) {
        err = e;
      }
      expect(err, args.join(' ')).toBeInstanceOf(UsageError);
      expect((err as Error).message, args.join(' ')).not.toMatch(/\n|^error:/);
    }
  });
});

describe('unknown options and stray words are named first', () => {
  const message = (...args: string[]): string => {
    try {
      parse(...args);
    } catch (e) {
      if (e instanceof UsageError) return e.message;
      throw e;
    }
    throw new Error('expected a UsageError');
  };

  it('names the unknown option and the one it likely means, before the missing --kernel', () => {
    expect(message('-kernel', 'x')).toBe("unknown option '-kernel' (did you mean --kernel?)");
    expect(message('--kernal', 'x')).toBe("unknown option '--kernal' (did you mean --kernel?)");
    expect(message('--kernal=x')).toBe("unknown option '--kernal=x' (did you mean --kernel?)");
    expect(message('--kernel', 'k', '--timout', '3')).toBe("unknown option '--timout' (did you mean --timeout?)");
    expect(message('--kernel', 'k', '--mem', '64M')).toBe("unknown option '--mem' (did you mean --memory?)");
    expect(message('--kernel', 'k', '--json-fil', 'x')).toBe("unknown option '--json-fil' (did you mean --json-file?)");
    expect(message('--kernel', 'k', '--frobnicate')).toBe("unknown option '--frobnicate'");
    expect(message('-x')).toBe("unknown option '-x'");
    expect(message('-hx')).toBe("unknown option '-hx'");
  });

  it('names a stray word, suggesting --kernel when it is missing', () => {
    expect(message('images/guests/hello.bin')).toBe("unexpected argument 'images/guests/hello.bin' (did you mean --kernel images/guests/hello.bin?)");
    expect(message('--kernel', 'k', 'extra')).toBe("unexpected argument 'extra'");
  });

  it('leaves values alone, even when they look like options', () => {
    expect(options('--kernel', 'k', '--append', '-kernel').append).toBe('-kernel');
    expect(options('--kernel', 'k', '-m', '64M').memorySize).toBe(64 * 2 ** 20);
    expect(options('--kernel', 'k', '-m64M').memorySize).toBe(64 * 2 ** 20);
    expect(message()).toBe("required option '--kernel <file>' not specified");
    expect(parse('--bogus', '--help')).toEqual({ kind: 'exit', code: 0 });
  });

  it('suggests nothing far-fetched', () => {
    const longs = ['--kernel', '--initrd', '--memory', '--stats'];
    expect(suggestOption('--kernl', longs)).toBe('--kernel');
    expect(suggestOption('--stat', longs)).toBe('--stats');
    expect(suggestOption('--zzz', longs)).toBeNull();
    expect(suggestOption('--', longs)).toBeNull();
  });
});

describe('the simple reader (commander is loaded only when it is needed)', () => {
  const commanderReads = (args: string[]): unknown => {
    try {
      return parseWithCommander(['node', 'vmrun', ...args], () => {});
    } catch (e) {
      return e instanceof UsageError ? 'usage error' : e;
    }
  };

  it('reads what it accepts exactly as commander does', () => {
    const lines: string[][] = [
      ['--kernel', 'k'],
      ['--kernel=k'],
      ['--kernel', 'k', '--kernel', 'k2'],
      ['--kernel', 'images/linux/bzImage', '--initrd', 'i.gz', '--append', 'console=ttyS0 -- restart', '-m', '128M', '--stats'],
      ['--kernel', 'k', '--memory', '64M', '--memory=32M', '-m', '1G'],
      ['--kernel', 'k', '--append', ''],
      ['--kernel', 'k', '--append', '--stats'],
      ['--kernel', 'k', '--append', '-m'],
      ['--kernel', 'k', '--append=a=b c'],
      ['--kernel', 'k', '--serial', 'file:/tmp/x', '--timeout', '2.5', '--expect', 'ok', '--fail-on', '/panic/i'],
      ['--kernel', 'k', '--trace', 'io,irq', '--trace', 'exits', '--trace=all'],
      ['--kernel', 'k', '--stats', '--json', '--stats'],
      ['--kernel', 'k', '--clock', 'realtime', '--clock=virtual', '--rtc', 'now'],
      ['--kernel', 'k', '--reboot'],
      ['--kernel', 'k', '--no-reboot'],
      ['--kernel', 'k', '--reboot', '--no-reboot'],
      ['--kernel', 'k', '--no-reboot', '--reboot'],
      ['--kernel', 'k', '--cpu', 'i486', '--exit-port', 'qemu', '--cpu=pentiumpro'],
      ['--kernel', 'k', '--load-addr', '0x100000', '--entry', '0x100010', '--bits', '32', '--bits=16'],
      ['--kernel', 'k', '-m', '1M', '--timeout', 'soon', '--rtc', 'noon'], // values are checked later, alike
      ['--kernel', 'k', '--debugcon', 'file:/tmp/d', '--json-file', '/dev/fd/3', '--success', 'post:0x00'],
      ['--kernel', 'k', '--debugcon=none', '--success=exit-port'],
    ];
    for (const args of lines) {
      const simple = parseSimple(args);
      expect(simple, args.join(' ')).not.toBeNull();
      expect(simple, args.join(' ')).toEqual(commanderReads(args));
    }
  });

  it('leaves everything else to commander', () => {
    const lines: string[][] = [
      [],
      ['--help'],
      ['-h'],
      ['--version'],
      ['-V'],
      ['--kernel'],
      ['--initrd', 'i'],
      ['--kernel', 'k', '--bogus'],
      ['--kernel', 'k', 'extra'],
      ['--kernel', 'k', '--'],
      ['--kernel', 'k', '-m64M'],
      ['--kernel', 'k', '-m=64M'],
      ['--kernel', 'k', '--stats=1'],
      ['--kernel', 'k', '--clock', 'fast'],
      ['--kernel', 'k', '--cpu=z80'],
      ['--kernel', 'k', '--bits', '64'],
      ['--kernel', 'k', '--trace', 'everything'],
      ['--kernel', 'k', '--append'],
      ['--kernel', 'k', '--Stats'],
      ['--kernel', 'k', '-'],
    ];
    for (const args of lines) expect(parseSimple(args), args.join(' ')).toBeNull();
  });
});
