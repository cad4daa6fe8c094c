"""The SFTP server (asyncssh): suppliers sign in with their registered keys and see their own tree.

Sign-in: public keys only (no passwords, no keyboard-interactive); the user name is the supplier's
code and the key must be registered to that supplier. Only the `sftp` subsystem is offered: no
shell, no commands, no forwarding, no SCP.

What a supplier sees: `/` is its own tree, with `incoming/`, `reports/`, `processed/` and
`failed/`. Paths are resolved against that root; one that would leave it (`..` above `/`) is
refused, as are symbolic and hard links, new folders and names that are hidden or not plain.
Uploads go to `incoming/` only, are written to a partial file outside the tree and become
`incoming/NAME` only when the client closes them (the SFTP CLOSE request). An upload whose
session ends without that close (a killed client, a dropped connection) is deleted and loads
nothing. A write past FORVARV_MAX_BODY is refused and the upload dropped, with a report saying
why. Files in `reports/`, `processed/` and `failed/` can be read and removed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from gateway.registry import Supplier
from gateway.sftp import keys, names
from gateway.sftp.pickup import Pickup, write_refusal
from gateway.sftp.tree import AREAS, INCOMING, Tree, open_regular, sftp_tree

log = logging.getLogger(__name__)

#: Folders a supplier may remove its own files from.
REMOVABLE = frozenset(AREAS) - {INCOMING}
SUPPLIER_INFO = "forvarv_supplier"


def _denied(message: str = "not allowed here") -> asyncssh.SFTPError:
    return asyncssh.SFTPPermissionDenied(message)


@dataclass(eq=False)
class Upload:
    name: str
    partial: Path
    fd: int
    refused: str | None = None
    size: int = 0


@dataclass(eq=False)
class Download:
    fd: int


@dataclass
class Context:
    """What every session of one server shares."""

    pool: asyncpg.Pool
    data_dir: Path
    max_body: int
    pickup: Pickup
    trees: dict[int, Tree] = field(default_factory=dict)

    def tree(self, supplier: Supplier) -> Tree:
        tree = self.trees.get(supplier.id)
        if tree is None or tree.supplier != supplier:
            tree = sftp_tree(self.data_dir, supplier)
            tree.make()
            self.trees[supplier.id] = tree
        return tree


class SupplierSSH(asyncssh.SSHServer):
    """One connection's sign-in: a registered public key of the supplier named as the user."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        async with self.ctx.pool.acquire() as conn:
            supplier = await keys.supplier_for_key(conn, username, key)
        if supplier is None:
            log.info("sftp: refused key %s for user %r", keys.fingerprint(key), username[:64])
            return False
        assert self.conn is not None
        self.conn.set_extra_info(**{SUPPLIER_INFO: supplier})
        return True


class SupplierSFTP(asyncssh.SFTPServer):
    """One SFTP session of a signed-in supplier, confined to its tree."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], ctx: Context) -> None:
        super().__init__(chan)
        supplier = chan.get_connection().get_extra_info(SUPPLIER_INFO)
        if not isinstance(supplier, Supplier):
            raise asyncssh.SFTPPermissionDenied("not signed in")
        self.ctx = ctx
        self.tree = ctx.tree(supplier)
        self.uploads: set[Upload] = set()

    # --- paths ---------------------------------------------------------------------------------
    def _parts(self, path: bytes) -> list[str]:
        """The path's components below the supplier's root, `.` and `..` resolved (never above `/`)."""
        try:
            text = path.decode("utf-8")
        except UnicodeDecodeError:
            raise asyncssh.SFTPNoSuchFile("file names are UTF-8") from None
        parts: list[str] = []
        for part in text.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise _denied("outside your folder")
                parts.pop()
                continue
            parts.append(part)
        return parts

    def _resolve(self, path: bytes) -> tuple[str | None, str | None]:
        """(area, name): (None, None) for the root, (area, None) for one of the four folders."""
        parts = self._parts(path)
        if not parts:
            return None, None
        if parts[0] not in AREAS or len(parts) > 2:
            raise asyncssh.SFTPNoSuchFile("no such file or folder: your folder holds incoming, reports, "
                                          "processed and failed")
        if len(parts) == 1:
            return parts[0], None
        if not names.safe_name(parts[1]):
            raise _denied("not a plain file name")
        return parts[0], parts[1]

    def _file(self, path: bytes) -> tuple[str, str]:
        area, name = self._resolve(path)
        if area is None or name is None:
            raise asyncssh.SFTPFileIsADirectory("that is a folder")
        return area, name

    def realpath(self, path: bytes) -> bytes:
        return ("/" + "/".join(self._parts(path))).encode("utf-8")

    def _local(self, area: str | None, name: str | None) -> Path:
        if area is None:
            return self.tree.root
        return self.tree.area(area) if name is None else self.tree.area(area) / name

    def lstat(self, path: bytes) -> os.stat_result:
        area, name = self._resolve(path)
        try:
            st = os.lstat(self._local(area, name))
        except FileNotFoundError:
            raise asyncssh.SFTPNoSuchFile("no such file") from None
        local = self._local(area, name)
        if os.path.islink(local) or (name is not None and not os.path.isfile(local)):
            raise asyncssh.SFTPNoSuchFile("no such file")
        return st

    stat = lstat

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        area, name = self._resolve(path)
        if name is not None:
            raise asyncssh.SFTPNotADirectory("not a folder")
        local = self._local(area, None)
        here = SFTPAttrs.from_local(os.lstat(local))
        yield SFTPName(b".", attrs=here)
        yield SFTPName(b"..", attrs=SFTPAttrs.from_local(os.lstat(self.tree.root)))
        with os.scandir(local) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if area is None and entry.name not in AREAS:
                    continue
                if area is not None and (entry.name.startswith(".") or not entry.is_file(follow_symlinks=False)):
                    continue
                attrs = SFTPAttrs.from_local(entry.stat(follow_symlinks=False))
                yield SFTPName(entry.name.encode("utf-8"), attrs=attrs)

    # --- files ---------------------------------------------------------------------------------
    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> Upload | Download:
        area, name = self._file(path)
        if pflags & asyncssh.FXF_WRITE:
            if area != INCOMING:
                raise _denied("upload to incoming/")
            if pflags & asyncssh.FXF_APPEND:
                raise asyncssh.SFTPOpUnsupported("appending is not supported: upload the whole file")
            if self.ctx.pickup.busy(self.tree, name):
                raise _denied("a file of this name is being taken; upload it again in a moment")
            partial = self.tree.partial()
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
            upload = Upload(name, partial, fd)
            self.uploads.add(upload)
            return upload
        try:
            return Download(open_regular(self._local(area, name)))
        except FileNotFoundError:
            raise asyncssh.SFTPNoSuchFile("no such file") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                raise asyncssh.SFTPNoSuchFile("no such file") from None
            raise

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        if not isinstance(file_obj, Download):
            raise _denied("opened for writing")
        return os.pread(file_obj.fd, size, offset)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if not isinstance(file_obj, Upload):
            raise _denied("opened for reading")
        if file_obj.refused:
            raise asyncssh.SFTPFailure(file_obj.refused)
        end = offset + len(data)
        if end > self.ctx.max_body:
            file_obj.refused = f"the file exceeds the limit of {self.ctx.max_body} bytes"
            raise asyncssh.SFTPFailure(file_obj.refused)
        written = os.pwrite(file_obj.fd, data, offset)
        file_obj.size = max(file_obj.size, end)
        return written

    def fstat(self, file_obj: object) -> os.stat_result:
        if isinstance(file_obj, Upload | Download):
            return os.fstat(file_obj.fd)
        raise asyncssh.SFTPInvalidHandle("not a file")

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        """Times and modes a client sets (`put -p`) are accepted and ignored."""

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        self._resolve(path)

    def fsync(self, file_obj: object) -> None:
        if isinstance(file_obj, Upload):
            os.fsync(file_obj.fd)

    def close(self, file_obj: object) -> None:
        if isinstance(file_obj, Download):
            os.close(file_obj.fd)
            return
        if not isinstance(file_obj, Upload):
            return
        self.uploads.discard(file_obj)
        os.close(file_obj.fd)
        # The channel is closing when asyncssh closes the handles of a session that ended without
        # the client's CLOSE: an upload cut off midway. It loads nothing.
        if self.channel.is_closing() or file_obj.refused:
            _unlink(file_obj.partial)
            if file_obj.refused:
                write_refusal(self.tree, file_obj.name, {"error": "payload_too_large", "message": file_obj.refused})
            else:
                log.info("sftp: %s: upload of %s cut off; dropped", self.tree.supplier.code, file_obj.name)
            return
        os.replace(file_obj.partial, self.tree.area(INCOMING) / file_obj.name)
        self.ctx.pickup.submit(self.tree, file_obj.name)

    def exit(self) -> None:
        for upload in list(self.uploads):
            self.uploads.discard(upload)
            os.close(upload.fd)
            _unlink(upload.partial)

    # --- names ---------------------------------------------------------------------------------
    def remove(self, path: bytes) -> None:
        area, name = self._file(path)
        if area not in REMOVABLE and not (area == INCOMING and names.is_temporary(name)):
            raise _denied("files in incoming/ are taken by the gateway; remove reports, processed and failed files")
        local = self._local(area, name)
        if not os.path.isfile(local) or os.path.islink(local):
            raise asyncssh.SFTPNoSuchFile("no such file")
        os.unlink(local)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Within incoming/ only: a file uploaded under a temporary name is taken once renamed."""
        old_area, old = self._file(oldpath)
        new_area, new = self._file(newpath)
        if old_area != INCOMING or new_area != INCOMING:
            raise _denied("only files in incoming/ can be renamed, within incoming/")
        src, dst = self._local(old_area, old), self._local(new_area, new)
        if not os.path.isfile(src) or os.path.islink(src):
            raise asyncssh.SFTPNoSuchFile("no such file")
        if os.path.lexists(dst) or self.ctx.pickup.busy(self.tree, new):
            raise asyncssh.SFTPFailure("a file of that name is in incoming/ already")
        os.rename(src, dst)
        self.ctx.pickup.submit(self.tree, new)

    posix_rename = rename

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        self._resolve(path)
        raise _denied("your folder has a fixed layout: incoming, reports, processed, failed")

    def rmdir(self, path: bytes) -> None:
        self._resolve(path)
        raise _denied("your folder has a fixed layout: incoming, reports, processed, failed")

    def readlink(self, path: bytes) -> bytes:
        raise _denied("no links here")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise _denied("no links here")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise _denied("no links here")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def host_key(data_dir: Path) -> asyncssh.SSHKey:
    """The server's host key, made once (Ed25519) and kept in the data directory."""
    path = data_dir / "sftp_host_ed25519_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="forvarv-gateway")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return asyncssh.read_private_key(path)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
    return asyncssh.read_private_key(path)


def fingerprint(key: asyncssh.SSHKey) -> str:
    return str(key.get_fingerprint("sha256"))


async def listen(ctx: Context, host: str, port: int, key: asyncssh.SSHKey) -> asyncssh.SSHAcceptor:
    def sftp_factory(chan: asyncssh.SSHServerChannel[bytes]) -> SupplierSFTP:
        return SupplierSFTP(chan, ctx)

    options: dict[str, Any] = {
        "server_host_keys": [key],
        "server_factory": lambda: SupplierSSH(ctx),
        "sftp_factory": sftp_factory,
        "allow_scp": False,
        "agent_forwarding": False,
        "x11_forwarding": False,
        "login_timeout": 60,
    }
    acceptor: asyncssh.SSHAcceptor = await asyncssh.listen(host, port, **options)
    return acceptor
