"""grader/processes.py, the one home of process supervision: what the
grader, the demos, `lab grade` and the bench rely on to leave nothing
behind. Every test forks a handful of processes at most, each bounded."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from conftest import identity
from grader import processes

# A daemon: forks, the child starts a new session and outlives its parent
# (the classic double fork's first half); it prints its pid and sleeps.
DAEMON = ("import os, sys, time\n"
          "if os.fork() == 0:\n"
          "    os.setsid(); print(os.getpid(), flush=True); time.sleep(60)\n"
          "    os._exit(0)\n"
          "sys.exit(0)\n")

BOUND = 10


def wait_for(predicate, bound=BOUND):
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, "not within %d s" % bound
        time.sleep(0.01)


def test_a_childs_state_is_running_then_zombie_then_gone():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    proc = psutil.Process(child.pid)
    assert processes.state(proc) == processes.RUNNING and processes.alive(proc)
    child.stdin.close()
    wait_for(lambda: processes.state(proc) == processes.ZOMBIE)
    assert not processes.alive(proc)
    assert proc.pid in [z.pid for z in processes.zombies(psutil.Process())]
    assert processes.count_children(psutil.Process())[0] >= 1
    child.wait()
    assert processes.state(proc) == processes.GONE
    assert processes.children(proc) == []          # gone: no error, no children


def test_a_supervisor_reaps_the_daemon_its_child_left():
    supervisor = processes.Supervisor()
    popen = supervisor.start([sys.executable, "-c", DAEMON], stdout=subprocess.PIPE)
    daemon_pid = int(popen.stdout.readline())
    assert popen.wait(timeout=BOUND) == 0
    supervisor.ended(popen)
    daemon = psutil.Process(daemon_pid)
    # a subreaper: the orphan came back to us, not to PID 1
    assert daemon.ppid() == os.getpid()
    assert supervisor.reap_strays() == []
    assert processes.state(daemon) == processes.GONE


def test_killing_a_tree_reaches_a_grandchild_in_another_session():
    supervisor = processes.Supervisor()
    shell = ("import subprocess, sys, time\n"
             "p = subprocess.Popen([sys.executable, '-c', %r], stdout=subprocess.PIPE)\n"
             "print(p.stdout.readline().decode().strip(), flush=True); time.sleep(60)\n" % DAEMON)
    popen = supervisor.start([sys.executable, "-c", shell], stdout=subprocess.PIPE)
    daemon = psutil.Process(int(popen.stdout.readline()))
    supervisor.kill(popen, wait=BOUND)
    assert popen.returncode == -9
    assert processes.state(daemon) == processes.GONE
    assert popen.pid not in supervisor.live


def test_reap_strays_leaves_what_it_is_told_to_keep():
    kept = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: processes.state(psutil.Process(kept.pid)) == processes.ZOMBIE)
    assert processes.reap_strays(keep={kept.pid}, kill=False, timeout=0) == []
    # still ours to wait for: its Popen gets the exit status
    assert processes.state(psutil.Process(kept.pid)) == processes.ZOMBIE
    assert kept.wait(timeout=BOUND) == 0


def test_reap_strays_without_kill_leaves_the_running_and_says_so():
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        left = processes.reap_strays(kill=False, timeout=0,
                                     belongs=lambda p: p.pid == running.pid)
        assert left == [running.pid]
        assert processes.alive(psutil.Process(running.pid))
    finally:
        running.kill()
        running.wait()


@pytest.mark.skipif(not identity.is_root(), reason="acting as another uid needs root")
def test_kill_uid_ends_every_process_of_the_uid_and_nothing_else():
    claim = identity.claim_server_uid()
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = [subprocess.Popen(["sleep", "60"], user=claim.uid, group=claim.uid,
                                   extra_groups=[])
                  for _ in range(3)]
        processes.kill_uid(claim.uid)
        for popen in theirs:
            assert popen.wait(timeout=BOUND) == -9
        assert mine.poll() is None                 # not of that uid: alive
    finally:
        mine.kill()
        mine.wait()
        claim.release()


@pytest.mark.skipif(not identity.is_root(), reason="acting as another uid needs root")
def test_as_uid_acts_with_that_users_rights():
    claim = identity.claim_server_uid()
    read, write = os.pipe()
    try:
        processes.as_uid(claim.uid, lambda: os.write(write, b"%d" % os.geteuid()))
        os.close(write)
        assert os.read(read, 32) == b"%d" % claim.uid
    finally:
        os.close(read)
        claim.release()
