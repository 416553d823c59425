"""Hostile: a bounded fork flood before the server ever listens.

Forks as fast as it can, 3000 times at most in all (RLIMIT_NPROC makes most
forks fail), every child sleeps 120 s, then the parent sleeps too. Never
listens: the grader must give up on it and kill every process it made.
"""
import os
import time

forked = failed = 0
for _ in range(3000):
    try:
        pid = os.fork()
    except OSError:
        failed += 1
        continue
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    forked += 1
print("forked %d children, %d forks failed" % (forked, failed), flush=True)
time.sleep(120)
