#!/usr/bin/env node
// vmrun's benchmark: each workload under vmrun and under qemu-system-i386 (TCG) on the same
// files, several repetitions each; prints medians (min–max), vmrun's launch time (process start
// to the first guest instruction, from its --stats output), guest MIPS, peak RSS and the
// vmrun/QEMU ratio, and writes the results as JSON to bench/results/latest.json.
//
//   npm run bench                     all workloads, 3 repetitions
//   node bench/run.js --reps 5 cpuloop linux-xz-boot
//
// Benchmarks are not tests: nothing here fails on a slow machine. A workload whose output does
// not match is reported as wrong, not timed.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareDebian } from './debian.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vmrunBin = path.join(root, 'bin/vmrun.js');
const img = (p) => path.join(root, 'images', p);

const QEMU_COMMON = ['-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'];

/** Workloads: the same image under both, and the console text that proves the run was right. */
const WORKLOADS = [
  {
    name: 'linux-boot',
    what: 'images/linux boot to its userspace marker',
    files: ['linux/bzImage', 'linux/initramfs.cpio.gz'],
    // '-- restart' makes /init ask for a reboot instead of powering off: QEMU without ACPI does not
    // exit on Linux's halt-style power-off, but -no-reboot (and vmrun's default) end on a reboot.
    vmrun: ['--kernel', img('linux/bzImage'), '--initrd', img('linux/initramfs.cpio.gz'), '--append', 'console=ttyS0 -- restart', '-m', '128M'],
    qemu: ['-m', '128', '-kernel', img('linux/bzImage'), '-initrd', img('linux/initramfs.cpio.gz'), '-append', 'console=ttyS0 -- restart'],
    expect: /vmrun-init/,
  },
  {
    name: 'linux-xz-boot',
    what: 'the same boot with the kernel compressed by XZ (bzImage-xz): its own decompressor dominates',
    files: ['linux/bzImage-xz', 'linux/initramfs.cpio.gz'],
    vmrun: ['--kernel', img('linux/bzImage-xz'), '--initrd', img('linux/initramfs.cpio.gz'), '--append', 'console=ttyS0 -- restart', '-m', '128M'],
    qemu: ['-m', '128', '-kernel', img('linux/bzImage-xz'), '-initrd', img('linux/initramfs.cpio.gz'), '-append', 'console=ttyS0 -- restart'],
    expect: /vmrun-init/,
  },
  {
    name: 'debian-686',
    what: "Debian 12's own 686 kernel and netboot installer initrd (fetched by bench/debian.mjs), to the marker of an /init appended to the initrd",
    prepare: () => prepareDebian(root),
    vmrun: (p) => ['--kernel', p.kernel, '--initrd', p.initrd, '--append', 'console=ttyS0 -- restart', '-m', '512M'],
    qemu: (p) => ['-m', '512', '-kernel', p.kernel, '-initrd', p.initrd, '-append', 'console=ttyS0 -- restart'],
    expect: /vmrun-init: hello from userspace/,
  },
  {
    name: 'cpuloop',
    what: 'CPU-bound loop over an 8 MiB buffer, result checked (images/guests/cpuloop.asm)',
    files: ['guests/cpuloop.bin'],
    vmrun: ['--kernel', img('guests/cpuloop.bin'), '-m', '32M'],
    qemu: ['-m', '32', '-drive', `format=raw,file=${img('guests/cpuloop.bin')}`],
    expect: /cpuloop: 5BD8C484/,
  },
];

function parseArgs(argv) {
  const out = { reps: 3, only: [] };
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === '--reps') out.reps = Number(argv[++k]);
    else out.only.push(argv[k]);
  }
  return out;
}

/** Run a command under /usr/bin/time for wall time and peak RSS. */
function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', cmd, ...args], {
    encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, input: '',
  });
  const m = /TIME ([\d.]+) (\d+)\s*$/.exec(r.stderr ?? '');
  return {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    wall: m ? Number(m[1]) : NaN,
    rssMiB: m ? Number(m[2]) / 1024 : NaN,
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

function fmt(s, digits = 2) {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** What vmrun's --stats lines say: instructions retired and the launch time in seconds. */
function parseStats(stderr) {
  const count = /^vmrun: stats: (\d+) instructions in /m.exec(stderr);
  const launch = /^vmrun: stats: launch to first guest instruction ([\d.]+) s$/m.exec(stderr);
  return { instructions: count ? Number(count[1]) : NaN, launch: launch ? Number(launch[1]) : NaN };
}

/** Node's own start-up here: process start to the first line of an ES module file (no vmrun code). */
function nodeStartup(reps) {
  const dir = mkdtempSync(path.join(tmpdir(), 'vmrun-bench-'));
  const file = path.join(dir, 'empty.mjs');
  writeFileSync(file, 'process.stdout.write(String(performance.now() / 1000));\n');
  const xs = [];
  for (let k = 0; k < reps; k++) {
    // In the environment vmrun gives itself (bin/vmrun.js drops NODE_EXTRA_CA_CERTS).
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', env });
    if (r.status === 0) xs.push(Number(r.stdout));
  }
  rmSync(dir, { recursive: true, force: true });
  return xs.length > 0 ? summary(xs) : null;
}

/** Whether bin/vmrun.js will run the one-file build (see tools/bundle.mjs), as `npm run build` leaves it. */
function bundleIsCurrent() {
  try {
    return statSync(path.join(root, 'dist/vmrun-bundle.js')).mtimeMs >= statSync(path.join(root, 'dist/cli/main.js')).mtimeMs;
  } catch {
    return false;
  }
}

const opts = parseArgs(process.argv.slice(2));
const bundled = bundleIsCurrent();
if (!bundled) console.log('note: dist/vmrun-bundle.js is missing or older than dist/cli/main.js, so vmrun starts from the modules (slower launch): run npm run build');
const haveQemu = spawnSync('qemu-system-i386', ['--version']).status === 0;
const results = [];
for (const w of WORKLOADS) {
  if (opts.only.length > 0 && !opts.only.includes(w.name)) continue;
  let vmrunArgs = w.vmrun, qemuArgs = w.qemu;
  if (w.prepare !== undefined) {
    const p = w.prepare();
    if (p.skip !== undefined) {
      console.log(`${w.name}: skipped (${p.skip})`);
      continue;
    }
    vmrunArgs = w.vmrun(p);
    qemuArgs = w.qemu(p);
    console.log(`${w.name}: ${p.version}`);
  } else {
    const missing = w.files.filter((f) => !existsSync(img(f)));
    if (missing.length > 0) {
      console.log(`${w.name}: skipped (missing ${missing.join(', ')})`);
      continue;
    }
  }
  const vm = [], qm = [];
  let instructions = NaN;
  let wrong = null;
  // vmrun and QEMU repetitions alternate, so a change in the (shared) machine's load affects both.
  for (let k = 0; k < opts.reps && wrong === null; k++) {
    const r = timed(vmrunBin, [...vmrunArgs, '--stats']); // as a user runs it (its #! line has the Node options)
    if (r.status !== 0 || !w.expect.test(r.stdout)) {
      wrong = `vmrun exit ${r.status}: ${r.stderr.split('\n').filter((l) => l && !l.startsWith('TIME') && !l.startsWith('vmrun: stats:')).slice(-2).join(' | ')}`;
      break;
    }
    const stats = parseStats(r.stderr);
    if (Number.isNaN(stats.instructions) || Number.isNaN(stats.launch)) {
      wrong = 'vmrun --stats did not print the instruction count and the launch time';
      break;
    }
    // The default virtual clock makes a run deterministic: every repetition retires the same count.
    if (!Number.isNaN(instructions) && stats.instructions !== instructions) {
      wrong = `vmrun retired ${instructions} instructions in one run and ${stats.instructions} in another`;
      break;
    }
    instructions = stats.instructions;
    vm.push({ ...r, launch: stats.launch });
    if (haveQemu) {
      const q = timed('qemu-system-i386', [...QEMU_COMMON, ...qemuArgs]);
      if (!w.expect.test(q.stdout)) {
        wrong = `qemu did not print the expected output (exit ${q.status})`;
        break;
      }
      qm.push(q);
    }
  }
  const row = { name: w.name, what: w.what, instructions, reps: opts.reps };
  if (wrong !== null) {
    row.error = wrong;
    console.log(`${w.name}: WRONG: ${wrong}`);
    results.push(row);
    continue;
  }
  row.vmrun = {
    wall: summary(vm.map((r) => r.wall)),
    launch: summary(vm.map((r) => r.launch)),
    rssMiB: summary(vm.map((r) => r.rssMiB)),
  };
  row.vmrun.mips = instructions / row.vmrun.wall.median / 1e6;
  if (qm.length > 0) {
    row.qemu = { wall: summary(qm.map((r) => r.wall)), rssMiB: summary(qm.map((r) => r.rssMiB)) };
    row.qemu.mips = instructions / row.qemu.wall.median / 1e6; // the same guest work, vmrun's count
    row.ratio = row.vmrun.wall.median / row.qemu.wall.median;
  }
  results.push(row);
}

const node = nodeStartup(Math.max(opts.reps, 9));

console.log('');
console.log(`${opts.reps} repetitions each; times in seconds, median (min–max); MIPS = guest instructions / median wall time.`);
console.log('');
console.log('| workload | guest instructions | vmrun wall | vmrun launch | vmrun MIPS | vmrun RSS MiB | QEMU wall | QEMU MIPS | QEMU RSS MiB | vmrun/QEMU |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  if (r.error) {
    console.log(`| ${r.name} | – | wrong: ${r.error} | | | | | | | |`);
    continue;
  }
  const q = r.qemu;
  console.log(`| ${r.name} | ${(r.instructions / 1e6).toFixed(1)} M | ${fmt(r.vmrun.wall)} | ${fmt(r.vmrun.launch, 3)} | ${r.vmrun.mips.toFixed(0)} | ${r.vmrun.rssMiB.median.toFixed(0)} | ${q ? fmt(q.wall) : 'n/a'} | ${q ? q.mips.toFixed(0) : 'n/a'} | ${q ? q.rssMiB.median.toFixed(0) : 'n/a'} | ${r.ratio ? `${r.ratio.toFixed(1)}×` : 'n/a'} |`);
}
console.log('');
console.log('vmrun launch: process start to the first guest instruction (vmrun --stats). Wall: the whole process (/usr/bin/time).');
if (node !== null) {
  console.log(`Node itself needs ${fmt(node, 3)} s here to reach the first line of an empty ES module (without NODE_EXTRA_CA_CERTS, as bin/vmrun.js runs it).`);
}
const outDir = path.join(root, 'bench/results');
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, 'latest.json');
if (bundleIsCurrent() !== bundled) console.log('note: dist/ was rebuilt while the benchmark ran; the launch times mix both builds');
const environment = { nodeStartup: node, nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS !== undefined, bundled };
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, environment, results }, null, 2));
console.log(`\nwritten ${path.relative(root, file)}`);
