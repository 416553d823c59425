"""The mistakes each stage teaches against must fail, on the check named for
them and with a hint about their real cause; legitimate variations pass.

Each mutant (tests/mutants/) is graded at 3g in a subprocess, with the
containment survey of conftest.run_lab. Only the checks pinned for it run
(and `serves`, which they build on), so that the slow ones stay quick; the
legitimate variations run every check.
"""

import concurrent.futures

import pytest

from conftest import MUTANTS, UID_BASE, UID_SPAN, identity, run_lab

ALL = None

# name: (status at 3g, the checks to run, {check: (status, words in its
# message, words in its hint)})
CASES = {
    "waitpid_blocking": ("fail", ["concurrent", "accepts-while-reaping"], {
        "accepts-while-reaping": ("fail", ["blocked in wait4()"], ["os.WNOHANG", "(0, 0)"])}),
    "wait_loop": ("fail", ["concurrent", "accepts-while-reaping"], {
        "accepts-while-reaping": ("fail", ["blocked in wait4()"], ["os.WNOHANG"])}),
    "reaps_once": ("fail", ["reaps-burst"], {
        "reaps-burst": ("fail", ["children were still zombies"], ["not queued", "os.WNOHANG"])}),
    "child_no_exit": ("fail", ["reaps"], {
        "reaps": ("fail", ["died with an exception", "Bad file descriptor"], ["os._exit(0)"])}),
    "child_back_in_accept": ("fail", ["reaps", "reaps-burst"], {
        "reaps": ("fail", ["back in accept()"], ["listen_socket.close()", "os._exit(0)"]),
        "reaps-burst": ("fail", ["back in accept()"], ["listen_socket.close()"])}),
    "parent_waits": ("fail", ["concurrent"], {
        "concurrent": ("fail", ["blocked in wait4()"], ["SIGCHLD handler"])}),
    "parent_keeps_client": ("fail", ["closes"], {
        "closes": ("fail", ["still open 1 s later"], ["the parent must close its copy"])}),
    "parent_keeps_log": ("fail", ["no-fd-leak"], {
        "no-fd-leak": ("fail", ["descriptors after 20 requests"],
                       ["not client connections", "files", "/proc/PID/fd"])}),
    "slow_fork": ("fail", ["reaps", "survives-child-kill"], {
        "reaps": ("fail", ["sleeping (time.sleep)"], ["sleep"]),
        "survives-child-kill": ("pass", [], [])}),
    "slow_child": ("fail", ["reaps", "survives-child-kill"], {
        "reaps": ("fail", ["sleeping (time.sleep)"], ["sleep"]),
        "survives-child-kill": ("pass", [], [])}),
    # legitimate, but too slow to run every check: a child busy 2 s before
    # it closes is judged once it has run, not by a 1-s clock alone
    "child_busy_before_close": ("pass", ["closes"], {}),
    # legitimate: they must pass every check
    "child_keeps_client": ("pass", ALL, {}),
    "child_sys_exit": ("pass", ALL, {}),
    "sigchld_ign": ("pass", ALL, {}),
    "no_reuseaddr": ("pass", ALL, {}),
    "listen_zero": ("pass", ALL, {}),
    "busy_parent": ("pass", ALL, {}),
}

# With pytest -n (.ci/run), the tests of a group run in one worker: its module fixture grades every mutant once.
pytestmark = [pytest.mark.skipif(not identity.is_root(),
                                reason="the servers must run as a uid of their own (root)"),
              pytest.mark.xdist_group("mutants")]


def test_every_mutant_is_listed():
    assert sorted(CASES) == sorted(p.stem for p in MUTANTS.glob("*.py"))


@pytest.fixture(scope="module")
def graded():
    """Every mutant graded once, two at a time."""
    def grade(job):
        (name, (_, only, _)), slot = job
        args = ["check", "3g", MUTANTS / (name + ".py"), "--format", "json", "--timeout", 60]
        if only is not ALL:
            args += ["--only", ",".join(["serves"] + only)]
        return name, run_lab(args, bound=120, label="mutant",
                             uid_base=UID_BASE + slot * UID_SPAN)

    jobs = [(item, n % 2) for n, item in enumerate(sorted(CASES.items()))]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        # one at a time per uid base: the two lanes never share uids
        lanes = [[j for j in jobs if j[1] == lane] for lane in (0, 1)]
        for done in pool.map(lambda lane: [grade(j) for j in lane], lanes):
            results.update(done)
    return results


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_mistake_fails_where_it_should(graded, name):
    status, _, pinned = CASES[name]
    result = graded[name]
    assert not result.leftovers, result.leftovers
    assert result.data is not None, result.describe()
    report = result.data
    checks = {c["id"]: c for c in report["checks"]}
    summary = "\n".join("  %s: %s %s | %s" % (c["id"], c["status"], c["message"][:160],
                                             c["hint"][:80]) for c in report["checks"])
    assert report["status"] == status, "%s: %s, not %s\n%s" % (
        name, report["status"], status, summary)
    for check_id, (want, seen_words, hint_words) in pinned.items():
        check = checks[check_id]
        assert check["status"] == want, (name, check_id, summary)
        for words in seen_words:
            assert words in check["message"], (name, check_id, words, check["message"])
        for words in hint_words:
            assert words in check["hint"], (name, check_id, words, check["hint"])
    if status == "pass":
        assert all(c["status"] in ("pass", "skip") for c in report["checks"]), summary


def test_no_hint_sends_a_forking_server_to_stage_3c_for_a_sleep_it_does_not_have(graded):
    """A hint speaks to what was seen: a child back in accept() is not told
    about stage 3c's sleep."""
    for name in ("child_back_in_accept",):
        for check in graded[name].data["checks"]:
            assert "3c sleeps" not in check["hint"], (name, check)
