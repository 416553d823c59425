"""Line endings from Windows: a learner's file saved with CRLF (or with the
UTF-8 BOM Notepad writes), and the lab cloned by Git for Windows
(core.autocrlf=true) or unpacked from a zip.

* compile_error and find_server: a CRLF or BOM+CRLF file reads like its LF
  twin, syntax errors on the same line as `python3 FILE` names;
* `lab check`: the 3a reference server in CRLF and BOM+CRLF gets the
  verdicts of the LF original (--only serves,closes: a few seconds);
* the container: the repository's committed HEAD cloned with
  core.autocrlf=true has LF in docker/ (.gitattributes), and its image
  builds and runs `lab list` and `lab check 3g`; a copy with CRLF forced
  into docker/* (no .gitattributes helps there) builds too (the Dockerfile
  strips CR). Plain `docker build`/`docker run` under a tag of their own
  (lab3-crlf-test:...), removed at the end; lab3:latest is left alone.
  These are skipped inside the container (LAB_IN_CONTAINER=1), and when
  git (the clone) or docker (the images) is missing, unless CI=true (then
  that is a failure). The clone takes what is committed: commit a change to
  the Dockerfile or docker/ before these test it. About a minute cold; the
  images, and with them the legacy builder's cache, go at the end.
"""

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from helpers import REFERENCES, REPO, STAGES, lab_json, verdicts
from grader.submission import compile_error, find_server
from requirements import require_docker, unavailable

# With pytest -n (.ci/run), the tests of a group run in one worker: builds or runs images: one docker user at a time.
pytestmark = pytest.mark.xdist_group("docker")

IN_CONTAINER = os.environ.get("LAB_IN_CONTAINER") == "1"

BOM = b"\xef\xbb\xbf"


def crlf(data: bytes) -> bytes:
    assert b"\r" not in data
    return data.replace(b"\n", b"\r\n")


def twins(folder, name, lf: bytes):
    """{"lf", "crlf", "bom+crlf": path}: the same source three ways, each in
    a folder of its own under the same file name."""
    paths = {}
    for kind, data in (("lf", lf), ("crlf", crlf(lf)), ("bom+crlf", BOM + crlf(lf))):
        path = folder / kind.replace("+", "-") / name
        path.parent.mkdir()
        path.write_bytes(data)
        paths[kind] = path
    return paths


# -- a learner's file --------------------------------------------------------

SYNTAX_ERRORS = {
    # (source, what the message must say)
    "invalid": (b"import socket\n\nHOST = ''\nPORT = 8888\ndef serve(:\n    pass\n",
                "line 5: invalid syntax"),
    # compile() of raw CRLF bytes said "detected at line 8" here
    "unterminated": (b"import socket\n\nHOST = ''\nPORT = 8888\nBODY = b'''HTTP/1.1 200 OK\n"
                     b"\nHello\n",
                     "line 5: unterminated triple-quoted string literal (detected at line 7)"),
    # and "line 6: invalid syntax" here
    "backslash": (b"import socket\n\nHOST = ''\nPORT = 8888\nx = 1 + \\\n",
                  "line 5: unexpected EOF while parsing"),
}


@pytest.mark.parametrize("case", sorted(SYNTAX_ERRORS))
def test_compile_error_names_the_same_line_in_crlf_and_bom_files(tmp_path, case):
    source, says = SYNTAX_ERRORS[case]
    paths = twins(tmp_path, "webserver3a.py", source)
    messages = {kind: compile_error(path) for kind, path in paths.items()}
    assert messages == {kind: says for kind in paths}
    # the line python3 itself names when the learner runs the file
    line = says.split(":")[0]
    for kind, path in paths.items():
        run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                             timeout=30)
        assert run.returncode == 1 and ", %s\n" % line in run.stderr, (kind, run.stderr)


def test_find_server_accepts_crlf_and_bom_files(tmp_path):
    stage = STAGES["3a"]
    paths = twins(tmp_path, "webserver3a.py", REFERENCES["3a"].read_bytes())
    for kind, path in paths.items():
        assert find_server(path, stage) == path, kind
        assert find_server(path.parent, stage) == path, kind    # the folder form
        assert compile_error(path) is None, kind


def test_crlf_and_bom_servers_get_the_verdicts_of_the_lf_original(tmp_path):
    paths = twins(tmp_path, "webserver3a.py", REFERENCES["3a"].read_bytes())
    seen = {}
    for kind, path in paths.items():
        status, report, stderr = lab_json("check", "3a", path, "--only", "serves,closes",
                                          timeout=120)
        seen[kind] = (status, [(c["id"], c["status"]) for c in report["checks"]])
        assert report["status"] == "pass", (kind, report, stderr[-2000:])
    assert seen["lf"] == (0, [("serves", "pass"), ("closes", "pass")])
    assert seen["crlf"] == seen["lf"]
    assert seen["bom+crlf"] == seen["lf"]
    assert set(verdicts(report)) == {"serves", "closes"}


# -- the container, from a Windows checkout ----------------------------------

BASE_IMAGE = os.environ.get("LAB_BASE_IMAGE", "debian:bookworm-slim")
TAG_PREFIX = "lab3-crlf-test:"
# the files the image copies from docker/ (and runs, or hands to visudo)
IMAGE_FILES = ("docker/entrypoint.sh", "docker/lab", "docker/lab-as-root",
               "docker/sudoers", "docker/welcome.txt", "docker/profile.sh")

from_outside = pytest.mark.skipif(IN_CONTAINER, reason="tests the image from the outside")


def _docker(*args, timeout, check=True):
    done = subprocess.run(["docker", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, ("docker %s: exit %d\n%s\n%s" % (
            " ".join(args), done.returncode, done.stdout[-3000:], done.stderr[-3000:]))
    return done


@pytest.fixture(scope="module")
def builder():
    """build(context) -> a tag of its own; the images go at the end."""
    require_docker()
    base = subprocess.run(["bash", "docker/build-base-image.sh"], cwd=REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=1800)
    if base.returncode != 0:
        unavailable("no base image (docker/build-base-image.sh failed): "
                     + base.stderr[-2000:])
    tags = []

    def build(context):
        tag = TAG_PREFIX + uuid.uuid4().hex[:12]
        tags.append(tag)
        _docker("build", "--build-arg", "BASE_IMAGE=" + BASE_IMAGE,
                "-t", tag, str(context), timeout=1800)
        return tag

    yield build
    for tag in tags:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


def run_in(tag, *command, root=True, timeout=120):
    """`docker run --rm` COMMAND in the image, as compose.yaml's services do
    (--init, --pids-limit 4096, SYS_PTRACE); removed even on a timeout."""
    name = "lab3-crlf-test-" + uuid.uuid4().hex[:12]
    argv = ["run", "--rm", "--name", name, "--init", "--pids-limit", "4096",
            "--cap-add", "SYS_PTRACE"]
    if root:
        argv += ["-e", "LAB_RUN_AS=root"]
    try:
        return _docker(*argv, tag, *command, timeout=timeout, check=False)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def windows_clone(tmp_path_factory):
    """The committed HEAD of this repository, cloned as Git for Windows does
    by default (core.autocrlf=true)."""
    if shutil.which("git") is None:
        unavailable("git is not installed")
    if not (REPO / ".git").exists():
        unavailable("%s is not a git checkout" % REPO)
    clone = tmp_path_factory.mktemp("crlf") / "lab3"
    done = subprocess.run(["git", "clone", "-q", "-c", "core.autocrlf=true", str(REPO),
                           str(clone)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    setting = subprocess.run(["git", "-C", str(clone), "config", "core.autocrlf"],
                             capture_output=True, text=True, timeout=30)
    assert setting.stdout.strip() == "true"
    return clone


@from_outside
def test_a_windows_clone_has_lf_where_the_container_needs_it(windows_clone):
    for name in IMAGE_FILES + ("Dockerfile", ".dockerignore"):
        assert b"\r" not in (windows_clone / name).read_bytes(), name
    for path in sorted((windows_clone / "docker").glob("*.sh")):
        assert b"\r" not in path.read_bytes(), path.name


@from_outside
def test_the_image_of_a_windows_clone_builds_and_grades(windows_clone, builder):
    tag = builder(windows_clone)
    listed = run_in(tag, "lab", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "3g" in listed.stdout
    checked = run_in(tag, "lab", "check", "3g",
                     "/opt/lab3/labs/3g-waitpid-loop/webserver3g.py", timeout=600)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]


@from_outside
def test_docker_files_with_crlf_still_make_a_working_image(windows_clone, builder, tmp_path):
    """A zip download, or files re-saved by a Windows editor: CRLF in docker/*
    whatever .gitattributes says. The Dockerfile strips it."""
    tree = tmp_path / "lab3"
    shutil.copytree(windows_clone, tree, ignore=shutil.ignore_patterns(".git"))
    for path in sorted((tree / "docker").iterdir()):
        path.write_bytes(crlf(path.read_bytes()))
    for name in IMAGE_FILES:
        assert b"\r\n" in (tree / name).read_bytes(), name
    tag = builder(tree)                         # visudo -cf passes
    for root in (True, False):                  # as the learner: through sudo
        listed = run_in(tag, "lab", "list", root=root)
        assert listed.returncode == 0, (root, listed.stdout + listed.stderr)
        assert "3g" in listed.stdout
