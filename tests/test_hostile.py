"""Hostile submissions (tests/hostile/, one file per case): the grader gives
each a verdict within its bound, survives it, and leaves nothing of it.

Each case is graded the way an instructor would, `lab check 3g FILE
--format json` in a subprocess (the subprocess's timeout the outer bound),
then the host is searched for what it left (conftest.find_leftovers). The
whole corpus is also graded at once with `lab grade` (parallel workers).
"""

import re
import shutil

import pytest

from conftest import (NOT_ROOT, MARGIN, hostile_names, hostile_path, identity, ipv6_loopback,
                      needs, run_lab)

# With pytest -n (.ci/run), the tests of a group run in one worker: shares the session's gradings (conftest) with the others of its group.
pytestmark = pytest.mark.xdist_group("gradings")

PASS, FAIL, ERROR = "pass", "fail", "error"

root_only = pytest.mark.skipif(not identity.is_root(), reason=NOT_ROOT)

# name: (the verdict it deserves, the total bound given to the grader).
# A bound of 30 s where the case only makes checks wait; 60 s where every
# check runs to its end (a correct server, or one whose checks each wait
# for a connection that never comes).
CASES = {
    # never serves
    "fork_flood": (FAIL, 30),
    "thread_flood": (FAIL, 30),
    "never_binds": (FAIL, 30),
    "binds_no_listen": (FAIL, 30),
    "listens_no_accept": (FAIL, 30),
    "accepts_no_answer": (FAIL, 30),
    "stops_itself": (FAIL, 30),
    "exits_at_once": (FAIL, 30),
    "syntax_error": (FAIL, 30),
    "too_deep_sum": (FAIL, 30),
    "too_deep_unary": (FAIL, 30),
    "empty": (FAIL, 30),
    "binary": (ERROR, 30),
    "daemon": (FAIL, 30),
    "stdout_flood": (FAIL, 30),
    "memory_hog": (FAIL, 30),
    "escapes": (FAIL, 30),
    "escapes_crash": (FAIL, 30),
    "wrong_port": (FAIL, 30),
    "blank_line": (FAIL, 30),
    # serves, then misbehaves
    "spins_after_answer": (FAIL, 60),
    "endless_body": (FAIL, 60),
    "changes_between_runs": (FAIL, 60),
    # hostile around a correct server: must pass
    "kills_parent": (PASS, 60),
    "ptraces_grader": (PASS, 60),
    "daemon_serving": (PASS, 60),
    "fork_flood_serving": (PASS, 60),
    "stdout_flood_serving": (PASS, 60),
    "closes_stdio": (PASS, 60),
    "ignores_sigterm": (PASS, 60),
    "leaves_files": (PASS, 60),
    "fills_disk": (PASS, 60),
    # correct servers built otherwise than the article's: must pass 3g
    "threaded": (PASS, 60),
    "threading_tcpserver": (PASS, 60),
    "forking_tcpserver": (PASS, 60),
    "sigchld_ign": (PASS, 60),
    "ipv6_only": (PASS, 60),
}

# Raw terminal control: ESC, BEL, CSI as a C1 code (UTF-8), a bare CR,
# backspace, DEL; and the bidi marks that reorder text on screen.
RAW_CONTROL = re.compile("[\x1b\x07\x9b\x08\x7f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def test_every_case_of_the_corpus_is_listed():
    assert sorted(CASES) == hostile_names()


def assert_contained(graded):
    assert not graded.timed_out, "the grader hung: " + graded.describe()
    assert graded.returncode in (0, 1, 2), (
        "the grader did not exit normally: " + graded.describe())
    assert not graded.leftovers, "left behind:\n  %s\n%s" % (
        "\n  ".join(graded.leftovers), graded.describe())


def assert_no_raw_control(text, where):
    found = RAW_CONTROL.search(text)
    assert not found, "raw control character %r in %s, near: %r" % (
        found.group(), where, text[max(0, found.start() - 80):found.end() + 80])


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(hostile_grade, name):
    needs(name)
    expected, total = CASES[name]
    graded = hostile_grade(name, total)
    assert_contained(graded)
    assert graded.data is not None, "not JSON (%s): %r\n%s" % (
        graded.json_error, graded.stdout[:500], graded.describe())
    report = graded.data
    assert graded.seconds < total + MARGIN
    assert report["status"] == expected, "%s: %s, not %s\n%s" % (
        name, report["status"], expected, "\n".join(
            "  %s: %s %s" % (c["id"], c["status"], c["message"][:200])
            for c in report["checks"]) or report["message"])
    assert graded.returncode == {PASS: 0, FAIL: 1, ERROR: 2}[expected]
    for check in report["checks"]:
        assert "the grader failed" not in check["message"], check
        assert check["seconds"] <= total + 1, check
    # human output (stderr beside the JSON): never a raw escape sequence
    assert_no_raw_control(graded.stderr, "the human output of " + name)


# -- what particular cases must show -----------------------------------------

def messages(graded):
    return {c["id"]: c["message"] for c in graded.data["checks"]}


@root_only
def test_the_address_space_limit_stops_the_memory_hog(hostile_grade):
    graded = hostile_grade("memory_hog", CASES["memory_hog"][1])
    serves = graded.data["checks"][0]
    assert "MemoryError" in serves["message"], serves
    assert "MemoryError after" in serves["output"], serves


@root_only
def test_the_fork_flood_is_stopped_by_the_process_limit(hostile_grade):
    graded = hostile_grade("fork_flood", CASES["fork_flood"][1])
    # it never listens: the grader waits out the start-up bound, then kills
    assert "did not listen" in messages(graded)["serves"]


@root_only
def test_a_daemon_that_leaves_its_parent_is_caught(hostile_grade):
    graded = hostile_grade("daemon", CASES["daemon"][1])
    assert "exited with status 0 before it listened" in messages(graded)["serves"]


@root_only
def test_wrong_port_and_blank_line_are_named(hostile_grade):
    assert "listens on port 8080, not on port 8888" in messages(
        hostile_grade("wrong_port", 30))["serves"]
    assert "starts with a blank line" in messages(hostile_grade("blank_line", 30))["serves"]


@root_only
def test_the_binary_file_is_refused_with_a_reason(hostile_grade):
    graded = hostile_grade("binary", 30)
    assert "not a Python source file" in graded.data["message"]


@root_only
def test_escape_sequences_are_escaped_in_json_messages(hostile_grade):
    for name in ("escapes", "escapes_crash"):
        graded = hostile_grade(name, 30)
        assert "\x1b" not in graded.stdout     # JSON escapes it (\u001b) at worst
        for check in graded.data["checks"]:
            for key in ("message", "output"):
                assert_no_raw_control(check[key], "%s %s of %s" % (check["id"], key, name))


# -- human output ---------------------------------------------------------------

@root_only
@pytest.mark.parametrize("name", ["escapes", "escapes_crash"])
def test_escape_sequences_never_reach_the_terminal_raw(name, tmp_path):
    # and a file name full of them too
    evil = tmp_path / ("evil\x1b]0;pwned\x07\x1b[2J\r%s.py" % name)
    shutil.copyfile(hostile_path(name), evil)
    for path in (hostile_path(name), evil):
        graded = run_lab(["check", "3g", path, "-v", "--timeout", 30],
                         bound=30 + MARGIN, label="text")
        assert_contained(graded)
        assert graded.returncode == 1, graded.describe()
        assert "== serves ==" in graded.stdout
        # the fake verdict lines appear quoted ("| " before them), never as
        # lines of their own: no check passes here
        assert not re.search(r"^== [\w-]+ == \S+ pass", graded.stdout, re.M), graded.stdout
        assert "| == serves == " in graded.stdout
        assert_no_raw_control(graded.stdout, "lab check's output")
        assert_no_raw_control(graded.stderr, "lab check's errors")
        assert "\\x1b" in graded.stdout


# -- the whole corpus in one batch -------------------------------------------

@root_only
def test_lab_grade_over_the_whole_corpus(tmp_path):
    """All at once: JSON on stdout, the progress and summary for humans on
    stderr, a CSV beside."""
    paths = [hostile_path(name) for name in sorted(CASES)]
    total = 60
    csv_file = tmp_path / "results.csv"
    graded = run_lab(["grade", "--stage", "3g", "--timeout", total, "--format", "json",
                      "--csv", csv_file] + paths,
                     bound=len(paths) * (total + 30) + MARGIN, label="batch")
    assert_contained(graded)
    assert graded.data is not None, graded.json_error
    assert_no_raw_control(graded.stderr, "lab grade's progress and summary")
    assert_no_raw_control(csv_file.read_text(), "lab grade's CSV")
    reports = graded.data["submissions"]
    assert [r["submission"] for r in reports] == [str(p) for p in paths]
    skipped = set() if ipv6_loopback() else {"ipv6_only"}
    for name, report in zip(sorted(CASES), reports):
        if name in skipped:
            continue
        assert report["status"] == CASES[name][0], (name, report)
        for check in report["checks"]:
            assert "the grader failed" not in check["message"], (name, check)
    summary = {}
    for line in graded.stderr.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].endswith(".py") and fields[1] in (PASS, FAIL, ERROR):
            summary[fields[0].rsplit("/", 1)[-1][:-3]] = fields[1]
    for name in skipped:
        summary.pop(name, None)
    assert summary == {name: expected for name, (expected, _) in CASES.items()
                       if name not in skipped}, graded.stderr[-4000:]
    assert graded.returncode == 2       # an error among them: binary.py
