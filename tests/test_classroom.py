"""GitHub Classroom: `--format classroom` and `--github-output`, read the way
classroom-resources/autograding-grading-reporter reads them, and the
example workflow (examples/github-classroom/) run step by step.

What the reporter does, from its source (src/main.js,
src/notify-classroom.js, src/console-results.js,
src/helpers/test-helpers.js), restated here in Python:
- a runner's result is the environment variable <RUNNER UPPER-CASED>_RESULTS,
  base64 of UTF-8 JSON;
- the points Classroom records: the sum of every test's `score` over the
  runners that have a max_score, out of the sum of their max_score;
- its summary table: per runner (tests with status pass / tests) * max_score;
- the workflow fails when a runner's status is fail or error.
The fields themselves: tests/schemas/classroom-result.schema.json, from the
command grader's generateResult.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from helpers import REFERENCES, REPO, lab
from requirements import require

from grader.formats import FORMATS, classroom
from grader.stages import STAGES
from verdicts import PART3

# The example assignment is Part 3's: stages 3a ... 3g, one step each.
ASSIGNMENT = sorted(PART3)
from test_formats import NASTY, errored_with_checks, failing, not_graded, passing

# With pytest -n (.ci/run): the real gradings here may use the host's port 8888 (not root).
pytestmark = pytest.mark.xdist_group("host-port-8888")

jsonschema = require("jsonschema")
SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (REPO / "tests" / "schemas" / "classroom-result.schema.json").read_text()))
RUBRIC = REPO / "rubric.example.toml"
POINTS = tomllib.loads(RUBRIC.read_text())["points"]
WORKFLOW = REPO / "examples" / "github-classroom" / ".github" / "workflows" / "classroom.yml"
ENV_LIMIT = 128 * 1024          # Linux: MAX_ARG_STRLEN, one environment string


def stage_points(stage_id, passed=None):
    """What the example rubric makes a stage worth (or the checks in `passed`)."""
    return sum(POINTS.get(c, 1) for c in STAGES[stage_id].required
               if passed is None or c in passed)


# -- the reporter, restated ----------------------------------------------------

def reporter_reads(environ, runners):
    """[(runner, results)] as the reporter's main.js decodes them; each
    validated against the fields the reporter and the command grader use."""
    found = []
    for runner in runners.split(","):
        encoded = environ["%s_RESULTS" % runner.strip().upper()]
        results = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
        SCHEMA.validate(results)
        found.append((runner.strip(), results))
    return found


def classroom_points(runner_results):
    """notify-classroom.js: (total points, max points)."""
    total = maximum = 0
    for _, results in runner_results:
        if not results.get("max_score"):
            continue
        maximum += results["max_score"]
        total += sum(t["score"] for t in results["tests"])
    return total, maximum


def table_score(results):
    """test-helpers.js getTestScore: the summary table's score of a runner."""
    passed = sum(t["status"] == "pass" for t in results["tests"])
    return passed / len(results["tests"]) * (results.get("max_score") or 0)


def workflow_fails(runner_results):
    return any(r["status"] in ("fail", "error") for _, r in runner_results)


def github_output_values(path):
    """The `name=value` lines of a $GITHUB_OUTPUT file, as Actions parses them."""
    values = {}
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition("=")
        values[name] = value
    return values


# -- the format --------------------------------------------------------------

def test_every_in_memory_report_is_what_the_reporter_reads():
    for make in (passing, failing, errored_with_checks, not_graded):
        report = make()
        text = FORMATS["classroom"]([report], single=True)
        results = json.loads(text)
        SCHEMA.validate(results)
        assert results["status"] == ("pass" if report.status == "pass" else
                                     "fail" if report.status == "fail" else "error")
        [(_, decoded)] = reporter_reads({"X_RESULTS": classroom.encoded(report)}, "x")
        assert decoded == results                         # the base64 round trip
    batch = json.loads(FORMATS["classroom"]([passing(), not_graded()], single=False))
    for entry in batch["submissions"]:
        SCHEMA.validate(entry["results"])


def test_only_required_checks_count_and_points_come_from_the_rubric():
    results = classroom.results(failing())        # serves 2.5, reaps 3 (failed), closes 1
    names = [t["name"].split(" ")[0] for t in results["tests"]]
    assert names == ["serves", "reaps", "closes"]   # reaps-burst: not required here
    assert results["max_score"] == 6.5
    assert [t["score"] for t in results["tests"]] == [2.5, 0, 0]
    assert results["tests"][0]["name"].startswith("serves (2.5 points): ")
    assert classroom_points([("x", results)]) == (2.5, 6.5)


def test_message_and_hint_reach_the_student():
    """The reporter prints test_code for every test and message for status
    error only: a failure's message and hint are in both."""
    reaps = classroom.results(failing())["tests"][1]
    assert reaps["status"] == "fail"
    for field in ("message", "test_code"):
        assert "zombie" in reaps[field] and "hint: hint" in reaps[field]
        assert "\x1b" not in reaps[field] and "\\x1b[31m" in reaps[field]   # escaped
    assert "try it by hand" in reaps["test_code"]
    assert reaps["line_no"] == 0          # else the reporter prints "- line <n>"


def test_not_graded_is_one_error_test_with_the_reason():
    results = classroom.results(not_graded())
    [test] = results["tests"]
    assert results["status"] == test["status"] == "error"
    assert "no such file or folder" in test["message"] and test["score"] == 0
    assert results["max_score"] == 4 + len(STAGES["3f"].required) - 1
    # a grading that did not complete scores nothing, whatever passed before
    assert classroom_points([("x", classroom.results(errored_with_checks()))]) == (0, 2)


def test_the_base64_stays_within_one_environment_variable():
    report = failing()
    for check in report.checks:
        check.message = check.hint = check.reproduce = NASTY * 2000
    report.submission = "/x/" + "y" * 100000
    encoded = classroom.encoded(report)
    assert len(encoded) < ENV_LIMIT
    [(_, results)] = reporter_reads({"X_RESULTS": encoded}, "x")
    assert results["tests"][1]["message"].endswith("[... cut here]")


# -- through the lab command ---------------------------------------------------

def test_github_output_appends_the_result(tmp_path):
    """A real grading: 3f's reference at 3g with the example rubric fails
    only reaps-burst (2.5 points). The reporter's points equal the JSON
    report's score; its table shows the pass fraction of 12 instead."""
    output = tmp_path / "github_output"
    output.write_text("earlier=kept\n")
    report_file = tmp_path / "report.json"
    done = lab("check", "3g", REFERENCES["3f"], "--rubric", RUBRIC, "--output", report_file,
               "--github-output", env={"GITHUB_OUTPUT": str(output)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "3g:" in done.stdout                            # the human text stays in the log
    values = github_output_values(output)
    assert values["earlier"] == "kept"
    runners = reporter_reads({"STAGE3G_RESULTS": values["result"]}, "stage3g")
    report = json.loads(report_file.read_text())
    assert classroom_points(runners) == (report["score"], report["max_score"])
    assert report["max_score"] == stage_points("3g") == 12
    assert report["score"] == 12 - POINTS["reaps-burst"]
    assert workflow_fails(runners)
    results = runners[0][1]
    assert table_score(results) == pytest.approx(12 * 8 / 9)     # not the rubric's 9.5
    burst = [t for t in results["tests"] if t["name"].startswith("reaps-burst")]
    assert burst[0]["status"] == "fail" and "waitpid" in burst[0]["test_code"]


def test_format_classroom_in_a_step_feeds_the_reporter_too(tmp_path):
    output = tmp_path / "github_output"
    done = lab("check", "3a", tmp_path / "missing.py", "--format", "classroom",
               env={"GITHUB_OUTPUT": str(output)})
    assert done.returncode == 2
    printed = json.loads(done.stdout)
    SCHEMA.validate(printed)
    [(_, results)] = reporter_reads({"A_RESULTS": github_output_values(output)["result"]}, "a")
    assert results == printed and results["status"] == "error"
    assert results["max_score"] == len(STAGES["3a"].required)


@pytest.mark.parametrize("argv, says", [
    (["check", "3z", "x.py", "--github-output"], "unknown stage"),
    (["check", "3a", "x.py", "--github-output", "--bogus"], "unrecognized arguments"),
    (["check", "3a", "x.py", "--github-output", "--rubric", "/no/rubric.toml"],
     "cannot read the rubric"),
])
def test_usage_errors_still_feed_the_reporter(argv, says, tmp_path):
    output = tmp_path / "github_output"
    done = lab(*argv, env={"GITHUB_OUTPUT": str(output)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [(_, results)] = reporter_reads({"A_RESULTS": github_output_values(output)["result"]}, "a")
    assert results["status"] == "error" and says in results["tests"][0]["message"]


def test_github_output_outside_actions_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"}
    done = subprocess.run(["python3", "-m", "grader", "check", "3a", str(REFERENCES["3a"]),
                           "--github-output"], cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "GITHUB_OUTPUT is not set" in done.stderr
    assert "Traceback" not in done.stderr
    done = lab("check", "3a", REFERENCES["3a"], "--github-output",
               env={"GITHUB_OUTPUT": str(tmp_path / "no" / "such" / "dir" / "out")})
    assert done.returncode == 2 and "cannot append to GITHUB_OUTPUT" in done.stderr
    assert "Traceback" not in done.stderr


# -- the example workflow -------------------------------------------------------

def workflow():
    yaml = require("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def grading_steps(flow):
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    return [s for s in steps if "grader check" in s.get("run", "")], steps[-1]


def test_the_workflow_feeds_every_stage_to_the_reporter():
    flow = workflow()
    grading, reporter = grading_steps(flow)
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    ids = [s["id"] for s in grading]
    assert reporter["with"]["runners"] == ",".join(ids)
    # the reporter's own pattern for runner ids (src/main.js)
    assert re.fullmatch(r"([a-zA-Z0-9]+,)*[a-zA-Z0-9]+", reporter["with"]["runners"])
    assert reporter["env"] == {"%s_RESULTS" % i.upper(): "${{ steps.%s.outputs.result }}" % i
                               for i in ids}
    assert [re.search(r"grader check (\w+) ", s["run"]).group(1) for s in grading] == \
        ASSIGNMENT
    assert all(s.get("continue-on-error") is True for s in grading)
    assert all("--github-output" in s["run"] for s in grading)
    assert flow["permissions"]["checks"] == "write"


SUDO_ALREADY_ROOT = """#!/bin/sh
# On the runner this is the real sudo; here the test is root already:
# drop sudo's own options, run the command.
while [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
"""


def test_the_workflow_steps_run_and_the_reporter_adds_up(tmp_path):
    """Each stage step's `run:` as the runner would run it, in a checkout
    holding webserver3a.py (3a's reference: passes) and webserver3g.py
    (3f's: fails reaps-burst), nothing for the other stages; the lab kit in
    .lab3. The reporter then records 5 + 9.5 points of the rubric's total."""
    if os.geteuid() != 0:
        pytest.skip("the workflow runs the grader through sudo: run this test as root")
    flow = workflow()
    grading, reporter = grading_steps(flow)
    checkout = tmp_path / "student"
    checkout.mkdir()
    shutil.copy(REFERENCES["3a"], checkout / "webserver3a.py")
    shutil.copy(REFERENCES["3f"], checkout / "webserver3g.py")
    (checkout / ".lab3").symlink_to(REPO)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(SUDO_ALREADY_ROOT)
    (bin_dir / "sudo").chmod(0o755)
    environ = {}
    for step in grading:
        output = tmp_path / ("output-" + step["id"])
        output.touch()
        env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]),
                   GITHUB_OUTPUT=str(output), **flow["env"])
        env.pop("PYTHONPATH", None)
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=checkout, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=600)
        assert "Traceback" not in done.stderr, done.stderr
        environ["%s_RESULTS" % step["id"].upper()] = github_output_values(output)["result"]
    runners = reporter_reads(environ, reporter["with"]["runners"])
    by_stage = dict(runners)
    assert by_stage["stage3a"]["status"] == "pass"
    assert by_stage["stage3g"]["status"] == "fail"
    for sid in "bcdef":
        results = by_stage["stage3" + sid]
        assert results["status"] == "error"
        assert "no webserver3%s.py here or in work/" % sid in results["tests"][0]["message"]
    total, maximum = classroom_points(runners)
    assert maximum == sum(stage_points(s) for s in ASSIGNMENT)
    assert total == stage_points("3a") + stage_points("3g") - POINTS["reaps-burst"]
    assert workflow_fails(runners)
