"""Settings, read once at the edge (environment `FORVARV_*` and CLI flags), then passed down.

Nothing below the CLI and the app factory reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import platformdirs

DEFAULT_MAX_BODY = 200 * 1024 * 1024
SENDER_LOCAL_PART = "forvarv-gateway"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("forvarv-gateway", appauthor=False))


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str | None = None
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = f"{SENDER_LOCAL_PART}@localhost"   # from_env: see default_sender
    timeout: float = 30.0
    ca_file: str | None = None               # PEM CA certificate(s) trusted besides the system's


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None          # None: the embedded PostgreSQL in data_dir
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    admin_token: str | None = None
    repository_id: str = "forvarv.example.org"   # OAI repositoryIdentifier
    admin_email: str = "admin@forvarv.example.org"
    org_code: str = "FORVARV"                # 003 of records the gateway creates
    secret: str = ""                         # HMAC key for resumption tokens
    max_body: int = DEFAULT_MAX_BODY
    workers: int = 1                         # delivery workers in this process
    batch_size: int = 500                    # records per loader transaction
    parse_process: bool = True               # prepare large deliveries in a second process
    oai_page_size: int = 500
    sftp_port: int | None = None             # None: no SFTP server; 0: any free port (tests)
    sftp_host: str | None = None             # None: the HTTP listen address
    webhook_allow_private: bool = False      # webhooks to loopback/private/link-local addresses
    sru_max_records: int = 100
    sru_timeout_ms: int = 5000
    sru_cache_mb: int = 64                   # SRU result cache (gateway/search/cache.py); 0: none
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    # operations (gateway/ops): see docs/operations.md
    stop_timeout: float = 20.0               # after SIGTERM: what is in flight gets this long
    heartbeat_seconds: float = 5.0           # a process's beat; it counts as gone after 6 missed
    log_format: str = "text"                 # or "json": one JSON object per line
    metrics_token: str | None = None         # bearer for /metrics; None: private addresses only
    # read replicas (gateway/store/replicas.py): see docs/operations.md
    read_database_urls: tuple[str, ...] = ()  # streaming replicas for OAI-PMH, SRU, console reads
    read_max_lag: float = 30.0               # seconds a replica may lag before it is left out
    # retention (gateway/intake/retention.py, `forvarv prune`): days; 0 keeps forever
    retain_payload_days: int = 0
    retain_results_days: int = 0
    # the event loop (gateway/ops/loop.py): "uvloop" (when installed) or "asyncio"
    event_loop: str = "uvloop"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def default_sender(public_url: str | None) -> str:
    """forvarv-gateway@ the host of the public URL (a name, not an IP address), else @localhost.

    Mail from @localhost is refused or filed as spam by most receiving systems; the host the
    gateway is reached at is the best guess of its domain until FORVARV_SMTP_FROM says otherwise.
    """
    try:
        host = (urlsplit(public_url or "").hostname or "").rstrip(".")
    except ValueError:
        host = ""
    try:
        ipaddress.ip_address(host)
        host = ""
    except ValueError:
        pass
    if host:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            host = ""
    if not _HOST_NAME.match(host) or len(host) > 253:
        host = "localhost"
    return f"{SENDER_LOCAL_PART}@{host}"


class ConfigError(ValueError):
    """A FORVARV_* value that cannot be used; the message names the variable (one line for the user)."""


N = TypeVar("N", int, float)
D = TypeVar("D", int, float, None)


def _number(kind: type[N], name: str, value: str, default: D) -> N | D:
    if not value.strip():
        return default
    try:
        return kind(value.strip())
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not {'a whole number' if kind is int else 'a number'}") from None


def event_loop(value: str) -> str:
    """FORVARV_EVENT_LOOP: uvloop (the default; asyncio's loop where uvloop is not installed) or asyncio."""
    kind = value.strip().lower() or "uvloop"
    if kind not in ("uvloop", "asyncio"):
        raise ConfigError(f"FORVARV_EVENT_LOOP={value!r}: use uvloop or asyncio")
    return kind


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from FORVARV_* variables; unset ones keep their defaults."""
    e = os.environ if env is None else env
    s = Settings()
    get = e.get

    def num(kind: type[N], name: str, default: D) -> N | D:
        return _number(kind, name, get(name, ""), default)

    smtp = SmtpSettings(
        host=get("FORVARV_SMTP_HOST") or None,
        port=num(int, "FORVARV_SMTP_PORT", 0) or (465 if _bool(get("FORVARV_SMTP_SSL", "")) else 25),
        starttls=_bool(get("FORVARV_SMTP_STARTTLS", "")),
        ssl=_bool(get("FORVARV_SMTP_SSL", "")),
        username=get("FORVARV_SMTP_USER") or None,
        password=get("FORVARV_SMTP_PASSWORD") or None,
        sender=get("FORVARV_SMTP_FROM") or default_sender(get("FORVARV_PUBLIC_URL")),
        ca_file=get("FORVARV_SMTP_CA_FILE") or None,
    )
    port = num(int, "FORVARV_PORT", s.port)
    host = get("FORVARV_HOST", s.host)
    return replace(
        s,
        database_url=get("FORVARV_DATABASE_URL") or None,
        data_dir=Path(get("FORVARV_DATA_DIR") or s.data_dir),
        host=host,
        port=port,
        public_url=(get("FORVARV_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
        admin_token=get("FORVARV_ADMIN_TOKEN") or None,
        repository_id=get("FORVARV_REPOSITORY_ID", s.repository_id),
        admin_email=get("FORVARV_ADMIN_EMAIL", s.admin_email),
        org_code=get("FORVARV_ORG_CODE", s.org_code),
        secret=get("FORVARV_SECRET", ""),
        max_body=num(int, "FORVARV_MAX_BODY", s.max_body),
        workers=num(int, "FORVARV_WORKERS", s.workers),
        batch_size=num(int, "FORVARV_BATCH_SIZE", s.batch_size),
        parse_process=_bool(get("FORVARV_PARSE_PROCESS", "1")),
        oai_page_size=num(int, "FORVARV_OAI_PAGE_SIZE", s.oai_page_size),
        sftp_port=num(int, "FORVARV_SFTP_PORT", None),
        sftp_host=get("FORVARV_SFTP_HOST") or None,
        webhook_allow_private=_bool(get("FORVARV_WEBHOOK_ALLOW_PRIVATE", "")),
        sru_max_records=num(int, "FORVARV_SRU_MAX_RECORDS", s.sru_max_records),
        sru_timeout_ms=num(int, "FORVARV_SRU_TIMEOUT_MS", s.sru_timeout_ms),
        sru_cache_mb=num(int, "FORVARV_SRU_CACHE_MB", s.sru_cache_mb),
        smtp=smtp,
        stop_timeout=num(float, "FORVARV_STOP_TIMEOUT", s.stop_timeout),
        heartbeat_seconds=num(float, "FORVARV_HEARTBEAT_SECONDS", s.heartbeat_seconds),
        log_format="json" if get("FORVARV_LOG_FORMAT", "").strip().lower() == "json" else "text",
        metrics_token=get("FORVARV_METRICS_TOKEN") or None,
        read_database_urls=read_urls(get("FORVARV_READ_DATABASE_URL", "")),
        read_max_lag=num(float, "FORVARV_READ_MAX_LAG", s.read_max_lag),
        event_loop=event_loop(get("FORVARV_EVENT_LOOP", s.event_loop)),
        retain_payload_days=num(int, "FORVARV_RETAIN_PAYLOAD_DAYS", 0),
        retain_results_days=num(int, "FORVARV_RETAIN_RESULTS_DAYS", 0),
    )


#: Between two replica URLs: white space, or a comma before the next URL's scheme (a comma inside
#: a URL, as in PostgreSQL's multi-host postgresql://a,b/db, is part of it).
_URL_SEPARATOR = re.compile(r"\s+|,\s*(?=postgres(?:ql)?://)")


def read_urls(value: str) -> tuple[str, ...]:
    """FORVARV_READ_DATABASE_URL: one or several URLs, separated by white space or commas."""
    return tuple(url.strip(",") for url in _URL_SEPARATOR.split(value.strip()) if url.strip(","))


def ensure_secret(settings: Settings) -> Settings:
    """A stable HMAC secret: configured, else kept in the data directory (created once)."""
    if settings.secret:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return replace(settings, secret=path.read_text().strip())
