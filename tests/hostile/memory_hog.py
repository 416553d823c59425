"""Hostile: allocates memory until the allocation fails.

It writes 128 MiB, then maps 256 MiB at a time (anonymous, untouched)
until RLIMIT_AS (2 GiB of address space per process) refuses with a
MemoryError, long before the host suffers; it says how far it got and
exits with that error.
"""
import mmap

hog = []
total = 0
try:
    for _ in range(2):
        hog.append(b"x" * (64 << 20))      # written
        total += 64
    while True:
        hog.append(mmap.mmap(-1, 256 << 20))   # reserved
        total += 256
except (MemoryError, OSError):      # mmap: ENOMEM
    hog.clear()
    raise MemoryError("MemoryError after %d MiB" % total)
