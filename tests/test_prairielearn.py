"""`lab prairielearn`: PrairieLearn's external grading contract
(docs/externalGrading.md in PrairieLearn/PrairieLearn), natively on a
folder laid out like /grade (LAB_GRADE_ROOT), and in the image run as
PrairieLearn's grader host runs it: /grade mounted, no network, PidsLimit
1024, 2 GiB, 0.9 CPU, default capabilities, the example question's entry
point and timeout (examples/prairielearn/).

The image: LAB_TEST_IMAGE (default lab3:latest, what compose builds).
"""

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from helpers import REFERENCES, REPO, lab
from requirements import require, require_docker, unavailable

from grader import prairielearn
from grader.stages import STAGES
from test_formats import failing, not_graded  # noqa: F401  (reports to write)

# With pytest -n (.ci/run): as a user other than root, or without SYS_PTRACE,
# the graders here use the host's port 8888.
pytestmark = pytest.mark.xdist_group("host-port-8888")

jsonschema = require("jsonschema")
SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (REPO / "tests" / "schemas" / "prairielearn-results.schema.json").read_text()))
QUESTION = REPO / "examples" / "prairielearn" / "questions" / "lab3-stage3g"


def question():
    """The example question's info.json (examples/ is not in the image: read
    when a test needs it)."""
    return json.loads((QUESTION / "info.json").read_text())


def options():
    return question()["externalGradingOptions"]

IMAGE = os.environ.get("LAB_TEST_IMAGE", "lab3:latest")
LIMIT = 1024 * 1024
SYNTAX_ERROR = "import socket\nwhile True print('x')\n"


def job(tmp_path, files, data=None):
    """A folder laid out as PrairieLearn lays out /grade."""
    root = tmp_path / "grade"
    (root / "student").mkdir(parents=True)
    (root / "data").mkdir()
    for name, content in files.items():
        path = root / "student" / name
        if isinstance(content, Path):
            shutil.copy(content, path)
        else:
            path.write_text(content)
    (root / "data" / "data.json").write_text(json.dumps(
        data if data is not None else {"params": {"stage": "3g"}, "submitted_answers": {}}))
    return root


def results_of(root):
    path = root / "results" / "results.json"
    assert path.stat().st_size < LIMIT
    results = json.loads(path.read_text(encoding="utf-8"))
    SCHEMA.validate(results)
    return results


def native(root, *args):
    done = lab("prairielearn", *args, env={"LAB_GRADE_ROOT": str(root)}, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr     # always: else PL drops results
    assert "Traceback" not in done.stdout + done.stderr
    return results_of(root)


# -- natively ------------------------------------------------------------------

def test_passing_gets_full_score(tmp_path):
    results = native(job(tmp_path, {"webserver3g.py": REFERENCES["3g"]}))
    assert results["gradable"] is True and results["score"] == 1
    assert [t["name"] for t in results["tests"]] == list(STAGES["3g"].checks)
    assert all(t["points"] == t["max_points"] == 1 for t in results["tests"])
    assert "9 of 9 required checks pass" in results["message"]
    assert "== reaps-burst ==" in results["output"]
    assert "lab-prairielearn-" not in json.dumps(results)     # the student's name, not ours
    assert "Next: " not in results["output"]        # they resubmit, not run lab check again


def test_failing_gets_partial_score_with_the_rubric(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[points]\nreaps-burst = 3\n")
    root = job(tmp_path, {"anything.py": REFERENCES["3f"]}, data={})    # no stage in data.json
    results = native(root, "--stage", "3g", "--rubric", rubric)
    burst = {t["name"]: t for t in results["tests"]}["reaps-burst"]
    assert (burst["points"], burst["max_points"]) == (0, 3)
    assert burst["message"] and "try it by hand" in burst["output"]
    assert results["score"] == pytest.approx(8 / 11, abs=1e-4)


@pytest.mark.parametrize("files, says", [
    ({}, "holds no .py file"),
    ({"a.py": "x = 1\n", "b.py": "y = 2\n"}, "holds 2 .py files"),
    ({"webserver3g.py": SYNTAX_ERROR}, "does not compile"),
    ({"webserver3g.py": "\x00\x01binary"}, "not a Python source file"),
], ids=["missing", "two-files", "uncompilable", "binary"])
def test_no_server_to_grade_costs_no_attempt(tmp_path, files, says):
    results = native(job(tmp_path, files))
    assert results["gradable"] is False and "score" not in results
    assert says in " ".join(results["format_errors"]), results
    assert str(tmp_path) not in json.dumps(results)


@pytest.mark.parametrize("data, args, says", [
    ({}, [], "names no stage"),
    ({"params": {"stage": "3z"}}, [], "unknown stage '3z'"),
    (None, ["--stage", "3g", "--rubric", "/no/such/rubric.toml"], "cannot read the rubric"),
])
def test_a_broken_question_is_said_and_costs_no_attempt(tmp_path, data, args, says):
    root = job(tmp_path, {"webserver3g.py": REFERENCES["3g"]}, data=data)
    results = native(root, *args)
    assert results["gradable"] is False and says in results["format_errors"][0]


def test_unreadable_data_json_with_a_stage_given(tmp_path):
    root = job(tmp_path, {"webserver3g.py": REFERENCES["3a"]})
    (root / "data" / "data.json").write_text("{not json")
    results = native(root, "--stage", "3a")
    assert results["gradable"] and results["score"] == 1


def test_a_server_that_never_answers_is_graded_within_the_timeout(tmp_path):
    """The question's timeout bounds it all: `lab check` gets all but 10 s
    of it, and the supervisor stops it in time whatever it does."""
    root = job(tmp_path, {"webserver3g.py": REPO / "tests" / "hostile" / "accepts_no_answer.py"})
    started = time.monotonic()
    results = native(root, "--timeout", "15")
    assert time.monotonic() - started < 15
    assert results["gradable"] is True and results["score"] == 0
    assert {t["name"]: t for t in results["tests"]}["serves"]["points"] == 0


def test_results_stay_under_one_megabyte():
    report = failing()
    for check in report.checks:
        check.output = "x" * 3_000_000
        check.message = "y" * 3_000_000
    results = prairielearn.graded(report, "z" * 5_000_000)
    assert len(json.dumps(results).encode()) < LIMIT
    SCHEMA.validate(results)
    SCHEMA.validate(prairielearn.graded(not_graded(), ""))
    assert prairielearn.graded(not_graded(), "")["score"] == 0


def test_a_crash_still_writes_results_and_exits_0(tmp_path, monkeypatch):
    from grader import cli

    def crash(args):
        raise RuntimeError("boom")
    monkeypatch.setattr(prairielearn, "grade", crash)
    root = job(tmp_path, {"webserver3g.py": REFERENCES["3g"]})
    monkeypatch.setenv("LAB_GRADE_ROOT", str(root))
    assert cli.main(["prairielearn"]) == 0
    results = results_of(root)
    assert results["score"] == 0 and "boom" in results["message"]


def test_without_sys_ptrace_the_grader_runs_as_the_servers_uid(tmp_path):
    """Root without CAP_SYS_PTRACE (as in PrairieLearn's containers) may not
    read other uids' /proc/PID/fd: the grader then runs as the servers' uid,
    one check at a time on port 8888, and still grades right."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (to drop CAP_SYS_PTRACE)")
    root = job(tmp_path, {"webserver3g.py": REFERENCES["3f"]})
    os.chmod(tmp_path, 0o755)
    argv = ["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace",
            "/usr/bin/python3", "-m", "grader", "prairielearn"]
    done = subprocess.run(argv, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO),
                                                   LAB_GRADE_ROOT=str(root)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    results = results_of(root)
    assert "one check at a time" in results["output"], results["output"][:2000]
    tests = {t["name"]: t for t in results["tests"]}
    assert tests["serves"]["points"] == 1 and tests["reaps-burst"]["points"] == 0
    assert results["score"] == pytest.approx(8 / 9, abs=1e-4)


# -- in the image, as PrairieLearn runs it ---------------------------------------

def _image():
    if os.environ.get("LAB_IN_CONTAINER") == "1":
        pytest.skip("runs the image from the outside: not inside the lab container")
    require_docker()
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True,
                      timeout=60).returncode != 0:
        unavailable("no image %s here: docker compose build lab3 (or set LAB_TEST_IMAGE)"
                    % IMAGE)
    return IMAGE


def as_prairielearn(tmp_path, files):
    """docker run as PrairieLearn's grader host does (apps/grader-host:
    NetworkDisabled, PidsLimit 1024, Memory = MemorySwap = 2 GiB, CpuQuota
    90000 of 100000, IpcMode private, no core dumps, the question's
    entrypoint in place of the image's, no init, default capabilities),
    killed at the question's timeout. (exit status, seconds, results.)"""
    image = _image()
    root = job(tmp_path, files, data={"params": {}, "submitted_answers": {}})
    name = "lab3-prairielearn-test-" + uuid.uuid4().hex[:12]
    entrypoint = shlex.split(options()["entrypoint"])
    argv = ["docker", "run", "--rm", "--name", name, "--network", "none",
            "--pids-limit", "1024", "--memory", "2g", "--memory-swap", "2g",
            "--cpu-period", "100000", "--cpu-quota", "90000", "--ipc", "private",
            "--ulimit", "core=0", "-v", "%s:/grade" % root,
            "--entrypoint", entrypoint[0], image] + entrypoint[1:]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=options()["timeout"])
    except subprocess.TimeoutExpired:
        pytest.fail("the grading ran past the question's timeout (%s s)" % options()["timeout"])
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return seconds, results_of(root)


@pytest.fixture(scope="module")
def pl_jobs(tmp_path_factory):
    """Each kind of submission graded once in the image (in turn: one docker
    user at a time)."""
    cases = {
        "passing": {"webserver3g.py": REFERENCES["3g"]},
        "failing": {"webserver3g.py": REFERENCES["3f"]},
        "uncompilable": {"webserver3g.py": SYNTAX_ERROR},
        "missing": {},
        "fork-flood": {"webserver3g.py": REPO / "tests" / "hostile" / "fork_flood.py"},
        "kills-the-grader": {"webserver3g.py": REPO / "tests" / "hostile" / "kills_parent.py"},
    }
    return {case: as_prairielearn(tmp_path_factory.mktemp(case), files)
            for case, files in cases.items()}


def test_the_example_question_is_what_prairielearn_reads():
    info, opts = question(), options()
    assert info["gradingMethod"] == "External" and opts["enabled"] is True
    assert shlex.split(opts["entrypoint"])[:2] == ["/usr/local/bin/lab", "prairielearn"]
    assert 0 < opts["timeout"] <= 600                 # PrairieLearn's bound
    timeout = shlex.split(opts["entrypoint"])
    assert float(timeout[timeout.index("--timeout") + 1]) == opts["timeout"]
    html = (QUESTION / "question.html").read_text()
    assert '<pl-file-upload file-names="webserver3g.py">' in html
    assert "<pl-external-grader-results>" in html


@pytest.mark.timeout(900)
@pytest.mark.xdist_group("docker")     # one docker user at a time (as test_bundle.py)
@pytest.mark.parametrize("case, score", [("passing", 1), ("failing", 8 / 9),
                                         ("fork-flood", 0)])
def test_in_the_image_graded(pl_jobs, case, score):
    seconds, results = pl_jobs[case]
    assert seconds < options()["timeout"]
    assert results["gradable"] is True
    assert results["score"] == pytest.approx(score, abs=1e-4), results["message"]
    assert [t["name"] for t in results["tests"]] == list(STAGES["3g"].checks)
    assert "one check at a time" in results["output"]      # no SYS_PTRACE, no netns there


@pytest.mark.timeout(900)
@pytest.mark.xdist_group("docker")     # one docker user at a time (as test_bundle.py)
@pytest.mark.parametrize("case, says", [("uncompilable", "does not compile"),
                                        ("missing", "holds no .py file")])
def test_in_the_image_not_gradable(pl_jobs, case, says):
    seconds, results = pl_jobs[case]
    assert seconds < options()["timeout"]
    assert results["gradable"] is False and says in results["format_errors"][0]


@pytest.mark.timeout(900)
@pytest.mark.xdist_group("docker")     # one docker user at a time (as test_bundle.py)
def test_in_the_image_a_submission_that_kills_the_grader_gets_zero_and_why(pl_jobs):
    """kill(-1, SIGKILL) as the servers' uid kills the grader there (same
    uid): the supervisor, root, still writes the results."""
    seconds, results = pl_jobs["kills-the-grader"]
    assert seconds < options()["timeout"]
    assert results["gradable"] is True and results["score"] == 0
    assert "killed by signal 9" in results["message"]
