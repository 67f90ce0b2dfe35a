// The Debian workload of the benchmark: Debian 12's own 686 kernel with the netboot installer's
// initrd (30 MB, gzip), fetched with `apt-get download debian-installer-12-netboot-i386` into
// bench/cache/ (not committed), and a second cpio appended to the initrd that replaces /init
// with the bundled initramfs's /init (images/linux/init.asm: prints "vmrun-init: hello from
// userspace", checks x87 arithmetic, powers off or, given "restart", reboots). The kernel
// unpacks both archives, so the run still decompresses the whole installer initrd.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const INSTALLER = 'usr/lib/debian-installer/images/12/i386/text/debian-installer/i386';

/** Fields of a cpio newc archive, one entry at a time. */
function* cpioEntries(archive) {
  let p = 0;
  const text = (o, n) => Buffer.from(archive.subarray(o, o + n)).toString('latin1');
  while (p + 110 <= archive.length) {
    if (text(p, 6) !== '070701') throw new Error(`cpio: bad magic at ${p}`);
    const field = (k) => parseInt(text(p + 6 + 8 * k, 8), 16);
    const mode = field(1), size = field(6), nameSize = field(11);
    const name = text(p + 110, nameSize - 1);
    const dataAt = (p + 110 + nameSize + 3) & ~3;
    const data = archive.subarray(dataAt, dataAt + size);
    p = (dataAt + size + 3) & ~3;
    if (name === 'TRAILER!!!') return;
    yield { name, mode, data };
  }
}

/** A newc archive of regular files, fixed metadata (mtime 0, root-owned). */
function cpioArchive(files) {
  const parts = [];
  let ino = 1;
  const header = (name, mode, size) => {
    const f = [ino++, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name.length + 1, 0];
    return Buffer.from('070701' + f.map((v) => v.toString(16).padStart(8, '0')).join('') + name + '\0', 'latin1');
  };
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  for (const { name, mode, data } of [...files, { name: 'TRAILER!!!', mode: 0, data: new Uint8Array(0) }]) {
    const h = header(name, mode, data.length);
    parts.push(h, pad(h.length), Buffer.from(data), pad(data.length));
  }
  return Buffer.concat(parts);
}

/**
 * The kernel and initrd for the Debian workload, built once into bench/cache/: { kernel, initrd,
 * version } or { skip: reason } when the package cannot be fetched here.
 */
export function prepareDebian(root) {
  const cache = path.join(root, 'bench/cache/debian');
  const kernel = path.join(cache, 'linux');
  const initrd = path.join(cache, 'initrd-vmrun-init.gz');
  const versionFile = path.join(cache, 'version');
  if (existsSync(kernel) && existsSync(initrd) && existsSync(versionFile)) {
    return { kernel, initrd, version: readFileSync(versionFile, 'utf8').trim() };
  }
  mkdirSync(cache, { recursive: true });
  let deb = readdirSync(cache).find((f) => f.startsWith('debian-installer-12-netboot-i386_') && f.endsWith('.deb'));
  if (deb === undefined) {
    const r = spawnSync('apt-get', ['download', 'debian-installer-12-netboot-i386'], { cwd: cache, encoding: 'utf8' });
    deb = readdirSync(cache).find((f) => f.startsWith('debian-installer-12-netboot-i386_') && f.endsWith('.deb'));
    if (deb === undefined) return { skip: `apt-get download debian-installer-12-netboot-i386 failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  }
  const x = spawnSync('dpkg-deb', ['-x', deb, 'x'], { cwd: cache, encoding: 'utf8' });
  if (x.status !== 0) return { skip: `dpkg-deb -x failed: ${x.stderr.trim()}` };
  writeFileSync(kernel, readFileSync(path.join(cache, 'x', INSTALLER, 'linux')));
  // The bundled initramfs's /init, alone in a second archive appended to the installer's.
  const ours = gunzipSync(readFileSync(path.join(root, 'images/linux/initramfs.cpio.gz')));
  const init = [...cpioEntries(ours)].find((e) => e.name === 'init');
  if (init === undefined) return { skip: 'images/linux/initramfs.cpio.gz has no /init' };
  const extra = gzipSync(cpioArchive([{ name: 'init', mode: 0o100755, data: init.data }]));
  writeFileSync(initrd, Buffer.concat([readFileSync(path.join(cache, 'x', INSTALLER, 'initrd.gz')), extra]));
  const version = deb.replace(/^debian-installer-12-netboot-i386_/, '').replace(/_all\.deb$/, '');
  writeFileSync(versionFile, version + '\n');
  return { kernel, initrd, version };
}
