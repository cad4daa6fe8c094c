"""The characters XML 1.0 cannot carry, defined once for every writer of XML text.

C0 controls other than tab, line feed and carriage return; lone surrogates (which cannot be
encoded at all); and the non-characters U+FFFE and U+FFFF. What a writer does with them —
drop or replace with U+FFFD — is its own policy; which characters they are is not.
"""

from __future__ import annotations

import re

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
