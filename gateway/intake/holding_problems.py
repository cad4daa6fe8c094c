"""The loader's own problem codes (holdings), and the texts of the refusals the registry causes.

Codes are stable like those of protocols.marc.problems (docs/intake.md lists them). A refusal
caused by the registry is not the supplier's file's fault: its message says what to do, since
sending the same file again returns the same report (the idempotency key, given or the body's
SHA-256, names the earlier delivery).
"""

from __future__ import annotations

from protocols.marc.problems import Severity

#: code -> (severity, description)
CODES: dict[str, tuple[Severity, str]] = {
    "HOLDING_NO_PARENT": ("error", "A holding without 004 before any bibliographic record."),
    "HOLDING_UNKNOWN_PARENT": (
        "error", "Its 004 names no record of the delivery and none this supplier delivered before."),
    "HOLDING_PARENT_REJECTED": ("error", "The bibliographic record it belongs to was rejected."),
    "HOLDING_UNKNOWN_LIBRARY": ("error", "852 $b is not a library known to the gateway."),
    "HOLDING_LIBRARY_UNREGISTERED": ("error", "The library is not a registered (cataloguing) library."),
    "HOLDING_NOT_CUSTOMER": ("error", "The library is not this supplier's customer."),
    "HOLDING_DELETE_NOT_FOUND": (
        "error", "A cancellation for a holding that does not exist (or is already deleted)."),
    "HOLDING_FORWARD_REFERENCE": ("warning", "(transient) a 004 naming a later record; resolved at the end."),
}

REDELIVER = ("then deliver the file again with a new Idempotency-Key (sent again without one, or with "
             "the same key, it gets this report back)")


def unknown_library(sigel: str, *, while_loading: bool = False) -> str:
    why = " (removed or renamed while loading)" if while_loading else ""
    return (f"852 $b {sigel} is not a library registered in the gateway{why}: if the sigel is right, "
            f"ask the gateway's administrator to register it, {REDELIVER}")


def library_unregistered(sigel: str) -> str:
    return (f"852 $b {sigel} is not registered as a cataloguing library and cannot receive holdings: "
            f"ask the gateway's administrator to register it, {REDELIVER}")


def not_customer(sigel: str, supplier: str) -> str:
    return (f"852 $b {sigel} is not a customer of supplier {supplier}: ask the gateway's administrator "
            f"to register it as your customer, {REDELIVER}")
