"""Every problem code in plain words, in Swedish and English: one table, read by the e-mails
(gateway.outbox.mail) and the console (gateway.console), so a library reads a refusal in its own
language and staff read it in theirs.

The codes are those of protocols.marc.problems (the readers, the validator, the identifiers) and
gateway.intake.holding_problems (the loader's holdings); tests/outbox/test_problem_texts.py checks
that every code has both texts. A text may name the library (`{sigel}`) and the supplier
(`{supplier}`), which the reader of a holding's problem always knows; nothing else of a record goes
into them, so they are the same for every record with that code (the stored message, in English,
keeps the specifics: which tag, which ISBN).
"""

from __future__ import annotations

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
#: The names a text may use.
PLACEHOLDERS = frozenset({"sigel", "supplier"})

#: code -> {language: text}
TEXTS: dict[str, dict[str, str]] = {
    # --- the whole file (the delivery is refused) ------------------------------------------
    "XML_SYNTAX": {
        "sv": "Filen är inte välformad XML.",
        "en": "The file is not well-formed XML.",
    },
    "XML_ENCODING": {
        "sv": "Filen innehåller byte som inte är giltiga i dess teckenkodning.",
        "en": "The file contains bytes that are not valid in its character encoding.",
    },
    "XML_DTD_FORBIDDEN": {
        "sv": "Filen har en DOCTYPE eller entitetsdeklarationer, vilket inte tas emot.",
        "en": "The file has a DOCTYPE or entity declarations, which are not accepted.",
    },
    "MARCXML_FOREIGN_ROOT": {
        "sv": "Filens rotelement är inte en MARC 21-samling eller -post (MARCXML).",
        "en": "The file's root element is not a MARC 21 collection or record (MARCXML).",
    },
    "ISO_SYNTAX": {
        "sv": "Filen är inte ISO 2709 (MARC i utbytesformat).",
        "en": "The file is not ISO 2709 (MARC exchange format).",
    },
    # --- reading a record --------------------------------------------------------------------
    "MARCXML_NO_NAMESPACE": {
        "sv": "MARCXML-elementen saknar namnrymd; de lästes som MARC 21.",
        "en": "The MARCXML elements have no namespace; they were read as MARC 21.",
    },
    "MARCXML_UNKNOWN_ELEMENT": {
        "sv": "Ett element som inte hör till MARCXML hoppades över.",
        "en": "An element that is not part of MARCXML was skipped.",
    },
    "MARCXML_FOREIGN_RECORD": {
        "sv": "Posten är inte en MARC 21-post (främmande namnrymd).",
        "en": "The record is not a MARC 21 record (foreign namespace).",
    },
    "MARCXML_NO_LEADER": {
        "sv": "Posten saknar postetikett (leader).",
        "en": "The record has no leader.",
    },
    "MARCXML_NO_TAG": {
        "sv": "Ett fält i posten saknar fältnummer (tag).",
        "en": "A field of the record has no tag.",
    },
    "MARCXML_NO_CODE": {
        "sv": "Ett delfält i posten saknar delfältskod.",
        "en": "A subfield of the record has no code.",
    },
    "MARCXML_MULTIPLE_LEADERS": {
        "sv": "Posten har mer än en postetikett; den första användes.",
        "en": "The record has more than one leader; the first was used.",
    },
    "ISO_DECODE_ERROR": {
        "sv": "ISO 2709-posten kunde inte avkodas (struktur eller teckenkodning).",
        "en": "The ISO 2709 record could not be decoded (structure or character encoding).",
    },
    "ISO_LENGTH_MISMATCH": {
        "sv": "Postlängden i postetiketten stämde inte med postens verkliga längd.",
        "en": "The record length in the leader did not match the record's actual length.",
    },
    # --- the leader ----------------------------------------------------------------------------
    "LEADER_INVALID": {
        "sv": "Postetiketten saknas eller har en längd som inte går att rätta.",
        "en": "The leader is missing or has a length that cannot be repaired.",
    },
    "LEADER_TRIMMED": {
        "sv": "Blanksteg runt postetiketten togs bort.",
        "en": "Spaces around the leader were removed.",
    },
    "LEADER_TYPE_INVALID": {
        "sv": "Posttypen (postetikett pos. 06) är inte ett giltigt MARC 21-värde.",
        "en": "The type of record (leader position 06) is not a valid MARC 21 value.",
    },
    "LEADER_LENGTHS_FIXED": {
        "sv": "Längdangivelserna i postetiketten var inte siffror och räknades om.",
        "en": "The lengths in the leader were not numbers and were recalculated.",
    },
    "LEADER_STATUS_INVALID": {
        "sv": "Poststatus (postetikett pos. 05) var ogiltig och sattes till 'n' (ny).",
        "en": "The record status (leader position 05) was invalid and was set to 'n' (new).",
    },
    "LEADER_CODING_FIXED": {
        "sv": "Teckenkodningen i postetiketten (pos. 09) sattes till 'a' (posten lagras som UTF-8).",
        "en": "The character coding in the leader (position 09) was set to 'a' (the record is stored as UTF-8).",
    },
    "LEADER_FIXED_POSITIONS": {
        "sv": "De fasta positionerna i postetiketten (10–11, 20–23) rättades.",
        "en": "The fixed positions of the leader (10–11, 20–23) were corrected.",
    },
    "LEADER_CHAR_INVALID": {
        "sv": "En position i postetiketten hade ett ogiltigt tecken; den tömdes.",
        "en": "A leader position held an invalid character; it was blanked.",
    },
    "TYPE_ATTR_MISMATCH": {
        "sv": "MARCXML-attributet type stämde inte med posttypen i postetiketten; postetiketten gäller.",
        "en": "The MARCXML type attribute disagreed with the leader's type of record; the leader was followed.",
    },
    "KIND_MISMATCH": {
        "sv": "Posten är inte av det slag som väntades här (bibliografisk post eller beståndspost).",
        "en": "The record is not of the kind expected here (bibliographic or holdings).",
    },
    "RECORD_TOO_LONG": {
        "sv": "Posten eller ett fält är för långt för att exporteras som ISO 2709.",
        "en": "The record or a field is too long to be exported as ISO 2709.",
    },
    # --- fields ----------------------------------------------------------------------------------
    "NO_FIELDS": {
        "sv": "Posten har inga fält.",
        "en": "The record has no fields.",
    },
    "TAG_INVALID": {
        "sv": "Ett fältnummer är inte tre bokstäver eller siffror.",
        "en": "A tag is not three letters or digits.",
    },
    "TAG_LOWERCASE": {
        "sv": "Ett fältnummer hade gemena bokstäver; de gjordes versala.",
        "en": "A tag had lower-case letters; they were made upper-case.",
    },
    "CONTROL_TAG_INVALID": {
        "sv": "Ett kontrollfält har ett fältnummer utanför 001–009.",
        "en": "A control field has a tag outside 001–009.",
    },
    "DATAFIELD_TAG_INVALID": {
        "sv": "Ett datafält har ett kontrollfälts nummer (00X).",
        "en": "A data field has a control field's tag (00X).",
    },
    "SUBFIELD_CODE_INVALID": {
        "sv": "En delfältskod är inte en gemen bokstav eller en siffra.",
        "en": "A subfield code is not a lower-case letter or a digit.",
    },
    "INDICATOR_FIXED": {
        "sv": "En tom eller ogiltig indikator ersattes med blanksteg.",
        "en": "An empty or invalid indicator was replaced by a blank.",
    },
    "WHITESPACE_TRIMMED": {
        "sv": "Blanksteg i början eller slutet av värden togs bort.",
        "en": "Spaces at the start or end of values were removed.",
    },
    "EMPTY_SUBFIELD": {
        "sv": "Ett tomt delfält togs bort.",
        "en": "An empty subfield was removed.",
    },
    "EMPTY_FIELD": {
        "sv": "Ett fält utan innehåll togs bort.",
        "en": "A field without content was removed.",
    },
    "INVALID_CHARACTERS": {
        "sv": "Tecken som inte är tillåtna i XML (styrtecken) togs bort.",
        "en": "Characters not allowed in XML (control characters) were removed.",
    },
    "MISSING_245": {
        "sv": "Den bibliografiska posten saknar titel (fält 245).",
        "en": "The bibliographic record has no title (field 245).",
    },
    "NO_IDENTIFIER": {
        "sv": "Den bibliografiska posten har inget att matcha på: inget ISBN, ISSN, EAN, 035 eller 001.",
        "en": "The bibliographic record has nothing to match on: no ISBN, ISSN, EAN, 035 or 001.",
    },
    "HOLDING_NO_SIGEL": {
        "sv": "Beståndsposten saknar bibliotekets sigel (852 $b).",
        "en": "The holdings record has no library sigel (852 $b).",
    },
    # --- identifiers ---------------------------------------------------------------------------
    "ISBN_CHECK_DIGIT": {
        "sv": "Ett ISBN har fel kontrollsiffra och används inte för matchning.",
        "en": "An ISBN has a wrong check digit and is not used for matching.",
    },
    "ISBN_INVALID": {
        "sv": "Ett ISBN-fält innehåller inget användbart ISBN; det används inte.",
        "en": "An ISBN field holds no usable ISBN; it is not used.",
    },
    "ISSN_INVALID": {
        "sv": "Ett ISSN är felaktigt eller har fel kontrollsiffra; det används inte.",
        "en": "An ISSN is malformed or has a wrong check digit; it is not used.",
    },
    "EAN_INVALID": {
        "sv": "Ett EAN/GTIN (024, första indikator 3) är ogiltigt; det används inte.",
        "en": "An EAN/GTIN (024, first indicator 3) is invalid; it is not used.",
    },
    # --- holdings, as the loader finds them ---------------------------------------------------
    "HOLDING_NO_PARENT": {
        "sv": "Beståndsposten kom före alla bibliografiska poster och saknar 004, så den hör inte till någon titel.",
        "en": "The holdings record came before any bibliographic record and has no 004, so it belongs to no title.",
    },
    "HOLDING_UNKNOWN_PARENT": {
        "sv": ("Beståndspostens 004 pekar på en post som varken finns i leveransen eller har levererats "
               "tidigare av leverantören {supplier}."),
        "en": ("The holdings record's 004 names a record that is neither in the delivery nor one supplier "
               "{supplier} delivered before."),
    },
    "HOLDING_PARENT_REJECTED": {
        "sv": "Den bibliografiska post som beståndet hör till avvisades.",
        "en": "The bibliographic record the holding belongs to was rejected.",
    },
    "HOLDING_UNKNOWN_LIBRARY": {
        "sv": ("Sigeln {sigel} (852 $b) är inte ett bibliotek i Förvärv Gateways register. Stämmer sigeln ska "
               "gatewayens administratör registrera biblioteket; sedan kan leverantören leverera igen."),
        "en": ("The sigel {sigel} (852 $b) is not a library in Förvärv Gateway's registry. If the sigel is right, "
               "the gateway's administrator registers the library; then the supplier can deliver again."),
    },
    "HOLDING_LIBRARY_UNREGISTERED": {
        "sv": ("{sigel} är inte registrerat som katalogiserande bibliotek i Förvärv Gateway och kan inte ta emot "
               "bestånd. Gatewayens administratör kan ändra det; sedan kan leverantören leverera igen."),
        "en": ("{sigel} is not registered as a cataloguing library in Förvärv Gateway and cannot receive "
               "holdings. The gateway's administrator can change that; then the supplier can deliver again."),
    },
    "HOLDING_NOT_CUSTOMER": {
        "sv": ("{sigel} är inte registrerat som kund hos leverantören {supplier} i Förvärv Gateway. Gatewayens "
               "administratör registrerar kundkopplingen; sedan kan leverantören leverera igen."),
        "en": ("{sigel} is not registered as a customer of supplier {supplier} in Förvärv Gateway. The "
               "gateway's administrator registers the customer link; then the supplier can deliver again."),
    },
    "HOLDING_DELETE_NOT_FOUND": {
        "sv": "En avbeställning av ett bestånd som inte finns (eller redan är borttaget).",
        "en": "A cancellation of a holding that does not exist (or is already deleted).",
    },
    "HOLDING_FORWARD_REFERENCE": {
        "sv": "Beståndspostens 004 pekar på en senare post i leveransen (löses när leveransen är inläst).",
        "en": "The holdings record's 004 names a later record of the delivery (resolved once it is loaded).",
    },
}


def text(code: str, language: str, *, sigel: str | None = None, supplier: str | None = None) -> str | None:
    """The code's text in `language` (Swedish if that is not one of LANGUAGES), with the library and
    supplier filled in; None for a code this table does not know (show the stored message then)."""
    entry = TEXTS.get(code)
    if entry is None:
        return None
    words = entry.get(language) or entry[DEFAULT_LANGUAGE]
    return words.format(sigel=sigel or "?", supplier=supplier or "?")
