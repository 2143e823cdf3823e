"""What a store holds: images by status, identities, and every embedding space with its counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facevault.core.types import Space
from facevault.store.catalog import Catalog


@dataclass
class SpaceStatus:
    id: int
    model: str
    detector: str
    aligner: str
    dim: int
    vectors: int
    scans: dict[str, int]
    threshold: float | None
    threshold_source: str | None
    images_per_second: float | None
    revision: int

    @property
    def label(self) -> str:
        return Space(self.model, self.detector, self.aligner).label


@dataclass
class StoreStatus:
    store: str
    dataset_root: str | None
    images: dict[str, int]  # by status: ok, error, missing
    identities: int
    spaces: list[SpaceStatus] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)  # name, root, images, identities

    def to_dict(self) -> dict:
        return asdict(self)


def store_status(catalog: Catalog) -> StoreStatus:
    stats = catalog.stats()
    spaces = []
    for rec in catalog.spaces():
        per = stats["spaces"].get(rec.id, {"scans": {}, "vectors": 0})
        spaces.append(SpaceStatus(rec.id, rec.model, rec.detector, rec.aligner, rec.dim, per["vectors"], per["scans"],
                                  rec.threshold, rec.threshold_source, rec.images_per_second, rec.revision))
    return StoreStatus(str(catalog.settings.store), catalog.dataset_root(), stats["images"], stats["identities"], spaces,
                       catalog.datasets())
