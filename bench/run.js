#!/usr/bin/env node
// vmrun's benchmark: each workload under vmrun and under qemu-system-i386 (TCG) on the same
// files, several repetitions each; prints medians (min–max), vmrun's launch time (process start
// to the first guest instruction, from its --stats output), guest MIPS, peak RSS and the
// vmrun/QEMU ratio, and writes the results as JSON to bench/results/latest.json.
//
//   npm run bench                     all workloads, 3 repetitions
//   node bench/run.js --reps 5 cpuloop linux-xz-boot
//   node bench/run.js linux-486-boot linux-486-boot-i486 paging-walk
//
// Benchmarks are not tests: nothing here fails on a slow machine. A workload whose output does
// not match is reported as wrong, not timed (for vmrun and QEMU separately: one failing does not
// stop the other's repetitions, nor the other workloads).
//
// A workload with a `phase` runs a second command line, the baseline (the same boot without the
// phase's work), alternating with the first; the phase's figures are the differences: vmrun's
// instruction counts (exact: the virtual clock makes them the same in every run) and the median
// wall times of both.

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
    name: 'linux-486-boot',
    what: 'images/linux/bzImage-486 (build-486.sh: 486SX, math emulation, XZ) booted as it is (default CPU model, TSC present) to the bundled /init marker',
    files: ['linux/bzImage-486', 'linux/initramfs.cpio.gz'],
    vmrun: ['--kernel', img('linux/bzImage-486'), '--initrd', img('linux/initramfs.cpio.gz'), '--append', 'console=ttyS0 -- restart', '-m', '128M'],
    qemu: ['-m', '128', '-kernel', img('linux/bzImage-486'), '-initrd', img('linux/initramfs.cpio.gz'), '-append', 'console=ttyS0 -- restart'],
    expect: /vmrun-init: fp ok/,
    timeout: 300,
  },
  {
    name: 'linux-486-boot-i486',
    what: 'the same boot on a 486 (vmrun --cpu i486, qemu -cpu 486): no TSC, the kernel calibrates its delay loop against the PIT',
    files: ['linux/bzImage-486', 'linux/initramfs.cpio.gz'],
    vmrun: ['--kernel', img('linux/bzImage-486'), '--initrd', img('linux/initramfs.cpio.gz'), '--append', 'console=ttyS0 -- restart', '-m', '128M', '--cpu', 'i486'],
    qemu: ['-m', '128', '-cpu', '486', '-kernel', img('linux/bzImage-486'), '-initrd', img('linux/initramfs.cpio.gz'), '-append', 'console=ttyS0 -- restart'],
    expect: /vmrun-init: fp ok/,
    timeout: 300,
  },
  {
    name: 'paging-walk',
    what: 'bzImage-486 running images/linux/paging-walk.c as /init: 16 MiB mapped, filled, 8 passes of 1 Mi xorshift-random read-modify-writes, checksum checked',
    files: ['linux/bzImage-486', 'linux/initramfs-paging.cpio.gz'],
    vmrun: ['--kernel', img('linux/bzImage-486'), '--initrd', img('linux/initramfs-paging.cpio.gz'), '--append', 'console=ttyS0 -- restart', '-m', '128M'],
    qemu: ['-m', '128', '-kernel', img('linux/bzImage-486'), '-initrd', img('linux/initramfs-paging.cpio.gz'), '-append', 'console=ttyS0 -- restart'],
    expect: /paging-walk: ok 9d62aa47 /,
    timeout: 300,
    // The walk alone: the same boot with /init told to skip it ("paging-walk: skipped").
    phase: {
      name: 'walk',
      vmrun: ['--kernel', img('linux/bzImage-486'), '--initrd', img('linux/initramfs-paging.cpio.gz'), '--append', 'console=ttyS0 -- restart skip', '-m', '128M'],
      qemu: ['-m', '128', '-kernel', img('linux/bzImage-486'), '-initrd', img('linux/initramfs-paging.cpio.gz'), '-append', 'console=ttyS0 -- restart skip'],
      expect: /paging-walk: skipped/,
    },
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

/**
 * Run a command under /usr/bin/time for wall time and peak RSS; with `limit` (seconds), under
 * timeout(1) too, so that a command that hangs is killed (status 124) rather than left running.
 */
function timed(cmd, args, limit) {
  const inner = limit === undefined ? [cmd, ...args] : ['timeout', '-k', '5', String(limit), cmd, ...args];
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', ...inner], {
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

/** What vmrun's --stats lines say: instructions retired, the launch time in seconds, the code compiled. */
function parseStats(stderr) {
  const count = /^vmrun: stats: (\d+) instructions in /m.exec(stderr);
  const launch = /^vmrun: stats: launch to first guest instruction ([\d.]+) s$/m.exec(stderr);
  const compiled = /^vmrun: stats: compiled (\d+) units in ([\d.]+) ms$/m.exec(stderr);
  return {
    instructions: count ? Number(count[1]) : NaN,
    launch: launch ? Number(launch[1]) : NaN,
    units: compiled ? Number(compiled[1]) : NaN,
    compileMs: compiled ? Number(compiled[2]) : NaN,
  };
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
  const row = { name: w.name, what: w.what, instructions: NaN, reps: opts.reps };
  // Each command line: the workload's, then the baseline's if it has a phase.
  const lines = [{ vmrun: vmrunArgs, qemu: qemuArgs, expect: w.expect }];
  if (w.phase !== undefined) lines.push(w.phase);
  const runs = lines.map(() => ({ vm: [], qm: [], instructions: NaN, guestUs: [] }));
  let vmWrong = null, qmWrong = null;
  // vmrun and QEMU repetitions alternate, so a change in the (shared) machine's load affects both.
  for (let k = 0; k < opts.reps && (vmWrong === null || (haveQemu && qmWrong === null)); k++) {
    lines.forEach((line, j) => {
      const run = runs[j];
      const label = j === 0 ? '' : ` (baseline of ${w.phase.name})`;
      if (vmWrong === null) {
        // As a user runs it (its #! line has the Node options); a hang ends at --timeout (status 124).
        const r = timed(vmrunBin, [...line.vmrun, '--stats', ...(w.timeout ? ['--timeout', String(w.timeout)] : [])]);
        const stats = parseStats(r.stderr);
        if (r.status !== 0 || !line.expect.test(r.stdout)) {
          vmWrong = `vmrun${label} exit ${r.status}: ${r.stderr.split('\n').filter((l) => l && !l.startsWith('TIME') && !l.startsWith('Command ') && !l.startsWith('vmrun: stats:')).slice(0, 2).join(' | ')}`;
        } else if (Number.isNaN(stats.instructions) || Number.isNaN(stats.launch)) {
          vmWrong = 'vmrun --stats did not print the instruction count and the launch time';
        } else if (!Number.isNaN(run.instructions) && stats.instructions !== run.instructions) {
          // The default virtual clock makes a run deterministic: every repetition retires the same count.
          vmWrong = `vmrun${label} retired ${run.instructions} instructions in one run and ${stats.instructions} in another`;
        } else {
          run.instructions = stats.instructions;
          run.vm.push({ ...r, launch: stats.launch, units: stats.units, compileMs: stats.compileMs });
        }
      }
      if (haveQemu && qmWrong === null) {
        const q = timed('qemu-system-i386', [...QEMU_COMMON, ...line.qemu], w.timeout);
        if (!line.expect.test(q.stdout)) {
          qmWrong = `qemu${label} did not print the expected output (exit ${q.status}${q.status === 124 ? ': timed out' : ''})`;
        } else {
          run.qm.push(q);
          const us = / in (\d+) us$/m.exec(q.stdout);
          if (us) run.guestUs.push(Number(us[1]));
        }
      }
    });
  }
  row.instructions = runs[0].instructions;
  if (vmWrong !== null) {
    row.error = vmWrong;
    console.log(`${w.name}: WRONG: ${vmWrong}`);
  } else {
    row.vmrun = {
      wall: summary(runs[0].vm.map((r) => r.wall)),
      launch: summary(runs[0].vm.map((r) => r.launch)),
      rssMiB: summary(runs[0].vm.map((r) => r.rssMiB)),
      compileMs: summary(runs[0].vm.map((r) => r.compileMs)),
      units: median(runs[0].vm.map((r) => r.units)),
    };
    row.vmrun.mips = row.instructions / row.vmrun.wall.median / 1e6;
  }
  if (qmWrong !== null) {
    row.qemuError = qmWrong;
    console.log(`${w.name}: WRONG: ${qmWrong}`);
  } else if (runs[0].qm.length > 0) {
    row.qemu = { wall: summary(runs[0].qm.map((r) => r.wall)), rssMiB: summary(runs[0].qm.map((r) => r.rssMiB)) };
    // The same guest work, vmrun's count (when vmrun failed, there is no count).
    row.qemu.mips = row.instructions / row.qemu.wall.median / 1e6;
  }
  if (row.vmrun && row.qemu) row.ratio = row.vmrun.wall.median / row.qemu.wall.median;
  if (w.phase !== undefined && vmWrong === null) {
    // The phase: the workload minus its baseline (medians of each).
    const [full, base] = runs;
    const ph = { name: w.phase.name, instructions: full.instructions - base.instructions, baselineInstructions: base.instructions };
    ph.vmrun = { wall: median(full.vm.map((r) => r.wall)) - median(base.vm.map((r) => r.wall)) };
    ph.vmrun.mips = ph.instructions / ph.vmrun.wall / 1e6;
    if (qmWrong === null && full.qm.length > 0) {
      ph.qemu = { wall: median(full.qm.map((r) => r.wall)) - median(base.qm.map((r) => r.wall)) };
      ph.qemu.mips = ph.instructions / ph.qemu.wall / 1e6;
      // QEMU's guest clock follows host time: the workload's own measure of its phase.
      if (full.guestUs.length > 0) ph.qemu.guestClock = summary(full.guestUs.map((us) => us / 1e6));
      ph.ratio = ph.vmrun.wall / ph.qemu.wall;
    }
    row.phase = ph;
  }
  results.push(row);
}

const node = nodeStartup(Math.max(opts.reps, 9));

/** vmrun's compile time (median ms) and units compiled, as one cell. */
function compiling(v) {
  if (Number.isNaN(v.compileMs.median)) return 'n/a';
  return `${v.compileMs.median.toFixed(0)} ms, ${v.units} units`;
}

console.log('');
console.log(`${opts.reps} repetitions each; times in seconds, median (min–max); MIPS = guest instructions / median wall time.`);
console.log('');
console.log('| workload | guest instructions | vmrun wall | vmrun launch | vmrun MIPS | vmrun RSS MiB | vmrun compiling | QEMU wall | QEMU MIPS | QEMU RSS MiB | vmrun/QEMU |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const q = r.qemu;
  const qemuCells = q ? `${fmt(q.wall)} | ${Number.isNaN(q.mips) ? 'n/a' : q.mips.toFixed(0)} | ${q.rssMiB.median.toFixed(0)}` : r.qemuError ? `wrong: ${r.qemuError} | | ` : 'n/a | n/a | n/a';
  if (r.error) {
    console.log(`| ${r.name} | – | wrong: ${r.error} | | | | | ${qemuCells} | |`);
    continue;
  }
  console.log(`| ${r.name} | ${(r.instructions / 1e6).toFixed(1)} M | ${fmt(r.vmrun.wall)} | ${fmt(r.vmrun.launch, 3)} | ${r.vmrun.mips.toFixed(0)} | ${r.vmrun.rssMiB.median.toFixed(0)} | ${compiling(r.vmrun)} | ${qemuCells} | ${r.ratio ? `${r.ratio.toFixed(1)}×` : 'n/a'} |`);
  const ph = r.phase;
  if (ph !== undefined) {
    const pq = ph.qemu;
    console.log(`| ${r.name}: ${ph.name} phase | ${(ph.instructions / 1e6).toFixed(1)} M | ${ph.vmrun.wall.toFixed(2)} | | ${ph.vmrun.mips.toFixed(0)} | | | ${pq ? pq.wall.toFixed(2) : 'n/a'} | ${pq ? pq.mips.toFixed(0) : 'n/a'} | | ${ph.ratio ? `${ph.ratio.toFixed(1)}×` : 'n/a'} |`);
  }
}
console.log('');
console.log('vmrun launch: process start to the first guest instruction (vmrun --stats). Wall: the whole process (/usr/bin/time).');
for (const r of results) {
  const ph = r.phase;
  if (ph === undefined) continue;
  let line = `${r.name}: ${ph.name} phase = the run minus its baseline (${(ph.baselineInstructions / 1e6).toFixed(1)} M instructions without the ${ph.name}), median wall times subtracted`;
  if (ph.qemu?.guestClock) line += `; under QEMU the guest's own clock gives the ${ph.name} ${fmt(ph.qemu.guestClock)} s`;
  console.log(line + '.');
}
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
