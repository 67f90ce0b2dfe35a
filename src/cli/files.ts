// The files a run reads and writes, opened so that neither can surprise the user:
//
// - An input (--kernel, --initrd) must be a regular file no larger than guest RAM. It is opened
//   with O_NONBLOCK (a FIFO without a writer cannot block the open) and checked with fstat on
//   that descriptor before a byte is read, so /dev/zero, a FIFO, a socket or a directory is
//   refused with one line, and what is read is what was checked.
// - An output file (--serial file:, --debugcon file:, --json-file) is opened without O_TRUNC,
//   checked with fstat, and only then truncated: a path that names one of the run's inputs
//   (the same device and inode, so a symlink or a hard link to it too) or the same file as
//   another output is refused and left untouched. Outputs are truncated, as QEMU's file
//   chardev does. A FIFO or a terminal is written as it is (nothing to truncate). /dev/fd/N,
//   /dev/stdout and /dev/stderr are the inherited descriptors themselves, written as the shell
//   opened them (`3>>log` appends), not reopened; the guest's output may not go to vmrun's
//   stderr that way (it would be unmarked there: --debugcon stderr marks it).

import * as fs from 'node:fs';
import { UsageError } from './options.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** A file's identity: two paths name the same file when both agree. */
export interface FileId {
  dev: bigint;
  ino: bigint;
}

export interface InputFile {
  /** "kernel", "initrd". */
  what: string;
  path: string;
  bytes: Uint8Array;
  id: FileId;
}

export interface OutputFile {
  /** The option that named it, for messages: "--serial file:x". */
  option: string;
  path: string;
  fd: number;
  /** Set for a regular file (the only kind two options could clash on). */
  id: FileId | null;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What kind of file a stat describes, for "not a regular file (…)". */
function kindOf(st: fs.BigIntStats): string {
  if (st.isDirectory()) return 'it is a directory';
  if (st.isCharacterDevice()) return 'it is a character device';
  if (st.isBlockDevice()) return 'it is a block device';
  if (st.isFIFO()) return 'it is a FIFO';
  if (st.isSocket()) return 'it is a socket';
  return 'it is not a regular file';
}

/** A one-line reason for a failed open or read. */
function openProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENXIO':
      return 'no process has it open for reading (a FIFO or socket without a reader)';
    default:
      return errorText(e);
  }
}

function mib(n: number): string {
  const m = n / 2 ** 20;
  return Number.isInteger(m) ? `${m} MiB` : `${m.toFixed(1)} MiB`;
}

/**
 * Read an input file whole: a regular file of at most `limit` bytes (guest RAM). Throws
 * UsageError with one line for anything else.
 */
export function readInput(what: string, path: string, limit: number): InputFile {
  const problem = (why: string): UsageError => new UsageError(`cannot read ${what} ${path}: ${why}`);
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  } catch (e) {
    throw problem(openProblem(e));
  }
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw problem(`${kindOf(st)}; vmrun reads the ${what} from a regular file`);
    if (st.size > BigInt(limit)) {
      throw problem(`it has ${st.size} bytes, more than guest RAM (${mib(limit)}; see -m)`);
    }
    const size = Number(st.size);
    const bytes = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, bytes, got, size - got, got);
      if (n === 0) break; // the file shrank while being read: what is there
      got += n;
    }
    return { what, path, bytes: got === size ? bytes : bytes.subarray(0, got), id: { dev: st.dev, ino: st.ino } };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw problem(openProblem(e));
  } finally {
    fs.closeSync(fd);
  }
}

const same = (a: FileId, b: FileId): boolean => a.dev === b.dev && a.ino === b.ino;

/** The descriptor a path names directly: /dev/fd/N, /proc/self/fd/N, /dev/stdout, /dev/stderr. */
export function inheritedFd(path: string): number | null {
  if (path === '/dev/stdout') return 1;
  if (path === '/dev/stderr') return 2;
  const m = /^\/(?:dev|proc\/self)\/fd\/(\d{1,9})$/.exec(path);
  return m === null ? null : Number(m[1]);
}

export interface OutputRules {
  /** The guest's raw output: refuse vmrun's own stderr (fd 2, or the file it is). */
  notStderr?: boolean;
}

/**
 * Open an output file for an option: created if missing (mode 0666 less the umask), refused
 * if it is one of `inputs` or the same regular file as one of `outputs`, else truncated when it
 * is a regular file. The descriptor is non-blocking (a FIFO without a reader is refused rather
 * than waited for); FdOutput handles EAGAIN. An inherited descriptor (inheritedFd) is used as
 * it is.
 */
export function openOutput(
  option: string,
  path: string,
  inputs: readonly InputFile[],
  outputs: readonly OutputFile[],
  rules: OutputRules = {},
): OutputFile {
  const cannot = (why: string): UsageError => new UsageError(`${option}: cannot open ${path} for writing: ${why}`);
  const inherited = inheritedFd(path);
  let fd: number;
  if (inherited !== null) {
    fd = inherited;
  } else {
    try {
      fd = fs.openSync(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY, 0o666);
    } catch (e) {
      throw cannot(openProblem(e));
    }
  }
  try {
    let st: fs.BigIntStats;
    try {
      st = fs.fstatSync(fd, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EBADF') throw cannot(`descriptor ${fd} is not open`);
      throw e;
    }
    const id: FileId = { dev: st.dev, ino: st.ino };
    if (st.isDirectory()) throw cannot('it is a directory');
    if (rules.notStderr && (fd === 2 || (!st.isCharacterDevice() && isStderr(id)))) {
      throw new UsageError(`${option}: ${path} is vmrun's stderr, where the guest's lines would pass for vmrun's (use --debugcon stderr, which marks them)`);
    }
    if (!st.isFile()) return { option, path, fd, id: null };
    for (const input of inputs) {
      if (same(id, input.id)) {
        throw new UsageError(`${option}: ${path} is the ${input.what} file ${input.path}; refusing to overwrite an input of the run`);
      }
    }
    for (const other of outputs) {
      if (other.id !== null && same(id, other.id)) {
        throw new UsageError(`${option}: ${path} is the same file as ${other.option}; give each output a file of its own`);
      }
    }
    if (inherited === null) fs.ftruncateSync(fd, 0);
    return { option, path, fd, id };
  } catch (e) {
    if (inherited === null) fs.closeSync(fd);
    if (e instanceof UsageError) throw e;
    throw cannot(openProblem(e));
  }
}

/** The file behind vmrun's stderr is this one. */
function isStderr(id: FileId): boolean {
  try {
    const st = fs.fstatSync(2, { bigint: true });
    return same(id, { dev: st.dev, ino: st.ino });
  } catch {
    return false;
  }
}

/** Close an output (an inherited descriptor stays open). */
export function closeOutput(out: OutputFile): void {
  if (inheritedFd(out.path) !== null) return;
  try {
    fs.closeSync(out.fd);
  } catch {
    // already closed
  }
}

/**
 * Refuse a standard descriptor (stdout appended to with `>>`) that is one of the run's inputs:
 * the console output would be written into the kernel.
 */
export function checkStdioNotInput(fd: number, name: string, inputs: readonly InputFile[]): void {
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch {
    return; // closed: the first write says so
  }
  if (!st.isFile()) return;
  for (const input of inputs) {
    if (same({ dev: st.dev, ino: st.ino }, input.id)) {
      throw new UsageError(`${name} is the ${input.what} file ${input.path}; refusing to write the console into an input of the run`);
    }
  }
}
