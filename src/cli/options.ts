// Command-line parsing for vmrun: commander declares the options, the parsers here turn their
// strings into checked values. Nothing here starts a machine, so `--help` and bad usage work
// even when the CPU core cannot be loaded.
//
// Start-up time: loading commander costs about 10 ms, a tenth of vmrun's launch budget. A
// command line made only of known options with their values (what scripts and CI pass) is
// therefore read by `parseSimple`, driven by the same option table, and gives exactly the values
// commander would; anything else (help, version, an unknown option, a missing value, a bad
// choice, an operand, `--`, `-m64M`-style groups) goes through commander, which is loaded then.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Command, Option } from 'commander';
import { cpuModelNames, DEFAULT_CPU } from '../hv/cpu-models.js';

type Commander = typeof import('commander');

let commanderModule: Commander | null = null;

/** commander, loaded on first use (synchronously: it is a CommonJS package). */
function commander(): Commander {
  if (commanderModule === null) commanderModule = createRequire(import.meta.url)('commander') as Commander;
  return commanderModule;
}

/**
 * A bad option value. Its code is commander's, so that commander words it as an invalid argument
 * when one of these parsers runs inside it (`--trace`), as with commander's InvalidArgumentError.
 */
export class InvalidArgumentError extends Error {
  readonly code = 'commander.invalidArgument';
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/** Guest RAM bounds, as in src/vmm/machine.ts (not imported: that module loads the core). */
export const MIN_MEMORY = 2 * 1024 * 1024;
export const MAX_MEMORY = 3 * 1024 * 1024 * 1024;
export const DEFAULT_MEMORY = '128M';
/** --rtc default in virtual clock mode: a fixed instant, so runs are reproducible. */
export const DEFAULT_RTC_MS = Date.UTC(2000, 0, 1, 0, 0, 0);

export type SerialBackend = { kind: 'stdio' } | { kind: 'file'; path: string } | { kind: 'none' };
/** Where port 0xE9 goes: stderr (each line marked), a file (raw bytes), or nowhere. */
export type DebugconBackend = { kind: 'stderr' } | { kind: 'file'; path: string } | { kind: 'none' };
/**
 * What counts as success for a guest that stops in order (--success): any orderly stop (the
 * default), only the exit port written with 0, or a last POST code of `code` on port 0x80.
 */
export type SuccessRule = { kind: 'any' } | { kind: 'exit-port' } | { kind: 'post'; code: number };
export type TraceKind = 'exits' | 'io' | 'irq';

export interface CliOptions {
  kernel: string;
  initrd?: string;
  append?: string;
  memorySize: number;
  serial: SerialBackend;
  debugcon: DebugconBackend;
  /** 0: no timeout. */
  timeoutMs: number;
  /** The same limit in seconds, as the user wrote it (for the stop line). */
  timeoutSec: number;
  expect: RegExp | null;
  failOn: RegExp | null;
  trace: Record<TraceKind, boolean>;
  stats: boolean;
  json: boolean;
  /** --json-file: where the JSON object also goes (null: nowhere). */
  jsonFile: string | null;
  success: SuccessRule;
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

export function parseDebugcon(text: string): DebugconBackend {
  if (text === 'stderr') return { kind: 'stderr' };
  if (text === 'none') return { kind: 'none' };
  if (text.startsWith('file:') && text.length > 5) return { kind: 'file', path: text.slice(5) };
  throw new InvalidArgumentError('expected stderr, file:PATH or none');
}

/** Seconds of wall time, fractions allowed; 0 is none. A positive value stays positive in ms. */
export function parseTimeout(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError('expected a number of seconds (0: none)');
  return v;
}

export function parseSuccess(text: string): SuccessRule {
  if (text === 'exit-port') return { kind: 'exit-port' };
  const m = /^post:(0x[0-9a-f]{1,2}|\d{1,3})$/i.exec(text);
  if (m !== null) {
    const code = m[1].toLowerCase().startsWith('0x') ? parseInt(m[1].slice(2), 16) : Number(m[1]);
    if (code <= 0xff) return { kind: 'post', code };
  }
  throw new InvalidArgumentError('expected exit-port or post:CODE (a byte, e.g. post:0x00)');
}

/**
 * A JavaScript regular expression: "text", or "/text/flags" with JavaScript's flags. The flags g
 * and y are refused: they make RegExp.test() stateful (it resumes at lastIndex), so a match
 * could be missed. Any other letter after the last slash is an error, not part of a literal.
 */
export function parseRegex(text: string): RegExp {
  const m = /^\/(.*)\/([A-Za-z]*)$/s.exec(text);
  if (m !== null) {
    const unknown = [...new Set(m[2].replace(/[dgimsuvy]/g, ''))];
    if (unknown.length > 0) {
      throw new InvalidArgumentError(
        `unknown flag${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} in ${text} (JavaScript's flags are d, i, m, s, u, v; ` +
          'to match the text literally, escape its slashes: \\/)',
      );
    }
    const stateful = [...new Set(m[2].replace(/[^gy]/g, ''))];
    if (stateful.length > 0) {
      throw new InvalidArgumentError(
        `flag${stateful.length > 1 ? 's' : ''} ${stateful.join(' and ')} not allowed in /${m[1]}/${m[2]}: ` +
          'they make matching stateful (use d, i, m, s, u or v)',
      );
    }
  }
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

/** One option: its commander flags and help, and what commander is told about its value. */
interface OptionSpec {
  flags: string;
  description: string;
  default?: string;
  choices?: readonly string[];
  /** A custom value parser (commander's argParser): value and the previous value → new value. */
  parse?: typeof collectTrace;
  /** Must be given (commander's requiredOption). */
  mandatory?: boolean;
}

/** vmrun's options, in the order of the help text. */
function optionSpecs(): OptionSpec[] {
  const models = cpuModelNames();
  return [
    { flags: '--kernel <file>', description: 'kernel image: multiboot, Linux bzImage, or a flat binary', mandatory: true },
    { flags: '--initrd <file>', description: 'initramfs (Linux) or module (multiboot)' },
    { flags: '--append <cmdline>', description: 'kernel command line (default for a Linux kernel: console=ttyS0)' },
    { flags: '-m, --memory <size>', description: 'guest RAM: K, M or G suffix, bare number = MiB (2M..3G)', default: DEFAULT_MEMORY },
    { flags: '--serial <backend>', description: 'COM1 output: stdio, file:PATH (truncated) or none', default: 'stdio' },
    { flags: '--debugcon <backend>', description: 'port 0xE9 output: stderr (each line marked "debugcon: "), file:PATH (raw, truncated) or none', default: 'stderr' },
    { flags: '--timeout <seconds>', description: 'stop with status 124 after this much wall time from process start (0: none)', default: '0' },
    { flags: '--expect <regex>', description: 'stop with status 0 when the console output matches ("re" or "/re/flags"); an orderly stop without a match is status 5' },
    { flags: '--fail-on <regex>', description: 'stop with status 1 when the console output matches' },
    { flags: '--success <rule>', description: 'what an orderly stop must also show: exit-port (the guest wrote 0 to port 0xF4) or post:CODE (the last byte written to port 0x80); else status 1' },
    { flags: '--trace <kinds>', description: 'trace exits, io, irq or all to stderr (repeatable or comma list)', parse: collectTrace },
    { flags: '--stats', description: 'print instructions, wall time, guest MIPS, the launch time and exit counts on stderr' },
    { flags: '--json', description: 'print the stop reason, status and statistics as one JSON object on stderr' },
    { flags: '--json-file <path>', description: 'write that JSON object to PATH (a file, truncated, or e.g. /dev/fd/3)' },
    { flags: '--clock <mode>', description: 'virtual: time from the instruction count (deterministic); realtime: host time (default when stdin is a terminal)', choices: ['virtual', 'realtime'] },
    { flags: '--rtc <time>', description: 'RTC time at power-on, ISO-8601 or "now" (default 2000-01-01T00:00:00Z with the virtual clock, host time with realtime)' },
    { flags: '--reboot', description: 'restart the machine when the guest resets it' },
    { flags: '--no-reboot', description: 'end the run with status 0 when the guest resets the machine (default)' },
    { flags: '--cpu <model>', description: `CPU model: ${models.join(', ')}`, choices: models, default: DEFAULT_CPU },
    { flags: '--exit-port <mode>', description: 'port 0xF4: plain (status = value) or qemu ((value << 1) | 1, as isa-debug-exit)', choices: ['plain', 'qemu'], default: 'plain' },
    { flags: '--load-addr <addr>', description: 'flat binary: load address (default 0x7c00)' },
    { flags: '--entry <addr>', description: 'flat binary: entry point (default: the load address)' },
    { flags: '--bits <n>', description: 'flat binary: enter in 16-bit real mode or 32-bit flat protected mode', choices: ['16', '32'] },
  ];
}

export function buildProgram(): Command {
  const { Command, Option } = commander();
  const program = new Command();
  program
    .name('vmrun')
    .description('Boot an x86 guest on a TypeScript x86 core; the guest serial console (COM1) is stdout.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit');
  for (const spec of optionSpecs()) {
    const option: Option = new Option(spec.flags, spec.description);
    if (spec.mandatory) option.makeOptionMandatory();
    if (spec.parse) option.argParser(spec.parse);
    if (spec.choices) option.choices(spec.choices);
    if (spec.default !== undefined) option.default(spec.default);
    program.addOption(option);
  }
  program.allowExcessArguments(false).showSuggestionAfterError(true);
  return program;
}

/** An option as the simple reader sees it: the key in the options object and what it takes. */
interface SimpleOption {
  key: string;
  takesValue: boolean;
  /** For a flag: the value it stores (false for a --no-… flag). */
  flagValue: boolean;
  spec: OptionSpec;
}

/** commander's attribute name: the long flag without dashes and --no-, camel-cased. */
function attributeName(long: string): string {
  return long.replace(/^--(no-)?/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Read a command line that holds only known options, each as `--name value`, `--name=value`,
 * `-m value` or a flag, with valid choices and --kernel given: the options object commander
 * would produce for it. Anything else → null (commander decides, and words any error).
 */
export function parseSimple(args: readonly string[]): RawOptions | null {
  const byFlag = new Map<string, SimpleOption>();
  const raw: Record<string, unknown> = {};
  const mandatory: string[] = [];
  for (const spec of optionSpecs()) {
    const m = /^(?:(-\w), )?(--[\w-]+)(?: <\w+>)?$/.exec(spec.flags);
    if (m === null) return null;
    const long = m[2];
    const o: SimpleOption = { key: attributeName(long), takesValue: spec.flags.endsWith('>'), flagValue: !long.startsWith('--no-'), spec };
    byFlag.set(long, o);
    if (m[1] !== undefined) byFlag.set(m[1], o);
    if (spec.default !== undefined) raw[o.key] = spec.default;
    if (spec.mandatory) mandatory.push(o.key);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let o = byFlag.get(arg);
    let value: string | undefined;
    if (o !== undefined) {
      if (o.takesValue) {
        value = args[++i];
        if (value === undefined) return null;
      }
    } else {
      const eq = arg.indexOf('=');
      if (!arg.startsWith('--') || eq < 0) return null;
      o = byFlag.get(arg.slice(0, eq));
      if (o === undefined || !o.takesValue) return null;
      value = arg.slice(eq + 1);
    }
    if (value === undefined) {
      raw[o.key] = o.flagValue;
      continue;
    }
    const { choices, parse } = o.spec;
    if (choices !== undefined && !choices.includes(value)) return null;
    if (parse !== undefined) {
      try {
        raw[o.key] = parse(value, raw[o.key] as TraceKind[] | undefined);
      } catch {
        return null;
      }
    } else {
      raw[o.key] = value;
    }
  }
  if (mandatory.some((key) => raw[key] === undefined)) return null;
  return raw as unknown as RawOptions;
}

export interface RawOptions {
  kernel: string;
  initrd?: string;
  append?: string;
  memory: string;
  serial: string;
  debugcon: string;
  timeout: string;
  expect?: string;
  failOn?: string;
  success?: string;
  jsonFile?: string;
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
  const timeoutSec = value('--timeout', raw.timeout, parseTimeout);
  if (raw.jsonFile === '') throw new UsageError('option --json-file: expected a path');
  return {
    kernel: raw.kernel,
    initrd: raw.initrd,
    append: raw.append,
    memorySize: value('-m/--memory', raw.memory, parseSize),
    serial,
    debugcon: value('--debugcon', raw.debugcon, parseDebugcon),
    timeoutMs: timeoutSec * 1000,
    timeoutSec,
    expect: raw.expect === undefined ? null : value('--expect', raw.expect, parseRegex),
    failOn: raw.failOn === undefined ? null : value('--fail-on', raw.failOn, parseRegex),
    trace,
    stats: raw.stats === true,
    json: raw.json === true,
    jsonFile: raw.jsonFile ?? null,
    success: raw.success === undefined ? { kind: 'any' } : value('--success', raw.success, parseSuccess),
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

/** The long options and their short forms, from the option table, with help and version. */
function knownOptions(): { long: Map<string, boolean>; short: Map<string, boolean> } {
  const long = new Map<string, boolean>([['--help', false], ['--version', false]]);
  const short = new Map<string, boolean>([['-h', false], ['-V', false]]);
  for (const spec of optionSpecs()) {
    const m = /^(?:(-\w), )?(--[\w-]+)(?: <\w+>)?$/.exec(spec.flags);
    if (m === null) continue;
    const takesValue = spec.flags.endsWith('>');
    long.set(m[2], takesValue);
    if (m[1] !== undefined) short.set(m[1], takesValue);
  }
  return { long, short };
}

/** Edit distance with transpositions (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known long option an unknown one most likely means: the same name with one dash
 * (`-kernel`), a close spelling (`--kernal`), or the one option it is a prefix of (`--mem`).
 */
export function suggestOption(word: string, longOptions: Iterable<string>): string | null {
  const name = word.replace(/^-+/, '').replace(/=.*$/s, '').toLowerCase();
  if (name === '') return null;
  const names = [...longOptions].map((l) => l.slice(2));
  if (names.includes(name)) return `--${name}`;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const n of names) {
    const dist = editDistance(name, n);
    if (dist < bestDistance) {
      bestDistance = dist;
      best = n;
    }
  }
  if (best !== null && bestDistance <= Math.max(1, Math.floor(name.length / 3))) return `--${best}`;
  const prefixed = names.filter((n) => name.length >= 3 && n.startsWith(name));
  return prefixed.length === 1 ? `--${prefixed[0]}` : null;
}

/**
 * Throw a UsageError for the first word of the command line that is not a known option (with
 * the one it likely means) or that is an operand; help and version are left to commander.
 */
function checkWords(args: readonly string[]): void {
  const { long, short } = knownOptions();
  const words = args.indexOf('--') < 0 ? args : args.slice(0, args.indexOf('--'));
  if (words.some((w) => w === '--help' || w === '-h' || w === '--version' || w === '-V')) return;
  let kernelGiven = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w.startsWith('--')) {
      const name = w.includes('=') ? w.slice(0, w.indexOf('=')) : w;
      const takesValue = long.get(name);
      if (takesValue === undefined) {
        const hint = suggestOption(w, long.keys());
        throw new UsageError(`unknown option '${w}'${hint !== null ? ` (did you mean ${hint}?)` : ''}`);
      }
      if (name === '--kernel') kernelGiven = true;
      if (takesValue && !w.includes('=')) i++;
    } else if (w.startsWith('-') && w.length > 1) {
      const takesValue = short.get(w.slice(0, 2));
      if (takesValue === undefined || (!takesValue && w.length > 2)) {
        const hint = suggestOption(w, long.keys());
        throw new UsageError(`unknown option '${w}'${hint !== null ? ` (did you mean ${hint}?)` : ''}`);
      }
      if (takesValue && w.length === 2) i++;
    } else {
      const hint = kernelGiven ? '' : ` (did you mean --kernel ${w}?)`;
      throw new UsageError(`unexpected argument '${w}'${hint}`);
    }
  }
}

/** What parsing decided: run with options, or exit now (help, version) with a code. */
export type ParseOutcome = { kind: 'run'; options: CliOptions } | { kind: 'exit'; code: number };

/**
 * Parse argv (node-style: argv[0] is node, argv[1] the script). Help and version go to `out`.
 * Throws UsageError for any bad usage, commander's own errors included.
 */
export function parseCommandLine(argv: string[], env: Environment, out: (s: string) => void): ParseOutcome {
  const args = argv.slice(2);
  let raw = parseSimple(args);
  if (raw === null) {
    // An unknown option or a stray word is named before anything else (commander would first
    // say that --kernel is missing when `-kernel` or `--kernal` was meant).
    checkWords(args);
    raw = parseWithCommander(argv, out);
  }
  return raw === null ? { kind: 'exit', code: 0 } : { kind: 'run', options: resolveOptions(raw, env) };
}

/**
 * commander's reading of argv: the options object, or null when it printed the help or the
 * version to `out`. Throws UsageError for bad usage.
 */
export function parseWithCommander(argv: string[], out: (s: string) => void): RawOptions | null {
  const { CommanderError } = commander();
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
        return null;
      }
      // commander puts a suggestion on a second line: keep it, on the same line.
      const [first, ...more] = e.message.replace(/^error: /, '').split('\n').filter((l) => l.trim() !== '');
      throw new UsageError(more.length > 0 ? `${first} (${more.join(' ').replace(/^\((.*)\)$/, '$1')})` : first);
    }
    throw e;
  }
  return program.opts<RawOptions>();
}
