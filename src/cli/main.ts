// vmrun's command line: options → MachineConfig, the host console, the run, and one exit status
// that CI can trust (DESIGN.md's table: 0 orderly stop, 1 guest failure, 2 bad usage or input,
// 3 monitor error, 4 guest crash, 124 timeout). stdout carries only the guest console; every
// message of the monitor goes to stderr.

import { readFileSync } from 'node:fs';
import { LoadError } from '../loaders/types.js';
import {
  BufferedSink,
  ConsoleInput,
  ConsoleMatcher,
  ESCAPE_HELP,
  LineBuffer,
  StdinConsole,
  fileWriter,
  streamWriter,
} from '../vmm/console.js';
import type { RunResult } from '../vmm/runloop.js';
import type { Machine, MachineConfig } from '../vmm/machine.js';
import { UsageError, parseCommandLine, type CliOptions } from './options.js';

import {
  SIGNAL_STATUS,
  STATUS_GUEST_FAILURE as EXIT_GUEST_FAILURE,
  STATUS_MONITOR_ERROR as EXIT_MONITOR_ERROR,
  STATUS_OK as EXIT_OK,
  STATUS_TIMEOUT as EXIT_TIMEOUT,
  STATUS_USAGE as EXIT_USAGE,
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

/** A one-line reason for a failed file read. */
function fileProblem(what: string, path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  const why =
    code === 'ENOENT' ? 'no such file'
      : code === 'EISDIR' ? 'it is a directory'
        : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
          : errorText(e);
  return `cannot read ${what} ${path}: ${why}`;
}

function readInput(what: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(fileProblem(what, path, e));
  }
}

export async function main(argv: string[]): Promise<number> {
  const c = await stderrStyles();
  const say = (line: string): void => {
    process.stderr.write(line + '\n');
  };
  const fail = (code: number, message: string): number => {
    say(c.red(`vmrun: ${message.split('\n')[0]}`));
    return code;
  };

  let opts: CliOptions;
  let kernel: Uint8Array;
  let initrd: Uint8Array | undefined;
  try {
    const parsed = parseCommandLine(argv, { stdinIsTTY: process.stdin.isTTY === true, nowMs: Date.now() }, (s) => {
      process.stdout.write(s);
    });
    if (parsed.kind === 'exit') return parsed.code;
    opts = parsed.options;
    kernel = readInput('kernel', opts.kernel);
    initrd = opts.initrd === undefined ? undefined : readInput('initrd', opts.initrd);
  } catch (e) {
    if (e instanceof UsageError) return fail(EXIT_USAGE, e.message);
    return fail(EXIT_MONITOR_ERROR, `monitor error: ${errorText(e)}`);
  }

  // The machine module pulls in the CPU core; load it only once the command line is good.
  let MachineClass: typeof Machine;
  try {
    MachineClass = (await import('../vmm/machine.js')).Machine;
  } catch (e) {
    return fail(EXIT_MONITOR_ERROR, `monitor error: cannot load the machine: ${errorText(e)}`);
  }
  return runMachine(MachineClass, opts, kernel, initrd, c, say, fail);
}

async function runMachine(
  MachineClass: typeof Machine,
  opts: CliOptions,
  kernel: Uint8Array,
  initrd: Uint8Array | undefined,
  c: Styles,
  say: (line: string) => void,
  fail: (code: number, message: string) => number,
): Promise<number> {
  // Console output.
  let closeFile: (() => void) | null = null;
  let consoleSink: BufferedSink;
  try {
    if (opts.serial.kind === 'file') {
      const f = fileWriter(opts.serial.path);
      closeFile = f.close;
      consoleSink = new BufferedSink(f.writer);
    } else {
      consoleSink = new BufferedSink(opts.serial.kind === 'stdio' ? streamWriter(process.stdout) : null);
    }
  } catch (e) {
    return fail(EXIT_USAGE, `cannot open the serial output file: ${errorText(e)}`);
  }
  const debugSink = new BufferedSink(streamWriter(process.stderr));
  const traceOn = opts.trace.exits || opts.trace.io || opts.trace.irq;
  const traces = traceOn ? new LineBuffer((t) => process.stderr.write(t)) : null;

  let machine: Machine | null = null;
  const stopFromOutside = (status: number, kind: StopKind, reason: string): void => {
    if (machine !== null) machine.stop(status, kind, reason);
  };
  const matcher =
    opts.expect !== null || opts.failOn !== null ? new ConsoleMatcher(opts.expect, opts.failOn, (status, reason) => stopFromOutside(status, status === 0 ? 'expect' : 'fail-on', reason)) : null;
  consoleSink.tap = matcher;

  // Console input: stdin goes to COM1 when COM1 is the terminal's.
  const input = opts.serial.kind === 'stdio' ? new ConsoleInput() : null;
  const stdin =
    input === null
      ? null
      : new StdinConsole(input, {
          onQuit: () => stopFromOutside(EXIT_OK, 'quit', 'quit from the console (Ctrl-A x)'),
          onHelp: () => say(ESCAPE_HELP),
        });

  const hooks = {
    flush: (): void => {
      consoleSink.flush();
      debugSink.flush();
      traces?.flush();
    },
    checkpoint: (): void => {
      matcher?.check();
    },
  };

  let signalled: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    const status = SIGNAL_STATUS[signal] ?? 128;
    if (signalled !== null) {
      // A second signal: the run loop did not stop in time; leave now (the terminal is restored).
      stdin?.detach();
      hooks.flush();
      say(c.red(`vmrun: stopped by ${signal} (forced)`));
      process.exit(status);
    }
    signalled = signal;
    stopFromOutside(status, 'signal', `stopped by ${signal}`);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

  // --timeout counts from the process start (performance.now()'s origin): loading is part of it.
  const deadline = opts.timeoutMs > 0 ? opts.timeoutMs : Infinity;
  let resets = 0;
  let launchAt = NaN;
  let result: RunResult;
  let description = '';
  try {
    for (const s of signals) process.on(s, onSignal);
    stdin?.attach();
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
        console: consoleSink,
        debugcon: debugSink,
        input,
        hooks,
        trace: opts.trace,
        traceLine: traces?.push ?? null,
      };
      try {
        machine = new MachineClass(config);
      } catch (e) {
        if (e instanceof LoadError) return fail(EXIT_USAGE, e.message);
        if (e instanceof RangeError && /array buffer|allocation/i.test(e.message)) {
          return fail(EXIT_USAGE, `cannot allocate ${opts.memorySize >> 20} MiB of guest memory: ${e.message}`);
        }
        return fail(EXIT_MONITOR_ERROR, `monitor error: cannot create the machine: ${errorText(e)}`);
      }
      description = machine.load.description;
      if (traces !== null) traces.push(`vmrun: ${description}`);
      result = await machine.run();
      if (resets === 0) launchAt = result.firstRunAt;
      if (!(result.reset && opts.reboot)) break;
      resets++;
      // Let signals and stdin in between two boots (a guest may reset in a few instructions).
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (performance.now() >= deadline) {
        result = {
          ...result,
          status: EXIT_TIMEOUT,
          kind: 'timeout',
          reason: `timeout: the guest was still rebooting after ${opts.timeoutMs / 1000} s`,
          reset: false,
          dump: machine.loop.dumpState(),
        };
        break;
      }
      if (signalled !== null) {
        result = { ...result, status: SIGNAL_STATUS[signalled] ?? 128, kind: 'signal', reason: `stopped by ${signalled}`, reset: false };
        break;
      }
    }
  } finally {
    for (const s of signals) process.off(s, onSignal);
    stdin?.detach();
    hooks.flush();
    closeFile?.();
  }

  // --fail-on wins over an orderly stop: a guest that printed the failure pattern failed.
  let status = result.status;
  let kind = result.kind;
  let reason = result.reason;
  if (status === EXIT_OK && matcher !== null && matcher.failMatched) {
    status = EXIT_GUEST_FAILURE;
    kind = 'fail-on';
    reason = `the console output matched --fail-on ${String(opts.failOn)}`;
  }

  // Console input the guest never read (null: stdin is not the console's).
  const unread = input !== null ? input.unread : null;
  report(opts, result, status, kind, reason, resets, launchAt, description, unread, c, say);
  return status;
}

function report(
  opts: CliOptions,
  r: RunResult,
  status: number,
  kind: StopKind,
  reason: string,
  resets: number,
  launchAt: number,
  description: string,
  unread: number | null,
  c: Styles,
  say: (line: string) => void,
): void {
  const mips = r.wallMs > 0 ? r.instructions / (r.wallMs * 1000) : 0;
  if (opts.json) {
    say(
      JSON.stringify({
        status,
        stop: kind,
        reason,
        kernel: description,
        instructions: r.instructions,
        guestNs: r.guestNs,
        wallMs: Math.round(r.wallMs * 1000) / 1000,
        launchMs: Number.isNaN(launchAt) ? null : Math.round(launchAt * 1000) / 1000,
        mips: Math.round(mips * 100) / 100,
        interruptsInjected: r.interruptsInjected,
        resets,
        consoleInputUnread: unread,
        exits: r.exits,
        ...(r.dump.length > 0 ? { dump: r.dump } : {}),
      }),
    );
    return;
  }
  const line = `vmrun: ${reason} (exit status ${status})`;
  say(status === EXIT_OK ? c.green(line) : status === EXIT_GUEST_FAILURE ? c.yellow(line) : c.red(line));
  for (const l of r.dump) say(c.dim(l));
  if (opts.stats) {
    const byReason = Object.entries(r.exits.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
    const byPort = Object.entries(r.exits.byPort)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    say(`vmrun: stats: ${description}`);
    say(`vmrun: stats: ${r.instructions} instructions in ${(r.wallMs / 1000).toFixed(3)} s wall (${mips.toFixed(1)} MIPS), guest time ${(r.guestNs / 1e9).toFixed(6)} s, ${r.interruptsInjected} interrupts${resets > 0 ? `, ${resets} resets` : ''}`);
    if (!Number.isNaN(launchAt)) say(`vmrun: stats: launch to first guest instruction ${(launchAt / 1000).toFixed(3)} s`);
    say(`vmrun: stats: ${r.exits.total} exits${byReason ? `: ${byReason}` : ''}`);
    if (unread !== null && unread > 0) say(`vmrun: stats: console input: ${unread} bytes the guest did not read`);
    if (byPort) say(`vmrun: stats: exits by port: ${byPort}`);
  }
}
