"""The learner's language: English or Simplified Chinese, through gettext.

The language comes from `lab --lang en|zh`, else LAB_LANG, else the locale
(LC_ALL, LC_MESSAGES, LANG, the first one set; "zh..." selects Chinese);
English is the default. Messages are marked `_("...")` where they are
made (`N_("...")` for constants, translated where they are used) and
translated from grader/locale/zh_CN/LC_MESSAGES/lab.po.

The .po is what a translator edits. Builds compile it to lab.mo
(`python3 -m grader.i18n compile`, as the Dockerfile does); where there is
no .mo, or it is older than the .po (a checkout, `pip install -e .`, the
Gradescope bundle), the .po is compiled in memory when first needed, so a
run never shows a stale catalogue. `python3 -m grader.i18n pot` extracts
the template (xgettext, plus the checks' docstrings) and merges it into
the .po (msgmerge).

Terminal text is wrapped by display width: a CJK character takes two
columns (wcwidth).
"""

import ast
import gettext
import io
import os
import re
import struct
import sys
import textwrap
import unicodedata
from pathlib import Path

try:
    from wcwidth import wcswidth as _wcswidth
except ImportError:         # pragma: no cover - the Gradescope image may lack it
    _wcswidth = None

DOMAIN = "lab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"en": None, "zh": "zh_CN"}      # --lang value -> catalogue folder
DEFAULT = "en"

_language = None
_translation = gettext.NullTranslations()


def N_(message):
    """Marks a constant for extraction; translate it where it is used."""
    return message


def _(message):
    if _language is None:
        language()
    return _translation.gettext(message) if message else message


def ngettext(singular, plural, n):
    if _language is None:
        language()
    return _translation.ngettext(singular, plural, n)


def normalize(value):
    """"zh", "zh_CN.UTF-8", "zh-TW" -> "zh"; "en_US" -> "en"; else None."""
    code = (value or "").strip().lower()
    for language in LANGUAGES:
        if code == language or code.startswith((language + "_", language + "-",
                                                language + ".")):
            return language
    return None


def from_environment(environ=None):
    """LAB_LANG, else the locale; English by default."""
    env = os.environ if environ is None else environ
    chosen = normalize(env.get("LAB_LANG"))
    if chosen:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return "zh" if normalize(env[name]) == "zh" else DEFAULT
    return DEFAULT


def language():
    if _language is None:
        use(from_environment())
    return _language


def use(lang):
    """Translate into `lang` ("en" or "zh") from now on, in this process."""
    global _language, _translation
    if lang not in LANGUAGES:
        raise ValueError("unknown language %r: choose %s" % (lang, " or ".join(LANGUAGES)))
    _language = lang
    _translation = catalogue(lang)
    _translate_argparse()
    return lang


def catalogue(lang):
    folder = LANGUAGES.get(lang)
    if folder is None:
        return gettext.NullTranslations()
    po = LOCALE_DIR / folder / "LC_MESSAGES" / (DOMAIN + ".po")
    mo = po.with_suffix(".mo")
    try:
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            with open(mo, "rb") as data:
                return gettext.GNUTranslations(data)
        return gettext.GNUTranslations(io.BytesIO(compile_po(po.read_text("utf-8"))))
    except (OSError, ValueError, SyntaxError) as e:
        sys.stderr.write("lab: the %s messages cannot be read (%s); using English\n" % (lang, e))
        return gettext.NullTranslations()


# -- argparse's own words (usage, errors), in our catalogue too -------------

ARGPARSE = [N_("usage: "), N_("positional arguments"), N_("options"),
            N_("show this help message and exit"), N_("show program's version number and exit"),
            N_("%(prog)s: error: %(message)s\n"),
            N_("the following arguments are required: %s"),
            N_("unrecognized arguments: %s"),
            N_("invalid choice: %(value)r (choose from %(choices)s)"),
            N_("argument %(argument_name)s: %(message)s"),
            N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
            N_("ambiguous option: %(option)s could match %(matches)s")]


def _translate_argparse():
    import argparse
    argparse._ = _
    argparse.ngettext = ngettext


# -- the catalogue: .po -> .mo ---------------------------------------------

def parse_po(text):
    """[(msgctxt or None, msgid, msgid_plural or None, [msgstr...], flags)]
    of a .po file, its header entry (msgid "") included. Entries are
    separated by blank lines, as xgettext, msgmerge and editors write them."""
    entries = []
    for block in re.split(r"\n\s*\n", text):
        fields, field, flags = {}, None, set()
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("#,"):
                flags.update(f.strip() for f in line[2:].split(","))
            elif not line or line.startswith("#"):
                continue
            elif line.startswith('"'):
                if field is None:
                    raise SyntaxError("a string before any keyword: %s" % line)
                fields[field] += ast.literal_eval(line)
            else:
                field, _sep, rest = line.partition(" ")
                fields[field] = ast.literal_eval(rest.strip())
        if "msgid" in fields:
            strings = [fields[k] for k in sorted(fields) if k.startswith("msgstr")]
            entries.append((fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"),
                            strings, flags))
    return entries


def compile_po(text):
    """The .mo bytes of a .po text, as msgfmt writes them (fuzzy and
    untranslated entries left out; the header kept)."""
    messages = {}
    for ctxt, msgid, plural, strings, flags in parse_po(text):
        if "fuzzy" in flags and msgid or not any(strings):
            continue
        key = msgid if plural is None else msgid + "\0" + plural
        if ctxt is not None:
            key = ctxt + "\x04" + key
        messages[key.encode("utf-8")] = "\0".join(strings).encode("utf-8")
    keys = sorted(messages)
    ids = strs = b""
    offsets = []
    for key in keys:
        offsets.append((len(ids), len(key), len(strs), len(messages[key])))
        ids += key + b"\0"
        strs += messages[key] + b"\0"
    start = 7 * 4 + 16 * len(keys)
    table = []
    for id_at, id_len, str_at, str_len in offsets:
        table.append((id_len, start + id_at, str_len, start + len(ids) + str_at))
    header = struct.pack("Iiiiiii", 0x950412de, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    return (header + b"".join(struct.pack("ii", n, at) for n, at, _n, _a in table)
            + b"".join(struct.pack("ii", n, at) for _n, _a, n, at in table) + ids + strs)


def compile_all():
    """Write every catalogue's .mo beside its .po; returns their paths."""
    written = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/%s.po" % DOMAIN)):
        mo = po.with_suffix(".mo")
        mo.write_bytes(compile_po(po.read_text("utf-8")))
        written.append(mo)
    return written


# -- extraction: xgettext over the sources, plus the checks' docstrings ----

ROOT = LOCALE_DIR.parent.parent
SOURCES = ["grader/*.py", "grader/formats/*.py", "grader/trace/*.py", "labs/demolib/*.py",
           "labs/*/demo.py"]


def sources():
    return sorted(str(p.relative_to(ROOT)) for pattern in SOURCES for p in ROOT.glob(pattern))


def data_entries():
    """.pot entries xgettext cannot find: the checks' descriptions (their
    docstrings, as checks.py joins them) and the stages' titles and lessons
    (labs/*/stage.toml)."""
    from .checks import CHECKS
    from .stages import STAGES
    found = [("the description of the check " + fn.id, "", fn.description)
             for fn in CHECKS.values()]
    found += [("the commands that reproduce the check %s by hand: translate the comments "
               "after #" % fn.id, "#, python-brace-format\n", fn.reproduce)
              for fn in CHECKS.values()]
    for stage in STAGES.values():
        found += [("the title of stage " + stage.id, "", stage.title),
                  ("the lesson of stage " + stage.id, "", stage.lesson)]
    return "\n".join("#. %s\n%smsgid %s\nmsgstr \"\"\n" % (comment, flags, _po_string(text))
                     for comment, flags, text in found)


def _po_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def extract(pot):
    import subprocess
    import tempfile
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


# -- wrapping by display width ---------------------------------------------

def width(text):
    """Columns `text` takes in a terminal (CJK characters two)."""
    if _wcswidth is not None:
        n = _wcswidth(text)
        if n >= 0:
            return n
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def ljust(text, columns, fill=" "):
    return text + fill * max(0, columns - width(text))


_WIDE = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_TOKEN = re.compile(r"\s+|[^\s%s]+|." % _WIDE)
_NO_START = set("，。、；：！？）」』”’》〉】,.;:!?)]}%")       # never begins a line
_NO_END = set("（「『“‘《〈【([{")                             # never ends one


def _tokens(text):
    """Words, spaces and single wide characters, with punctuation that may
    not start (or end) a line glued to its neighbour."""
    tokens = []
    for piece in _TOKEN.findall(text):
        if tokens and not piece.isspace() and not tokens[-1].isspace() and \
                (piece[0] in _NO_START or tokens[-1][-1] in _NO_END):
            tokens[-1] += piece
        else:
            tokens.append(piece)
    return tokens


def wrap(text, columns=100, initial="", subsequent=""):
    """textwrap.wrap, by display width: lines break at spaces and between
    two CJK characters; a word longer than a line is cut. (ASCII text is
    left to textwrap itself, so English wraps as it always did.)"""
    if (text + initial + subsequent).isascii():
        return textwrap.wrap(text, columns, initial_indent=initial,
                             subsequent_indent=subsequent)
    lines, line, empty, space = [], initial, True, False
    for token in _tokens(" ".join(text.split())):
        if token.isspace():
            space = not empty
            continue
        sep, space = (" " if space else ""), False
        if not empty and width(line + sep + token) > columns:
            lines.append(line)
            line, empty, sep = subsequent, True, ""
        line += sep
        while width(line + token) > columns and len(token) > 1:
            cut = 0
            while cut < len(token) and width(line + token[:cut + 1]) <= columns:
                cut += 1
            cut = max(cut, 1)
            lines.append(line + token[:cut])
            line, token = subsequent, token[cut:]
        line += token
        empty = False
    if not empty:
        lines.append(line)
    return lines


def fill(text, columns=100, initial="", subsequent=""):
    return "\n".join(wrap(text, columns, initial, subsequent))


def main(argv=None):
    """python3 -m grader.i18n compile | pot"""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["compile"]:
        for mo in compile_all():
            print("wrote %s" % mo)
        return 0
    if argv == ["pot"]:
        import subprocess
        pot = LOCALE_DIR / (DOMAIN + ".pot")
        extract(pot)
        print("wrote %s" % pot)
        for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/%s.po" % DOMAIN)):
            subprocess.run(["msgmerge", "--quiet", "--update", "--backup=none", "--no-wrap",
                            "--no-fuzzy-matching", str(po), str(pot)], check=True)
            print("merged into %s" % po)
        return 0
    print("usage: python3 -m grader.i18n compile|pot", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
