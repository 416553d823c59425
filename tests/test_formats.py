"""The result formats (gradescope, exercism, junit) against their
specifications, and results written whatever happens.

The schemas in tests/schemas/ are written from the specifications (each
cites its source): Gradescope's results.json, Exercism's results.json
version 3, and the Jenkins xUnit plugin's junit-10.xsd.

Reports come from small in-memory Report objects and from one real
`lab check` run of the 3f reference server (module fixture, a few seconds).
"""

import csv
import io
import json
import re
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from contained import NEVER_ANSWERS, contained, signal_during_check  # noqa: F401
from helpers import REFERENCES, lab
from requirements import require

from grader import cli
from grader.batch import report_from_dict
from grader.formats import FORMATS
from grader.formats import exercism, gradescope, junit
from grader.report import CheckResult, Report, error_report
from grader.stages import STAGES

# With pytest -n (.ci/run), the tests of a group run in one worker: its module fixtures grade once for all its tests.
pytestmark = pytest.mark.xdist_group("formats")


jsonschema = require("jsonschema")
xmlschema = require("xmlschema")

SCHEMAS = Path(__file__).resolve().parent / "schemas"
GRADESCOPE = jsonschema.Draft202012Validator(
    json.loads((SCHEMAS / "gradescope-results.schema.json").read_text()))
EXERCISM = jsonschema.Draft202012Validator(
    json.loads((SCHEMAS / "exercism-results-v3.schema.json").read_text()))
JUNIT = xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))
CLASSROOM = jsonschema.Draft202012Validator(
    json.loads((SCHEMAS / "classroom-result.schema.json").read_text()))

# What no human-facing text may hold: C0/C1 controls other than newline and
# tab (ESC starts terminal escape sequences), and what UTF-8 or XML 1.0 refuse.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
NASTY = ("\x1b[2J\x1b[31mred\x1b[0m bell\x07 nul\x00 cr\r bs\x08 ff\x0c del\x7f "
         "c1\x85\x9b lone\ud800 nonchar\ufffe <b>&amp;</b> ]]> \"quoted\" 'single'")


# -- reports ----------------------------------------------------------------

def check(id, status, required=True, points=1.0, credited=False, **fields):
    max_points = points if required else 0
    credited = credited or status == "pass"
    return CheckResult(id=id, description="what %s checks" % id, required=required,
                       status=status, credited=credited, max_points=max_points,
                       points=max_points if credited else 0,
                       reproduce="python3 server.py &\ncurl -v http://localhost:8888/hello",
                       seconds=0.25, **fields)


def report(stage, checks, submission="subs/alice/webserver.py", status="graded"):
    return Report(stage=stage, submission=submission, status=status, seconds=3.21,
                  checks=checks).finish()


def passing():
    return report("3f", [check("serves", "pass", points=2), check("closes", "pass"),
                         check("reaps", "skip", credited=True, message="n/a here"),
                         check("reaps-burst", "fail", required=False, message="37 zombies",
                               hint="loop over waitpid", output="GET /hello\n" * 300)])


def failing():
    return report("3g", [
        check("serves", "pass", points=2.5),
        check("reaps", "fail", points=3, message="zombie " + NASTY, hint="hint " + NASTY,
              output=("line %d " % 1 + NASTY + "\n") * 50),
        check("closes", "skip", message="skipped: the server does not serve"),
        check("reaps-burst", "fail", required=False, message="zombies " + NASTY),
    ], submission="/home/x/subs/" + NASTY + "/webserver3g.py")


def errored_with_checks():
    r = report("3c", [check("serves", "pass"),
                      check("concurrent", "error", message="port 8888 is already in use")])
    assert r.status == "error"
    return r


def not_graded():
    return error_report(STAGES["3f"], "missing/webserver3f.py",
                        "missing/webserver3f.py: no such file or folder\x1b[0m",
                        {"serves": 4})


IN_MEMORY = {"passing": passing, "failing": failing, "errored_with_checks": errored_with_checks,
             "not_graded": not_graded}


@pytest.fixture(scope="module")
def reference_3f(tmp_path_factory):
    """One real `lab check 3f` of the reference server, as a Report."""
    out = tmp_path_factory.mktemp("real") / "3f.json"
    done = lab("check", "3f", REFERENCES["3f"], "--format", "json", "--output", out)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(out.read_text())
    assert data["checks"], data
    return report_from_dict(data)


def all_reports(reference_3f):
    return dict({name: make() for name, make in IN_MEMORY.items()}, reference_3f=reference_3f)


# -- validation -------------------------------------------------------------

def strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_clean_json(text):
    text.encode("utf-8")                      # writable as UTF-8 (no lone surrogates)
    data = json.loads(text)
    bad = [s for s in strings(data) if FORBIDDEN.search(s)]
    assert not bad, "raw control characters in: %r" % bad[:3]
    return data


def validate_gradescope(text, single=True):
    data = assert_clean_json(text)
    results = [data] if single else [s["results"] for s in data["submissions"]]
    if not single:
        assert set(data) == {"submissions"}
        assert all(set(s) == {"submission", "results"} for s in data["submissions"])
    for r in results:
        GRADESCOPE.validate(r)
        # What Gradescope shows must be plain text, never rendered as HTML.
        assert r["output_format"] == "text" and r["test_output_format"] == "text"
    return data


def validate_exercism(text, single=True):
    data = assert_clean_json(text)
    results = [data] if single else [s["results"] for s in data["submissions"]]
    if not single:
        assert set(data) == {"submissions"}
    for r in results:
        EXERCISM.validate(r)
    return data


def validate_junit(text):
    text.encode("utf-8")
    root = ET.fromstring(text.encode("utf-8"))        # well-formed XML 1.0
    JUNIT.validate(text)
    for el in root.iter():
        for value in [el.text or "", el.tail or ""] + list(el.attrib.values()):
            assert not FORBIDDEN.search(value), (el.tag, value)
    return root


def validate_classroom(text, single=True):
    """GitHub Classroom's reporter input (tests/test_classroom.py reads it
    as the reporter does)."""
    data = assert_clean_json(text)
    results = [data] if single else [s["results"] for s in data["submissions"]]
    for r in results:
        CLASSROOM.validate(r)
    return data


VALIDATE = {"gradescope": lambda text, single: validate_gradescope(text, single),
            "classroom": lambda text, single: validate_classroom(text, single),
            "exercism": lambda text, single: validate_exercism(text, single),
            "junit": lambda text, single: validate_junit(text)}


def test_the_schemas_refuse_what_the_specifications_refuse():
    ex = json.loads(exercism.write_exercism([failing()], True))
    assert EXERCISM.is_valid(ex)
    assert not EXERCISM.is_valid(dict(ex, status="pass"))          # a test failed
    assert not EXERCISM.is_valid(dict(ex, version=2))
    long_output = json.loads(json.dumps(ex))
    long_output["tests"][1]["output"] = "x" * 501
    assert not EXERCISM.is_valid(long_output)
    assert not EXERCISM.is_valid({"version": 3, "status": "error"})  # no message
    gs = json.loads(gradescope.write_gradescope([failing()], True))
    assert GRADESCOPE.is_valid(gs)
    assert not GRADESCOPE.is_valid(dict(gs, visibility="students"))
    bad_status = json.loads(json.dumps(gs))
    bad_status["tests"][0]["status"] = "pass"
    assert not GRADESCOPE.is_valid(bad_status)
    no_score = {k: v for k, v in gs.items() if k != "score"}
    no_score["tests"] = [{k: v for k, v in t.items() if k != "score"} for t in gs["tests"]]
    assert not GRADESCOPE.is_valid(no_score)
    assert not JUNIT.is_valid('<testsuites><testsuite name="x" tests="1" errors="0"/>'
                              '</testsuites>')                      # no failures count


def test_the_formats_are_registered():
    assert {"json", "gradescope", "exercism", "junit", "classroom"} <= set(FORMATS)


@pytest.mark.parametrize("fmt", ["gradescope", "exercism", "junit", "classroom"])
def test_every_report_single_and_batch_is_valid(fmt, reference_3f):
    reports = all_reports(reference_3f)
    for name, r in reports.items():
        VALIDATE[fmt](FORMATS[fmt]([r], single=True), True)
    VALIDATE[fmt](FORMATS[fmt](list(reports.values()), single=False), False)


# -- Gradescope ---------------------------------------------------------------

def test_gradescope_reference_3f(reference_3f):
    data = validate_gradescope(gradescope.write_gradescope([reference_3f], True))
    assert reference_3f.status == "pass"
    assert data["score"] == 7
    assert [t["extra_data"]["check"] for t in data["tests"]] == list(STAGES["3f"].checks)
    burst = data["tests"][STAGES["3f"].checks.index("reaps-burst")]
    # 3f's flaw: shown as failed, worth nothing at 3f, with what to do.
    assert burst["status"] == "failed" and burst["max_score"] == 0
    assert "waitpid" in burst["output"] and "try it by hand" in burst["output"]
    assert "the server printed" in burst["output"]
    assert burst["name"].startswith("reaps-burst: ")
    serves = data["tests"][0]
    assert serves["status"] == "passed" and serves["score"] == serves["max_score"] == 1
    assert all(t["visibility"] == "visible" for t in data["tests"])
    assert "7/7" in data["output"]


def test_gradescope_failing_report():
    data = validate_gradescope(gradescope.write_gradescope([failing()], True))
    tests = {t["extra_data"]["check"]: t for t in data["tests"]}
    assert data["score"] == 2.5
    assert tests["reaps"]["status"] == "failed" and tests["reaps"]["max_score"] == 3
    assert "\\x1b[31m" in tests["reaps"]["output"]           # escaped, still visible
    assert "hint: hint" in tests["reaps"]["output"]
    assert tests["reaps-burst"]["status"] == "failed" and tests["reaps-burst"]["max_score"] == 0
    assert tests["closes"]["status"] == "failed"              # not run: not credited
    assert tests["serves"]["score"] == 2.5
    assert failing().status == "fail" and data["extra_data"]["max_score"] == 6.5


def test_gradescope_error_gives_zero_and_the_reason():
    data = validate_gradescope(gradescope.write_gradescope([not_graded()], True))
    assert data["score"] == 0
    assert "no such file or folder" in data["output"] and "\\x1b[0m" in data["output"]
    [test] = data["tests"]
    assert test["status"] == "failed" and test["score"] == 0 and test["max_score"] == 10
    data = validate_gradescope(gradescope.write_gradescope([errored_with_checks()], True))
    assert data["score"] == 0 and "port 8888 is already in use" in data["output"]


def test_gradescope_server_output_tail_is_bounded():
    r = failing()
    r.checks[1].output = "x" * 100000 + "\nthe last line\n"
    data = validate_gradescope(gradescope.write_gradescope([r], True))
    out = data["tests"][1]["output"]
    assert "the last line" in out and len(out) < gradescope.SERVER_CHARS + 2000


# -- Exercism -----------------------------------------------------------------

def test_exercism_reference_3f(reference_3f):
    data = validate_exercism(exercism.write_exercism([reference_3f], True))
    assert data["version"] == 3 and data["status"] == "pass" and data["message"] is None
    # The stage's required checks, in the order they run; the check that
    # shows 3f's flaw does not decide pass or fail.
    assert [t["name"].split(" ")[0] for t in data["tests"]] == list(STAGES["3f"].required)
    assert all("message" not in t for t in data["tests"])
    assert all("webserver3f.py" in t["test_code"] for t in data["tests"])


def test_exercism_failing_report():
    data = validate_exercism(exercism.write_exercism([failing()], True))
    assert data["status"] == "fail" and data["message"] is None
    tests = {t["name"].split(" ")[0]: t for t in data["tests"]}
    assert tests["serves"]["status"] == "pass" and "message" not in tests["serves"]
    assert tests["reaps"]["status"] == "fail" and "zombie" in tests["reaps"]["message"]
    assert tests["closes"]["status"] == "fail"
    assert "reaps-burst" not in tests          # not required at 3g here: not counted
    out = tests["reaps"]["output"]
    assert len(out) <= 500 and out.startswith("Output was truncated")
    assert tests["reaps"]["name"].startswith("reaps (3 points): ")
    assert tests["serves"]["name"].startswith("serves (2.5 points): ")


def test_exercism_error():
    data = validate_exercism(exercism.write_exercism([not_graded()], True))
    assert data["status"] == "error" and "no such file or folder" in data["message"]
    assert "tests" not in data
    # A check errored but others ran: fail, not error (error: no test ran).
    data = validate_exercism(exercism.write_exercism([errored_with_checks()], True))
    assert data["status"] == "fail"
    assert [t["status"] for t in data["tests"]] == ["pass", "error"]


def test_exercism_message_limit_and_solution_dir():
    r = error_report(STAGES["3g"], "/srv/subs/alice/webserver3g.py",
                     "/srv/subs/alice/webserver3g.py: " + "é" * 70000)
    data = validate_exercism(exercism.write_exercism([r], True))
    assert data["message"].startswith("<solution-dir>/webserver3g.py: ")
    assert len(data["message"].encode("utf-8")) <= 65535


def test_exercism_task_ids_from_the_exercise_text(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# Stage\n\n## 1. Serve\nMake `serves` pass.\n\n"
                      "## 2. Reap\n`reaps` and `reaps-burst`.\n\n## 3. Again\n`serves`\n\n"
                      "## Notes\n`closes` is not in a task.\n")
    monkeypatch.setattr(exercism, "_readme", lambda stage_id: readme)
    data = validate_exercism(exercism.write_exercism([failing()], True))
    tasks = {t["name"].split(" ")[0]: t.get("task_id") for t in data["tests"]}
    assert tasks == {"serves": None, "reaps": 2, "closes": None}
    assert exercism.task_ids(readme) == {"reaps": 2, "reaps-burst": 2}


# -- JUnit --------------------------------------------------------------------

def cases(root):
    return {c.get("name"): c for c in root.iter("testcase")}


def test_junit_reference_3f(reference_3f):
    root = validate_junit(junit.write_junit([reference_3f], True))
    [suite] = root.findall("testsuite")
    assert suite.get("name").endswith("webserver3f.py")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == (str(len(STAGES["3f"].checks)), "0", "0", "1")
    found = cases(root)
    assert list(found) == list(STAGES["3f"].checks)
    assert all(c.get("classname") == "lab3.3f" for c in found.values())
    skipped = found["reaps-burst"].find("skipped")
    assert skipped is not None and "not required at 3f" in skipped.get("message")
    assert "waitpid" in skipped.text
    assert "the server printed" in found["reaps-burst"].find("system-out").text


def test_junit_failures_errors_and_escaping():
    root = validate_junit(junit.write_junit([failing()], True))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "0", "2")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    found = cases(root)
    failure = found["reaps"].find("failure")
    assert "\\x1b[31m" in failure.get("message") and "hint: hint" in failure.text
    assert "<b>&amp;</b>" in failure.get("message")      # escaped, and round-trips
    assert "\\x1b" in found["reaps"].find("system-out").text
    assert found["closes"].find("skipped") is not None
    assert "not required at 3g" in found["reaps-burst"].find("skipped").get("message")
    assert "\\x1b" in suite.get("name")
    root = validate_junit(junit.write_junit([errored_with_checks()], True))
    assert root.find("testsuite").get("errors") == "1"
    assert "already in use" in cases(root)["concurrent"].find("error").get("message")


def test_junit_not_graded_gets_one_error_testcase():
    root = validate_junit(junit.write_junit([not_graded()], True))
    [case] = root.iter("testcase")
    assert case.get("name") == "grading" and case.get("classname") == "lab3.3f"
    assert "no such file or folder" in case.find("error").get("message")
    assert root.find("testsuite").get("errors") == "1"


def test_junit_batch_has_one_suite_per_submission(reference_3f):
    reports = list(all_reports(reference_3f).values())
    root = validate_junit(junit.write_junit(reports, False))
    assert len(root.findall("testsuite")) == len(reports)
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root.iter("testsuite"))


# -- the rubric shows in every format ----------------------------------------

def test_custom_points_show_in_every_format():
    r = failing()                      # serves: 2.5 of 2.5, reaps: 0 of 3
    g = validate_gradescope(FORMATS["gradescope"]([r], True))
    tests = {t["extra_data"]["check"]: t for t in g["tests"]}
    assert (tests["serves"]["score"], tests["serves"]["max_score"]) == (2.5, 2.5)
    assert (tests["reaps"]["score"], tests["reaps"]["max_score"]) == (0, 3)
    e = validate_exercism(FORMATS["exercism"]([r], True))
    assert any(t["name"].startswith("reaps (3 points)") for t in e["tests"])
    root = validate_junit(FORMATS["junit"]([r], True))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["points:serves"] == "2.5/2.5" and props["points:reaps"] == "0/3"
    assert props["score"] == "2.5" and props["max_score"] == "6.5"


# -- through the lab command: results are always written ---------------------

@pytest.mark.parametrize("fmt", ["gradescope", "exercism", "junit"])
def test_lab_check_missing_file_with_a_rubric(fmt, tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[points]\nserves = 3\nreaps = 2.5\n")
    out = tmp_path / "results"
    done = lab("check", "3f", tmp_path / "nope.py", "--format", fmt, "--output", out,
               "--rubric", rubric)
    assert done.returncode == 2
    text = out.read_text()
    VALIDATE[fmt](text, True)
    if fmt == "gradescope":
        data = json.loads(text)
        assert data["score"] == 0 and data["tests"][0]["max_score"] == 3 + 2.5 + 5
    elif fmt == "exercism":
        assert json.loads(text)["status"] == "error"
    else:
        assert ET.fromstring(text).find("testsuite/properties/property[@name='max_score']"
                                        ).get("value") == "10.5"


@pytest.mark.parametrize("fmt", ["gradescope", "exercism", "junit"])
def test_lab_grade_batch_of_missing_files(fmt, tmp_path):
    done = lab("grade", "--stage", "3g", tmp_path / "a.py", tmp_path / "b", "--format", fmt)
    assert done.returncode == 2, done.stderr
    VALIDATE[fmt](done.stdout, False)
    if fmt != "junit":
        data = json.loads(done.stdout)
        assert [s["submission"] for s in data["submissions"]] == [
            str(tmp_path / "a.py"), str(tmp_path / "b")]


@pytest.mark.parametrize("argv, why", [
    (["check", "3z", "x.py"], "unknown stage"),
    (["check", "3g", "x.py", "--only", "nope"], "unknown check"),
    (["check", "3g", "x.py", "--bogus"], "unrecognized arguments"),
    (["check", "3g", "x.py", "--rubric", "/nonexistent/rubric.toml"], "cannot read the rubric"),
])
@pytest.mark.parametrize("fmt", ["gradescope", "exercism", "junit", "classroom"])
def test_usage_errors_still_write_the_format(argv, why, fmt, tmp_path):
    out = tmp_path / "results"
    assert cli.main(argv + ["--format", fmt, "--output", str(out)]) == cli.EXIT_ERROR
    text = out.read_text()
    VALIDATE[fmt](text, True)
    assert why in text


def test_usage_error_of_lab_grade_writes_a_batch(tmp_path):
    out = tmp_path / "results.json"
    argv = ["grade", "--stage", "3g", "a.py", "--jobs", "x", "--format", "gradescope",
            "--output", str(out)]
    assert cli.main(argv) == cli.EXIT_ERROR
    validate_gradescope(out.read_text(), single=False)


@pytest.mark.parametrize("fmt", ["gradescope", "exercism", "junit", "classroom"])
def test_a_crash_still_writes_the_format(fmt, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(cli, "grade", crash)
    out = tmp_path / "results"
    status = cli.main(["check", "3g", str(REFERENCES["3g"]), "--format", fmt,
                       "--output", str(out), "--quiet"])
    assert status == cli.EXIT_ERROR
    text = out.read_text()
    VALIDATE[fmt](text, True)
    assert "the grader failed" in text and "boom" in text


def test_lab_grade_crash_writes_every_submission(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(cli.batch, "grade_all", crash)
    out, csv_file = tmp_path / "results.xml", tmp_path / "all.csv"
    status = cli.main(["grade", "--stage", "3g", "a.py", "b.py", "--format", "junit",
                       "--output", str(out), "--csv", str(csv_file)])
    assert status == cli.EXIT_ERROR
    root = validate_junit(out.read_text())
    assert [s.get("name") for s in root.iter("testsuite")] == ["a.py", "b.py"]
    assert "the grader failed" in out.read_text() and "the grader failed" in csv_file.read_text()


# -- Ctrl-C: a real SIGINT to a real grader, mid-check -------------------------

def error_of(fmt, text):
    """(status, message) of a single report written in `fmt`, validated."""
    data = VALIDATE[fmt](text, True)
    if fmt == "gradescope":
        return data["extra_data"]["status"], data["output"]
    if fmt == "exercism":
        return data["status"], data["message"]
    [case] = data.iter("testcase")
    error = case.find("error")
    return ("error" if error is not None else "?"), (error.get("message") if error is not None
                                                     else ET.tostring(case, "unicode"))


@pytest.mark.parametrize("fmt", ["gradescope", "exercism", "junit"])
def test_ctrl_c_mid_check_still_writes_the_format(fmt, tmp_path, contained):
    """SIGINT to `lab check`'s process group (what Ctrl-C in its terminal
    sends) while it waits on a server that never answers: exit 2, the
    results say error and why, and the server is gone."""
    out = tmp_path / "results"
    code, stdout, stderr = signal_during_check(
        contained, signal.SIGINT, "check", "3g", NEVER_ANSWERS, "--only", "serves",
        "--format", fmt, "--output", out)
    assert code == cli.EXIT_ERROR, stdout + stderr
    status, message = error_of(fmt, out.read_text())
    assert status == "error" and "interrupted (Ctrl-C)" in message, message
    assert "everything it started are gone" in stdout, stdout
    assert "Traceback" not in stdout + stderr, stderr
    left = contained.leftovers()
    assert not left, left


def test_ctrl_c_mid_batch_writes_every_submission(tmp_path, contained):
    """SIGINT to `lab grade` while its first worker grades a server that never
    answers: every submission gets its report (JUnit and CSV), exit 2,
    nothing of the worker or its server is left."""
    out, csv_file = tmp_path / "results.xml", tmp_path / "all.csv"
    other = tmp_path / "b.py"
    other.write_text(REFERENCES["3a"].read_text())
    code, stdout, stderr = signal_during_check(
        contained, signal.SIGINT, "grade", "--stage", "3g", NEVER_ANSWERS, other, "--jobs", 1,
        "--format", "junit", "--output", out, "--csv", csv_file)
    assert code == cli.EXIT_ERROR, stdout + stderr
    root = validate_junit(out.read_text())
    assert [s.get("name") for s in root.iter("testsuite")] == [str(NEVER_ANSWERS), str(other)]
    for case in root.iter("testcase"):
        assert "interrupted (Ctrl-C)" in case.find("error").get("message")
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    assert [(r["submission"], r["status"]) for r in rows] == [
        (str(NEVER_ANSWERS), "error"), (str(other), "error")]
    assert all("interrupted (Ctrl-C)" in r["message"] for r in rows), rows
    assert "nothing a submission started is left running" in stdout, stdout
    left = contained.leftovers()
    assert not left, left
