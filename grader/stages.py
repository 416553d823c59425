"""The stages: each is a folder under labs/ with a `stage.toml` declaring it
(id, title, lesson, its server's file name, the checks it runs and the ones
it requires, its hints for them; how its server is started and what it is
asked). Adding a stage is adding a folder; no code names one.
"""

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .checks import CHECKS
from .sandbox import Launch

REPO_ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = REPO_ROOT / "labs"
CLIENT3 = LABS_DIR / "client3.py"
DECLARATION = "stage.toml"

# Every check, in the order they run: the order of the registry. The ids
# are the contract of every output format: never rename one.
CHECK_IDS = tuple(CHECKS)
# The checks a stage runs when its stage.toml does not list them ("all"):
# Part 3's, every check but those only a stage naming them runs.
EVERYWHERE = tuple(c for c in CHECK_IDS if CHECKS[c].everywhere)


class StageError(Exception):
    """A stage's declaration is wrong (the lab's fault, not the learner's)."""


@dataclass(frozen=True)
class Stage:
    id: str            # "3a"
    slug: str          # directory name under labs/
    title: str
    lesson: str        # one line: what the stage shows
    checks: tuple      # the checks it runs, in order
    required: tuple    # the check ids its exercise asks for
    server_name: str   # its server's file name, in its folder: the learner's too
    hints: tuple = ()  # ((check id, text), ...): what its own server teaches when one fails
    trace_clients: int = 1   # lab trace's default number of simultaneous clients
    # How its server is started and what it is asked (the defaults: Part 3's)
    args: tuple = ()         # after `python3 FILE`, e.g. ("flaskapp:app",)
    files: tuple = ()        # names in the stage's folder (or ../OTHER/NAME), copied
                             # beside the server
    request_path: str = "/hello"
    answer: str = "Hello, World!"   # text the response's body must contain
    labs_dir: Path = LABS_DIR  # where its folder is

    @property
    def directory(self) -> Path:
        return self.labs_dir / self.slug

    @property
    def server(self) -> Path:
        return self.directory / self.server_name

    def hint(self, check_id) -> str:
        """The stage's own hint for a check (untranslated), or ""."""
        return dict(self.hints).get(check_id, "")

    @property
    def launch(self) -> Launch:
        """What the sandbox needs to start its server and ask it."""
        return Launch(args=self.args,
                      files=tuple((self.directory / f).resolve() for f in self.files),
                      request_path=self.request_path, answer=self.answer)

    @property
    def demo(self) -> Path:
        return self.directory / "demo.py"

    @property
    def readme(self) -> Path:
        return self.directory / "README.md"


def _ids(value, where, field, default, every):
    if value is None:
        return default
    if value == "all":
        return every
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StageError('%s: %s must be a list of check ids or "all"' % (where, field))
    unknown = [v for v in value if v not in CHECKS]
    if unknown:
        raise StageError("%s: %s names unknown checks: %s" % (where, field, ", ".join(unknown)))
    return tuple(c for c in CHECK_IDS if c in value)      # in the registry's order


def load_stage(directory: Path) -> Stage:
    where = directory / DECLARATION
    try:
        with open(where, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise StageError("%s: %s" % (where, e)) from None
    for key in ("id", "title", "lesson", "server"):
        if not isinstance(data.get(key), str):
            raise StageError("%s: %s is missing" % (where, key))
    if not re.fullmatch(r"\w[\w.-]*\.py", data["server"]):
        raise StageError("%s: server = %r: it must be a file name of the stage's folder, "
                         "NAME.py" % (where, data["server"]))
    checks = _ids(data.get("checks"), where, "checks", EVERYWHERE, EVERYWHERE)
    required = _ids(data.get("required"), where, "required", checks, checks)
    if not set(required) <= set(checks):
        raise StageError("%s: it requires checks it does not run" % where)
    clients = data.get("trace_clients", 1)
    if not isinstance(clients, int) or not 1 <= clients <= 1000:
        raise StageError("%s: trace_clients must be a number from 1 to 1000" % where)
    args = _strings(data.get("args", []), where, "args")
    files = _strings(data.get("files", []), where, "files")
    for name in files:
        # a file of the stage's folder, or of another stage's: "../2-wsgi-server/x.py"
        parts = name.split("/")
        sibling = len(parts) == 3 and parts[0] == ".." and not parts[1].startswith(".")
        if (len(parts) != 1 and not sibling) or parts[-1].startswith(".") \
                or not (directory / name).is_file():
            raise StageError("%s: files names %r, which is no file of %s (nor of another "
                             "stage's folder: ../FOLDER/NAME)" % (where, name, directory.name))
    path = data.get("request_path", "/hello")
    if not isinstance(path, str) or not re.fullmatch(r"/[\x21-\x7e]*", path):
        raise StageError("%s: request_path must be a path starting with /, without spaces"
                         % where)
    answer = data.get("answer", "Hello, World!")
    if not isinstance(answer, str) or not answer.strip():
        raise StageError("%s: answer must be the text the body must contain" % where)
    hints = _hints(data.get("hints", {}), where, checks)
    return Stage(id=data["id"], slug=directory.name, title=data["title"], lesson=data["lesson"],
                 checks=checks, required=required, server_name=data["server"], hints=hints,
                 trace_clients=clients, args=args, files=files, request_path=path,
                 answer=answer, labs_dir=directory.parent)


def _strings(value, where, field):
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise StageError("%s: %s must be a list of strings" % (where, field))
    return tuple(value)


def _hints(table, where, checks):
    """[hints]: check-id = "text", for checks the stage runs; the text's
    lines joined (it is a message to translate: one paragraph)."""
    if not isinstance(table, dict):
        raise StageError('%s: hints must be a table: [hints], then check-id = "text"' % where)
    for check_id, text in table.items():
        if check_id not in CHECKS:
            # a key written below [hints] belongs to it
            raise StageError("%s: [hints] names %r, which is no check (the stage's own keys "
                             "go above [hints])" % (where, check_id))
        if check_id not in checks:
            raise StageError("%s: [hints] gives a hint for %s, which the stage does not run"
                             % (where, check_id))
        if not isinstance(text, str) or not text.strip():
            raise StageError('%s: the hint for %s must be text: %s = "..."'
                             % (where, check_id, check_id))
    return tuple((c, " ".join(table[c].split())) for c in checks if c in table)


def find_stages(labs_dir: Path = LABS_DIR) -> dict:
    """{id: Stage} for every folder of `labs_dir` that declares a stage,
    ordered by id."""
    found = [load_stage(d) for d in sorted(labs_dir.iterdir())
             if (d / DECLARATION).is_file()]
    return {s.id: s for s in sorted(found, key=lambda s: s.id)}


try:
    STAGES = find_stages()
except StageError as e:
    # the lab's own declarations are wrong: no command can run; say where
    sys.exit("lab: %s" % e)


def find_stage(name: str):
    """The stage called `name` ("3g", "g", "3G", or its directory name), or None."""
    key = name.strip().lower()
    if key in STAGES:
        return STAGES[key]
    # a letter alone names the stage of that letter, where only one part has it
    by_letter = [s for s in STAGES.values() if len(s.id) > 1 and s.id[1:] == key]
    if len(by_letter) == 1:
        return by_letter[0]
    for stage in STAGES.values():
        if key == stage.slug:
            return stage
    return None
