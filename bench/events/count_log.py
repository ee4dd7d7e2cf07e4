#!/usr/bin/env python3
"""Counts the valid records of a reco event log folder (live segments and archive/), checking
each record's CRC-32 independently of reco's reader (zlib.crc32 is the same IEEE CRC-32).
Prints: records=N segments=S bad=B (bad: records whose length or checksum is wrong).
Usage: count_log.py EVENTS_DIR"""
import os
import struct
import sys
import zlib

root = sys.argv[1]
records = segments = bad = 0
for folder in (os.path.join(root, "archive"), root):
    if not os.path.isdir(folder):
        continue
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".events"):
            continue
        segments += 1
        data = open(os.path.join(folder, name), "rb").read()
        assert data[:8] == b"RECOEV01", f"{name}: not a segment"
        at = 8
        while at < len(data):
            if at + 8 > len(data):
                bad += 1
                break
            length, crc = struct.unpack_from("<II", data, at)
            payload = data[at + 8:at + 8 + length]
            if len(payload) != length or zlib.crc32(payload) != crc:
                bad += 1
                break
            records += 1
            at += 8 + length
print(f"records={records} segments={segments} bad={bad}")
