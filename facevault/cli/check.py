"""`facevault check [--repair]`: the store's consistency (database file, orphan rows, vectors, indices)."""

from __future__ import annotations

import click

from facevault.cli import cli
from facevault.cli.common import emit_json, open_vault, stdout, store_options


@cli.command("check")
@click.option("--repair", is_flag=True, help="Delete orphan rows and rebuild stale or damaged indices (derived "
              "data only; no referenced vector is touched).")
@store_options
def check_cmd(repair: bool, store: str | None, db: str | None, as_json: bool) -> None:
    """Check the store: SQLite integrity, orphan rows, vector lengths and norms, index vs catalog revision
    (and its files, loaded whole).

    Exits non-zero when a problem remains (after --repair: one it could not fix).
    """
    with open_vault(store, db) as vault:
        report = vault.check(repair=repair)
    if as_json:
        emit_json(report.to_dict())
    else:
        stdout.print(f"database: {'ok' if report.database_ok else 'DAMAGED'}", highlight=False)
        for kind, n in report.orphans.items():
            done = report.repaired.get(kind)
            stdout.print(f"{kind}: {n}" + (f" (deleted {done})" if done else ""), highlight=False)
        v = report.vectors
        stdout.print(f"vectors of the wrong length: {v['wrong_length']}; not unit-norm: {v['not_unit']}",
                     highlight=False)
        for ix in report.indices:
            state = ("rebuilt" if ix.get("rebuilt") else "stale" if not ix["fresh"]
                     else f"cannot be loaded: {ix['unreadable']}" if ix.get("unreadable") else "fresh") \
                if ix["built"] else "not built (built on first search)"
            stdout.print(f"index of space {ix['space_id']} ({ix['space']}): {state}", highlight=False)
    if not report.ok:
        raise click.ClickException("; ".join(report.problems[:5]) + ("" if repair else
                                                                      " (facevault check --repair fixes derived data)"))
