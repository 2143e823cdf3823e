"""Which stored space a command means: the policy for reads that name no model, or several.

Without a model a read takes the store's only space, else the default model's; where several spaces match,
the one with the model's own default aligner is taken. The catalog only lists spaces; this is where the
choice is made, so the CLI and the Python API make it the same way.
"""

from __future__ import annotations

from facevault.core.errors import NoSpace, UnknownName
from facevault.core.settings import DEFAULT_MODEL
from facevault.core.types import SpaceRecord
from facevault.zoo import registry


def _default_aligner(model: str) -> str | None:
    try:
        return registry.model(model).aligner
    except UnknownName:  # a space of a model no longer registered (e.g. a removed user model)
        return None


def _names(records: list[SpaceRecord]) -> str:
    return ", ".join(r.label for r in records)


def choose(records: list[SpaceRecord], model: str | None = None, detector: str | None = None,
           aligner: str | None = None) -> SpaceRecord:
    """The one space matching what was asked (see the module doc); NoSpace naming what the store has."""
    rows = [r for r in records if (model is None or r.model == model) and (detector is None or r.detector == detector)
            and (aligner is None or r.aligner == aligner)]
    if model is None and len(rows) > 1:
        rows = [r for r in rows if r.model == DEFAULT_MODEL] or rows
    if len(rows) > 1 and aligner is None:
        rows = [r for r in rows if r.aligner == _default_aligner(r.model)] or rows
    if not rows:
        what = f"model {model!r}" if model else "any model"
        raise NoSpace(
            f"the store has no vectors for {what}" + (f" with detector {detector!r}" if detector else "")
            + (f" and aligner {aligner!r}" if aligner else "")
            + (f" (it has: {_names(records)})" if records else " (run `facevault ingest DATASET` first)")
        )
    if len(rows) > 1:
        raise NoSpace(f"several spaces match ({_names(rows)}); pass --model and --detector to choose one")
    return rows[0]


def select(records: list[SpaceRecord], models: tuple[str, ...] = (), detectors: tuple[str, ...] = ()) -> list[SpaceRecord]:
    """Every space matching any of `models` and any of `detectors` (all of them when none is given)."""
    for m in models or (() if records else (DEFAULT_MODEL,)):
        if not any(s.model == m for s in records):
            choose(records, m)  # raises NoSpace naming what the store has
    for d in detectors:
        if not any(s.detector == d for s in records):
            have = sorted({s.detector for s in records})
            raise NoSpace(f"the store has no vectors made with detector {d!r} (it has: {', '.join(have)})")
    chosen = [s for s in records if (not models or s.model in models) and (not detectors or s.detector in detectors)]
    if not chosen:
        raise NoSpace(f"no space has model {' or '.join(models)} with detector {' or '.join(detectors)}")
    return chosen
