"""OAI-PMH error conditions (spec section 3.6), one class per wire code.

Every error is reported inside an HTTP 200 response as `<error code="...">message</error>`.
"""

from __future__ import annotations


class OAIError(Exception):
    code: str = ""
    #: badVerb and badArgument responses carry no attributes on <request>.
    echo_request: bool = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadArgument(OAIError):
    code = "badArgument"
    echo_request = False


class BadResumptionToken(OAIError):
    code = "badResumptionToken"


class BadVerb(OAIError):
    code = "badVerb"
    echo_request = False


class CannotDisseminateFormat(OAIError):
    code = "cannotDisseminateFormat"


class IdDoesNotExist(OAIError):
    code = "idDoesNotExist"


class NoRecordsMatch(OAIError):
    code = "noRecordsMatch"


class NoMetadataFormats(OAIError):
    code = "noMetadataFormats"


class NoSetHierarchy(OAIError):
    code = "noSetHierarchy"
