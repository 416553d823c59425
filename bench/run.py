#!/usr/bin/env python3
"""The lab's benchmark: measures and reports, never asserts.

    python3 bench/run.py [--quick] [--compare EARLIER.json]
                         [--output bench/results/NAME.json]
                         [--only grading,determinism,demos,batch,image,container,ci]
                         [--batch-jobs 2,3,4,6] [--ci-timeout MINUTES]

Prints a table of figures (each beside its target, and beside the earlier
figure with --compare) and writes every figure, the raw samples behind it
and the machine it ran on as JSON (default bench/results/latest.json).
It exits 0 whenever it could measure, even if a figure misses its target;
2 on bad usage. See bench/README.md for what each figure means.

Everything it starts is bounded (a timeout on every subprocess, a deadline
on the busy loop) and killed with its whole process tree when it ends or
overruns; the load it makes goes only to loopback. The `ci` section (CI=true
bash .ci/run in a fresh clone: tens of minutes, installs packages, rebuilds
lab3:latest) runs only when named in --only.
"""

import argparse
import collections
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
from grader.processes import Supervisor  # noqa: E402  (this checkout's)

DEFAULT_TREE = BENCH_DIR.parent
SECTIONS = ("grading", "determinism", "demos", "batch", "image", "container", "trace", "ci")
DEFAULT_SECTIONS = ("grading", "determinism", "demos", "batch", "image", "container", "trace")
SCHEMA = 1

# --- how much to measure: full / --quick
GRADING_REPEATS = {"full": 3, "quick": 1}
ROUNDS = {"full": 20, "quick": 3}            # idle rounds, and as many busy ones
DEMO_RUNS = {"full": 10, "quick": 2}
BATCH_SIZE = 40
WARM_RUNS = 5

# --- bounds (seconds)
CHECK_TIMEOUT = 240          # one `lab check` (the grader's own bound is 120 s)
ROUND_TIMEOUT = 900          # one `lab grade` of the seven references
DEMO_TIMEOUT = 300           # one demo
BATCH_TIMEOUT = 3600         # one `lab grade` of 40 submissions
BUILD_TIMEOUT = 3600         # one docker build
RUN_TIMEOUT = 180            # one `docker compose run --rm lab3 true`
CONTAINER_CHECK_TIMEOUT = CHECK_TIMEOUT + 60   # one lab check in a fresh container
CI_TIMEOUT_MINUTES = 40      # one `bash .ci/run`
CLONE_TIMEOUT = 600          # one `git clone` of the lab

# --- targets
TARGET_3G_SECONDS = 2.0            # lab check 3g on the passing server, natively
TARGET_STAGE_SECONDS = 10.0        # the slowest stage, natively
TARGET_WALL_OVER_CHECKS = 0.5      # wall / the checks' seconds summed: checks at once
TARGET_CONTAINER_3G_SECONDS = 4.0  # lab check 3g in the container (the grader's own time)
TARGET_BATCH_PER_MINUTE = 25.0     # lab grade of the 40-submission mix, default --jobs
TARGET_BATCH_SPEEDUP = 4.0         # ... against the same mix with --jobs 1
TARGET_CI_SECONDS = 15 * 60        # bash .ci/run, the image already built
TARGET_TRACE_SECONDS = 30.0        # lab trace of 3g with 128 clients
TRACE_TIMEOUT = 200                # one lab trace (its own bound is ~60 s)

CONTAINER_SERVICE = "test"   # compose.yaml: root, /opt/lab3, nothing mounted

VERDICT_MARK = {"pass": "P", "fail": "F", "skip": "-", "error": "E", None: "?"}


# ---------------------------------------------------------------- output ---

def log(text):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def fmt_value(value, unit):
    if value is None:
        return "-"
    if unit == "s":
        return "%.2f s" % value if value < 10 else "%.1f s" % value
    if unit == "/min":
        return "%.1f /min" % value
    if unit == "MB":
        return "%.0f MB" % value
    if unit == "count":
        return "%d" % value
    if unit == "x":
        return "%.1fx" % value
    if unit == "ratio":
        return "%.3f" % value
    return "%s %s" % (value, unit)


def fmt_figure(fig):
    if fig.get("value") is None:
        return fig.get("display") or "not measured"
    if fig["unit"] == "of":
        return "%d/%d" % (fig["value"], fig["of"])
    if fig["unit"] == "rate":
        return "%d/%d" % (fig["count"], fig["of"])
    text = fmt_value(fig["value"], fig["unit"])
    if fig.get("range"):
        lo, hi = fig["range"]
        if lo != hi:
            text += " [%s-%s]" % (fmt_value(lo, fig["unit"]).split()[0],
                                  fmt_value(hi, fig["unit"]))
    return text


def fmt_change(fig, old):
    """' (was 5.3 s, -8%)' or ' (was 9/10)' or ''."""
    if old is None:
        return " (new)"
    if old.get("value") is None:
        return " (was not measured)"
    if fig.get("value") is None:
        return " (was %s)" % fmt_figure(dict(old, range=None))
    if fig["unit"] in ("of", "rate") or old["unit"] in ("of", "rate"):
        return " (was %s)" % fmt_figure(dict(old, range=None))
    was = fmt_value(old["value"], old["unit"])
    if old["value"]:
        pct = 100.0 * (fig["value"] - old["value"]) / old["value"]
        return " (was %s, %+.0f%%)" % (was, pct)
    return " (was %s)" % was


# --------------------------------------------------------------- figures ---

class Figures:
    """The figures of one run, in order: key -> dict."""

    def __init__(self):
        self.items = collections.OrderedDict()

    def add(self, key, section, label, value, unit, target=None, ok=None, **extra):
        fig = {"section": section, "label": label, "value": value, "unit": unit,
               "target": target, "ok": ok}
        fig.update(extra)
        self.items[key] = fig
        return fig

    def not_measured(self, key, section, label, why, target=None):
        return self.add(key, section, label, None, None, target=target, ok=None,
                        display="not measured: " + why)


# ------------------------------------------------------------- processes ---

class Processes(Supervisor):
    """Every subprocess the bench starts: bounded, and killed with its tree
    (the grader's workers run in sessions of their own, servers as another
    uid); what they leave behind is reaped (grader/processes.py)."""

    def run(self, argv, timeout, **kwargs):
        """(exit status or None on timeout, wall seconds, stdout, stderr)."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        started = time.monotonic()
        popen = self.start(argv, **kwargs)
        try:
            out, err = popen.communicate(timeout=timeout)
            code = popen.returncode
        except subprocess.TimeoutExpired:
            self.kill(popen)
            out, err = popen.communicate()
            code = None
        except BaseException:
            self.kill(popen)
            raise
        wall = time.monotonic() - started
        self.ended(popen)
        if code is not None:
            # the command ended: anything it left behind goes too
            self.reap_strays()
        return code, wall, _text(out), _text(err)

    def run_streaming(self, argv, timeout, log_path, **kwargs):
        """Run with stdout and stderr merged, read line by line as they come:
        each line goes to `log_path` at once and is kept with the seconds
        since the start at which it arrived.
        (exit status or None on timeout, wall seconds, [(seconds, line)])."""
        lines = []
        started = time.monotonic()
        popen = self.start(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)

        def reader():
            with open(log_path, "w", encoding="utf-8", errors="replace") as logfile:
                for raw in iter(popen.stdout.readline, b""):
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    lines.append((round(time.monotonic() - started, 2), text))
                    logfile.write(text + "\n")
                    logfile.flush()

        thread = threading.Thread(target=reader, name="bench-reader", daemon=True)
        thread.start()
        try:
            code = popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(popen)
            code = None
        except BaseException:
            self.kill(popen)
            raise
        wall = time.monotonic() - started
        # the pipe ends when the last holder of it is gone (killed above, or
        # a stray descendant reaped below)
        self.ended(popen)
        self.reap_strays()
        thread.join(timeout=30)
        popen.stdout.close()
        return code, wall, list(lines)


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def tail(text, lines=15):
    return "\n".join(text.rstrip().splitlines()[-lines:])


# A phase header of .ci/run (and of what it runs): a line `== TEXT` or
# `== TEXT ==`. Not `== id == verdict ...` (the grader's text output, which
# pytest may print back) nor pytest's own `==== title ====` rules.
CI_HEADER = re.compile(r"^== ((?:(?!==).)*?\S)(?:\s*==)?\s*$")
CI_KINDS = collections.OrderedDict([
    ("setup", "  setup: until the first test suite starts"),
    ("native", "  the test suite, natively"),
    ("container", "  the test suite, in the container"),
])


def ci_kind(name, seen_tests):
    """setup, native, container or other, from a phase's header: a header
    that names a test suite (and no install or build) starts a test phase,
    in the container when it says container or docker; what comes before
    the first test phase is setup."""
    low = name.lower()
    if re.search(r"\btest|pytest", low) and not re.search(r"install|build|setup", low):
        return "container" if re.search(r"container|docker", low) else "native"
    return "other" if seen_tests else "setup"


def ci_phases(lines, end, code):
    """The phases of a CI log: each header line starts one, named by its
    text, lasting until the next header or the end of the run. `lines`:
    [(seconds since the start, text)]; `code`: the exit status, None if
    the run was killed at its timeout."""
    phases = []
    seen_tests = False
    for at, text in lines:
        match = CI_HEADER.match(text)
        if match is None:
            continue
        if phases:
            phases[-1]["end"] = at
        kind = ci_kind(match.group(1), seen_tests)
        seen_tests = seen_tests or kind in ("native", "container")
        phases.append({"name": match.group(1), "kind": kind, "start": at, "end": None,
                       "how": "done"})
    for phase in phases:
        if phase["end"] is None:
            phase["end"] = round(end, 2)
            phase["how"] = ("done" if code == 0 else "timed out" if code is None
                            else "failed (exit %d)" % code)
        phase["seconds"] = round(phase["end"] - phase["start"], 2)
    return phases


# ------------------------------------------------------------------- bench ---

class BenchError(Exception):
    """The lab to measure cannot be measured at all (exit 2)."""


# Run in the measured tree: 3f's burst with nothing recorded (argv: the
# stage, its server); prints the zombies /proc shows 2 s after.
UNTRACED_ZOMBIES = r"""
import sys
from grader.stages import find_stage
from grader.trace.run import untraced_zombies
print(untraced_zombies(find_stage(sys.argv[1]), sys.argv[2]))
"""

# Run in the measured tree (cwd and PYTHONPATH): its own grader says which
# stages there are (labs/*/stage.toml) and which checks.
STAGES_PROBE = r"""
import json
from grader import stages
found = stages.find_stages()
print(json.dumps({"module": stages.__file__, "check_ids": list(stages.CHECK_IDS),
                  "stages": [{"id": s.id, "slug": s.slug, "server": str(s.server),
                              "demo": str(s.demo), "checks": list(s.checks),
                              "required": list(s.required)} for s in found.values()]}))
"""

# A fingerprint of grader/ and labs/ under the folder named by argv[1]: run
# on the measured tree and inside the image (/opt/lab3), to tell whether
# lab3:latest holds the lab being measured.
FINGERPRINT = r"""
import hashlib, os, sys
root = sys.argv[1]
names = []
for top in ("grader", "labs"):
    for folder, dirs, files in os.walk(os.path.join(root, top)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        names += [os.path.relpath(os.path.join(folder, f), root) for f in files
                  if not f.endswith(".pyc")]
digest = hashlib.sha256()
for name in sorted(names):
    with open(os.path.join(root, name), "rb") as f:
        digest.update(name.encode() + b"\0" + f.read() + b"\0")
print(digest.hexdigest()[:16], len(names))
"""


class Bench:
    def __init__(self, args, tree, procs, source=None, output=None):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.tree = tree
        self.source = source or tree          # the checkout (tree may be a snapshot of it)
        self.output = output or BENCH_DIR / "results" / "latest.json"
        self.procs = procs
        self.figures = Figures()
        self.sections = collections.OrderedDict()
        self.env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1",
                        NO_COLOR="1")
        self.env.pop("LAB_DEMO_FAST", None)
        self.stages, self.check_ids = self.find_stages()
        self.refs = self.find_references()
        self.docker_env = dict(os.environ)
        if args.server_uid is not None:
            self.env["LAB_SERVER_UID"] = str(args.server_uid)
        self.majority = None          # from determinism, for batch
        self.partial = {}             # section -> its data so far (kept if it fails)

    def begin(self, name, data):
        self.partial[name] = data
        return data

    # -- the lab
    def find_stages(self):
        """The stages the measured tree declares (labs/*/stage.toml), as its
        own grader.stages.find_stages() reads them, and its check ids."""
        code, _, stdout, stderr = self.procs.run([sys.executable, "-c", STAGES_PROBE], 60,
                                                 cwd=str(self.tree), env=self.env)
        try:
            found = json.loads(stdout)
        except ValueError:
            raise BenchError("the grader of %s does not list its stages (exit %s): %s" % (
                self.tree, code, tail(stderr or stdout, 3))) from None
        module = Path(found["module"]).resolve()
        if self.tree.resolve() not in module.parents:
            raise BenchError("grader.stages came from %s, not from %s" % (module, self.tree))
        stages = collections.OrderedDict((s["id"], s) for s in found["stages"])
        if not stages:
            raise BenchError("%s declares no stage (labs/*/stage.toml)" % self.tree)
        return stages, found["check_ids"]

    def find_references(self):
        """stage id -> its reference server (the stages whose server exists)."""
        refs = collections.OrderedDict()
        for sid, stage in self.stages.items():
            server = Path(stage["server"])
            if server.is_file():
                refs[sid] = server
            else:
                log("stage %s: no reference server %s: not measured" % (sid, server))
        return refs

    def graded_at(self, sid):
        """The stage a reference is graded at: 3g, where all of Part 3's
        checks run and are required, for a stage that runs those same checks
        (3a-3f: their references fail there, as expected); its own stage
        for one that declares other checks (1, 2, 3h: started with their
        application, asked their own request)."""
        yardstick = self.stages.get("3g")
        if yardstick is not None and self.stages[sid]["checks"] == yardstick["checks"]:
            return "3g"
        return sid

    def at_3g(self):
        """The references graded at 3g, by stage id (the determinism rounds'
        `lab grade --stage 3g`)."""
        return collections.OrderedDict((sid, ref) for sid, ref in self.refs.items()
                                       if self.graded_at(sid) == "3g")

    def lab(self, *args):
        return [sys.executable, "-m", "grader"] + [str(a) for a in args]

    def run_lab(self, args, timeout):
        return self.procs.run(self.lab(*args), timeout, cwd=str(self.tree), env=self.env)

    # -- grading time
    @staticmethod
    def report_sample(sample, code, stdout, stderr):
        """Fill a sample from the JSON report of one `lab check --format json`:
        status, the grader's own seconds, the model seen, each check's
        [status, seconds] and the checks' seconds summed."""
        try:
            report = json.loads(stdout)
            checks = {c["id"]: [c["status"], c.get("seconds")] for c in report.get("checks", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            sample.update(status=None, error=tail(stderr or stdout, 5) or "exit %s" % code)
            return sample
        sample.update(status=report.get("status"), grader_seconds=report.get("seconds"),
                      model=report.get("model"), checks=checks,
                      checks_sum=round(sum(s or 0 for _, s in checks.values()), 3))
        return sample

    def grading(self):
        repeats = self.args.repeats or GRADING_REPEATS[self.mode]
        out = self.begin("grading", {"command": "lab check STAGE REF --format json "
                                                "(STAGE: 3g, or the reference's own)",
                                     "repeats": repeats, "stages": {}})
        slowest = None                 # (median wall, stage id)
        for sid, ref in self.refs.items():
            samples = []
            for i in range(repeats):
                code, wall, stdout, stderr = self.run_lab(
                    ["check", self.graded_at(sid), ref, "--format", "json"], CHECK_TIMEOUT)
                sample = self.report_sample({"wall": round(wall, 3), "exit": code},
                                            code, stdout, stderr)
                if sample.get("checks_sum"):
                    sample["wall_over_checks"] = round(wall / sample["checks_sum"], 3)
                samples.append(sample)
                log("grading %s %d/%d: %.1f s (checks summed %s s), %s" % (
                    sid, i + 1, repeats, wall, sample.get("checks_sum", "?"),
                    sample.get("status") or "no report"))
            walls = [s["wall"] for s in samples if s["exit"] is not None]
            stats = summary(walls)
            sums = summary([s.get("checks_sum") for s in samples if s["exit"] is not None])
            ratios = summary([s.get("wall_over_checks") for s in samples
                              if s["exit"] is not None])
            out["stages"][sid] = {"samples": samples, "wall": stats, "checks_sum": sums,
                                  "wall_over_checks": ratios,
                                  "model": collections.Counter(
                                      s.get("model") for s in samples).most_common(1)[0][0]}
            target = TARGET_3G_SECONDS if sid == "3g" else TARGET_STAGE_SECONDS
            status = collections.Counter(s.get("status") for s in samples).most_common(1)[0][0]
            label = "lab check %s %s (%s)" % (self.graded_at(sid), ref.name,
                                              status or "no report")
            key = "grading.%s" % sid
            if stats is None:
                self.figures.not_measured(key + ".seconds", "grading", label,
                                          "timed out after %d s" % CHECK_TIMEOUT,
                                          target="<= %g s" % target)
                slowest = (float("inf"), sid)
                continue
            if slowest is None or stats["median"] > slowest[0]:
                slowest = (stats["median"], sid)
            ok = stats["median"] <= target and all(s["exit"] is not None for s in samples)
            if sid == "3g":
                ok = ok and status == "pass"
            note = None
            if sid == "3g":
                note = self.check_breakdown(samples)
            self.figures.add(key + ".seconds", "grading", label, stats["median"], "s",
                             target="<= %g s%s" % (target, ", pass" if sid == "3g" else ""),
                             ok=ok, range=[stats["min"], stats["max"]], note=note)
            if sums is None:
                self.figures.not_measured(key + ".checks_seconds", "grading",
                                          "  %s: the checks' seconds, summed" % sid,
                                          "no report")
                continue
            self.figures.add(key + ".checks_seconds", "grading",
                             "  %s: the checks' seconds, summed" % sid, sums["median"], "s",
                             range=[sums["min"], sums["max"]])
            self.figures.add(key + ".wall_over_checks", "grading",
                             "  %s: wall / that sum (checks at once)" % sid, ratios["median"],
                             "ratio", target="<= %g" % TARGET_WALL_OVER_CHECKS,
                             ok=ratios["median"] <= TARGET_WALL_OVER_CHECKS,
                             range=[ratios["min"], ratios["max"]])
        if slowest is not None:
            label = "slowest stage: %s" % slowest[1]
            if slowest[0] == float("inf"):
                self.figures.not_measured("grading.slowest.seconds", "grading", label,
                                          "%s timed out after %d s" % (slowest[1], CHECK_TIMEOUT),
                                          target="<= %g s" % TARGET_STAGE_SECONDS)
            else:
                self.figures.add("grading.slowest.seconds", "grading", label, slowest[0], "s",
                                 target="<= %g s" % TARGET_STAGE_SECONDS,
                                 ok=slowest[0] <= TARGET_STAGE_SECONDS)
        return out

    def trace(self):
        """lab trace of 3g with 128 clients (its time); 3f's zombies with
        no recording, with the light recording and under --syscalls,
        rounds interleaved so that load drifts hit all three alike."""
        out = self.begin("trace", {"timing": [], "zombies": {"untraced": [], "light": [],
                                                              "syscalls": []}})
        if "3g" not in self.refs or "3f" not in self.refs:
            self.figures.not_measured("trace.3g.seconds", "trace", "lab trace 3g",
                                      "no 3f or 3g reference")
            return out
        runs = 2 if self.mode == "quick" else 5
        for i in range(runs):
            code, wall, stdout, stderr = self.run_lab(
                ["trace", self.refs["3g"], "--clients", "128", "--format", "json"], TRACE_TIMEOUT)
            out["timing"].append({"wall": round(wall, 3), "exit": code})
            log("trace 3g %d/%d: %.1f s, exit %s" % (i + 1, runs, wall, code))
        walls = summary([t["wall"] for t in out["timing"] if t["exit"] == 0])
        if walls:
            self.figures.add("trace.3g.seconds", "trace", "lab trace 3g, 128 clients",
                             walls["median"], "s", target="<= %g s" % TARGET_TRACE_SECONDS,
                             ok=walls["median"] <= TARGET_TRACE_SECONDS,
                             range=[walls["min"], walls["max"]])
        else:
            self.figures.not_measured("trace.3g.seconds", "trace", "lab trace 3g, 128 clients",
                                      "no run succeeded", target="<= %g s" % TARGET_TRACE_SECONDS)
        rounds = 3 if self.mode == "quick" else 8
        zombies = out["zombies"]
        for i in range(rounds):
            code, _, stdout, stderr = self.procs.run(
                [sys.executable, "-c", UNTRACED_ZOMBIES, "3f", str(self.refs["3f"])],
                TRACE_TIMEOUT, cwd=str(self.tree), env=self.env)
            if code == 0 and stdout.strip().isdigit():
                zombies["untraced"].append(int(stdout))
            for mode, extra in (("light", []), ("syscalls", ["--syscalls"])):
                code, _, stdout, stderr = self.run_lab(
                    ["trace", self.refs["3f"], "--clients", "128", "--format", "json"] + extra,
                    TRACE_TIMEOUT)
                try:
                    zombies[mode].append(json.loads(stdout)["summary"]["zombies"])
                except (ValueError, KeyError, TypeError):
                    pass
            log("trace 3f round %d/%d: zombies untraced %s, light %s, syscalls %s" % (
                i + 1, rounds, *(z[-1] if z else "?" for z in zombies.values())))
        untraced = summary(zombies["untraced"])
        for mode in ("untraced", "light", "syscalls"):
            stats = summary(zombies[mode])
            label = "3f zombies of 128, %s" % {"untraced": "nothing recorded",
                                               "light": "lab trace (light)",
                                               "syscalls": "lab trace --syscalls"}[mode]
            if stats is None:
                self.figures.not_measured("trace.3f.zombies.%s" % mode, "trace", label,
                                          "no run succeeded")
                continue
            target, ok = None, None
            if mode == "light" and untraced:
                target = "within the untraced range"
                ok = untraced["min"] <= stats["median"] <= untraced["max"]
            self.figures.add("trace.3f.zombies.%s" % mode, "trace", label, stats["median"],
                             "count", target=target, ok=ok, range=[stats["min"], stats["max"]])
        return out

    @staticmethod
    def check_breakdown(samples):
        """'the grader's own 5.1 s: reaps-burst 2.4, fd-limit 0.7, ...' (medians)."""
        own = summary([s.get("grader_seconds") for s in samples])
        per = collections.defaultdict(list)
        for sample in samples:
            for cid, (_, seconds) in (sample.get("checks") or {}).items():
                if seconds is not None:
                    per[cid].append(seconds)
        if own is None or not per:
            return None
        ranked = sorted(((statistics.median(v), cid) for cid, v in per.items()), reverse=True)
        return "the grader's own time %.2f s; per check %s" % (
            own["median"], ", ".join("%s %.2f" % (cid, t) for t, cid in ranked))

    # -- determinism
    def grade_round(self, condition, number, total):
        refs = [str(p) for p in self.at_3g().values()]
        code, wall, stdout, stderr = self.run_lab(
            ["grade", "--stage", "3g"] + refs + ["--format", "json"], ROUND_TIMEOUT)
        rnd = {"condition": condition, "wall": round(wall, 3), "exit": code, "verdicts": {},
               "status": {}, "seconds": {}}
        match = re.search(r"\((\d+) at a time\)", stderr)
        rnd["jobs"] = int(match.group(1)) if match else None
        try:
            data = json.loads(stdout)
            by_path = {s["submission"]: s for s in data["submissions"]}
        except (ValueError, KeyError, TypeError):
            by_path = {}
            rnd["error"] = tail(stderr or stdout, 5) or "no output"
        for sid, ref in self.at_3g().items():
            report = by_path.get(str(ref))
            if report is None:
                continue
            rnd["verdicts"][sid] = {c["id"]: c["status"] for c in report.get("checks", [])}
            rnd["status"][sid] = report.get("status")
            rnd["seconds"][sid] = report.get("seconds")
        log("determinism %s round %d/%d: %.1f s%s" % (
            condition, number, total, wall, "" if by_path else " (no report: %s)"
            % rnd.get("error", "").splitlines()[-1:]))
        return rnd

    def busy_loop(self, seconds):
        code = ("import time\nend = time.monotonic() + %d\nwhile time.monotonic() < end:\n"
                "    pass\n" % seconds)
        return self.procs.start([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def determinism(self):
        rounds = self.args.rounds or ROUNDS[self.mode]
        out = self.begin("determinism", {
            "command": "lab grade --stage 3g <the %d references> --format json" % len(self.at_3g()),
            "rounds_per_condition": rounds, "rounds": []})
        for number in range(1, rounds + 1):
            out["rounds"].append(self.grade_round("idle", number, rounds))
        busy = self.busy_loop(rounds * ROUND_TIMEOUT)
        busy_started = time.monotonic()
        try:
            for number in range(1, rounds + 1):
                rnd = self.grade_round("busy", number, rounds)
                rnd["busy_alive"] = busy.poll() is None
                out["rounds"].append(rnd)
        finally:
            busy_wall = time.monotonic() - busy_started
            busy_cpu = None
            if busy.poll() is None:
                try:
                    times = psutil.Process(busy.pid).cpu_times()
                    busy_cpu = times.user + times.system
                except psutil.Error:
                    pass
            self.procs.kill(busy)
        out["busy_loop"] = {"seconds": round(busy_wall, 1),
                            "cpu_share": round(busy_cpu / busy_wall, 2) if busy_cpu else None}
        self.determinism_figures(out)
        return out

    def determinism_figures(self, out):
        rounds = out["rounds"]
        checks = []
        for rnd in rounds:
            for verdicts in rnd["verdicts"].values():
                for cid in verdicts:
                    if cid not in checks:
                        checks.append(cid)
        rows = ["(status)"] + checks
        cells = {}
        flakes = []
        for sid in self.at_3g():
            for cid in rows:
                seen = [(rnd["condition"], rnd["status"].get(sid) if cid == "(status)"
                         else rnd["verdicts"].get(sid, {}).get(cid)) for rnd in rounds]
                counts = collections.Counter(v for _, v in seen)
                majority = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0]
                per = {}
                for condition in ("idle", "busy"):
                    mine = [v for c, v in seen if c == condition]
                    differ = sum(v != majority for v in mine)
                    per[condition] = {"differ": differ, "runs": len(mine),
                                      "rate": round(differ / len(mine), 4) if mine else None}
                differ = sum(v != majority for _, v in seen)
                cell = {"majority": majority, "counts": {str(k): n for k, n in counts.items()},
                        "differ": differ, "runs": len(seen),
                        "rate": round(differ / len(seen), 4) if seen else None,
                        "by_condition": per}
                cells["%s/%s" % (sid, cid)] = cell
                if differ:
                    flakes.append({"stage": sid, "check": cid, "majority": majority,
                                   "seen": cell["counts"], "idle": per["idle"],
                                   "busy": per["busy"]})
        out["cells"] = cells
        out["flakes"] = flakes
        out["table"] = self.verdict_table(rows, cells)
        out["pinned"] = self.compare_pinned(cells)
        self.majority = {key: cell["majority"] for key, cell in cells.items()}
        total_runs = len(rounds)
        worst = max(flakes, key=lambda f: f["idle"]["differ"] + f["busy"]["differ"],
                    default=None)
        self.figures.add("determinism.flaky_cells", "determinism",
                         "cells (stage x check) that ever differed, of %d" % len(cells),
                         len(flakes), "count", target="0", ok=not flakes)
        for condition in ("idle", "busy"):
            runs = [r for r in rounds if r["condition"] == condition]
            differ_runs = 0
            for rnd in runs:
                if any(self.cell_of(rnd, sid, cid) != cells["%s/%s" % (sid, cid)]["majority"]
                       for sid in self.at_3g() for cid in rows):
                    differ_runs += 1
            self.figures.add("determinism.%s.rounds_differing" % condition, "determinism",
                             "%s rounds whose table differed from the majority" % condition,
                             differ_runs, "rate", target="0", ok=differ_runs == 0,
                             count=differ_runs, of=len(runs))
            walls = summary([r["wall"] for r in runs if r["exit"] is not None])
            label = "one round (%d references, %s jobs), %s" % (
                len(self.at_3g()), "/".join(sorted({str(r["jobs"]) for r in runs})) or "?",
                "CPU idle" if condition == "idle" else "one CPU kept busy")
            if walls:
                self.figures.add("determinism.%s.round_seconds" % condition, "determinism",
                                 label, walls["median"], "s",
                                 range=[walls["min"], walls["max"]])
            else:
                self.figures.not_measured("determinism.%s.round_seconds" % condition,
                                          "determinism", label, "every round timed out")
        if worst is not None:
            rate = (worst["idle"]["differ"] + worst["busy"]["differ"]) / total_runs
            self.figures.add("determinism.worst_flake", "determinism",
                             "worst cell: %s %s" % (worst["stage"], worst["check"]),
                             worst["idle"]["differ"] + worst["busy"]["differ"], "rate",
                             target="0", ok=False, count=worst["idle"]["differ"]
                             + worst["busy"]["differ"], of=total_runs, rate=round(rate, 4))

    @staticmethod
    def cell_of(rnd, sid, cid):
        if cid == "(status)":
            return rnd["status"].get(sid)
        return rnd["verdicts"].get(sid, {}).get(cid)

    def verdict_table(self, rows, cells):
        """Lines: checks down, stages across; the majority verdict, `*` where
        any run differed."""
        stages = list(self.at_3g())
        width = max(len(r) for r in rows) + 2
        lines = ["%-*s%s" % (width, "check", " ".join("%-4s" % s for s in stages))]
        for cid in rows:
            marks = []
            for sid in stages:
                cell = cells["%s/%s" % (sid, cid)]
                majority = cell["majority"]
                mark = (majority[:4] if cid == "(status)" and majority
                        else VERDICT_MARK.get(majority, "?"))
                marks.append("%-4s" % (mark + ("*" if cell["differ"] else "")))
            lines.append(("%-*s%s" % (width, cid, " ".join(marks))).rstrip())
        return lines

    # Where the verdict table is pinned, and what `-` means there: since the
    # table moved to tests/verdicts.py (TABLE), `-` is a skip; the older
    # tests/test_verdicts.py table meant skip or pass.
    PINNED = (("tests/verdicts.py", ("skip",)), ("tests/test_verdicts.py", ("skip", "pass")))

    def pinned(self):
        """{"file", "stages", "expect": {stage: {check: (statuses...)}}} from
        the tests' pinned verdict table, or None."""
        for rel, dash in self.PINNED:
            try:
                text = (self.tree / rel).read_text()
            except OSError:
                continue
            match = re.search(r'TABLE = """(.*?)"""', text, re.S)
            if match is None:
                continue
            rows = [line.split() for line in match.group(1).strip().splitlines()]
            stages = rows[0][1:]
            expect = {sid: {} for sid in stages}
            for cid, *marks in rows[1:]:
                for sid, mark in zip(stages, marks):
                    expect[sid][cid] = {"P": ("pass",), "F": ("fail",), "-": dash}.get(mark, ())
            return {"file": rel, "stages": stages, "checks": [r[0] for r in rows[1:]],
                    "expect": expect}
        return None

    def compare_pinned(self, cells):
        """The majority table against the one the tests pin (informative
        only): every cell that differs, every check on one side only."""
        pinned = self.pinned()
        if pinned is None:
            return None
        disagree = []
        seen_checks = {key.split("/", 1)[1] for key in cells} - {"(status)"}
        for sid, by_check in pinned["expect"].items():
            if sid not in self.at_3g():
                disagree.append("stage %s pinned, not measured" % sid)
                continue
            for cid, want in by_check.items():
                cell = cells.get("%s/%s" % (sid, cid))
                if cell is None:          # a check no round graded: said once, below
                    continue
                if cell["majority"] not in want:
                    disagree.append("%s %s: pinned %s, majority %s" % (
                        sid, cid, "/".join(want), cell["majority"]))
        for cid in [c for c in pinned["checks"] if c not in seen_checks]:
            disagree.append("%s: pinned, never graded" % cid)
        for cid in sorted(seen_checks - set(pinned["checks"])):
            disagree.append("%s: graded, not in the pinned table" % cid)
        return {"file": pinned["file"], "disagree": disagree}

    # -- demos
    def demo_argv(self, demo):
        argv = [sys.executable, str(demo), "--fast"]
        if self.demo_isolation == "netns":
            argv = ["unshare", "--net", "--", "sh", "-c",
                    'ip link set lo up && exec "$0" "$@"'] + argv
        return argv

    def demos(self):
        runs = self.args.demo_runs or DEMO_RUNS[self.mode]
        self.demo_isolation = "host"
        why = "--demos-on-host" if self.args.demos_on_host else None
        if not self.args.demos_on_host:
            if os.geteuid() != 0:
                why = "not root"
            elif not (shutil.which("unshare") and shutil.which("ip")):
                why = "unshare or ip missing"
            else:
                code, _, _, _ = self.procs.run(["unshare", "--net", "--", "true"], 30)
                if code == 0:
                    self.demo_isolation = "netns"
                else:
                    why = "unshare --net failed"
        out = self.begin("demos", {
               "command": "python3 labs/<stage>/demo.py --fast", "runs_per_demo": runs,
               "isolation": ("a private network namespace per run (port 8888 of its own)"
                             if self.demo_isolation == "netns"
                             else "none: host network (%s)" % why),
               "stages": {}})
        for sid, ref in self.refs.items():
            demo = Path(self.stages[sid]["demo"])
            key = "demos.%s" % sid
            if not demo.exists():
                out["stages"][sid] = {"missing": True}
                self.figures.not_measured(key + ".reproduced", "demos",
                                          "lab demo %s --fast: phenomenon shown" % sid,
                                          "no demo.py", target="%d/%d" % (runs, runs))
                continue
            samples = []
            for i in range(runs):
                code, wall, stdout, stderr = self.procs.run(
                    self.demo_argv(demo), DEMO_TIMEOUT, cwd=str(self.tree), env=self.env,
                    stderr=subprocess.STDOUT)
                sample = {"exit": code, "wall": round(wall, 3)}
                if code != 0:
                    sample["tail"] = tail(stdout)
                    reason = re.findall(r"(PHENOMENON NOT REPRODUCED: .*|CANNOT RUN THIS DEMO HERE: "
                                        r".*|DEMO ERROR.*)", stdout)
                    if reason:
                        sample["why"] = reason[-1][:400]
                samples.append(sample)
                log("demo %s %d/%d: exit %s, %.1f s%s" % (
                    sid, i + 1, runs, "timeout" if code is None else code, wall,
                    (" - " + sample["why"][:160]) if sample.get("why") else ""))
            shown = sum(s["exit"] == 0 for s in samples)
            exits = collections.Counter("timeout" if s["exit"] is None else str(s["exit"])
                                        for s in samples)
            walls = summary([s["wall"] for s in samples])
            out["stages"][sid] = {"samples": samples, "exits": dict(exits), "wall": walls}
            self.figures.add(key + ".reproduced", "demos",
                             "lab demo %s --fast: phenomenon shown (exit 0)" % sid, shown, "of",
                             target="%d/%d" % (runs, runs), ok=shown == runs, of=runs,
                             exits=dict(exits))
            self.figures.add(key + ".seconds", "demos", "lab demo %s --fast: time per run" % sid,
                             walls["median"], "s", range=[walls["min"], walls["max"]])
        return out

    # -- batch
    def batch_mix(self, folder, size):
        """`size` folders, each holding a copy of one reference graded at 3g:
        round-robin over the stages (3a, 3b, ... 3g, 3a, ...). (paths, their
        stage ids)."""
        paths, stages = [], []
        refs = list(self.at_3g().items())
        for i in range(size):
            sid, ref = refs[i % len(refs)]
            sub = folder / ("s%02d-%s" % (i + 1, sid))
            sub.mkdir()
            shutil.copy(ref, sub / ref.name)
            paths.append(str(sub))
            stages.append(sid)
        os.chmod(folder, 0o755)
        return paths, stages

    def expected_verdict(self, sid, cid, pinned):
        """The verdicts a cell may have: the determinism majority when that
        section ran, else the pinned table (checks only); None: unknown."""
        if self.majority:
            want = self.majority.get("%s/%s" % (sid, cid))
            return None if want is None else (want,)
        if pinned and cid != "(status)":
            return pinned["expect"].get(sid, {}).get(cid) or None
        return None

    def batch_run(self, paths, stages, jobs, pinned):
        """One `lab grade --stage 3g [--jobs N] --format json` of the mix."""
        argv = ["grade", "--stage", "3g"] + (["--jobs", str(jobs)] if jobs else []) + [
            "--format", "json"] + paths
        code, wall, stdout, stderr = self.run_lab(argv, BATCH_TIMEOUT)
        match = re.search(r"\((\d+) at a time\)", stderr)
        run = {"command": "lab grade --stage 3g %s--format json <%d folders>" % (
                   "--jobs %d " % jobs if jobs else "", len(paths)),
               "jobs_asked": jobs or "default", "jobs": int(match.group(1)) if match else None,
               "exit": code, "wall": round(wall, 3)}
        try:
            reports = json.loads(stdout)["submissions"]
        except (ValueError, KeyError, TypeError):
            reports = []
            run["error"] = tail(stderr or stdout, 5) or "no output"
        run["status"] = dict(collections.Counter(r.get("status") for r in reports))
        run["grader_seconds"] = summary([r.get("seconds") for r in reports])
        complete = code is not None and len(reports) == len(paths)
        run["per_minute"] = round(len(paths) * 60.0 / wall, 2) if complete else None
        differs = []
        for sid, report in zip(stages, reports):
            verdicts = {"(status)": report.get("status")}
            verdicts.update({c["id"]: c["status"] for c in report.get("checks", [])})
            for cid, verdict in verdicts.items():
                want = self.expected_verdict(sid, cid, pinned)
                if want is not None and verdict not in want:
                    differs.append("--jobs %s: %s (%s) %s: %s, expected %s" % (
                        jobs or "default", Path(report.get("submission", "")).name, sid, cid,
                        verdict, "/".join(want)))
        run["differs"] = differs
        log("batch --jobs %s: %d submissions in %.1f s (%s at a time), %s" % (
            jobs or "default", len(paths), wall, run["jobs"], run["status"]))
        return run

    def batch(self):
        size = self.args.batch_size
        extra = self.args.batch_jobs or []
        pinned = None if self.majority else self.pinned()
        folder = Path(tempfile.mkdtemp(prefix="lab3-bench-batch-"))
        out = self.begin("batch", {"submissions": size, "runs": {}})
        try:
            paths, stages = self.batch_mix(folder, size)
            out["mix"] = dict(collections.Counter(stages))
            out["compared_with"] = ("the determinism majority" if self.majority else
                                    "%s (checks only)" % pinned["file"] if pinned else None)
            runs = out["runs"]
            runs["default"] = self.batch_run(paths, stages, None, pinned)
            default_jobs = runs["default"]["jobs"]
            out["default_jobs"] = default_jobs
            for jobs in [1] + [j for j in extra if j != 1]:
                if jobs == default_jobs:
                    runs[str(jobs)] = dict(runs["default"], same_as="default")
                    continue
                if str(jobs) not in runs:
                    runs[str(jobs)] = self.batch_run(paths, stages, jobs, pinned)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.batch_figures(out, extra)
        return out

    def batch_figures(self, out, extra):
        size, runs = out["submissions"], out["runs"]
        default, single = runs["default"], runs.get("1")
        jobs = out.get("default_jobs")
        # kept from the earlier output, for the baseline: the command, status, ...
        out.update(command=default["command"], exit=default["exit"], wall=default["wall"],
                   jobs=jobs, status=default["status"], grader_seconds=default["grader_seconds"])
        if jobs is not None:
            self.figures.add("batch.default_jobs", "batch",
                             "--jobs lab grade chose by default (grader/batch.py)", jobs, "count")
        else:
            self.figures.not_measured("batch.default_jobs", "batch",
                                      "--jobs lab grade chose by default (grader/batch.py)",
                                      "lab grade did not say (exit %s)" % default["exit"])
        label = "lab grade, default --jobs (%s): %d submissions, total" % (jobs or "?", size)
        if default["per_minute"] is None:
            why = ("timed out after %d s" % BATCH_TIMEOUT if default["exit"] is None
                   else "no report for every submission: %s" % default.get("error", "")[-200:])
            self.figures.not_measured("batch.seconds", "batch", label, why)
            self.figures.not_measured("batch.per_minute", "batch", "throughput, default --jobs",
                                      why, target=">= %g /min" % TARGET_BATCH_PER_MINUTE)
        else:
            self.figures.add("batch.seconds", "batch", label, default["wall"], "s")
            self.figures.add("batch.per_minute", "batch", "throughput, default --jobs",
                             default["per_minute"], "/min",
                             target=">= %g /min" % TARGET_BATCH_PER_MINUTE,
                             ok=default["per_minute"] >= TARGET_BATCH_PER_MINUTE)
        label = "lab grade --jobs 1 (one by one): total"
        if single is None or single["per_minute"] is None:
            why = "no run" if single is None else (
                "timed out after %d s" % BATCH_TIMEOUT if single["exit"] is None
                else "no report for every submission")
            self.figures.not_measured("batch.one_by_one.seconds", "batch", label, why)
        else:
            self.figures.add("batch.one_by_one.seconds", "batch", label, single["wall"], "s",
                             note="the default run, reused (it ran one at a time)"
                             if single.get("same_as") else None)
        label = "speed-up: default --jobs against --jobs 1"
        if default["per_minute"] and single and single["per_minute"]:
            speedup = single["wall"] / default["wall"]
            out["speedup"] = round(speedup, 2)
            self.figures.add("batch.speedup", "batch", label, speedup, "x",
                             target=">= %gx" % TARGET_BATCH_SPEEDUP,
                             ok=speedup >= TARGET_BATCH_SPEEDUP)
        else:
            self.figures.not_measured("batch.speedup", "batch", label,
                                      "a run did not finish", target=">= %gx" % TARGET_BATCH_SPEEDUP)
        for jobs_asked in extra:
            run = runs[str(jobs_asked)]
            key = "batch.jobs.%d.per_minute" % jobs_asked
            label = "lab grade --jobs %d: throughput" % jobs_asked
            if run["per_minute"] is None:
                self.figures.not_measured(key, "batch", label, "timed out" if run["exit"] is None
                                          else "no report for every submission")
            else:
                self.figures.add(key, "batch", label, run["per_minute"], "/min",
                                 note="the default run, reused" if run.get("same_as") else None)
        differs = [d for name, run in runs.items() if not run.get("same_as")
                   for d in run["differs"]]
        out["differs"] = differs
        if out.get("compared_with"):
            self.figures.add("batch.disagreements", "batch",
                             "verdicts differing from %s" % out["compared_with"], len(differs),
                             "count", target="0", ok=not differs)

    # -- image
    def docker(self, args, timeout, **kwargs):
        # The caller's environment, not self.env: compose.yaml turns
        # LAB_SERVER_UID into a build argument, and --server-uid must not
        # change the image.
        return self.procs.run(["docker"] + args, timeout, cwd=str(self.tree),
                              env=self.docker_env, **kwargs)

    def docker_missing(self, out):
        """Why docker or docker compose cannot be used here, or None (the
        versions go into `out`)."""
        if shutil.which("docker") is None:
            return "docker is not installed"
        code, _, stdout, stderr = self.docker(["version", "--format", "{{.Server.Version}}"], 60)
        if code != 0:
            return "the Docker engine does not answer (%s)" % tail(stderr, 1)
        out["docker"] = stdout.strip()
        code, _, stdout, _ = self.docker(["compose", "version", "--short"], 60)
        out["compose"] = stdout.strip() if code == 0 else None
        if code != 0:
            return "docker compose is not installed"
        return None

    def image(self):
        cold = (not self.args.quick) or (self.args.only is not None and "image" in self.args.only)
        out = self.begin("image", {"image": "lab3:latest", "cold_build_requested": cold})
        keys = [("image.size_mb", "size of lab3:latest (docker image inspect)"),
                ("image.base_build_seconds", "base image (docker/build-base-image.sh)"),
                ("image.cold_build_seconds", "cold build (docker compose build --no-cache lab3)"),
                ("image.warm_run_seconds", "warm docker compose run --rm lab3 true, median of %d"
                 % WARM_RUNS)]
        labels = dict(keys)

        def skip_all(why, only=None):
            for key, label in keys:
                if only is None or key in only:
                    self.figures.not_measured(key, "image", label, why)

        why = self.docker_missing(out)
        if why:
            out["why"] = why
            skip_all(why)
            return out

        base = os.environ.get("LAB_BASE_IMAGE", "debian:bookworm-slim")
        if cold:
            code, _, _, _ = self.docker(["image", "inspect", base], 60)
            out["base_image"] = base
            if code == 0:
                self.figures.not_measured("image.base_build_seconds", "image",
                                          labels["image.base_build_seconds"],
                                          "%s is present, nothing to build" % base)
            else:
                log("image: %s missing: bash docker/build-base-image.sh" % base)
                code, wall, stdout, stderr = self.procs.run(
                    ["bash", "docker/build-base-image.sh"], BUILD_TIMEOUT, cwd=str(self.tree),
                    env=self.docker_env)
                out["base_build"] = {"exit": code, "wall": round(wall, 1),
                                     "tail": tail(stderr + stdout, 5)}
                if code == 0:
                    self.figures.add("image.base_build_seconds", "image",
                                     labels["image.base_build_seconds"], wall, "s")
                else:
                    self.figures.not_measured("image.base_build_seconds", "image",
                                              labels["image.base_build_seconds"],
                                              "failed (exit %s)" % code)
            log("image: docker compose build --no-cache lab3 (minutes)")
            code, wall, stdout, stderr = self.docker(
                ["compose", "build", "--no-cache", "lab3"], BUILD_TIMEOUT)
            out["cold_build"] = {"exit": code, "wall": round(wall, 1),
                                 "tail": tail(stderr + stdout, 5) if code != 0 else ""}
            log("image: cold build exit %s in %.0f s" % (code, wall))
            if code == 0:
                self.figures.add("image.cold_build_seconds", "image",
                                 labels["image.cold_build_seconds"], wall, "s")
            else:
                self.figures.not_measured("image.cold_build_seconds", "image",
                                          labels["image.cold_build_seconds"],
                                          "failed (exit %s): %s" % (code, tail(stderr, 1)))
        else:
            skip_all("not asked (--quick: add --only image)",
                     only=("image.base_build_seconds", "image.cold_build_seconds"))

        code, _, stdout, _ = self.docker(
            ["image", "inspect", "lab3:latest", "--format", "{{.Size}} {{.Id}} {{.Created}}"], 60)
        if code != 0:
            why = "the image lab3:latest is missing (docker compose build lab3)"
            out["why"] = why
            skip_all(why, only=("image.size_mb", "image.warm_run_seconds"))
            return out
        size, image_id, created = stdout.split()[:3]
        out.update(size_bytes=int(size), id=image_id, created=created)
        self.figures.add("image.size_mb", "image", labels["image.size_mb"],
                         int(size) / 1e6, "MB")

        samples = []
        built_during_run = False
        for i in range(WARM_RUNS + 1):          # the first one only warms up
            code, wall, stdout, stderr = self.docker(
                ["compose", "run", "--rm", "lab3", "true"], RUN_TIMEOUT)
            built = bool(re.search(r"naming to .*lab3|Building", stdout + stderr))
            built_during_run = built_during_run or (built and i > 0)
            samples.append({"exit": code, "wall": round(wall, 3), "warm_up": i == 0,
                            "built_image": built})
            log("image: compose run %d/%d: exit %s, %.2f s%s" % (
                i, WARM_RUNS, code, wall, " (warm-up)" if i == 0 else ""))
        out["warm_runs"] = samples
        timed = [s for s in samples if not s["warm_up"]]
        if all(s["exit"] == 0 for s in timed):
            stats = summary([s["wall"] for s in timed])
            self.figures.add("image.warm_run_seconds", "image",
                             labels["image.warm_run_seconds"], stats["median"], "s",
                             range=[stats["min"], stats["max"]],
                             note="an image was built during a timed run" if built_during_run
                             else None)
        else:
            bad = [s for s in timed if s["exit"] != 0][0]
            self.figures.not_measured("image.warm_run_seconds", "image",
                                      labels["image.warm_run_seconds"],
                                      "docker compose run failed (exit %s)" % bad["exit"])
        return out


    # -- container
    def compose_run(self, args, timeout, name):
        """`docker compose run --rm -T --name NAME test ARGS...`: the `test`
        service runs its command as root (LAB_RUN_AS=root) in /opt/lab3 with
        nothing mounted. A run past its timeout is killed, its container
        removed."""
        code, wall, stdout, stderr = self.docker(
            ["compose", "run", "--rm", "-T", "--name", name, CONTAINER_SERVICE] + args, timeout)
        if code is None:
            self.docker(["rm", "-f", name], 60)
        return code, wall, stdout, stderr

    def container(self):
        repeats = self.args.repeats or GRADING_REPEATS[self.mode]
        out = self.begin("container", {
            "image": "lab3:latest", "service": CONTAINER_SERVICE, "repeats": repeats,
            "command": "docker compose run --rm -T %s lab check STAGE "
                       "/opt/lab3/labs/<slug>/<server> --format json "
                       "(STAGE: 3g, or the reference's own)" % CONTAINER_SERVICE,
            "stages": {}})

        def target(sid):
            return "<= %g s, pass" % TARGET_CONTAINER_3G_SECONDS if sid == "3g" else None

        def skip_all(why):
            out["why"] = why
            for sid, ref in self.refs.items():
                self.figures.not_measured("container.%s.seconds" % sid, "container",
                                          "in the container: lab check %s %s"
                                          % (self.graded_at(sid), ref.name), why,
                                          target=target(sid))
            return out

        why = self.docker_missing(out)
        if why:
            return skip_all(why)
        code, _, stdout, _ = self.docker(
            ["image", "inspect", "lab3:latest", "--format", "{{.Id}} {{.Created}}"], 60)
        if code != 0:
            return skip_all("the image lab3:latest is missing (docker compose build lab3)")
        out["id"], out["created"] = (stdout.split() + ["?", "?"])[:2]
        # Is the lab in the image the one measured? (This first run also
        # warms docker up.)
        _, _, mine, _ = self.procs.run([sys.executable, "-c", FINGERPRINT, str(self.tree)], 60)
        code, wall, theirs, stderr = self.compose_run(
            ["python3", "-c", FINGERPRINT, "/opt/lab3"], RUN_TIMEOUT,
            "lab3-bench-%d-fingerprint" % os.getpid())
        out["fingerprint"] = {"tree": mine.strip() or None,
                              "image": theirs.strip() if code == 0 else None,
                              "run_seconds": round(wall, 2)}
        out["image_matches_tree"] = (None if code != 0 or not mine.strip()
                                     else mine.strip() == theirs.strip())
        if code != 0:
            return skip_all("docker compose run %s fails (exit %s): %s" % (
                CONTAINER_SERVICE, code, tail(stderr, 1)))
        log("container: lab3:latest %s, grader/ and labs/ %s the tree's" % (
            out["id"][7:19], "the same as" if out["image_matches_tree"] else "NOT"))
        for sid, ref in self.refs.items():
            inside = "/opt/lab3/labs/%s/%s" % (self.stages[sid]["slug"], ref.name)
            samples = []
            for i in range(repeats):
                code, wall, stdout, stderr = self.compose_run(
                    ["lab", "check", self.graded_at(sid), inside, "--format", "json"],
                    CONTAINER_CHECK_TIMEOUT,
                    "lab3-bench-%d-%s-%d" % (os.getpid(), sid, i + 1))
                sample = self.report_sample({"wall": round(wall, 3), "exit": code},
                                            code, stdout, stderr)
                samples.append(sample)
                log("container %s %d/%d: grader %s s, docker compose run %.1f s, %s" % (
                    sid, i + 1, repeats, sample.get("grader_seconds", "?"), wall,
                    sample.get("status") or "no report"))
            own = summary([s.get("grader_seconds") for s in samples])
            walls = summary([s["wall"] for s in samples if s.get("grader_seconds") is not None])
            status = collections.Counter(s.get("status") for s in samples).most_common(1)[0][0]
            out["stages"][sid] = {"path": inside, "samples": samples, "grader_seconds": own,
                                  "wall": walls}
            label = "in the container: lab check %s %s (%s)" % (
                self.graded_at(sid), ref.name, status or "no report")
            key = "container.%s" % sid
            if own is None:
                bad = samples[-1]
                self.figures.not_measured(
                    key + ".seconds", "container", label,
                    "timed out after %d s" % CONTAINER_CHECK_TIMEOUT if bad["exit"] is None
                    else "no report (exit %s): %s" % (bad["exit"], (bad.get("error") or "")
                                                      .splitlines()[-1:]), target=target(sid))
                continue
            ok = None
            if sid == "3g":
                ok = own["median"] <= TARGET_CONTAINER_3G_SECONDS and status == "pass"
            self.figures.add(key + ".seconds", "container", label, own["median"], "s",
                             target=target(sid), ok=ok, range=[own["min"], own["max"]],
                             note=self.check_breakdown(samples) if sid == "3g" else None)
            self.figures.add(key + ".run_seconds", "container",
                             "  %s: the whole docker compose run around it" % sid,
                             walls["median"], "s", range=[walls["min"], walls["max"]])
        # someone may have rebuilt lab3:latest meanwhile: then the samples
        # are of two images
        code, _, stdout, _ = self.docker(["image", "inspect", "lab3:latest", "--format",
                                          "{{.Id}}"], 60)
        if code == 0 and stdout.strip() != out["id"]:
            out["image_changed_to"] = stdout.strip()
            log("container: lab3:latest changed during the section (now %s)"
                % stdout.strip()[7:19])
        return out

    # -- ci
    def remove_compose_containers(self, project_dir):
        """Containers compose started for the project in `project_dir` (a
        CI run cut short leaves its `docker compose run` container behind)."""
        if shutil.which("docker") is None:
            return []
        code, _, stdout, _ = self.docker(
            ["ps", "-aq", "--filter",
             "label=com.docker.compose.project.working_dir=%s" % project_dir], 60)
        ids = stdout.split() if code == 0 else []
        if ids:
            log("ci: removing the containers it left: %s" % " ".join(ids))
            self.docker(["rm", "-f"] + ids, 120)
        return ids

    def ci(self):
        timeout = self.args.ci_timeout * 60
        script = self.args.ci_script or ".ci/run"
        out = self.begin("ci", {"command": "CI=true bash %s" % script,
                                "timeout": timeout, "phases": []})
        total_label = "CI=true bash %s in a fresh clone: total" % script
        total_target = "<= %g s (%g min)" % (TARGET_CI_SECONDS, TARGET_CI_SECONDS / 60)

        def skip_all(why):
            out["why"] = why
            self.figures.not_measured("ci.seconds", "ci", total_label, why, target=total_target)
            for kind in CI_KINDS:
                self.figures.not_measured("ci.%s.seconds" % kind, "ci", CI_KINDS[kind], why)
            return out

        if shutil.which("git") is None:
            return skip_all("git is not installed")
        work = Path(tempfile.mkdtemp(prefix="lab3-bench-ci-"))
        os.chmod(work, 0o755)         # the servers' uids read the clone's files
        clone = work / "lab"
        try:
            code, wall, stdout, stderr = self.procs.run(
                ["git", "clone", "--quiet", str(self.source), str(clone)], CLONE_TIMEOUT)
            if code != 0:
                return skip_all("git clone %s failed (exit %s): %s" % (
                    self.source, code, tail(stderr or stdout, 1)))
            commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
            out.update(clone_of=str(self.source), commit=commit, clone_seconds=round(wall, 1))
            if not (clone / script).is_file():
                return skip_all("the clone has no %s" % script)
            log_path = self.output.with_name(self.output.stem + ".ci.log")
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out["log"] = str(log_path)
            env = dict(os.environ, CI="true")
            env.pop("PYTHONPATH", None)          # the clone's own lab, not ours
            log("ci: CI=true bash %s in a clone of %s @ %s (at most %g min; output in %s)" % (
                script, self.source, commit, self.args.ci_timeout, log_path))
            code, wall, lines = self.procs.run_streaming(["bash", script], timeout, log_path,
                                                         cwd=str(clone), env=env)
        finally:
            out["left_containers"] = self.remove_compose_containers(clone)
            shutil.rmtree(work, ignore_errors=True)
        out.update(exit=code, wall=round(wall, 1), lines=len(lines),
                   tail=tail("\n".join(text for _, text in lines), 15))
        out["phases"] = ci_phases(lines, wall, code)
        log("ci: exit %s after %.0f s; phases: %s" % (
            "timeout" if code is None else code, wall,
            ", ".join("%s %.0f s" % (p["name"][:30], p["seconds"]) for p in out["phases"])))
        self.ci_figures(out, total_label, total_target)
        return out

    def ci_figures(self, out, total_label, total_target):
        phases, code, wall = out["phases"], out["exit"], out["wall"]
        last = phases[-1]["name"] if phases else "before any `== ` header"
        if code is None:
            fig = self.figures.not_measured("ci.seconds", "ci", total_label,
                                            "timed out after %g min, during: %s" % (
                                                self.args.ci_timeout, last), target=total_target)
            if wall >= TARGET_CI_SECONDS:           # it ran longer than the target anyway
                fig["ok"] = False
        else:
            self.figures.add("ci.seconds", "ci", total_label, wall, "s", target=total_target,
                             ok=code == 0 and wall <= TARGET_CI_SECONDS,
                             note=None if code == 0 else "the CI failed (exit %d) during: %s"
                             % (code, last))
        lead = phases[0]["start"] if phases else 0.0   # before the first header: setup
        for kind, label in CI_KINDS.items():
            mine = [p for p in phases if p["kind"] == kind]
            key = "ci.%s.seconds" % kind
            if not phases:
                self.figures.not_measured(key, "ci", label, "no `== ` header in the output")
                continue
            if not mine and not (kind == "setup" and lead):
                self.figures.not_measured(key, "ci", label,
                                          "no such phase in the output" if code == 0
                                          else "not reached")
                continue
            seconds = sum(p["seconds"] for p in mine) + (lead if kind == "setup" else 0.0)
            cut = [p for p in mine if p["how"] != "done"]
            self.figures.add(key, "ci", label, seconds, "s",
                             note="%s: %s" % (cut[0]["how"], cut[0]["name"]) if cut else None)


# -------------------------------------------------------------- machine ---

def machine_info(tree, env, procs):
    info = {"nproc": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu_model": None, "kernel": platform.release(), "os": platform.platform(),
            "python": sys.version.split()[0], "python_executable": sys.executable,
            "root": os.geteuid() == 0, "loadavg_at_start": loadavg()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu_model"] = info["cpu_model"] or platform.processor() or None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    code, _, stdout, stderr = procs.run(
        [sys.executable, "-c", "from grader import netns; print(netns.available())"], 60,
        cwd=str(tree), env=env)
    info["grader_network_namespaces"] = (stdout.strip() == "True") if code == 0 else None
    if code != 0:
        info["grader_network_namespaces_error"] = tail(stderr, 2)
    info["lab_server_uid"] = env.get("LAB_SERVER_UID", "(default: labserver user or 64123)")
    code, _, stdout, _ = procs.run(["curl", "--version"], 30) if shutil.which("curl") else (1, 0,
                                                                                            "", "")
    info["curl"] = stdout.split()[1] if code == 0 and stdout else None
    return info


def tree_info(tree, source):
    """Which lab was measured: the git commit, what was modified, and a
    fingerprint of the files themselves."""
    info = {"path": str(tree)}
    if source is not None:
        info["snapshot_of"] = str(source)
    repo = source or tree
    try:
        info["commit"] = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True, timeout=30).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                                capture_output=True, text=True, timeout=30).stdout
        info["modified"] = [line[3:] for line in status.splitlines()
                            if not line[3:].startswith("bench/")]
    except (OSError, subprocess.TimeoutExpired):
        pass
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if path.is_file() and not ignored(rel):
            digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    info["files_sha256"] = digest.hexdigest()[:16]
    return info


def ignored(rel):
    parts = rel.parts
    return (not parts or parts[0] in (".git", "work", ".pytest_cache", "build", "dist")
            or parts[:2] == ("bench", "results") or "__pycache__" in parts
            or rel.suffix == ".pyc")


def snapshot(source):
    """A private copy of the lab, so that edits made while the bench runs do
    not change what it measures halfway."""
    target = Path(tempfile.mkdtemp(prefix="lab3-bench-tree-"))
    os.chmod(target, 0o755)

    def skip(folder, names):
        rel = Path(folder).relative_to(source)
        return [n for n in names if ignored(rel / n)]

    shutil.copytree(source, target / "lab", ignore=skip, symlinks=True)
    (target / "lab" / "work").mkdir(exist_ok=True)
    return target / "lab"


# --------------------------------------------------------------- report ---

SECTION_TITLES = {
    "grading": "1. Grading time: lab check on each stage's reference (3g for Part 3's)",
    "determinism": "2. Determinism: lab grade --stage 3g of the references, per round",
    "demos": "3. Demo reproduction: lab demo STAGE --fast",
    "batch": "4. Batch throughput: lab grade --stage 3g of the mix",
    "image": "5. The image",
    "container": "6. Grading time in the container: lab check in docker compose run",
    "trace": "7. lab trace: its time, and what the recording does to the phenomenon",
    "ci": "8. CI: CI=true bash .ci/run in a fresh clone",
}


def render(result, earlier):
    lines = []
    m, t = result["machine"], result["tree"]
    lines.append("lab3 bench, %s run, %s" % (result["mode"], result["started"]))
    lines.append("machine: %s CPUs (%s), %s GiB, Linux %s, Python %s, %s, grader netns: %s, "
                 "load at start %s" % (
                     m["nproc"], m["cpu_model"], m.get("memory_gib"), m["kernel"], m["python"],
                     "root" if m["root"] else "not root",
                     {True: "yes", False: "no", None: "?"}[m["grader_network_namespaces"]],
                     "/".join(map(str, m["loadavg_at_start"] or []))))
    lines.append("lab: %s @ %s%s, files %s" % (
        t.get("snapshot_of") or t["path"], t.get("commit", "?"),
        " + %d modified/new files" % len(t["modified"]) if t.get("modified") else "",
        t["files_sha256"]))
    if earlier is not None:
        lines.append("compared with: %s (%s run, %s, lab @ %s)" % (
            result["compare"]["file"], earlier.get("mode"), earlier.get("started"),
            earlier.get("tree", {}).get("commit", "?")))
    old_figs = (earlier or {}).get("figures", {})
    width_label = 56
    width_value = 22
    for key, fig in result["figures"].items():
        value = fmt_figure(fig) if fig.get("value") is not None else ""
        if earlier is not None:
            value += fmt_change(fig, old_figs.get(key))
        width_value = min(50, max(width_value, len(value)))
    for name, section in result["sections"].items():
        lines.append("")
        lines.append(SECTION_TITLES[name] + "  (%s)" % fmt_value(section.get("seconds"), "s"))
        if section.get("error"):
            lines.append("  the bench failed here: %s" % section["error"].splitlines()[-1])
        for key, fig in result["figures"].items():
            if fig["section"] != name:
                continue
            value = fmt_figure(fig)
            if earlier is not None:
                value += fmt_change(fig, old_figs.get(key))
            verdict = {True: "ok", False: "MISSED", None: ""}[fig.get("ok")]
            target = ("target %s" % fig["target"]) if fig.get("target") else ""
            lines.append(("  %-*s %-*s %-20s %s" % (width_label, fig["label"][:width_label],
                                                     width_value, value, target,
                                                     verdict)).rstrip())
            if fig.get("note"):
                lines.append("      note: %s" % fig["note"])
            if fig.get("exits") and set(fig["exits"]) != {"0"}:
                lines.append("      exit statuses: %s (1 not reproduced, 2 environment, "
                             "3 demo error)" % ", ".join("%s x%d" % kv
                                                          for kv in sorted(fig["exits"].items())))
        data = section.get("data") or {}
        if name == "determinism" and data.get("table"):
            lines.append("")
            lines.append("  verdict table (majority of %d runs per cell; * = some run differed; "
                         "P pass, F fail, - skip, E error, ? no report):"
                         % len(data["rounds"]))
            lines.extend("    " + line for line in data["table"])
            for flake in data["flakes"]:
                lines.append("  FLAKE %s %s: majority %s, seen %s; idle %d/%d, busy %d/%d" % (
                    flake["stage"], flake["check"], flake["majority"], flake["seen"],
                    flake["idle"]["differ"], flake["idle"]["runs"], flake["busy"]["differ"],
                    flake["busy"]["runs"]))
            pinned = data.get("pinned")
            if pinned is not None:
                lines.append("  against %s: %s" % (
                    pinned["file"], "the same" if not pinned["disagree"]
                    else "; ".join(pinned["disagree"])))
            if data.get("busy_loop"):
                lines.append("  busy loop: %s s, %s of a CPU" % (
                    data["busy_loop"]["seconds"], data["busy_loop"]["cpu_share"]))
        if name == "demos" and data.get("isolation"):
            lines.append("  isolation: %s" % data["isolation"])
            for sid, stage in data.get("stages", {}).items():
                for i, sample in enumerate(stage.get("samples", [])):
                    if sample["exit"] != 0:
                        lines.append("  %s run %d: exit %s: %s" % (
                            sid, i + 1, sample["exit"],
                            sample.get("why", (sample.get("tail") or "").splitlines()[-1:])))
        if name == "batch" and data:
            if data.get("mix"):
                lines.append("  mix: %s" % ", ".join("%s x%d" % kv for kv in data["mix"].items()))
            for jobs, run in (data.get("runs") or {}).items():
                if run.get("same_as"):
                    continue
                gs = run.get("grader_seconds") or {}
                lines.append("  --jobs %-7s %s at a time, %s, %s; grader seconds per submission"
                             " %s [%s-%s]" % (
                                 jobs, run.get("jobs") or "?",
                                 fmt_value(run.get("wall"), "s") if run.get("exit") is not None
                                 else "timed out", ", ".join("%s %s" % kv for kv in
                                                             (run.get("status") or {}).items()),
                                 gs.get("median"), gs.get("min"), gs.get("max")))
            if "runs" not in data:         # a run from before --batch-jobs
                lines.append("  verdicts: %s; grader seconds per submission %s" % (
                    data.get("status"), data.get("grader_seconds")))
            dis = data.get("differs", data.get("disagreements_with_determinism_majority"))
            if isinstance(dis, list) and dis:
                lines.extend("  differs: " + d for d in dis[:20])
        if name in ("image", "container", "ci") and data.get("why"):
            lines.append("  %s" % data["why"])
        if name == "container" and data.get("fingerprint"):
            fp = data["fingerprint"]
            lines.append("  image lab3:latest %s, created %s: grader/ and labs/ %s" % (
                (data.get("id") or "?")[7:19], data.get("created"),
                {True: "the same as the tree measured", None: "not compared",
                 False: "DIFFER from the tree measured (%s, tree %s): rebuild with docker "
                        "compose build lab3" % (fp.get("image"), fp.get("tree"))}[
                    data.get("image_matches_tree")]))
            if data.get("image_changed_to"):
                lines.append("  WARNING: lab3:latest was rebuilt during the section (now %s): "
                             "the samples may be of two images" % data["image_changed_to"][7:19])
        if name == "ci" and data.get("commit"):
            lines.append("  clone of %s @ %s (committed files only); exit %s; log %s" % (
                data.get("clone_of"), data["commit"],
                "timeout" if data.get("exit") is None else data.get("exit"), data.get("log")))
            for phase in data.get("phases", []):
                lines.append("    %8s  from %7.1f s  %-9s %s%s" % (
                    fmt_value(phase["seconds"], "s"), phase["start"], phase["kind"],
                    phase["name"][:70], "" if phase["how"] == "done" else "  (%s)" % phase["how"]))
            if data.get("exit") != 0 and data.get("tail"):
                lines.extend("    | " + line for line in data["tail"].splitlines()[-5:])
    missed = [f for f in result["figures"].values() if f.get("ok") is False]
    lines.append("")
    lines.append("targets missed: %s" % (", ".join("%s (%s)" % (f["label"].strip(), fmt_figure(f))
                                                   for f in missed) or "none"))
    lines.append("finished %s, %s in all, load at end %s" % (
        result.get("finished"), fmt_value(result.get("seconds"), "s"),
        "/".join(map(str, result["machine"].get("loadavg_at_end") or []))))
    return "\n".join(lines)


# ----------------------------------------------------------------- main ---

def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer samples: 3+3 determinism rounds, 2 runs per demo, 1 check per "
                        "stage; no cold image build unless --only image")
    p.add_argument("--compare", metavar="EARLIER.json", help="show each figure's change")
    p.add_argument("--output", metavar="FILE", help="the JSON (default bench/results/latest.json)")
    p.add_argument("--show", metavar="RESULT.json",
                   help="measure nothing: print the table of an earlier run (with --compare, "
                        "against another)")
    p.add_argument("--only", metavar="LIST",
                   help="comma-separated sections: %s (default: all but ci, which takes tens "
                        "of minutes)" % ",".join(SECTIONS))
    p.add_argument("--batch-jobs", metavar="N,N,...",
                   help="batch: also grade the mix with lab grade --jobs N for each N, and "
                        "report each throughput (the default --jobs and --jobs 1 always run)")
    p.add_argument("--ci-timeout", type=float, default=CI_TIMEOUT_MINUTES, metavar="MINUTES",
                   help="ci: stop bash .ci/run after this long (default %d)" % CI_TIMEOUT_MINUTES)
    p.add_argument("--tree", metavar="DIR", default=str(DEFAULT_TREE),
                   help="the lab checkout to measure (default: the one holding bench/)")
    p.add_argument("--snapshot", action="store_true",
                   help="measure a private copy of the tree, taken at the start (others may "
                        "edit the tree meanwhile)")
    p.add_argument("--server-uid", type=int, metavar="UID",
                   help="LAB_SERVER_UID for everything the bench runs (base of the servers' uids)")
    p.add_argument("--demos-on-host", action="store_true",
                   help="run the demos on the host's loopback (default: each in a private "
                        "network namespace where possible, so no other port 8888 interferes)")
    p.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    p.add_argument("--demo-runs", type=int, help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=argparse.SUPPRESS)
    p.add_argument("--ci-script", help=argparse.SUPPRESS)   # instead of .ci/run (the bench's tests)
    args = p.parse_args(argv)
    if args.only is not None:
        args.only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in args.only if s not in SECTIONS]
        if unknown or not args.only:
            p.error("--only: choose among %s" % ",".join(SECTIONS))
    if args.batch_jobs is not None:
        try:
            args.batch_jobs = [int(j) for j in args.batch_jobs.split(",") if j.strip()]
        except ValueError:
            args.batch_jobs = None
        if not args.batch_jobs or min(args.batch_jobs) < 1:
            p.error("--batch-jobs: comma-separated numbers of 1 or more, e.g. 2,3,4,6")
        args.batch_jobs = list(dict.fromkeys(args.batch_jobs))
    if args.ci_timeout <= 0:
        p.error("--ci-timeout: minutes, more than 0")
    if args.batch_size < 1:
        p.error("--batch-size: 1 or more")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    earlier = None
    if args.compare:
        try:
            earlier = json.loads(Path(args.compare).read_text())
        except (OSError, ValueError) as e:
            print("bench: --compare %s: %s" % (args.compare, e), file=sys.stderr)
            return 2
    if args.show:
        try:
            shown = json.loads(Path(args.show).read_text())
        except (OSError, ValueError) as e:
            print("bench: --show %s: %s" % (args.show, e), file=sys.stderr)
            return 2
        if earlier is not None:
            shown["compare"] = {"file": args.compare}
        try:
            print(render(shown, earlier))
        except BrokenPipeError:
            pass
        return 0
    output = Path(args.output) if args.output else BENCH_DIR / "results" / "latest.json"
    source = Path(args.tree).resolve()
    if not (source / "grader").is_dir():
        print("bench: %s holds no grader/" % source, file=sys.stderr)
        return 2

    procs = Processes()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    # Started in the background by a non-interactive shell (`nohup ... &`),
    # we inherit SIGINT and SIGQUIT ignored, and so would everything we start
    # (an ignored disposition survives exec): the Ctrl-C a demo types into
    # its terminals would then stop nothing. Our children get the defaults.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)

    tree = snapshot(source) if args.snapshot else source
    started = time.monotonic()
    result = collections.OrderedDict(
        schema=SCHEMA, mode="quick" if args.quick else "full",
        started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        command=["bench/run.py"] + (sys.argv[1:] if argv is None else list(argv)))
    code = 0
    try:
        bench = Bench(args, tree, procs, source=source, output=output)
        result["tree"] = tree_info(tree, source if args.snapshot else None)
        result["machine"] = machine_info(tree, bench.env, procs)
        result["references"] = {sid: str(p.relative_to(tree)) for sid, p in bench.refs.items()}
        result["check_ids"] = bench.check_ids
        result["compare"] = {"file": args.compare} if args.compare else None
        result["sections"] = collections.OrderedDict()
        result["figures"] = bench.figures.items
        wanted = [s for s in SECTIONS
                  if (s in args.only if args.only is not None else s in DEFAULT_SECTIONS)]
        log("measuring %s (%s run) of %s; JSON to %s" % (
            ", ".join(wanted), result["mode"], tree, output))
        for name in wanted:
            section_started = time.monotonic()
            section = {"load_before": loadavg()}
            result["sections"][name] = section
            log("--- %s" % name)
            try:
                section["data"] = getattr(bench, name)()
            except KeyboardInterrupt:
                section["error"] = "interrupted"
                raise
            except Exception:  # noqa: BLE001 - report it, go on with the next section
                import traceback
                section["error"] = traceback.format_exc(limit=4)
                section["data"] = bench.partial.get(name)
                log("section %s failed: %s" % (name, section["error"].splitlines()[-1]))
            finally:
                procs.stop_all()
                section["seconds"] = round(time.monotonic() - section_started, 1)
                section["load_after"] = loadavg()
                write_json(output, result, started)
    except KeyboardInterrupt as e:
        log("interrupted (%s): stopping everything the bench started" % (e or "Ctrl-C"))
        code = 130
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        code = 2
    finally:
        procs.stop_all()
        if args.snapshot:
            shutil.rmtree(tree.parent, ignore_errors=True)
    if "machine" not in result:
        return code or 2
    write_json(output, result, started)
    try:
        print(render(result, earlier))
        print("\nJSON: %s" % output)
    except BrokenPipeError:
        pass
    return code


def write_json(output, result, started):
    result["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    result["seconds"] = round(time.monotonic() - started, 1)
    if "machine" in result:
        result["machine"]["loadavg_at_end"] = loadavg()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(output)


if __name__ == "__main__":
    sys.exit(main())
