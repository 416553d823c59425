"""Hostile: starts threads as fast as it can (3000 at most, each sleeps
120 s; RLIMIT_NPROC stops it near 1024), then sleeps. Never listens."""
import threading
import time

started = failed = 0
for _ in range(3000):
    try:
        threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
        started += 1
    except RuntimeError:
        failed += 1
print("started %d threads, %d failed" % (started, failed), flush=True)
time.sleep(120)
