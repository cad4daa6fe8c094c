"""A supplier's file tree on disk: `incoming/`, `reports/`, `processed/`, `failed/`.

For the SFTP server the trees live in the data directory, one per supplier, named by the
supplier's row id (`DATA_DIR/sftp/supplier-<id>/`), so a renamed or odd supplier code never
changes or escapes a path. Uploads are written under `.uploads/` beside the four folders (never
visible to the supplier) and appear in `incoming/` only once the client closed them.
`forvarv watch DIR` uses the same layout under `DIR/<SUPPLIER CODE>/`, written by the site's
own file server.

Nothing here follows a symbolic link: files are opened with O_NOFOLLOW and checked to be
regular files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from gateway.registry import Supplier

INCOMING, REPORTS, PROCESSED, FAILED = "incoming", "reports", "processed", "failed"
AREAS = (INCOMING, REPORTS, PROCESSED, FAILED)
UPLOADS = ".uploads"


@dataclass(frozen=True, slots=True)
class Tree:
    supplier: Supplier
    root: Path
    source: str  # "sftp" or "watch": recorded with each delivery as source "<source>:<name>"

    def area(self, name: str) -> Path:
        return self.root / name

    def make(self) -> None:
        for area in (*AREAS, UPLOADS):
            (self.root / area).mkdir(parents=True, exist_ok=True, mode=0o750)

    def partial(self) -> Path:
        """A fresh path for an upload in progress."""
        return self.root / UPLOADS / secrets.token_hex(12)

    def complete_files(self) -> list[str]:
        """Names of files in incoming/, hidden names left out (a symbolic link is listed: taking it
        refuses it)."""
        found = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root / INCOMING) as it:
            for entry in it:
                if not entry.name.startswith(".") and (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
                    found.append(entry.name)
        return sorted(found)

    def clear_partials(self) -> None:
        """Uploads a client never closed (the process stopped meanwhile): they load nothing."""
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root / UPLOADS) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)


def sftp_tree(data_dir: Path, supplier: Supplier) -> Tree:
    return Tree(supplier, data_dir / "sftp" / f"supplier-{supplier.id}", "sftp")


def open_regular(path: Path, flags: int = os.O_RDONLY) -> int:
    """A file descriptor of a regular file, never through a symbolic link."""
    fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(f"{path.name} is not a regular file")
    return fd


def write_atomically(path: Path, data: bytes) -> None:
    """Write a whole file under a temporary name and rename it into place (readers never see half)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
