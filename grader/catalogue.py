"""The message catalogues, for translators and builds: the template
(lab.pot) extracted from the sources (xgettext) and from what the checks
and stages declare (the checks' docstrings and reproduce commands, the
stages' titles, lessons and hints), merged into each .po (msgmerge), and
each .po compiled to its .mo.

    python3 -m grader.catalogue pot       # after changing a message; then translate
    python3 -m grader.catalogue compile   # the .mo files (the image, CI, pip install do)

At run time grader/i18n.py only reads the catalogues.
"""

import os
import subprocess
import sys
import tempfile

from .checks import CHECKS
from .i18n import DOMAIN, LOCALE_DIR, compile_po
from .stages import STAGES

ROOT = LOCALE_DIR.parent.parent
SOURCES = ["grader/*.py", "grader/formats/*.py", "grader/trace/*.py", "labs/demolib/*.py",
           "labs/*/demo.py"]


def sources():
    return sorted(str(p.relative_to(ROOT)) for pattern in SOURCES for p in ROOT.glob(pattern))


def data_entries():
    """.pot entries xgettext cannot find: the checks' descriptions (their
    docstrings, as checks.py joins them) and the stages' titles, lessons
    and hints (labs/*/stage.toml)."""
    found = [("the description of the check " + fn.id, "", fn.description)
             for fn in CHECKS.values()]
    found += [("the commands that reproduce the check %s by hand: translate the comments "
               "after #" % fn.id, "#, python-brace-format\n", fn.reproduce)
              for fn in CHECKS.values()]
    for stage in STAGES.values():
        found += [("the title of stage " + stage.id, "", stage.title),
                  ("the lesson of stage " + stage.id, "", stage.lesson)]
        found += [("the hint of stage %s for the check %s, shown before the check's own"
                   % (stage.id, check_id), "", text) for check_id, text in stage.hints]
    # one entry per message: two stages may give the same text
    entries = {}
    for comment, flags, text in found:
        entries.setdefault(text, [flags, []])[1].append(comment)
    return "\n".join("%s\n%smsgid %s\nmsgstr \"\"\n" % ("\n".join("#. " + c for c in comments),
                                                         flags, _po_string(text))
                     for text, (flags, comments) in entries.items())


def _po_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def extract(pot):
    with tempfile.NamedTemporaryFile("w", suffix=".pot", delete=False) as extra:
        extra.write('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                    + data_entries())
    try:
        subprocess.run(["xgettext", "-L", "Python", "--from-code=UTF-8", "--keyword=_",
                        "--keyword=N_", "--keyword=ngettext:1,2", "--add-comments=TRANSLATORS", "--package-name=lab3",
                        "--no-wrap", "--sort-by-file", "-o", str(pot)] + sources(),
                       cwd=ROOT, check=True)
        subprocess.run(["msgcat", "--use-first", "--no-wrap", "-o", str(pot), str(pot),
                        extra.name], check=True)
    finally:
        os.unlink(extra.name)


def compile_all():
    """Write every catalogue's .mo beside its .po; returns their paths."""
    written = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/%s.po" % DOMAIN)):
        mo = po.with_suffix(".mo")
        mo.write_bytes(compile_po(po.read_text("utf-8")))
        written.append(mo)
    return written


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["compile"]:
        for mo in compile_all():
            print("wrote %s" % mo)
        return 0
    if argv == ["pot"]:
        pot = LOCALE_DIR / (DOMAIN + ".pot")
        extract(pot)
        print("wrote %s" % pot)
        for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/%s.po" % DOMAIN)):
            subprocess.run(["msgmerge", "--quiet", "--update", "--backup=none", "--no-wrap",
                            "--no-fuzzy-matching", str(po), str(pot)], check=True)
            print("merged into %s" % po)
        return 0
    print("usage: python3 -m grader.catalogue compile|pot", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
