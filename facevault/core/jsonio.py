"""JSON for facevault's documents: numpy scalars and arrays as plain numbers and lists, anything else as text."""

from __future__ import annotations

from typing import Any


def jsonable(o: Any) -> Any:
    """`json.dumps(default=jsonable)`: numpy values become Python numbers / lists; other objects their str()."""
    import numpy as np

    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
