"""The schema's identity without SQLAlchemy or Alembic: where the migration scripts live and this code's head
revision, read from the scripts' text (for opening a store at head cheaply)."""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path


def migrations_dir() -> str:
    """The Alembic scripts' folder, inside the installed package."""
    return str(resources.files("facevault.migrations"))


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def script_head() -> str | None:
    """This code's head revision, read from the text of the migration scripts (`revision = "..."`,
    `down_revision = "..."`) without importing alembic, so that opening a store already at head costs no
    alembic import. None when the scripts do not read as one plain chain of string revisions (a merge, a
    computed value, several heads): the caller then asks alembic's own script machinery."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        scripts = sorted((Path(migrations_dir()) / "versions").glob("*.py"))
        for script in scripts:
            if script.name.startswith("__"):
                continue
            found: dict[str, list] = {}
            for name, value in _ASSIGNMENT.findall(script.read_text(encoding="utf-8")):
                found.setdefault(name, []).append(ast.literal_eval(value))
            (rev,), (down,) = found.get("revision", ()), found.get("down_revision", ())
            if not isinstance(rev, str) or not (down is None or isinstance(down, str)) or rev in revisions:
                return None
            revisions.add(rev)
            if down is not None:
                parents.add(down)
    except (OSError, ValueError, SyntaxError):
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None
