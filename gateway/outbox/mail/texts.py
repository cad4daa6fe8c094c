"""The words of a notification, in Swedish (the default) and English."""

from __future__ import annotations

from gateway.outbox.mail import content as c

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"

TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "subject_delivery": "Förvärv: leverans {delivery} från {supplier} till {sigel} – {summary}",
        "subject_digest": "Förvärv: dagssammanställning {day} för {sigel} – {deliveries}, {summary}",
        "greeting": "Hej {name}!",
        "intro_delivery": "Förvärv Gateway har läst in en leverans som gäller ert bestånd ({sigel}).",
        "intro_digest": (
            "Här är dagens sammanställning av leveranser som gäller ert bestånd ({sigel}): {deliveries}."
        ),
        "supplier": "Leverantör",
        "delivery": "Leverans",
        "received": "Mottagen",
        "finished": "Inläst",
        "titles": "Titlar",
        "title": "Titel",
        "no_title": "(titel saknas)",
        "author": "Upphov",
        "isbn": "ISBN",
        "issn": "ISSN",
        "record_id": "Post-id",
        "outcome": "Resultat",
        "oai": "OAI-PMH",
        "sru": "SRU",
        "how_heading": "Så hämtar ni posterna",
        "how_oai_record": "En post via OAI-PMH (GetRecord):",
        "how_sru_record": "En post via SRU:",
        "how_oai_set": (
            "Alla era poster via OAI-PMH (set bib:{sigel}), från ett visst datum med &from=ÅÅÅÅ-MM-DD:"
        ),
        "how_sru_library": "Alla era poster via SRU (innehavande bibliotek):",
        "footer": (
            "Det här är ett automatiskt meddelande från Förvärv Gateway ({public_url}). "
            "Frågor om innehållet i en leverans besvaras av leverantören."
        ),
        "time_zone_note": "Tider anges i svensk tid.",
        c.CREATED: "ny post skapad",
        c.MATCHED: "matchad mot befintlig post",
        c.HOLDINGS_UPDATED: "bestånd uppdaterat",
        c.CANCELLED: "beställningen avbruten",
        c.REJECTED: "avvisad",
        "reason_unknown": "ingen orsak angiven",
        c.AMBIGUOUS: "tvetydig matchning",
        "ambiguous_detail": (
            "titeln matchade {n} befintliga poster; beståndet ligger tills vidare på den äldsta ({record}) "
            "i väntan på att en katalogisatör granskar matchningen"
        ),
        "candidate": "Kandidat",
        "more_candidates": "… och {n} kandidater till (se leveransrapporten)",
        "short_" + c.AMBIGUOUS: "tvetydiga",
        "short_" + c.AMBIGUOUS + "_one": "tvetydig",
        "subject_nothing": "Förvärv: leverans {delivery} från {supplier} till {sigel} – inget inläst ({summary})",
        "intro_nothing": (
            "Förvärv Gateway har tagit emot en leverans från {supplier} med bestånd för er ({sigel}), "
            "men inget av det kunde läsas in: alla titlar avvisades."
        ),
        "intro_digest_nothing": "Inget av ert bestånd i dem kunde läsas in: alla titlar avvisades.",
        "why": "Orsak",
        "short_" + c.CREATED: "nya",
        "short_" + c.MATCHED: "matchade",
        "short_" + c.HOLDINGS_UPDATED: "uppdaterade",
        "short_" + c.CANCELLED: "avbrutna",
        "short_" + c.REJECTED: "avvisade",
        "short_" + c.CREATED + "_one": "ny",
        "short_" + c.MATCHED + "_one": "matchad",
        "short_" + c.HOLDINGS_UPDATED + "_one": "uppdaterad",
        "short_" + c.CANCELLED + "_one": "avbruten",
        "short_" + c.REJECTED + "_one": "avvisad",
        "title_one": "1 titel",
        "title_many": "{n} titlar",
        "delivery_one": "1 leverans",
        "delivery_many": "{n} leveranser",
        "more_titles_one": "… och 1 titel till, som inte listas här (ett meddelande listar högst {max} titlar).",
        "more_titles_many": "… och {n} titlar till, som inte listas här (ett meddelande listar högst {max} titlar).",
        "full_list": (
            "Hela listan: OAI-PMH (set bib:{sigel}, poster ändrade sedan leveransdagen) "
            "eller SRU (alla era poster):"
        ),
    },
    "en": {
        "subject_delivery": "Förvärv: delivery {delivery} from {supplier} for {sigel} – {summary}",
        "subject_digest": "Förvärv: daily digest {day} for {sigel} – {deliveries}, {summary}",
        "greeting": "Hello {name},",
        "intro_delivery": "Förvärv Gateway has loaded a delivery that concerns your holdings ({sigel}).",
        "intro_digest": (
            "Here is today's digest of the deliveries that concern your holdings ({sigel}): {deliveries}."
        ),
        "supplier": "Supplier",
        "delivery": "Delivery",
        "received": "Received",
        "finished": "Loaded",
        "titles": "Titles",
        "title": "Title",
        "no_title": "(no title)",
        "author": "Author",
        "isbn": "ISBN",
        "issn": "ISSN",
        "record_id": "Record id",
        "outcome": "Outcome",
        "oai": "OAI-PMH",
        "sru": "SRU",
        "how_heading": "How to fetch the records",
        "how_oai_record": "One record with OAI-PMH (GetRecord):",
        "how_sru_record": "One record with SRU:",
        "how_oai_set": "All your records with OAI-PMH (set bib:{sigel}), since a date with &from=YYYY-MM-DD:",
        "how_sru_library": "All your records with SRU (possessing institution):",
        "footer": (
            "This is an automatic message from Förvärv Gateway ({public_url}). "
            "Questions about the content of a delivery are answered by the supplier."
        ),
        "time_zone_note": "Times are Swedish local time.",
        c.CREATED: "new record created",
        c.MATCHED: "matched an existing record",
        c.HOLDINGS_UPDATED: "holdings updated",
        c.CANCELLED: "order cancelled",
        c.REJECTED: "rejected",
        "reason_unknown": "no reason given",
        c.AMBIGUOUS: "ambiguous match",
        "ambiguous_detail": (
            "the title matched {n} existing records; the holding is on the oldest ({record}) for now, "
            "until a cataloguer reviews the match"
        ),
        "candidate": "Candidate",
        "more_candidates": "… and {n} more candidates (see the delivery report)",
        "short_" + c.AMBIGUOUS: "ambiguous",
        "short_" + c.AMBIGUOUS + "_one": "ambiguous",
        "subject_nothing": "Förvärv: delivery {delivery} from {supplier} for {sigel} – nothing loaded ({summary})",
        "intro_nothing": (
            "Förvärv Gateway received a delivery from {supplier} with holdings for you ({sigel}), "
            "but none of them could be loaded: every title was rejected."
        ),
        "intro_digest_nothing": "None of your holdings in them could be loaded: every title was rejected.",
        "why": "Why",
        "short_" + c.CREATED: "new",
        "short_" + c.MATCHED: "matched",
        "short_" + c.HOLDINGS_UPDATED: "updated",
        "short_" + c.CANCELLED: "cancelled",
        "short_" + c.REJECTED: "rejected",
        "title_one": "1 title",
        "title_many": "{n} titles",
        "delivery_one": "1 delivery",
        "delivery_many": "{n} deliveries",
        "more_titles_one": "… and 1 more title, not listed here (a message lists at most {max} titles).",
        "more_titles_many": "… and {n} more titles, not listed here (a message lists at most {max} titles).",
        "full_list": (
            "The full list: OAI-PMH (set bib:{sigel}, records changed since the day of the delivery) "
            "or SRU (all your records):"
        ),
    },
}


def catalog(language: str) -> dict[str, str]:
    return TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE])


def plural(t: dict[str, str], word: str, n: int) -> str:
    return t[f"{word}_one"] if n == 1 else t[f"{word}_many"].format(n=n)


def number(t: dict[str, str], n: int) -> str:
    """15,812 in English, 15 812 (no-break space) in Swedish."""
    grouped = f"{n:,}"
    return grouped if t is TEXTS["en"] else grouped.replace(",", "\u00a0")


def more_titles(t: dict[str, str], n: int, max_titles: int) -> str:
    """'… and 15,812 more titles, not listed here (a message lists at most 200 titles).'"""
    if n == 1:
        return t["more_titles_one"].format(max=max_titles)
    return t["more_titles_many"].format(n=number(t, n), max=max_titles)


def _outcome_counts(t: dict[str, str], counts: dict[str, int]) -> str:
    words = [
        f"{n} {t.get(f'short_{outcome}_one', t['short_' + outcome]) if n == 1 else t['short_' + outcome]}"
        for outcome, n in counts.items()
        if n
    ]
    return ", ".join(words)


def count_summary(t: dict[str, str], counts: dict[str, int]) -> str:
    """'5 titlar: 2 nya, 1 avvisad' — only the outcomes that occurred (for subjects)."""
    parts = _outcome_counts(t, counts)
    return plural(t, "title", sum(counts.values())) + (f": {parts}" if parts else "")


def count_detail(t: dict[str, str], counts: dict[str, int]) -> str:
    """'5 (2 nya, 1 avvisad)' (for the body, after the label 'Titlar')."""
    parts = _outcome_counts(t, counts)
    return f"{sum(counts.values())}" + (f" ({parts})" if parts else "")
