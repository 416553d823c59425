"""The exercise texts: every stage's README.md has a README.zh.md that says
the same in Chinese, with the same commands, code and outputs in the same
order; the learner-facing summaries exist in both languages; and the facts
corrected in issue 9 stay corrected where a test can see them.

Only reads files: no server, no port, no container.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
STAGES = sorted(p for p in LABS.iterdir() if (p / "stage.toml").is_file())

CHECK_IDS = set(re.findall(r'^@check\("([a-z-]+)"', (ROOT / "grader" / "checks.py").read_text(
    encoding="utf-8"), re.M))
FENCE = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.M | re.S)


def read(path):
    return path.read_text(encoding="utf-8")


def code_blocks(text):
    """Every fenced block, verbatim: commands, code and outputs."""
    return FENCE.findall(text)


def prose(text):
    return FENCE.sub("", text)


def headings(text):
    return re.findall(r"^(#{1,6}) ", prose(text), re.M)


def structure(text):
    """What must line up between the two languages, outside the code."""
    body = prose(text)
    return {
        "headings": headings(text),
        "details": body.count("<details>"),
        "summaries": body.count("<summary>"),
        "closed details": body.count("</details>"),
        "numbered items": len(re.findall(r"^\d+\. ", body, re.M)),
        "bullets": len(re.findall(r"^- ", body, re.M)),
        "table rows": len(re.findall(r"^\|", body, re.M)),
        # the checks, in bold, in the order the text names them
        "checks": [name for name in re.findall(r"\*\*([a-z]+(?:-[a-z]+)*)\*\*", body)
                   if name in CHECK_IDS],
    }


def test_there_are_seven_stages_and_nine_checks():
    part3 = [p.name[:2] for p in STAGES if re.match(r"3[a-g]-", p.name)]
    assert part3 == ["3a", "3b", "3c", "3d", "3e", "3f", "3g"]
    part3 = {"serves", "closes", "concurrent", "no-fd-leak", "fd-limit", "reaps", "reaps-burst",
             "survives-child-kill", "accepts-while-reaping"}
    assert part3 <= CHECK_IDS, CHECK_IDS


@pytest.mark.parametrize("stage", STAGES, ids=lambda p: p.name)
def test_every_stage_has_a_chinese_exercise_text(stage):
    assert (stage / "README.zh.md").is_file(), "{} has no README.zh.md".format(stage.name)


PAIRS = [(stage / "README.md", stage / "README.zh.md") for stage in STAGES] + [
    (LABS / "README.md", LABS / "README.zh.md"),
]


@pytest.mark.parametrize("english, chinese", PAIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_code_and_commands_in_the_same_order(english, chinese):
    en, zh = code_blocks(read(english)), code_blocks(read(chinese))
    assert en, "{} has no code block".format(english)
    assert len(en) == len(zh), "{} code blocks in English, {} in Chinese".format(len(en), len(zh))
    for number, (a, b) in enumerate(zip(en, zh), 1):
        assert a == b, "code block {} differs:\n--- en\n{}\n--- zh\n{}".format(number, a, b)


@pytest.mark.parametrize("english, chinese", PAIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_structure(english, chinese):
    en, zh = structure(read(english)), structure(read(chinese))
    for key in en:
        assert en[key] == zh[key], "{}: English {!r}, Chinese {!r}".format(key, en[key], zh[key])


@pytest.mark.parametrize("english, chinese", PAIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_chinese_text_is_chinese(english, chinese):
    body = prose(read(chinese))
    han = len(re.findall(r"[\u4e00-\u9fff]", body))
    assert han > 200, "{} has only {} Chinese characters outside its code".format(chinese, han)


# The translation's own words (lsbaws-part3-zh.txt), so the lab and the
# article say the same thing.
TERMS = ["僵尸进程", "文件描述符", "描述符引用计数", "暂时端口", "请求队列", "信号处理器",
         "中断的系统调用", "父进程", "子进程"]


def test_the_translation_s_terms_are_used():
    text = "".join(read(zh) for _, zh in PAIRS)
    missing = [term for term in TERMS if term not in text]
    assert not missing, missing


@pytest.mark.parametrize("stage", STAGES, ids=lambda p: p.name)
def test_every_stage_recaps_and_asks(stage):
    """The article's recaps and questions with answers the learner unfolds."""
    text = read(stage / "README.md")
    assert "## What you learned" in text
    assert text.count("<details>") >= 3
    assert text.count("<details>") == text.count("</details>") == text.count("<summary>")
    zh = read(stage / "README.zh.md")
    assert "## 学到了什么" in zh and "## 思考题" in zh


def test_top_readme_links_the_chinese_summary():
    head = read(ROOT / "README.md").splitlines()[:5]
    assert any("README.zh.md" in line for line in head), head
    summary = read(ROOT / "README.zh.md")
    for stage in ("3a", "3b", "3c", "3d", "3e", "3f", "3g"):
        assert "| {} |".format(stage) in summary
    assert "docker compose run --rm lab3" in summary


def lab_commands(text):
    return re.findall(r"^\s*(lab \w+ \S+(?: \S+)?)\s", text, re.M)


def test_welcome_in_both_languages_with_the_same_commands():
    en = read(ROOT / "docker" / "welcome.txt")
    zh = read(ROOT / "docker" / "welcome.zh.txt")
    assert lab_commands(en) and lab_commands(en) == lab_commands(zh)
    paths = re.compile(r"[\x21-\x7e]*(?:/opt/lab3|~/work|localhost)[\x21-\x7e]*")
    assert paths.findall(en) == paths.findall(zh)


# ---------------------------------------------- the facts fixed in issue 9 ---

def test_welcome_leads_with_typing_from_the_article():
    text = read(ROOT / "docker" / "welcome.txt")
    assert "cp /opt/lab3/labs" not in text          # no reference handed over first
    assert text.index("Type each server yourself") < text.index("/opt/lab3/labs")
    zh = read(ROOT / "docker" / "welcome.zh.txt")
    assert zh.index("自己敲进") < zh.index("/opt/lab3/labs")


def test_waitpid_wnohang_comment_keeps_the_article_and_says_0_0():
    text = read(LABS / "3g-waitpid-loop" / "webserver3g.py")
    line = "os.WNOHANG   # Do not block and return EWOULDBLOCK error"
    assert line in text
    after = text[text.index(line):][:300]
    assert "(0, 0)" in after


def test_rlimit_nproc_counted_as_threads_in_the_3d_demo():
    demo = read(LABS / "3d-leaked-descriptors" / "demo.py")
    assert "processes_of(" not in demo
    assert "num_threads" in demo
    for text in (read(LABS / "3d-leaked-descriptors" / "README.md"), demo):
        assert "thread" in text


def test_strace_not_permitted_names_what_fails():
    text = read(LABS / "3e-sigchld-eintr" / "README.md")
    assert "PTRACE_TRACEME" in text and "seccomp" in text
    assert "PTRACE_SEIZE" in text                    # strace -p: another user's process
    assert "needs no capability" in text


def test_closes_hint_gives_3b_no_child():
    source = read(ROOT / "grader" / "checks.py")
    assert "3b's server, and 3c's and 3e's children" not in source
    assert "3b's iterative server, which has no child" in source


def test_server_uid_in_the_container_is_64200():
    text = read(LABS / "README.md")
    compose = read(ROOT / "compose.yaml")
    uid = re.search(r"LAB_SERVER_UID:-(\d+)", compose).group(1)
    assert "uid {} in the container".format(uid) in text
    assert "uid {}".format(uid) in read(LABS / "README.zh.md")


def ranges(text):
    return {(int(a), int(b)) for a, b in re.findall(r"\b(\d+)\s*[-–]\s*(\d+)\b", text)}


def test_one_zombie_range_for_3f():
    """The demo's note (read from its source: importing demolib needs pexpect)
    and 3f's text give the same measured ranges."""
    source = read(LABS / "demolib" / "harness.py")
    note = re.search(r"BURST_OUTPUT_NOTE = N?_?\((.*?)\)\n", source, re.S).group(1)
    note = "".join(re.findall(r'"([^"]*)"', note))
    assert "of 128" in note
    readme = read(LABS / "3f-lost-signals" / "README.md")
    in_note = {r for r in ranges(note) if r[1] <= 128}
    assert in_note and in_note <= ranges(readme), (in_note, ranges(readme))
    assert ranges(read(LABS / "3f-lost-signals" / "README.zh.md")) >= in_note


def test_3c_text_says_what_reaps_shows():
    text = read(LABS / "3c-fork" / "README.md")
    checks = read(ROOT / "grader" / "checks.py")
    for said in ("it is sleeping (time.sleep)", "exited but was still a zombie 1 s later"):
        assert said in text and said in checks


def display_width(line):
    """Terminal columns: CJK (wide and fullwidth) characters take two."""
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


@pytest.mark.parametrize("path", [p for pair in PAIRS for p in pair] + [ROOT / "README.zh.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_prose_lines_fit_100_columns(path):
    """lab show prints the Markdown as it is: prose lines (not code, not
    tables) stay within 100 columns in either language."""
    wide = [(number, display_width(line)) for number, line in prose_lines(read(path))
            if display_width(line) > 100]
    assert not wide, "(line, columns): {}".format(wide)


def prose_lines(text):
    """(line number, line) of every line outside code blocks and tables."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inside = not inside
            continue
        if not inside and not line.startswith("|"):
            yield number, line


@pytest.mark.parametrize("name", ["welcome.txt", "welcome.zh.txt"])
def test_welcome_fits_80_columns(name):
    lines = read(ROOT / "docker" / name).splitlines()
    assert max(display_width(line) for line in lines) <= 80
