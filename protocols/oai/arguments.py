"""Per-verb argument tables and the checks every request goes through first."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.oai.errors import BadArgument, BadVerb
from protocols.oai.xmltext import has_forbidden


@dataclass(frozen=True, slots=True)
class VerbRule:
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    #: An argument that must be the only one when present (resumptionToken).
    exclusive: str | None = None


_LIST = VerbRule(
    required=frozenset({"metadataPrefix"}),
    optional=frozenset({"from", "until", "set"}),
    exclusive="resumptionToken",
)

VERBS: dict[str, VerbRule] = {
    "Identify": VerbRule(),
    "ListMetadataFormats": VerbRule(optional=frozenset({"identifier"})),
    "ListSets": VerbRule(exclusive="resumptionToken"),
    "GetRecord": VerbRule(required=frozenset({"identifier", "metadataPrefix"})),
    "ListIdentifiers": _LIST,
    "ListRecords": _LIST,
}

# Value patterns of the OAI-PMH schema's types, so that an echoed <request> stays valid.
_PREFIX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+\Z")
SET_SPEC = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(?::[A-Za-z0-9\-_.!~*'()]+)*\Z")
# identifierType is anyURI: an RFC 3986 URI reference, here without an authority part ("//host"),
# which no identifier of this repository has and whose rules (ports, encoded hosts) the schema
# validators apply unevenly. Anything else could not be echoed in a valid <request>.
_U, _SUB, _PCT = r"A-Za-z0-9\-._~", r"!$&'()*+,;=", r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_U}{_SUB}:@]|{_PCT})"
_REST = rf"(?:/{_PCHAR}*)*"
_ABSOLUTE = rf"/(?:{_PCHAR}+{_REST})?"
_FIRST_NO_COLON = rf"(?:[{_U}{_SUB}@]|{_PCT})"  # a relative reference's first segment
IDENTIFIER = re.compile(
    rf"(?:[A-Za-z][A-Za-z0-9+.\-]*:(?:{_ABSOLUTE}|{_PCHAR}+{_REST}|)|{_ABSOLUTE}|{_FIRST_NO_COLON}+{_REST}|)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?\Z"
)


@dataclass(frozen=True, slots=True)
class Request:
    verb: str
    args: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.args.get(name)


def parse(pairs: Sequence[tuple[str, str]]) -> Request:
    """Check verb and arguments against the verb's table; badVerb/badArgument otherwise."""
    verbs = [v for k, v in pairs if k == "verb"]
    if not verbs:
        raise BadVerb("the verb argument is missing")
    if len(verbs) > 1:
        raise BadVerb("the verb argument is repeated")
    verb = verbs[0]
    rule = VERBS.get(verb)
    if rule is None:
        raise BadVerb("the verb is not an OAI-PMH verb")
    args: dict[str, str] = {}
    for key, value in pairs:
        if key == "verb":
            continue
        if key in args:
            raise BadArgument(f"the argument {key} is repeated")
        if key not in rule.required and key not in rule.optional and key != rule.exclusive:
            raise BadArgument(f"{key} is not an argument of {verb}")
        if has_forbidden(value):
            raise BadArgument(f"the value of {key} holds characters XML does not allow")
        args[key] = value
    if rule.exclusive is not None and rule.exclusive in args:
        if len(args) > 1:
            raise BadArgument(f"{rule.exclusive} is an exclusive argument")
        return Request(verb, args)
    missing = sorted(rule.required - args.keys())
    if missing:
        raise BadArgument(f"{verb} requires {', '.join(missing)}")
    prefix = args.get("metadataPrefix")
    if prefix is not None and not _PREFIX.match(prefix):
        raise BadArgument("metadataPrefix is not a valid metadata prefix")
    identifier = args.get("identifier")
    if identifier is not None and not IDENTIFIER.match(identifier):
        raise BadArgument("identifier is not a URI")
    set_spec = args.get("set")
    if set_spec is not None and not SET_SPEC.match(set_spec):
        raise BadArgument("set is not a valid setSpec")
    return Request(verb, args)
