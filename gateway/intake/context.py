"""What writing a delivery's batches needs to know besides the records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Context:
    delivery_id: int
    supplier_id: int
    supplier_code: str
    org_code: str
    #: sigel -> (registered, customer of this supplier)
    libraries: dict[str, tuple[bool, bool]]
    #: called after each batch commits (the worker's search indexer: gateway.search.indexer)
    on_commit: Callable[[], None] | None = None
