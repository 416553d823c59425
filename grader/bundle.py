"""`lab gradescope-bundle`: Gradescope's autograder zip for one stage.

The zip follows https://gradescope-autograders.readthedocs.io/en/latest/specs/ :
at its root `setup.sh` (run once, as root, when Gradescope builds the image:
installs Python 3 with psutil and the tools the checks use, from Ubuntu's
packages only) and `run_autograder` (run once per submission: grades the one
server file in /autograder/submission with `lab check STAGE FOLDER --format
gradescope` and writes /autograder/results/results.json). Next to them: the
grader itself (grader/, labs/client3.py, labs/*/stage.toml) and the rubric, if one was given.

run_autograder always leaves a valid results.json, even when the grader
crashes, hangs past its bound or cannot even start: then score 0 and why.
AUTOGRADER_ROOT (default /autograder) lets a test run it in another folder
laid out the same way (source/, submission/, results/).
"""

import io
import shlex
import sys
import zipfile

from . import rubric as rubric_module
from . import userfiles
from .i18n import _
from .runner import TOTAL_SECONDS
from .stages import CLIENT3, DECLARATION, LABS_DIR, REPO_ROOT, STAGES, find_stage

PACKAGES = ("python3", "python3-psutil", "python3-pexpect", "curl", "procps",
            "util-linux", "iproute2")
SLACK_SECONDS = 60             # start-up and clean-up, on top of the grader's own bound
ZIP_DATE = (2020, 1, 1, 0, 0, 0)   # every entry: the same zip for the same input

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image
# (Ubuntu; choose 22.04 or newer). The grader needs Python 3.10+ with psutil
# and the tools its checks use: Ubuntu's packages, nothing from PyPI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends @PACKAGES@
# Python 3.10 has no tomllib (the rubric's TOML reader): tomli stands in.
if ! python3 -c 'import tomllib' 2>/dev/null; then
    apt-get install -y --no-install-recommends python3-tomli
fi
python3 - <<'EOF'
import sys
if sys.version_info < (3, 10):
    sys.exit("setup.sh: the grader needs Python 3.10 or newer, this image has %s: "
             "choose a newer Ubuntu base image" % sys.version.split()[0])
import psutil  # noqa: F401  (fails here, not at the first submission)
EOF
# The servers under test run as this unprivileged user (grader/identity.py).
if ! getent passwd labserver >/dev/null; then
    groupadd --gid 64123 labserver 2>/dev/null || true
    useradd --uid 64123 --gid 64123 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "lab servers under test" labserver || true
fi
echo "setup.sh: ready to grade stage @STAGE@ ($(python3 --version))"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission. It grades the one server file
# in submission/ for stage @STAGE@ and writes results/results.json --
# always, even when the grader itself fails. Made by `lab gradescope-bundle`.
# AUTOGRADER_ROOT (default /autograder) runs it in another folder laid out
# the same way (source/, submission/, results/).

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
SUBMISSION="$ROOT/submission"
RESULTS="$ROOT/results/results.json"
STAGE="@STAGE@"
MAX_SCORE="@MAX_SCORE@"
LIMIT="${LAB_TIME_LIMIT:-@LIMIT@}"       # seconds for it all, then Ctrl-C, then kill

mkdir -p "$ROOT/results"
rm -f "$RESULTS"
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

args=(check "$STAGE" "$SUBMISSION" --format gradescope --output "$RESULTS")
if [ -f "$SOURCE/rubric.toml" ]; then
    args+=(--rubric "$SOURCE/rubric.toml")
fi
pythonpath="$SOURCE"
if ! python3 -c 'import tomllib' 2>/dev/null; then
    pythonpath="$SOURCE/compat:$pythonpath"     # Python 3.10: tomli as tomllib
fi

cd "$SOURCE" || cd "$ROOT" || true
PYTHONPATH="$pythonpath" timeout --signal=INT --kill-after=15 "$LIMIT" \
    python3 -m grader "${args[@]}" 2>"$errors"
status=$?
cat "$errors" >&2
echo "run_autograder: lab check exited with status $status"

valid() {
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not (isinstance(d, dict) and "score" in d))' "$1" 2>/dev/null
}
if ! valid "$RESULTS"; then
    echo "run_autograder: the grader left no valid results.json; writing one with score 0" >&2
    python3 - "$RESULTS" "$status" "$errors" "$MAX_SCORE" "$LIMIT" <<'EOF' || true
import json, re, sys
path, status, errors, max_score, limit = sys.argv[1:6]
try:
    with open(errors, errors="replace") as f:
        tail = f.read().strip().splitlines()[-15:]
except OSError:
    tail = []
tail = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: "\\x%02x" % ord(m.group()),
              "\n".join(tail))
why = ("it ran past %s s" % limit if status in ("124", "137") else
       "it exited with status %s" % status)
text = ("The autograder could not grade this submission: %s. This is a problem with "
        "the autograder, not necessarily with your server: please tell your instructor."
        % why)
if tail:
    text += "\n\nThe grader's last words:\n" + tail
with open(path, "w") as f:
    json.dump({"score": 0, "output": text, "output_format": "text", "visibility": "visible",
               "tests": [{"name": "grading: the submission could not be graded",
                          "status": "failed", "score": 0,
                          "max_score": float(max_score) if "." in max_score else int(max_score),
                          "output": text, "output_format": "text",
                          "visibility": "visible"}]}, f, indent=2)
EOF
fi
if ! valid "$RESULTS"; then
    # Not even Python works: a fixed text.
    cat >"$RESULTS" <<'EOF'
{"score": 0, "output": "The autograder could not start (Python is missing or broken). Please tell your instructor.", "output_format": "text", "visibility": "visible", "tests": []}
EOF
fi
exit 0
"""

TOMLLIB_SHIM = '''"""tomllib for Python 3.10: tomli, from Ubuntu's python3-tomli (run_autograder
puts this folder on PYTHONPATH only when the standard library has no tomllib)."""
from tomli import TOMLDecodeError, load, loads  # noqa: F401
'''


def add_arguments(p):
    p.add_argument("--stage", default="3g", help=_("the stage to grade (default: 3g)"))
    p.add_argument("--output", "-o", default="autograder.zip", metavar="FILE",
                   help=_("the zip to write (default: autograder.zip)"))
    p.add_argument("--rubric", metavar="FILE", help=_("points per check (a TOML file)"))


def _grader_files():
    """(path in the zip, path on disk) of the grader package and its client."""
    package = REPO_ROOT / "grader"
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file() or path.suffix in (".pyc", ".pyo"):
            continue
        yield path.relative_to(REPO_ROOT).as_posix(), path
    yield CLIENT3.relative_to(REPO_ROOT).as_posix(), CLIENT3
    # the stage declarations (not the stages' servers nor their demos), and
    # the files they copy beside a server (the WSGI apps of stages 2 and 3h)
    for path in sorted(LABS_DIR.glob("*/" + DECLARATION)):
        yield path.relative_to(REPO_ROOT).as_posix(), path
    beside = dict.fromkeys(p for stage in STAGES.values() for p in stage.launch.files)
    for path in beside:                 # once each: two stages may copy the same app
        yield path.relative_to(REPO_ROOT).as_posix(), path


def _add(zf, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build(stage, output, rubric_path=None):
    """Write the zip; returns the names in it. Raises RubricError, OSError.
    The rubric is read, and the zip written, with the rights of whoever ran
    `lab` (grader/userfiles.py)."""
    rubric_data = rubric_module.read(rubric_path) if rubric_path else None
    points = rubric_module.parse(rubric_data, rubric_path) if rubric_path else {}
    max_score = sum(points.get(c, 1) for c in stage.required)
    max_score = int(max_score) if float(max_score).is_integer() else max_score
    fill = {"@STAGE@": stage.id, "@PACKAGES@": " ".join(PACKAGES),
            "@MAX_SCORE@": str(max_score), "@LIMIT@": str(int(TOTAL_SECONDS + SLACK_SECONDS))}

    def render(template):
        for key, value in fill.items():
            template = template.replace(key, value)
        return template

    names = []
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        _add(zf, "setup.sh", render(SETUP_SH), executable=True)
        _add(zf, "run_autograder", render(RUN_AUTOGRADER), executable=True)
        names += ["setup.sh", "run_autograder"]
        for name, path in _grader_files():
            _add(zf, name, path.read_bytes())
            names.append(name)
        _add(zf, "compat/tomllib.py", TOMLLIB_SHIM)
        names.append("compat/tomllib.py")
        if rubric_path:
            _add(zf, "rubric.toml", rubric_data)
            names.append("rubric.toml")
    userfiles.write_bytes(output, zipped.getvalue(), atomic=True)
    return names, max_score


def cmd_gradescope_bundle(args):
    """`lab gradescope-bundle`: exit status 0, or 2 with the reason."""
    stage = find_stage(args.stage)
    if stage is None:
        print("lab: unknown stage %r: choose one of %s" % (args.stage, ", ".join(STAGES)),
              file=sys.stderr)
        return 2
    try:
        names, max_score = build(stage, args.output, args.rubric)
    except rubric_module.RubricError as e:
        print("lab: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("lab: cannot write %s: %s" % (args.output, e.strerror or e), file=sys.stderr)
        return 2
    print("wrote %s: the Gradescope autograder for stage %s (%s: %s), %d files, "
          "worth %s points%s" % (args.output, stage.id, stage.id, stage.title, len(names),
                                 max_score, " (rubric %s)" % args.rubric if args.rubric else ""))
    print("On Gradescope: Programming Assignment > Configure Autograder > Zip file upload "
          "(base image: Ubuntu 22.04 or newer). Students hand in their server (%s)."
          % shlex.quote(stage.server.name))
    return 0
