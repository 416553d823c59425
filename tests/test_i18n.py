"""Two languages: every message has its Simplified Chinese translation (same
placeholders), the catalogue is complete and compiles as GNU msgfmt compiles
it, the language is chosen from --lang, LAB_LANG and the locale, failing
submissions are graded in Chinese with the same ids and statuses as in
English, and Chinese text wraps within its width.

(The suite itself runs in English: conftest.py sets LAB_LANG=en. A demo in
Chinese: tests/test_demos.py.)
"""

import ast
import gettext
import io
import json
import os
import re
import shutil
import string
import subprocess
import sys

import pytest

from conftest import GOLDEN, REPO, STAGES, UID_SPAN, hostile_path, run_lab
from grader import catalogue, i18n
from requirements import unavailable
from verdicts import expected

PO = i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "lab.po"
POT = i18n.LOCALE_DIR / "lab.pot"
CJK = re.compile(r"[\u4e00-\u9fff]")


def entries(path):
    return [e for e in i18n.parse_po(path.read_text("utf-8")) if e[1]]


# -- the catalogue ------------------------------------------------------------

def test_every_message_is_translated():
    untranslated = [msgid for _, msgid, _, strings, flags in entries(PO)
                    if "fuzzy" in flags or not all(strings)]
    assert not untranslated, "untranslated or fuzzy in %s:\n%s" % (
        PO.name, "\n".join(untranslated))
    assert {e[1] for e in entries(POT)} == {e[1] for e in entries(PO)}, \
        "lab.pot and lab.po differ: python3 -m grader.catalogue pot"


def test_the_template_holds_every_message_of_the_sources(tmp_path):
    """A message marked in the code but missing from lab.pot (so untranslated)
    fails here: the template is extracted afresh and compared."""
    if shutil.which("xgettext") is None or shutil.which("msgcat") is None:
        unavailable("xgettext is not installed (Debian: gettext)")
    fresh = tmp_path / "lab.pot"
    catalogue.extract(fresh)
    new = {e[1] for e in entries(fresh)}
    old = {e[1] for e in entries(POT)}
    assert new == old, ("lab.pot is out of date (python3 -m grader.catalogue pot, then translate):\n"
                        "new: %s\ngone: %s" % (sorted(new - old), sorted(old - new)))


PERCENT = re.compile(r"%(\([^)]*\))?[-#0 +]*(\d+|\*)?(\.(\d+|\*))?[diouxXeEfFgGcrsa%]")


def placeholders(text, flags):
    """The placeholders of a message: %-style (unnamed in their order, named
    as a set), and {}-style where the message is a brace format (as a set of
    fields, "{}" numbered as str.format numbers them: a translation may
    reorder with "{1} ... {0}")."""
    unnamed = [m.group(0) for m in PERCENT.finditer(text) if not m.group(1)]
    named = sorted(m.group(0) for m in PERCENT.finditer(text) if m.group(1))
    fields = []
    if "python-brace-format" in flags:
        auto = 0
        for _, name, spec, conversion in string.Formatter().parse(text):
            if name is None:
                continue
            if name == "":
                name, auto = str(auto), auto + 1
            fields.append((name, spec, conversion))
    return unnamed, named, sorted(fields)


def test_placeholders_are_the_same_in_both_languages():
    differ = []
    for _, msgid, plural, strings, flags in entries(PO):
        if "python-format" not in flags and "python-brace-format" not in flags:
            continue
        for translated in strings:
            if placeholders(msgid, flags) != placeholders(translated, flags) and \
                    (plural is None or placeholders(plural, flags) != placeholders(translated, flags)):
                differ.append("%r\n  -> %r" % (msgid, translated))
    assert not differ, "placeholders differ:\n" + "\n".join(differ)


def test_placeholder_check_catches_a_difference():
    assert placeholders("%d of %s", {"python-format"}) != placeholders("%s 的 %d", {"python-format"})
    assert placeholders("{} of {}", {"python-brace-format"}) != \
        placeholders("{}", {"python-brace-format"})
    assert placeholders("{} of {:g}", {"python-brace-format"}) == \
        placeholders("{1:g} 的 {0}", {"python-brace-format"})
    assert placeholders("%(a)s %(b)s", {"python-format"}) == \
        placeholders("%(b)s %(a)s", {"python-format"})


def test_compiled_as_msgfmt_compiles_it(tmp_path):
    """The in-memory compiler (used where no .mo was built) gives GNU
    msgfmt's catalogue, and msgfmt --check (formats, header) accepts the .po."""
    if shutil.which("msgfmt") is None:
        unavailable("msgfmt is not installed (Debian: gettext)")
    mo = tmp_path / "lab.mo"
    done = subprocess.run(["msgfmt", "--check", "-o", str(mo), str(PO)],
                          stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    ours = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(PO.read_text("utf-8"))))
    with open(mo, "rb") as data:
        theirs = gettext.GNUTranslations(data)
    # (msgfmt leaves POT-Creation-Date out of the header: messages only)
    assert {k: v for k, v in ours._catalog.items() if k} == \
        {k: v for k, v in theirs._catalog.items() if k}


def test_a_built_catalogue_is_current():
    """A lab.mo that is used (not older than its .po) says what the .po says."""
    mo = PO.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < PO.stat().st_mtime:
        pytest.skip("no current lab.mo here: the .po is compiled in memory")
    with open(mo, "rb") as data:
        built = gettext.GNUTranslations(data)
    fresh = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(PO.read_text("utf-8"))))
    assert built._catalog == fresh._catalog, \
        "lab.mo is out of date: python3 -m grader.catalogue compile"


def test_a_stale_catalogue_is_not_used(tmp_path, monkeypatch):
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = folder / "lab.po"
    po.write_text(PO.read_text("utf-8"), "utf-8")
    (folder / "lab.mo").write_bytes(i18n.compile_po(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "the stages"\nmsgstr "old"\n'))
    os.utime(folder / "lab.mo", (1, 1))
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.catalogue("zh").gettext("the stages") == "各个阶段"


# -- choosing the language ------------------------------------------------------

@pytest.mark.parametrize("env, language", [
    ({}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),            # LC_ALL first
    ({"LAB_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),         # LAB_LANG before the locale
    ({"LAB_LANG": "zh"}, "zh"),
    ({"LAB_LANG": "zh_CN", "LC_ALL": "C"}, "zh"),
    ({"LAB_LANG": "fr", "LANG": "zh_CN.UTF-8"}, "zh"),         # unknown: the locale decides
])
def test_language_from_the_environment(env, language):
    assert i18n.from_environment(env) == language


def lab(*args, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("LAB_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "grader"] + [str(a) for a in args],
                          cwd=REPO, env=dict(base, PYTHONPATH=str(REPO), **env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def test_the_locale_selects_chinese():
    done = lab("list", LANG="zh_CN.UTF-8")
    assert done.returncode == 0 and "迭代服务器" in done.stdout and "僵尸进程" in done.stdout
    assert "An iterative server" in lab("list", LANG="en_US.UTF-8").stdout
    assert "An iterative server" in lab("list").stdout


def test_the_flag_comes_before_the_environment():
    assert "An iterative server" in lab("list", "--lang", "en", LAB_LANG="zh").stdout
    assert "迭代服务器" in lab("--lang=zh", "list", LANG="C.UTF-8").stdout


def test_a_bad_language_is_a_clear_error():
    done = lab("--lang", "fr", "list")
    assert done.returncode == 2 and "--lang 'fr'" in done.stderr and "en or zh" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    done = lab("list", "--lang")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    done = lab("list", LAB_LANG="fr", LANG="zh_CN.UTF-8")
    assert done.returncode == 0 and "LAB_LANG=fr" in done.stderr and "迭代服务器" in done.stdout


def test_usage_and_errors_in_chinese():
    done = lab("check", LAB_LANG="zh")
    assert done.returncode == 2 and "用法" in done.stderr and "缺少以下参数" in done.stderr
    assert "Traceback" not in done.stderr
    done = lab("check", "3z", "x.py", LAB_LANG="zh")
    assert done.returncode == 2 and "未知的阶段" in done.stderr
    done = lab("--help", LAB_LANG="zh")
    assert done.returncode == 0 and "显示此帮助信息并退出" in done.stdout


def test_show_prints_the_chinese_text_where_there_is_one():
    for stage in STAGES.values():
        zh = stage.readme.with_name("README.zh.md")
        shown = lab("show", stage.id, LAB_LANG="zh").stdout
        text = (zh if zh.exists() else stage.readme).read_text()
        assert shown.startswith(text), stage.id
        assert "参考服务器" in shown
        assert lab("show", stage.id).stdout.startswith(stage.readme.read_text())


# -- grading in Chinese ----------------------------------------------------------

FAILING = ["3a", "3b", "3c", "3d", "3e", "3f"]       # the references, graded at 3g
HOSTILE = ["never_binds", "exits_at_once", "binary"]  # a few of the corpus (quick ones)


@pytest.fixture(scope="module")
def graded_in_chinese():
    """One `lab grade --stage 3g --lang zh` of the failing references and a
    few hostile cases: JSON on stdout, the progress (human text) on stderr."""
    paths = [STAGES[s].server for s in FAILING]
    if os.geteuid() == 0:
        paths += [hostile_path(name) for name in HOSTILE]
    graded = run_lab(["grade", "--stage", "3g", "--format", "json", "--lang", "zh",
                      "--jobs", 1, "--timeout", 120] + paths,
                     bound=120 * len(paths) + 60, label="zh", uid_base=_uid_base())
    assert graded.data is not None, graded.describe()
    assert not graded.leftovers, graded.leftovers
    return {r["submission"]: r for r in graded.data["submissions"]}


def _uid_base():
    from conftest import UID_BASE
    return UID_BASE + 2 * UID_SPAN          # apart from the golden gradings' bases


def golden(name):
    return json.loads((GOLDEN / (name + ".json")).read_text())


@pytest.mark.timeout(1500)
@pytest.mark.xdist_group("gradings")
def test_failing_submissions_graded_in_chinese(graded_in_chinese):
    table = expected()
    cases = [(str(STAGES[s].server), "webserver%s-at-3g" % s, table[s]) for s in FAILING]
    if os.geteuid() == 0:
        cases += [(str(hostile_path(n)), n, None) for n in HOSTILE]
    for submission, name, verdicts in cases:
        report = graded_in_chinese[submission]
        english = golden(name)
        assert report["status"] == english["status"], name
        assert [c["id"] for c in report["checks"]] == [c["id"] for c in english["checks"]], name
        for check, pinned in zip(report["checks"], english["checks"]):
            if verdicts:
                assert check["status"] in verdicts[check["id"]], (name, check["id"])
            if check["id"] not in english.get("varies", ()):
                assert check["status"] == pinned["status"], (name, check["id"])
            for key in ("message", "hint", "description"):
                if check[key]:
                    assert CJK.search(check[key]), (name, check["id"], key, check[key])
            if check["status"] in ("fail", "skip") or pinned["message"]:
                assert check["message"] and CJK.search(check["message"]), (name, check["id"])
        if report["message"]:
            assert CJK.search(report["message"]), (name, report["message"])


@pytest.mark.timeout(1500)
@pytest.mark.xdist_group("gradings")
def test_chinese_progress_stays_within_its_width(graded_in_chinese, tmp_path):
    """The human text of `lab check` in Chinese: no wrapped line wider than
    100 columns (a command to try by hand and the server's own output are
    shown as they are)."""
    report = graded_in_chinese[str(STAGES["3d"].server)]
    from grader.report import CheckResult, Report
    from grader.text import Progress
    checks = [CheckResult(**{k: v for k, v in c.items()}) for c in report["checks"]]
    rebuilt = Report(**dict(report, checks=checks))
    out = io.StringIO()
    progress = Progress(out, STAGES["3g"])
    i18n.use("zh")
    try:
        for check in checks:
            progress.started(check)
            progress.finished(check)
        progress.summary(rebuilt)
    finally:
        i18n.use("en")
    text = out.getvalue()
    assert CJK.search(text)
    for line in text.splitlines():
        if line.startswith(("      $ ", "      | ")):
            continue
        assert i18n.width(line) <= 100, line


def test_formats_carry_the_chinese_message():
    from grader.formats import FORMATS
    from grader.report import CheckResult, Report
    i18n.use("zh")
    try:
        check = CheckResult(id="reaps", description="处理请求的子进程干净地退出", required=True,
                            status="fail", message="子进程（PID 7）已经退出，但 1 秒后仍是僵尸进程",
                            hint="设置一个调用 os.wait() 的 SIGCHLD 信号处理器", reproduce="true")
        report = Report(stage="3g", submission="s.py", status="fail", checks=[check]).finish()
        for name, write in FORMATS.items():
            text = write([report], single=True)
            assert "僵尸进程" in text and "信号处理器" in text, name
            if name != "json":
                assert "手动试试" in text, name        # the formats' own words too
    finally:
        i18n.use("en")


# -- wrapping by display width -------------------------------------------------

def test_wrapping_measures_display_width():
    for _, msgid, _, strings, _ in entries(PO):
        for text in strings:
            for columns in (40, 72, 100):
                lines = i18n.wrap(text, columns, "    提示：", "          ")
                assert all(i18n.width(line) <= columns for line in lines), (columns, lines)
                # nothing lost: only spaces where lines break
                joined = "".join(line.strip() for line in lines).replace(" ", "")
                assert joined == ("提示：" + text).replace(" ", "").replace("\n", ""), lines


def test_wrapping_keeps_punctuation_off_line_starts():
    lines = i18n.wrap("父进程没有关闭它那份拷贝，所以描述符引用计数永远不会变为 0。" * 4, 30)
    assert all(not line.startswith(("，", "。", "）", "：")) for line in lines), lines
    assert i18n.width("僵尸进程") == 8 and i18n.width("zombie") == 6
    assert i18n.ljust("僵尸", 6, "-") == "僵尸--"


def test_english_wraps_as_before():
    import textwrap
    text = "An exited child stays a zombie (<defunct> in ps; even kill -9 cannot remove it)."
    assert i18n.wrap(text, 30, "  hint: ", "        ") == textwrap.wrap(
        text, 30, initial_indent="  hint: ", subsequent_indent="        ")


# -- the container's welcome ------------------------------------------------------

@pytest.mark.parametrize("env, shown", [
    ({}, "EN"),
    ({"LAB_LANG": "zh"}, "ZH"),
    ({"LANG": "zh_CN.UTF-8"}, "ZH"),
    ({"LAB_LANG": "en", "LANG": "zh_CN.UTF-8"}, "EN"),
    ({"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"}, "EN"),
    ({"LAB_LANG": "zh", "NO_ZH": "1"}, "EN"),        # no welcome.zh.txt: the English one
])
def test_welcome_in_the_learners_language(tmp_path, env, shown):
    """docker/profile.sh picks welcome.zh.txt as `lab` picks Chinese."""
    (tmp_path / "welcome.txt").write_text("EN\n")
    if not env.get("NO_ZH"):
        (tmp_path / "welcome.zh.txt").write_text("ZH\n")
    profile = tmp_path / "profile.sh"
    profile.write_text((REPO / "docker" / "profile.sh").read_text().replace(
        "/etc/lab3/", str(tmp_path) + "/"))
    base = {k: v for k, v in os.environ.items()
            if k not in ("LAB_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LAB_NO_WELCOME")}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-i", "-c", ". %s" % profile],
                          env=dict(base, **env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          timeout=30)
    assert done.stdout.strip() == shown


# -- nothing learner-facing left unmarked -----------------------------------------

SAYS = {"Fail": None, "Skip": None, "GraderError": None, "UsageError": None, "RubricError": None,
        "SubmissionError": None, "EnvironmentProblem": None, "PhenomenonNotReproduced": None,
        "ArgumentTypeError": None, "step": None, "explain": None, "ok": None, "note": None,
        "not_reproduced": None, "check": [1, 2], "expect": [2], "expect_nothing": [2],
        "wait_prompt": [1]}                 # the arguments that are words (None: all)
WORDS = re.compile(r"[A-Za-z]{3,} [A-Za-z]{2,}")      # prose, not an id or a pattern


def _literal(node):
    """The string literal a message argument is built from, if it is not
    passed through _(): "...", "..." % x, "...".format(x), f"..."."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _literal(node.left) or _literal(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "format":
        return _literal(node.func.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def test_every_message_is_marked_for_translation():
    """A message the learner reads (a failure, a hint, a skip reason, a
    usage error, a demo's narration, what it expected and saw, a --help
    text) goes through _(): English prose passed as is fails here."""
    files = sorted(list((REPO / "grader").glob("**/*.py"))
                   + list((REPO / "labs" / "demolib").glob("*.py"))
                   + list((REPO / "labs").glob("*/demo*.py")))
    unmarked = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            args = [a for n, a in enumerate(node.args)
                    if name in SAYS and (SAYS[name] is None or n in SAYS[name])]
            args += [k.value for k in node.keywords if k.arg in ("help", "description", "what")]
            if name == "check" and path.name == "checks.py":
                args = []                       # @check(id, bound, reproduce): not prose
            for arg in args:
                text = _literal(arg)
                if text and WORDS.search(text):
                    unmarked.append("%s:%d: %r" % (path.relative_to(REPO), arg.lineno, text[:70]))
    assert not unmarked, "not marked for translation (wrap in _()):\n" + "\n".join(unmarked)
