"""What writing a delivery's batches needs to know besides the records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Context:
    delivery_id: int
    supplier_id: int
    supplier_code: str
    org_code: str
    #: sigel -> (registered, customer of this supplier)
    libraries: dict[str, tuple[bool, bool]]
