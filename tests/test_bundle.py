"""`lab gradescope-bundle`: the zip Gradescope builds its autograder from,
and its run_autograder, run here in a folder laid out like /autograder
(AUTOGRADER_ROOT): results.json is valid Gradescope output for a good
server, a broken one, an empty submission, a grader that crashes and one
that runs out of time.

Specification: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from helpers import REFERENCES, REPO, lab
from grader.stages import STAGES
from requirements import require, require_docker, unavailable

jsonschema = require("jsonschema")

# With pytest -n (.ci/run), the tests of a group run in one worker: builds or runs images: one docker user at a time.
pytestmark = pytest.mark.xdist_group("docker")

SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (Path(__file__).resolve().parent / "schemas" / "gradescope-results.schema.json").read_text()))
RUBRIC = REPO / "rubric.example.toml"
# What the example rubric makes stage 3g worth: its points for 3g's required
# checks, 1 for a check it does not name (rubric.example.toml says so).
REQUIRED = STAGES["3g"].required
POINTS = tomllib.loads(RUBRIC.read_text())["points"]
MAX_SCORE = sum(POINTS.get(c, 1) for c in REQUIRED)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The zip for stage 3g with the example rubric (MAX_SCORE points)."""
    path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    done = lab("gradescope-bundle", "--stage", "3g", "--output", path, "--rubric", RUBRIC)
    assert done.returncode == 0, done.stderr
    worth = re.search(r"worth (\S+) points \(rubric (.*)\)$", done.stdout.splitlines()[0])
    assert worth and worth.group(2) == str(RUBRIC), done.stdout
    assert float(worth.group(1)) == MAX_SCORE, done.stdout
    return path


def autograder(bundle, root):
    """Unpack the zip the way Gradescope does: source/ holds the zip's
    contents, run_autograder is copied next to it, submission/ is the
    student's upload, results/ is where results.json goes."""
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            zf.extract(info, root / "source")
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, stat.S_IMODE(mode))
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


def run_autograder(root, env=None, timeout=300):
    done = subprocess.run([str(root / "run_autograder")], cwd=root, timeout=timeout,
                          env=dict(os.environ, AUTOGRADER_ROOT=str(root), **(env or {})),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    SCHEMA.validate(results)
    return results, done


def test_the_zip_has_what_gradescope_needs(bundle):
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    # At the root of the archive, executable, with a #! line.
    for script, text in (("setup.sh", setup), ("run_autograder", run)):
        assert text.startswith("#!/usr/bin/env bash\n")
        assert (infos[script].external_attr >> 16) & 0o111
        subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    for package in ("python3", "python3-psutil", "python3-pexpect", "curl", "procps",
                    "util-linux", "iproute2"):
        assert package in setup.split("apt-get install")[1].split("\n")[0]
    assert not re.search(r"\bpip3? install", setup)
    # The grader, all of it, and nothing it does not need.
    package = {p.relative_to(REPO).as_posix() for p in (REPO / "grader").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert package <= set(infos)
    assert "labs/client3.py" in infos and "rubric.toml" in infos
    assert not [n for n in infos if "__pycache__" in n or n.endswith(".pyc")]
    # of labs/, the load client, the stage declarations and the files they
    # copy beside a server (WSGI apps) only: no reference server
    beside = {p.relative_to(REPO).as_posix() for st in STAGES.values() for p in st.launch.files}
    assert "labs/2-wsgi-server/flaskapp.py" in beside <= set(infos)
    assert not [n for n in infos if n.startswith("labs/") and n != "labs/client3.py"
                and not n.endswith("/stage.toml") and n not in beside]
    assert "labs/3g-waitpid-loop/stage.toml" in infos
    assert 'STAGE="3g"' in run
    assert float(re.search(r'MAX_SCORE="([^"]*)"', run).group(1)) == MAX_SCORE


def test_a_bad_rubric_writes_no_zip(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text("[points]\nserves = -1\n")
    done = lab("gradescope-bundle", "--output", tmp_path / "a.zip", "--rubric", bad)
    assert done.returncode == 2 and "serves" in done.stderr
    assert not (tmp_path / "a.zip").exists()
    done = lab("gradescope-bundle", "--stage", "3z", "--output", tmp_path / "a.zip")
    assert done.returncode == 2 and "unknown stage" in done.stderr


def test_the_reference_server_gets_full_marks(bundle, tmp_path):
    root = autograder(bundle, tmp_path / "autograder")
    shutil.copy(REFERENCES["3g"], root / "submission" / "webserver3g.py")
    results, done = run_autograder(root)
    assert results["score"] == MAX_SCORE, results["output"]
    assert [t["status"] for t in results["tests"]] == ["passed"] * len(REQUIRED)
    assert sum(t["max_score"] for t in results["tests"]) == MAX_SCORE
    assert {t["name"].split(":")[0]: t["max_score"] for t in results["tests"]}["reaps-burst"] == 2.5
    assert "%d of %d required checks pass" % (len(REQUIRED), len(REQUIRED)) in done.stdout


def test_a_broken_server_gets_zero_and_why(bundle, tmp_path):
    root = autograder(bundle, tmp_path / "autograder")
    (root / "submission" / "server.py").write_text("import socket\nwhile True print('\x1b[2J')\n")
    results, _ = run_autograder(root)
    assert results["score"] == 0
    serves = results["tests"][0]
    assert serves["status"] == "failed" and "does not compile" in serves["output"]
    assert all(t["status"] == "failed" for t in results["tests"])


def test_an_empty_submission_gets_zero_and_why(bundle, tmp_path):
    root = autograder(bundle, tmp_path / "autograder")
    (root / "submission" / "README.txt").write_text("oops, forgot the server")
    results, _ = run_autograder(root)
    assert results["score"] == 0 and "no .py file" in results["output"]
    assert results["tests"][0]["max_score"] == MAX_SCORE


def test_a_crashing_grader_still_writes_results(bundle, tmp_path):
    root = autograder(bundle, tmp_path / "autograder")
    shutil.copy(REFERENCES["3g"], root / "submission" / "webserver3g.py")
    (root / "source" / "grader" / "cli.py").unlink()
    results, _ = run_autograder(root)
    assert results["score"] == 0
    assert "exited with status 1" in results["output"] and "grader.cli" in results["output"]
    assert results["tests"][0]["max_score"] == MAX_SCORE


def test_a_grader_out_of_time_still_writes_results(bundle, tmp_path):
    """A submission that cannot be graded within the limit whatever the
    machine's speed: it accepts and never answers, so `serves` alone waits
    5 s for its answer, past the 3 s limit (and the grader gets to its
    Ctrl-C handler well within 3 s)."""
    root = autograder(bundle, tmp_path / "autograder")
    shutil.copy(REPO / "tests" / "hostile" / "accepts_no_answer.py",
                root / "submission" / "webserver3g.py")
    results, done = run_autograder(root, env={"LAB_TIME_LIMIT": "3"})
    # timeout(1) ended it: SIGINT at 3 s, status 124
    assert "lab check exited with status 124" in done.stdout, done.stdout + done.stderr
    # the grader's own results, from its Ctrl-C handler (not run_autograder's stand-in)
    assert "interrupted (Ctrl-C)" in results["output"], results["output"]
    assert "could not grade this submission" not in results["output"]
    assert results["score"] == 0
    assert results["extra_data"]["status"] == "error"


# python3-tomli, as far as the test goes: the standard library's own parser
# under another name (loaded from its files: `import tomllib` here would find
# compat/tomllib.py), counting its calls. A real parser, so that a shim that
# hands it the wrong text, or a rubric that says otherwise, gives another result.
TOMLI_STAND_IN = """\
import importlib.util, os, sys, sysconfig
_dir = os.path.join(sysconfig.get_paths()["stdlib"], "tomllib")
_spec = importlib.util.spec_from_file_location(
    "_stdlib_tomllib", os.path.join(_dir, "__init__.py"), submodule_search_locations=[_dir])
_real = importlib.util.module_from_spec(_spec)
sys.modules["_stdlib_tomllib"] = _real
_spec.loader.exec_module(_real)
TOMLDecodeError = _real.TOMLDecodeError
CALLS = []

def loads(text, **kwargs):
    CALLS.append("loads")
    return _real.loads(text, **kwargs)

def load(f, **kwargs):
    CALLS.append("load")
    return _real.load(f, **kwargs)
"""

READ_RUBRICS = """\
import json, sys, tomllib, tomli, grader.rubric as r

seen = {"tomllib": tomllib.__file__, "tomli": tomli.__file__, "points": []}
for path in sys.argv[1:]:
    try:
        seen["points"].append(r.load(path))
    except r.RubricError as e:
        seen["points"].append("RubricError: %s" % e)
seen["calls"] = len(tomli.CALLS)
print(json.dumps(seen))
"""


def test_tomllib_stand_in_for_python_3_10(bundle, tmp_path):
    """Ubuntu 22.04's Python 3.10 has no tomllib: run_autograder puts
    compat/ first on PYTHONPATH, where tomllib is python3-tomli."""
    root = autograder(bundle, tmp_path / "autograder")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "tomli.py").write_text(TOMLI_STAND_IN)
    other = tmp_path / "other.toml"
    other.write_text("[points]\nserves = 7\nreaps-burst = 0.5\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("[points\nserves = 7\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(root / "source" / "compat"), str(fake), str(root / "source")]))
    done = subprocess.run(
        ["python3", "-c", READ_RUBRICS, str(root / "source" / "rubric.toml"), str(other),
         str(broken)], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["tomllib"] == str(root / "source" / "compat" / "tomllib.py")
    assert seen["tomli"] == str(fake / "tomli.py")
    assert seen["calls"] >= 3                       # every rubric went through tomli
    bundled, custom, bad = seen["points"]
    assert bundled == tomllib.loads(RUBRIC.read_text())["points"]
    assert bundled["reaps-burst"] == 2.5
    assert custom == {"serves": 7, "reaps-burst": 0.5}
    # tomli's TOMLDecodeError is the shim's: the rubric reader turns it into its message
    assert bad.startswith("RubricError: the rubric %s is not valid TOML" % broken), bad


# -- setup.sh, run for real in a throwaway Debian container --------------------

BASE_IMAGE = os.environ.get("LAB_BASE_IMAGE", "debian:bookworm-slim")   # as compose.yaml


def _docker_base_image():
    """The Debian image the lab's image is built from, present here (skip
    inside the lab container, which has no docker; unavailable() without)."""
    if os.environ.get("LAB_IN_CONTAINER") == "1":
        pytest.skip("runs a container from the outside: not inside the lab container")
    require_docker()
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True,
                      timeout=60).returncode != 0:
        unavailable("no %s image here: bash docker/build-base-image.sh" % BASE_IMAGE)
    return BASE_IMAGE


def _apt_sources_mounts(tmp_path):
    """docker -v options that give the container this machine's apt sources
    (read now, from /etc/apt/sources.list and sources.list.d/), in place of
    the image's own, when they are for bookworm as the image is: the
    container's apt then uses the mirror this machine uses. None such: the
    image's own sources stay."""
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text("")
    found = False
    candidates = [(Path("/etc/apt/sources.list"), apt / "sources.list")] + [
        (path, apt / "sources.list.d" / path.name)
        for path in sorted(Path("/etc/apt/sources.list.d").glob("*"))
        if path.suffix in (".list", ".sources")]
    for path, copy in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        if re.search(r"(?m)^[^#]*\bbookworm\b", text):
            copy.write_text(text)
            found = True
    if not found:
        return []
    return ["-v", "%s:/etc/apt/sources.list:ro" % (apt / "sources.list"),
            "-v", "%s:/etc/apt/sources.list.d:ro" % (apt / "sources.list.d")]


def _docker_run(image, argv, mounts, timeout, cap_add=()):
    name = "lab3-bundle-test-%d" % os.getpid()
    command = ["docker", "run", "--rm", "--name", name] + \
        ["--cap-add=%s" % c for c in cap_add] + mounts + [image] + argv
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("the container did not end within %d s" % timeout)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


IN_THE_CONTAINER = r"""
set -u
if ! apt-get update -q >/tmp/apt-probe 2>&1; then
    echo "NO-MIRROR"; tail -5 /tmp/apt-probe; exit 97
fi
bash /autograder/source/setup.sh >/tmp/setup.log 2>&1
echo "setup-status=$?"
tail -3 /tmp/setup.log
python3 -c 'import sys, psutil, pexpect, tomllib; print("python-ok", sys.version_info >= (3, 10))'
for tool in curl ps ip setpriv; do command -v "$tool" >/dev/null && echo "tool-ok $tool"; done
echo "labserver=$(getent passwd labserver | cut -d: -f3)"
cp /autograder/source/run_autograder /autograder/run_autograder
cp /reference/webserver3g.py /autograder/submission/
/autograder/run_autograder >/tmp/run.log 2>&1
echo "run-status=$?"
echo "RESULTS"
cat /autograder/results/results.json
"""


@pytest.mark.timeout(900)
def test_setup_sh_prepares_a_bare_debian_to_grade(bundle, tmp_path):
    """setup.sh on a bare Debian (what Gradescope's Ubuntu base gives it):
    installs what the grader needs, creates labserver, and run_autograder
    then grades the reference server there. Needs a Debian mirror (this
    machine's apt sources). The grader reads the servers' /proc/PID/fd as
    root: the container gets SYS_PTRACE, as compose.yaml's do."""
    image = _docker_base_image()
    source = tmp_path / "source"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(source)
    for script in ("setup.sh", "run_autograder"):
        (source / script).chmod(0o755)
    mounts = ["-v", "%s:/autograder/source:ro" % source,
              "-v", "%s:/reference:ro" % REFERENCES["3g"].parent] + _apt_sources_mounts(tmp_path)
    done = _docker_run(image, ["bash", "-c", "mkdir -p /autograder/submission; "
                               + IN_THE_CONTAINER], mounts, timeout=840,
                       cap_add=["SYS_PTRACE"])
    if done.returncode == 97 and "NO-MIRROR" in done.stdout:
        unavailable("no Debian mirror reachable from a container: " + done.stdout[-500:])
    report, _, results = done.stdout.partition("RESULTS\n")
    assert "setup-status=0" in report, done.stdout[-3000:] + done.stderr[-2000:]
    assert "setup.sh: ready to grade stage 3g (Python 3." in report
    assert "python-ok True" in report
    for tool in ("curl", "ps", "ip", "setpriv"):
        assert "tool-ok %s" % tool in report, report
    assert "labserver=64123" in report
    assert "run-status=0" in report
    data = json.loads(results)
    SCHEMA.validate(data)
    # What setup.sh answers for: the grading ran to its end there (no check
    # "error": the grader could do its job; none left unrun), and the
    # reference served. (Its full marks are the grader's business: see
    # test_the_reference_server_gets_full_marks.)
    assert "extra_data" in data, data["output"]     # else: run_autograder's stand-in
    assert data["extra_data"]["status"] in ("pass", "fail"), data["output"]
    checks = {t["extra_data"]["check"]: t["extra_data"]["status"] for t in data["tests"]}
    assert list(checks) == list(REQUIRED), data["output"]
    assert "error" not in checks.values() and "skip" not in checks.values(), checks
    assert checks["serves"] == "pass", data["output"]
    print("graded in the container: %s/%s %s" % (data["score"], MAX_SCORE, checks))


STUBS = {
    # records its arguments; installs nothing
    "apt-get": '#!/bin/sh\necho "apt-get $*" >>/steps.log\n',
    # a Python 3.10 without tomllib; "-" is setup.sh's version check (stdin)
    "python3": """#!/bin/sh
case "$1" in
  -c) echo "python3 -c $2" >>/steps.log
      case "$2" in *tomllib*) exit 1;; esac; exit 0;;
  -) cat >/tmp/version-check.py; echo "python3 - (version check)" >>/steps.log
     grep -q 'sys.version_info < (3, 10)' /tmp/version-check.py || exit 3
     exit "${STUB_PYTHON_CHECK:-0}";;
  --version) echo "Python 3.10.12";;
esac
""",
}


@pytest.mark.parametrize("python_ok", [True, False], ids=["python3.10", "python-too-old"])
def test_setup_sh_steps_offline(bundle, tmp_path, python_ok):
    """The steps setup.sh takes, with apt-get and python3 stubbed on PATH (no
    mirror needed): update, then the packages, then python3-tomli where
    tomllib is missing; labserver is created; a failing version check stops
    it (set -e)."""
    image = _docker_base_image()
    source = tmp_path / "source"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(source, members=["setup.sh"])
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    script = ("touch /steps.log; PATH=/stubs:$PATH STUB_PYTHON_CHECK=%d bash /source/setup.sh; "
              "echo \"setup-status=$?\"; echo \"labserver=$(getent passwd labserver)\"; "
              "echo STEPS; cat /steps.log" % (0 if python_ok else 1))
    done = _docker_run(image, ["bash", "-c", script],
                       ["-v", "%s:/source:ro" % source, "-v", "%s:/stubs:ro" % stubs],
                       timeout=120)
    report, _, steps = done.stdout.partition("STEPS\n")
    packages = " ".join(("python3", "python3-psutil", "python3-pexpect", "curl", "procps",
                         "util-linux", "iproute2"))
    expected = ["apt-get update",
                "apt-get install -y --no-install-recommends " + packages,
                "python3 -c import tomllib",
                "apt-get install -y --no-install-recommends python3-tomli",
                "python3 - (version check)"]
    assert steps.splitlines() == expected, done.stdout + done.stderr
    if python_ok:
        assert "setup-status=0" in report, done.stdout + done.stderr
        assert "setup.sh: ready to grade stage 3g (Python 3.10.12)" in report
        assert re.search(r"labserver=labserver:x:64123:64123:", report), report
    else:
        assert "setup-status=1" in report, done.stdout + done.stderr
        assert "labserver=\n" in report          # stopped before it
