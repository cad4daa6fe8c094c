"""deploy/nginx/forvarv.conf run by Debian's nginx in front of a web role, on free ports with a
certificate from a test CA (trustme): the file itself, with only its ports, certificate paths and
upstream address replaced."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.ports import free_port

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "forvarv.conf"


@dataclass(frozen=True)
class Proxy:
    http_port: int
    https_port: int
    ca: trustme.CA
    access_log: Path


def site_config(upstream_port: int, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    text = CONF.read_text()
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)   # no IPv6 in every sandbox
    replacements = [
        (r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
        (r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};"),
    ]
    for pattern, new in replacements:
        text, n = re.subn(pattern, new, text)
        assert n == 1, f"{pattern} is not once in {CONF}"
    return text


@contextmanager
def proxy(upstream_port: int, tmp: Path) -> Iterator[Proxy]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o755)
    ca = trustme.CA()
    leaf = ca.issue_cert("forvarv.example.org", "127.0.0.1")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for pem in leaf.cert_chain_pems[1:]:
        pem.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    http_port, https_port = free_port(), free_port()
    (tmp / "site.conf").write_text(site_config(upstream_port, http_port, https_port, cert, key))
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                           "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log {tmp / "access.log"};
{temp}
    include {tmp / "site.conf"};
}}
""")
    check = subprocess.run([nginx, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (tmp / "nginx.pid").exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield Proxy(http_port, https_port, ca, tmp / "access.log")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
