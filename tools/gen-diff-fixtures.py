#!/usr/bin/python3
"""Differential fixtures for the 32-bit x86 core, from an independent CPU model (Unicorn 2 / QEMU TCG).

For every instruction class this builds many cases, each one instruction (or a short sequence)
followed by HLT: random initial registers (EAX..EDI), random arithmetic EFLAGS bits and DF, a small
data area of random bytes at a fixed address, and instruction bytes from the small encoder below
(ModRM/SIB forms with memory operands inside the data area, 0x66 operand size, 0x67 address size,
segment overrides, LOCK, REP/REPE/REPNE). Each case runs in Unicorn (UC_MODE_32, flat, RAM at
0x1000-0x3FFF with the code page 0x1000 filled with HLT) until a HLT executes, and the final
registers, EFLAGS, EIP (after the HLT, as a HLT exit reports it) and changed memory bytes are
recorded. test/cpu/differential.test.ts replays them through vmrun's Vm/Vcpu API.

Only architecturally defined results are compared: every class records `flagsMask`, the EFLAGS
bits the test compares (the SDM's undefined flags of that instruction left out); where the defined
flags depend on an operand (shift and rotate counts, sequences) a case carries its own `flagsMask`.
Results the SDM leaves undefined are never generated (BSF/BSR of 0, 16-bit BSWAP, SHLD/SHRD of a
16-bit operand by more than 16). Cases that fault in Unicorn are dropped, except where the fault
is the point (#DE from DIV/IDIV/AAM; #UD, #BR, INT3, INT n, INTO in `exceptions`), recorded as
`expected.exception` = vector with the registers before the instruction and `eip` = the return
address the frame must hold (the faulting instruction, or the next one for traps).

Unicorn 2.0.1 deviations found on the way, kept out of the fixtures:
  * it keeps stale translations across mem_write (-> ctl_remove_cache before every run);
  * LOCK NEG m: SF/PF of the operand instead of the result (-> no LOCK NEG);
  * ENTER computes the final ESP in 16 bits (-> frames that do not wrap below 0);
  * no #UD for LOCK XCHG/XADD r,r, LOCK XOR r,r, LOCK MOV/BT (-> dropped), and an abort
    ("tcg fatal error") on LOCK BTS/BTR/BTC r,r (-> never generated); INT 6 reports as an invalid
    opcode (-> not generated).

Run with the system Python, which has python3-unicorn:

    /usr/bin/python3 tools/gen-diff-fixtures.py            # all classes -> test/cpu/fixtures/
    /usr/bin/python3 tools/gen-diff-fixtures.py shift bt   # only these classes
    /usr/bin/python3 tools/gen-diff-fixtures.py --list     # the classes

The output is deterministic: a fixed seed per class, gzip with mtime 0.
"""

import argparse
import bisect
import gzip
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

from unicorn import Uc, UcError, UC_ARCH_X86, UC_MODE_32, UC_HOOK_INTR, UC_ERR_INSN_INVALID
from unicorn import x86_const as X

SEED = 'vmrun-diff-v1'

# ------------------------------------------------------------------------------------------------
# Machine layout (the test maps the same pages)

PAGE = 0x1000
CODE_PAGE = 0x1000      # filled with HLT (0xF4): any branch target stops there
CODE = 0x1800           # the instruction under test, followed by HLT
DATA_PAGE = 0x2000      # two zero pages, with the case's random data area (at DATA by default)
DATA = 0x2800           # below 64 KiB so that 16-bit addressing (0x67) reaches it
MEM_BASE = CODE_PAGE    # RAM: [MEM_BASE, MEM_END)
MEM_END = DATA_PAGE + 2 * PAGE
GDT_ADDR = 0x10000      # Unicorn only (segment-base classes)
HLT = 0xF4

EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = range(8)
REG_ORDER = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi']
UC_REGS = [X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
           X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI]

CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
IOPL, NT, AC, ID = 0x3000, 0x4000, 0x40000, 0x200000
ARITH = CF | PF | AF | ZF | SF | OF
# EFLAGS bits compared at all: the status flags, DF, IF, TF, IOPL, NT, AC, ID and the fixed bit 1
# (not RF, VM, VIF, VIP).
FULL = 0x2 | ARITH | TF | IF | DF | IOPL | NT | AC | ID

M32 = 0xFFFFFFFF
SIZE_MASK = {1: 0xFF, 2: 0xFFFF, 4: M32}

SPECIAL = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
           0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFF8000, 0xFFFFFF80, 0x00FF00FF]
SPECIAL8 = [0, 1, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x0F, 0xF0, 0x99, 0x09, 0x90]


def rval(r):
    """A 32-bit value, biased toward edge cases of every operand size."""
    k = r.random()
    if k < 0.45:
        return r.getrandbits(32)
    if k < 0.60:
        return r.choice(SPECIAL)
    if k < 0.72:
        return (r.getrandbits(32) & ~0xFF) | r.choice(SPECIAL8)
    if k < 0.80:
        return (r.getrandbits(32) & ~0xFFFF) | r.choice([0, 1, 0x7FFF, 0x8000, 0xFFFF, 0xFF, 0x80, 0x7F])
    if k < 0.90:
        return r.randrange(0, 17)
    return (-r.randrange(1, 17)) & M32


def rimm(r, size):
    return rval(r) & SIZE_MASK[size]


def le(v, size):
    return (v & SIZE_MASK[size]).to_bytes(size, 'little')


# ------------------------------------------------------------------------------------------------
# One case under construction: state plus a tiny encoder


class Case:
    def __init__(self, r, data_size, mem_zero=False, data=None):
        self.r = r
        self.regs = [rval(r) for _ in range(8)]
        self.eflags = 0x2 | (r.getrandbits(32) & (ARITH | DF))
        self.mem = bytearray(data_size) if mem_zero else bytearray(r.getrandbits(8) for _ in range(data_size))
        self.data_size = data_size
        self.data = DATA if data is None else data   # the data area's address
        self.code = CODE                             # where the instruction goes
        self.p66 = False
        self.p67 = False
        self.seg = None
        self.rep = None
        self.lock = False
        self.mask = None          # per-case flags mask
        self.fixed = set()        # registers the address solver must not use
        self.mem_used = False     # whether the data area matters (else it is stored empty)
        self.exc_ok = ()          # exception vectors that are an acceptable outcome
        self.expect_ud = False    # the case must raise #UD
        self.addr_regs = set()    # registers the last memory operand's address uses

    # --- registers
    def get(self, reg, size=4):
        if size == 1:
            return (self.regs[reg & 3] >> (8 if reg >= 4 else 0)) & 0xFF
        return self.regs[reg] & SIZE_MASK[size]

    def set(self, reg, size, v):
        if size == 1:
            sh = 8 if reg >= 4 else 0
            self.regs[reg & 3] = (self.regs[reg & 3] & ~(0xFF << sh) | ((v & 0xFF) << sh)) & M32
        elif size == 2:
            self.regs[reg] = (self.regs[reg] & 0xFFFF0000) | (v & 0xFFFF)
        else:
            self.regs[reg] = v & M32

    def reg(self, avoid=()):
        """A random register number (not one of `avoid`)."""
        while True:
            g = self.r.randrange(8)
            if g not in avoid:
                return g

    # --- memory
    def mread(self, addr, size):
        o = addr - self.data
        return int.from_bytes(self.mem[o:o + size], 'little')

    def mwrite(self, addr, size, v):
        o = addr - self.data
        self.mem[o:o + size] = le(v, size)

    def rand_ea(self, size, lo=0, hi=None):
        hi = self.data_size if hi is None else hi
        return self.data + self.r.randrange(lo, hi - size + 1)

    # --- ModRM
    def modrm(self, regfield, size, memp=0.5, a16p=0.15, ea=None, avoid=(), free=False):
        """ModRM (+SIB, displacement) bytes. With probability `memp` a memory operand whose
        effective address is `ea` (random in the data area when None), else a register operand
        (returned in self.rm_reg). `free`: any address (LEA), registers stay random."""
        r = self.r
        self.rm_reg = None
        self.ea = None
        self.addr_regs = set()
        if r.random() >= memp:
            g = self.reg(avoid=tuple(avoid))
            self.rm_reg = g
            return bytes([0xC0 | (regfield << 3) | g])
        self.mem_used = True
        if ea is None and not free:
            ea = self.rand_ea(size)
        self.ea = ea
        bad = set(self.fixed) | set(avoid)
        for _ in range(100):
            out = self._mem16(regfield, ea, bad, free) if r.random() < a16p else self._mem32(regfield, ea, bad, free)
            if out is not None:
                return out
        raise RuntimeError('no addressing form fits')

    def _disp(self, kind):
        r = self.r
        if kind == 8:
            return r.choice([0, 1, 0x7F, 0x80, 0xFF, r.getrandbits(8)])
        if kind == 16:
            return r.choice([0, 0x7FFF, 0x8000, 0xFFFF, r.getrandbits(16)])
        return r.choice([0, 0x7FFFFFFF, 0x80000000, M32, r.getrandbits(32), r.getrandbits(16)])

    def _mem32(self, regfield, ea, bad, free):
        r = self.r
        self.p67 = False
        mod = r.choice([0, 0, 1, 2])
        if r.random() < 0.45:
            # SIB
            scale = r.randrange(4)
            index = r.randrange(8)  # 4 = none
            base = r.randrange(8)
            nobase = mod == 0 and base == 5
            regs_used = ([] if nobase else [base]) + ([] if index == 4 else [index])
            if any(g in bad for g in regs_used):
                return None
            self.addr_regs = set(regs_used)
            dkind = 32 if (nobase or mod == 2) else (8 if mod == 1 else 0)
            disp = self._disp(dkind) if dkind else 0
            sdisp = disp - (1 << 8) if dkind == 8 and disp & 0x80 else disp
            out = bytes([(mod << 6) | (regfield << 3) | 4, (scale << 6) | (index << 3) | base])
            out += disp.to_bytes(dkind // 8, 'little') if dkind else b''
            if free:
                return out
            if nobase and index == 4:
                if (disp & M32) != ea:
                    if dkind != 32:
                        return None
                    disp = ea
                    out = out[:2] + ea.to_bytes(4, 'little')
                return out
            if index == 4:
                self.regs[base] = (ea - sdisp) & M32
                return out
            if nobase:
                # ea = index*s + disp32: pick the index, solve the displacement
                iv = self.regs[index]
                disp = (ea - (iv << scale)) & M32
                return out[:2] + disp.to_bytes(4, 'little')
            if index == base:
                f = 1 + (1 << scale)
                t = (ea - sdisp) & M32
                if f % 2 == 0:
                    if t % 2:
                        return None
                    # f = 2: b = t/2 (or t/2 + 2^31)
                    self.regs[base] = (t // 2 + (r.getrandbits(1) << 31)) & M32
                else:
                    self.regs[base] = (t * pow(f, -1, 1 << 32)) & M32
                return out
            iv = self.regs[index]
            self.regs[base] = (ea - sdisp - (iv << scale)) & M32
            return out
        rm = r.randrange(8)
        if rm == 4:
            return None
        if mod == 0 and rm == 5:
            if free:
                return bytes([(regfield << 3) | 5]) + self._disp(32).to_bytes(4, 'little')
            return bytes([(regfield << 3) | 5]) + ea.to_bytes(4, 'little')
        if rm in bad:
            return None
        self.addr_regs = {rm}
        dkind = {0: 0, 1: 8, 2: 32}[mod]
        disp = self._disp(dkind) if dkind else 0
        sdisp = disp - (1 << 8) if dkind == 8 and disp & 0x80 else disp
        out = bytes([(mod << 6) | (regfield << 3) | rm]) + (disp.to_bytes(dkind // 8, 'little') if dkind else b'')
        if not free:
            self.regs[rm] = (ea - sdisp) & M32
        return out

    _RM16 = {0: (EBX, ESI), 1: (EBX, EDI), 2: (EBP, ESI), 3: (EBP, EDI), 4: (ESI,), 5: (EDI,), 6: (EBP,), 7: (EBX,)}

    def _mem16(self, regfield, ea, bad, free):
        r = self.r
        mod = r.choice([0, 0, 1, 2])
        rm = r.randrange(8)
        self.p67 = True
        if mod == 0 and rm == 6:
            d = self._disp(16) if free else ea & 0xFFFF
            if not free and ea > 0xFFFF:
                return None
            return bytes([(regfield << 3) | 6]) + d.to_bytes(2, 'little')
        used = self._RM16[rm]
        if any(g in bad for g in used):
            self.p67 = False
            return None
        self.addr_regs = set(used)
        dkind = {0: 0, 1: 8, 2: 16}[mod]
        disp = self._disp(dkind) if dkind else 0
        sdisp = disp - (1 << 8) if dkind == 8 and disp & 0x80 else disp
        out = bytes([(mod << 6) | (regfield << 3) | rm]) + (disp.to_bytes(dkind // 8, 'little') if dkind else b'')
        if free:
            return out
        if ea > 0xFFFF:
            self.p67 = False
            return None
        other = sum(self.regs[g] & 0xFFFF for g in used[1:])
        b = (ea - sdisp - other) & 0xFFFF
        self.regs[used[0]] = (self.regs[used[0]] & 0xFFFF0000) | b
        return out

    # --- final assembly
    def seg_prefix(self, p=0.15):
        """Sometimes a segment override (never CS: the flat CS is not writable)."""
        if self.r.random() < p:
            self.seg = self.r.choice([0x26, 0x36, 0x3E, 0x64, 0x65])

    def build(self, body):
        pre = []
        if self.lock:
            pre.append(0xF0)
        if self.rep is not None:
            pre.append(self.rep)
        if self.seg is not None:
            pre.append(self.seg)
        if self.p66:
            pre.append(0x66)
        if self.p67:
            pre.append(0x67)
        self.r.shuffle(pre)
        return bytes(pre) + bytes(body)


# ------------------------------------------------------------------------------------------------
# Flag masks from the SDM

def shift_mask(op, size, count):
    """Defined flags after a shift/rotate group-2 op (/op) of `size` bytes by `count`."""
    mc = count & 0x1F
    if mc == 0:
        return FULL                          # no flags affected
    bits = size * 8
    if op in (0, 1, 2, 3):                   # ROL ROR RCL RCR: CF defined, OF only for 1
        return FULL if mc == 1 else FULL & ~OF
    m = FULL & ~AF                           # SHL SHR SAR: AF undefined for count != 0
    if mc != 1:
        m &= ~OF
    if op in (4, 5, 6) and mc >= bits:       # SHL/SHR: CF undefined when count >= size
        m &= ~CF
    return m


def shld_mask(count):
    mc = count & 0x1F
    if mc == 0:
        return FULL
    m = FULL & ~AF
    if mc != 1:
        m &= ~OF
    return m


# ------------------------------------------------------------------------------------------------
# Instruction classes. Each generator fills a Case and returns the instruction bytes.

def size_pick(c, sizes=(1, 2, 4)):
    s = c.r.choice(sizes)
    c.p66 = s == 2
    return s


def g_alu(ops):
    def gen(c):
        r = c.r
        op = r.choice(ops)
        size = size_pick(c)
        w = 0 if size == 1 else 1
        form = r.choice(['rm_r', 'r_rm', 'acc', 'rm_imm', 'rm_imm', 'imm8s'])
        if form == 'imm8s' and size == 1:
            form = 'rm_imm'
        c.seg_prefix()
        if form == 'rm_r':
            body = bytes([op * 8 + w]) + c.modrm(c.reg(), size)
            dest_mem = c.ea is not None
        elif form == 'r_rm':
            g = c.reg()
            body = bytes([op * 8 + 2 + w]) + c.modrm(g, size)
            if r.random() < 0.15 and not (g & 3 if size == 1 else g) in c.addr_regs:
                # equal operands: zero results, borrows
                if c.ea is not None:
                    c.set(g, size, c.mread(c.ea, size))
                else:
                    c.set(g, size, c.get(c.rm_reg, size))
            dest_mem = False
        elif form == 'acc':
            body = bytes([op * 8 + 4 + w]) + le(rimm(r, size), size)
            dest_mem = False
        elif form == 'rm_imm':
            opc = 0x80 if size == 1 else 0x81
            if size == 1 and r.random() < 0.1:
                opc = 0x82
            body = bytes([opc]) + c.modrm(op, size) + le(rimm(r, size), size)
            dest_mem = c.ea is not None
        else:
            body = bytes([0x83]) + c.modrm(op, size) + bytes([rimm(r, 1)])
            dest_mem = c.ea is not None
        if dest_mem and op != 7 and r.random() < 0.15:
            c.lock = True
        return c.build(body)
    return gen


def g_incdec(c):
    r = c.r
    size = size_pick(c)
    op = r.randrange(2)
    c.seg_prefix()
    if size != 1 and r.random() < 0.3:
        return c.build([0x40 + op * 8 + c.reg()])
    body = bytes([0xFE if size == 1 else 0xFF]) + c.modrm(op, size)
    if c.ea is not None and r.random() < 0.15:
        c.lock = True
    return c.build(body)


def g_negnot(c):
    r = c.r
    size = size_pick(c)
    c.seg_prefix()
    op = r.choice([2, 3])
    body = bytes([0xF6 if size == 1 else 0xF7]) + c.modrm(op, size)
    # LOCK NOT only: Unicorn 2.0.1 computes the flags of LOCK NEG wrongly (SF/PF of the operand
    # instead of the result)
    if c.ea is not None and op == 2 and r.random() < 0.15:
        c.lock = True
    return c.build(body)


def g_test(c):
    r = c.r
    size = size_pick(c)
    w = 0 if size == 1 else 1
    c.seg_prefix()
    form = r.randrange(3)
    if form == 0:
        return c.build(bytes([0x84 + w]) + c.modrm(c.reg(), size))
    if form == 1:
        return c.build(bytes([0xA8 + w]) + le(rimm(r, size), size))
    return c.build(bytes([0xF6 + w]) + c.modrm(0, size) + le(rimm(r, size), size))


def shift_count(r, size):
    k = r.random()
    if k < 0.6:
        return r.randrange(0, size * 8 + 2)
    if k < 0.9:
        return r.randrange(0, 32)
    return r.randrange(32, 256)


def g_shift(c):
    r = c.r
    size = size_pick(c)
    w = 0 if size == 1 else 1
    op = r.choice([0, 1, 2, 3, 4, 5, 7])
    form = r.choice(['1', 'cl', 'imm'])
    c.seg_prefix()
    if form == '1':
        body = bytes([0xD0 + w]) + c.modrm(op, size)
        count = 1
    elif form == 'cl':
        c.fixed.add(ECX)
        body = bytes([0xD2 + w]) + c.modrm(op, size)
        count = shift_count(r, size)
        c.set(ECX, 1, count)
        # the operand may be CL itself
        count = c.get(ECX, 1)
    else:
        count = shift_count(r, size)
        body = bytes([0xC0 + w]) + c.modrm(op, size) + bytes([count])
    c.mask = shift_mask(op, size, count)
    return c.build(body)


def g_shld(c):
    r = c.r
    size = size_pick(c, (2, 4))
    right = r.randrange(2)
    use_cl = r.randrange(2)
    count = r.randrange(0, 17) if size == 2 else r.randrange(0, 32)
    if r.random() < 0.2:
        count += 32 * r.randrange(1, 8)
    c.seg_prefix()
    src = c.reg()
    if use_cl:
        c.fixed.add(ECX)
    body = bytes([0x0F, 0xA4 + 8 * right + use_cl]) + c.modrm(src, size)
    if use_cl:
        c.set(ECX, 1, count)
    else:
        body += bytes([count])
    c.mask = shld_mask(count)
    return c.build(body)


def g_mul(c):
    r = c.r
    form = r.choice(['mul', 'imul1', 'imul2', 'imul3', 'imul3b'])
    c.seg_prefix()
    if form in ('mul', 'imul1'):
        size = size_pick(c)
        return c.build(bytes([0xF6 if size == 1 else 0xF7]) + c.modrm(4 if form == 'mul' else 5, size))
    size = size_pick(c, (2, 4))
    g = c.reg()
    if form == 'imul2':
        return c.build(bytes([0x0F, 0xAF]) + c.modrm(g, size))
    if form == 'imul3':
        return c.build(bytes([0x69]) + c.modrm(g, size) + le(rimm(r, size), size))
    return c.build(bytes([0x6B]) + c.modrm(g, size) + bytes([rimm(r, 1)]))


def sx(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def g_div(c):
    r = c.r
    c.exc_ok = (0,)
    size = size_pick(c)
    bits = size * 8
    signed = r.randrange(2)
    c.fixed.update([EAX, EDX, ESP])
    c.regs[ESP] = c.data + 0xF0 - 4 * r.randrange(4)   # room for an exception frame
    c.seg_prefix()
    if r.random() < 0.06:
        # operands straight from the random state: may divide by 0 or overflow (#DE)
        body = bytes([0xF6 if size == 1 else 0xF7]) + c.modrm(7 if signed else 6, size)
        return c.build(body)
    while True:
        if signed:
            d = sx(rval(r), bits) if r.random() < 0.5 else r.choice([1, -1, 2, -2, 3, 7, -7, 10])
            q = r.randrange(-(1 << (bits - 1)), 1 << (bits - 1))
            if d == 0:
                continue
            rem = r.randrange(0, abs(d))
            n = q * d
            if n < 0 or (n == 0 and r.randrange(2)):
                rem = -rem
            n += rem
            lim = 1 << (2 * bits - 1)
            if not -lim <= n < lim:
                continue
            qq = abs(n) // abs(d) * (1 if (n < 0) == (d < 0) else -1)
            if qq != q or n - qq * d != rem:
                continue
        else:
            d = rval(r) & SIZE_MASK[size] if r.random() < 0.5 else r.choice([1, 2, 3, 7, 10, 0xFF])
            d &= SIZE_MASK[size]
            if d == 0:
                continue
            q = r.randrange(0, 1 << bits) if r.random() < 0.7 else r.choice([0, 1, (1 << bits) - 1])
            n = q * d + r.randrange(0, d)
        break
    n &= (1 << (2 * bits)) - 1
    if size == 1:
        c.set(EAX, 2, n)
    else:
        c.set(EAX, size, n & SIZE_MASK[size])
        c.set(EDX, size, n >> bits)
    avoid = (EAX, EDX, ESP) if size != 1 else (EAX, ESP)
    g = c.reg(avoid=avoid) if size != 1 else r.choice([1, 2, 3, 5, 6, 7])
    if r.random() < 0.5:
        body = bytes([0xF6 if size == 1 else 0xF7]) + bytes([0xC0 | ((7 if signed else 6) << 3) | g])
        c.set(g, size, d)
    else:
        body = bytes([0xF6 if size == 1 else 0xF7]) + c.modrm(7 if signed else 6, size, memp=1.0)
        c.mwrite(c.ea, size, d)
    return c.build(body)


def bcd_al(c):
    r = c.r
    if r.random() < 0.5:
        c.set(EAX, 1, (r.randrange(10) << 4) | r.randrange(16))
    if r.random() < 0.3:
        c.set(EAX, 1, r.choice(SPECIAL8 + [0x9A, 0xF9, 0xFA, 0x05, 0x06, 0x60, 0x66]))


def g_daa(c):
    bcd_al(c)
    return bytes([c.r.choice([0x27, 0x2F])])


def g_aaa(c):
    bcd_al(c)
    return bytes([c.r.choice([0x37, 0x3F])])


def g_aam(c):
    r = c.r
    c.exc_ok = (0,)
    c.regs[ESP] = c.data + 0xF0 - 4 * r.randrange(4)
    imm = 10 if r.random() < 0.5 else r.randrange(256)
    if r.random() < 0.03:
        imm = 0
    bcd_al(c)
    if r.random() < 0.5:
        c.set(4, 1, r.randrange(10))   # AH a digit
    return bytes([r.choice([0xD4, 0xD5]), imm])


BT_OPS = {'bt': (0xA3, 4), 'bts': (0xAB, 5), 'btr': (0xB3, 6), 'btc': (0xBB, 7)}


def g_bt(c):
    r = c.r
    size = size_pick(c, (2, 4))
    bits = size * 8
    opc, grp = r.choice(list(BT_OPS.values()))
    c.seg_prefix()
    if r.random() < 0.35:
        imm = r.randrange(256) if r.random() < 0.3 else r.randrange(bits)
        body = bytes([0x0F, 0xBA]) + c.modrm(grp, size) + bytes([imm])
    else:
        g = c.reg()
        if r.random() < 0.5:
            body = bytes([0x0F, opc]) + c.modrm(g, size, memp=0)
            if r.random() < 0.2:
                c.set(g, size, r.randrange(bits))
        else:
            # memory operand with a register bit offset reaching anywhere in the data area
            c.fixed.add(g)
            target = c.data + r.randrange(0, c.data_size - size + 1) // size * size
            base_off = r.randrange(0, c.data_size) - c.data_size // 2
            ea = c.data + c.data_size // 2 + base_off
            # bit offset: (target - ea)/size words, plus a bit within
            delta = target - ea
            words = delta // size
            ea = target - words * size
            off = words * bits + r.randrange(bits)
            c.set(g, size, off & SIZE_MASK[size])
            body = bytes([0x0F, opc]) + c.modrm(g, size, memp=1.0, ea=ea)
        if c.ea is not None and opc != 0xA3 and r.random() < 0.15:
            c.lock = True
    if body[1] == 0xBA and c.ea is not None and grp != 4 and r.random() < 0.15:
        c.lock = True
    return c.build(body)


def g_bsf(c):
    r = c.r
    size = size_pick(c, (2, 4))
    g = c.reg()
    c.seg_prefix()
    body = bytes([0x0F, r.choice([0xBC, 0xBD])]) + c.modrm(g, size)
    v = rval(r) & SIZE_MASK[size]
    if r.random() < 0.5:
        v &= rval(r) & rval(r)
    if v == 0:
        v = 1 << r.randrange(size * 8)
    if c.ea is not None:
        c.mwrite(c.ea, size, v)
    else:
        c.set(c.rm_reg, size, v)
    return c.build(body)


def g_setcc(c):
    r = c.r
    c.seg_prefix()
    return c.build(bytes([0x0F, 0x90 + r.randrange(16)]) + c.modrm(0, 1))


def g_cmov(c):
    r = c.r
    size = size_pick(c, (2, 4))
    c.seg_prefix()
    return c.build(bytes([0x0F, 0x40 + r.randrange(16)]) + c.modrm(c.reg(), size))


def g_movx(c):
    r = c.r
    opc = r.choice([0xB6, 0xB7, 0xBE, 0xBF])
    c.p66 = r.random() < 0.3
    c.seg_prefix()
    src = 1 if opc in (0xB6, 0xBE) else 2
    return c.build(bytes([0x0F, opc]) + c.modrm(c.reg(), src))


def g_xchg(c):
    r = c.r
    size = size_pick(c)
    if size != 1 and r.random() < 0.25:
        return c.build([0x90 + r.randrange(1, 8)])
    c.seg_prefix()
    body = bytes([0x86 if size == 1 else 0x87]) + c.modrm(c.reg(), size)
    if c.ea is not None and r.random() < 0.2:
        c.lock = True
    return c.build(body)


def g_cmpxchg(c):
    r = c.r
    size = size_pick(c)
    c.fixed.add(EAX)
    c.seg_prefix()
    body = bytes([0x0F, 0xB0 if size == 1 else 0xB1]) + c.modrm(c.reg(), size)
    if r.random() < 0.5:
        v = c.mread(c.ea, size) if c.ea is not None else c.get(c.rm_reg, size)
        c.set(EAX, size, v)
    if c.ea is not None and r.random() < 0.2:
        c.lock = True
    return c.build(body)


def g_cmpxchg8b(c):
    r = c.r
    c.fixed.update([EAX, EDX])
    c.seg_prefix()
    body = bytes([0x0F, 0xC7]) + c.modrm(1, 8, memp=1.0)
    if r.random() < 0.5:
        c.regs[EAX] = c.mread(c.ea, 4)
        c.regs[EDX] = c.mread(c.ea + 4, 4)
    elif r.random() < 0.3:
        c.regs[EAX] = c.mread(c.ea, 4)
    if r.random() < 0.2:
        c.lock = True
    return c.build(body)


def g_xadd(c):
    r = c.r
    size = size_pick(c)
    c.seg_prefix()
    body = bytes([0x0F, 0xC0 if size == 1 else 0xC1]) + c.modrm(c.reg(), size)
    if c.ea is not None and r.random() < 0.2:
        c.lock = True
    return c.build(body)


def g_bswap(c):
    return bytes([0x0F, 0xC8 + c.r.randrange(8)])


def g_lea(c):
    r = c.r
    c.p66 = r.random() < 0.25
    body = bytes([0x8D]) + c.modrm(c.reg(), 4, memp=1.0, a16p=0.3, free=True)
    c.mem_used = False
    return c.build(body)


STRING_OPS = {'movs': 0xA4, 'cmps': 0xA6, 'stos': 0xAA, 'lods': 0xAC, 'scas': 0xAE}


def g_string(c):
    r = c.r
    name = r.choice(list(STRING_OPS))
    size = size_pick(c)
    opc = STRING_OPS[name] + (0 if size == 1 else 1)
    c.mem_used = True
    a16 = r.random() < 0.2
    c.p67 = a16
    rep = r.random() < 0.75
    if rep:
        if name in ('cmps', 'scas'):
            c.rep = r.choice([0xF3, 0xF2])
        else:
            c.rep = 0xF3 if r.random() < 0.9 else 0xF2
    count = r.randrange(0, 9) if rep else 0
    if a16:
        c.set(ECX, 2, count)
    else:
        c.regs[ECX] = count if rep or r.random() < 0.5 else c.regs[ECX]
    down = bool(c.eflags & DF)
    span = 8 * size + size
    # source (DS:ESI, overridable) and destination (ES:EDI) areas in the data area
    half = c.data_size // 2
    def place(region_lo):
        if down:
            return c.data + region_lo + r.randrange(span, half - size + 1)
        return c.data + region_lo + r.randrange(0, half - span + 1)
    si = place(0)
    di = place(half) if r.random() < 0.8 else place(0)
    if a16:
        c.set(ESI, 2, si)
        c.set(EDI, 2, di)
    else:
        c.regs[ESI] = si
        c.regs[EDI] = di
    if name in ('cmps', 'scas') and r.random() < 0.6:
        # make runs of equal elements so that REPE/REPNE stop at interesting places
        n = r.randrange(0, 9)
        step = -size if down else size
        for k in range(n):
            if name == 'cmps':
                c.mwrite(di + k * step, size, c.mread(si + k * step, size))
            else:
                c.mwrite(di + k * step, size, c.get(EAX, size))
        if name == 'scas' and r.random() < 0.5:
            for k in range(n):
                if r.random() < 0.5:
                    c.mwrite(di + k * step, size, r.getrandbits(8 * size))
    if name in ('movs', 'cmps', 'lods'):
        c.seg_prefix(0.2)
    return c.build([opc])


def stack_esp(c):
    c.regs[ESP] = c.data + c.data_size // 2 + r4(c)
    c.fixed.add(ESP)
    c.mem_used = True


def r4(c):
    """An offset in the upper half of the data area, usually dword aligned."""
    return c.r.randrange(0, c.data_size // 2) & ~(0 if c.r.random() < 0.1 else 3)


def g_stack(c):
    r = c.r
    stack_esp(c)
    form = r.choice(['push_r', 'pop_r', 'push_rm', 'pop_rm', 'push_imm', 'push_imm8', 'pusha', 'popa',
                     'pushf', 'popf', 'push_esp_rel', 'pop_esp_rel'])
    c.p66 = r.random() < 0.25
    size = 2 if c.p66 else 4
    if form == 'push_r':
        return c.build([0x50 + r.randrange(8)])
    if form == 'pop_r':
        return c.build([0x58 + r.randrange(8)])
    if form == 'push_rm':
        c.seg_prefix()
        return c.build(bytes([0xFF]) + c.modrm(6, size))
    if form == 'pop_rm':
        c.seg_prefix()
        return c.build(bytes([0x8F]) + c.modrm(0, size))
    if form == 'push_imm':
        return c.build(bytes([0x68]) + le(rimm(r, size), size))
    if form == 'push_imm8':
        return c.build(bytes([0x6A, rimm(r, 1)]))
    if form == 'pusha':
        return c.build([0x60])
    if form == 'popa':
        return c.build([0x61])
    if form == 'pushf':
        c.eflags |= r.getrandbits(32) & (IOPL | NT | AC | ID | IF)
        return c.build([0x9C])
    if form == 'popf':
        v = r.getrandbits(32) & ~TF
        c.mwrite(c.regs[ESP], size, v)
        return c.build([0x9D])
    disp = r.randrange(-0x20, 0x20) & ~3
    if form == 'push_esp_rel':
        return c.build(bytes([0xFF, 0x74, 0x24, disp & 0xFF]))
    return c.build(bytes([0x8F, 0x44, 0x24, disp & 0xFF]))


def g_enter(c):
    r = c.r
    stack_esp(c)
    c.p66 = r.random() < 0.25
    c.regs[EBP] = c.data + 0x20 + r4(c)
    if r.random() < 0.35:
        return c.build([0xC9])
    level = r.choice([0, 0, 0, 1, 2, 3, 4]) + (32 * r.randrange(8) if r.random() < 0.1 else 0)
    # ESP - frame stays above 0: Unicorn 2.0.1 computes ENTER's final ESP in 16 bits (ESP 0x286C,
    # ENTER 0x7FF0,0 -> 0x0000A878 instead of 0xFFFFA878)
    frame = r.choice([0, 4, 8, 0x10, r.randrange(0x40), 0x1FF0 if r.random() < 0.05 else 0x12])
    return c.build(bytes([0xC8]) + le(frame, 2) + bytes([level & 0xFF]))


def g_convert(c):
    c.p66 = c.r.random() < 0.4
    return c.build([c.r.choice([0x98, 0x99])])


def g_flagops(c):
    r = c.r
    op = r.choice([0x9F, 0x9E, 0xF8, 0xF9, 0xF5, 0xFC, 0xFD])
    return c.build([op])


def g_branch(c):
    r = c.r
    stack_esp(c)
    form = r.choice(['jcc8', 'jcc32', 'loop', 'loop', 'jecxz', 'jmp8', 'jmp32', 'call', 'ret', 'reti',
                     'call_ind', 'jmp_ind'])
    rel8 = r.randrange(-0x80, 0x80)
    if -10 <= rel8 < 0:
        rel8 -= 10     # never back into the instruction itself
    rel32 = r.randrange(-0x600, 0x600)
    if -10 <= rel32 < 0:
        rel32 -= 10
    if form == 'jcc8':
        return c.build(bytes([0x70 + r.randrange(16), rel8 & 0xFF]))
    if form == 'jcc32':
        c.p66 = r.random() < 0.1
        if c.p66:
            return c.build(bytes([0x0F, 0x80 + r.randrange(16)]) + le(rel32, 2))
        return c.build(bytes([0x0F, 0x80 + r.randrange(16)]) + le(rel32, 4))
    if form in ('loop', 'jecxz'):
        c.p67 = r.random() < 0.25
        cx = r.choice([0, 1, 2, 3, 0x10000, 0xFFFFFFFF, 0x10001, rval(r)])
        c.regs[ECX] = cx
        op = 0xE3 if form == 'jecxz' else r.choice([0xE0, 0xE1, 0xE2])
        return c.build(bytes([op, rel8 & 0xFF]))
    if form == 'jmp8':
        return c.build(bytes([0xEB, rel8 & 0xFF]))
    if form == 'jmp32':
        c.p66 = r.random() < 0.1
        return c.build(bytes([0xE9]) + le(rel32, 2 if c.p66 else 4))
    if form == 'call':
        c.p66 = r.random() < 0.1
        return c.build(bytes([0xE8]) + le(rel32, 2 if c.p66 else 4))
    if form in ('ret', 'reti'):
        c.p66 = r.random() < 0.1
        target = CODE_PAGE + r.randrange(PAGE)
        if CODE <= target < CODE + 8:
            target += 8
        c.mwrite(c.regs[ESP], 2 if c.p66 else 4, target)
        if form == 'ret':
            return c.build([0xC3])
        return c.build(bytes([0xC2]) + le(r.choice([0, 4, 8, r.randrange(0x20)]), 2))
    target = CODE_PAGE + r.randrange(PAGE)
    if CODE <= target < CODE + 8:
        target += 8
    grp = 2 if form == 'call_ind' else 4
    c.p66 = r.random() < 0.1
    size = 2 if c.p66 else 4
    if r.random() < 0.5:
        g = c.reg(avoid=(ESP,))
        c.set(g, 4, target)
        return c.build(bytes([0xFF, 0xC0 | (grp << 3) | g]))
    body = bytes([0xFF]) + c.modrm(grp, size, memp=1.0)
    c.mwrite(c.ea, size, target)
    return c.build(body)


def g_xlat(c):
    r = c.r
    c.p67 = r.random() < 0.25
    c.seg_prefix(0.25)
    c.mem_used = True
    t = c.data + r.randrange(c.data_size)
    base = t - c.get(EAX, 1)
    if c.p67:
        c.set(EBX, 2, base)
    else:
        c.regs[EBX] = base & M32
    return c.build([0xD7])


def g_mov(c):
    r = c.r
    form = r.choice(['rm_r', 'r_rm', 'rm_imm', 'r_imm', 'moffs'])
    size = size_pick(c)
    w = 0 if size == 1 else 1
    c.seg_prefix()
    if form == 'rm_r':
        return c.build(bytes([0x88 + w]) + c.modrm(c.reg(), size))
    if form == 'r_rm':
        return c.build(bytes([0x8A + w]) + c.modrm(c.reg(), size))
    if form == 'rm_imm':
        return c.build(bytes([0xC6 + w]) + c.modrm(0, size) + le(rimm(r, size), size))
    if form == 'r_imm':
        return c.build(bytes([(0xB0 if size == 1 else 0xB8) + r.randrange(8)]) + le(rimm(r, size), size))
    c.mem_used = True
    ea = c.rand_ea(size)
    c.p67 = r.random() < 0.25
    return c.build(bytes([0xA0 + 2 * r.randrange(2) + w]) + le(ea, 2 if c.p67 else 4))


def straddle_ea(c, size, p=0.75):
    """An address in the data area, usually one whose `size` bytes cross the page boundary."""
    boundary = (c.data + c.data_size // 2) & ~(PAGE - 1)
    if size > 1 and c.r.random() < p:
        return boundary - c.r.randrange(1, size)
    return c.rand_ea(size)


def g_pagecross(c):
    """Memory operands, stack and string accesses that cross from one RAM page into the next."""
    r = c.r
    kind = r.choice(['alu', 'alu', 'mov', 'mov', 'moffs', 'rmw', 'xchg', 'cmpxchg8b', 'bts', 'push', 'pop',
                     'pushrm', 'poprm', 'call', 'string', 'string'])
    boundary = c.data + c.data_size // 2
    c.mem_used = True
    if kind in ('push', 'pop', 'pushrm', 'poprm', 'call'):
        c.fixed.add(ESP)
        c.p66 = r.random() < 0.25
        size = 2 if c.p66 else 4
        if kind in ('push', 'pushrm', 'call'):
            c.regs[ESP] = boundary + r.randrange(0, size)          # the push crosses down
        else:
            c.regs[ESP] = boundary - r.randrange(1, size)           # the pop crosses up
        if kind == 'push':
            return c.build([0x50 + r.randrange(8)])
        if kind == 'pop':
            return c.build([0x58 + r.randrange(8)])
        if kind == 'call':
            c.p66 = False
            return c.build(bytes([0xE8]) + le(r.randrange(0x10, 0x600) * r.choice([1, -1]), 4))
        ea = straddle_ea(c, size)
        return c.build(bytes([0xFF if kind == 'pushrm' else 0x8F]) + c.modrm(6 if kind == 'pushrm' else 0, size, memp=1.0, ea=ea))
    if kind == 'string':
        size = size_pick(c)
        name = r.choice(['movs', 'cmps', 'stos', 'lods', 'scas'])
        c.rep = r.choice([0xF3, 0xF2]) if r.random() < 0.8 else None
        count = r.randrange(0, 5)
        c.regs[ECX] = count
        down = bool(c.eflags & DF)
        def near():
            return boundary + r.randrange(0, 12) if down else boundary - r.randrange(1, 13)
        c.regs[ESI] = near()
        c.regs[EDI] = near()
        return c.build([STRING_OPS[name] + (0 if size == 1 else 1)])
    c.seg_prefix()
    if kind == 'cmpxchg8b':
        c.fixed.update([EAX, EDX])
        ea = straddle_ea(c, 8)
        body = bytes([0x0F, 0xC7]) + c.modrm(1, 8, memp=1.0, ea=ea)
        if r.random() < 0.5:
            c.regs[EAX] = c.mread(ea, 4)
            c.regs[EDX] = c.mread(ea + 4, 4)
        return c.build(body)
    if kind == 'moffs':
        size = size_pick(c, (2, 4))
        c.p67 = r.random() < 0.25
        ea = straddle_ea(c, size)
        return c.build(bytes([0xA0 + 2 * r.randrange(2) + 1]) + le(ea, 2 if c.p67 else 4))
    size = size_pick(c, (2, 4, 4))
    ea = straddle_ea(c, size)
    if kind == 'alu':
        op = r.randrange(8)
        body = bytes([op * 8 + r.choice([1, 3])]) + c.modrm(c.reg(), size, memp=1.0, ea=ea)
    elif kind == 'mov':
        body = bytes([r.choice([0x89, 0x8B])]) + c.modrm(c.reg(), size, memp=1.0, ea=ea)
    elif kind == 'rmw':
        grp = r.choice([('inc', 0xFF, 0), ('dec', 0xFF, 1), ('not', 0xF7, 2), ('neg', 0xF7, 3), ('shl1', 0xD1, 4), ('rol1', 0xD1, 0)])
        body = bytes([grp[1]]) + c.modrm(grp[2], size, memp=1.0, ea=ea)
        if grp[0] == 'shl1':
            c.mask = FULL & ~AF
    elif kind == 'xchg':
        body = bytes([0x0F, 0xC1]) if r.randrange(2) else bytes([0x87])
        body += c.modrm(c.reg(), size, memp=1.0, ea=ea)
    else:
        body = bytes([0x0F, 0xBA]) + c.modrm(r.choice([4, 5, 6, 7]), size, memp=1.0, ea=ea) + bytes([r.randrange(size * 8)])
        c.mask = FULL & ~(OF | SF | AF | PF)
    return c.build(body)


def g_codecross(c):
    """An instruction that starts at the end of the code page and ends in the next page."""
    gens = [CLASSES[n][0] for n in ('alu-arith', 'mov', 'incdec', 'movx', 'cmpxchg', 'xadd', 'shift', 'lea', 'setcc', 'cmov')]
    while True:
        c.p66 = c.p67 = c.lock = False
        c.seg = c.rep = None
        c.mask = None
        code = c.r.choice(gens)(c)
        if len(code) >= 2:
            break
    c.code = CODE_PAGE + PAGE - c.r.randrange(1, len(code))
    return code


CC_READS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF]


def seq_op(c, last):
    """One register-only instruction for a sequence: (bytes, flags read, flags written with a
    defined value, flags left undefined)."""
    r = c.r
    k = r.choice(['alu', 'alu', 'alu', 'incdec', 'negnot', 'setcc', 'cmov', 'rot', 'shift', 'shift0',
                  'cf', 'lahf', 'sahf', 'imul', 'bt', 'bcd', 'mov', 'lea', 'xadd', 'cmpxchg'] + (['jcc'] * 3 if last else []))
    size = r.choice([1, 2, 4])
    pre = b'\x66' if size == 2 else b''
    w = 0 if size == 1 else 1
    rr = lambda: 0xC0 | (r.randrange(8) << 3) | r.randrange(8)
    if k == 'alu':
        op = r.randrange(8)
        if r.randrange(2):
            b = pre + bytes([op * 8 + r.choice([0, 2]) + w, rr()])
        else:
            b = pre + bytes([0x80 + w, 0xC0 | (op << 3) | r.randrange(8)]) + le(rimm(r, size), size)
        reads = CF if op in (2, 3) else 0
        if op in (1, 4, 6):
            return b, reads, ARITH & ~AF, AF
        return b, reads, ARITH, 0
    if k == 'incdec':
        return pre + bytes([0xFE + w, 0xC0 | (r.randrange(2) << 3) | r.randrange(8)]), 0, ARITH & ~CF, 0
    if k == 'negnot':
        op = r.choice([2, 3])
        return pre + bytes([0xF6 + w, 0xC0 | (op << 3) | r.randrange(8)]), 0, ARITH if op == 3 else 0, 0
    if k == 'setcc':
        cc = r.randrange(16)
        return bytes([0x0F, 0x90 + cc, 0xC0 | r.randrange(8)]), CC_READS[cc], 0, 0
    if k == 'cmov':
        cc = r.randrange(16)
        return (b'\x66' if r.randrange(2) else b'') + bytes([0x0F, 0x40 + cc, rr()]), CC_READS[cc], 0, 0
    if k == 'jcc':
        cc = r.randrange(16)
        return bytes([0x70 + cc, r.choice([0x10, 0x40, 0x90, 0xE0])]), CC_READS[cc], 0, 0
    if k == 'rot':
        op = r.randrange(4)
        reads = CF if op in (2, 3) else 0
        if r.randrange(2):
            return pre + bytes([0xD0 + w, 0xC0 | (op << 3) | r.randrange(8)]), reads, CF | OF, 0
        n = r.randrange(2, 8)
        return pre + bytes([0xC0 + w, 0xC0 | (op << 3) | r.randrange(8), n]), reads, CF, OF
    if k == 'shift':
        op = r.choice([4, 5, 7])
        if r.randrange(2):
            return pre + bytes([0xD0 + w, 0xC0 | (op << 3) | r.randrange(8)]), 0, ARITH & ~AF, AF
        n = r.randrange(2, 8)
        return pre + bytes([0xC0 + w, 0xC0 | (op << 3) | r.randrange(8), n]), 0, CF | SF | ZF | PF, AF | OF
    if k == 'shift0':
        op = r.choice([0, 1, 2, 3, 4, 5, 7])
        return pre + bytes([0xC0 + w, 0xC0 | (op << 3) | r.randrange(8), r.choice([0, 32, 64])]), 0, 0, 0
    if k == 'cf':
        op = r.choice([0xF8, 0xF9, 0xF5])
        return bytes([op]), CF if op == 0xF5 else 0, CF, 0
    if k == 'lahf':
        return b'\x9f', SF | ZF | AF | PF | CF, 0, 0
    if k == 'sahf':
        return b'\x9e', 0, SF | ZF | AF | PF | CF, 0
    if k == 'imul':
        p = b'\x66' if r.randrange(2) else b''
        return p + bytes([0x0F, 0xAF, rr()]), 0, CF | OF, SF | ZF | AF | PF
    if k == 'bt':
        p = b'\x66' if r.randrange(2) else b''
        return p + bytes([0x0F, 0xBA, 0xC0 | (r.randrange(4, 8) << 3) | r.randrange(8), r.randrange(32)]), 0, CF, OF | SF | AF | PF
    if k == 'bcd':
        op = r.choice([0x27, 0x2F, 0x37, 0x3F])
        if op in (0x27, 0x2F):
            return bytes([op]), CF | AF, CF | AF | SF | ZF | PF, OF
        return bytes([op]), AF, CF | AF, OF | SF | ZF | PF
    if k == 'mov':
        return pre + bytes([0x88 + w, rr()]), 0, 0, 0
    if k == 'lea':
        return bytes([0x8D, 0x04 | (r.randrange(8) << 3), (r.randrange(4) << 6) | (r.choice([0, 1, 2, 3, 5, 6, 7]) << 3) | r.choice([0, 1, 2, 3, 6, 7])]), 0, 0, 0
    if k == 'xadd':
        return pre + bytes([0x0F, 0xC0 + w, rr()]), 0, ARITH, 0
    return pre + bytes([0x0F, 0xB0 + w, rr()]), 0, ARITH, 0


def g_sequence(c):
    """2-5 register instructions: lazy flags carried from one instruction to the next (a flag
    left undefined by one instruction is never read by a later one, and is masked at the end)."""
    r = c.r
    n = r.randrange(2, 6)
    undefined = 0
    out = b''
    for i in range(n):
        while True:
            b, reads, writes, undef = seq_op(c, i == n - 1)
            if reads & undefined == 0:
                break
        undefined = (undefined & ~writes) | undef
        out += b
    c.mask = FULL & ~undefined
    return out


SEGS = {'segbase': {'fs': (0x18, 0x00001C37), 'gs': (0x20, 0xFFFFE7F1)}}


def g_segbase(c):
    """FS:/GS: overrides with non-zero segment bases (GS wraps around 4 GiB): linear = base + offset,
    with 16- and 32-bit addressing; LEA ignores the segment."""
    r = c.r
    seg = r.choice(['fs', 'gs'])
    c.seg = 0x64 if seg == 'fs' else 0x65
    base = SEGS['segbase'][seg][1]
    kind = r.choice(['alu', 'alu', 'mov', 'mov', 'moffs', 'rmw', 'pushpop', 'string', 'xlat', 'bt', 'lea', 'cmpxchg8b'])
    c.mem_used = True
    off = lambda lin: (lin - base) & M32
    if kind == 'string':
        size = size_pick(c)
        name = r.choice(['movs', 'lods', 'cmps'])
        c.rep = 0xF3 if r.random() < 0.6 else None
        c.regs[ECX] = r.randrange(0, 5)
        c.p67 = r.random() < 0.3
        down = bool(c.eflags & DF)
        src = c.data + (r.randrange(20, 28) if down else r.randrange(0, 8))
        dst = c.data + (r.randrange(52, 60) if down else r.randrange(32, 40))
        if c.p67:
            c.set(ESI, 2, off(src))
            c.set(EDI, 2, dst)
        else:
            c.regs[ESI] = off(src)
            c.regs[EDI] = dst
        return c.build([STRING_OPS[name] + (0 if size == 1 else 1)])
    if kind == 'xlat':
        c.p67 = r.random() < 0.3
        t = c.data + r.randrange(c.data_size)
        b = (off(t) - c.get(EAX, 1)) & M32
        if c.p67:
            c.set(EBX, 2, b)
        else:
            c.regs[EBX] = b
        return c.build([0xD7])
    if kind == 'moffs':
        size = size_pick(c)
        c.p67 = r.random() < 0.3
        ea = off(c.rand_ea(size))
        return c.build(bytes([0xA0 + 2 * r.randrange(2) + (0 if size == 1 else 1)]) + le(ea, 2 if c.p67 else 4))
    if kind == 'pushpop':
        c.fixed.add(ESP)
        c.regs[ESP] = c.data + 0x30 + 4 * r.randrange(4)
        c.p66 = r.random() < 0.25
        size = 2 if c.p66 else 4
        ea = off(c.rand_ea(size, 0, 0x20))
        return c.build(bytes([0xFF, ]) + c.modrm(6, size, memp=1.0, ea=ea) if r.randrange(2)
                       else bytes([0x8F]) + c.modrm(0, size, memp=1.0, ea=ea))
    if kind == 'cmpxchg8b':
        ea = off(c.rand_ea(8, 0, 0x20))
        return c.build(bytes([0x0F, 0xC7]) + c.modrm(1, 8, memp=1.0, ea=ea))
    if kind == 'lea':
        c.p66 = r.random() < 0.3
        c.mem_used = False
        return c.build(bytes([0x8D]) + c.modrm(c.reg(), 4, memp=1.0, a16p=0.3, free=True))
    size = size_pick(c)
    ea = off(c.rand_ea(size, 0, 0x20))
    w = 0 if size == 1 else 1
    if kind == 'alu':
        return c.build(bytes([r.randrange(8) * 8 + r.choice([0, 2]) + w]) + c.modrm(c.reg(), size, memp=1.0, ea=ea))
    if kind == 'mov':
        return c.build(bytes([r.choice([0x88, 0x8A]) + w]) + c.modrm(c.reg(), size, memp=1.0, ea=ea)
                       if r.randrange(3) else bytes([0xC6 + w]) + c.modrm(0, size, memp=1.0, ea=ea) + le(rimm(r, size), size))
    if kind == 'rmw':
        return c.build(bytes([0xFE + w]) + c.modrm(r.randrange(2), size, memp=1.0, ea=ea))
    size = size_pick(c, (2, 4))
    ea = off(c.rand_ea(size, 0, 0x20))
    c.mask = FULL & ~(OF | SF | AF | PF)
    return c.build(bytes([0x0F, 0xBA]) + c.modrm(r.randrange(4, 8), size, memp=1.0, ea=ea) + bytes([r.randrange(64)]))


# LOCK-able opcodes with a ModRM destination (one-byte and 0F xx), for LOCK + register #UD cases
LOCKABLE = [bytes([op * 8 + k]) for op in range(7) for k in (0, 1)] + [b'\x80', b'\x81', b'\x83', b'\xf6', b'\xf7',
            b'\xfe', b'\xff', b'\x86', b'\x87', b'\x0f\xb0', b'\x0f\xb1', b'\x0f\xc0', b'\x0f\xc1']
# (not LOCK BTS/BTR/BTC: Unicorn 2.0.1 aborts with "tcg fatal error" on them; it also executes
# LOCK XCHG/XADD and LOCK XOR r,r without #UD: those cases are dropped)


def g_exceptions(c):
    """#UD (UD2, LOCK with a register destination, LEA/CMPXCHG8B/BOUND with a register operand),
    #BR (BOUND), INT3, INT n, INTO: the vector, the frame and the untouched registers."""
    r = c.r
    c.fixed.add(ESP)
    c.regs[ESP] = c.data + 0x40 + 4 * r.randrange(8)
    c.mem_used = True
    kind = r.choice(['ud2', 'lockreg', 'lockreg', 'lockreg', 'leareg', 'cx8reg', 'boundreg', 'bound', 'bound',
                     'int3', 'intn', 'intn', 'into'])
    if kind == 'ud2':
        c.expect_ud = True
        return bytes([0x0F, 0x0B])
    if kind == 'lockreg':
        c.expect_ud = True
        opc = r.choice(LOCKABLE)
        grp = r.randrange(8)
        if opc in (b'\xf6', b'\xf7'):
            grp = r.choice([2, 3])
        elif opc in (b'\xfe', b'\xff'):
            grp = r.randrange(2)
        c.p66 = r.random() < 0.2
        body = opc + bytes([0xC0 | (grp << 3) | r.randrange(8)])
        if opc in (b'\x80', b'\x83'):
            body += bytes([r.getrandbits(8)])
        elif opc == b'\x81':
            body += le(r.getrandbits(32), 2 if c.p66 else 4)
        elif opc == b'\xf6' and grp == 0 or opc == b'\xf7' and grp == 0:
            body += bytes([r.getrandbits(8)])
        c.lock = True
        return c.build(body)
    if kind == 'leareg':
        c.expect_ud = True
        return bytes([0x8D, 0xC0 | r.randrange(64)])
    if kind == 'cx8reg':
        c.expect_ud = True
        return bytes([0x0F, 0xC7, 0xC8 | r.randrange(8)])
    if kind == 'boundreg':
        c.expect_ud = True
        return bytes([0x62, 0xC0 | r.randrange(64)])
    if kind == 'bound':
        c.exc_ok = (5,)
        size = size_pick(c, (2, 4))
        g = c.reg(avoid=(ESP,))
        c.fixed.add(g)
        body = bytes([0x62]) + c.modrm(g, 2 * size, memp=1.0, ea=c.rand_ea(2 * size, 0, 0x30))
        lo = sx(rval(r), size * 8)
        hi = sx(rval(r), size * 8)
        if r.random() < 0.6 and lo > hi:
            lo, hi = hi, lo
        c.mwrite(c.ea, size, lo)
        c.mwrite(c.ea + size, size, hi)
        v = r.choice([lo, hi, lo - 1, hi + 1, r.randrange(min(lo, hi), max(lo, hi) + 1), sx(rval(r), size * 8)])
        c.set(g, size, v)
        return c.build(body)
    if kind == 'int3':
        c.exc_ok = (3,)
        return bytes([0xCC])
    if kind == 'intn':
        n = r.choice([v for v in range(32) if v != 6])   # Unicorn reports INT 6 as an invalid opcode
        c.exc_ok = (n,)
        return bytes([0xCD, n])
    c.exc_ok = (4,)
    return bytes([0xCE])


# One-byte instructions with no memory access: any sequence of them is valid code.
ONE_BYTE = list(range(0x40, 0x50)) + list(range(0x90, 0x98)) + [0x98, 0x99, 0xF5, 0xF8, 0xF9]


def g_smc(c):
    """Self-modifying code: an instruction writes into the instructions after it (in the same
    page, often the same decoded block); the modified code must run."""
    r = c.r
    c.mem_used = False
    kind = r.choice(['imm', 'opcode', 'later', 'stos', 'movreg'])
    ob = lambda n: bytes(r.choice(ONE_BYTE) for _ in range(n))
    if kind in ('imm', 'opcode', 'later'):
        size = r.choice([1, 2, 4]) if kind == 'imm' else 1
        first_len = {1: 7, 2: 9, 4: 10}[size]
        gap = ob(r.randrange(1, 6)) if kind == 'later' else b''
        target = c.code + first_len + len(gap)
        if kind == 'imm':
            tail = bytes([0xB8 + r.randrange(8)]) + le(rval(r), 4)         # mov r32, imm32
            addr = target + 1 + r.randrange(0, 5 - size)
        else:
            tail = ob(r.randrange(1, 5))
            addr = target + r.randrange(len(tail))
        value = rimm(r, size) if kind == 'imm' else r.choice(ONE_BYTE)
        if size == 1:
            first = bytes([0xC6, 0x05]) + le(addr, 4) + bytes([value])
        elif size == 2:
            first = bytes([0x66, 0xC7, 0x05]) + le(addr, 4) + le(value, 2)
        else:
            first = bytes([0xC7, 0x05]) + le(addr, 4) + le(value, 4)
        return first + gap + tail
    if kind == 'stos':
        # REP STOSB over the next instructions (one-byte instructions, so any prefix is valid)
        c.eflags &= ~DF
        tail = ob(r.randrange(1, 9))
        c.regs[EDI] = c.code + 3
        c.regs[ECX] = r.randrange(0, len(tail) + 1)
        c.set(EAX, 1, r.choice(ONE_BYTE))
        return bytes([0xF3, 0xAA]) + b'\x90' + tail
    # MOV [EBX], EAX with EBX at the next instruction, EAX four one-byte instructions
    c.regs[EBX] = c.code + 2 + r.randrange(0, 3)
    c.regs[EAX] = int.from_bytes(ob(4), 'little')
    return bytes([0x89, 0x03]) + ob(8)


# name -> (generator, count, flags mask, data-area size, description)
CLASSES = {
    'alu-arith': (g_alu([0, 2, 3, 5, 7]), 2500, FULL, 16, 'ADD ADC SBB SUB CMP: r/m,r r,r/m acc,imm r/m,imm r/m,imm8; 8/16/32'),
    'alu-logic': (g_alu([1, 4, 6]), 1500, FULL & ~AF, 16, 'OR AND XOR (AF undefined)'),
    'incdec': (g_incdec, 1000, FULL, 16, 'INC DEC (40+r 48+r FE FF)'),
    'negnot': (g_negnot, 800, FULL, 16, 'NEG NOT'),
    'test': (g_test, 800, FULL & ~AF, 16, 'TEST (AF undefined)'),
    'shift': (g_shift, 3000, FULL & ~(AF | OF | CF), 16,
              'ROL ROR RCL RCR SHL SHR SAR by 1, CL, imm8; per-case masks: OF only for count 1, AF for SHx, CF for SHL/SHR count >= size'),
    'shld': (g_shld, 1200, FULL & ~(AF | OF), 16, 'SHLD SHRD imm8/CL; per-case masks; 16-bit counts <= 16'),
    'mul': (g_mul, 1500, FULL & ~(SF | ZF | AF | PF), 16, 'MUL IMUL (1, 2, 3 operands): SF ZF AF PF undefined'),
    'div': (g_div, 1200, FULL & ~ARITH, 16, 'DIV IDIV (all status flags undefined), some #DE'),
    'bcd-daa': (g_daa, 600, FULL & ~OF, 0, 'DAA DAS (OF undefined)'),
    'bcd-aaa': (g_aaa, 600, FULL & ~(OF | SF | ZF | PF), 0, 'AAA AAS (OF SF ZF PF undefined)'),
    'bcd-aam': (g_aam, 600, FULL & ~(OF | AF | CF), 0, 'AAM AAD with any immediate (OF AF CF undefined), AAM 0 #DE'),
    'bt': (g_bt, 1500, FULL & ~(OF | SF | AF | PF), 128, 'BT BTS BTR BTC reg/imm offsets, register and memory (large offsets)'),
    'bsf': (g_bsf, 700, FULL & ~(CF | OF | SF | AF | PF), 16, 'BSF BSR, nonzero source'),
    'setcc': (g_setcc, 600, FULL, 16, 'SETcc'),
    'cmov': (g_cmov, 800, FULL, 16, 'CMOVcc'),
    'movx': (g_movx, 600, FULL, 16, 'MOVZX MOVSX'),
    'xchg': (g_xchg, 600, FULL, 16, 'XCHG'),
    'cmpxchg': (g_cmpxchg, 800, FULL, 16, 'CMPXCHG'),
    'cmpxchg8b': (g_cmpxchg8b, 400, FULL, 16, 'CMPXCHG8B'),
    'xadd': (g_xadd, 600, FULL, 16, 'XADD'),
    'bswap': (g_bswap, 200, FULL, 0, 'BSWAP r32'),
    'lea': (g_lea, 1000, FULL, 0, 'LEA, every addressing form, 16/32-bit address and operand size'),
    'string': (g_string, 2000, FULL, 96, 'MOVS CMPS SCAS LODS STOS, REP/REPE/REPNE, DF both ways, 0x66/0x67, overrides'),
    'stack': (g_stack, 1200, FULL, 128, 'PUSH POP (r, r/m, imm) PUSHA POPA PUSHF POPF, 16/32'),
    'enter': (g_enter, 600, FULL, 128, 'ENTER (levels 0-4) LEAVE, 16/32'),
    'convert': (g_convert, 200, FULL, 0, 'CBW CWDE CWD CDQ'),
    'flagops': (g_flagops, 300, FULL, 0, 'LAHF SAHF CLC STC CMC CLD STD'),
    'branch': (g_branch, 1500, FULL, 64, 'Jcc LOOP/LOOPE/LOOPNE JECXZ JMP CALL RET (relative and near indirect)'),
    'xlat': (g_xlat, 300, FULL, 64, 'XLAT'),
    'mov': (g_mov, 1000, FULL, 16, 'MOV r/m,r r,r/m r/m,imm r,imm moffs'),
    'pagecross': (g_pagecross, 1200, FULL, 32,
                  'memory, stack and string accesses crossing a page boundary (data area around 0x3000)'),
    'codecross': (g_codecross, 800, FULL, 16, 'instructions that straddle the end of the code page'),
    'sequence': (g_sequence, 2000, FULL, 0,
                 '2-5 register instructions: lazy flags carried across instructions; per-case masks'),
    'segbase': (g_segbase, 1000, FULL, 64, 'FS:/GS: overrides with non-zero bases (GS wrapping), 16/32-bit addressing'),
    'smc': (g_smc, 500, FULL, 0, 'self-modifying code: writes into the following instructions of the same block'),
    'exceptions': (g_exceptions, 600, FULL, 128, '#UD (UD2, LOCK reg, LEA/CMPXCHG8B/BOUND reg), BOUND #BR, INT3, INT n, INTO'),
}


# Classes whose data area only holds what the generator puts there (return addresses, pointers).
ZERO_DATA = {'branch'}
# Data areas elsewhere than DATA.
DATA_ADDR = {'pagecross': DATA_PAGE + PAGE - 16}

# ------------------------------------------------------------------------------------------------
# Unicorn


class Runner:
    """Unicorn with RAM at [MEM_BASE, MEM_END): the HLT-filled code page, then the data pages."""

    def __init__(self):
        self.uc = None
        self.vector = None
        self.segs = None

    def _fresh(self):
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.mem_map(MEM_BASE, MEM_END - MEM_BASE)
        uc.mem_map(GDT_ADDR, PAGE)
        uc.hook_add(UC_HOOK_INTR, self._intr)
        self.uc = uc
        self.set_segs(self.segs)

    def set_segs(self, segs):
        """FS and GS from a GDT (outside the compared RAM): {'fs': (selector, base), ...} or None
        for the flat null selectors."""
        self.segs = segs
        uc = self.uc
        if uc is None:
            return
        if not segs:
            uc.reg_write(X.UC_X86_REG_FS, 0)
            uc.reg_write(X.UC_X86_REG_GS, 0)
            return
        gdt = bytearray(8 * 8)
        for sel, base in segs.values():
            gdt[sel:sel + 8] = gdt_descriptor(base, 0xFFFFF, 0x93, 0xC)
        uc.mem_write(GDT_ADDR, bytes(gdt))
        uc.reg_write(X.UC_X86_REG_GDTR, (0, GDT_ADDR, len(gdt) - 1, 0))
        uc.reg_write(X.UC_X86_REG_FS, segs['fs'][0])
        uc.reg_write(X.UC_X86_REG_GS, segs['gs'][0])

    def _intr(self, uc, intno, _user):
        self.vector = intno
        uc.emu_stop()

    def run(self, code, code_addr, regs, eflags, data, data_addr):
        """('ok', regs, eflags, eip, changes) | ('exc', vector, regs, eflags, eip) | ('err', message)."""
        if self.uc is None:
            self._fresh()
        uc = self.uc
        before = initial_image(code, code_addr, data, data_addr)
        uc.mem_write(MEM_BASE, bytes(before))
        for reg, v in zip(UC_REGS, regs):
            uc.reg_write(reg, v)
        uc.reg_write(X.UC_X86_REG_EFLAGS, eflags)
        uc.reg_write(X.UC_X86_REG_EIP, code_addr)
        self.vector = None
        # Unicorn 2.0.1 keeps stale translations across mem_write (a new, longer instruction over
        # the old HLT then stops early, and worse): drop them before every run.
        uc.ctl_remove_cache(MEM_BASE, MEM_END)
        try:
            # No `until`: the HLT executes and stops the emulation with EIP after it, as a
            # hardware-assisted vCPU reports a HLT exit; branches land on the HLT-filled page.
            uc.emu_start(code_addr, 0xFFFFFFFF, count=100000)
        except UcError as e:
            self.uc = None
            return ('err', str(e), e.errno, [uc.reg_read(g) & M32 for g in UC_REGS],
                    uc.reg_read(X.UC_X86_REG_EFLAGS) & M32, uc.reg_read(X.UC_X86_REG_EIP) & M32)
        out_regs = [uc.reg_read(g) & M32 for g in UC_REGS]
        out_flags = uc.reg_read(X.UC_X86_REG_EFLAGS) & M32
        eip = uc.reg_read(X.UC_X86_REG_EIP) & M32
        if self.vector is not None:
            self.uc = None
            return ('exc', self.vector, out_regs, out_flags, eip)
        if not (MEM_BASE < eip <= MEM_END) or uc.mem_read(eip - 1, 1)[0] != HLT:
            self.uc = None
            return ('err', 'did not stop at a HLT (eip %#x)' % eip)
        after = uc.mem_read(MEM_BASE, MEM_END - MEM_BASE)
        changes = [[MEM_BASE + k, after[k]] for k in range(len(after)) if after[k] != before[k]]
        return ('ok', out_regs, out_flags, eip, changes)


def gdt_descriptor(base, limit, access, flags):
    return struct.pack('<HHBBBB', limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                       ((limit >> 16) & 0xF) | (flags << 4), base >> 24)


def initial_image(code, code_addr, data, data_addr):
    """Memory at MEM_BASE before a case: code page all HLT, data pages zero, then the data area
    and the instruction bytes + HLT (which may run from the code page into the first data page)."""
    img = bytearray([HLT]) * PAGE + bytearray(MEM_END - DATA_PAGE)
    img[data_addr - MEM_BASE:data_addr - MEM_BASE + len(data)] = data
    img[code_addr - MEM_BASE:code_addr - MEM_BASE + len(code) + 1] = code + bytes([HLT])
    return img


# ------------------------------------------------------------------------------------------------
# Disassembly (objdump) for readable failure reports


def disassemble(codes, addrs):
    """Intel-syntax text of each case's instructions ('; ' between them), branch targets shown
    as the addresses they reach when the case's code sits at its address."""
    blob = bytearray()
    offs = []
    for b in codes:
        offs.append(len(blob))
        blob += b + bytes([HLT])
    with tempfile.NamedTemporaryFile(suffix='.bin', delete=False) as f:
        f.write(blob)
        name = f.name
    try:
        out = subprocess.run(['objdump', '-D', '-b', 'binary', '-m', 'i386', '-M', 'intel', '--insn-width=16', name],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return [''] * len(codes)
    finally:
        os.unlink(name)
    at = {}
    for line in out.splitlines():
        m = re.match(r'^\s*([0-9a-f]+):\t(?:[0-9a-f]{2} )+\s*\t(.*)$', line)
        if m:
            at[int(m.group(1), 16)] = re.sub(r'\s+', ' ', m.group(2).strip())
    starts = sorted(at)
    res = []
    for code, o, addr in zip(codes, offs, addrs):
        end = o + len(code)
        if at.get(end) != 'hlt':
            res.append('?')   # objdump decoded a different length
            continue
        parts = []
        for p in starts[bisect.bisect_left(starts, o):bisect.bisect_left(starts, end)]:
            t = at[p]
            m = re.match(r'^((?:data16 |addr16 |bnd |)?(?:j\w+|call\w*|loop\w*))\s+(0x[0-9a-f]+)$', t)
            if m:   # objdump prints blob offsets as targets
                t = '%s 0x%x' % (m.group(1), (int(m.group(2), 16) - o + addr) & M32)
            parts.append(t)
        res.append('; '.join(parts))
    return res


# ------------------------------------------------------------------------------------------------


def gen_class(name, runner):
    gen, count, mask, data_size, desc = CLASSES[name]
    data_addr = DATA_ADDR.get(name, DATA)
    r = random.Random('%s/%s' % (SEED, name))
    cases = []
    dropped = {}
    attempts = 0
    while len(cases) < count:
        attempts += 1
        if attempts > count * 5:
            raise RuntimeError('%s: too many dropped cases: %r' % (name, dropped))
        c = Case(r, data_size, mem_zero=name in ZERO_DATA, data=data_addr)
        code = gen(c)
        if not c.mem_used:
            # the instruction has no memory operand: the data area stays zero (stored as '')
            c.mem = bytearray(data_size)
        regs0 = list(c.regs)
        res = runner.run(code, c.code, regs0, c.eflags, bytes(c.mem), c.data)
        case = {'bytes': code.hex(), 'regs': regs0 + [c.eflags],
                'mem': bytes(c.mem).hex() if c.mem_used else ''}
        if c.code != CODE:
            case['code'] = c.code
        if c.expect_ud:
            # the SDM says #UD; Unicorn reports it as UC_ERR_INSN_INVALID (it misses some, e.g.
            # LOCK MOV / LOCK BT, which are dropped)
            if res[0] != 'err' or res[2] != UC_ERR_INSN_INVALID:
                dropped['Unicorn did not raise #UD'] = dropped.get('Unicorn did not raise #UD', 0) + 1
                continue
            res = ('exc', 6) + res[3:]
            c.exc_ok = (6,)
        if res[0] == 'err':
            dropped[res[1]] = dropped.get(res[1], 0) + 1
            if os.environ.get('GEN_DEBUG'):
                print('  dropped', name, code.hex(), res[1], file=sys.stderr)
            continue
        if res[0] == 'exc':
            if res[1] not in c.exc_ok:
                key = 'exception %d' % res[1]
                dropped[key] = dropped.get(key, 0) + 1
                continue
            _, vec, regs, fl, eip = res
            # faults report the instruction's address, traps (INT n, INT3, INTO) the next one
            if regs != regs0 or eip not in (c.code, c.code + len(code)):
                raise RuntimeError('%s: fault state differs from the initial state: %s' % (name, code.hex()))
            case['expected'] = {'exception': vec, 'regs': regs, 'eflags': fl, 'eip': eip, 'memChanges': []}
        else:
            _, regs, fl, eip, changes = res
            case['expected'] = {'regs': regs, 'eflags': fl, 'eip': eip, 'memChanges': changes}
        if c.mask is not None and c.mask != mask:
            case['flagsMask'] = c.mask
        cases.append(case)
    asm = disassemble([bytes.fromhex(k['bytes']) for k in cases], [k.get('code', CODE) for k in cases])
    for k, a in zip(cases, asm):
        k['asm'] = a
    # the class mask is the intersection of the per-case masks
    for k in cases:
        mask &= k.get('flagsMask', mask)
    for k in cases:
        if k.get('flagsMask') == mask:
            del k['flagsMask']
    fixture = {
        'class': name,
        'description': desc,
        'generator': 'tools/gen-diff-fixtures.py (Unicorn 2, UC_MODE_32, seed %s/%s)' % (SEED, name),
        'flagsMask': mask,
        # RAM is [memBase, memEnd); [memBase, codeFillEnd) starts as HLT bytes, the rest as zero;
        # then `mem` goes to `data` and the instruction to `code` (or the case's own `code`).
        'layout': {'memBase': MEM_BASE, 'memEnd': MEM_END, 'codeFillEnd': DATA_PAGE, 'codeFill': HLT,
                   'code': CODE, 'data': data_addr},
        'regOrder': REG_ORDER + ['eflags'],
        # FS/GS other than flat: selector (a GDT entry) and base
        **({'segs': {k: {'selector': v[0], 'base': v[1]} for k, v in SEGS[name].items()}} if name in SEGS else {}),
        'cases': cases,
    }
    return fixture, dropped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('classes', nargs='*', help='classes to generate (default: all)')
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'cpu', 'fixtures'))
    ap.add_argument('--list', action='store_true')
    a = ap.parse_args()
    if a.list:
        for n, v in CLASSES.items():
            print('%-12s %5d  %s' % (n, v[1], v[4]))
        return
    names = a.classes or list(CLASSES)
    for n in names:
        if n not in CLASSES:
            sys.exit('unknown class %s (try --list)' % n)
    os.makedirs(a.out, exist_ok=True)
    runner = Runner()
    total = 0
    for n in names:
        runner.set_segs(SEGS.get(n))
        fixture, dropped = gen_class(n, runner)
        text = json.dumps(fixture, separators=(',', ':'))
        path = os.path.join(a.out, 'diff-%s.json.gz' % n)
        with open(path, 'wb') as f:
            with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0, compresslevel=9) as z:
                z.write(text.encode())
        nexc = sum(1 for k in fixture['cases'] if 'exception' in k['expected'])
        total += len(fixture['cases'])
        print('%-12s %5d cases (%d exceptions) %7d bytes  dropped %s' % (
            n, len(fixture['cases']), nexc, os.path.getsize(path), dropped or '-'))
    print('total %d cases' % total)


if __name__ == '__main__':
    main()
