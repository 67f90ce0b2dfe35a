// Command-line parsing for vmrun: commander declares the options, the parsers here turn their
// strings into checked values. Nothing here starts a machine, so `--help` and bad usage work
// even when the CPU core cannot be loaded.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { cpuModelNames, DEFAULT_CPU } from '../hv/cpu-models.js';

/** Guest RAM bounds, as in src/vmm/machine.ts (not imported: that module loads the core). */
export const MIN_MEMORY = 2 * 1024 * 1024;
export const MAX_MEMORY = 3 * 1024 * 1024 * 1024;
export const DEFAULT_MEMORY = '128M';
/** --rtc default in virtual clock mode: a fixed instant, so runs are reproducible. */
export const DEFAULT_RTC_MS = Date.UTC(2000, 0, 1, 0, 0, 0);

export type SerialBackend = { kind: 'stdio' } | { kind: 'file'; path: string } | { kind: 'none' };
export type TraceKind = 'exits' | 'io' | 'irq';

export interface CliOptions {
  kernel: string;
  initrd?: string;
  append?: string;
  memorySize: number;
  serial: SerialBackend;
  /** 0: no timeout. */
  timeoutMs: number;
  expect: RegExp | null;
  failOn: RegExp | null;
  trace: Record<TraceKind, boolean>;
  stats: boolean;
  json: boolean;
  clock: 'virtual' | 'realtime';
  rtcStartMs: number;
  reboot: boolean;
  exitPort: 'plain' | 'qemu';
  cpu: string;
  loadAddr?: number;
  entry?: number;
  bits?: 16 | 32;
}

/** Bad usage or bad input: the CLI prints the message on one line and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The package version, from package.json next to dist/ and src/. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const SIZE_UNITS: Record<string, number> = { '': 2 ** 20, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/**
 * A memory size: a number with an optional K, M or G suffix (binary units; "KiB", "MB" … are
 * accepted too). A bare number means MiB, as with QEMU's -m. Returns bytes.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`"${text}" is not a size (examples: 128M, 1G, 65536K)`);
  const bytes = Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()];
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`"${text}" is not a whole number of bytes`);
  if (bytes % 4096 !== 0) throw new InvalidArgumentError(`${text} is not a multiple of 4 KiB`);
  if (bytes < MIN_MEMORY) throw new InvalidArgumentError(`${text} is too small (at least ${MIN_MEMORY >> 20}M)`);
  if (bytes > MAX_MEMORY) throw new InvalidArgumentError(`${text} is too large (at most ${MAX_MEMORY / 2 ** 30}G)`);
  return bytes;
}

/** A 32-bit unsigned number, decimal or 0x-prefixed hexadecimal. */
export function parseAddress(text: string): number {
  const t = text.trim();
  const v = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidArgumentError(`"${text}" is not an address (decimal or 0x… hex, below 4 GiB)`);
  return v;
}

export function parseSerial(text: string): SerialBackend {
  if (text === 'stdio') return { kind: 'stdio' };
  if (text === 'none') return { kind: 'none' };
  if (text.startsWith('file:') && text.length > 5) return { kind: 'file', path: text.slice(5) };
  throw new InvalidArgumentError('expected stdio, file:PATH or none');
}

export function parseTimeout(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError('expected a number of seconds (0: none)');
  return Math.round(v * 1000);
}

/** A JavaScript regular expression: "text" or "/text/flags" (flags i, m, s, u). */
export function parseRegex(text: string): RegExp {
  const m = /^\/(.*)\/([imsu]*)$/s.exec(text);
  try {
    return m ? new RegExp(m[1], m[2]) : new RegExp(text);
  } catch (e) {
    throw new InvalidArgumentError(`invalid regular expression: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const TRACE_KINDS: readonly TraceKind[] = ['exits', 'io', 'irq'];

function collectTrace(value: string, previous: TraceKind[] | undefined): TraceKind[] {
  const out = previous ? previous.slice() : [];
  for (const part of value.split(',')) {
    const k = part.trim();
    if (k === 'all') out.push(...TRACE_KINDS);
    else if ((TRACE_KINDS as readonly string[]).includes(k)) out.push(k as TraceKind);
    else throw new InvalidArgumentError(`unknown trace "${k}" (expected ${TRACE_KINDS.join(', ')} or all)`);
  }
  return out;
}

export function parseRtc(text: string): number | 'now' {
  if (text === 'now') return 'now';
  // ISO-8601 date and time; a time without a zone is taken as UTC (the RTC keeps UTC).
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) {
    throw new InvalidArgumentError('expected an ISO-8601 time such as 2000-01-01T00:00:00Z, or "now"');
  }
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) && text.length > 10;
  const iso = text.length === 10 ? `${text}T00:00:00Z` : hasZone ? text : `${text.replace(' ', 'T')}Z`;
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`"${text}" is not a valid time`);
  return ms;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('vmrun')
    .description('Boot an x86 guest on a TypeScript x86 core; the guest serial console (COM1) is stdout.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .requiredOption('--kernel <file>', 'kernel image: multiboot, Linux bzImage, or a flat binary')
    .option('--initrd <file>', 'initramfs (Linux) or module (multiboot)')
    .option('--append <cmdline>', 'kernel command line (default for a Linux kernel: console=ttyS0)')
    .addOption(new Option('-m, --memory <size>', 'guest RAM: K, M or G suffix, bare number = MiB (2M..3G)').default(DEFAULT_MEMORY))
    .addOption(new Option('--serial <backend>', 'COM1 output: stdio, file:PATH or none').default('stdio'))
    .addOption(new Option('--timeout <seconds>', 'stop with status 124 after this much wall time (0: none)').default('0'))
    .option('--expect <regex>', 'stop with status 0 when the console output matches ("re" or "/re/flags")')
    .option('--fail-on <regex>', 'stop with status 1 when the console output matches')
    .option('--trace <kinds>', 'trace exits, io, irq or all to stderr (repeatable or comma list)', collectTrace)
    .option('--stats', 'print exit counts, instructions, wall time and guest MIPS on stderr')
    .option('--json', 'print the stop reason, status and statistics as one JSON object on stderr')
    .addOption(new Option('--clock <mode>', 'virtual: time from the instruction count (deterministic); realtime: host time (default when stdin is a terminal)').choices(['virtual', 'realtime']))
    .option('--rtc <time>', 'RTC time at power-on, ISO-8601 or "now" (default 2000-01-01T00:00:00Z with the virtual clock, host time with realtime)')
    .option('--reboot', 'restart the machine when the guest resets it')
    .option('--no-reboot', 'end the run with status 0 when the guest resets the machine (default)')
    .addOption(new Option('--cpu <model>', `CPU model: ${cpuModelNames().join(', ')}`).choices(cpuModelNames()).default(DEFAULT_CPU))
    .addOption(new Option('--exit-port <mode>', 'port 0xF4: plain (status = value) or qemu ((value << 1) | 1, as isa-debug-exit)').choices(['plain', 'qemu']).default('plain'))
    .option('--load-addr <addr>', 'flat binary: load address (default 0x7c00)')
    .option('--entry <addr>', 'flat binary: entry point (default: the load address)')
    .addOption(new Option('--bits <n>', 'flat binary: enter in 16-bit real mode or 32-bit flat protected mode').choices(['16', '32']))
    .allowExcessArguments(false)
    .showSuggestionAfterError(true);
  return program;
}

interface RawOptions {
  kernel: string;
  initrd?: string;
  append?: string;
  memory: string;
  serial: string;
  timeout: string;
  expect?: string;
  failOn?: string;
  trace?: TraceKind[];
  stats?: boolean;
  json?: boolean;
  clock?: 'virtual' | 'realtime';
  rtc?: string;
  reboot?: boolean;
  exitPort: 'plain' | 'qemu';
  cpu: string;
  loadAddr?: string;
  entry?: string;
  bits?: '16' | '32';
}

/** Turn one option value into a checked one, naming the option in the error. */
function value<T>(flag: string, text: string, parse: (s: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw new UsageError(`option ${flag}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface Environment {
  stdinIsTTY: boolean;
  nowMs: number;
}

/** Check and convert commander's parsed options. */
export function resolveOptions(raw: RawOptions, env: Environment): CliOptions {
  const serial = value('--serial', raw.serial, parseSerial);
  const clock = raw.clock ?? (env.stdinIsTTY && serial.kind === 'stdio' ? 'realtime' : 'virtual');
  const rtc = raw.rtc === undefined ? undefined : value('--rtc', raw.rtc, parseRtc);
  const trace = { exits: false, io: false, irq: false };
  for (const k of raw.trace ?? []) trace[k] = true;
  return {
    kernel: raw.kernel,
    initrd: raw.initrd,
    append: raw.append,
    memorySize: value('-m/--memory', raw.memory, parseSize),
    serial,
    timeoutMs: value('--timeout', raw.timeout, parseTimeout),
    expect: raw.expect === undefined ? null : value('--expect', raw.expect, parseRegex),
    failOn: raw.failOn === undefined ? null : value('--fail-on', raw.failOn, parseRegex),
    trace,
    stats: raw.stats === true,
    json: raw.json === true,
    clock,
    rtcStartMs: rtc === undefined ? (clock === 'virtual' ? DEFAULT_RTC_MS : env.nowMs) : rtc === 'now' ? env.nowMs : rtc,
    reboot: raw.reboot === true,
    exitPort: raw.exitPort,
    cpu: raw.cpu,
    loadAddr: raw.loadAddr === undefined ? undefined : value('--load-addr', raw.loadAddr, parseAddress),
    entry: raw.entry === undefined ? undefined : value('--entry', raw.entry, parseAddress),
    bits: raw.bits === undefined ? undefined : raw.bits === '16' ? 16 : 32,
  };
}

/** What parsing decided: run with options, or exit now (help, version) with a code. */
export type ParseOutcome = { kind: 'run'; options: CliOptions } | { kind: 'exit'; code: number };

/**
 * Parse argv (node-style: argv[0] is node, argv[1] the script). Help and version go to `out`.
 * Throws UsageError for any bad usage, commander's own errors included.
 */
export function parseCommandLine(argv: string[], env: Environment, out: (s: string) => void): ParseOutcome {
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({
    writeOut: out,
    writeErr: () => {},
    outputError: () => {},
  });
  try {
    program.parse(argv, { from: 'node' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        return { kind: 'exit', code: 0 };
      }
      throw new UsageError(e.message.replace(/^error: /, '').split('\n')[0]);
    }
    throw e;
  }
  return { kind: 'run', options: resolveOptions(program.opts<RawOptions>(), env) };
}
