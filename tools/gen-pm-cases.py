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
# The driver's own areas lie above what a 16-bit stack segment based in the world can reach
# (WORLD + WSIZE + 64 KiB), so that a stack pointer wrapping at 64 KiB cannot hit them.
SNAP = 0x230000
VARS = 0x231f00            # the driver's variables (not on a page with code)
REC_TSS = 0x232000         # 32 recorder TSSs of 0x80 bytes; the boot TSS just below
REC_TOP = 0x23f000
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


# What lands at a transfer's destination before the INT3, in the main cross products: it shows
# the hidden state through instructions whose result depends on it. LAR, LSL and VERW of SS and
# LAR, LSL, VERR of CS answer for the current CPL (a conforming CS or an RPL changes them), with
# the operand size of the code segment; the registers and ZF end up in the saved state.
PROBE = bytes.fromhex(
    '8cd0'      # mov eax, ss
    '0f02d8'    # lar ebx, eax
    '0f03c8'    # lsl ecx, eax
    '0f00e8'    # verw ax
    '0f94c0'    # setz al
    '8cca'      # mov edx, cs
    '0f02f2'    # lar esi, edx
    '0f03fa'    # lsl edi, edx
    '0f00e2'    # verr dx
    '0f94c2')   # setz dl


# ------------------------------------------------------------------------------------------------
# A case

class Case:
    def __init__(self, name, note=''):
        self.name = name
        self.note = note
        self.w = bytearray(TEMPLATE)
        self.slot = FIRST_FREE_SLOT
        self.msr = (0, 0, 0)
        self.override = None

    def sdm(self, reason, vector=None, pushed=None, error=None, drop=(), set_=()):
        """Where Bochs is known to differ from the Intel SDM: the expected record is Bochs's with
        these changes (drop: world offset ranges whose changes are removed; set_: (offset, value)
        pairs the case must end with). `reason` names the SDM section that decides."""
        self.override = {'reason': reason, **({} if vector is None else {'vector': vector}),
                         **({} if pushed is None else {'pushed': pushed}),
                         **({} if error is None else {'error': error}),
                         'drop': [list(r) for r in drop],
                         'set': [[o, struct.unpack_from('<I', self.w, o)[0], v & 0xffffffff] for o, v in set_]}

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
              sp=None, upper=0x5a5a, **kw):
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
        esp = sp if big else ((upper << 16) | sp)   # a 16-bit stack's ESP has junk above SP
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
ALL_STACKS = (W_STACK, W_STACK + 4 * STACK_AREA)
SDM_CALL_ORDER = ('Intel SDM vol. 2A, CALL, Operation: the return offset is checked against the code segment '
                  'limit (#GP(0)) before anything is pushed; Bochs 2.7 writes the return address first')
SDM_CALLGATE_ROOM = ('Intel SDM vol. 2A, CALL, Operation (call gate to a more privileged level): "IF stack does '
                     'not have room for parameters plus 16 bytes THEN #SS(NewSS)" and the offset check precede '
                     'SS <- NewSS and the pushes; Bochs 2.7 writes what fits first')
SDM_INT_ROOM = ('Intel SDM vol. 2A, INT n/INTO/INT3, Operation (INTER-PRIVILEGE-LEVEL-INTERRUPT): "IF new stack '
                'does not have room ... THEN #SS(NewSS)" precedes the pushes; Bochs 2.7 writes what fits first')
SDM_SP_WRAP = ('Intel SDM vol. 1, 6.2.3, and vol. 2A, PUSH, Operation: with a 16-bit stack (B = 0) the push '
               'decrements SP modulo 64 KiB, so SP = 0 pushes at 0xFFFE within a 64 KiB limit; Bochs 2.7 '
               'computes SP - n in 32 bits and raises #SS(0)')


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
                            c.code(TARGET, PROBE)
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
            if fam == 'farcall':
                cases[-1].sdm(SDM_CALL_ORDER, drop=[ALL_STACKS])
            mk('offset-last', lambda c: c.code_seg(cpl, False, bits) | cpl, off=CODE_SIZE - 1)
            mk('type0', lambda c: c.desc((0, 0x8000 | (cpl << 13))) | cpl)
    return cases



def stack_put(c, ring, rel, data, anchor=0x100):
    """Bytes at `rel` from the anchor of ring `ring`'s stack area (where its stacks' ESP points)."""
    o = W_STACK + STACK_AREA * ring + anchor + rel
    assert W_STACK + STACK_AREA * ring <= o and o + len(data) <= W_STACK + STACK_AREA * (ring + 1)
    c.w[o:o + len(data)] = data


def words(size, *vals):
    return b''.join(imm(v, size) for v in vals)


def inner_stacks(c, cpl, tss=W_TSS_A):
    """SS0:ESP0 .. for the rings inside `cpl` in a 32-bit TSS, each of a kind picked by name."""
    for r in range(cpl):
        sel, esp = c.stack(r, pick(c.name + f'/ss{r}', STACK_KINDS), upper=0x6b6b)
        c.tss32(tss, **{f'ss{r}': sel, f'esp{r}': esp})


def data_regs(c, cpl):
    """DS..GS for the checks of a return to an outer level: DS data of DPL = CPL, ES data of DPL 3,
    FS conforming readable code of DPL 0, GS readable non-conforming code of DPL = CPL."""
    c.a(ds=c.data_seg(cpl) | cpl, es=c.data_seg(3) | cpl, fs=c.code_seg(0, True, 32) | cpl,
        gs=c.code_seg(cpl, False, 32) | cpl)


def cname(conf, bits, dpl, rpl=None):
    return f'{"conf" if conf else "nonconf"}{bits}-dpl{dpl}' + ('' if rpl is None else f'-rpl{rpl}')


def fam_farcall():
    """Far CALL ptr16:16/32 to code segments (the cross product of far JMP, with the stack kind
    picked per case), then pushes that do not fit the stack (each stack kind, 16/32-bit, 0-8
    bytes of room) and faulting targets."""
    cases = []
    for cpl in range(4):
        for bits in (16, 32):
            for tconf in (False, True):
                for tdpl in range(4):
                    for trpl in range(4):
                        for tbits in (16, 32):
                            name = f'farcall/cpl{cpl}-cs{bits}-to-{cname(tconf, tbits, tdpl, trpl)}'
                            c = Case(name)
                            osz = pick(name + 'o', [bits // 8, bits // 8, 6 - bits // 8])
                            sconf = pick(name + 'c', [False, False, True]) and cpl > 0
                            start_a(c, cpl, bits, conforming=sconf, cs_dpl=pick(name + 'd', list(range(cpl + 1))),
                                    stack=pick(name + 's', STACK_KINDS))
                            t = c.code_seg(tdpl, tconf, tbits) | trpl
                            c.code(START, call_far(bits, osz, t, TARGET))
                            c.code(TARGET, PROBE)
                            cases.append(c)
    for kind in STACK_KINDS + ['up16-64k']:
        for osz in (2, 4):
            for room in (0, 2, 4, 6, 8):
                name = f'farcall/stack-{kind}-o{osz * 8}-room{room}'
                c = Case(name)
                cpl = pick(name, [0, 3])
                bits = pick(name + 'b', [16, 32])
                cs, _, _ = start_a(c, cpl, bits)
                k = kind[:-4] if kind.endswith('-64k') else kind
                if k.startswith('up'):
                    ss, esp = c.stack(cpl, k, sp=room, room_above=0x10000 - room if kind.endswith('64k') else 0x100)
                else:
                    sp = (0xfffff000 if k == 'down32' else 0xf000) + room
                    ss, esp = c.stack(cpl, k, sp=sp, room_below=room)
                c.a(ss=ss, esp=esp)
                t = c.code_seg(cpl, False, pick(name + 't', [16, 32])) | cpl
                c.code(START, call_far(bits, osz, t, TARGET))
                if kind == 'up16-64k' and room in (0, osz):
                    # SP wraps below 0 (Bochs: #SS(0)). Whatever lands at offsets 0..room-1 is in
                    # the area (the CS half of the return address); below 0 is 64 KiB up, unseen.
                    sets = [(W_TSS_A + T32['eip'], TARGET + 1), (W_TSS_A + T32['esp'], 0x5a5a0000 | ((room - 2 * osz) & 0xffff)),
                            (W_TSS_A + T32['cs'], t)]
                    if room:
                        a = W_STACK + STACK_AREA * cpl + 0x100 - room
                        w = bytearray(c.w[a & ~3:(a & ~3) + 4])
                        w[a & 3:(a & 3) + room] = imm(cs, osz)
                        sets.append((a & ~3, struct.unpack('<I', w)[0]))
                    c.sdm(SDM_SP_WRAP, vector=3, pushed=0, error=0, drop=[(W_TSS_A + T32['eflags'], W_TSS_A + T32['eflags'] + 4)],
                          set_=sets)
                cases.append(c)
    cases += faulting_targets('farcall', call_far)
    return cases


def return_frame(c, name, cpl, osz, t, n, outer_rpl, flags=None, okind=None, oss=None, oesp=None):
    """The stack of a RETF/IRET at CPL cpl: EIP, CS (, EFLAGS), [n bytes], and for an outer
    return ESP, SS of a stack in ring outer_rpl's area (unless given)."""
    frame = words(osz, RETURN, t) + (b'' if flags is None else words(osz, flags))
    if outer_rpl > cpl:
        if oss is None:
            oss, oesp = c.stack(outer_rpl, okind or pick(name + 'os', STACK_KINDS))
        frame += b'\x55' * (n or 0) + words(osz, oesp, oss)
    stack_put(c, cpl, 0, frame)
    return oss


RETURN_FLAGS = [0x00000002, 0x00000ed7, 0x00007ed7, 0x003d7ed7, 0x00010202, 0x00003202, 0x00180002]


def fam_retf():
    """RETF and RETF imm16 (16/32-bit operand size) from CPL 0-3 to code segments conforming or
    not, DPL 0-3, RPL 0-3: same privilege, and outer privilege with SS:ESP popped and the data
    segments the outer level may not use nulled; then faulting returns."""
    cases = []
    for cpl in range(4):
        for bits in (16, 32):
            for tconf in (False, True):
                for tdpl in range(4):
                    for trpl in range(4):
                        for tbits in (16, 32):
                            name = f'retf/cpl{cpl}-cs{bits}-to-{cname(tconf, tbits, tdpl, trpl)}'
                            c = Case(name)
                            osz = pick(name + 'o', [bits // 8, bits // 8, 6 - bits // 8])
                            n = pick(name + 'n', [None, None, 0, 8, 6])
                            start_a(c, cpl, bits, stack=pick(name + 's', STACK_KINDS))
                            data_regs(c, cpl)
                            t = c.code_seg(tdpl, tconf, tbits) | trpl
                            return_frame(c, name, cpl, osz, t, n, trpl)
                            c.code(START, retf(bits, osz, n))
                            c.code(RETURN, PROBE)
                            cases.append(c)
    cases += return_faults('retf', lambda bits, osz, n: retf(bits, osz, n), False)
    return cases


def return_faults(fam, enc, with_flags):
    cases = []
    for cpl, trpl in ((0, 0), (0, 3), (1, 2), (3, 3)):
        for bits in (16, 32):
            def mk(what, tsel=None, off=RETURN, oss=None, oesp=None, room=0x100, n=None, ok_outer=True):
                name = f'{fam}/fault-cpl{cpl}-to-rpl{trpl}-cs{bits}-{what}'
                c = Case(name)
                osz = bits // 8
                kind = pick(name + 's', STACK_KINDS)
                start_a(c, cpl, bits)
                sel, esp = c.stack(cpl, kind, room_above=room)
                c.a(ss=sel, esp=esp)
                data_regs(c, cpl)
                t = c.code_seg(trpl, False, pick(name + 't', [16, 32])) | trpl if tsel is None else tsel(c)
                fl = 0x202 if with_flags else None
                if oss is not None:
                    oss_v = oss(c)
                    frame_oesp = oesp if oesp is not None else 0x0f00
                    return_frame(c, name, cpl, osz, t, n, max(trpl, cpl + 1), fl, oss=oss_v, oesp=frame_oesp)
                else:
                    return_frame(c, name, cpl, osz, t, n, trpl, fl)
                frame = c.w  # noqa: the frame is in place
                if with_flags and off != RETURN:
                    stack_put(c, cpl, 0, words(osz, off))
                elif off != RETURN:
                    stack_put(c, cpl, 0, words(osz, off))
                c.code(START, enc(bits, osz, n))
                cases.append(c)
            mk('cs-null', lambda c: 0)
            mk('cs-null-rpl3', lambda c: 3)
            mk('cs-beyond-gdt', lambda c: 0x400 | trpl)
            mk('cs-ldt', lambda c: 0x224 | trpl)
            mk('cs-notpresent', lambda c: c.code_seg(trpl, False, 32, present=False) | trpl)
            mk('cs-data', lambda c: c.data_seg(trpl) | trpl)
            mk('cs-tss', lambda c: SEL_TSS_B | trpl)
            mk('cs-execonly', lambda c: c.code_seg(trpl, False, 16, readable=False) | trpl)
            mk('cs-not-accessed', lambda c: c.code_seg(trpl, False, 16, accessed=False) | trpl)
            mk('offset-limit', off=CODE_SIZE)
            if cpl > 0:
                mk('cs-rpl-below-cpl', lambda c: c.code_seg(cpl - 1, False, 32) | (cpl - 1))
            mk('pop-limit-2', room=2)
            mk('pop-limit-6', room=6)
            if trpl > cpl:
                mk('pop-limit-ssesp', room=(12 if with_flags else 8) * (bits // 16) // 2 + 2)
                mk('ss-null', oss=lambda c: 0)
                mk('ss-rpl', oss=lambda c: c.stack(trpl, 'up32')[0] & ~3 | (trpl - 1))
                mk('ss-dpl', oss=lambda c: c.stack(trpl, 'up32', dpl=trpl - 1)[0])
                mk('ss-code', oss=lambda c: c.code_seg(trpl, False, 32) | trpl)
                mk('ss-readonly', oss=lambda c: c.stack(trpl, 'up32', writable=False)[0])
                mk('ss-notpresent', oss=lambda c: c.stack(trpl, 'up32', present=False)[0])
                mk('ss-not-accessed', oss=lambda c: c.stack(trpl, 'up32', accessed=False)[0])
                mk('ss-beyond-gdt', oss=lambda c: 0x400 | trpl)
                mk('esp-beyond-limit', oss=lambda c: c.stack(trpl, 'up32')[0], oesp=0x5000)
    return cases


def fam_iret():
    """IRET (16/32-bit) without NT from CPL 0-3 to code segments conforming or not, DPL 0-3,
    RPL 0-3: same and outer privilege, with popped EFLAGS values that try every changeable bit
    (IOPL only at CPL 0, IF only at CPL <= IOPL, VIF/VIP, AC, ID, RF) under IOPL 0 or 3; then
    faulting returns."""
    cases = []
    for cpl in range(4):
        for bits in (16, 32):
            for tconf in (False, True):
                for tdpl in range(4):
                    for trpl in range(4):
                        for tbits in (16, 32):
                            name = f'iret/cpl{cpl}-cs{bits}-to-{cname(tconf, tbits, tdpl, trpl)}'
                            c = Case(name)
                            osz = pick(name + 'o', [bits // 8, bits // 8, 6 - bits // 8])
                            iopl = pick(name + 'i', [0, 3, cpl])
                            start_a(c, cpl, bits, stack=pick(name + 's', STACK_KINDS), eflags=2 | (iopl << 12))
                            data_regs(c, cpl)
                            t = c.code_seg(tdpl, tconf, tbits) | trpl
                            return_frame(c, name, cpl, osz, t, None, trpl, pick(name + 'f', RETURN_FLAGS))
                            c.code(START, iret(bits, osz))
                            c.code(RETURN, PROBE)
                            cases.append(c)
    cases += return_faults('iret', lambda bits, osz, n: iret(bits, osz), True)
    return cases


GATE_TYPES = {'int16': INT16, 'trap16': TRAP16, 'int32': INT32, 'trap32': TRAP32}
VEC = 0x40


def fam_int():
    """INT 0x40 through interrupt and trap gates (16/32-bit, DPL 0-3) from CPL 0-3 to handlers in
    code segments conforming or not, DPL 0-3, 16/32-bit: same privilege, inner privilege with
    the TSS stack (every stack kind), the gate-DPL check; the handler either ends at once (INT3)
    or IRETs back (to the same or the outer level). Then every conforming handler IRETs, and
    faulting deliveries."""
    cases = []
    for cpl in range(4):
        for gname, gtype in GATE_TYPES.items():
            for gdpl in range(4):
                for tconf in (False, True):
                    for tdpl in range(4):
                        for tbits in (16, 32):
                            name = f'int/cpl{cpl}-{gname}-dpl{gdpl}-to-{cname(tconf, tbits, tdpl)}'
                            cases.append(int_case(name, cpl, gtype, gdpl, tconf, tdpl, tbits,
                                                  pick(name + 'h', ['int3', 'iret'])))
    for cpl in range(4):
        for gname, gtype in GATE_TYPES.items():
            for tdpl in range(cpl + 1):
                for tbits in (16, 32):
                    name = f'int/iret-from-conforming-cpl{cpl}-{gname}-to-{cname(True, tbits, tdpl)}'
                    cases.append(int_case(name, cpl, gtype, 3, True, tdpl, tbits, 'iret'))
    cases += delivery_faults('int')
    return cases


def int_case(name, cpl, gtype, gdpl, tconf, tdpl, tbits, handler, bits=None, insn=None, vector=VEC,
             eflags=None, sel_rpl=None):
    c = Case(name)
    bits = bits or pick(name + 'b', [16, 32])
    eflags = eflags if eflags is not None else pick(name + 'f', [0x2, 0x202, 0x4202 | 0x3000, 0x40ed7])
    start_a(c, cpl, bits, stack=pick(name + 's', STACK_KINDS), eflags=eflags)
    inner_stacks(c, cpl)
    t = c.code_seg(tdpl, tconf, tbits) | (pick(name + 'r', [0, 3, tdpl]) if sel_rpl is None else sel_rpl)
    c.idt(vector, gate_desc(gtype, t, HANDLER, gdpl))
    insn = insn if insn is not None else int_n(vector)
    c.code(START, insn)
    gsize = 4 if gtype & 8 else 2
    if handler == 'iret':
        c.code(HANDLER, iret(tbits, gsize))
        c.code(START + len(insn), PROBE)
    else:
        c.code(HANDLER, PROBE)
    return c


def delivery_faults(fam):
    """Deliveries that fault: for INT n the fault itself (EXT = 0), for an exception (#UD here)
    a double fault when the second one is contributory."""
    cases = []
    exc = fam == 'exc'
    vector = 6 if exc else VEC
    insn = b'\x0f\x0b' if exc else int_n(VEC)
    for cpl in (0, 3):
        for gname in ('int32', 'trap16'):
            gtype = GATE_TYPES[gname]

            def mk(what, tsel=None, gate=None, tweak=None):
                name = f'{fam}/fault-cpl{cpl}-{gname}-{what}'
                c = int_case(name, cpl, gtype, 3, False, 0, 32, 'int3', insn=insn, vector=vector)
                if tsel is not None:
                    lo, hi = gate_desc(gtype, tsel(c), HANDLER, 3)
                    c.idt(vector, (lo, hi))
                if gate is not None:
                    c.idt(vector, gate(c))
                if tweak is not None:
                    tweak(c)
                cases.append(c)
            mk('gate-notpresent', gate=lambda c: gate_desc(gtype, c.code_seg(0) | 0, HANDLER, 3, present=False))
            mk('gate-callgate', gate=lambda c: gate_desc(CALL32, c.code_seg(0) | 0, HANDLER, 3))
            mk('gate-type0', gate=lambda c: (0, 0x8000 | (3 << 13)))
            mk('gate-tss-type', gate=lambda c: (0, 0x8000 | (3 << 13) | (0x9 << 8)))
            if not exc:
                mk('gate-dpl0', gate=lambda c: gate_desc(gtype, c.code_seg(0) | 0, HANDLER, 0))
            mk('cs-null', lambda c: 0)
            mk('cs-null-rpl3', lambda c: 3)
            mk('cs-beyond-gdt', lambda c: 0x400)
            mk('cs-ldt', lambda c: 0x224)
            mk('cs-data', lambda c: c.data_seg(0))
            mk('cs-notpresent', lambda c: c.code_seg(0, False, 32, present=False))
            mk('cs-dpl-above-cpl', lambda c: c.code_seg(3 if cpl == 0 else 3, False, 32) if cpl == 0 else c.code_seg(3, False, 32))
            mk('cs-not-accessed', lambda c: c.code_seg(0, False, 32, accessed=False))
            mk('offset-limit', gate=lambda c: gate_desc(gtype, c.code_seg(0), CODE_SIZE, 3))
            if cpl == 3:
                def tss_ss(sel_fn, esp=None):
                    def f(c):
                        s = sel_fn(c)
                        c.a(ss0=s)
                        if esp is not None:
                            c.a(esp0=esp)
                    return f
                mk('ss0-null', tweak=tss_ss(lambda c: 0))
                mk('ss0-rpl3', tweak=tss_ss(lambda c: c.stack(0, 'up32')[0] | 3))
                mk('ss0-dpl3', tweak=tss_ss(lambda c: c.stack(0, 'up32', dpl=3)[0] & ~3))
                mk('ss0-code', tweak=tss_ss(lambda c: c.code_seg(0)))
                mk('ss0-readonly', tweak=tss_ss(lambda c: c.stack(0, 'up32', writable=False)[0]))
                mk('ss0-notpresent', tweak=tss_ss(lambda c: c.stack(0, 'up32', present=False)[0]))
                mk('ss0-beyond-gdt', tweak=tss_ss(lambda c: 0x400))
                mk('ss0-not-accessed', tweak=tss_ss(lambda c: c.stack(0, 'up32', accessed=False)[0]))
                frame = (5 + (1 if exc and vector in (8, 10, 11, 12, 13, 14, 17) else 0)) * (4 if gtype & 8 else 2)
                for room in (4, 8, 12, 16, 20):
                    mk(f'ss0-room{room}', tweak=tss_ss(lambda c, room=room: c.stack(0, 'down32', sp=0xfffff000 + room, room_below=room)[0],
                                                        0xfffff000 + room))
                    if room < frame:
                        cases[-1].sdm(SDM_INT_ROOM, drop=[ALL_STACKS])
                    mk(f'ss0-up16-room{room}', tweak=tss_ss(lambda c, room=room: c.stack(0, 'up16', sp=room)[0], room))
                    if room < frame:
                        cases[-1].sdm(SDM_INT_ROOM, drop=[ALL_STACKS])
                mk('tss-limit-small', tweak=lambda c: c.desc(tss_desc(WORLD + W_TSS_A, 0x09), SEL_TSS_A))
                mk('tss16', tweak=lambda c: tss16_a(c))
    return cases


def tss16_a(c):
    """Make task A's descriptor a busy... no: an available 16-bit TSS whose SS0:SP0 point at ring 0's
    stack (the JMP into it loads the 16-bit layout: the case's state moves into that layout)."""
    # Rewrite task A as a 16-bit TSS at the same place with the state task A had.
    w = c.w
    f = {k: struct.unpack_from('<H' if SIZE32.get(k) == 2 else '<I', w, W_TSS_A + T32[k])[0]
         for k in ('eip', 'eflags', 'esp', 'cs', 'ss', 'ds', 'es')}
    w[W_TSS_A:W_TSS_A + 0x68] = bytes(0x68)
    ss0, sp0 = c.stack(0, 'up16')
    c.tss16(W_TSS_A, ip=f['eip'], flags=f['eflags'], sp=f['esp'], cs=f['cs'], ss=f['ss'], ds=f['ds'],
            es=f['es'], ss0=ss0, sp0=sp0)
    for k, r in enumerate(REG16):
        if r != 'sp':
            c.tss16(W_TSS_A, **{r: REGS_A[k] & 0xffff})
    c.desc(tss_desc(WORLD + W_TSS_A, 0x2b, is32=False), SEL_TSS_A)


def fam_exc():
    """Exceptions delivered through interrupt and trap gates (16/32-bit; the gate's DPL does not
    matter) from CPL 0-3 to handlers conforming or not, DPL 0-3, 16/32-bit: #GP with an error code
    (MOV DS of a selector beyond the GDT) and #UD without (UD2); then deliveries that fault (a
    contributory second fault makes a double fault)."""
    cases = []
    for what, vector, insn in (('gp', 13, b'\x8e\xd8'), ('ud', 6, b'\x0f\x0b')):
        for cpl in range(4):
            for gname, gtype in GATE_TYPES.items():
                for tconf in (False, True):
                    for tdpl in range(4):
                        for tbits in (16, 32):
                            name = f'exc/{what}-cpl{cpl}-{gname}-to-{cname(tconf, tbits, tdpl)}'
                            gdpl = pick(name + 'g', [0, 3])
                            cases.append(int_case(name, cpl, gtype, gdpl, tconf, tdpl, tbits, 'int3',
                                                  insn=insn, vector=vector))
    cases += delivery_faults('exc')
    return cases


def fam_callgate():
    """JMP and CALL through call gates (16/32-bit, DPL 0-3, selector RPL 0 or 3) from CPL 0-3
    to code segments conforming or not, DPL 0-3: same privilege, inner privilege with the TSS
    stack and 0-5 parameters copied, the gate-DPL and target-DPL checks; the callee ends at once
    or returns with RETF imm (popping the parameters on both stacks). Then faulting calls."""
    cases = []
    for cpl in range(4):
        for gsize in (2, 4):
            for gdpl in range(4):
                for tconf in (False, True):
                    for tdpl in range(4):
                        for op in ('jmp', 'call'):
                            name = f'callgate/{op}-cpl{cpl}-gate{gsize * 8}-dpl{gdpl}-to-{"conf" if tconf else "nonconf"}-dpl{tdpl}'
                            cases.append(callgate_case(name, op, cpl, gsize, gdpl, tconf, tdpl))
    for cpl in (1, 2, 3):
        for gsize in (2, 4):
            for params in range(6):
                for kind in STACK_KINDS:
                    name = f'callgate/params{params}-cpl{cpl}-gate{gsize * 8}-inner-{kind}'
                    cases.append(callgate_case(name, 'call', cpl, gsize, 3, False, 0, params=params,
                                               inner=kind, ret=pick(name + 'h', ['int3', 'retf'])))
    cases += callgate_faults()
    return cases


def callgate_case(name, op, cpl, gsize, gdpl, tconf, tdpl, params=None, inner=None, ret=None, rpl=None,
                  gate=None, tsel=None, off=HANDLER):
    c = Case(name)
    bits = pick(name + 'b', [16, 32])
    params = pick(name + 'p', [0, 1, 3]) if params is None else params
    start_a(c, cpl, bits, stack=pick(name + 's', STACK_KINDS))
    inner_stacks(c, cpl)
    if inner is not None:
        sel, esp = c.stack(tdpl, inner)
        c.a(**{f'ss{tdpl}': sel, f'esp{tdpl}': esp})
    # Parameters on the caller's stack (each a distinct value).
    stack_put(c, cpl, 0, words(gsize, *[0x7a000000 + 0x1111 * (k + 1) for k in range(params)]))
    t = (c.code_seg(tdpl, tconf, pick(name + 't', [16, 32])) | pick(name + 'r', [0, tdpl])) if tsel is None else tsel(c)
    g = c.desc(gate if gate is not None else gate_desc(CALL32 if gsize == 4 else CALL16, t, off, gdpl, params))
    g |= pick(name + 'R', [0, 3]) if rpl is None else rpl
    enc = call_far if op == 'call' else jmp_far
    c.code(START, enc(bits, bits // 8, g, 0x1234))
    ret = ret or pick(name + 'h', ['int3', 'int3', 'retf'])
    if ret == 'retf' and op == 'call':
        tb = 32 if (c.w[W_GDT + (t & 0xfff8) - 0x200 + 6] & 0x40) else 16 if tsel is None else 32
        c.code(off, retf(tb, gsize, params * gsize if params else None))
    return c


def callgate_faults():
    cases = []
    for cpl in (0, 3):
        for gsize in (2, 4):
            def mk(what, op='call', **kw):
                name = f'callgate/fault-{op}-cpl{cpl}-gate{gsize * 8}-{what}'
                cases.append(callgate_case(name, op, cpl, gsize, 3, False, 0, ret='int3', **kw))
            for op in ('jmp', 'call'):
                mk('gate-notpresent', op, gate=gate_desc(CALL32 if gsize == 4 else CALL16, 0x220, HANDLER, 3, present=False))
                mk('gate-dpl-below-rpl', op, rpl=3, gate=gate_desc(CALL32 if gsize == 4 else CALL16, 0x220, HANDLER, 2))
                mk('target-null', op, tsel=lambda c: 0)
                mk('target-beyond-gdt', op, tsel=lambda c: 0x400)
                mk('target-data', op, tsel=lambda c: c.data_seg(0))
                mk('target-notpresent', op, tsel=lambda c: c.code_seg(0, False, 32, present=False))
                mk('target-tss', op, tsel=lambda c: SEL_TSS_B)
                mk('offset-limit', op, off=CODE_SIZE)
                if op == 'call':
                    cases[-1].sdm(SDM_CALL_ORDER if cpl == 0 else SDM_CALLGATE_ROOM, drop=[ALL_STACKS])
                mk('target-dpl3-nonconf', op, tsel=lambda c: c.code_seg(3, False, 32) | 3)
            if cpl == 3:
                for params in (0, 3):
                    def tss_ss(sel_fn, esp=None):
                        def f(c):
                            c.a(ss0=sel_fn(c))
                            if esp is not None:
                                c.a(esp0=esp)
                        return f

                    def mk2(what, tweak):
                        name = f'callgate/fault-call-cpl3-gate{gsize * 8}-params{params}-{what}'
                        c = callgate_case(name, 'call', 3, gsize, 3, False, 0, params=params, ret='int3')
                        tweak(c)
                        cases.append(c)
                    mk2('ss0-null', tss_ss(lambda c: 0))
                    mk2('ss0-rpl3', tss_ss(lambda c: c.stack(0, 'up32')[0] | 3))
                    mk2('ss0-dpl3', tss_ss(lambda c: c.stack(0, 'up32', dpl=3)[0] & ~3))
                    mk2('ss0-code', tss_ss(lambda c: c.code_seg(0)))
                    mk2('ss0-readonly', tss_ss(lambda c: c.stack(0, 'up32', writable=False)[0]))
                    mk2('ss0-notpresent', tss_ss(lambda c: c.stack(0, 'up32', present=False)[0]))
                    mk2('ss0-beyond-gdt', tss_ss(lambda c: 0x400))
                    for room in (4, 8, 16, 20, 28):
                        mk2(f'ss0-room{room}', tss_ss(lambda c, room=room: c.stack(0, 'down32', sp=0xfffff000 + room, room_below=room)[0],
                                                      0xfffff000 + room))
                        if room < (4 + params) * gsize:
                            cases[-1].sdm(SDM_CALLGATE_ROOM, drop=[ALL_STACKS])
                    mk2('caller-stack-short', lambda c: c.a(esp=c_esp_top(c)))
    return cases


def c_esp_top(c):
    """An ESP that leaves fewer bytes above it than the parameters need (the copy faults)."""
    ss = struct.unpack_from('<H', c.w, W_TSS_A + T32['ss'])[0]
    lo, hi = struct.unpack_from('<II', c.w, W_GDT + (ss & 0xfff8) - 0x200)
    limit = (lo & 0xffff) | (hi & 0xf0000)
    if hi & 0x800000:
        limit = (limit << 12) | 0xfff
    down = (hi >> 8) & 4
    big = (hi >> 22) & 1
    if down:
        return (0xffffffff if big else 0x5a5a0000 | 0xffff) - 3
    return (limit - 3) if big else (0x5a5a0000 | (limit - 3))


def task_state(c, tss, is32, cpl, bits, conforming=False, cs_dpl=None, cs_rpl=None, kind=None, eflags=2,
               eip=TASK_B_EIP):
    """The initial state of a second task in TSS B (32-bit) or C (16-bit)."""
    cdpl = cpl if not conforming else (cpl if cs_dpl is None else cs_dpl)
    cs = c.code_seg(cdpl, conforming, bits) | (cpl if cs_rpl is None else cs_rpl)
    kind = kind or pick(c.name + '/bss', STACK_KINDS if is32 else ['up16', 'down16'])
    ss, esp = c.stack(cpl, kind, anchor=0x80, room_above=0x80, upper=0x7c7c)
    ds = c.data_seg(3) | cpl
    if is32:
        c.tss32(tss, eip=eip, cs=cs, ss=ss, esp=esp, ds=ds, es=0, fs=0, gs=0, eflags=eflags)
    else:
        c.tss16(tss, ip=eip, cs=cs, ss=ss, sp=esp, ds=ds, es=0, flags=eflags)
    return cs, ss


TASK_SOURCES = ['jmp', 'call', 'jmp-gate', 'call-gate', 'int-gate', 'exc-gate', 'iret', 'call-iret']


def fam_task():
    """Hardware task switches from task A (32-bit TSS, CPL 0-3) to task B (32-bit) or C (16-bit)
    by JMP and CALL to the TSS descriptor and through a task gate in the GDT, INT 0x40 and #GP
    through task gates in the IDT (the error code pushed on the new task's stack), IRET with NT
    (A nested in B); CALL then IRET back. The new task runs at CPL 0-3 in 16/32-bit code
    conforming (DPL below its RPL) or not. Then the checks: descriptor and gate DPL, busy,
    limit, present, and the new task's CS, SS, DS and LDT."""
    cases = []
    for src in TASK_SOURCES:
        for is32 in (True, False):
            for ncpl in range(4):
                for nconf in (False, True):
                    for nbits in (16, 32):
                        name = f'task/{src}-to-tss{32 if is32 else 16}-cpl{ncpl}-{"conf" if nconf else "nonconf"}{nbits}'
                        cases.append(task_case(name, src, is32, ncpl, nconf, nbits))
    cases += task_faults()
    return cases


def task_case(name, src, is32, ncpl, nconf, nbits, cpl=None, tweak=None, nflags=None):
    c = Case(name)
    cpl = pick(name + 'c', [0, 0, 3, 1, 2]) if cpl is None else cpl
    if src in ('jmp', 'call') or src.endswith('gate'):
        pass
    bits = pick(name + 'b', [16, 32])
    aflags = 2
    if src == 'iret':
        aflags |= NT
    start_a(c, cpl, bits, stack=pick(name + 's', STACK_KINDS), eflags=aflags | pick(name + 'f', [0, IF, 0x8d5]))
    inner_stacks(c, cpl)
    tss_off, tsel = (W_TSS_B, SEL_TSS_B) if is32 else (W_TSS_C, SEL_TSS_C)
    cdpl = pick(name + 'd', list(range(ncpl + 1))) if nconf else None
    nfl = nflags if nflags is not None else pick(name + 'F', [2, 0x202, 0x3002, 0x8d7])
    task_state(c, tss_off, is32, ncpl, nbits, nconf, cdpl, eflags=nfl)
    if src == 'jmp':
        c.code(START, jmp_far(bits, bits // 8, tsel | pick(name + 'r', [0, cpl]), 0x5678))
    elif src in ('call', 'call-iret'):
        c.code(START, call_far(bits, bits // 8, tsel | pick(name + 'r', [0, cpl]), 0x5678))
        if src == 'call-iret':
            c.code(TASK_B_EIP, iret(nbits, 4 if is32 else 2))
    elif src in ('jmp-gate', 'call-gate'):
        g = c.desc(gate_desc(TASKGATE, tsel, 0, 3)) | pick(name + 'r', [0, 3])
        c.code(START, (jmp_far if src == 'jmp-gate' else call_far)(bits, bits // 8, g, 0x5678))
    elif src == 'int-gate':
        c.idt(VEC, gate_desc(TASKGATE, tsel, 0, 3))
        c.code(START, int_n(VEC))
    elif src == 'exc-gate':
        c.idt(13, gate_desc(TASKGATE, tsel, 0, 0))
        c.code(START, b'\x8e\xd8')   # MOV DS, AX: AX = 0xEA00 is beyond the GDT
    elif src == 'iret':
        c.a(link=tsel)
        lo, hi = tss_desc(WORLD + tss_off, 0x67 if is32 else 0x2b, is32, busy=True)
        c.desc((lo, hi), tsel)
        c.code(START, iret(bits, bits // 8))
    if tweak is not None:
        tweak(c)
    return c


def task_faults():
    cases = []
    for is32 in (True, False):
        def mk(what, src, tweak, ncpl=0, nconf=False, nbits=32, cpl=None, is32=is32):
            name = f'task/fault-{src}-tss{32 if is32 else 16}-{what}'
            cases.append(task_case(name, src, is32, ncpl, nconf, nbits, cpl=cpl, tweak=tweak))
        tsel, toff = (SEL_TSS_B, W_TSS_B) if is32 else (SEL_TSS_C, W_TSS_C)
        lim = 0x67 if is32 else 0x2b

        def desc_tweak(**kw):
            return lambda c: c.desc(tss_desc(WORLD + toff, kw.pop('limit', lim), is32, **kw), tsel)
        for src in ('jmp', 'call', 'jmp-gate', 'int-gate', 'iret'):
            if src != 'iret':
                mk('busy', src, lambda c, d=desc_tweak(busy=True): d(c))
            else:
                mk('not-busy', src, lambda c: c.desc(tss_desc(WORLD + toff, lim, is32), tsel))
            mk('notpresent', src, (lambda c: c.desc(tss_desc(WORLD + toff, lim, is32, present=False, busy=True), tsel))
               if src == 'iret' else desc_tweak(present=False))
            mk('limit-small', src, (lambda c: c.desc(tss_desc(WORLD + toff, lim - 1, is32, busy=True), tsel))
               if src == 'iret' else desc_tweak(limit=lim - 1))

            def st(field, fn):
                def f(c):
                    v = fn(c)
                    if is32:
                        c.tss32(toff, **{field: v})
                    else:
                        c.tss16(toff, **{field: v})
                return f
            mk('cs-null', src, st('cs', lambda c: 0))
            mk('cs-data', src, st('cs', lambda c: c.data_seg(0)))
            mk('cs-notpresent', src, st('cs', lambda c: c.code_seg(0, False, 32, present=False)))
            mk('cs-rpl-not-dpl', src, st('cs', lambda c: c.code_seg(0, False, 32) | 2))
            mk('cs-conf-dpl-above-rpl', src, st('cs', lambda c: c.code_seg(2, True, 32) | 1))
            mk('cs-beyond-gdt', src, st('cs', lambda c: 0x400))
            mk('ss-null', src, st('ss', lambda c: 0))
            mk('ss-rpl', src, st('ss', lambda c: c.stack(0, 'up32', anchor=0x80)[0] | 1))
            mk('ss-dpl', src, st('ss', lambda c: c.stack(0, 'up32', anchor=0x80, dpl=1)[0] & ~3))
            mk('ss-readonly', src, st('ss', lambda c: c.stack(0, 'up32', anchor=0x80, writable=False)[0]))
            mk('ss-notpresent', src, st('ss', lambda c: c.stack(0, 'up32', anchor=0x80, present=False)[0]))
            mk('ds-code-execonly', src, st('ds', lambda c: c.code_seg(0, False, 32, readable=False)))
            mk('ds-dpl-below-cpl', src, st('ds', lambda c: c.data_seg(0) | 3), ncpl=3)
            mk('ds-notpresent', src, st('ds', lambda c: c.data_seg(0, present=False)))
            mk('ds-beyond-gdt', src, st('ds', lambda c: 0x400))
            mk('ldt-not-ldt', src, st('ldt', lambda c: c.data_seg(0)))
            mk('ldt-in-ldt', src, st('ldt', lambda c: 0x224))
            mk('eip-beyond-limit', src, st('eip' if is32 else 'ip', lambda c: CODE_SIZE))
        mk('tss-dpl-below-cpl', 'jmp', desc_tweak(dpl=2), cpl=3)
        mk('tss-dpl-below-rpl', 'jmp', lambda c: (desc_tweak(dpl=1)(c), c.code(START, jmp_far(32 if c.w[W_GDT + 0x26] & 0x40 else 16, 4 if c.w[W_GDT + 0x26] & 0x40 else 2, tsel | 3, 0)) ), cpl=0)
        mk('gate-dpl-below-cpl', 'jmp-gate', lambda c: c.desc(gate_desc(TASKGATE, tsel, 0, 1), 0x220 + 8 * (c.slot - 1)), cpl=3)
        mk('intgate-dpl-below-cpl', 'int-gate', lambda c: c.idt(VEC, gate_desc(TASKGATE, tsel, 0, 0)), cpl=3)
        mk('gate-notpresent', 'int-gate', lambda c: c.idt(VEC, gate_desc(TASKGATE, tsel, 0, 3, present=False)))
        mk('gate-to-ldt-sel', 'int-gate', lambda c: c.idt(VEC, gate_desc(TASKGATE, tsel | 4, 0, 3)))
        mk('gate-to-code', 'int-gate', lambda c: c.idt(VEC, gate_desc(TASKGATE, c.code_seg(0), 0, 3)))
    return cases


def fam_popss():
    """POP SS (16/32-bit operand size) from a 16/32-bit, expand-up/down stack to one of each kind:
    ESP steps by the operand size in the width of the OLD stack (SP = 0xFFFC wraps to 0), then a
    PUSH on the new stack; MOV SS and LSS for comparison; then the faults of the load (null, RPL,
    DPL, type, present, beyond the GDT) and of the pop (limit)."""
    cases = []
    for cpl in range(4):
        for okind in STACK_KINDS:
            for nkind in STACK_KINDS:
                for osz in (2, 4):
                    for at in ('mid', 'edge'):
                        name = f'popss/cpl{cpl}-{okind}-to-{nkind}-o{osz * 8}-{at}'
                        cases.append(popss_case(name, cpl, okind, nkind, osz, at))
    for cpl in (0, 3):
        for okind in STACK_KINDS:
            for nkind in ('up16', 'up32'):
                for insn in ('mov', 'lss16', 'lss32', 'popds'):
                    name = f'popss/{insn}-cpl{cpl}-{okind}-to-{nkind}'
                    cases.append(popss_case(name, cpl, okind, nkind, 4, 'mid', insn=insn))
    for cpl in (0, 3):
        for osz in (2, 4):
            def mk(what, sel_fn, okind='up32', room=0x100):
                name = f'popss/fault-cpl{cpl}-o{osz * 8}-{what}'
                cases.append(popss_case(name, cpl, okind, 'up32', osz, 'mid', sel_fn=sel_fn, room=room))
            mk('null', lambda c: 0)
            mk('null-rpl3', lambda c: 3)
            mk('rpl', lambda c: c.stack(cpl, 'up32', anchor=0x80)[0] & ~3 | (cpl ^ 1))
            mk('dpl', lambda c: c.stack(cpl, 'up32', anchor=0x80, dpl=cpl ^ 2)[0])
            mk('readonly', lambda c: c.stack(cpl, 'up32', anchor=0x80, writable=False)[0])
            mk('code', lambda c: c.code_seg(cpl) | cpl)
            mk('notpresent', lambda c: c.stack(cpl, 'up32', anchor=0x80, present=False)[0])
            mk('not-accessed', lambda c: c.stack(cpl, 'up32', anchor=0x80, accessed=False)[0])
            mk('beyond-gdt', lambda c: 0x400 | cpl)
            mk('ldt', lambda c: 0x224 | cpl)
            mk('tss', lambda c: SEL_TSS_B | cpl)
            mk('pop-limit', None, room=osz - 1)
            mk('pop-limit-16', None, okind='up16', room=osz - 1)
    return cases


def popss_case(name, cpl, okind, nkind, osz, at, insn='pop', sel_fn=None, room=0x100):
    c = Case(name)
    bits = pick(name + 'b', [16, 32])
    start_a(c, cpl, bits)
    old_big = okind.endswith('32')
    if at == 'edge':
        # The operand sits at the top of a 16-bit stack's 64 KiB (SP wraps to 0 after the pop),
        # or of a 32-bit stack's 4 GiB.
        sp = (0x10000 if not old_big else 0x100000000) - osz
        if okind.startswith('up'):
            ss, esp = c.stack(cpl, okind, sp=sp, room_above=osz if old_big else 0x10000 - sp)
        else:
            ss, esp = c.stack(cpl, okind, sp=sp)
    else:
        ss, esp = c.stack(cpl, okind, room_above=room)
    c.a(ss=ss, esp=esp)
    sp_after = ((esp + osz) & 0xffffffff) if old_big else ((esp & 0xffff0000) | ((esp + osz) & 0xffff))
    # The new SS maps the stack pointer the pop leaves at anchor 0x80 of the same ring's area.
    nbig = nkind.endswith('32')
    nsp = sp_after if nbig else sp_after & 0xffff
    lin = WORLD + W_STACK + STACK_AREA * cpl + 0x80
    if nkind.startswith('down'):
        top = 0xffffffff if nbig else 0xffff
        limit = max(nsp - 0x40 - 1, 0) if nsp > 0x40 else 0
        if nbig:
            limit = (limit & ~0xfff) | 0xfff if limit >= 0x1000 else 0xfff
        if nsp <= limit or nsp > top:
            limit = 0  # the pointer is outside the window: the push faults
        lohi = seg_desc((lin - nsp) & 0xffffffff, limit, data_access(cpl, down=True), db=nbig, g=nbig and limit > 0xfffff)
    else:
        limit = min(nsp + 0x40 - 1, 0xffff if not nbig else 0xfffff)
        if nsp == 0 or (nbig and nsp + 0x40 > 0xfffff):
            limit = 0xffff if not nbig else 0xffffffff   # 4 GiB: the push wraps or sits high
        lohi = seg_desc((lin - nsp) & 0xffffffff, limit, data_access(cpl), db=nbig)
    nss = c.desc(lohi) | cpl
    if sel_fn is not None:
        nss = sel_fn(c)
    code = b''
    if insn == 'pop':
        stack_put(c, cpl, 0, words(osz, nss | (0x1230000 if osz == 4 else 0)))
        code = osz_prefix(bits, osz * 8) + b'\x17'
    elif insn == 'mov':
        c.a(eax=(REGS_A[0] & 0xffff0000) | nss)
        code = b'\x8e\xd0'
    elif insn in ('lss16', 'lss32'):
        # LSS ESP/SP, [SS:ESP-based pointer]: the far pointer is on the old stack.
        po = 4 if insn == 'lss32' else 2
        stack_put(c, cpl, 0, words(po, sp_after) + words(2, nss))
        modrm = b'\x24\x24' if bits == 32 else None
        if bits == 32:
            code = osz_prefix(bits, po * 8) + b'\x0f\xb2' + modrm   # lss esp, [esp]
        else:
            code = osz_prefix(bits, po * 8) + b'\x67\x0f\xb2\x24\x24'
    elif insn == 'popds':
        stack_put(c, cpl, 0, words(osz, nss))
        code = osz_prefix(bits, osz * 8) + b'\x1f'
    # Then a push on the new stack (a 32-bit immediate, or 16-bit in 16-bit code).
    code += b'\x68' + imm(0x600dcafe, bits // 8)
    c.code(START, code)
    return c


def fam_sysenter():
    """SYSENTER from CPL 0-3 (16/32-bit code, every stack kind, with IF/VM-free EFLAGS) and SYSEXIT
    from CPL 0 (16/32-bit code) with SYSENTER_CS values 0 (#GP), with RPL bits, and near the
    GDT limit; SYSEXIT from CPL 1-3 (#GP)."""
    cases = []
    lin = WORLD + W_CODE + SYS_EIP
    for op in ('sysenter', 'sysexit'):
        for cpl in range(4):
            for bits in (16, 32):
                for kind in STACK_KINDS:
                    for msr_cs in (0x220, 0x223, 0x0, 0x3f8, 0xfff8):
                        name = f'sysenter/{op}-cpl{cpl}-cs{bits}-{kind}-msr{msr_cs:#x}'
                        if op == 'sysexit' and kind not in ('up32', 'up16'):
                            continue
                        c = Case(name)
                        fl = pick(name + 'f', [0x2, 0x202, 0x40ed7, 0x3202])
                        start_a(c, cpl, bits, stack=kind, eflags=fl)
                        c.msr = (msr_cs, WORLD + W_STACK + 0x100, lin)
                        if op == 'sysenter':
                            c.code(START, b'\x0f\x34')
                        else:
                            c.a(ecx=WORLD + W_STACK + 3 * STACK_AREA + 0x100, edx=lin + 0x10)
                            c.code(START, b'\x0f\x35')
                        c.code(SYS_EIP, b'\x9c')       # PUSHF on the new stack, then INT3
                        c.code(SYS_EIP + 0x10, b'\x9c')
                        cases.append(c)
    return cases


FAMILIES = {
    'farjmp': fam_farjmp,
    'farcall': fam_farcall,
    'retf': fam_retf,
    'iret': fam_iret,
    'int': fam_int,
    'exc': fam_exc,
    'callgate': fam_callgate,
    'task': fam_task,
    'popss': fam_popss,
    'sysenter': fam_sysenter,
}


# ------------------------------------------------------------------------------------------------
# Output

def defines():
    d = dict(GDT_BASE=GDT_BASE, GDT_LIMIT=GDT_LIMIT, REC_SEL=REC_SEL, WORLD=WORLD, WSIZE=WSIZE,
             IDT_BASE=IDT_BASE, SNAP=SNAP, VARS=VARS, REC_TSS=REC_TSS, REC_TOP=REC_TOP, RESULTS=RESULTS,
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
                   'cases': [{'name': c.name, **({'note': c.note} if c.note else {}),
                              **({'sdm': c.override} if c.override else {})} for c in cases]},
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
