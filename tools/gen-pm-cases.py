#!/usr/bin/env python3
"""Generate the protected-mode transfer test set: images/guests/pm/pm-<family>.bin.

Each image is images/guests/pm/driver.asm assembled with a blob of cases (see driver.asm for
how one boot runs them). A case is a complete initial state, written as patches over a world
template: descriptors in the case part of the GDT, IDT gates, the contents of the case TSSs
(task A is entered first and holds the initial registers, EFLAGS, CS:EIP, SS:ESP, data
segments and the inner stacks), stack contents and the code (the transfer under test and
whatever runs after it; the rest of the code area is INT3). What a case does and which state it
ends in is not predicted here: tools/gen-pm-bochs.py runs the images under Bochs and records the
results, and test/cpu/protection-bochs.test.ts compares vmrun with them.

Usage:  tools/gen-pm-cases.py [--out DIR] [--list] [family ...]
Needs nasm. Deterministic: the same script writes byte-identical images.
"""

import json
import os
import struct
import subprocess
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PM_DIR = os.path.join(ROOT, 'images', 'guests', 'pm')

# ------------------------------------------------------------------------------------------------
# Memory layout (linear = physical; paging stays off). The driver gets these as -D defines.

GDT_BASE = 0x200000
GDT_LIMIT = 0x3ff          # selectors 0x000-0x3f8; 0x400 and up are beyond the limit
REC_SEL = 0x20             # recorder task for vector v: REC_SEL + 8 v (driver part of the GDT)
WORLD = GDT_BASE + 0x200   # the world starts with the case part of the GDT (selector 0x200)
W_GDT = 0x000              # selectors 0x200-0x3f8
W_IDT = 0x200              # 256 gates
W_TSS_A = 0xa00            # 32-bit, the initial task
W_TSS_B = 0xa80            # 32-bit
W_TSS_C = 0xb00            # 16-bit
W_TSS_D = 0xb40            # 16-bit
W_STACK = 0xc00            # ring r: W_STACK + 0x200 r, 0x200 bytes each
STACK_AREA = 0x200
W_CODE = 0x1400            # every case code segment has its base here
CODE_SIZE = 0x800
WSIZE = 0x1c00
IDT_BASE = WORLD + W_IDT
SNAP = 0x210000
REC_TSS = 0x212000         # 32 recorder TSSs of 0x80 bytes; the boot TSS just below
REC_TOP = 0x21f000
RESULTS = 0x400000
RSLOT = 1024
MAXE = (RSLOT - 32) // 12
MEMORY_MB = 16

SEL_TSS_A, SEL_TSS_B, SEL_TSS_C, SEL_TSS_D = 0x200, 0x208, 0x210, 0x218
FIRST_FREE_SLOT = 4        # selectors 0x220 and up are allocated per case

# Where the case code goes (offsets in the code segments).
START = 0x010              # task A's initial EIP
TARGET = 0x100             # far JMP/CALL and gate destinations
RETURN = 0x200             # return addresses popped by RETF/IRET
HANDLER = 0x300            # interrupt and exception handlers
TASK_B_EIP = 0x400
TASK_C_EIP = 0x500
SYS_EIP = 0x600            # SYSENTER/SYSEXIT destinations

# Initial general registers of the case tasks (ESP comes from the case).
REGS_A = [0xeaeaea00, 0xecececec, 0xedededed, 0xebebebeb, 0, 0xe5e5e5e5, 0xe6e6e6e6, 0xe7e7e7e7]
REGS_B = [0xbaba0000, 0xbcbcbcbc, 0xbdbdbdbd, 0xbbbbbbbb, 0, 0xb5b5b5b5, 0xb6b6b6b6, 0xb7b7b7b7]
REGS_C = [0xca00, 0xcccc, 0xcdcd, 0xcbcb, 0, 0xc5c5, 0xc6c6, 0xc7c7]

# EFLAGS bits
IF, NT, IOPL = 0x200, 0x4000, 0x3000
TF, RF, VM, AC = 0x100, 0x10000, 0x20000, 0x40000


def pick(name, options):
    """A deterministic choice for a secondary dimension, spread by the case name."""
    return options[zlib.crc32(name.encode()) % len(options)]


# ------------------------------------------------------------------------------------------------
# Descriptors

def seg_desc(base, limit, access, db=True, g=None):
    """An 8-byte code or data descriptor as (lo, hi). limit is the byte limit (G chosen to fit)."""
    if g is None:
        g = limit > 0xfffff
    if g:
        assert limit & 0xfff == 0xfff, hex(limit)
        limit >>= 12
    lo = (limit & 0xffff) | ((base & 0xffff) << 16)
    hi = ((base >> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | ((0x4 if db else 0) << 20) \
        | ((0x8 if g else 0) << 20) | (base & 0xff000000)
    return lo & 0xffffffff, hi & 0xffffffff


def code_access(dpl, conforming=False, readable=True, present=True, accessed=True):
    return (0x80 if present else 0) | (dpl << 5) | 0x18 | (4 if conforming else 0) | \
        (2 if readable else 0) | (1 if accessed else 0)


def data_access(dpl, down=False, writable=True, present=True, accessed=True):
    return (0x80 if present else 0) | (dpl << 5) | 0x10 | (4 if down else 0) | \
        (2 if writable else 0) | (1 if accessed else 0)


def gate_desc(gtype, sel, off, dpl, params=0, present=True):
    lo = (off & 0xffff) | ((sel & 0xffff) << 16)
    hi = (off & 0xffff0000) | (0x8000 if present else 0) | (dpl << 13) | (gtype << 8) | (params & 0x1f)
    return lo, hi & 0xffffffff


CALL16, CALL32, TASKGATE, INT16, TRAP16, INT32, TRAP32 = 0x4, 0xc, 0x5, 0x6, 0x7, 0xe, 0xf


def tss_desc(base, limit, is32=True, busy=False, dpl=0, present=True):
    t = (0x9 if is32 else 0x1) | (0x2 if busy else 0)
    return seg_desc(base, limit, (0x80 if present else 0) | (dpl << 5) | t, db=False, g=False)


# ------------------------------------------------------------------------------------------------
# TSS layouts

T32 = dict(link=0x00, esp0=0x04, ss0=0x08, esp1=0x0c, ss1=0x10, esp2=0x14, ss2=0x18, cr3=0x1c,
           eip=0x20, eflags=0x24, eax=0x28, ecx=0x2c, edx=0x30, ebx=0x34, esp=0x38, ebp=0x3c,
           esi=0x40, edi=0x44, es=0x48, cs=0x4c, ss=0x50, ds=0x54, fs=0x58, gs=0x5c, ldt=0x60,
           trap=0x64, iomap=0x66)
T16 = dict(link=0x00, sp0=0x02, ss0=0x04, sp1=0x06, ss1=0x08, sp2=0x0a, ss2=0x0c, ip=0x0e,
           flags=0x10, ax=0x12, cx=0x14, dx=0x16, bx=0x18, sp=0x1a, bp=0x1c, si=0x1e, di=0x20,
           es=0x22, cs=0x24, ss=0x26, ds=0x28, ldt=0x2a)
SIZE32 = {'link': 2, 'ss0': 2, 'ss1': 2, 'ss2': 2, 'es': 2, 'cs': 2, 'ss': 2, 'ds': 2, 'fs': 2,
          'gs': 2, 'ldt': 2, 'trap': 2, 'iomap': 2}
REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi']
REG16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di']


def make_template():
    w = bytearray(WSIZE)
    # IDT: vectors 0-31 are task gates (DPL 3) to the recorder tasks.
    for v in range(32):
        lo, hi = gate_desc(TASKGATE, REC_SEL + 8 * v, 0, 3)
        struct.pack_into('<II', w, W_IDT + 8 * v, lo, hi)
    # The case TSS descriptors (available).
    for sel, off, is32 in ((SEL_TSS_A, W_TSS_A, True), (SEL_TSS_B, W_TSS_B, True),
                           (SEL_TSS_C, W_TSS_C, False), (SEL_TSS_D, W_TSS_D, False)):
        lo, hi = tss_desc(WORLD + off, 0x67 if is32 else 0x2b, is32)
        struct.pack_into('<II', w, W_GDT + sel - 0x200, lo, hi)
    # TSS contents: registers, EFLAGS = 2, no I/O bitmap.
    for off, regs in ((W_TSS_A, REGS_A), (W_TSS_B, REGS_B)):
        for k, r in enumerate(REG32):
            struct.pack_into('<I', w, off + T32[r], regs[k])
        struct.pack_into('<I', w, off + T32['eflags'], 2)
        struct.pack_into('<H', w, off + T32['iomap'], 0x68)
    for off in (W_TSS_C, W_TSS_D):
        for k, r in enumerate(REG16):
            struct.pack_into('<H', w, off + T16[r], REGS_C[k] + (0x1000 if off == W_TSS_D else 0))
        struct.pack_into('<H', w, off + T16['flags'], 2)
    # Stacks: every dword names its own world offset.
    for o in range(W_STACK, W_STACK + 4 * STACK_AREA, 4):
        struct.pack_into('<I', w, o, 0x57000000 | o)
    # Code: INT3 everywhere.
    w[W_CODE:W_CODE + CODE_SIZE] = b'\xcc' * CODE_SIZE
    return bytes(w)


TEMPLATE = make_template()


# ------------------------------------------------------------------------------------------------
# Instruction encoding

def osz_prefix(bits, osz):
    return b'\x66' if bits != osz else b''


def imm(v, size):
    return struct.pack('<I' if size == 4 else '<H', v & (0xffffffff if size == 4 else 0xffff))


def jmp_far(bits, osz, sel, off):
    return osz_prefix(bits, osz * 8) + b'\xea' + imm(off, osz) + imm(sel, 2)


def call_far(bits, osz, sel, off):
    return osz_prefix(bits, osz * 8) + b'\x9a' + imm(off, osz) + imm(sel, 2)


def retf(bits, osz, n=None):
    return osz_prefix(bits, osz * 8) + (b'\xcb' if n is None else b'\xca' + imm(n, 2))


def iret(bits, osz):
    return osz_prefix(bits, osz * 8) + b'\xcf'


def int_n(n):
    return bytes([0xcd, n])


# ------------------------------------------------------------------------------------------------
# A case

class Case:
    def __init__(self, name, note=''):
        self.name = name
        self.note = note
        self.w = bytearray(TEMPLATE)
        self.slot = FIRST_FREE_SLOT
        self.msr = (0, 0, 0)

    # memory
    def put(self, off, fmt, *v):
        struct.pack_into(fmt, self.w, off, *v)

    def code(self, off, data):
        assert off + len(data) <= CODE_SIZE
        self.w[W_CODE + off:W_CODE + off + len(data)] = data

    # descriptors
    def desc(self, lohi, sel=None):
        if sel is None:
            sel = 0x200 + 8 * self.slot
            self.slot += 1
            assert sel <= GDT_LIMIT - 7
        self.put(W_GDT + (sel & 0xfff8) - 0x200, '<II', *lohi)
        return sel

    def code_seg(self, dpl, conforming=False, bits=32, **kw):
        return self.desc(seg_desc(WORLD + W_CODE, CODE_SIZE - 1, code_access(dpl, conforming, **kw), db=bits == 32))

    def data_seg(self, dpl, base=WORLD, limit=WSIZE - 1, **kw):
        return self.desc(seg_desc(base, limit, data_access(dpl, **kw)))

    def idt(self, vector, lohi):
        self.put(W_IDT + 8 * vector, '<II', *lohi)

    # TSS fields
    def tss32(self, off, **fields):
        for k, v in fields.items():
            self.put(off + T32[k], '<H' if SIZE32.get(k) == 2 else '<I', v & (0xffff if SIZE32.get(k) == 2 else 0xffffffff))

    def tss16(self, off, **fields):
        for k, v in fields.items():
            self.put(off + T16[k], '<H', v & 0xffff)

    def a(self, **fields):
        self.tss32(W_TSS_A, **fields)

    # stacks
    def stack(self, ring, kind, dpl=None, rpl=None, anchor=0x100, room_below=0x100, room_above=0x100,
              sp=None, **kw):
        """A stack segment for ring `ring`'s area whose SS:ESP lands at `anchor` in it.
        kind: 'up16', 'up32', 'down16', 'down32'. Returns (selector, esp)."""
        dpl = ring if dpl is None else dpl
        rpl = ring if rpl is None else rpl
        lin = WORLD + W_STACK + STACK_AREA * ring + anchor
        down = kind.startswith('down')
        big = kind.endswith('32')
        if sp is None:
            sp = {'up16': 0x0f00, 'up32': 0x00000f00, 'down16': 0xf100, 'down32': 0xfffff100}[kind]
        if down:
            limit = sp - room_below - 1
            if big:
                limit |= 0xfff  # 4 KiB granular: room_below rounds down to what the page allows
        else:
            limit = sp + room_above - 1
            if not big:
                limit = min(limit, 0xffff)
        lohi = seg_desc((lin - sp) & 0xffffffff, limit, data_access(dpl, down=down, **kw), db=big,
                        g=(big and down))
        sel = self.desc(lohi) | rpl
        esp = sp if big else (0x5a5a0000 | sp)
        return sel, esp

    def blob(self):
        patches = []
        for o in range(0, WSIZE, 4):
            if self.w[o:o + 4] != TEMPLATE[o:o + 4]:
                patches.append(struct.pack('<HI', o, struct.unpack_from('<I', self.w, o)[0]))
        return struct.pack('<IIII', len(patches), *self.msr) + b''.join(patches)


def start_a(c, cpl, bits, conforming=False, cs_dpl=None, stack='up32', eflags=2, data_dpl=3, **extra):
    """Task A's initial state: CS (non-conforming at DPL = CPL, or conforming at cs_dpl <= CPL) at
    START, a stack of the given kind for ring cpl, DS a data segment of DPL data_dpl (3: loadable at
    every CPL), ES/FS/GS null."""
    if conforming:
        cs = c.code_seg(cpl if cs_dpl is None else cs_dpl, True, bits) | cpl
    else:
        cs = c.code_seg(cpl, False, bits) | cpl
    ss, esp = c.stack(cpl, stack)
    ds = c.data_seg(max(data_dpl, cpl)) | cpl
    c.a(eip=START, cs=cs, ss=ss, esp=esp, ds=ds, es=0, fs=0, gs=0, eflags=eflags, **extra)
    return cs, ss, esp


STACK_KINDS = ['up16', 'up32', 'down16', 'down32']


# ------------------------------------------------------------------------------------------------
# Families

def fam_farjmp():
    """Far JMP ptr16:16/32 to code segments: CPL 0-3 in 16/32-bit (conforming or not) code, target
    conforming or not, DPL 0-3, RPL 0-3, 16/32-bit; then faulting targets."""
    cases = []
    for cpl in range(4):
        for bits in (16, 32):
            for tconf in (False, True):
                for tdpl in range(4):
                    for trpl in range(4):
                        for tbits in (16, 32):
                            name = f'farjmp/cpl{cpl}-cs{bits}-to-{"conf" if tconf else "nonconf"}{tbits}-dpl{tdpl}-rpl{trpl}'
                            c = Case(name)
                            osz = pick(name + 'o', [bits // 8, bits // 8, 6 - bits // 8])
                            sconf = pick(name + 'c', [False, False, True]) and cpl > 0
                            start_a(c, cpl, bits, conforming=sconf, cs_dpl=pick(name + 'd', list(range(cpl + 1))),
                                    stack=pick(name + 's', STACK_KINDS))
                            t = c.code_seg(tdpl, tconf, tbits) | trpl
                            c.code(START, jmp_far(bits, osz, t, TARGET))
                            cases.append(c)
    cases += faulting_targets('farjmp', jmp_far)
    return cases


def faulting_targets(fam, enc):
    """Far JMP/CALL targets that must fault: null, beyond the GDT limit, not present, data
    segment, non-readable code (allowed), system descriptors, offset beyond the limit."""
    cases = []
    for cpl in (0, 3):
        for bits in (16, 32):
            def mk(what, sel_fn, off=TARGET):
                name = f'{fam}/fault-cpl{cpl}-cs{bits}-{what}'
                c = Case(name)
                start_a(c, cpl, bits, stack=pick(name, STACK_KINDS))
                sel = sel_fn(c)
                c.code(START, enc(bits, bits // 8, sel, off))
                cases.append(c)
            mk('null', lambda c: 0)
            mk('null-rpl3', lambda c: 3)
            mk('beyond-gdt', lambda c: 0x400 | cpl)
            mk('ldt-null', lambda c: 0x224 | cpl)
            mk('notpresent', lambda c: c.code_seg(cpl, False, bits, present=False) | cpl)
            mk('notpresent-conf', lambda c: c.code_seg(0, True, bits, present=False) | cpl)
            mk('data', lambda c: c.data_seg(cpl) | cpl)
            mk('execonly', lambda c: c.code_seg(cpl, False, bits, readable=False) | cpl)
            mk('not-accessed', lambda c: c.code_seg(cpl, False, bits, accessed=False) | cpl)
            mk('tss', lambda c: SEL_TSS_B | 0)
            mk('ldt-desc', lambda c: c.desc(seg_desc(WORLD, 0xff, 0x82, db=False)) | cpl)
            mk('offset-limit', lambda c: c.code_seg(cpl, False, bits) | cpl, off=CODE_SIZE)
            mk('offset-last', lambda c: c.code_seg(cpl, False, bits) | cpl, off=CODE_SIZE - 1)
            mk('type0', lambda c: c.desc((0, 0x8000 | (cpl << 13))) | cpl)
    return cases


FAMILIES = {
    'farjmp': fam_farjmp,
}


# ------------------------------------------------------------------------------------------------
# Output

def defines():
    d = dict(GDT_BASE=GDT_BASE, GDT_LIMIT=GDT_LIMIT, REC_SEL=REC_SEL, WORLD=WORLD, WSIZE=WSIZE,
             IDT_BASE=IDT_BASE, SNAP=SNAP, REC_TSS=REC_TSS, REC_TOP=REC_TOP, RESULTS=RESULTS,
             RSLOT=RSLOT, MAXE=MAXE, TSS_A=SEL_TSS_A)
    return d


def layout():
    return dict(world=WORLD, wsize=WSIZE, gdt=W_GDT, idt=W_IDT, tssA=W_TSS_A, tssB=W_TSS_B,
                tssC=W_TSS_C, tssD=W_TSS_D, stack=W_STACK, stackArea=STACK_AREA, code=W_CODE,
                codeSize=CODE_SIZE, results=RESULTS, rslot=RSLOT, maxEntries=MAXE,
                memoryMB=MEMORY_MB, recSel=REC_SEL)


def build(family, cases, out):
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), 'duplicate case names in ' + family
    blob = struct.pack('<4sII', b'PMC1', len(cases), WSIZE) + TEMPLATE + b''.join(c.blob() for c in cases)
    os.makedirs(out, exist_ok=True)
    blob_path = os.path.join(out, f'pm-{family}.cases')
    with open(blob_path, 'wb') as f:
        f.write(blob)
    bin_path = os.path.join(out, f'pm-{family}.bin')
    cmd = ['nasm', '-f', 'bin', '-w+all', '-I', os.path.join(ROOT, 'images', 'guests') + '/',
           '-I', PM_DIR + '/', f'-DCASES="{blob_path}"', f'-DNAME="pm-{family}"']
    cmd += [f'-D{k}=0x{v:x}' for k, v in defines().items()]
    cmd += ['-o', bin_path, os.path.join(PM_DIR, 'driver.asm')]
    subprocess.run(cmd, check=True)
    os.unlink(blob_path)
    with open(os.path.join(out, f'pm-{family}.cases.json'), 'w') as f:
        json.dump({'family': family, 'layout': layout(),
                   'cases': [{'name': c.name, **({'note': c.note} if c.note else {})} for c in cases]},
                  f, indent=0)
        f.write('\n')
    print(f'pm-{family}: {len(cases)} cases, {os.path.getsize(bin_path)} bytes')


def main(argv):
    out = PM_DIR
    fams = []
    it = iter(argv)
    for a in it:
        if a == '--out':
            out = next(it)
        elif a == '--list':
            for k, f in FAMILIES.items():
                print(f'{k}: {len(f())} cases. {f.__doc__}')
            return
        else:
            fams.append(a)
    for k in fams or FAMILIES:
        build(k, FAMILIES[k](), out)


if __name__ == '__main__':
    main(sys.argv[1:])
