#!/usr/bin/env python3
"""Prints the CRC tables corpus/c/checksums.c and corpus/near-miss/checksums_like.c
embed: `crc_table` (CRC-32, reflected 0xEDB88320), its slicing-by-4 companions
`crc_table1..3`, and `crc32c_table` (reflected 0x82F63B78). Paste its output."""


def table(poly):
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        out.append(c)
    return out


def show(name, values):
    print("static const uint32_t %s[256] = {" % name)
    for i in range(0, 256, 8):
        print("    " + ", ".join("0x%08xu" % v for v in values[i:i + 8]) + ",")
    print("};")


t0 = table(0xEDB88320)
tables = [t0]
for _ in range(3):
    prev = tables[-1]
    tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
for name, values in zip(["crc_table", "crc_table1", "crc_table2", "crc_table3"], tables):
    show(name, values)
show("crc32c_table", table(0x82F63B78))
