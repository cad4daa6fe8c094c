"""The renderer alone: any record data, however hostile, yields a well-formed message whose
headers carry none of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import Settings, SmtpSettings
from gateway.outbox.mail import safe
from gateway.outbox.mail.content import Content
from gateway.outbox.mail.render import Library, MailContext, Outgoing, message_id, render

CTX = MailContext.from_settings(
    Settings(
        public_url="https://gw.example",
        repository_id="gw.example",
        smtp=SmtpSettings(sender="Förvärv <forvarv@gw.example>"),
    )
)
TEXT = st.text(st.characters(codec="utf-8"), max_size=400)  # any text but lone surrogates


def outgoing(title: str, author: str, supplier_name: str, library_name: str, sigel: str = "Sods") -> Outgoing:
    content: Content = {
        "deliveries": [
            {
                "id": 17,
                "supplier_code": "BTJ\r\nBcc: x@y",
                "supplier_name": supplier_name,
                "received_at": "2025-06-01T10:00:00+00:00",
                "finished_at": "2025-06-01T10:00:02+00:00",
                "items": [
                    {
                        "position": 1,
                        "outcome": o,
                        "title": title,
                        "author": author,
                        "isbn": "9789129688313",
                        "issn": "",
                        "record_id": 100001,
                        "reasons": [{"code": "X", "message": title}],
                    }
                    for o in ("created", "rejected")
                ],
            }
        ]
    }
    return Outgoing(
        id=5,
        kind="delivery",
        date=datetime(2025, 6, 1, 10, 0, 2, tzinfo=UTC),
        resends=0,
        content=content,
        library=Library(sigel, library_name, "sv", ("a@lib.example",)),
    )


@settings(max_examples=150, deadline=None)
@given(title=TEXT, author=TEXT, supplier_name=TEXT, library_name=TEXT)
def test_any_record_data_stays_out_of_the_headers(
    title: str, author: str, supplier_name: str, library_name: str
) -> None:
    rendered = render(outgoing(title, author, supplier_name, library_name), CTX)
    data = rendered.message.as_bytes()
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are pure ASCII
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if line and not line[0].isspace()]
    assert names == [
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "X-Forvarv-Notification",
        "X-Forvarv-Delivery",
        "MIME-Version",
        "Content-Type",
        "Content-Language",
    ]
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    parsed = message_from_bytes(data, policy=default)
    assert parsed["Subject"] == "Förvärv: leverans 17 från BTJBccxy till Sods – 2 titlar: 1 ny, 1 avvisad"
    assert parsed["To"] == "a@lib.example"
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    line = safe.one_line(title)
    assert f"\n1. {safe.isolate(line) if line else '(titel saknas)'}\n" in text.replace("\r\n", "\n")


def test_message_ids_are_stable_and_safe() -> None:
    n = outgoing("t", "a", "s", "l", sigel='Fjärr<>@"x')
    first = message_id(n, CTX)
    assert first == message_id(n, CTX)
    assert first == "<forvarv.delivery-17.Fj%C3%A4rr%3C%3E%40%22x@gw.example>"
    assert message_id(n, CTX, resend=2) == "<forvarv.delivery-17.Fj%C3%A4rr%3C%3E%40%22x.r2@gw.example>"


def test_addresses() -> None:
    assert safe.address("a.b+c@Bibliotek.example") == "a.b+c@Bibliotek.example"
    assert safe.address("kontakt@bibliotek.sverige.example") == "kontakt@bibliotek.sverige.example"
    assert safe.address("x@bibliotekét.example") == "x@xn--bibliotekt-j7a.example"
    for bad in (
        "a@b\r\nBcc: c@d",
        "Name <a@b.example>",
        "a,b@c.example",
        "åsa@lib.example",
        "a..b@c.example",
        "@c.example",
        "a@",
        "a@b@c",
        "",
    ):
        assert safe.address(bad) is None, bad


def test_one_line() -> None:
    assert safe.one_line("a\r\nb\tc\u2028d\x00e\u202ef") == "a b c d ef"
    assert safe.one_line("x" * 500, 10) == "xxxxxxxxx…"
    assert safe.isolate("שלום") == "\u2068שלום\u2069"
    assert safe.isolate("Pippi") == "Pippi"


def test_a_large_remainder_is_counted_in_each_language() -> None:
    """A snapshot of a huge delivery: two titles listed, 15,812 more counted (counts are exact)."""
    base = outgoing("Pippi", "Lindgren, Astrid", "BTJ Sverige AB", "Bibliotek")
    d = base.content["deliveries"][0]
    d["counts"] = {"created": 15_000, "matched": 0, "holdings_updated": 0, "cancelled": 0, "rejected": 814}
    d["omitted"] = 15_812
    expected = {
        "sv": (
            "15814 titlar: 15000 nya, 814 avvisade",
            "… och 15\u00a0812 titlar till, som inte listas här (ett meddelande listar högst 200 titlar).",
        ),
        "en": (
            "15814 titles: 15000 new, 814 rejected",
            "… and 15,812 more titles, not listed here (a message lists at most 200 titles).",
        ),
    }
    for language, (summary, more) in expected.items():
        n = replace(base, library=Library("Sods", "Bibliotek", language, ("a@lib.example",)))
        msg = message_from_bytes(render(n, CTX).message.as_bytes(), policy=default)
        assert msg["Subject"].endswith(summary)
        for part in ("plain", "html"):
            body = msg.get_body((part,))
            assert body is not None
            text = body.get_content()
            assert more in text
            assert "set=bib:Sods&amp;from=2025-06-01" in text or "set=bib:Sods&from=2025-06-01" in text


def test_a_digest_in_which_nothing_loaded_says_so_in_both_languages() -> None:
    def delivery(did: int) -> dict[str, object]:
        return {"id": did, "supplier_code": "DEMO", "supplier_name": "Demo", "received_at": "2025-06-01T10:00:00+00:00",
                "finished_at": f"2025-06-01T1{did}:00:00+00:00",
                "items": [{"position": 1, "outcome": "rejected", "title": "Bok", "author": "", "isbn": "", "issn": "",
                           "record_id": None, "reasons": [{"code": "HOLDING_NOT_CUSTOMER", "message": "852 $b …"}]}]}

    content: Content = {"deliveries": [delivery(1), delivery(2)]}  # type: ignore[list-item]
    for lang, nothing, why, how in (
            ("sv", "Inget av ert bestånd i dem kunde läsas in", "Orsak: Hig är inte registrerat som kund hos "
             "leverantören DEMO", "Så hämtar ni posterna"),
            ("en", "None of your holdings in them could be loaded", "Why: Hig is not registered as a customer of "
             "supplier DEMO", "How to fetch the records")):
        n = Outgoing(id=9, kind="digest", date=datetime(2025, 6, 1, 18, tzinfo=UTC), resends=0, content=content,
                     library=Library("Hig", "Högskolan i Gävle", lang, ("a@hig.example",)))
        msg = render(n, CTX).message
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert nothing in text and why in text and how not in text
        assert text.count("(HOLDING_NOT_CUSTOMER)") == 3  # the reason once in the opening, once per title
