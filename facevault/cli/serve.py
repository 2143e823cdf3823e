"""`facevault serve`: keep a store's models and index loaded, and answer `facevault search` from them."""

from __future__ import annotations

import json
import os
import sys

import click

from facevault.cli import cli
from facevault.cli.common import open_vault, space_options, store_options, weights_option


@cli.command("serve")
@space_options
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Also answer HTTP on this TCP port (image bytes only; 0 picks a free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address --port listens on.")
@weights_option
@store_options
@click.pass_context
def serve_cmd(ctx: click.Context, model: str | None, detector: str | None, port: int | None, host: str,
              weights_dir: str | None, store: str | None, db: str | None, as_json: bool) -> None:
    """Load the store's model and index once and answer searches until stopped (Ctrl-C or SIGTERM).

    `facevault search` with the same store, catalog, weights and FACEVAULT_* settings then asks this server
    instead of starting its own (one call pays ~50 ms of start-up instead of ~0.6 s); any other caller, or
    `search --no-server`, searches in its own process. The server listens on a Unix socket only you can reach;
    with --port, also on HTTP for image bytes:

        curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8000/v1/search?k=3'

    Endpoints: GET /v1/info, POST /v1/search (image bytes, or JSON paths on the socket), POST /v1/lookalikes
    ({"identity": NAME, "k": 5}). With --json, one line {"socket", "url", "pid", "space"} on stdout when ready."""
    from facevault.server import app

    vault = open_vault(store, db, weights_dir)
    try:
        serving = app.start(vault, model, detector, host=host, port=port,
                            verbose=(ctx.find_root().obj or {}).get("verbose", 0))
    except BaseException:
        vault.close()
        raise
    if as_json:
        sys.stdout.write(json.dumps({"socket": serving.socket, "url": serving.url, "pid": os.getpid(),
                                     "space": serving.space}) + "\n")
        sys.stdout.flush()
    where = f"unix:{serving.socket}" + (f" and {serving.url}" if serving.url else "")
    click.echo(f"serving {vault.settings.store} (space {serving.space}) on {where}; Ctrl-C stops", err=True)
    try:
        app.run(serving)
    finally:
        vault.close()
    click.echo("stopped", err=True)
