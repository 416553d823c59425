#!/usr/bin/env python3
"""The lab's benchmark: measures and reports, never asserts.

    python3 bench/run.py [--quick] [--compare EARLIER.json]
                         [--output bench/results/NAME.json]
                         [--only grading,determinism,demos,batch,image]

Prints a table of figures (each beside its target, and beside the earlier
figure with --compare) and writes every figure, the raw samples behind it
and the machine it ran on as JSON (default bench/results/latest.json).
It exits 0 whenever it could measure, even if a figure misses its target;
2 on bad usage. See bench/README.md for what each figure means.

Everything it starts is bounded (a timeout on every subprocess, a deadline
on the busy loop) and killed with its whole process tree when it ends or
overruns; the load it makes goes only to loopback.
"""

import argparse
import collections
import ctypes
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
import time
from pathlib import Path

try:
    import psutil
except ImportError:          # the lab needs it anyway; the bench copes without
    psutil = None

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_TREE = BENCH_DIR.parent
SECTIONS = ("grading", "determinism", "demos", "batch", "image")
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

# --- targets
TARGET_3G_SECONDS = 5.0
TARGET_STAGE_SECONDS = 60.0

VERDICT_MARK = {"pass": "P", "fail": "F", "skip": "-", "error": "E", None: "?"}
SUBREAPER = 36


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

class Processes:
    """Every subprocess the bench starts: bounded, and killed with its tree."""

    def __init__(self):
        self.live = {}            # pid -> Popen

    def start(self, argv, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        popen = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.live[popen.pid] = popen
        return popen

    def kill_tree(self, popen):
        """SIGKILL the process, its session and every descendant (the grader's
        workers run in sessions of their own, servers as another uid)."""
        victims = []
        if psutil is not None:
            try:
                parent = psutil.Process(popen.pid)
                victims = parent.children(recursive=True)
            except psutil.Error:
                victims = []
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for proc in victims:
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 - gone already
                pass
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.live.pop(popen.pid, None)
        self.reap_strays()

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
            self.kill_tree(popen)
            out, err = popen.communicate()
            code = None
        except BaseException:
            self.kill_tree(popen)
            raise
        wall = time.monotonic() - started
        self.live.pop(popen.pid, None)
        if code is not None:
            # the command ended: anything it left behind goes too
            self.reap_strays()
        return code, wall, _text(out), _text(err)

    def reap_strays(self):
        """We are a child subreaper: orphans of what we started come back to
        us. Kill and reap whatever is not one of our live subprocesses."""
        if psutil is None:
            return
        for _ in range(50):
            try:
                strays = [c for c in psutil.Process().children() if c.pid not in self.live]
            except psutil.Error:
                return
            if not strays:
                return
            for child in strays:
                try:
                    for proc in child.children(recursive=True) + [child]:
                        proc.kill()
                except psutil.Error:
                    pass
                try:
                    os.waitpid(child.pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            time.sleep(0.05)

    def stop_all(self):
        for popen in list(self.live.values()):
            if popen.poll() is None:
                self.kill_tree(popen)
            self.live.pop(popen.pid, None)
        self.reap_strays()


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


def become_subreaper():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


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


# ------------------------------------------------------------------- bench ---

class Bench:
    def __init__(self, args, tree, procs):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.tree = tree
        self.procs = procs
        self.figures = Figures()
        self.sections = collections.OrderedDict()
        self.refs = self.find_references()
        self.env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1",
                        NO_COLOR="1")
        self.env.pop("LAB_DEMO_FAST", None)
        self.docker_env = dict(os.environ)
        if args.server_uid is not None:
            self.env["LAB_SERVER_UID"] = str(args.server_uid)
        self.majority = None          # from determinism, for batch
        self.partial = {}             # section -> its data so far (kept if it fails)

    def begin(self, name, data):
        self.partial[name] = data
        return data

    # -- the lab
    def find_references(self):
        refs = collections.OrderedDict()
        for server in sorted(self.tree.glob("labs/3?-*/webserver3?.py")):
            sid = server.stem[len("webserver"):]
            if server.parent.name.startswith(sid + "-"):
                refs[sid] = server
        return refs

    def lab(self, *args):
        return [sys.executable, "-m", "grader"] + [str(a) for a in args]

    def run_lab(self, args, timeout):
        return self.procs.run(self.lab(*args), timeout, cwd=str(self.tree), env=self.env)

    # -- grading time
    def grading(self):
        repeats = self.args.repeats or GRADING_REPEATS[self.mode]
        out = self.begin("grading", {"command": "lab check 3g REF --format json",
                                     "repeats": repeats, "stages": {}})
        for sid, ref in self.refs.items():
            samples = []
            for i in range(repeats):
                code, wall, stdout, stderr = self.run_lab(
                    ["check", "3g", ref, "--format", "json"], CHECK_TIMEOUT)
                sample = {"wall": round(wall, 3), "exit": code}
                try:
                    report = json.loads(stdout)
                    sample.update(status=report.get("status"), grader_seconds=report.get("seconds"),
                                  checks={c["id"]: [c["status"], c.get("seconds")]
                                          for c in report.get("checks", [])})
                except ValueError:
                    sample.update(status=None, error=tail(stderr or stdout, 5))
                samples.append(sample)
                log("grading %s %d/%d: %.1f s, %s" % (sid, i + 1, repeats, wall,
                                                      sample.get("status") or "no report"))
            walls = [s["wall"] for s in samples if s["exit"] is not None]
            stats = summary(walls)
            out["stages"][sid] = {"samples": samples, "wall": stats}
            target = TARGET_3G_SECONDS if sid == "3g" else TARGET_STAGE_SECONDS
            status = collections.Counter(s.get("status") for s in samples).most_common(1)[0][0]
            label = "lab check 3g %s (%s)" % (ref.name, status or "no report")
            key = "grading.%s.seconds" % sid
            if stats is None:
                self.figures.not_measured(key, "grading", label,
                                          "timed out after %d s" % CHECK_TIMEOUT,
                                          target="<= %g s" % target)
                continue
            ok = stats["median"] <= target and all(s["exit"] is not None for s in samples)
            if sid == "3g":
                ok = ok and status == "pass"
            note = None
            if sid == "3g":
                note = self.check_breakdown(samples)
            self.figures.add(key, "grading", label, stats["median"], "s",
                             target="<= %g s%s" % (target, ", pass" if sid == "3g" else ""),
                             ok=ok, range=[stats["min"], stats["max"]], note=note)
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
        refs = [str(p) for p in self.refs.values()]
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
        for sid, ref in self.refs.items():
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
            "command": "lab grade --stage 3g <the 7 references> --format json",
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
            if psutil is not None and busy.poll() is None:
                try:
                    times = psutil.Process(busy.pid).cpu_times()
                    busy_cpu = times.user + times.system
                except psutil.Error:
                    pass
            self.procs.kill_tree(busy)
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
        for sid in self.refs:
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
                       for sid in self.refs for cid in rows):
                    differ_runs += 1
            self.figures.add("determinism.%s.rounds_differing" % condition, "determinism",
                             "%s rounds whose table differed from the majority" % condition,
                             differ_runs, "rate", target="0", ok=differ_runs == 0,
                             count=differ_runs, of=len(runs))
            walls = summary([r["wall"] for r in runs if r["exit"] is not None])
            label = "one round (7 references, %s jobs), %s" % (
                "/".join(sorted({str(r["jobs"]) for r in runs})) or "?",
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
        stages = list(self.refs)
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

    def compare_pinned(self, cells):
        """The majority table against the one tests/test_verdicts.py pins
        (informative only: P, F, or - for skip-or-pass)."""
        path = self.tree / "tests" / "test_verdicts.py"
        try:
            text = path.read_text()
            table = re.search(r'TABLE = """(.*?)"""', text, re.S).group(1)
        except (OSError, AttributeError):
            return None
        rows = [line.split() for line in table.strip().splitlines()]
        stages = rows[0][1:]
        disagree = []
        for cid, *marks in rows[1:]:
            for sid, mark in zip(stages, marks):
                cell = cells.get("%s/%s" % (sid, cid))
                if cell is None:
                    continue
                got = cell["majority"]
                want = {"P": ("pass",), "F": ("fail",), "-": ("skip", "pass")}.get(mark, ())
                if got not in want:
                    disagree.append("%s %s: pinned %s, majority %s" % (sid, cid, mark, got))
        return {"file": str(path.relative_to(self.tree)), "disagree": disagree}

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
            demo = ref.parent / "demo.py"
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
    def batch(self):
        size = self.args.batch_size
        folder = Path(tempfile.mkdtemp(prefix="lab3-bench-batch-"))
        try:
            paths, stages = [], []
            refs = list(self.refs.items())
            for i in range(size):
                sid, ref = refs[i % len(refs)]
                sub = folder / ("s%02d-%s" % (i + 1, sid))
                sub.mkdir()
                shutil.copy(ref, sub / ref.name)
                paths.append(str(sub))
                stages.append(sid)
            os.chmod(folder, 0o755)
            code, wall, stdout, stderr = self.run_lab(
                ["grade", "--stage", "3g", "--jobs", "2", "--format", "json"] + paths,
                BATCH_TIMEOUT)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        match = re.search(r"\((\d+) at a time\)", stderr)
        out = {"command": "lab grade --stage 3g --jobs 2 --format json <%d folders>" % size,
               "submissions": size, "mix": dict(collections.Counter(stages)),
               "exit": code, "wall": round(wall, 3),
               "jobs": int(match.group(1)) if match else None}
        try:
            reports = json.loads(stdout)["submissions"]
        except (ValueError, KeyError, TypeError):
            reports = []
            out["error"] = tail(stderr or stdout, 5) or "no output"
        out["status"] = dict(collections.Counter(r.get("status") for r in reports))
        out["grader_seconds"] = summary([r.get("seconds") for r in reports])
        disagreements = []
        if self.majority and reports:
            for sid, report in zip(stages, reports):
                verdicts = {"(status)": report.get("status")}
                verdicts.update({c["id"]: c["status"] for c in report.get("checks", [])})
                for cid, verdict in verdicts.items():
                    want = self.majority.get("%s/%s" % (sid, cid))
                    if want is not None and verdict != want:
                        disagreements.append("%s (%s) %s: %s, majority %s" % (
                            Path(report.get("submission", "")).name, sid, cid, verdict, want))
        out["disagreements_with_determinism_majority"] = (
            disagreements if self.majority else "not compared (determinism not run)")
        log("batch: %d submissions in %.1f s (%s at a time), %s" % (
            size, wall, out["jobs"], out["status"]))
        if code is None:
            self.figures.not_measured("batch.seconds", "batch", "total time",
                                      "timed out after %d s" % BATCH_TIMEOUT)
            return out
        self.figures.add("batch.seconds", "batch",
                         "lab grade --jobs %s: %d submissions, total" % (out["jobs"] or 2, size),
                         wall, "s")
        self.figures.add("batch.per_minute", "batch", "throughput", size * 60.0 / wall, "/min")
        if self.majority:
            self.figures.add("batch.disagreements", "batch",
                             "verdicts differing from the determinism majority",
                             len(disagreements), "count", target="0", ok=not disagreements)
        return out

    # -- image
    def docker(self, args, timeout, **kwargs):
        # The caller's environment, not self.env: compose.yaml turns
        # LAB_SERVER_UID into a build argument, and --server-uid must not
        # change the image.
        return self.procs.run(["docker"] + args, timeout, cwd=str(self.tree),
                              env=self.docker_env, **kwargs)

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

        if shutil.which("docker") is None:
            out["why"] = "docker is not installed"
            skip_all(out["why"])
            return out
        code, _, stdout, stderr = self.docker(["version", "--format", "{{.Server.Version}}"], 60)
        if code != 0:
            out["why"] = "the Docker engine does not answer (%s)" % tail(stderr, 1)
            skip_all(out["why"])
            return out
        out["docker"] = stdout.strip()
        code, _, stdout, _ = self.docker(["compose", "version", "--short"], 60)
        out["compose"] = stdout.strip() if code == 0 else None
        if code != 0:
            out["why"] = "docker compose is not installed"
            skip_all(out["why"])
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
    "grading": "1. Grading time: lab check 3g on each stage's reference",
    "determinism": "2. Determinism: lab grade --stage 3g of the 7 references, per round",
    "demos": "3. Demo reproduction: lab demo STAGE --fast",
    "batch": "4. Batch throughput: one lab grade --stage 3g --jobs 2",
    "image": "5. The image",
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
            lines.append("  verdicts: %s; grader seconds per submission %s" % (
                data.get("status"), data.get("grader_seconds")))
            dis = data.get("disagreements_with_determinism_majority")
            if isinstance(dis, list) and dis:
                lines.extend("  differs: " + d for d in dis[:20])
        if name == "image" and data.get("why"):
            lines.append("  %s" % data["why"])
    missed = [f for f in result["figures"].values() if f.get("ok") is False]
    lines.append("")
    lines.append("targets missed: %s" % (", ".join("%s (%s)" % (f["label"], fmt_figure(f))
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
                   help="comma-separated sections: " + ",".join(SECTIONS))
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
    args = p.parse_args(argv)
    if args.only is not None:
        args.only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in args.only if s not in SECTIONS]
        if unknown or not args.only:
            p.error("--only: choose among %s" % ",".join(SECTIONS))
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

    become_subreaper()
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
        bench = Bench(args, tree, procs)
        result["tree"] = tree_info(tree, source if args.snapshot else None)
        result["machine"] = machine_info(tree, bench.env, procs)
        result["references"] = {sid: str(p.relative_to(tree)) for sid, p in bench.refs.items()}
        result["compare"] = {"file": args.compare} if args.compare else None
        result["sections"] = collections.OrderedDict()
        result["figures"] = bench.figures.items
        wanted = [s for s in SECTIONS if args.only is None or s in args.only]
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
