"""Grading without network namespaces, as in the container (and as any
non-root grader): the checks run one at a time on this machine's port 8888.

A slice of each kind of verdict, graded that way (LAB_NETNS=off natively;
inside the container there are no namespaces to turn off): references from
the verdict table, learner mistakes, hostile submissions; each with the
containment survey. The full tables are pinned where checks run at once
(test_verdicts.py, test_mutants.py, test_hostile.py): here the same
verdicts must come out of the other mode.
"""

import pytest

from conftest import HOSTILE, MUTANTS, identity, run_lab
from helpers import REFERENCES, verdicts
from test_mutants import CASES as MUTANT_CASES
from verdicts import expected

pytestmark = [
    # With pytest -n (.ci/run), one worker: these servers use this machine's port 8888.
    pytest.mark.xdist_group("host-port-8888"),
    pytest.mark.container,
    pytest.mark.skipif(not identity.is_root(),
                       reason="the servers must run as a uid of their own (root)"),
]

ONE_AT_A_TIME = {"LAB_NETNS": "off"}


def graded(args, label):
    result = run_lab(args + ["--format", "json", "--timeout", 120], bound=240, label=label,
                     env=ONE_AT_A_TIME)
    assert not result.leftovers, result.leftovers
    assert result.data is not None, result.describe()
    return result.data


@pytest.mark.parametrize("sid", ["3b", "3d", "3f", "3g"])
def test_references_hold_the_table(sid):
    report = graded(["check", "3g", REFERENCES[sid]], "ref" + sid)
    seen = verdicts(report)
    for check_id, want in expected()[sid].items():
        assert seen[check_id] in want, (sid, check_id, seen[check_id], report["checks"])


@pytest.mark.parametrize("name", ["waitpid_blocking", "child_back_in_accept", "slow_fork"])
def test_mistakes_fail_where_they_should(name):
    status, only, pinned = MUTANT_CASES[name]
    report = graded(["check", "3g", MUTANTS / (name + ".py"), "--only",
                     ",".join(["serves"] + only)], name)
    assert report["status"] == status, report
    checks = {c["id"]: c for c in report["checks"]}
    for check_id, (want, seen_words, hint_words) in pinned.items():
        assert checks[check_id]["status"] == want, (name, checks[check_id])
        for words in seen_words:
            assert words in checks[check_id]["message"], (name, checks[check_id])
        for words in hint_words:
            assert words in checks[check_id]["hint"], (name, checks[check_id])


@pytest.mark.parametrize("name", ["kills_parent", "daemon_serving", "fork_flood_serving"])
def test_hostile_servers_are_contained(name):
    report = graded(["check", "3g", HOSTILE / (name + ".py")], name)
    assert report["status"] == "pass", report


def test_a_failed_connect_is_the_servers_failure():
    """changes_between_runs serves on its first run only, counting runs in a
    file of its work dir: one at a time, the checks share that dir (where
    checks run at once each has its own, and every run is a first run)."""
    report = graded(["check", "3g", HOSTILE / "changes_between_runs.py"], "changes")
    closes = next(c for c in report["checks"] if c["id"] == "closes")
    assert closes["status"] == "fail", closes
    assert closes["message"].startswith("connecting to the server failed"), closes
