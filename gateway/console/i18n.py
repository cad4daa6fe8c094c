"""The console's words in Swedish and English, and which language a request gets.

The language is the one chosen with the switch (a cookie), else the first of sv/en that
Accept-Language names with q > 0, else Swedish.
"""

from __future__ import annotations

from aiohttp import web

LANGUAGES = ("sv", "en")
DEFAULT = "sv"
COOKIE = "fvg_lang"

TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "app": "Förvärv Gateway", "console": "Personalkonsol", "skip": "Hoppa till innehållet",
        "nav": "Huvudmeny", "overview": "Översikt", "deliveries": "Leveranser", "search": "Sök",
        "review": "Granskning", "registry": "Register", "outbox": "Utkorg", "sign_in": "Logga in",
        "sign_out": "Logga ut", "language": "Språk", "token": "Token",
        "token_help": "Administratörstoken, leverantörens API-token eller bibliotekets token.",
        "sign_in_failed": "Okänd eller återkallad token.", "signed_in_as": "Inloggad som",
        "role_admin": "administratör", "role_supplier": "leverantör", "role_library": "bibliotek",
        "not_found": "Hittades inte", "not_found_text": "Det finns inget här som du har tillgång till.",
        "forbidden": "Förbjudet",
        "forbidden_text": "Formuläret saknade en giltig CSRF-token. Ladda om sidan och försök igen.",
        "bad_request": "Felaktig begäran", "today": "I dag", "last_7_days": "Senaste 7 dagarna",
        "supplier": "Leverantör", "status": "Status", "count": "Antal", "records": "Poster",
        "created": "Nya", "matched": "Matchade", "updated": "Uppdaterade", "ambiguous": "Tvetydiga",
        "rejected": "Avvisade", "added": "Tillagda", "deleted": "Borttagna", "holdings": "Bestånd",
        "open_review": "Öppna granskningsärenden", "mail": "E-post", "pending": "väntar",
        "sending": "skickas", "failed": "misslyckad", "skipped": "hoppad över", "sent": "skickad",
        "spooled": "sparad i spoolmappen (ingen SMTP-server)",
        "held": "hålls för dagssammanställning", "digested": "i dagssammanställning",
        "oldest_waiting": "Äldsta väntande leverans", "none": "Ingen", "last_harvest": "Senaste skörd (OAI-PMH)",
        "library": "Bibliotek", "never": "aldrig", "workers": "Arbetsprocesser",
        "status_received": "mottagen", "status_processing": "läses in", "status_done": "klar",
        "status_failed": "misslyckad", "received_at": "Mottagen", "finished_at": "Klar",
        "filter": "Filtrera", "all": "Alla", "from": "Från", "to": "Till", "delivery": "Leverans",
        "progress": "Förlopp", "of": "av", "summary": "Sammanfattning", "per_record": "Post för post",
        "outcome": "Resultat", "position": "Nr", "kind": "Typ", "title": "Titel", "record": "Post",
        "problems": "Fel och varningar", "errors_warnings": "Med fel eller varningar",
        "download_payload": "Ladda ned originalfilen",
        "payload_removed": "Originalfilen togs bort {days} dagar efter leveransen (gallring).",
        "results_removed": "Resultaten post för post togs bort {days} dagar efter leveransen "
                           "(gallring); sammanfattningen finns kvar.",
        "download_report": "Ladda ned rapporten (JSON)",
        "next_page": "Nästa sida", "previous_page": "Föregående sida", "no_rows": "Inga rader.",
        "refresh": "Uppdatera", "kind_bib": "bibliografisk", "kind_holding": "bestånd",
        "format": "Format", "size": "Storlek", "error": "Fel", "warning": "Varning",
        "identifiers": "Identifierare", "provenance": "Härkomst", "protect": "Skydda",
        "unprotect": "Ta bort skydd", "protected": "Skyddad", "not_protected": "Inte skyddad",
        "encoding_level": "Fullständighetsnivå", "oai_getrecord": "OAI-PMH GetRecord",
        "sru_search": "SRU-sökning (rec.id)", "tombstone": "borttaget (gravsten)", "tag": "Fält",
        "indicators": "Ind.", "subfields": "Delfält", "leader": "Postetikett", "marc": "MARC",
        "modified": "Ändrad", "words": "Sökord", "cql": "CQL (avancerat)", "hits": "träffar",
        "search_help": "Skriv ord, eller en CQL-fråga i det avancerade fältet.",
        "query_error": "Frågan kunde inte köras",
        "candidates": "Kandidater", "incoming": "Inkommande post", "candidate": "Kandidat",
        "reason": "Orsak", "open_items": "Öppna ärenden", "differs": "skiljer sig",
        "suppliers": "Leverantörer", "libraries": "Bibliotek", "customers": "Kundkopplingar",
        "code": "Kod", "name": "Namn", "create": "Skapa", "save": "Spara", "tokens": "Token",
        "new_token": "Ny token", "revoke": "Återkalla", "revoked": "återkallad", "active": "aktiv",
        "token_once": "Spara denna token nu – den visas bara en gång:", "emails": "E-postadresser",
        "emails_help": "En adress per rad.", "digest": "Dagssammanställning", "registered": "Katalogiserande",
        "yes": "ja", "no": "nej", "link": "Koppla", "unlink": "Ta bort", "saved": "Sparat.",
        "notification": "Avisering", "recipients": "Mottagare", "attempts": "Försök",
        "preview": "Förhandsvisning", "resend": "Skicka igen", "resent": "Köad för att skickas igen.",
        "in_flight": "Skickas just nu; försök igen om en stund.", "plain_part": "Textdel",
        "html_part": "HTML-del", "headers": "Huvuden", "last_error": "Senaste fel",
        "keep": "Behåll på denna", "merge": "Slå samman till denna", "separate": "Separera (ny post)",
        "actions": "Åtgärder", "by": "av", "by_name": "Ditt namn (valfritt)",
        "override_protected": "Slå samman även skyddade poster",
        "actions_help": ("Behåll: beståndet ligger kvar på (eller flyttas till) kandidaten. Slå samman: de andra "
                         "kandidaterna är samma bok och går upp i denna. Separera: ingen träff – en ny post skapas "
                         "av den inkommande. Avfärda: stäng ärendet utan ändring."),
        "dismiss": "Avfärda (ingen ändring)", "attached": "beståndet ligger här", "merged": "sammanslagna",
        "action_keep": "behållen", "action_merge": "sammanslagen", "action_separate": "separerad",
        "action_dismiss": "avfärdad", "action_merged_into": "sammanslagen med",
        "action_holdings_moved_away": "bestånd flyttat", "merged_into": "Sammanslagen med",
        "actor": "Vem",
        "webhooks": "Webhooks", "webhook_url": "Adress (https)", "add_webhook": "Lägg till webhook",
        "webhook_secret_once": "Spara signeringsnyckeln nu – den visas bara en gång:",
        "webhook_pending": "Väntar", "webhook_failed": "Misslyckade", "webhook_state": "Läge",
        "webhook_state_active": "aktiv", "webhook_state_failing": "fallerar", "remove": "Ta bort",
        "retry_failed": "Försök igen med misslyckade", "failing_webhooks": "Webhooks som fallerar",
        "webhooks_help": ("Bibliotekets system får en signerad POST när en leverans har läst in bestånd för "
                          "biblioteket (se docs/webhooks.md)."),
        "resolved": "Löst", "created_at": "Skapad", "yes_protected_warning": "Skyddad post",
        "sigel": "Sigel", "language_sv": "svenska", "language_en": "engelska",
        "attached_matched": "lagd på den äldsta kandidaten (oförändrad) i väntan på granskning",
        "attached_updated": "lagd på den äldsta kandidaten (som den ersatte) i väntan på granskning",
        "done_reload": "Inläsningen är klar – ladda om sidan för rapporten.",
        "notifications": "Aviseringar", "subject": "Ämne", "kind_delivery": "leverans",
        "kind_digest": "dagssammanställning", "page": "Sida", "alive": "vid liv",
        "stopping": "stoppas",
    },
    "en": {
        "app": "Förvärv Gateway", "console": "Staff console", "skip": "Skip to content",
        "nav": "Main menu", "overview": "Overview", "deliveries": "Deliveries", "search": "Search",
        "review": "Review", "registry": "Registry", "outbox": "Outbox", "sign_in": "Sign in",
        "sign_out": "Sign out", "language": "Language", "token": "Token",
        "token_help": "The admin token, a supplier's API token or a library's token.",
        "sign_in_failed": "Unknown or revoked token.", "signed_in_as": "Signed in as",
        "role_admin": "admin", "role_supplier": "supplier", "role_library": "library",
        "not_found": "Not found", "not_found_text": "There is nothing here that you have access to.",
        "forbidden": "Forbidden", "forbidden_text": "The form had no valid CSRF token. Reload the page and try again.",
        "bad_request": "Bad request", "today": "Today", "last_7_days": "Last 7 days",
        "supplier": "Supplier", "status": "Status", "count": "Count", "records": "Records",
        "created": "Created", "matched": "Matched", "updated": "Updated", "ambiguous": "Ambiguous",
        "rejected": "Rejected", "added": "Added", "deleted": "Deleted", "holdings": "Holdings",
        "open_review": "Open review items", "mail": "Mail", "pending": "pending",
        "sending": "sending", "failed": "failed", "skipped": "skipped", "sent": "sent",
        "spooled": "spooled (no SMTP server)",
        "held": "held for the digest", "digested": "in a digest",
        "oldest_waiting": "Oldest waiting delivery", "none": "None", "last_harvest": "Last harvest (OAI-PMH)",
        "library": "Library", "never": "never", "workers": "Workers",
        "status_received": "received", "status_processing": "loading", "status_done": "done",
        "status_failed": "failed", "received_at": "Received", "finished_at": "Finished",
        "filter": "Filter", "all": "All", "from": "From", "to": "To", "delivery": "Delivery",
        "progress": "Progress", "of": "of", "summary": "Summary", "per_record": "Record by record",
        "outcome": "Outcome", "position": "No.", "kind": "Kind", "title": "Title", "record": "Record",
        "problems": "Errors and warnings", "errors_warnings": "With errors or warnings",
        "download_payload": "Download the original file",
        "payload_removed": "The original file was removed {days} days after the delivery (retention).",
        "results_removed": "The per-record results were removed {days} days after the delivery "
                           "(retention); the summary is kept.",
        "download_report": "Download the report (JSON)",
        "next_page": "Next page", "previous_page": "Previous page", "no_rows": "No rows.",
        "refresh": "Refresh", "kind_bib": "bibliographic", "kind_holding": "holdings",
        "format": "Format", "size": "Size", "error": "Error", "warning": "Warning",
        "identifiers": "Identifiers", "provenance": "Provenance", "protect": "Protect",
        "unprotect": "Unprotect", "protected": "Protected", "not_protected": "Not protected",
        "encoding_level": "Encoding level", "oai_getrecord": "OAI-PMH GetRecord",
        "sru_search": "SRU search (rec.id)", "tombstone": "deleted (tombstone)", "tag": "Tag",
        "indicators": "Ind.", "subfields": "Subfields", "leader": "Leader", "marc": "MARC",
        "modified": "Modified", "words": "Words", "cql": "CQL (advanced)", "hits": "hits",
        "search_help": "Type words, or a CQL query in the advanced field.", "query_error": "The query could not be run",
        "candidates": "Candidates", "incoming": "Incoming record", "candidate": "Candidate",
        "reason": "Reason", "open_items": "Open items", "differs": "differs",
        "suppliers": "Suppliers", "libraries": "Libraries", "customers": "Customer links",
        "code": "Code", "name": "Name", "create": "Create", "save": "Save", "tokens": "Tokens",
        "new_token": "New token", "revoke": "Revoke", "revoked": "revoked", "active": "active",
        "token_once": "Keep this token now – it is shown only once:", "emails": "E-mail addresses",
        "emails_help": "One address per line.", "digest": "Daily digest", "registered": "Cataloguing",
        "yes": "yes", "no": "no", "link": "Link", "unlink": "Remove", "saved": "Saved.",
        "notification": "Notification", "recipients": "Recipients", "attempts": "Attempts",
        "preview": "Preview", "resend": "Resend", "resent": "Queued to be sent again.",
        "in_flight": "Being sent right now; try again in a moment.", "plain_part": "Plain-text part",
        "html_part": "HTML part", "headers": "Headers", "last_error": "Last error",
        "keep": "Keep on this one", "merge": "Merge into this one", "separate": "Separate (new record)",
        "actions": "Actions", "by": "by", "by_name": "Your name (optional)",
        "override_protected": "Merge protected records too",
        "actions_help": ("Keep: the holdings stay on (or move to) that candidate. Merge: the other candidates "
                         "are the same book and become this one. Separate: not a match – a new record is made "
                         "from the incoming one. Dismiss: close the item, nothing changes."),
        "dismiss": "Dismiss (no change)", "attached": "the holdings are here", "merged": "merged",
        "action_keep": "kept", "action_merge": "merged", "action_separate": "separated",
        "action_dismiss": "dismissed", "action_merged_into": "merged into",
        "action_holdings_moved_away": "holdings moved away", "merged_into": "Merged into",
        "actor": "Who",
        "webhooks": "Webhooks", "webhook_url": "URL (https)", "add_webhook": "Add webhook",
        "webhook_secret_once": "Keep the signing secret now – it is shown only once:",
        "webhook_pending": "Pending", "webhook_failed": "Failed", "webhook_state": "State",
        "webhook_state_active": "active", "webhook_state_failing": "failing", "remove": "Remove",
        "retry_failed": "Retry failed events", "failing_webhooks": "Failing webhooks",
        "webhooks_help": ("The library's system gets a signed POST when a delivery has loaded holdings for the "
                          "library (see docs/webhooks.md)."),
        "resolved": "Resolved", "created_at": "Created", "yes_protected_warning": "Protected record",
        "sigel": "Sigel", "language_sv": "Swedish", "language_en": "English",
        "attached_matched": "attached to the oldest candidate (left unchanged), pending review",
        "attached_updated": "attached to the oldest candidate (which it replaced), pending review",
        "done_reload": "Loading has finished – reload the page for the report.",
        "notifications": "Notifications", "subject": "Subject", "kind_delivery": "delivery",
        "kind_digest": "digest", "page": "Page", "alive": "alive", "stopping": "stopping",
    },
}


def _accepted(header: str) -> list[str]:
    """Languages of an Accept-Language header with q > 0, best first (stable for equal q)."""
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and tag.strip():
            ranked.append((-q, n, tag.strip().lower().split("-")[0]))
    return [tag for _, _, tag in sorted(ranked)]


def language(request: web.Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for tag in _accepted(request.headers.get("Accept-Language", "")):
        if tag in LANGUAGES:
            return tag
        if tag in ("nb", "nn", "no", "da"):  # Scandinavian readers read Swedish more easily than English
            return "sv"
    return DEFAULT


def catalog(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS[DEFAULT])
