#!/usr/bin/env python3
"""The floor of each Raft log layout on this disk: N writers of 200-byte records.

  per-file-thread   N files, a thread each: write + fdatasync per record (one log per store)
  one-thread-files  one thread writes N files, then fdatasyncs each
  one-file          one file, N records per write and one fdatasync (one log per node)

Prints records/s and the CPU the process used. Writes under --dir (default: a temp dir on the
filesystem of /tmp). Usage: python3 bench/log_floor.py [--writers 100] [--seconds 3]
"""
import argparse
import os
import shutil
import tempfile
import threading
import time

RECORD = b"x" * 200


def per_file_thread(directory, writers, seconds):
    fds = [os.open(f"{directory}/f{i}", os.O_RDWR | os.O_CREAT | os.O_TRUNC) for i in range(writers)]
    counts = [0] * writers
    stop = time.monotonic() + seconds

    def run(i):
        while time.monotonic() < stop:
            os.write(fds[i], RECORD)
            os.fdatasync(fds[i])
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def one_thread_files(directory, writers, seconds):
    fds = [os.open(f"{directory}/g{i}", os.O_RDWR | os.O_CREAT | os.O_TRUNC) for i in range(writers)]
    count, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        for fd in fds:
            os.write(fd, RECORD)
        for fd in fds:
            os.fdatasync(fd)
        count += writers
    return count


def one_file(directory, writers, seconds):
    fd = os.open(f"{directory}/one", os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    count, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        os.write(fd, RECORD * writers)
        os.fdatasync(fd)
        count += writers
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="log-floor.", dir=args.dir)
    try:
        for layout in (per_file_thread, one_thread_files, one_file):
            cpu, started = time.process_time(), time.monotonic()
            records = layout(directory, args.writers, args.seconds)
            took = time.monotonic() - started
            print(f"{layout.__name__:18s} {records / took:10.0f} records/s  "
                  f"{(time.process_time() - cpu) / took:.2f} cores")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
