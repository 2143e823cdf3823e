"""The `facevault` console entry point.

Everything goes to the click command line (`facevault.cli.main`), except one case: a `facevault search ...
--json` that a running `facevault serve` answers. There the call is the interpreter's start, a request and the
JSON, and click's import alone would be a third of its start-up (~15 ms of ~40 ms), so `served_search` reads
the arguments itself. It reads only the plain forms of search's own options (`--opt VALUE`, `--opt=VALUE`,
`-m VALUE`, flags, `--`) and hands anything else - another form, a value click would refuse, a missing server,
a server that answers with an error or only failures - to click unchanged, which then parses, asks the server
again or searches itself, and reports as it always does. Its output is what click's path prints for the same
answer (tests/test_serve.py compares them).
"""

from __future__ import annotations

import os
import sys

#: search's options that take a value -> the parameter they set
_VALUED = {"--store": "store", "--db": "db", "--weights": "weights", "--model": "model", "-m": "model",
           "--detector": "detector", "-d": "detector", "-k": "k", "--threshold": "threshold",
           "--identity": "identity", "--dataset": "dataset"}
_ENV = {"model": "FACEVAULT_MODEL", "detector": "FACEVAULT_DETECTOR"}


def _parse(argv: list[str]) -> dict | None:
    """search's arguments as click would read them, or None for anything but the plain forms."""
    opts: dict = {"images": [], "dataset": []}
    flags: set[str] = set()
    rest = iter(argv)
    for tok in rest:
        if tok == "--":
            opts["images"].extend(rest)
            break
        if not tok.startswith("-") or tok == "-":
            opts["images"].append(tok)
            continue
        name, eq, value = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        if name in ("--json", "--no-server") and not eq:
            flags.add(name)
            continue
        if name not in _VALUED:
            return None
        if not eq:
            value = next(rest, None)
            if value is None or value.startswith("-"):
                return None
        if value == "":
            return None
        key = _VALUED[name]
        if key == "dataset":
            opts["dataset"].append(value)
        else:
            opts[key] = value
    if flags != {"--json"} or os.environ.get("FACEVAULT_NO_SERVER"):
        return None
    if bool(opts["images"]) == ("identity" in opts):
        return None
    try:
        opts["k"] = int(opts.get("k", 5))
        threshold = opts.get("threshold")
        opts["threshold"] = None if threshold is None else float(threshold)
    except ValueError:
        return None
    if opts["k"] < 1 or (opts["threshold"] is not None and not -1 <= opts["threshold"] <= 1):
        return None
    for key, env in _ENV.items():
        opts.setdefault(key, os.environ.get(env) or None)
    return opts


def served_search(argv: list[str]) -> bool:
    """Answer `facevault search ARGV` from a running server and print it; False when click must take it."""
    from facevault.core.errors import FacevaultError
    from facevault.server import client

    opts = _parse(argv)
    if opts is None:
        return False
    try:
        answer = client.search(opts.get("store"), opts.get("db"), opts.get("weights"),
                               queries=None if "identity" in opts else opts["images"], identity=opts.get("identity"),
                               k=opts["k"], model=opts["model"], detector=opts["detector"],
                               threshold=opts["threshold"], datasets=opts["dataset"])
    except (FacevaultError, client.ServerFailed, OSError):
        return False
    if answer is None:
        return False
    results = answer["results"]
    if "identity" not in opts and all(q.get("error") for q in results):
        return False  # click's path says so and exits 1
    import json

    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    sys.stdout.flush()
    return True


def main() -> None:
    if sys.argv[1:2] == ["search"] and "--json" in sys.argv:
        try:
            if served_search(sys.argv[2:]):
                sys.exit(0)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            sys.exit(130)
    from facevault.cli import main as cli_main

    cli_main()
