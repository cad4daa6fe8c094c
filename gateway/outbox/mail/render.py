"""A notification's snapshot → an e-mail (plain text with an HTML alternative).

Pure: no database, no network. Record data appears only in the body, one line per value
(see safe.py); in the HTML part everything is escaped. The subject is made of safe parts only:
the supplier code, the delivery id, the sigel and counts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.config import Settings
from gateway.outbox.mail import content as c
from gateway.outbox.mail import safe, texts, words
from gateway.outbox.mail.content import Content, DeliveryContent, Item
from gateway.outbox.mail.links import (
    oai_record_url,
    oai_set_since_url,
    oai_set_url,
    sru_library_url,
    sru_record_url,
)

try:
    LOCAL_TZ: timezone | ZoneInfo = ZoneInfo("Europe/Stockholm")
except ZoneInfoNotFoundError:  # pragma: no cover - a system without time zone data
    LOCAL_TZ = UTC

FROM_NAME = "Förvärv Gateway"


@dataclass(frozen=True, slots=True)
class MailContext:
    """What rendering needs from the settings."""

    public_url: str
    repository_id: str
    sender: str  # envelope sender and From address (addr-spec)
    sender_name: str
    domain: str  # right-hand side of Message-IDs

    @classmethod
    def from_settings(cls, settings: Settings) -> MailContext:
        name, addr = parseaddr(settings.smtp.sender)
        sender = safe.address(addr)
        if sender is None:
            raise ValueError(f"the SMTP sender address {settings.smtp.sender!r} is not a plain address")
        return cls(
            public_url=settings.public_url.rstrip("/"),
            repository_id=settings.repository_id,
            sender=sender,
            sender_name=safe.header_text(name, 80) or FROM_NAME,
            domain=safe.domain(settings.repository_id, safe.domain(sender.rpartition("@")[2])),
        )


@dataclass(frozen=True, slots=True)
class Library:
    sigel: str
    name: str
    language: str
    emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notification row as the sender claimed it."""

    id: int
    kind: str  # delivery | digest
    date: datetime               # the Date header: when it was written; for a resend, now
    resends: int
    content: Content
    library: Library


@dataclass(frozen=True, slots=True)
class Rendered:
    message: EmailMessage
    recipients: list[str]
    bad_addresses: list[str]


# --- identifiers and links ---------------------------------------------------------------------
def message_id(n: Outgoing, ctx: MailContext, resend: int | None = None) -> str:
    """Stable per (delivery, library), or per digest: every retry carries the same one.

    A manual resend of something already attempted gets its own (`.rN`), with the original in
    References, so that a receiving system that drops duplicate Message-IDs does not drop it.
    """
    sigel = safe.id_part(n.library.sigel)
    if n.kind == "delivery":
        left = f"forvarv.delivery-{n.content['deliveries'][0]['id']}.{sigel}"
    else:
        left = f"forvarv.digest-{n.id}.{sigel}"
    r = n.resends if resend is None else resend
    if r:
        left += f".r{r}"
    return f"<{left}@{ctx.domain}>"


def local_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return safe.one_line(iso, 40)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M %Z")


# --- the message -------------------------------------------------------------------------------
def render(n: Outgoing, ctx: MailContext) -> Rendered:
    t = texts.catalog(n.library.language)
    deliveries = n.content["deliveries"]
    summary = texts.count_summary(t, c.total_counts(deliveries))
    sigel = safe.header_text(n.library.sigel, 32)
    if n.kind == "delivery":
        d = deliveries[0]
        subject = t["subject_nothing" if words.nothing_loaded(deliveries) else "subject_delivery"].format(
            delivery=int(d["id"]),
            supplier=safe.supplier_code(d["supplier_code"]),
            sigel=sigel,
            summary=summary,
        )
    else:
        subject = t["subject_digest"].format(
            day=_digest_day(deliveries).isoformat(),
            sigel=sigel,
            deliveries=texts.plural(t, "delivery", len(deliveries)),
            summary=summary,
        )

    recipients: list[str] = []
    bad: list[str] = []
    for raw in n.library.emails:
        addr = safe.address(raw)
        if addr is None:
            bad.append(safe.one_line(raw, 80))
        elif addr not in recipients:
            recipients.append(addr)

    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = safe.header_text(subject, 200)
    msg["From"] = Address(display_name=ctx.sender_name, addr_spec=ctx.sender)
    if recipients:
        msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(n.date.astimezone(UTC))
    msg["Message-ID"] = message_id(n, ctx)
    if n.resends:
        msg["References"] = message_id(n, ctx, resend=0)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Forvarv-Notification"] = str(int(n.id))
    if n.kind == "delivery":
        msg["X-Forvarv-Delivery"] = str(int(deliveries[0]["id"]))
    msg.set_content(plain_text(n, ctx), cte="quoted-printable")
    msg.add_alternative(html_text(n, ctx), subtype="html", cte="quoted-printable")
    # After the body: set_content/add_alternative move or drop Content-* headers.
    msg["Content-Language"] = n.library.language if n.library.language in texts.LANGUAGES else "sv"
    return Rendered(msg, recipients, bad)


def _digest_day(deliveries: list[DeliveryContent]) -> date:
    if not deliveries:
        return date.today()
    last = max(d["finished_at"] for d in deliveries)
    try:
        return datetime.fromisoformat(last).astimezone(LOCAL_TZ).date()
    except ValueError:
        return date.today()


def _intro(n: Outgoing, t: dict[str, str]) -> list[str]:
    """The opening paragraph; when every title was rejected it says that nothing was loaded, and why."""
    sigel = safe.one_line(n.library.sigel, 32)
    deliveries = n.content["deliveries"]
    nothing = words.nothing_loaded(deliveries)
    if n.kind == "delivery":
        key = "intro_nothing" if nothing else "intro_delivery"
        intro = t[key].format(sigel=sigel, supplier=_supplier(deliveries[0]))
    else:
        intro = t["intro_digest"].format(sigel=sigel, deliveries=texts.plural(t, "delivery", len(deliveries)))
        if nothing:
            intro += " " + t["intro_digest_nothing"]
    if not nothing:
        return [intro]
    why = words.why(deliveries, n.library.language, n.library.sigel)
    return [intro, f"{t['why']}: {why}" if why else t["reason_unknown"]]


def _outcome(t: dict[str, str], item: Item, n: Outgoing, d: DeliveryContent) -> str:
    return words.outcome(t, item, n.library.language, n.library.sigel, safe.supplier_code(d["supplier_code"]))


def _supplier(d: DeliveryContent) -> str:
    code = safe.supplier_code(d["supplier_code"])
    name = safe.one_line(d["supplier_name"], 120)
    return f"{name} ({code})" if name and name != code else code


# --- plain text --------------------------------------------------------------------------------
def plain_text(n: Outgoing, ctx: MailContext) -> str:
    t = texts.catalog(n.library.language)
    lines = [t["greeting"].format(name=safe.one_line(n.library.name, 120)), ""]
    for paragraph in _intro(n, t):
        lines += [paragraph, ""]
    width = max(len(t[k]) for k in ("supplier", "delivery", "received", "finished", "titles")) + 2
    record_ids: list[int] = []
    for d in n.content["deliveries"]:
        lines += [
            f"{t['supplier'] + ':':<{width}}{_supplier(d)}",
            f"{t['delivery'] + ':':<{width}}{int(d['id'])}",
            f"{t['received'] + ':':<{width}}{local_time(d['received_at'])}",
            f"{t['finished'] + ':':<{width}}{local_time(d['finished_at'])}",
            f"{t['titles'] + ':':<{width}}{texts.count_detail(t, c.delivery_counts(d))}",
            "",
        ]
        iw = max(len(t[k]) for k in ("author", "isbn", "issn", "record_id", "outcome", "candidate", "oai",
                                     "sru")) + 2
        for number, item in enumerate(d["items"], 1):
            title = safe.isolate(safe.one_line(item["title"])) or t["no_title"]
            lines.append(f"{number}. {title}")
            pad = " " * (len(str(number)) + 2)

            fields = [
                (t["author"], safe.isolate(safe.one_line(item["author"], 200))),
                (t["isbn"], safe.one_line(item["isbn"], 40)),
                (t["issn"], "" if item["isbn"] else safe.one_line(item["issn"], 40)),
                (t["record_id"], "" if item["record_id"] is None else str(int(item["record_id"]))),
                (t["outcome"], _outcome(t, item, n, d)),
            ]
            fields += [(t["candidate"], f"{rid} {safe.isolate(title)}".rstrip())
                       for rid, title in words.candidates(item)]
            fields.append(("", words.more_candidates(t, item)))
            if item["record_id"] is not None and item["outcome"] not in (c.CANCELLED, c.REJECTED):
                record_ids.append(int(item["record_id"]))
                fields.append((t["oai"], oai_record_url(ctx, int(item["record_id"]))))
                fields.append((t["sru"], sru_record_url(ctx, int(item["record_id"]))))
            lines += [f"{pad}{label + ':' if label else '':<{iw}}{value}" for label, value in fields if value]
            lines.append("")
        if c.omitted(d):
            lines += [
                texts.more_titles(t, c.omitted(d), c.MAX_TITLES),
                t["full_list"].format(sigel=safe.one_line(n.library.sigel, 32)),
                f"  {oai_set_since_url(ctx, n.library.sigel, d['received_at'])}",
                f"  {sru_library_url(ctx, n.library.sigel)}",
                "",
            ]
    sigel = n.library.sigel
    example = record_ids[0] if record_ids else 100001
    if not words.nothing_loaded(n.content["deliveries"]):  # else there is nothing to fetch
        lines += [
            t["how_heading"],
            "",
            f"- {t['how_oai_record']}",
            f"  {oai_record_url(ctx, example)}",
            f"- {t['how_sru_record']}",
            f"  {sru_record_url(ctx, example)}",
            f"- {t['how_oai_set'].format(sigel=safe.one_line(sigel, 32))}",
            f"  {oai_set_url(ctx, sigel)}",
            f"- {t['how_sru_library']}",
            f"  {sru_library_url(ctx, sigel)}",
            "",
        ]
    lines += [
        t["time_zone_note"],
        "",
        "-- ",
        t["footer"].format(public_url=ctx.public_url),
        "",
    ]
    return "\n".join(lines)


# --- HTML --------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _link(url: str) -> str:
    return f'<a href="{_e(url)}">{_e(url)}</a>'


def _candidates_html(t: dict[str, str], item: Item) -> str:
    found = words.candidates(item)
    if not found:
        return ""
    lines = "".join(f"<li>{_e(t['candidate'])} {rid} <bdi>{_e(title)}</bdi></li>" for rid, title in found)
    more = words.more_candidates(t, item)
    return f"<ul>{lines}{f'<li>{_e(more)}</li>' if more else ''}</ul>"


def html_text(n: Outgoing, ctx: MailContext) -> str:
    t = texts.catalog(n.library.language)
    lang = n.library.language if n.library.language in texts.LANGUAGES else "sv"
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8"><title>Förvärv Gateway</title></head>',
        '<body style="font-family: sans-serif">',
        f"<p>{_e(t['greeting'].format(name=safe.one_line(n.library.name, 120)))}</p>",
        *(f"<p>{_e(paragraph)}</p>" for paragraph in _intro(n, t)),
    ]
    record_ids: list[int] = []
    for d in n.content["deliveries"]:
        out += [
            "<table>",
            f'<tr><th align="left">{_e(t["supplier"])}</th><td>{_e(_supplier(d))}</td></tr>',
            f'<tr><th align="left">{_e(t["delivery"])}</th><td>{int(d["id"])}</td></tr>',
            f'<tr><th align="left">{_e(t["received"])}</th><td>{_e(local_time(d["received_at"]))}</td></tr>',
            f'<tr><th align="left">{_e(t["finished"])}</th><td>{_e(local_time(d["finished_at"]))}</td></tr>',
            f'<tr><th align="left">{_e(t["titles"])}</th>'
            f"<td>{_e(texts.count_detail(t, c.delivery_counts(d)))}</td></tr>",
            "</table>",
            '<table border="1" cellpadding="4" style="border-collapse: collapse">',
            "<thead><tr>"
            + "".join(
                f"<th>{_e(t[k])}</th>"
                for k in ("title", "author", "isbn", "record_id", "outcome", "oai", "sru")
            )
            + "</tr></thead><tbody>",
        ]
        for item in d["items"]:
            rid = item["record_id"]
            ident = safe.one_line(item["isbn"] or item["issn"], 40)
            links = ["", ""]
            if rid is not None and item["outcome"] not in (c.CANCELLED, c.REJECTED):
                record_ids.append(int(rid))
                links = [
                    f'<a href="{_e(oai_record_url(ctx, int(rid)))}">GetRecord</a>',
                    f'<a href="{_e(sru_record_url(ctx, int(rid)))}">searchRetrieve</a>',
                ]
            title = safe.one_line(item["title"]) or t["no_title"]
            out.append(
                "<tr>"
                f"<td><bdi>{_e(title)}</bdi></td>"
                f"<td><bdi>{_e(safe.one_line(item['author'], 200))}</bdi></td>"
                f"<td>{_e(ident)}</td>"
                f"<td>{'' if rid is None else int(rid)}</td>"
                f"<td>{_e(_outcome(t, item, n, d))}{_candidates_html(t, item)}</td>"
                f"<td>{links[0]}</td><td>{links[1]}</td>"
                "</tr>"
            )
        out.append("</tbody></table>")
        if c.omitted(d):
            out += [
                f"<p>{_e(texts.more_titles(t, c.omitted(d), c.MAX_TITLES))}<br>",
                f"{_e(t['full_list'].format(sigel=safe.one_line(n.library.sigel, 32)))}<br>",
                f"{_link(oai_set_since_url(ctx, n.library.sigel, d['received_at']))}<br>",
                f"{_link(sru_library_url(ctx, n.library.sigel))}</p>",
            ]
    sigel = n.library.sigel
    example = record_ids[0] if record_ids else 100001
    if not words.nothing_loaded(n.content["deliveries"]):  # else there is nothing to fetch
        out += [
            f"<h3>{_e(t['how_heading'])}</h3>",
            "<ul>",
            f"<li>{_e(t['how_oai_record'])}<br>{_link(oai_record_url(ctx, example))}</li>",
            f"<li>{_e(t['how_sru_record'])}<br>{_link(sru_record_url(ctx, example))}</li>",
            f"<li>{_e(t['how_oai_set'].format(sigel=safe.one_line(sigel, 32)))}<br>"
            f"{_link(oai_set_url(ctx, sigel))}</li>",
            f"<li>{_e(t['how_sru_library'])}<br>{_link(sru_library_url(ctx, sigel))}</li>",
            "</ul>",
        ]
    out += [
        f"<p>{_e(t['time_zone_note'])}</p>",
        f"<p><small>{_e(t['footer'].format(public_url=ctx.public_url))}</small></p>",
        "</body></html>",
        "",
    ]
    return "\n".join(out)
