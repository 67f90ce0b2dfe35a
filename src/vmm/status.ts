// vmrun's exit statuses and stop kinds: the one table the run loop, the machine, the CLI, the
// README (test/cli/status-doc.test.ts compares its table with this one) and the fuzz harness use.
//
// The status is what a shell sees; the stop kind is the machine-readable reason that --json
// reports, which also tells apart what one status cannot (with `--exit-port qemu`, a guest can
// produce any odd status, 3, 129 and 143 among them).

export const STATUS_OK = 0;
export const STATUS_GUEST_FAILURE = 1;
export const STATUS_USAGE = 2;
export const STATUS_MONITOR_ERROR = 3;
export const STATUS_CRASH = 4;
export const STATUS_EXPECT_UNMATCHED = 5;
export const STATUS_CONSOLE_ERROR = 74;
export const STATUS_TIMEOUT = 124;
export const STATUS_SIGHUP = 129;
export const STATUS_SIGINT = 130;
export const STATUS_SIGTERM = 143;

/** The status for a signal that stopped the run (128 + the signal number, as a shell reports). */
export const SIGNAL_STATUS: Readonly<Record<string, number>> = {
  SIGHUP: STATUS_SIGHUP,
  SIGINT: STATUS_SIGINT,
  SIGTERM: STATUS_SIGTERM,
};

/** Every status vmrun itself can exit with, and what it means (the README's table). */
export const STATUS_TABLE: ReadonlyArray<{ readonly codes: readonly number[]; readonly meaning: string }> = [
  { codes: [STATUS_OK], meaning: 'the guest stopped in order (see the stop kinds), or `--expect` matched, or Ctrl-A x' },
  { codes: [STATUS_GUEST_FAILURE], meaning: 'the guest reported failure: a value ≠ 0 on the exit port, `--fail-on` matched, or the `--success` condition was not met' },
  { codes: [STATUS_USAGE], meaning: 'bad usage or bad input: unknown option, bad value, missing, unreadable or oversized file, not a loadable kernel, memory too small — one line on stderr' },
  { codes: [STATUS_MONITOR_ERROR], meaning: 'monitor error: an instruction, device register or boot-protocol field the emulator does not implement — one line naming CS:EIP, the instruction bytes and the reason' },
  { codes: [STATUS_CRASH], meaning: 'the guest crashed: triple fault' },
  { codes: [STATUS_EXPECT_UNMATCHED], meaning: '`--expect` was given and the run ended without the console output matching it' },
  { codes: [STATUS_CONSOLE_ERROR], meaning: 'the console output could not be written (a full disk, a closed pipe): output was lost' },
  { codes: [STATUS_TIMEOUT], meaning: '`--timeout` expired (as with `timeout(1)`)' },
  { codes: [STATUS_SIGHUP, STATUS_SIGINT, STATUS_SIGTERM], meaning: 'stopped by SIGHUP, SIGINT, SIGTERM (a second signal forces the exit)' },
];

/** Why a run stopped, as `--json` reports it in `stop`. */
export type StopKind =
  | 'exit-port' // the guest wrote the exit port
  | 'halt' // HLT with interrupts disabled
  | 'idle' // HLT with interrupts enabled and nothing left that could wake the guest
  | 'reset' // the guest asked for a reset (under --no-reboot)
  | 'expect' // --expect matched
  | 'fail-on' // --fail-on matched
  | 'expect-unmatched' // the run ended in order but --expect never matched
  | 'success-unmet' // the run ended in order but the --success condition was not met
  | 'quit' // Ctrl-A x
  | 'signal' // SIGHUP, SIGINT, SIGTERM
  | 'timeout' // --timeout
  | 'monitor-error' // an InternalError or a device the monitor does not implement
  | 'triple-fault' // the guest crashed
  | 'console-error'; // the console output could not be written

export const STOP_KINDS: readonly StopKind[] = [
  'exit-port', 'halt', 'idle', 'reset', 'expect', 'fail-on', 'expect-unmatched', 'success-unmet',
  'quit', 'signal', 'timeout', 'monitor-error', 'triple-fault', 'console-error',
];

/** The statuses in STATUS_TABLE. */
export function documentedStatuses(): number[] {
  return STATUS_TABLE.flatMap((row) => row.codes);
}
