// vmrun's command line: options → MachineConfig, the host console, the run, and one exit status
// that CI can trust (the table is src/vmm/status.ts). stdout carries only the guest console;
// every message of the monitor goes to stderr, where the guest cannot imitate it: the debug
// console's lines are marked there (src/vmm/console.ts, StderrChannel), and --json-file gives
// the JSON report a channel of its own.

import { LoadError } from '../loaders/types.js';
import {
  BufferedSink,
  ConsoleInput,
  ConsoleMatcher,
  ESCAPE_HELP_RAW,
  FdOutput,
  LineBuffer,
  StderrChannel,
  StdinConsole,
  describeWriteError,
  fdWriter,
} from '../vmm/console.js';
import type { RunResult } from '../vmm/runloop.js';
import type { Machine, MachineConfig } from '../vmm/machine.js';
import type { ByteSink } from '../devices/device.js';
import { UsageError, parseCommandLine, type CliOptions } from './options.js';
import { checkStdioNotInput, closeOutput, openOutput, readInput, type InputFile, type OutputFile } from './files.js';

import {
  SIGNAL_STATUS,
  STATUS_CONSOLE_ERROR,
  STATUS_EXPECT_UNMATCHED,
  STATUS_GUEST_FAILURE,
  STATUS_MONITOR_ERROR,
  STATUS_OK,
  STATUS_TIMEOUT,
  STATUS_USAGE,
  type StopKind,
} from '../vmm/status.js';

/** The styles vmrun's own lines on stderr use. */
interface Styles {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
}

const plain = (text: string): string => text;
const PLAIN: Styles = { red: plain, green: plain, yellow: plain, dim: plain };

/**
 * Colours for stderr: only on a terminal and without NO_COLOR. chalk is loaded only then (it
 * costs several milliseconds of start-up; with colour level 0 it returns its input unchanged).
 */
async function stderrStyles(): Promise<Styles> {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  if (noColor || !process.stderr.isTTY) return PLAIN;
  const { Chalk, chalkStderr } = await import('chalk');
  return new Chalk({ level: chalkStderr.level });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Seconds as the user wrote them: "4 s", "0.0001 s". */
function seconds(sec: number): string {
  return `${sec} s`;
}

/** Queued output above which the guest waits for its readers, and the level it waits for. */
const BACKLOG_HIGH = 1 << 20;
const BACKLOG_LOW = 256 << 10;

/** Stops in which the guest ended the run itself, in order: --success and --expect judge them. */
const ORDERLY: ReadonlySet<StopKind> = new Set<StopKind>(['exit-port', 'halt', 'idle', 'reset']);
/** Stops whose status a console write error replaces (output was lost: the run is not a success). */
const GUEST_RESULT: ReadonlySet<StopKind> = new Set<StopKind>([
  'exit-port', 'halt', 'idle', 'reset', 'expect', 'fail-on', 'expect-unmatched', 'success-unmet', 'quit', 'console-error',
]);

/** vmrun's stderr: its own lines, and the debug console marked when it shares it. */
interface Stderr {
  readonly channel: StderrChannel;
  readonly out: FdOutput;
  say(line: string): void;
}

function openStderr(): Stderr {
  const out = new FdOutput(2, 'stderr');
  const channel = new StderrChannel(out);
  return {
    channel,
    out,
    say: (line) => {
      channel.line(line);
      channel.flush();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const c = await stderrStyles();
  const stderr = openStderr();
  let status: number;
  try {
    status = await run(argv, c, stderr);
  } finally {
    stderr.channel.close();
  }
  // What stderr (a full non-blocking pipe) has not taken yet; the process exits once it has.
  await stderr.out.drain(() => false);
  return status;
}

async function run(argv: string[], c: Styles, stderr: Stderr): Promise<number> {
  const fail = (code: number, message: string): number => {
    stderr.say(c.red(`vmrun: ${message.split('\n')[0]}`));
    return code;
  };

  let opts: CliOptions;
  const inputs: InputFile[] = [];
  try {
    const stdout = new FdOutput(1, 'stdout');
    const parsed = parseCommandLine(argv, { stdinIsTTY: process.stdin.isTTY === true, nowMs: Date.now() }, (s) => {
      stdout.write(new TextEncoder().encode(s));
    });
    if (parsed.kind === 'exit') {
      await stdout.drain(() => stdout.error !== null);
      return parsed.code;
    }
    opts = parsed.options;
    inputs.push(readInput('kernel', opts.kernel, opts.memorySize));
    if (opts.initrd !== undefined) inputs.push(readInput('initrd', opts.initrd, opts.memorySize));
  } catch (e) {
    if (e instanceof UsageError) return fail(STATUS_USAGE, e.message);
    return fail(STATUS_MONITOR_ERROR, `monitor error: ${errorText(e)}`);
  }

  // The machine module pulls in the CPU core; load it only once the command line is good.
  let MachineClass: typeof Machine;
  try {
    MachineClass = (await import('../vmm/machine.js')).Machine;
  } catch (e) {
    return fail(STATUS_MONITOR_ERROR, `monitor error: cannot load the machine: ${errorText(e)}`);
  }
  const outputs: OutputFile[] = [];
  try {
    return await runMachine(MachineClass, opts, inputs, outputs, c, stderr, fail);
  } finally {
    for (const o of outputs) closeOutput(o);
  }
}

/** The outputs of a run: where the console, the debug console and the JSON go. */
interface Outputs {
  console: FdOutput | null;
  consoleSink: BufferedSink;
  debugcon: FdOutput | null;
  debugSink: ByteSink;
  debugBuffer: BufferedSink | null;
  json: FdOutput | null;
  /** Everything a slow reader can back up. */
  all: FdOutput[];
}

function openOutputs(opts: CliOptions, inputs: readonly InputFile[], files: OutputFile[], stderr: Stderr): Outputs {
  let console: FdOutput | null = null;
  if (opts.serial.kind === 'stdio') {
    checkStdioNotInput(1, 'stdout', inputs);
    console = new FdOutput(1, 'stdout');
  } else if (opts.serial.kind === 'file') {
    const f = openOutput(`--serial file:${opts.serial.path}`, opts.serial.path, inputs, files, { notStderr: true });
    files.push(f);
    console = new FdOutput(f.fd, opts.serial.path);
  }
  let debugcon: FdOutput | null = null;
  let debugBuffer: BufferedSink | null = null;
  let debugSink: ByteSink = stderr.channel.debugcon;
  if (opts.debugcon.kind === 'file') {
    const f = openOutput(`--debugcon file:${opts.debugcon.path}`, opts.debugcon.path, inputs, files, { notStderr: true });
    files.push(f);
    debugcon = new FdOutput(f.fd, opts.debugcon.path);
    debugBuffer = new BufferedSink(fdWriter(debugcon));
    debugSink = debugBuffer;
  } else if (opts.debugcon.kind === 'none') {
    debugSink = { writeByte(): void {} };
  }
  let json: FdOutput | null = null;
  if (opts.jsonFile !== null) {
    const f = openOutput('--json-file', opts.jsonFile, inputs, files);
    files.push(f);
    json = new FdOutput(f.fd, opts.jsonFile);
  }
  const consoleSink = new BufferedSink(console === null ? null : fdWriter(console));
  const all = [console, debugcon, stderr.out].filter((o): o is FdOutput => o !== null);
  return { console, consoleSink, debugcon, debugSink, debugBuffer, json, all };
}

async function runMachine(
  MachineClass: typeof Machine,
  opts: CliOptions,
  inputs: readonly InputFile[],
  files: OutputFile[],
  c: Styles,
  stderr: Stderr,
  fail: (code: number, message: string) => number,
): Promise<number> {
  let out: Outputs;
  try {
    out = openOutputs(opts, inputs, files, stderr);
  } catch (e) {
    if (e instanceof UsageError) return fail(STATUS_USAGE, e.message);
    return fail(STATUS_MONITOR_ERROR, `monitor error: ${errorText(e)}`);
  }
  const kernel = inputs[0].bytes;
  const initrd = inputs.length > 1 ? inputs[1].bytes : undefined;
  const traceOn = opts.trace.exits || opts.trace.io || opts.trace.irq;
  const traces = traceOn ? new LineBuffer((t) => stderr.channel.write(t)) : null;

  let machine: Machine | null = null;
  const stopFromOutside = (status: number, kind: StopKind, reason: string): void => {
    if (machine !== null) machine.stop(status, kind, reason);
  };

  // Output that cannot be written ends the run (status 74); the first such error is reported.
  let lostOutput: string | null = null;
  const onWriteError = (what: string, o: FdOutput) => (e: unknown): void => {
    if (lostOutput !== null) return;
    lostOutput = `${what} could not be written to ${o.name}: ${describeWriteError(e)}`;
    stopFromOutside(STATUS_CONSOLE_ERROR, 'console-error', `the ${lostOutput}`);
  };
  if (out.console !== null) out.console.onError = onWriteError('console output', out.console);
  if (out.debugcon !== null) out.debugcon.onError = onWriteError('debug console output', out.debugcon);

  const matcher =
    opts.expect !== null || opts.failOn !== null
      ? new ConsoleMatcher(opts.expect, opts.failOn, (status, reason) => stopFromOutside(status, status === 0 ? 'expect' : 'fail-on', reason))
      : null;
  out.consoleSink.tap = matcher;

  // Console input: stdin goes to COM1 when COM1 is the terminal's.
  const input = opts.serial.kind === 'stdio' ? new ConsoleInput() : null;
  const stdin =
    input === null
      ? null
      : new StdinConsole(input, {
          onQuit: () => stopFromOutside(STATUS_OK, 'quit', 'quit from the console (Ctrl-A x)'),
          onHelp: () => {
            out.consoleSink.flush();
            stderr.channel.write(ESCAPE_HELP_RAW);
            stderr.channel.flush();
          },
        });

  // --timeout counts from the process start (performance.now()'s origin): loading is part of it.
  const deadline = opts.timeoutMs > 0 ? opts.timeoutMs : Infinity;
  let signalled: NodeJS.Signals | null = null;
  const flushAll = (): void => {
    out.consoleSink.flush();
    out.debugBuffer?.flush();
    traces?.flush();
    stderr.channel.flush();
  };
  const hooks = {
    flush: (): void | Promise<void> => {
      flushAll();
      if (!out.all.some((o) => o.pending > BACKLOG_HIGH)) return undefined;
      // A reader is far behind (a non-blocking pipe): the guest waits for it, the event loop
      // (signals, Ctrl-A x) and the deadline stay alive meanwhile.
      const giveUp = (): boolean => machine === null || machine.loop.stopping || performance.now() >= deadline;
      return (async () => {
        for (const o of out.all) await o.drain(giveUp, BACKLOG_LOW);
      })();
    },
    checkpoint: (): void => {
      matcher?.check();
    },
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    const status = SIGNAL_STATUS[signal] ?? 128;
    if (signalled !== null) {
      // A second signal: the run loop did not stop in time; leave now (the terminal is restored).
      stdin?.detach();
      flushAll();
      stderr.say(c.red(`vmrun: stopped by ${signal} (forced)`));
      process.exit(status);
    }
    signalled = signal;
    stopFromOutside(status, 'signal', `stopped by ${signal}`);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

  let resets = 0;
  let launchAt = NaN;
  let result: RunResult;
  let description = '';
  let unwritten = '';
  try {
    for (const s of signals) process.on(s, onSignal);
    stdin?.attach();
    try {
      for (;;) {
        const config: MachineConfig = {
          memorySize: opts.memorySize,
          kernel,
          kernelPath: opts.kernel,
          initrd,
          initrdPath: opts.initrd,
          cmdline: opts.append,
          loadAddr: opts.loadAddr,
          entry: opts.entry,
          bits: opts.bits,
          clock: opts.clock,
          rtcStartMs: opts.rtcStartMs,
          exitPort: opts.exitPort,
          cpu: opts.cpu,
          noReboot: !opts.reboot,
          timeoutMs: opts.timeoutMs,
          deadline,
          console: out.consoleSink,
          debugcon: out.debugSink,
          input,
          hooks,
          trace: opts.trace,
          traceLine: traces?.push ?? null,
        };
        try {
          machine = new MachineClass(config, machine ?? undefined);
        } catch (e) {
          if (e instanceof LoadError) return fail(STATUS_USAGE, e.message);
          if (e instanceof RangeError && /array buffer|allocation/i.test(e.message)) {
            return fail(STATUS_USAGE, `cannot allocate ${opts.memorySize >> 20} MiB of guest memory: ${e.message}`);
          }
          return fail(STATUS_MONITOR_ERROR, `monitor error: cannot create the machine: ${errorText(e)}`);
        }
        description = machine.load.description;
        if (traces !== null) traces.push(`vmrun: ${description}`);
        // A deadline that passed while loading: the guest does not start.
        if (performance.now() >= deadline) machine.stop(STATUS_TIMEOUT, 'timeout', '');
        result = await machine.run();
        if (resets === 0) launchAt = result.firstRunAt;
        if (!(result.reset && opts.reboot)) break;
        resets++;
        // Let signals and stdin in between two boots (a guest may reset in a few instructions).
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (performance.now() >= deadline) {
          result = { ...result, status: STATUS_TIMEOUT, kind: 'timeout', reason: '', reset: false, dump: machine.loop.dumpState() };
          break;
        }
        if (signalled !== null) {
          result = { ...result, status: SIGNAL_STATUS[signalled] ?? 128, kind: 'signal', reason: `stopped by ${signalled}`, reset: false };
          break;
        }
      }
    } finally {
      stdin?.detach();
      flushAll();
    }
    // Output a slow reader has not taken yet is waited for, up to the deadline or a signal.
    const signalledBefore = signalled;
    for (const o of out.all) {
      if (o === stderr.out) continue;
      const done = await o.drain(() => performance.now() >= deadline || signalled !== signalledBefore);
      if (!done && o.error === null) unwritten = `${o.pending} bytes of output to ${o.name} were still unwritten`;
    }
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }

  let status = result.status;
  let kind = result.kind;
  let reason = result.reason;
  if (kind === 'timeout') {
    const rebooted = resets === 0 ? '' : ` (it had reset the machine ${resets} time${resets === 1 ? '' : 's'})`;
    reason = `timeout: the guest was still running after ${seconds(opts.timeoutSec)}${rebooted}`;
  }
  // --fail-on wins over an orderly stop: a guest that printed the failure pattern failed.
  if (status === STATUS_OK && matcher !== null && matcher.failMatched) {
    status = STATUS_GUEST_FAILURE;
    kind = 'fail-on';
    reason = `the console output matched --fail-on ${String(opts.failOn)}`;
  }
  // A guest that stopped in order succeeded only if it met --success and matched --expect.
  if (status === STATUS_OK && ORDERLY.has(kind)) {
    const unmet = successUnmet(opts, kind, machine);
    if (unmet !== null) {
      status = STATUS_GUEST_FAILURE;
      kind = 'success-unmet';
      reason = `${reason}, ${unmet}`;
    } else if (opts.expect !== null && matcher?.matched !== 'expect') {
      status = STATUS_EXPECT_UNMATCHED;
      kind = 'expect-unmatched';
      reason = `${reason}, but the console output never matched --expect ${String(opts.expect)}`;
    }
  }
  // Output that was lost makes the guest's own result untrustworthy.
  const lost: string[] = [];
  if (lostOutput !== null) lost.push(`the ${lostOutput}`);
  if (unwritten !== '') {
    if (kind === 'signal' || kind === 'timeout') lost.push(unwritten);
    else if (signalled !== null) {
      status = SIGNAL_STATUS[signalled] ?? 128;
      kind = 'signal';
      reason = `stopped by ${signalled} while ${unwritten}`;
    } else {
      status = STATUS_TIMEOUT;
      kind = 'timeout';
      reason = `timeout: after ${seconds(opts.timeoutSec)}, ${unwritten} (the reader did not read)`;
    }
  }
  let lostNote: string | null = null;
  if (lostOutput !== null && GUEST_RESULT.has(kind)) {
    if (kind !== 'console-error') reason = `the ${lostOutput}; before that, ${reason}`;
    status = STATUS_CONSOLE_ERROR;
    kind = 'console-error';
  } else if (lost.length > 0) {
    lostNote = `output was lost too: ${lost.join('; ')}`;
  }

  const m = machine as Machine | null;
  const report: Report = {
    status,
    kind,
    reason,
    lostNote,
    exitValue: kind === 'exit-port' && m !== null ? m.exitValue : null,
    postCode: m === null || m.post.last < 0 ? null : m.post.last,
    resets,
    launchAt,
    description,
    unread: input !== null ? input.unread : null,
  };
  const jsonText = opts.json || out.json !== null ? jsonReport(result, report) : '';
  if (out.json !== null) {
    out.json.write(new TextEncoder().encode(jsonText + '\n'));
    if (!(await out.json.drain(() => performance.now() >= deadline)) && report.status !== STATUS_CONSOLE_ERROR) {
      const why = out.json.error !== null ? describeWriteError(out.json.error) : 'the reader did not read it';
      stderr.say(c.red(`vmrun: the JSON report could not be written to ${out.json.name}: ${why}`));
      report.status = STATUS_CONSOLE_ERROR;
    }
  }
  if (opts.json) stderr.say(jsonText);
  else textReport(opts, result, report, c, stderr.say);
  return report.status;
}

/** Why an orderly stop does not meet --success, or null when it does. */
function successUnmet(opts: CliOptions, kind: StopKind, machine: Machine | null): string | null {
  const rule = opts.success;
  if (rule.kind === 'exit-port') {
    return kind === 'exit-port' ? null : 'not by writing 0 to the exit port (--success exit-port)';
  }
  if (rule.kind === 'post') {
    const want = `0x${rule.code.toString(16).padStart(2, '0')}`;
    const last = machine === null ? -1 : machine.post.last;
    if (last === rule.code) return null;
    const got = last < 0 ? 'no POST code was written to port 0x80' : `the last POST code was 0x${last.toString(16).padStart(2, '0')}`;
    return `but ${got} (--success post:${want})`;
  }
  return null;
}

interface Report {
  status: number;
  kind: StopKind;
  reason: string;
  /** Output lost besides the reason the run stopped for. */
  lostNote: string | null;
  exitValue: number | null;
  postCode: number | null;
  resets: number;
  launchAt: number;
  description: string;
  /** Console input the guest never read (null: stdin is not the console's). */
  unread: number | null;
}

function jsonReport(r: RunResult, rep: Report): string {
  const mips = r.wallMs > 0 ? r.instructions / (r.wallMs * 1000) : 0;
  return JSON.stringify({
    status: rep.status,
    stop: rep.kind,
    reason: rep.reason,
    ...(rep.exitValue !== null ? { exitValue: rep.exitValue } : {}),
    ...(rep.lostNote !== null ? { lost: rep.lostNote } : {}),
    postCode: rep.postCode,
    kernel: rep.description,
    instructions: r.instructions,
    guestNs: r.guestNs,
    wallMs: Math.round(r.wallMs * 1000) / 1000,
    launchMs: Number.isNaN(rep.launchAt) ? null : Math.round(rep.launchAt * 1000) / 1000,
    mips: Math.round(mips * 100) / 100,
    interruptsInjected: r.interruptsInjected,
    ...(r.compiled !== null ? { compiledUnits: r.compiled.units, compileMs: Math.round(r.compiled.ms * 1000) / 1000 } : {}),
    resets: rep.resets,
    consoleInputUnread: rep.unread,
    exits: r.exits,
    ...(r.dump.length > 0 ? { dump: r.dump } : {}),
  });
}

function textReport(opts: CliOptions, r: RunResult, rep: Report, c: Styles, say: (line: string) => void): void {
  const mips = r.wallMs > 0 ? r.instructions / (r.wallMs * 1000) : 0;
  const line = `vmrun: ${rep.reason} (exit status ${rep.status})`;
  say(rep.status === STATUS_OK ? c.green(line) : rep.status === STATUS_GUEST_FAILURE ? c.yellow(line) : c.red(line));
  if (rep.lostNote !== null) say(c.red(`vmrun: ${rep.lostNote}`));
  for (const l of r.dump) say(c.dim(l));
  if (opts.stats) {
    const byReason = Object.entries(r.exits.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
    const byPort = Object.entries(r.exits.byPort)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    say(`vmrun: stats: ${rep.description}`);
    say(`vmrun: stats: ${r.instructions} instructions in ${(r.wallMs / 1000).toFixed(3)} s wall (${mips.toFixed(1)} MIPS), guest time ${(r.guestNs / 1e9).toFixed(6)} s, ${r.interruptsInjected} interrupts${rep.resets > 0 ? `, ${rep.resets} resets` : ''}`);
    if (!Number.isNaN(rep.launchAt)) say(`vmrun: stats: launch to first guest instruction ${(rep.launchAt / 1000).toFixed(3)} s`);
    if (r.compiled !== null) say(`vmrun: stats: compiled ${r.compiled.units} units in ${r.compiled.ms.toFixed(1)} ms`);
    say(`vmrun: stats: ${r.exits.total} exits${byReason ? `: ${byReason}` : ''}`);
    if (rep.unread !== null && rep.unread > 0) say(`vmrun: stats: console input: ${rep.unread} bytes the guest did not read`);
    if (byPort) say(`vmrun: stats: exits by port: ${byPort}`);
  }
}
