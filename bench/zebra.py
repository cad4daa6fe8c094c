"""Index Data's Zebra (Debian package idzebra-2.0: zebraidx, zebrasrv) on the same records, as the
peer bench/sru.py measures the gateway against.

Everything lives in a temporary folder the caller owns; the server listens on loopback only.
The index holds what the gateway's search index holds, in Zebra's terms (DOM filter, an XSLT of
our own written below): title, creators, subjects, publisher and the other content words in
``any`` (cql.serverChoice), ISBNs in ``isbn`` (bath.isbn, the 13 digits as stored), and the
MARCXML as it was given, returned for recordSchema=marcxml.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

MARC_NS = "http://www.loc.gov/MARC21/slim"

_ZEBRA_CFG = """\
profilePath: /usr/share/idzebra-2.0/tab:{dir}
modulePath: /usr/lib/x86_64-linux-gnu/idzebra-2.0/modules
attset: bib1.att
recordType: dom.{dir}/dom.xml
register: {dir}/register:500M
shadow: {dir}/shadow:500M
keyTmpDir: {dir}/tmp
lockDir: {dir}/lock
setTmpDir: {dir}/tmp
memMax: 64
"""

_DOM = """\
<?xml version="1.0" encoding="UTF-8"?>
<dom xmlns="http://indexdata.com/zebra-2.0">
  <input><xmlreader level="1"/></input>
  <extract><xslt stylesheet="{dir}/index.xsl"/></extract>
  <retrieve name="marcxml" identifier="info:srw/schema/1/marcxml-v1.1">
    <xslt stylesheet="{dir}/same.xsl"/>
  </retrieve>
</dom>
"""

# Which subfields feed which index: the fields protocols.marc.summary reads.
_INDEX_XSL = """\
<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:m="http://www.loc.gov/MARC21/slim" xmlns:z="http://indexdata.com/zebra-2.0">
  <xsl:output method="xml" encoding="UTF-8"/>
  <xsl:template match="text()"/>
  <xsl:template match="/m:record">
    <z:record z:id="{normalize-space(m:controlfield[@tag='001'])}" type="update">
      <xsl:for-each select="m:datafield[@tag='245']/m:subfield[@code='a' or @code='b' or @code='n' or @code='p']">
        <z:index name="title:w any:w"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='100' or @tag='110' or @tag='111' or @tag='700' or @tag='710'
                                        or @tag='711']/m:subfield[@code='a' or @code='b' or @code='c'
                                        or @code='d' or @code='q' or @code='n']">
        <z:index name="creator:w any:w"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[starts-with(@tag, '6')]/m:subfield[@code != '2']">
        <z:index name="subject:w any:w"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='260' or @tag='264']/m:subfield[@code='b' or @code='c']
                            | m:datafield[@tag='250' or @tag='300']/m:subfield[@code='a']">
        <z:index name="any:w"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='020']/m:subfield[@code='a']">
        <z:index name="isbn:w any:w"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
    </z:record>
  </xsl:template>
</xsl:stylesheet>
"""

_SAME_XSL = """\
<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" encoding="UTF-8" omit-xml-declaration="yes"/>
  <xsl:template match="/"><xsl:copy-of select="."/></xsl:template>
</xsl:stylesheet>
"""

# CQL to Zebra's query attributes: = is a phrase (as in the gateway), all/any word lists.
_CQL2PQF = """\
set.cql = info:srw/cql-context-set/1/cql-v1.2
set.dc = info:srw/cql-context-set/1/dc-v1.1
set.bath = http://zing.z3950.org/cql/bath/2.0/
index.cql.serverChoice = 1=any
index.dc.title = 1=title
index.dc.creator = 1=creator
index.dc.subject = 1=subject
index.bath.isbn = 1=isbn
relation.eq = 2=3
relation.scr = 2=3
relation.all = 2=3 4=6
relation.any = 2=3 4=105
relation.adj = 2=3 4=1
structure.* = 4=1
position.any = 3=3 6=1
truncation.right = 5=1
truncation.none = 5=100
always = 6=1
"""

_YAZ_SERVER = """\
<?xml version="1.0" encoding="UTF-8"?>
<yazgfs>
  <listen id="loopback">tcp:127.0.0.1:{port}</listen>
  <server id="zebra" listenref="loopback">
    <config>{dir}/zebra.cfg</config>
    <cql2rpn>{dir}/cql2pqf.txt</cql2rpn>
  </server>
</yazgfs>
"""


def available() -> bool:
    return shutil.which("zebraidx") is not None and shutil.which("zebrasrv") is not None


def configure(folder: Path, port: int) -> None:
    """Write Zebra's configuration into ``folder``."""
    for sub in ("register", "shadow", "tmp", "lock"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    files = {"zebra.cfg": _ZEBRA_CFG, "dom.xml": _DOM, "index.xsl": _INDEX_XSL, "same.xsl": _SAME_XSL,
             "cql2pqf.txt": _CQL2PQF, "yazserver.xml": _YAZ_SERVER}
    for name, template in files.items():
        (folder / name).write_text(template.replace("{dir}", str(folder)).replace("{port}", str(port)),
                                   encoding="utf-8")


def index(folder: Path, marcxml_records: Iterable[str]) -> float:
    """Index the records (MARCXML record elements) with zebraidx; the seconds it took."""
    collection = folder / "records.xml"
    with collection.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{MARC_NS}">\n')
        for record in marcxml_records:
            out.write(record)
            out.write("\n")
        out.write("</collection>\n")
    started = time.perf_counter()
    cfg = str(folder / "zebra.cfg")
    for args in (["init"], ["update", str(collection)], ["commit"]):
        subprocess.run(["zebraidx", "-c", cfg, "-l", str(folder / "zebraidx.log"), *args], check=True,
                       cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def start(folder: Path, port: int, *, threaded: bool = True) -> subprocess.Popen[bytes]:
    """zebrasrv on loopback (``-T``: one thread per connection, so it can use every core)."""
    args = ["zebrasrv", "-f", str(folder / "yazserver.xml"), "-l", str(folder / "zebrasrv.log")]
    if threaded:
        args.insert(1, "-T")
    process = subprocess.Popen(args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"zebrasrv did not start; see {folder / 'zebrasrv.log'}")
