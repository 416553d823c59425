"""The stages: each is a folder under labs/ with a `stage.toml` declaring it
(id, title, lesson, its server's file name, the checks it runs and the ones
it requires). Adding a stage is adding a folder; no code names one.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .checks import CHECKS

REPO_ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = REPO_ROOT / "labs"
CLIENT3 = LABS_DIR / "client3.py"
DECLARATION = "stage.toml"

# Every check, in the order they run: the order of the registry. The ids
# are the contract of every output format: never rename one.
CHECK_IDS = tuple(CHECKS)


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
    server_name: str = ""
    trace_clients: int = 1   # lab trace's default number of simultaneous clients

    @property
    def directory(self) -> Path:
        return LABS_DIR / self.slug

    @property
    def server(self) -> Path:
        return self.directory / (self.server_name or "webserver%s.py" % self.id)

    @property
    def demo(self) -> Path:
        return self.directory / "demo.py"

    @property
    def readme(self) -> Path:
        return self.directory / "README.md"


def _ids(value, where, field, default):
    if value is None:
        return default
    if value == "all":
        return CHECK_IDS
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StageError('%s: %s must be a list of check ids or "all"' % (where, field))
    unknown = [v for v in value if v not in CHECKS]
    if unknown:
        raise StageError("%s: %s names unknown checks: %s" % (where, field, ", ".join(unknown)))
    return tuple(c for c in CHECK_IDS if c in value)      # in the registry's order


def load_stage(directory: Path) -> Stage:
    where = directory / DECLARATION
    with open(where, "rb") as f:
        data = tomllib.load(f)
    for key in ("id", "title", "lesson"):
        if not isinstance(data.get(key), str):
            raise StageError("%s: %s is missing" % (where, key))
    checks = _ids(data.get("checks"), where, "checks", CHECK_IDS)
    required = _ids(data.get("required"), where, "required", checks)
    if not set(required) <= set(checks):
        raise StageError("%s: it requires checks it does not run" % where)
    clients = data.get("trace_clients", 1)
    if not isinstance(clients, int) or not 1 <= clients <= 1000:
        raise StageError("%s: trace_clients must be a number from 1 to 1000" % where)
    return Stage(id=data["id"], slug=directory.name, title=data["title"], lesson=data["lesson"],
                 checks=checks, required=required, server_name=data.get("server", ""),
                 trace_clients=clients)


def find_stages(labs_dir: Path = LABS_DIR) -> dict:
    """{id: Stage} for every folder of `labs_dir` that declares a stage,
    ordered by id."""
    found = [load_stage(d) for d in sorted(labs_dir.iterdir())
             if (d / DECLARATION).is_file()]
    return {s.id: s for s in sorted(found, key=lambda s: s.id)}


STAGES = find_stages()


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
