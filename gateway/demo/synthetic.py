"""Realistic synthetic supplier deliveries: for the demo, the benchmarks and load tests.

Each record looks like what Swedish book suppliers send: a valid ISBN-13 (with hyphens and a
$q qualifier), author, title, RDA publication statement, extent, content/media/carrier types,
a handful of subject headings, a 599 note, encoding level 8 — and a holdings record with
placeholder leader and empty indicators for one of the given libraries. Deterministic per seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from xml.sax.saxutils import escape

NS = "http://www.loc.gov/MARC21/slim"

_FIRST = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Sara", "Nils", "Åsa", "Örjan",
          "Ingrid", "Björn", "Malin", "Sven", "Linnéa", "Göran"]
_LAST = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
         "Svensson", "Gustafsson", "Lindqvist", "Sjöberg", "Åberg", "Öhman", "Bergström", "Lindgren"]
_WORDS = ["skogen", "havet", "staden", "ljuset", "vintern", "resan", "hemligheten", "trädgården", "minnet",
          "fjällen", "kriget", "sommaren", "brevet", "huset", "floden", "natten", "Malmö", "Göteborg",
          "Norrland", "kärleken", "tiden", "rösten", "spegeln", "gränsen"]
_SUBJECTS = ["Skönlitteratur", "Historia", "Naturvetenskap", "Barn och ungdom", "Biografier", "Matlagning",
             "Resor", "Konst", "Musik", "Filosofi", "Psykologi", "Ekonomi", "Sverige", "Miljö", "Teknik"]
_PUBLISHERS = ["Bonnier", "Norstedts", "Natur & Kultur", "Albert Bonniers förlag", "Rabén & Sjögren",
               "Berghs", "Ordfront", "Atlas", "Gidlunds", "Carlsson"]


def isbn13(n: int, prefix: str = "97891") -> str:
    """A valid ISBN-13 (digits only) derived from a serial number."""
    body = f"{prefix}{n % 10**(12 - len(prefix)):0{12 - len(prefix)}d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def hyphenate(isbn: str) -> str:
    return f"{isbn[:3]}-{isbn[3:5]}-{isbn[5:9]}-{isbn[9:12]}-{isbn[12]}"


def _sf(code: str, value: str) -> str:
    return f'<subfield code="{code}">{escape(value)}</subfield>'


def _df(tag: str, ind1: str, ind2: str, *subs: str) -> str:
    return f'<datafield tag="{tag}" ind1="{ind1}" ind2="{ind2}">{"".join(subs)}</datafield>'


def record_pair(n: int, sigel: str, rng: random.Random, *, isbn_prefix: str = "97891") -> str:
    isbn = isbn13(n, isbn_prefix)
    author = f"{rng.choice(_LAST)}, {rng.choice(_FIRST)}"
    title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6))).capitalize()
    subtitle = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 8)))
    year = rng.randint(1990, 2026)
    subjects = rng.sample(_SUBJECTS, rng.randint(2, 6))
    fields = [
        "<leader>00000cam a22000008i 4500</leader>",
        f'<controlfield tag="001">S{n}</controlfield>',
        '<controlfield tag="003">BOKR</controlfield>',
        f'<controlfield tag="008">{year % 100:02d}0101s{year}    sw ||||j     |00| 0|swe d</controlfield>',
        _df("020", " ", " ", _sf("a", hyphenate(isbn)), _sf("q", rng.choice(["inbunden", "häftad"]))),
        _df("035", " ", " ", _sf("a", f"(BOKR){isbn}")),
        _df("040", " ", " ", _sf("a", "BOKR")),
        _df("041", " ", " ", _sf("a", "swe")),
        _df("100", "1", " ", _sf("a", author), _sf("4", "aut")),
        _df("245", "1", "0", _sf("a", title + " :"), _sf("b", subtitle + " /"), _sf("c", author)),
        _df("264", " ", "1", _sf("a", "Stockholm :"), _sf("b", rng.choice(_PUBLISHERS) + ","), _sf("c", str(year))),
        _df("300", " ", " ", _sf("a", f"{rng.randint(32, 900)} sidor :"), _sf("b", "illustrationer ;"),
            _sf("c", f"{rng.randint(18, 30)} cm")),
        _df("336", " ", " ", _sf("b", "txt"), _sf("2", "rdacontent")),
        _df("337", " ", " ", _sf("b", "n"), _sf("2", "rdamedia")),
        _df("338", " ", " ", _sf("b", "nc"), _sf("2", "rdacarrier")),
        _df("520", " ", " ", _sf("a", " ".join(rng.choice(_WORDS) for _ in range(rng.randint(10, 40))) + ".")),
        *(_df("650", " ", "7", _sf("a", s), _sf("2", "sao")) for s in subjects),
        _df("599", " ", " ", _sf("a", "Maskinellt genererad post. Ändra kod för fullständighetsnivå "
                                      "(leader/17), annars kommer manuellt gjorda ändringar att försvinna.")),
    ]
    if rng.random() < 0.5:
        fields.append(_df("700", "1", " ", _sf("a", f"{rng.choice(_LAST)}, {rng.choice(_FIRST)}"),
                          _sf("4", "ill")))
    bib = '<record type="Bibliographic">' + "".join(fields) + "</record>"
    hold = ('<record type="Holdings"><leader>XXXXXax  a22XXXXX1n 4500</leader>'
            '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
            f'<datafield tag="852" ind1="" ind2=""><subfield code="b">{escape(sigel)}</subfield></datafield>'
            "</record>")
    return bib + hold


def delivery_chunks(count: int, sigels: Sequence[str], *, seed: int = 1, start: int = 0,
                    isbn_prefix: str = "97891", per_chunk: int = 500) -> Iterator[bytes]:
    """A MARCXML collection of `count` bibliographic records, each with one holding, in pieces."""
    rng = random.Random(seed)
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{NS}">\n'.encode()
    buf: list[str] = []
    for i in range(count):
        buf.append(record_pair(start + i, sigels[i % len(sigels)], rng, isbn_prefix=isbn_prefix))
        if len(buf) >= per_chunk:
            yield "\n".join(buf).encode()
            buf = []
    if buf:
        yield "\n".join(buf).encode()
    yield b"\n</collection>\n"


def delivery(count: int, sigels: Sequence[str], **kwargs: object) -> bytes:
    return b"".join(delivery_chunks(count, sigels, **kwargs))  # type: ignore[arg-type]
