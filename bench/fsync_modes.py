#!/usr/bin/env python3
"""What an fdatasync after one appended record costs on this disk, by how the space past the
end of the file is held (the choice behind the node log's reservation, cluster/disk.rs):

  keep_size   fallocate(FALLOC_FL_KEEP_SIZE) ahead: each write grows the file, so each sync
              also records a new size (the node log until 2026-12-04)
  fallocated  fallocate(0) ahead: the file already covers the write (the node log now)
  zeroed      the space written with zeros first (twice the bytes written)
  append      nothing reserved

Prints p50 and p99 of 2,000 syncs of 300-byte records per mode, two rounds. Writes under
--dir (default: target/fsync-modes, on the filesystem the nodes' data usually is).
Usage: python3 bench/fsync_modes.py [--dir DIR]
"""
import argparse
import ctypes
import os

RECORD = b"x" * 300
SYNCS = 2000
FALLOC_FL_KEEP_SIZE = 1


def measure(directory, mode):
    import time

    path = os.path.join(directory, mode)
    if os.path.exists(path):
        os.remove(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    room = SYNCS * len(RECORD) + 4096
    if mode == "zeroed":
        os.write(fd, b"\0" * room)
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
    elif mode == "fallocated":
        os.posix_fallocate(fd, 0, room)
        os.fsync(fd)
    elif mode == "keep_size":
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(room)) != 0:
            raise OSError(ctypes.get_errno(), "fallocate")
        os.fsync(fd)
    latencies = []
    for _ in range(SYNCS):
        os.write(fd, RECORD)
        started = time.perf_counter()
        os.fdatasync(fd)
        latencies.append(time.perf_counter() - started)
    os.close(fd)
    os.remove(path)
    latencies.sort()
    return latencies[SYNCS // 2] * 1e6, latencies[int(SYNCS * 0.99)] * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "target", "fsync-modes"))
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for _ in range(2):
        for mode in ("keep_size", "fallocated", "zeroed", "append"):
            p50, p99 = measure(args.dir, mode)
            print(f"{mode:11s} fdatasync p50 {p50:6.0f} us  p99 {p99:6.0f} us", flush=True)


if __name__ == "__main__":
    main()
