"""Hostile: a server that never binds a socket; it only sleeps."""
import time

print("starting up...", flush=True)
time.sleep(300)
