"""`lab trace` on every stage's reference: the invariants of each lesson
(not exact numbers, which vary run to run), the trace agreeing with /proc,
the picture matching the record, hostile servers traced within the bound
with nothing left behind, and bad input refused clearly.

Inside the container (marker `container`) the same tests run without kernel
tracing: SIGCHLD arrivals are then not observed, and say so.
"""

import xml.etree.ElementTree as ElementTree

import pytest

from conftest import hostile_path, identity, run_lab
from helpers import REFERENCES, lab

pytestmark = [
    pytest.mark.container,
    # one grading at a time in a worker; in the container they share port 8888
    pytest.mark.xdist_group("host-port-8888"),
    pytest.mark.skipif(not identity.is_root(),
                       reason="the servers must run as a uid of their own (root)"),
]

BOUND = 120 + 30        # lab trace's own bound, and a margin


def trace(path, *args, label="trace"):
    graded = run_lab(["trace", path, "--format", "json", *args], bound=BOUND, label=label)
    assert not graded.timed_out, "lab trace ran past %d s" % BOUND
    assert not graded.leftovers, "left behind: %s" % graded.leftovers
    assert graded.returncode == 0, graded.stderr
    assert graded.data, "no JSON: %s\n%s" % (graded.json_error, graded.stderr)
    return graded.data


def check_common(data, clients):
    s = data["summary"]
    assert data["clients"] == clients
    assert s["zombies"] == s["zombies_ps"], "the trace and /proc disagree: %s" % s
    assert s["forked"] == len(data["children"])
    assert s["exited"] == sum(1 for c in data["children"] if c["exited"] is not None)
    assert s["reaped"] == sum(1 for c in data["children"] if c["reaped"] is not None)
    for child in data["children"]:
        assert child["exited"] is None or child["exited"] >= child["forked"]
        assert child["reaped"] is None or child["reaped"] >= child["exited"]
    if s["sigchld"] is not None and s["sigchld_merged"] is not None:
        # the kernel raises SIGCHLD once per exit: delivered or merged (or
        # discarded when nothing catches it)
        assert s["sigchld"] + s["sigchld_merged"] <= s["exited"]
        if s["handler_runs"]:
            assert s["sigchld"] + s["sigchld_merged"] == s["exited"], s
    forks = sorted(e["pid"] for e in data["events"] if e["kind"] == "fork")
    assert forks == sorted(c["pid"] for c in data["children"])
    kinds = {e["kind"] for e in data["events"]}
    assert kinds <= {"accept", "fork", "exit", "handler", "sigchld", "reap", "interrupted",
                     "close"}
    return s


def test_3a_forks_nothing():
    s = check_common(trace(REFERENCES["3a"], "--clients", "4"), 4)
    assert s["forked"] == 0 and s["accepted"] == 4


def test_3d_reaps_nothing_and_its_descriptors_pile_up():
    few = check_common(trace(REFERENCES["3d"], "--clients", "4"), 4)
    many = check_common(trace(REFERENCES["3d"], "--clients", "32"), 32)
    for s in (few, many):
        assert s["reaped"] == 0 and s["zombies"] == s["exited"] > 0
    assert many["parent_fds_max"] >= few["parent_fds_max"] + 28


def test_3e_one_client_under_strace_shows_the_interrupted_accept():
    data = trace(REFERENCES["3e"], "--stage", "3e", "--syscalls")
    s = check_common(data, 1)
    assert data["mode"] == "syscalls"
    assert s["accept_interrupted"] >= 1
    assert s["reaped"] == 1 and s["handler_runs"] == 1 and s["zombies"] == 0


def test_3f_signals_merge_and_zombies_stay():
    data = trace(REFERENCES["3f"], "--stage", "3f")
    s = check_common(data, 128)
    assert data["mode"] == "light" and s["accept_interrupted"] is None
    assert 1 <= s["handler_runs"] < s["exited"] == 128
    assert s["reaped"] <= s["handler_runs"]
    assert s["zombies"] > 0


def test_3g_reaps_every_child_with_fewer_handler_runs(tmp_path):
    picture = tmp_path / "3g.svg"
    data = trace(REFERENCES["3g"], "--clients", "128", "--svg", picture)
    s = check_common(data, 128)
    assert s["zombies"] == 0 and s["reaped"] == s["exited"] == 128
    assert 1 <= s["handler_runs"] <= s["exited"]
    lanes = picture_lanes(picture)
    assert lanes == [c["pid"] for c in data["children"]]


def picture_lanes(path):
    """The pids of the child lanes of an SVG, in order (it must parse)."""
    root = ElementTree.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    return [int(g.get("data-pid")) for g in root.iter(ns + "g") if g.get("class") == "child"]


def test_the_text_form_tells_the_story():
    graded = run_lab(["trace", REFERENCES["3f"], "--clients", "64"], bound=BOUND,
                     label="trace-text")
    assert graded.returncode == 0 and not graded.leftovers, graded.stderr
    words = " ".join(graded.stdout.split())
    assert "the SIGCHLD handler ran" in words
    assert "zombies" in words and "(stage 3g)" in words
    assert max(len(line) for line in graded.stdout.splitlines()) <= 100


@pytest.mark.parametrize("name", ["fork_flood", "daemon", "stdout_flood_serving"])
def test_hostile_servers_are_traced_within_the_bound(name):
    graded = run_lab(["trace", hostile_path(name), "--clients", "8", "--format", "json"],
                     bound=BOUND, label="trace-" + name)
    assert not graded.timed_out and graded.seconds < 120
    assert not graded.leftovers, "left behind: %s" % graded.leftovers
    # it traced the server, or said clearly why it could not
    if graded.returncode == 2:
        assert graded.stderr.splitlines()[-1].startswith("lab: ")
        assert graded.data["error"] in graded.stderr
    else:
        assert graded.returncode == 0 and graded.data["summary"], graded.stderr


@pytest.mark.parametrize("args, words", [
    (["/nonexistent/server.py"], "no such file"),
    ([REFERENCES["3g"], "--clients", "0"], "not a number of clients"),
    ([REFERENCES["3g"], "--stage", "9z"], "unknown stage"),
])
def test_bad_input_is_refused_clearly(args, words):
    done = lab("trace", *args, timeout=60)
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
