#!/usr/bin/env python3
"""Writes float-repr.txt: one double per line, as '<IEEE-754 bits in hex> <json.dumps of it>' (Python's
repr, with Infinity for inf).

The Go tests check FormatFloat against it. Deterministic (fixed seed); run with Python 3 (the
reference was 3.11): python3 gen_float_repr.py > float-repr.txt
"""
import json
import math
import random
import struct

rng = random.Random(20231122)
values = []

def bits(f):
    return struct.unpack('<Q', struct.pack('<d', f))[0]

def from_bits(b):
    return struct.unpack('<d', struct.pack('<Q', b))[0]

# Edge cases: zeros, extremes, notation thresholds and their neighbours.
for f in [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
          1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.0, 0.1, 0.2, 0.3,
          1e-4, 1e-5, 0.00011, 0.000099999, 1e15, 1e16, 9999999999999998.0, 1.5e16,
          9007199254740992.0, 9007199254740993.0, 123456789012345678.0, 1/3, 2/3, math.pi, math.e]:
    values.append(f)
    values.append(math.nextafter(f, math.inf))
    values.append(math.nextafter(f, -math.inf))
for k in range(-325, 309):
    values.append(float('1e%d' % k))
for k in range(-1074, 1024, 7):
    values.append(math.ldexp(1.0, k))
# Random bit patterns (mostly huge or tiny exponents), skipping NaN/Inf.
while len(values) < 2200:
    f = from_bits(rng.getrandbits(64))
    if math.isfinite(f):
        values.append(f)
# Log-uniform values around the plain-notation range, full precision.
for _ in range(1200):
    values.append(math.copysign(10 ** rng.uniform(-7, 19), rng.choice([1, -1])))
# Short decimals, the common case in messages.
for _ in range(600):
    values.append(round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)))
    values.append(rng.randint(-10**17, 10**17) / 10 ** rng.randint(0, 20))

seen = set()
for f in values:
    b = bits(f)
    if b in seen:
        continue
    seen.add(b)
    print('%016x %s' % (b, json.dumps(f)))
