#!/usr/bin/env python3
"""Run the pm-* images under Bochs and write the expected results: test/cpu/fixtures/pm-<family>.json.gz.

For each images/guests/pm/pm-<family>.bin (made by tools/gen-pm-cases.py, with its
pm-<family>.cases.json naming the cases) this script
  - assembles images/guests/pm/boot.asm with the image's sector count and writes a 1.44 MB floppy
    image: the boot sector, then the kernel;
  - runs Bochs (Debian's bochs 2.7, CPU model p3_katmai, 16 MiB) headless: the RFB display with a
    connection timeout of 0 (Debian's build has no nogui), port 0xE9 and COM1 to files, and a
    debugger command file that continues, and at the guest's magic breakpoint (XCHG BX,BX after
    the last case) dumps the results area with `writemem` and quits;
  - checks the guest's COM1 line ("pm-<family>: <n> cases"), decodes the records and writes
    them, with the case names, to the fixture (gzip with mtime 0, so identical runs give identical
    files).

Usage:  tools/gen-pm-bochs.py [--keep DIR] [family ...]      (default: every pm-*.bin)
Needs bochs, bochsbios, vgabios and nasm (apt-get install bochs bochsbios vgabios nasm).
"""

import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PM_DIR = os.path.join(ROOT, 'images', 'guests', 'pm')
FIXTURES = os.path.join(ROOT, 'test', 'cpu', 'fixtures')
BOCHS_MODEL = 'p3_katmai'



def apply_sdm(rec, sdm, maxe):
    """A case where Bochs is known to differ from the Intel SDM (tools/gen-pm-cases.py, Case.sdm):
    the expected record is Bochs's with the SDM's outcome written over it. Returns it, or None
    when the override changed nothing (then Bochs agrees and the override is stale)."""
    out = dict(rec)
    for k in ('vector', 'pushed', 'error'):
        if k in sdm:
            out[k] = sdm[k]
    ch = [c for c in rec['changes'] if not any(a <= c[0] < b for a, b in sdm['drop'])]
    for o, before, after in sdm['set']:
        ch = [c for c in ch if c[0] != o]
        if after != before:
            ch.append([o, before, after])
    ch.sort()
    assert rec['count'] <= maxe, rec['name'] + ': too many changes to override'
    out['changes'] = ch
    out['count'] = len(ch)
    if {k: out[k] for k in ('vector', 'pushed', 'error', 'changes')} == {k: rec[k] for k in ('vector', 'pushed', 'error', 'changes')}:
        return None
    out['sdm'] = sdm['reason']
    out['bochs'] = {k: rec[k] for k in ('vector', 'pushed', 'error', 'count', 'changes')}
    return out


def bochs_version():
    try:
        out = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'bochs'], capture_output=True, text=True).stdout
        return f'Bochs (Debian {out.strip()})' if out.strip() else 'Bochs'
    except OSError:
        return 'Bochs'


def run_family(family, keep=None):
    image = os.path.join(PM_DIR, f'pm-{family}.bin')
    with open(os.path.join(PM_DIR, f'pm-{family}.cases.json')) as f:
        meta = json.load(f)
    layout = meta['layout']
    with open(image, 'rb') as f:
        kernel = f.read()
    sectors = (len(kernel) + 511) // 512
    work = keep or tempfile.mkdtemp(prefix=f'pm-{family}-')
    os.makedirs(work, exist_ok=True)
    try:
        boot = os.path.join(work, 'boot.bin')
        subprocess.run(['nasm', '-f', 'bin', f'-DSECTORS={sectors}', '-o', boot,
                        os.path.join(PM_DIR, 'boot.asm')], check=True)
        floppy = bytearray(1474560)
        with open(boot, 'rb') as f:
            b = f.read()
        assert len(b) == 512
        assert 512 + len(kernel) <= len(floppy), 'image too big for the floppy'
        floppy[0:512] = b
        floppy[512:512 + len(kernel)] = kernel
        with open(os.path.join(work, 'floppy.img'), 'wb') as f:
            f.write(floppy)
        n = len(meta['cases'])
        dump = os.path.join(work, 'results.bin')
        with open(os.path.join(work, 'bochsrc'), 'w') as f:
            f.write(f'''megs: {layout["memoryMB"]}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
cpu: model={BOCHS_MODEL}, reset_on_triple_fault=0, ips=50000000
floppya: 1_44=floppy.img, status=inserted
boot: floppy
display_library: rfb, options="timeout=0"
port_e9_hack: enabled=1
magic_break: enabled=1
com1: enabled=1, mode=file, dev=com1.txt
log: bochs.log
panic: action=fatal
error: action=report
''')
        with open(os.path.join(work, 'cmds'), 'w') as f:
            f.write(f'c\nwritemem "{dump}" {layout["results"]} {n * layout["rslot"]}\nq\n')
        if os.path.exists(dump):
            os.unlink(dump)
        r = subprocess.run(['bochs', '-q', '-f', 'bochsrc', '-rc', 'cmds'], cwd=work, capture_output=True,
                           text=True, timeout=600)
        with open(os.path.join(work, 'com1.txt'), 'rb') as f:
            com1 = f.read().decode('latin1')
        want = f'pm-{family}: {n} cases\r\n'
        if com1 != want or not os.path.exists(dump):
            sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
            raise SystemExit(f'pm-{family}: Bochs run failed: COM1 {com1!r}, want {want!r} (files in {work})')
        with open(dump, 'rb') as f:
            data = f.read()
        assert len(data) == n * layout['rslot']
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)

    records = []
    for k, case in enumerate(meta['cases']):
        rec = data[k * layout['rslot']:(k + 1) * layout['rslot']]
        vector, pushed, error, link, count, index = struct.unpack_from('<6I', rec, 0)
        assert index == k, f'record {k} holds case {index}'
        changes = []
        for e in range(min(count, layout['maxEntries'])):
            changes.append(list(struct.unpack_from('<III', rec, 32 + 12 * e)))
        r = {'name': case['name'], 'vector': vector, 'pushed': pushed, 'error': error, 'link': link,
             'count': count, 'changes': changes}
        records.append(r)
    notes = []
    for i, case in enumerate(meta['cases']):
        if 'sdm' in case:
            fixed = apply_sdm(records[i], case['sdm'], layout['maxEntries'])
            if fixed is None:
                sys.stderr.write(f'{case["name"]}: the SDM override changes nothing (Bochs agrees): remove it\n')
            else:
                records[i] = fixed
                notes.append(case['name'])
    with open(image, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    out = {
        'family': family,
        'image': f'images/guests/pm/pm-{family}.bin',
        'sha256': digest,
        'reference': f'{bochs_version()}, cpu model {BOCHS_MODEL}',
        'layout': layout,
        'cases': records,
    }
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, f'pm-{family}.json.gz')
    raw = json.dumps(out, separators=(',', ':')).encode()
    with open(path, 'wb') as f:
        with gzip.GzipFile(fileobj=f, mode='wb', mtime=0, filename='') as g:
            g.write(raw)
    vec = {}
    for r in records:
        vec[r['vector']] = vec.get(r['vector'], 0) + 1
    print(f'pm-{family}: {n} cases, vectors {dict(sorted(vec.items()))}, {len(notes)} SDM overrides -> {os.path.relpath(path, ROOT)}')


def main(argv):
    keep = None
    fams = []
    it = iter(argv)
    for a in it:
        if a == '--keep':
            keep = next(it)
        else:
            fams.append(a)
    if not fams:
        fams = sorted(f[3:-4] for f in os.listdir(PM_DIR) if f.startswith('pm-') and f.endswith('.bin'))
    for fam in fams:
        run_family(fam, os.path.join(keep, fam) if keep else None)


if __name__ == '__main__':
    main(sys.argv[1:])
