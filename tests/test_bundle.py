"""`lab gradescope-bundle`: the zip Gradescope builds its autograder from,
and its run_autograder, run here in a folder laid out like /autograder
(AUTOGRADER_ROOT): results.json is valid Gradescope output for a good
server, a broken one, an empty submission, a grader that crashes and one
that runs out of time.

Specification: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

import importlib
import json
import os
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from helpers import REFERENCES, REPO, lab


def _require(name):
    """A test dependency (requirements-dev.txt): on CI its absence fails the
    run, elsewhere it skips this module."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("%s is missing: pip install -r requirements-dev.txt" % name,
                    allow_module_level=True)


jsonschema = _require("jsonschema")

SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (Path(__file__).resolve().parent / "schemas" / "gradescope-results.schema.json").read_text()))
RUBRIC = REPO / "rubric.example.toml"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The zip for stage 3g with the example rubric (11 points)."""
    path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    done = lab("gradescope-bundle", "--stage", "3g", "--output", path, "--rubric", RUBRIC)
    assert done.returncode == 0, done.stderr
    assert "11" in done.stdout
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
    assert not [n for n in infos if n.startswith("labs/") and n != "labs/client3.py"]
    assert 'STAGE="3g"' in run and 'MAX_SCORE="11' in run


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
    assert results["score"] == 11, results["output"]
    assert [t["status"] for t in results["tests"]] == ["passed"] * 8
    assert sum(t["max_score"] for t in results["tests"]) == 11
    assert {t["name"].split(":")[0]: t["max_score"] for t in results["tests"]}["reaps-burst"] == 2.5
    assert "8 of 8 required checks pass" in done.stdout      # Gradescope's stdout log


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
    assert results["tests"][0]["max_score"] == 11


def test_a_crashing_grader_still_writes_results(bundle, tmp_path):
    root = autograder(bundle, tmp_path / "autograder")
    shutil.copy(REFERENCES["3g"], root / "submission" / "webserver3g.py")
    (root / "source" / "grader" / "cli.py").unlink()
    results, _ = run_autograder(root)
    assert results["score"] == 0
    assert "exited with status 1" in results["output"] and "grader.cli" in results["output"]
    assert results["tests"][0]["max_score"] == 11


def test_a_grader_out_of_time_still_writes_results(bundle, tmp_path):
    root = autograder(bundle, tmp_path / "autograder")
    shutil.copy(REFERENCES["3g"], root / "submission" / "webserver3g.py")
    results, _ = run_autograder(root, env={"LAB_TIME_LIMIT": "2"})
    assert results["score"] == 0 and "interrupted" in results["output"]


def test_tomllib_stand_in_for_python_3_10(bundle, tmp_path):
    """Ubuntu 22.04's Python 3.10 has no tomllib: run_autograder puts
    compat/ first on PYTHONPATH, where tomllib is python3-tomli."""
    root = autograder(bundle, tmp_path / "autograder")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "tomli.py").write_text(
        "class TOMLDecodeError(ValueError):\n    pass\n"
        "def loads(text):\n    return {'points': {'serves': 5}}\n"
        "def load(f):\n    return loads(f.read())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(root / "source" / "compat"), str(fake), str(root / "source")]))
    done = subprocess.run(
        ["python3", "-c", "import tomllib, grader.rubric as r; print(tomllib.__file__); "
         "print(r.load(%r))" % str(root / "source" / "rubric.toml")],
        env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "compat" in done.stdout and "{'serves': 5}" in done.stdout
