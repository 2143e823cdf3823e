"""Options every command shares, and output helpers."""

from __future__ import annotations

import json
import sys
from functools import wraps
from typing import TYPE_CHECKING, Any, Callable

import click

from facevault.core import settings as config
from facevault.core.jsonio import jsonable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    stderr: Console
    stdout: Console


def __getattr__(name: str) -> Console:
    """`stdout` and `stderr`, the rich consoles, made on first use (a --json answer never imports rich)."""
    if name not in ("stdout", "stderr"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    # no emoji codes: "sample:100:seed0" must stay as written
    console = globals()[name] = Console(stderr=name == "stderr", emoji=False)
    return console


def _stdout() -> Console:
    console = globals().get("stdout")  # a test may have set its own
    return __getattr__("stdout") if console is None else console


def _stderr() -> Console:
    console = globals().get("stderr")
    return __getattr__("stderr") if console is None else console


def store_options(f: Callable) -> Callable:
    @click.option("--store", "store", type=click.Path(file_okay=False), envvar="FACEVAULT_STORE",
                  help="Store directory (env FACEVAULT_STORE; default ./.facevault).")
    @click.option("--db", "db", envvar="FACEVAULT_DB", help="Any SQLAlchemy URL for the catalog (env FACEVAULT_DB; default SQLite in the store).")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of tables.")
    @wraps(f)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    return inner


def _complete(kind: str) -> Callable:
    """A shell_complete callback offering registry names of `kind` (reading entries imports no framework)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        try:
            from facevault.zoo import registry

            names = registry.models() if kind == "model" else registry.detectors()
        except Exception:  # noqa: BLE001 - completion never fails loudly
            return []
        return sorted(n for n in names if n.startswith(incomplete))

    return complete


complete_model = _complete("model")
complete_detector = _complete("detector")


def space_options(f: Callable) -> Callable:
    @click.option("--model", "-m", "model", default=None, envvar="FACEVAULT_MODEL", shell_complete=complete_model,
                  help=f"Recognizer (see `facevault models`; default {config.DEFAULT_MODEL} for ingest; for reads, "
                       "the store's only space, else its dlib space).")
    @click.option("--detector", "-d", "detector", default=None, envvar="FACEVAULT_DETECTOR",
                  shell_complete=complete_detector,
                  help=f"Face detector (default {config.DEFAULT_DETECTOR} for ingest; for reads, the one the store holds); "
                       "NAME+frame embeds the whole image where NAME finds no face (deepface's "
                       "enforce_detection=False).")
    @wraps(f)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    return inner


def dataset_option(f: Callable) -> Callable:
    """--dataset NAME, repeatable: which of the store's datasets a read covers (default: all of them)."""
    return click.option("--dataset", "datasets", multiple=True, metavar="NAME",
                        help="Only this dataset of the store; repeat for several (default: all; `facevault "
                             "status` lists them).")(f)


def open_vault(store: str | None = None, db: str | None = None, weights_dir: str | None = None,
               workers: int | None = None):
    """The store's facade, with settings resolved once (option, then FACEVAULT_* environment, then default)."""
    from facevault.api import Vault

    return Vault(config.resolve(store, db, weights_dir, workers))


def open_catalog(store: str | None, db: str | None, create: bool = False):
    from facevault.store import Catalog

    return Catalog(config.resolve(store, db), create=create)


weights_option = click.option(
    "--weights", "weights_dir", type=click.Path(file_okay=False), envvar="FACEVAULT_WEIGHTS",
    help="Extra folder to look for weights files in (env FACEVAULT_WEIGHTS).")


def plain_output() -> bool:
    """True when stdout is not a terminal (a pipe, a file): tables are written as TSV, notes go to stderr."""
    return not _stdout().is_terminal


def print_table(table: Table) -> None:
    """A rich table on a terminal, folded rather than cut at its width; plain TSV when stdout is not one.

    TSV: one header line (for tables with a header), one line per row, no markup, no truncation; the title
    goes to stderr so stdout holds only the data; a blank line separates the tables of one command.
    """
    if not plain_output():
        _fit(table, _stdout().width)
        _stdout().print(table)
        return
    if table.title:
        _stderr().print(_plain(table.title), highlight=False, markup=False, soft_wrap=True)
    ctx = click.get_current_context(silent=True)
    meta = ctx.find_root().meta if ctx is not None else {}  # tables this command has written so far
    lines = [""] if meta.get("facevault.tables") else []
    meta["facevault.tables"] = meta.get("facevault.tables", 0) + 1
    if table.show_header:
        lines.append("\t".join(_plain(c.header) for c in table.columns))
    cells = [list(c.cells) for c in table.columns]
    for row in zip(*cells):
        lines.append("\t".join(_plain(v) for v in row))
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    if table.caption:
        _stderr().print(_plain(table.caption), highlight=False, markup=False, soft_wrap=True)


def _fit(table: Table, width: int) -> None:
    """Fold long cells instead of cutting them and keep header words whole; when the boxed table is too wide
    for that, drop the vertical lines, and if still too wide, let no_wrap columns fold too."""
    from rich import box

    for col in table.columns:
        if col.overflow == "ellipsis":
            col.overflow = "fold"
    if not table.show_header:
        return

    def least(col) -> int:  # the narrowest a column can be without cutting a header word
        if not col.no_wrap:
            return max(map(len, str(col.header).split()), default=1)
        return max([len(str(col.header))] + [len(_plain(v)) for v in col.cells])

    need = sum(map(least, table.columns)) + 3 * len(table.columns) + 1
    if need + len(table.columns) > width and table.box is not None:  # boxed only with room to spare
        table.box, table.show_edge, table.collapse_padding = box.SIMPLE_HEAD, False, True
        need -= len(table.columns)
    if need > width:
        for col in table.columns:
            col.no_wrap = False
        need = sum(map(least, table.columns)) + 2 * len(table.columns) + 1
    if need <= width:
        for col in table.columns:
            col.min_width = max(col.min_width or 0, max(map(len, str(col.header).split()), default=1))


def print_note(text: str) -> None:
    """A line under a table: on stdout on a terminal, on stderr when stdout carries TSV."""
    plain = plain_output()
    (_stderr() if plain else _stdout()).print(text, highlight=False, soft_wrap=plain)  # piped: one line, unwrapped


def _plain(v: Any) -> str:
    from rich.text import Text

    text = v.plain if isinstance(v, Text) else Text.from_markup(str(v), emoji=False).plain
    return "; ".join(part.strip() for part in text.replace("\t", " ").splitlines() if part.strip())


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=jsonable) + "\n")



def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"
