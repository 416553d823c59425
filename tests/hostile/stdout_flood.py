"""Hostile: prints without end, never listens."""
import sys

line = "all work and no play makes jack a dull boy " * 20 + "\n"
while True:
    sys.stdout.write(line)
