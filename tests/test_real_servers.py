"""Real servers built other ways than the article's, judged at 3g on their
merits (tests/real_servers/): pre-forked workers (gunicorn, nginx), a thread
per connection (http.server), an event loop (asyncio). The report names the
model each was seen as, and every skip says why.

gunicorn and nginx come from Debian's packages (python3-gunicorn,
nginx-light; .ci/run installs them).
"""

import os
import shutil
import subprocess

import pytest

from conftest import REPO, identity, run_lab
from requirements import unavailable

SERVERS = REPO / "tests" / "real_servers"
NO_CHILD = "the listening process served the connection itself"

P, F, S = "pass", "fail", "skip"
# name: (status, model, {check: status} where not pass, words in the
# survives-child-kill message)
CASES = {
    "gunicorn_workers": ("pass", "pre-forked worker processes", {}, "replaced"),
    "gunicorn_one_worker": ("fail", "pre-forked worker processes",
                            {"concurrent": F, "accepts-while-reaping": S}, "replaced"),
    "prefork_late_workers": ("pass", "pre-forked worker processes", {}, "replaced"),
    "nginx_workers": ("pass", "pre-forked worker processes", {}, "replaced"),
    "http_server": ("pass", "threads in one process",
                    {"reaps": S, "reaps-burst": S, "survives-child-kill": S}, NO_CHILD),
    "asyncio_streams": ("pass", "one process with an event loop",
                        {"reaps": S, "reaps-burst": S, "survives-child-kill": S}, NO_CHILD),
}

pytestmark = [
    # With pytest -n (.ci/run), the tests of a group run in one worker.
    pytest.mark.xdist_group("real-servers"),
    pytest.mark.skipif(not identity.is_root(),
                       reason="the servers must run as a uid of their own (root)"),
]


def test_every_real_server_is_listed():
    assert sorted(CASES) == sorted(p.stem for p in SERVERS.glob("*.py"))


@pytest.fixture(scope="module", autouse=True)
def installed():
    python = "/usr/bin/python3"
    if subprocess.run([python, "-c", "import gunicorn"], capture_output=True).returncode:
        unavailable("gunicorn is missing: apt-get install python3-gunicorn")
    if not (os.path.exists("/usr/sbin/nginx") or shutil.which("nginx")):
        unavailable("nginx is missing: apt-get install nginx-light")


@pytest.mark.parametrize("name", sorted(CASES))
def test_judged_on_its_merits(name):
    status, model, not_passing, killed = CASES[name]
    graded = run_lab(["check", "3g", SERVERS / (name + ".py"), "--format", "json",
                      "--timeout", 120], bound=240, label=name)
    assert not graded.leftovers, graded.leftovers
    assert graded.data is not None, graded.describe()
    report = graded.data
    summary = "\n".join("  %s: %s %s" % (c["id"], c["status"], c["message"][:200])
                        for c in report["checks"])
    assert report["status"] == status, summary
    assert report["model"] == model, (report["model"], summary)
    for check in report["checks"]:
        assert check["status"] == not_passing.get(check["id"], P), summary
        if check["status"] == S:
            assert check["message"], check          # every skip says why
    kill = next(c for c in report["checks"] if c["id"] == "survives-child-kill")
    assert killed in kill["message"], kill
