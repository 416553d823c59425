"""The learner's progress: every `lab check` of a server in a work folder is
recorded in work/.lab/progress.json, `lab progress` shows every stage
(never checked, failing with which checks, passed, and when), `lab check`
ends with what comes next; under sudo the record is the learner's; and it
survives the container (work/ is a bind mount).
"""

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from helpers import REFERENCES, REPO, lab
from requirements import require_docker, unavailable

from grader import progress
from grader.stages import STAGES

# With pytest -n (.ci/run): as a user other than root the checks use the host's port 8888.
pytestmark = pytest.mark.xdist_group("host-port-8888")

LEARNER = 4321          # a uid no one uses, as tests/test_container.py's work folder


def work_with(tmp_path, **servers):
    """tmp/work holding webserverSTAGE.py = the reference server of another stage."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    for stage_id, reference in servers.items():
        shutil.copy(REFERENCES[reference], work / ("webserver%s.py" % stage_id))
    return work


def stage_lines(text):
    return {line.split()[0]: line for line in text.splitlines()
            if line.startswith("  ") and line.split() and line.split()[0] in STAGES}


def test_checks_are_recorded_and_shown(tmp_path):
    work = work_with(tmp_path, **{"3a": "3a", "3c": "3a"})  # 3a's fails only concurrent at 3c
    env = {"LAB_PROGRESS_DIR": ""}
    done = lab("check", "3a", cwd=tmp_path, env=env)        # finds work/webserver3a.py
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1] == \
        "Next: stage 3b, %s: lab show 3b" % STAGES["3b"].title
    done = lab("check", "3c", work / "webserver3c.py", cwd=REPO, env=env)
    assert done.returncode == 1
    last = done.stdout.rstrip().splitlines()[-1]
    assert last.startswith("Next: fix `concurrent` first "), last

    data = json.loads((work / ".lab" / "progress.json").read_text())
    assert data["stages"]["3a"]["status"] == "pass" and data["stages"]["3a"]["passed"]
    assert data["stages"]["3c"]["failing"] == ["concurrent"]

    shown = lab("progress", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = stage_lines(shown.stdout)
    assert list(lines) == list(STAGES)
    assert " passed " in lines["3a"]
    assert " failing " in lines["3c"] and lines["3c"].endswith(": concurrent")
    assert all(lines[s].endswith("never checked") for s in ("3b", "3d", "3e", "3f", "3g"))
    assert "Next: stage 3b" in shown.stdout
    # the same record from inside the work folder, and from $LAB_PROGRESS_DIR
    assert stage_lines(lab("progress", cwd=work, env=env).stdout) == lines
    assert stage_lines(lab("progress", env={"LAB_PROGRESS_DIR": str(work / ".lab")}).stdout) \
        == lines


def test_a_later_failure_keeps_when_it_passed(tmp_path):
    work = work_with(tmp_path, **{"3a": "3a"})
    assert lab("check", "3a", work / "webserver3a.py").returncode == 0
    (work / "webserver3a.py").write_text("import socket\nwhile True print('x')\n")
    assert lab("check", "3a", work / "webserver3a.py").returncode == 1
    line = stage_lines(lab("progress", cwd=tmp_path).stdout)["3a"]
    assert " failing " in line and ": serves (3 more not run: they build on it) (passed " \
        in line, line


def test_what_is_not_the_learners_work_is_not_recorded(tmp_path):
    work = work_with(tmp_path)
    assert lab("check", "3a", REFERENCES["3a"], cwd=tmp_path).returncode == 0
    assert lab("check", "3a", work / "missing.py", cwd=tmp_path).returncode == 2
    copy = work_with(tmp_path, **{"3a": "3a"}) / "webserver3a.py"
    assert lab("check", "3a", copy, "--only", "serves").returncode == 0     # not the stage
    assert lab("grade", "--stage", "3a", copy).returncode == 0               # an instructor
    assert not (work / ".lab" / "progress.json").exists()
    done = lab("progress", cwd=tmp_path)
    assert done.returncode == 0 and "Nothing recorded yet" in done.stdout


def test_a_broken_record_is_said_then_replaced(tmp_path):
    work = work_with(tmp_path, **{"3b": "3b"})
    (work / ".lab").mkdir()
    (work / ".lab" / "progress.json").write_text("{broken")
    done = lab("progress", cwd=tmp_path)
    assert done.returncode == 2 and "cannot read" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert lab("check", "3b", work / "webserver3b.py").returncode == 0
    assert " passed " in stage_lines(lab("progress", cwd=tmp_path).stdout)["3b"]


def test_next_step_names_the_first_check_to_fix():
    from test_formats import failing, passing
    assert progress.next_step(passing()).startswith("Next: stage 3g, ")
    step = progress.next_step(failing())        # reaps fails, then closes is not run, at 3g
    assert step == "Next: fix `reaps` first (what was seen and a hint are above), " \
        "then lab check 3g again."


def as_learner_env(work):
    return {"SUDO_UID": str(LEARNER), "SUDO_GID": str(LEARNER), "SUDO_USER": "",
            "LAB_PROGRESS_DIR": ""}


def test_under_sudo_the_record_is_the_learners(tmp_path):
    """As root with SUDO_UID (the container's `lab` through sudo): the files
    are created by the learner, and a link planted in .lab cannot make root
    write through it."""
    if os.geteuid() != 0:
        pytest.skip("needs root (the grader under sudo)")
    # a folder the learner can reach (pytest's own are root's only)
    tmp_path = Path(tempfile.mkdtemp(prefix="lab-progress-", dir="/tmp"))
    tmp_path.chmod(0o755)
    try:
        _under_sudo(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _under_sudo(tmp_path):
    work = work_with(tmp_path, **{"3a": "3a"})
    os.chown(work, LEARNER, LEARNER)
    done = lab("check", "3a", work / "webserver3a.py", env=as_learner_env(work))
    assert done.returncode == 0, done.stderr
    for path in (work / ".lab", work / ".lab" / "progress.json"):
        assert (path.stat().st_uid, path.stat().st_gid) == (LEARNER, LEARNER), path

    secret = tmp_path / "root-only"
    secret.write_text("root's\n")
    secret.chmod(0o600)
    record = work / ".lab" / "progress.json"
    record.unlink()
    record.symlink_to(secret)
    done = lab("check", "3a", work / "webserver3a.py", env=as_learner_env(work))
    assert done.returncode == 0, done.stderr
    assert secret.read_text() == "root's\n" and secret.stat().st_uid == 0
    assert not record.is_symlink()                   # replaced by the learner's own file
    assert json.loads(record.read_text())["stages"]["3a"]["status"] == "pass"
    shown = lab("progress", cwd=tmp_path, env=as_learner_env(work))
    assert " passed " in stage_lines(shown.stdout)["3a"]

    # .lab itself a link to a folder only root may write: nothing lands there
    rootonly = tmp_path / "root-only-dir"
    rootonly.mkdir(mode=0o700)
    shutil.rmtree(work / ".lab")
    (work / ".lab").symlink_to(rootonly)
    done = lab("check", "3a", work / "webserver3a.py", env=as_learner_env(work))
    assert done.returncode == 0, done.stderr
    assert "your progress is not recorded" in done.stderr and "Traceback" not in done.stderr
    assert list(rootonly.iterdir()) == []


# -- across containers --------------------------------------------------------------

IMAGE = os.environ.get("LAB_TEST_IMAGE", "lab3:latest")


@pytest.mark.timeout(900)
@pytest.mark.xdist_group("docker")     # one docker user at a time (as test_container.py)
def test_progress_survives_the_container(tmp_path):
    """`docker compose run --rm lab3` twice on the same work folder: the
    second container shows what the first one checked, and the record on
    the host belongs to the folder's owner."""
    if os.environ.get("LAB_IN_CONTAINER") == "1":
        pytest.skip("drives the container from the outside")
    require_docker(compose=True)
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True,
                      timeout=60).returncode != 0:
        unavailable("no image %s here: docker compose build lab3 (or set LAB_TEST_IMAGE)"
                    % IMAGE)
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(work, LEARNER, LEARNER)
    override = tmp_path / "compose.image.yaml"      # the image under test, never built here
    override.write_text("services:\n  lab3:\n    image: %s\n    pull_policy: never\n" % IMAGE)
    env = dict(os.environ, LAB_WORK_DIR=str(work))
    env.pop("LAB_IN_CONTAINER", None)

    def container(script):
        name = "lab3-progress-test-" + uuid.uuid4().hex[:12]
        try:
            return subprocess.run(
                ["docker", "compose", "-f", "compose.yaml", "-f", str(override), "run", "--rm",
                 "-T", "--name", name, "lab3", "bash", "-c", script],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=600)
        finally:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)

    first = container("cp /opt/lab3/labs/3a-iterative/webserver3a.py ~/work/ && "
                      "cp /opt/lab3/labs/3a-iterative/webserver3a.py ~/work/webserver3c.py && "
                      "cd ~/work && lab check 3a; lab check 3c; echo done")
    assert "done" in first.stdout, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Next: stage 3b" in first.stdout and "Next: fix `concurrent` first" in first.stdout
    second = container("lab progress")
    assert second.returncode == 0, second.stdout + second.stderr
    lines = stage_lines(second.stdout)
    assert " passed " in lines["3a"] and lines["3c"].endswith(": concurrent"), second.stdout
    assert "/home/learner/work/.lab/progress.json" in second.stdout
    record = work / ".lab" / "progress.json"
    owner = (work.stat().st_uid, work.stat().st_gid)
    assert (record.stat().st_uid, record.stat().st_gid) == owner
    assert (record.parent.stat().st_uid, record.parent.stat().st_gid) == owner
