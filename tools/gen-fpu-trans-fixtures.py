#!/usr/bin/env python3
"""Correctly rounded reference results for the x87 transcendental instructions, from mpmath at
400 bits, for test/cpu/fpu-trans.test.ts:

    python3 tools/gen-fpu-trans-fixtures.py | gzip -9 > test/cpu/fixtures/fpu-trans-mpmath.json.gz

Same record layout as tools/gen-fpu-fixtures.c (in: cw, a, b as 22 bytes; out: ST0, status word,
ST1 as 32 bytes, the status word left 0 since only values are compared). The guest runs
    fninit ; fldcw [in] ; fld tword [in+12] (b) ; fld tword [in+2] (a) ; OP ; fnstsw ; fstp ; fstp
Operands avoid results that would be denormal or overflow, and arguments the instruction leaves
alone (|x| >= 2^63 for the trigonometric ones).
"""
import gzip  # noqa: F401  (the caller compresses; kept for symmetry with the reader)
import json
import random
import struct

import mpmath

mpmath.mp.prec = 400
random.seed(12345)


def to_ext(x):
    """Exact 80-bit encoding of an mpf that is representable (used for inputs)."""
    if x == 0:
        return 0, 0
    s = 0x8000 if x < 0 else 0
    m, e = mpmath.frexp(abs(x))  # abs(x) = m * 2^e, 0.5 <= m < 1
    sig = int(m * mpmath.mpf(2) ** 64)
    assert sig * mpmath.mpf(2) ** (e - 64) == abs(x), "input not representable"
    return s | (e - 1 + 16383), sig


def round_ext(x, rc):
    """x (nonzero, finite) correctly rounded to extended precision by rounding control rc."""
    s = x < 0
    m, e = mpmath.frexp(abs(x))
    scaled = m * mpmath.mpf(2) ** 64
    fl = int(mpmath.floor(scaled))
    frac = scaled - fl
    up = False
    if frac != 0:
        if rc == 0:
            up = frac > 0.5 or (frac == 0.5 and fl & 1)
        elif rc == 1:
            up = s
        elif rc == 2:
            up = not s
    if up:
        fl += 1
    if fl == 1 << 64:
        fl = 1 << 63
        e += 1
    return (0x8000 if s else 0) | (e - 1 + 16383), fl


def val(se, sig):
    e = se & 0x7FFF
    v = mpmath.mpf(sig) * mpmath.mpf(2) ** ((e if e else 1) - 16446)
    return -v if se & 0x8000 else v


def rand_ext(lo_exp, hi_exp, sign=None):
    e = random.randint(lo_exp, hi_exp)
    sig = random.getrandbits(64) | (1 << 63)
    if random.random() < 0.2:
        sig &= ~((1 << random.randint(0, 60)) - 1)
    s = random.choice([0, 0x8000]) if sign is None else sign
    return s | (e + 16383), sig


def pack80(se, sig):
    return struct.pack("<QH", sig, se)


INDEF = (0xFFFF, 0xC000000000000000)
ONE = (0x3FFF, 1 << 63)


def record(cw, a, b, st0, st1):
    inp = struct.pack("<H", cw) + pack80(*a) + pack80(*b)
    out = pack80(*st0) + b"\0\0" + pack80(*st1) + b"\0" * 10
    return [inp.hex(), out.hex()]


def trig_arg():
    r = random.random()
    if r < 0.25:
        return rand_ext(-80, -2)
    if r < 0.6:
        return rand_ext(-1, 5)
    if r < 0.8:
        return rand_ext(6, 62)
    # Near a multiple of pi/2: the reduction must keep the small remainder exact.
    k = random.randint(1, 1 << random.randint(1, 40))
    x = k * mpmath.pi / 2
    se, sig = round_ext(x, 0)
    sig += random.randint(-3, 3)
    if sig >= 1 << 64 or sig < 1 << 63:
        sig = max(min(sig, (1 << 64) - 1), 1 << 63)
    return (se | random.choice([0, 0x8000])), sig


def gen(name, n):
    cases = []
    while len(cases) < n:
        rc = random.randint(0, 3)
        cw = 0x037F | (rc << 10) & 0xFFFF
        cw = (cw & ~0x300) | (random.choice([0, 2, 3]) << 8)  # the precision control must not matter
        b = ONE
        if name in ("fsin", "fcos", "fsincos", "fptan"):
            a = trig_arg()
            x = val(*a)
            if name == "fsin":
                out = (round_ext(mpmath.sin(x), rc), b)
            elif name == "fcos":
                out = (round_ext(mpmath.cos(x), rc), b)
            elif name == "fsincos":
                out = (round_ext(mpmath.cos(x), rc), round_ext(mpmath.sin(x), rc))
            else:
                out = (ONE, round_ext(mpmath.tan(x), rc))
        elif name == "f2xm1":
            a = rand_ext(-70, -1)
            x = val(*a)
            out = (round_ext(mpmath.powm1(2, x), rc), b)
        elif name == "fpatan":
            a = rand_ext(-40, 40)
            b = rand_ext(-40, 40)
            out = (round_ext(mpmath.atan2(val(*b), val(*a)), rc), INDEF)
        elif name == "fyl2x":
            a = rand_ext(-200, 200, 0) if random.random() < 0.7 else rand_ext(-1, 0, 0)
            b = rand_ext(-20, 20)
            if val(*a) == 1:
                continue
            out = (round_ext(val(*b) * mpmath.log(val(*a), 2), rc), INDEF)
        else:  # fyl2xp1
            a = rand_ext(-80, -3)
            b = rand_ext(-20, 20)
            out = (round_ext(val(*b) * mpmath.log1p(val(*a)) / mpmath.log(2), rc), INDEF)
        cases.append(record(cw, a, b, out[0], out[1]))
    return cases


OPS = {
    "fsin": "d9fe", "fcos": "d9ff", "fsincos": "d9fb", "fptan": "d9f2",
    "fpatan": "d9f3", "f2xm1": "d9f0", "fyl2x": "d9f1", "fyl2xp1": "d9f9",
}

print(json.dumps({
    "generator": "tools/gen-fpu-trans-fixtures.py",
    "reference": "mpmath %s at %d bits, correctly rounded" % (mpmath.__version__, mpmath.mp.prec),
    "ops": {name: {"bytes": hexb, "cases": gen(name, 150)} for name, hexb in OPS.items()},
}))
