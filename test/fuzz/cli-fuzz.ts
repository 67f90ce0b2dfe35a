// The process-level fuzzer: mutated kernel images of every format vmrun loads, and random
// instruction streams as flat binaries, each run through the real CLI (`node bin/vmrun.js
// --kernel X --timeout T ...`, after `npm run build`), and the run checked against what vmrun
// promises a CI script. What each check allows:
//
// - status: one of documentedStatuses() (src/vmm/status.ts); with `--exit-port qemu` also any odd
//   status (the guest's `(value << 1) | 1`). With --json, the object's `status` is the process's.
// - no JavaScript exception escapes: no stderr line looks like a stack frame (`    at f (file:1:2)`)
//   or an uncaught error, and no stop reason contains "core error" (a JavaScript exception
//   caught inside the core) — whatever the guest wrote to port 0xE9.
// - time: the process ends within --timeout + 0.5 s of wall time, measured from spawn to exit
//   (--timeout counts from vmrun's process start, loading included). A run still alive at
//   --timeout + 5 s is killed and reported as a hang. The process's CPU time is reported with an
//   overrun: when it is within the limit, the host was too busy to run vmrun on time (the long
//   run counts those apart).
// - memory: peak RSS (GNU time's %M) below guest RAM (-m) + 128 MiB.
// - stderr: with status 2 (bad usage or input; nothing ran) exactly one line, "vmrun: ...".
//   Otherwise every line is vmrun's: it starts with "vmrun: ", or it belongs to the register dump
//   printed after a crash (4) or timeout (124) stop line (the exact formats of formatRegisters
//   and the exit ring in src/vmm/runloop.ts), or, with --json, it is the final JSON object (whose
//   `dump` lines follow the same grammar). The one exception is the guest's own output on the
//   debug console (port 0xE9), whose lines start with "debugcon: " (src/vmm/console.ts) and
//   carry the guest's bytes, control bytes escaped as \xNN: they may hold at most as many bytes
//   as the run reports port 0xE9 exits (--stats, or `exits.byPort` in the JSON); any other text,
//   and a vmrun line glued to the guest's unfinished one, is reported.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documentedStatuses, STOP_KINDS } from '../../src/vmm/status.js';
import { DEBUGCON_PREFIX } from '../../src/vmm/console.js';
import { Rng } from './rng.js';
import { StreamGen } from './x86gen.js';

export const CLI_KINDS = ['bzimage', 'multiboot-aout', 'multiboot-elf', 'bootsector', 'stream16', 'stream32'] as const;
export type CliKind = (typeof CLI_KINDS)[number];

export interface CliCase {
  id: string;
  kind: CliKind;
  /** The file it was derived from, and what was done to it. */
  base: string;
  mutations: string[];
  image: Uint8Array;
  /** Options after `--kernel FILE` (paths relative to the repository root). */
  args: string[];
  timeoutS: number;
  memMiB: number;
  qemuExit: boolean;
  json: boolean;
}

export interface CliResult {
  status: number | null;
  signal: string | null;
  wallMs: number;
  /** CPU time the process used (user + system, ms): far below wallMs, the host was busy. */
  cpuMs: number;
  rssKiB: number;
  stdoutBytes: number;
  stderr: string;
  /** The stop kind (--json), or 'text' when the run printed text. */
  stop: string;
  hung: boolean;
}

const MULTIBOOT_GUESTS = ['ring3', 'taskswitch', 'v86', 'faults'];
const BOOT_SECTORS = ['hello', 'pit-tick', 'uart-irq', 'pm-paging', 'spin', 'triple-fault', 'bad-opcode', 'cpuloop', 'fault-loop'];

const fileCache = new Map<string, Uint8Array>();
function file(root: string, rel: string): Uint8Array {
  let f = fileCache.get(rel);
  if (f === undefined) {
    f = new Uint8Array(readFileSync(join(root, rel)));
    fileCache.set(rel, f);
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Mutations

function u32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

function put(b: Uint8Array, off: number, size: number, v: number): void {
  for (let k = 0; k < size && off + k < b.length; k++) b[off + k] = size > 4 && k >= 4 ? 0 : (v >>> (8 * (k & 3))) & 0xff;
}

/** A value for a field of `size` bytes: boundary values, small changes of the old one, random. */
function fieldValue(r: Rng, old: number, size: number): number {
  const max = size >= 4 ? 0xffffffff : 2 ** (size * 8) - 1;
  return r.weighted(
    [() => 0, () => max, () => (old + r.range(-3, 3)) >>> 0, () => (old ^ (1 << r.int(size * 8))) >>> 0, () => r.u32() & max, () => 2 ** r.int(Math.min(32, size * 8)) >>> 0, () => (max >>> 1) + r.range(0, 1)],
    [2, 2, 3, 3, 3, 2, 1],
  )() >>> 0;
}

function flipBytes(r: Rng, img: Uint8Array, from: number, to: number, n: number, log: string[]): void {
  if (to <= from) return;
  for (let k = 0; k < n; k++) {
    const at = from + r.int(to - from);
    img[at] = r.chance(0.5) ? r.byte() : img[at] ^ (1 << r.int(8));
  }
  log.push(`${n} bytes changed in [0x${from.toString(16)}, 0x${to.toString(16)})`);
}

function truncate(r: Rng, img: Uint8Array, near: number[], log: string[]): Uint8Array {
  const len = r.chance(0.6) && near.length > 0 ? Math.max(0, r.pick(near) + r.range(-8, 8)) : r.int(img.length);
  log.push(`truncated to ${len} bytes`);
  return img.slice(0, Math.min(len, img.length));
}

// Linux boot protocol header fields (Documentation/arch/x86/boot.rst): offset, size.
const BZ_FIELDS: [number, number, string][] = [
  [0x1f1, 1, 'setup_sects'], [0x1f2, 2, 'root_flags'], [0x1f4, 4, 'syssize'], [0x1fa, 2, 'vid_mode'], [0x1fe, 2, 'boot_flag'],
  [0x200, 2, 'jump'], [0x202, 4, 'header'], [0x206, 2, 'version'], [0x210, 1, 'type_of_loader'], [0x211, 1, 'loadflags'],
  [0x214, 4, 'code32_start'], [0x218, 4, 'ramdisk_image'], [0x21c, 4, 'ramdisk_size'], [0x224, 2, 'heap_end_ptr'],
  [0x228, 4, 'cmd_line_ptr'], [0x22c, 4, 'initrd_addr_max'], [0x230, 4, 'kernel_alignment'], [0x234, 1, 'relocatable_kernel'],
  [0x235, 1, 'min_alignment'], [0x236, 2, 'xloadflags'], [0x238, 4, 'cmdline_size'], [0x248, 4, 'payload_offset'],
  [0x24c, 4, 'payload_length'], [0x250, 8, 'setup_data'], [0x258, 8, 'pref_address'], [0x260, 4, 'init_size'], [0x264, 4, 'handover_offset'],
];

function mutateBzImage(r: Rng, src: Uint8Array, log: string[]): Uint8Array {
  let img: Uint8Array = src.slice();
  const setupEnd = ((img[0x1f1] || 4) + 1) * 512;
  for (let n = r.weighted([1, 2, 3], [5, 3, 2]); n > 0; n--) {
    const what = r.weighted(['field', 'flip-header', 'flip-any', 'truncate', 'extend'], [6, 2, 2, 1.5, 0.5]);
    if (what === 'field') {
      const [off, size, name] = r.pick(BZ_FIELDS);
      const old = size === 1 ? img[off] : size === 2 ? img[off] | (img[off + 1] << 8) : u32(img, off);
      const v = fieldValue(r, old, Math.min(size, 4));
      put(img, off, size, v);
      log.push(`${name} = 0x${v.toString(16)}`);
    } else if (what === 'flip-header') {
      flipBytes(r, img, 0x1f0, 0x270, r.range(1, 4), log);
    } else if (what === 'flip-any') {
      flipBytes(r, img, 0, img.length, r.range(1, 16), log);
    } else if (what === 'truncate') {
      img = truncate(r, img, [0x1f0, 0x206, 0x270, setupEnd, setupEnd + 0x4000, img.length - 16], log);
    } else {
      const extra = r.bytes(r.range(1, 65536));
      const out = new Uint8Array(img.length + extra.length);
      out.set(img);
      out.set(extra, img.length);
      img = out;
      log.push(`${extra.length} random bytes appended`);
    }
  }
  return img;
}

/** The offset of the multiboot header in an image (the first 4-aligned magic), or -1. */
function mbHeader(img: Uint8Array): number {
  for (let off = 0; off + 32 <= Math.min(img.length, 8192); off += 4) if (u32(img, off) === 0x1badb002) return off;
  return -1;
}

const MB_FIELDS: [number, string][] = [[0, 'magic'], [4, 'flags'], [8, 'checksum'], [12, 'header_addr'], [16, 'load_addr'], [20, 'load_end_addr'], [24, 'bss_end_addr'], [28, 'entry_addr']];

function fixChecksum(img: Uint8Array, h: number): void {
  put(img, h + 8, 4, (-(u32(img, h) + u32(img, h + 4))) >>> 0);
}

function mutateMultiboot(r: Rng, src: Uint8Array, log: string[]): Uint8Array {
  let img: Uint8Array = src.slice();
  const h = mbHeader(img);
  for (let n = r.weighted([1, 2, 3], [5, 3, 2]); n > 0; n--) {
    const what = r.weighted(['field', 'flip-code', 'truncate'], [6, 3, 1]);
    if (what === 'field' && h >= 0) {
      const [off, name] = r.pick(MB_FIELDS);
      const v = off === 4 && r.chance(0.5) ? (u32(img, h + 4) ^ (1 << r.int(32))) >>> 0 : fieldValue(r, u32(img, h + off), 4);
      put(img, h + off, 4, v);
      const fix = off !== 8 && r.chance(0.7);
      if (fix) fixChecksum(img, h);
      log.push(`multiboot ${name} = 0x${v.toString(16)}${fix ? ' (checksum fixed)' : ''}`);
    } else if (what === 'flip-code') {
      flipBytes(r, img, Math.max(0, h + 32), img.length, r.range(1, 24), log);
    } else {
      img = truncate(r, img, [h, h + 12, h + 32, 0x1000, img.length - 4], log);
    }
  }
  return img;
}

/**
 * An ELF32 multiboot kernel made from an a.out-kludge guest: one PT_LOAD segment at the guest's
 * load address holding its image (bss from the header), the header's a.out flag cleared.
 */
export function elfFromAout(src: Uint8Array): Uint8Array {
  const h = mbHeader(src);
  if (h < 0) throw new Error('no multiboot header');
  const headerAddr = u32(src, h + 12), loadAddr = u32(src, h + 16), loadEnd = u32(src, h + 20), bssEnd = u32(src, h + 24), entry = u32(src, h + 28);
  const fileStart = h - (headerAddr - loadAddr);
  const filesz = (loadEnd === 0 ? src.length - fileStart : loadEnd - loadAddr);
  const memsz = Math.max(filesz, bssEnd === 0 ? 0 : bssEnd - loadAddr);
  const segOff = 0x1000;
  const out = new Uint8Array(segOff + filesz);
  out.set(src.subarray(fileStart, fileStart + filesz), segOff);
  const nh = segOff + (h - fileStart);
  put(out, nh + 4, 4, u32(out, nh + 4) & ~0x10000);
  fixChecksum(out, nh);
  out.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0); // ELF, 32-bit, little-endian, version 1
  put(out, 16, 2, 2); // ET_EXEC
  put(out, 18, 2, 3); // EM_386
  put(out, 20, 4, 1);
  put(out, 24, 4, entry);
  put(out, 28, 4, 52); // e_phoff
  put(out, 40, 2, 52); // e_ehsize
  put(out, 42, 2, 32); // e_phentsize
  put(out, 44, 2, 1); // e_phnum
  put(out, 52, 4, 1); // PT_LOAD
  put(out, 56, 4, segOff);
  put(out, 60, 4, loadAddr);
  put(out, 64, 4, loadAddr);
  put(out, 68, 4, filesz);
  put(out, 72, 4, memsz);
  put(out, 76, 4, 7); // RWX
  put(out, 80, 4, 0x1000);
  return out;
}

const ELF_FIELDS: [number, number, string][] = [
  [4, 1, 'EI_CLASS'], [5, 1, 'EI_DATA'], [16, 2, 'e_type'], [18, 2, 'e_machine'], [24, 4, 'e_entry'], [28, 4, 'e_phoff'],
  [42, 2, 'e_phentsize'], [44, 2, 'e_phnum'], [52, 4, 'p_type'], [56, 4, 'p_offset'], [60, 4, 'p_vaddr'], [64, 4, 'p_paddr'],
  [68, 4, 'p_filesz'], [72, 4, 'p_memsz'],
];

function mutateElf(r: Rng, src: Uint8Array, log: string[]): Uint8Array {
  let img: Uint8Array = src.slice();
  for (let n = r.weighted([1, 2, 3], [5, 3, 2]); n > 0; n--) {
    const what = r.weighted(['field', 'second-segment', 'flip', 'multiboot', 'truncate'], [6, 1, 2, 1, 1]);
    if (what === 'field') {
      const [off, size, name] = r.pick(ELF_FIELDS);
      const old = size === 1 ? img[off] : size === 2 ? img[off] | (img[off + 1] << 8) : u32(img, off);
      const v = fieldValue(r, old, size);
      put(img, off, size, v);
      log.push(`${name} = 0x${v.toString(16)}`);
    } else if (what === 'second-segment') {
      // A second program header, copied from the first with another address (maybe overlapping).
      put(img, 44, 2, 2);
      img.copyWithin(84, 52, 84);
      const v = (u32(img, 64) + r.pick([0, 0x100, 0x1000, 0x100000, -0x1000])) >>> 0;
      put(img, 92, 4, v);
      put(img, 96, 4, v);
      log.push(`second PT_LOAD at 0x${v.toString(16)}`);
    } else if (what === 'flip') {
      flipBytes(r, img, 0, img.length, r.range(1, 16), log);
    } else if (what === 'multiboot') {
      img = mutateMultiboot(r, img, log);
    } else {
      img = truncate(r, img, [52, 84, 0x1000, img.length - 4], log);
    }
  }
  return img;
}

function bootSector(r: Rng, src: Uint8Array, log: string[]): Uint8Array {
  let img: Uint8Array = src.slice();
  const what = r.weighted(['flip', 'stream', 'truncate', 'unsigned'], [4, 4, 1, 1]);
  if (what === 'flip') {
    flipBytes(r, img, 0, img.length, r.range(1, 12), log);
  } else if (what === 'stream') {
    const at = r.int(0x1f0);
    const s = new StreamGen(r, false, { pointers: [0x7c00, 0x7e00, 0xb8000 & 0xffff, 0x3f8, 0xe9, 0x500] }).generate(r.range(1, 12)).bytes;
    img.set(s.slice(0, 0x1fe - at), at);
    log.push(`${Math.min(s.length, 0x1fe - at)} bytes of random instructions at 0x${at.toString(16)}`);
  } else if (what === 'truncate') {
    img = truncate(r, img, [0, 1, 0x1fe, 0x1ff], log);
  } else {
    img[0x1fe] = 0;
    log.push('no 0x55 0xAA signature');
  }
  return img;
}

// ---------------------------------------------------------------------------------------------
// Case generation

export function generateCliCase(root: string, seed: number, index: number): CliCase {
  const r = new Rng(seed, 0x40000000 + index);
  const kind = r.weighted([...CLI_KINDS], [3, 2, 2, 2, 1.5, 1.5]);
  const log: string[] = [];
  const args: string[] = [];
  let base = '';
  let image: Uint8Array;
  let memMiB = r.weighted([2, 4, 16, 32, 128, 256], [1, 2, 2, 2, 4, 1]);
  let timeoutS = r.weighted([0.3, 0.5, 1.0], [2, 2, 1]);
  switch (kind) {
    case 'bzimage':
      base = 'images/linux/bzImage';
      image = r.chance(0.05) ? file(root, base).slice() : mutateBzImage(r, file(root, base), log);
      memMiB = r.weighted([16, 32, 64, 128, 256], [1, 1, 2, 4, 1]);
      timeoutS = r.weighted([0.5, 1.5, 2.5], [2, 2, 1]);
      if (r.chance(0.3)) args.push('--initrd', r.chance(0.8) ? 'images/linux/initramfs.cpio.gz' : 'images/guests/hello.bin');
      if (r.chance(0.2)) args.push('--append', r.chance(0.5) ? 'console=ttyS0 panic=-1' : 'x'.repeat(r.range(1, 6000)));
      break;
    case 'multiboot-aout':
      base = `images/guests/${r.pick(MULTIBOOT_GUESTS)}.bin`;
      image = mutateMultiboot(r, file(root, base), log);
      break;
    case 'multiboot-elf':
      base = `images/guests/${r.pick(MULTIBOOT_GUESTS)}.bin (as ELF)`;
      image = mutateElf(r, elfFromAout(file(root, base.split(' ')[0])), log);
      if (r.chance(0.1)) args.push('--initrd', 'images/guests/hello.bin');
      break;
    case 'bootsector':
      base = `images/guests/${r.pick(BOOT_SECTORS)}.bin`;
      image = bootSector(r, file(root, base), log);
      break;
    default: {
      const code32 = kind === 'stream32';
      base = 'random instructions';
      const s = new StreamGen(r, code32, { pointers: code32 ? [0x7c00, 0x100000, 0xb8000, 0xf0000000, 0x7000] : [0x7c00, 0x7e00, 0x8000, 0xe9, 0x3f8] }).generate(r.range(4, 200)).bytes;
      image = new Uint8Array(Math.max(512, s.length));
      image.set(s);
      if (!code32 || r.chance(0.5)) {
        image[510] = 0x55;
        image[511] = 0xaa;
      }
      log.push(`${s.length} bytes of ${code32 ? 32 : 16}-bit instructions`);
      if (code32) args.push('--bits', '32');
      if (r.chance(0.1)) args.push('--load-addr', r.pick(['0x1000', '0x100000', '0x7c00', '0x90000']));
    }
  }
  if (image.length === 0) image = new Uint8Array([0xf4]);
  const qemuExit = r.chance(0.3);
  if (qemuExit) args.push('--exit-port', 'qemu');
  if (r.chance(0.2)) args.push('--cpu', r.pick(['pentium2', 'pentiumpro', 'i486']));
  if (r.chance(0.05)) args.push('--reboot');
  if (r.chance(0.1)) args.push('--serial', r.pick(['none', 'stdio']));
  const json = r.chance(0.7);
  args.push(json ? '--json' : '--stats');
  args.push('-m', `${memMiB}M`, '--timeout', String(timeoutS));
  return { id: `${seed}:${index}`, kind, base, mutations: log, image, args, timeoutS, memMiB, qemuExit, json };
}

// ---------------------------------------------------------------------------------------------
// Running and checking

const STDERR_CAP = 1 << 20;

/** Run a case through `node bin/vmrun.js` under GNU time (for the peak RSS). */
export function runCliCase(root: string, c: CliCase, work: string): Promise<CliResult> {
  const kernel = join(work, `kernel-${c.id.replace(/\W/g, '_')}.bin`);
  const rssFile = `${kernel}.rss`;
  writeFileSync(kernel, c.image);
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('VMRUN_')) delete env[k];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, process.execPath, 'bin/vmrun.js', '--kernel', kernel, ...c.args], {
      cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let stdoutBytes = 0;
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (d: Buffer) => { stdoutBytes += d.length; });
    child.stderr.setEncoding('latin1');
    child.stderr.on('data', (d: string) => { if (stderr.length < STDERR_CAP) stderr += d; });
    // A run that outlives its timeout by 5 s is killed (its process group: time and node).
    const killer = setTimeout(() => {
      hung = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, c.timeoutS * 1000 + 5000);
    child.on('error', (e) => { clearTimeout(killer); reject(e); });
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      const wallMs = performance.now() - t0;
      let rssKiB = 0, cpuMs = 0;
      try {
        const text = readFileSync(rssFile, 'utf8');
        // GNU time prints "Command exited with non-zero status N" before the figures.
        const [m, u, sys] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
        rssKiB = m;
        cpuMs = (u + sys) * 1000;
      } catch { /* killed before time wrote it */ }
      rmSync(kernel, { force: true });
      rmSync(rssFile, { force: true });
      // GNU time exits with the command's status.
      let stop = 'text';
      if (c.json) {
        const at = stderr.lastIndexOf('{"status":');
        try { stop = String((JSON.parse(stderr.slice(at)) as { stop: string }).stop); } catch { stop = 'no-json'; }
      }
      resolve({ status, signal, wallMs, cpuMs, rssKiB, stdoutBytes, stderr, stop, hung });
    });
  });
}

const HEX8 = '[0-9a-f]{8}', HEX4 = '[0-9a-f]{4}';
const SEG = `[CDEFGS]S=${HEX4} ${HEX8} ${HEX8} type [0-9a-f]( D)?( NP)?`;
/** The register dump after a crash or timeout stop line (runloop.ts dumpState). */
const DUMP_LINES: RegExp[] = [
  new RegExp(`^EAX=${HEX8} EBX=${HEX8} ECX=${HEX8} EDX=${HEX8}$`),
  new RegExp(`^ESI=${HEX8} EDI=${HEX8} EBP=${HEX8} ESP=${HEX8}$`),
  new RegExp(`^EIP=${HEX8} EFL=${HEX8} CS:EIP=${HEX4}:${HEX8}$`),
  new RegExp(`^${SEG}  ${SEG}$`),
  new RegExp(`^${SEG}  ${SEG}$`),
  new RegExp(`^${SEG}  ${SEG}$`),
  new RegExp(`^GDT=${HEX8} ${HEX4}  IDT=${HEX8} ${HEX4}  TR=${HEX4}$`),
  new RegExp(`^CR0=${HEX8} CR2=${HEX8} CR3=${HEX8} CR4=${HEX8} EFER=${HEX8}$`),
];
const DUMP_EXITS = /^last \d+ exits \(oldest first\):$/;
const DUMP_EXIT = /^ {2}exit [a-z-]+( .*)?$/;
const REGS_UNAVAILABLE = /^registers unavailable: /;
const STACK_FRAME = /^\s+at .*(\(.*:\d+:\d+\)|:\d+:\d+)$/;
const UNCAUGHT = /^(Uncaught |node:internal|\w*Error: |\s+\^$)/;

/** Check a dump (lines after a stop line, or the JSON's `dump`); returns the problems. */
function checkDump(lines: string[]): string[] {
  const out: string[] = [];
  let k = 0;
  if (lines.length > 0 && REGS_UNAVAILABLE.test(lines[0])) k = 1;
  else for (; k < DUMP_LINES.length; k++) if (!DUMP_LINES[k].test(lines[k] ?? '')) out.push(`register dump line ${k + 1} is not in vmrun's format: ${JSON.stringify(lines[k] ?? '(missing)')}`);
  if (k < lines.length) {
    if (!DUMP_EXITS.test(lines[k])) out.push(`dump line ${k + 1} is not in vmrun's format: ${JSON.stringify(lines[k])}`);
    for (const l of lines.slice(k + 1)) if (!DUMP_EXIT.test(l)) out.push(`exit line in the dump is not in vmrun's format: ${JSON.stringify(l)}`);
  }
  return out;
}

/** The problems with a run (see the top of this file), [] when it kept every promise. */
export function checkCliResult(c: CliCase, r: CliResult): string[] {
  const out: string[] = [];
  if (r.hung) return [`hang: still running ${(r.wallMs / 1000).toFixed(1)} s after start with --timeout ${c.timeoutS} (killed)`];
  if (r.signal !== null) out.push(`killed by ${r.signal}`);
  const documented = documentedStatuses();
  if (r.status === null || !(documented.includes(r.status) || (c.qemuExit && r.status % 2 === 1))) out.push(`exit status ${String(r.status)} is not a documented one`);
  if (r.wallMs > c.timeoutS * 1000 + 500) {
    out.push(`wall time ${(r.wallMs / 1000).toFixed(3)} s exceeds --timeout ${c.timeoutS} s by more than 0.5 s (CPU time ${(r.cpuMs / 1000).toFixed(3)} s)`);
  }
  const rssLimitKiB = (c.memMiB + 128) * 1024;
  if (r.rssKiB > rssLimitKiB) out.push(`peak RSS ${(r.rssKiB / 1024).toFixed(0)} MiB exceeds guest RAM + 128 MiB (${c.memMiB + 128} MiB)`);
  if (r.stderr.length >= STDERR_CAP) out.push('more than 1 MiB on stderr');

  const lines = r.stderr.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (r.status === 2) {
    // Bad usage or input: one line of vmrun's (no stop line, no JSON: nothing ran).
    if (lines.length !== 1 || !lines[0].startsWith('vmrun: ')) out.push(`status 2 without exactly one "vmrun: " line on stderr: ${JSON.stringify(r.stderr.slice(0, 300))}`);
    lines.forEach((l) => { if (STACK_FRAME.test(l) || UNCAUGHT.test(l)) out.push(`a JavaScript exception escaped: ${JSON.stringify(l.slice(0, 200))}`); });
    return out;
  }
  let e9 = 0;
  let vmrunLines: string[] = [];
  let guestBytes = 0;
  // A debug-console line counts the guest bytes it shows, not its prefix and escapes, nor its
  // line end (vmrun ends a line the guest left unfinished before writing its own).
  let debugconSlack = 0;
  for (const l of r.stderr.split('\n')) {
    if (l.startsWith(DEBUGCON_PREFIX)) debugconSlack += l.length + 1 - guestByteCount(l.slice(DEBUGCON_PREFIX.length));
  }
  const glued: string[] = [];
  /** Lines that are neither vmrun's nor the debug console's. */
  const foreign: string[] = [];
  const note = (l: string): void => {
    if (STACK_FRAME.test(l) || UNCAUGHT.test(l)) out.push(`a JavaScript exception escaped: ${JSON.stringify(l.slice(0, 200))}`);
  };
  if (c.json) {
    const at = r.stderr.lastIndexOf('{"status":');
    let obj: { status?: unknown; stop?: unknown; reason?: unknown; dump?: unknown; exits?: { byPort?: Record<string, number> } } | null = null;
    if (at >= 0) {
      try { obj = JSON.parse(r.stderr.slice(at)); } catch { obj = null; }
    }
    if (obj === null) {
      out.push('--json: no JSON object at the end of stderr');
    } else {
      if (obj.status !== r.status) out.push(`--json: status ${String(obj.status)} but the process exited with ${String(r.status)}`);
      if (typeof obj.stop !== 'string' || !(STOP_KINDS as readonly string[]).includes(obj.stop)) out.push(`--json: unknown stop kind ${String(obj.stop)}`);
      if (typeof obj.reason === 'string' && obj.reason.includes('core error')) out.push(`a JavaScript exception inside the core: ${obj.reason}`);
      if (Array.isArray(obj.dump)) out.push(...checkDump(obj.dump as string[]));
      e9 = obj.exits?.byPort?.['0xe9'] ?? 0;
      if (at > 0 && r.stderr[at - 1] !== '\n') glued.push('the JSON object');
    }
    // Before the object: vmrun's own lines, and the guest's debug-console bytes (the last part,
    // after the last newline, is a line the guest left unfinished).
    const parts = (at >= 0 ? r.stderr.slice(0, at) : r.stderr).split('\n');
    parts.forEach((l, k) => {
      const complete = k < parts.length - 1;
      if (complete && l.startsWith('vmrun: ')) vmrunLines.push(l);
      else {
        guestBytes += l.length + (complete ? 1 : 0);
        if (l !== '' && !l.startsWith(DEBUGCON_PREFIX)) foreign.push(l);
      }
      note(l);
    });
  } else {
    const stop = lines.findIndex((l) => /vmrun: .*\(exit status \d+\)$/.test(l));
    if (stop < 0) {
      out.push('no stop line ("vmrun: ... (exit status N)") on stderr');
    } else {
      const m = /vmrun: (.*)\(exit status (\d+)\)$/.exec(lines[stop])!;
      if (Number(m[2]) !== r.status) out.push(`stop line says status ${m[2]} but the process exited with ${String(r.status)}`);
      if (m[1].includes('core error')) out.push(`a JavaScript exception inside the core: ${m[1]}`);
      if (!lines[stop].startsWith('vmrun: ')) glued.push('the stop line');
      let k = stop + 1;
      if (r.status === 4 || r.status === 124) {
        let end = k;
        while (end < lines.length && !lines[end].startsWith('vmrun: ')) end++;
        out.push(...checkDump(lines.slice(k, end)));
        k = end;
      }
      for (const l of lines.slice(k)) if (!l.startsWith('vmrun: ')) out.push(`a line after the stop line is not vmrun's: ${JSON.stringify(l.slice(0, 200))}`);
      vmrunLines = lines.slice(k);
      const ports = lines.slice(k).find((l) => l.startsWith('vmrun: stats: exits by port: '));
      const e9m = ports === undefined ? null : /(?:: |, )0xe9 (\d+)/.exec(ports);
      e9 = e9m === null ? 0 : Number(e9m[1]);
      for (const l of lines.slice(0, stop)) {
        if (!l.startsWith('vmrun: ')) {
          guestBytes += l.length + 1;
          if (!l.startsWith(DEBUGCON_PREFIX)) foreign.push(l);
        }
        note(l);
      }
      const gluedAt = lines[stop].indexOf('vmrun: ');
      guestBytes += gluedAt > 0 ? gluedAt : 0;
    }
  }
  for (const l of vmrunLines) note(l);
  guestBytes -= debugconSlack;
  if (guestBytes > e9) out.push(`${guestBytes} bytes on stderr are not vmrun's lines, and the guest wrote ${e9} to the debug console (port 0xE9)`);
  for (const g of glued) out.push(`${g} does not start a line: it follows the guest's unfinished debug-console line`);
  for (const l of foreign.slice(0, 3)) out.push(`a line on stderr is neither vmrun's nor the debug console's: ${JSON.stringify(l.slice(0, 200))}`);
  return out;
}

/** A temporary folder for the kernels being run. */
export function workDir(): string {
  return mkdtempSync(join(tmpdir(), 'vmrun-fuzz-cli-'));
}

/** The guest bytes a debug-console line's text stands for (\xNN and \uNNNN escapes collapsed). */
function guestByteCount(text: string): number {
  return Buffer.byteLength(text.replace(/\\x[0-9a-f]{2}/g, 'X').replace(/\\u[0-9a-f]{4}/g, 'XXX'), 'utf8');
}
