"""The `lab` command."""

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from . import __version__, netns, pidns
from . import batch, bundle, i18n, prairielearn, progress, rubric, userfiles
from .formats import FORMATS, classroom
from .i18n import _, ngettext
from .report import Report, error_report
from .runner import TOTAL_SECONDS, grade
from .sandbox import GraderError, memory_note
from .stages import CHECK_IDS, STAGES, find_stage
from .submission import SubmissionError, read_server
from .text import Progress

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


class OutputRefused(UsageError):
    """A results file that cannot be written (nothing was written)."""


def stage_arg(name):
    stage = find_stage(name)
    if stage is None:
        raise UsageError(_("unknown stage %r: choose one of %s (see: lab list)")
                         % (name, ", ".join(STAGES)))
    return stage


def cmd_list(args):
    print(_("Let's Build A Web Server, the series: the stages (Part 3's, 3a-3h, at its heart)")
          + "\n")
    for stage in STAGES.values():
        print("  %s  %s %s" % (stage.id, i18n.ljust(_(stage.title), 38), _(stage.lesson)))
    print("\n  lab show 3a      " + _("the exercise text of a stage"))
    print("  lab demo 3a      " + _("watch the stage's phenomenon, live"))
    print("  lab check 3a [FILE]   " + _("grade your own server"))
    print("  lab trace FILE --svg  " + _("see what it does with many clients at once"))
    print("  lab progress     " + _("where you stand: every stage, and what comes next"))
    return EXIT_PASS


def cmd_show(args):
    stage = stage_arg(args.stage)
    readme = stage.readme.with_name("README.zh.md")
    if i18n.language() != "zh" or not readme.exists():
        readme = stage.readme
    print(readme.read_text() if readme.exists() else _(stage.title))
    print(_("The reference server: %s") % stage.server)
    print(_("lab check %s requires: %s") % (stage.id, ", ".join(stage.required)))
    return EXIT_PASS


def cmd_demo(args):
    stage = stage_arg(args.stage)
    if not stage.demo.exists():
        raise UsageError(_("stage %s has no demo yet") % stage.id)
    demo = subprocess.Popen([sys.executable, str(stage.demo)] + args.demo_args)
    interrupted_at = None
    while True:
        try:
            # Ctrl-C reaches the demo too: let it clean up (it bounds that
            # itself), and kill it only if it does not end in time.
            return demo.wait(timeout=None if interrupted_at is None else
                             max(0.1, interrupted_at + 30 - time.monotonic()))
        except KeyboardInterrupt:
            interrupted_at = interrupted_at or time.monotonic()
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            return 130


def default_submission(stage):
    name = stage.server.name
    for candidate in (Path(name), Path("work") / name):
        try:
            if userfiles.look(candidate)["kind"] != "missing":
                return candidate
        except OSError:
            pass
    raise UsageError(_("no FILE given, and no %s here or in work/: "
                       "lab check %s path/to/your/server.py") % (name, stage.id))


def parse_only(text):
    if not text:
        return None
    ids = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in ids if c not in CHECK_IDS]
    if unknown:
        raise UsageError(_("unknown check %s: the checks are %s")
                         % (", ".join(unknown), ", ".join(CHECK_IDS)))
    return set(ids)


def write_results(text, output):
    """Write machine-readable results to a file, with the rights of whoever
    ran `lab` (under sudo: the learner's, grader/userfiles.py), or to stdout."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        userfiles.write_bytes(output, text.encode("utf-8"))
    except OSError as e:
        raise OutputRefused("cannot write the results to %s: %s (nothing was written there)"
                            % (output, e.strerror))


def cmd_check(args):
    stage = stage_arg(args.stage)
    only = parse_only(args.only)
    if args.github_output and not os.environ.get("GITHUB_OUTPUT"):
        raise UsageError(_("--github-output: GITHUB_OUTPUT is not set (GitHub Actions sets it "
                           "in every step)"))
    machine = args.format != "text"
    # Human text never shares a stream with JSON or XML.
    human = sys.stderr if machine and args.output is None else sys.stdout
    if args.quiet:
        human = open(os.devnull, "w")
    progress = Progress(human, stage, verbose=args.verbose)
    points = load_rubric(args.rubric)
    submission = args.file or default_submission(stage)
    verdict = True
    try:
        try:
            server, source = read_server(submission, stage)
        except SubmissionError as e:
            report = error_report(stage, submission, str(e), points)
            progress.summary(report)
            verdict = False             # no server: nothing to record or follow up
        else:
            progress.header(stage, server, netns.available())
            if args.verbose:
                progress.write("  (%s)" % memory_note())
            report = grade(stage, server, port=args.port, total=args.timeout, only=only,
                           progress=progress, rubric=points, source=source)
            progress.summary(report)
    except KeyboardInterrupt:
        report = error_report(stage, submission, _("interrupted (Ctrl-C)"), points)
        human.write("\nlab: %s\n" % _("interrupted; the server and everything it started are gone"))
        verdict = False                 # neither recorded nor followed up
    except Exception:
        report = error_report(stage, submission,
                              _("the grader failed: ") + traceback.format_exc(limit=5), points)
        progress.summary(report)
    if machine:
        write_results(FORMATS[args.format]([report], single=True), args.output)
    elif args.output:
        write_results(FORMATS["json"]([report], single=True), args.output)
    # A whole check of the stage is the learner's progress; --quiet is how
    # `lab grade` checks each submission: an instructor's, not theirs.
    if verdict and not only and not args.quiet:
        record_progress(report, submission, human)
    try:
        feed_github_classroom(args, report)
    except classroom.GitHubOutputError as e:
        print("lab: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    return {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(report.status, EXIT_ERROR)


def cmd_trace(args):
    from .trace import run as tracing
    from .trace import svg, terminal
    path = Path(args.file)
    stage = stage_arg(args.stage) if args.stage else guess_stage(path)
    try:
        server, source = read_server(path, stage)
    except SubmissionError as e:
        raise UsageError(str(e))
    human = sys.stderr if args.format == "json" and args.output is None else sys.stdout
    clients = args.clients or stage.trace_clients
    human.write(ngettext("lab trace: %(server)s with %(clients)d simultaneous client%(how)s ...",
                         "lab trace: %(server)s with %(clients)d simultaneous clients%(how)s ...",
                         clients) % {"server": server, "clients": clients,
                                     "how": _(", under strace") if args.syscalls else ""} + "\n")
    human.flush()
    try:
        result = tracing.trace(stage, server, clients=args.clients,
                               syscalls_view=args.syscalls, port=args.port, source=source)
    except (tracing.TraceError, GraderError) as e:
        raise UsageError(str(e))
    result.submission = str(path)
    if args.format == "json":
        write_results(json.dumps(result.to_json(), indent=1) + "\n", args.output)
    else:
        text = terminal.render(result)
        if args.output:
            write_results(text, args.output)
        else:
            sys.stdout.write(text)
    if args.svg:
        target = default_svg_path(path) if args.svg is True else Path(args.svg)
        write_results(svg.render(result), target)
        human.write(_("lab trace: the picture is in %s%s") % (
            target, _(" (your work folder: open it in your browser)")
            if os.environ.get("LAB_IN_CONTAINER") else "") + "\n")
    return EXIT_PASS


def guess_stage(path):
    """The stage a file's name suggests (webserver3f.py: 3f), else the
    first one: it sets the default number of clients, and how the server
    is started (webserver2.py and webserver3h.py with their WSGI app)."""
    import re
    match = (re.search(r"(\d[a-z])", path.stem.lower())
             or re.search(r"(\d)$", path.stem.lower()))        # webserver2.py: 2
    stage = find_stage(match.group(1)) if match else None
    return stage or next(iter(STAGES.values()))


def default_svg_path(submission):
    """trace-NAME.svg in the learner's work folder in the container (their
    own machine sees it), else beside the current directory."""
    name = "trace-%s.svg" % submission.stem
    if os.environ.get("LAB_IN_CONTAINER"):
        user = os.environ.get("SUDO_USER")
        home = Path(os.path.expanduser("~" + user if user else "~"))
        if (home / "work").is_dir():
            return home / "work" / name
    return Path(name)
def record_progress(report, submission, human):
    """Record the check in the learner's work folder, and say what comes next."""
    try:
        progress.record(report, submission)
    except progress.ProgressError as e:
        print("lab: your progress is not recorded: %s" % e, file=sys.stderr)
    step = progress.next_step(report)
    if step:
        human.write(step + "\n")


def wants_github_output(args):
    """--github-output, or --format classroom inside a GitHub Actions step."""
    return getattr(args, "github_output", False) or (
        getattr(args, "format", None) == "classroom" and bool(os.environ.get("GITHUB_OUTPUT")))


def feed_github_classroom(args, report):
    """`result=<base64>` for the Classroom reporter, when wanted."""
    if wants_github_output(args):
        classroom.append_github_output(report)


def load_rubric(path):
    try:
        return rubric.load(path)
    except rubric.RubricError as e:
        raise UsageError(str(e))


def cmd_grade(args):
    stage = stage_arg(args.stage)
    points = load_rubric(args.rubric)
    if not args.paths:
        raise UsageError(_("name the submissions: lab grade --stage 3g PATH..."))
    machine = args.format != "text"
    human = sys.stderr if machine and args.output is None else sys.stdout
    bar = batch.BatchProgress(human)
    human.write("lab: %s\n" % memory_note())
    started = time.monotonic()
    try:
        reports, jobs = batch.grade_all(stage, args.paths, args, rubric=points, progress=bar)
    except batch.Interrupted as stop:
        human.write("\nlab: %s\n" % _("interrupted; nothing a submission started is left running"))
        reports, jobs = stop.reports, stop.jobs
    bar.summary(reports, jobs, time.monotonic() - started)
    writers = dict(FORMATS, csv=batch.write_csv)
    targets = [(args.format, args.output)] if machine else []
    targets += [(fmt, path) for fmt, path in (("csv", args.csv), ("json", args.json)) if path]
    refused = False
    for fmt, path in targets:       # one refused file costs none of the others
        try:
            write_results(writers[fmt](reports, single=False), path)
        except OutputRefused as e:
            print("lab: %s" % e, file=sys.stderr)
            refused = True
    if refused or any(r.status == "error" for r in reports):
        return EXIT_ERROR
    return EXIT_FAIL if any(r.status == "fail" for r in reports) else EXIT_PASS


def build_parser():
    parser = argparse.ArgumentParser(
        prog="lab", description=_("Let's Build A Web Server: demos and checks."))
    parser.add_argument("--version", action="version", version="lab " + __version__)
    parser.add_argument("--lang", choices=sorted(i18n.LANGUAGES),
                        help=_("the language of what lab says (default: LAB_LANG, else the "
                               "locale); anywhere on the command line"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help=_("the stages"))
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help=_("the exercise text of a stage"))
    p.add_argument("stage")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("demo", help=_("watch a stage's phenomenon live"))
    p.add_argument("stage")
    p.add_argument("demo_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check", help=_("grade a server for a stage"))
    p.add_argument("stage", help=_("a stage of lab list: 1, 2, 3a ... 3h"))
    p.add_argument("file", nargs="?", help=_("your server (default: webserver3X.py here or in work/)"))
    add_grading_options(p)
    p.add_argument("--only", metavar="IDS", help=_("comma-separated check ids to run"))
    p.add_argument("-v", "--verbose", action="store_true", help=_("show all the server printed"))
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--github-output", action="store_true",
                   help=_("also append result=<base64> for GitHub Classroom's reporter "
                          "to $GITHUB_OUTPUT"))
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("progress", help=_("where you stand: every stage, checked or not"))
    p.set_defaults(func=progress.cmd_progress)

    p = sub.add_parser("grade", help=_("grade a whole class: one report per submission"))
    p.add_argument("--stage", required=True, help=_("a stage of lab list: 1, 2, 3a ... 3h"))
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help=_("a submission: a server file, or a folder holding one"))
    add_grading_options(p, formats=["csv"])
    p.add_argument("--jobs", "-j", type=int, default=0,
                   help=_("submissions at once (default: two per core, where isolation allows)"))
    p.add_argument("--csv", metavar="FILE", help=_("also write a CSV of all results"))
    p.add_argument("--json", metavar="FILE", help=_("also write a JSON of all results"))
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("trace", help=_("see what a server does with simultaneous clients: "
                                       "children, SIGCHLD, reaps, zombies, on a timeline"))
    p.add_argument("file", help=_("the server to trace"))
    p.add_argument("--stage", help=_("the stage it is for (sets the default --clients)"))
    p.add_argument("--clients", type=client_count, default=None,
                   help=_("simultaneous clients (default: the stage's, else 1)"))
    p.add_argument("--svg", nargs="?", const=True, metavar="PATH",
                   help=_("also draw the timeline as an SVG picture (default: "
                          "trace-NAME.svg, in ~/work in the container)"))
    p.add_argument("--syscalls", action="store_true",
                   help=_("also trace system calls with strace (it changes the timing)"))
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--output", "-o", metavar="FILE", help=_("write the result there"))
    p.add_argument("--port", type=port_number, default=8888,
                   help=_("the port the server listens on"))
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("gradescope-bundle", help=_("write a Gradescope autograder zip for a stage"))
    bundle.add_arguments(p)
    p.set_defaults(func=bundle.cmd_gradescope_bundle)

    p = sub.add_parser("prairielearn",
                       help=_("PrairieLearn's external grader: grade /grade/student"))
    prairielearn.add_arguments(p)
    p.set_defaults(func=prairielearn.cmd_prairielearn)
    return parser


def client_count(text):
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 1000:
        raise argparse.ArgumentTypeError(_("%r is not a number of clients (1 to 1000)") % text)
    return count


def port_number(text):
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(_("%r is not a TCP port (1 to 65535)") % text)
    return port


def add_grading_options(p, formats=()):
    p.add_argument("--format", choices=sorted(["text"] + list(FORMATS) + list(formats)),
                   default="text")
    p.add_argument("--rubric", metavar="FILE", help=_("points per check (a TOML file)"))
    p.add_argument("--output", "-o", metavar="FILE", help=_("write results there, not to stdout"))
    p.add_argument("--port", type=port_number, default=8888,
                   help=_("the port the server listens on"))
    p.add_argument("--timeout", type=float, default=TOTAL_SECONDS,
                   help=_("the bound on grading one submission, in seconds"))


def write_failure(args, message):
    """Results are written even when grading could not happen (a usage
    error, Ctrl-C, the grader crashing): the chosen format gets status error
    and the reason, for `lab grade` once per submission named."""
    fmt = getattr(args, "format", None) or "text"
    if getattr(args, "command", None) == "trace":
        if fmt == "json":
            write_results(json.dumps({"submission": str(getattr(args, "file", "") or ""),
                                      "error": message}) + "\n", getattr(args, "output", None))
        return
    grading = getattr(args, "command", None) == "grade"
    if fmt == "text":
        if grading or not (getattr(args, "output", None) or wants_github_output(args)):
            return
        # what `lab check --output` writes by default; nothing on stdout
        fmt = "json" if getattr(args, "output", None) else None
    stage_name = str(getattr(args, "stage", None) or "")
    stage = find_stage(stage_name) if stage_name else None
    try:
        points = rubric.load(getattr(args, "rubric", None))
    except rubric.RubricError:
        points = {}
    submissions = (getattr(args, "paths", None) or [""]) if grading else \
        [getattr(args, "file", None) or ""]
    reports = [error_report(stage, s, message, points) if stage else
               Report(stage=stage_name, submission=str(s), message=message)
               for s in submissions]
    writers = dict(FORMATS, csv=batch.write_csv)
    targets = [(fmt, getattr(args, "output", None))] if fmt else []
    if grading:
        targets += [(f, getattr(args, f, None)) for f in ("csv", "json") if getattr(args, f, None)]
    for name, path in targets:
        if name in writers:
            try:
                write_results(writers[name](reports, single=not grading), path)
            except OutputRefused as e:
                print("lab: %s" % e, file=sys.stderr)
            except Exception as e:
                print("lab: " + _("cannot write the results: %s") % e, file=sys.stderr)
    if not grading and wants_github_output(args) and os.environ.get("GITHUB_OUTPUT"):
        try:
            classroom.append_github_output(reports[0])
        except classroom.GitHubOutputError as e:
            print("lab: %s" % e, file=sys.stderr)


def _loose_args(argv):
    """--format, --output and the like from a command line that did not
    parse, to write its (error) result where it was asked for."""
    loose = argparse.ArgumentParser(add_help=False)
    for names in (["--format"], ["--output", "-o"], ["--stage"], ["--rubric"],
                  ["--csv"], ["--json"]):
        loose.add_argument(*names)
    loose.add_argument("--github-output", action="store_true")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args, rest = loose.parse_known_args(argv)
    except SystemExit:
        return argparse.Namespace()
    words = [w for w in rest if not w.startswith("-")]
    args.command = words[0] if words else None
    if args.command == "check":
        args.stage = words[1] if len(words) > 1 else None
        args.file = words[2] if len(words) > 2 else None
    if args.format not in FORMATS and args.format != "csv":
        args.format = "text"
    return args


def take_language(argv):
    """Take `--lang en|zh` (or --lang=...) from anywhere on the command line
    (every subcommand has it, a demo's own arguments included); choose the
    language from it, else from LAB_LANG and the locale. Returns the rest of
    argv. A child process (a demo, a batch worker) gets it as LAB_LANG."""
    rest, chosen, words = [], None, iter(argv)
    for word in words:
        if word == "--":
            rest.append(word)
            rest.extend(words)
        elif word == "--lang" or word.startswith("--lang="):
            chosen = word.partition("=")[2] if "=" in word else next(words, "")
            if chosen not in i18n.LANGUAGES:
                i18n.use(i18n.from_environment())
                raise UsageError(_("--lang %r: choose %s") % (chosen, " or ".join(i18n.LANGUAGES)))
        else:
            rest.append(word)
    i18n.use(chosen or i18n.from_environment())
    if not chosen and os.environ.get("LAB_LANG") and not i18n.normalize(os.environ["LAB_LANG"]):
        print("lab: " + _("LAB_LANG=%s is neither en nor zh: the locale decides")
              % os.environ["LAB_LANG"], file=sys.stderr)
    os.environ["LAB_LANG"] = i18n.language()
    return rest


def main(argv=None):
    """The `lab` command; returns its exit status."""
    # `kill` and a closed terminal clean up like Ctrl-C: servers are killed,
    # results still written.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)
    argv = sys.argv[1:] if argv is None else argv
    try:
        argv = take_language(argv)
    except UsageError as e:
        print("lab: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser()
    complaints = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaints):
            args = parser.parse_args(argv)
    except SystemExit as e:
        sys.stderr.write(complaints.getvalue())
        if e.code:
            lines = complaints.getvalue().strip().splitlines()
            write_failure(_loose_args(argv), _("usage error: %s") % (lines[-1] if lines else
                                                                   "lab " + " ".join(argv)))
        return EXIT_ERROR if e.code else EXIT_PASS
    sys.stderr.write(complaints.getvalue())
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    if args.func in (cmd_check, cmd_grade, cmd_trace):
        pidns.contain()         # not root: the grader out of the servers' reach
    try:
        return args.func(args)
    except UsageError as e:
        print("lab: %s" % e, file=sys.stderr)
        if not isinstance(e, OutputRefused):
            write_failure(args, str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nlab: %s" % _("interrupted"), file=sys.stderr)
        write_failure(args, _("interrupted (Ctrl-C)"))
        return EXIT_ERROR
    except BrokenPipeError:
        raise                   # the reader of our output left (| head): __main__ ends quietly
    except Exception:
        traceback.print_exc()
        write_failure(args, _("the grader failed: ") + traceback.format_exc(limit=5))
        return EXIT_ERROR
