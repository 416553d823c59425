"""grader/observe.py's readings of /proc that the checks' verdicts rest on:
what a process's descriptors are (no-fd-leak tells client connections from
a supervisor's pipes and files by them) and whether it is parked (reaps,
closes and no-fd-leak wait past their mark only while it is busy). Each
test starts one child, bounded in time."""

import subprocess
import sys
import time

import psutil
import pytest

from grader import observe

BOUND = 10

# A listening socket, a connection to it from both ends, a pipe and a file;
# then "ready", and asleep.
HOLDER = """
import os, socket, sys, tempfile, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
client = socket.create_connection(listener.getsockname())
accepted, _ = listener.accept()
pipe = os.pipe()
log = tempfile.TemporaryFile()
print("ready", flush=True)
time.sleep(60)
"""


def child(code):
    popen = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return popen


def wait_for(predicate):
    deadline = time.monotonic() + BOUND
    while not predicate():
        assert time.monotonic() < deadline, "not seen within %d s" % BOUND
        time.sleep(0.01)


@pytest.fixture
def holder():
    popen = child(HOLDER)
    try:
        assert popen.stdout.readline() == b"ready\n"
        yield popen
    finally:
        popen.kill()
        popen.wait()


def test_descriptors_are_counted_by_kind(holder):
    kinds = observe.descriptors(holder.pid)
    assert kinds["listening"] == 1
    assert kinds["connection"] == 2            # the client's end and the accepted one
    assert kinds["pipe"] >= 3                  # os.pipe(), and stdout to us
    assert kinds["file"] >= 3                  # the log, and /dev/null twice
    assert kinds["socket"] == 0


def test_a_sleeping_process_is_parked(holder):
    wait_for(lambda: observe.parked(holder.pid))
    assert observe.settled(psutil.Process(holder.pid))


def test_a_busy_process_is_never_parked():
    popen = child("print('ready', flush=True)\nwhile True: pass")
    try:
        assert popen.stdout.readline() == b"ready\n"
        # running or runnable (preempted) it may be; blocked in a call, never
        for _ in range(50):
            assert not observe.parked(popen.pid)
            time.sleep(0.005)
    finally:
        popen.kill()
        popen.wait()


def test_a_gone_process_has_no_descriptors_and_is_not_parked():
    popen = child("pass")
    popen.wait()
    assert observe.descriptors(popen.pid) == {}
    assert not observe.parked(popen.pid)
