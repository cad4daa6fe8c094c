"""Benchmark: the gateway's memory while a large delivery arrives by HTTP and by SFTP.

    python bench/sftp_memory.py [--mb 200]

Starts `forvarv serve` (embedded PostgreSQL in a temporary folder, no delivery workers, so only
receiving is measured) with its SFTP server on a free port, registers a supplier with a token and
an SSH key made by ssh-keygen, writes two different synthetic MARCXML files of about MB megabytes,
and sends one with `curl --data-binary` to POST /deliveries and the other with OpenSSH's `sftp`
to incoming/. The server's resident memory (VmRSS) is sampled every 20 ms; printed per path is
its peak growth over the resident memory just before that upload. The ceiling: the SFTP path
must not grow more than the HTTP path does (plus 16 MB of slack for asyncssh's buffers).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gateway.demo import synthetic

SLACK_MB = 16.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_during(pid: int, action: list[str], done: callable) -> tuple[float, float, float]:  # type: ignore[valid-type]
    """(resident MB before, peak growth MB, seconds) while `action` runs and until done() holds."""
    before = rss_mb(pid)
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    started = time.monotonic()
    subprocess.run(action, check=True, stdout=subprocess.DEVNULL if "curl" not in action[0] else None)
    while not done():
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    stop.set()
    t.join()
    return before, peak - before, elapsed


def write_file(path: Path, mb: int, seed: int) -> None:
    sample = sum(len(c) for c in synthetic.delivery_chunks(1000, ["Sods", "Li"], seed=seed)) / 1000
    with path.open("wb") as f:
        for chunk in synthetic.delivery_chunks(int(mb * 1024 * 1024 / sample), ["Sods", "Li"], seed=seed,
                                               start=seed * 10_000_000):
            f.write(chunk)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=int, default=200)
    args = p.parse_args()
    forvarv = [sys.executable, "-m", "gateway.cli"]
    with tempfile.TemporaryDirectory(prefix="forvarv-bench-sftp-") as tmp:
        os.chmod(tmp, 0o755)
        work = Path(tmp)
        port, sftp_port = free_port(), free_port()
        env = {**os.environ, "FORVARV_DATA_DIR": str(work / "data"), "FORVARV_WORKERS": "0",
               "FORVARV_SFTP_PORT": str(sftp_port), "FORVARV_MAX_BODY": str((args.mb + 20) * 1024 * 1024),
               "FORVARV_PORT": str(port), "FORVARV_SECRET": "bench"}
        env.pop("FORVARV_DATABASE_URL", None)
        subprocess.run([*forvarv, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        out = subprocess.run([*forvarv, "supplier", "add", "BENCH", "--name", "Bench"], env=env, check=True,
                             capture_output=True, text=True).stdout
        token = out.strip().splitlines()[-1]
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "key")], check=True)
        subprocess.run([*forvarv, "supplier", "key", "add", "BENCH", str(work / "key.pub")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        a, b = work / "http.xml", work / "sftp.xml"
        write_file(a, args.mb, 1)
        write_file(b, args.mb, 2)
        server = subprocess.Popen([*forvarv, "serve"], env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("SFTP for suppliers"):
                    break
            time.sleep(1.0)

            def deliveries() -> int:
                out = subprocess.run([*forvarv, "deliveries", "list"], env=env, capture_output=True, text=True)
                return len([x for x in out.stdout.splitlines() if x.strip()])

            http = peak_during(server.pid, ["curl", "-sS", "--fail-with-body", "-H", f"Authorization: Bearer {token}",
                                            "-H", "Content-Type: application/marcxml+xml", "--data-binary",
                                            f"@{a}", f"http://127.0.0.1:{port}/deliveries"], lambda: True)
            batch = work / "batch"
            batch.write_text(f"put {b} incoming/sftp.xml\n")
            sftp = peak_during(server.pid, [shutil.which("sftp") or "sftp", "-b", str(batch), "-P", str(sftp_port),
                                            "-i", str(work / "key"), "-o", "StrictHostKeyChecking=no", "-o",
                                            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-F", "/dev/null",
                                            "BENCH@127.0.0.1"], lambda: deliveries() >= 2)
        finally:
            server.terminate()
            server.wait(30)
    size = a.stat().st_size / 1024 / 1024 if a.exists() else args.mb
    print(f"file size        ~{size:.0f} MB each")
    print(f"HTTP  POST       rss before {http[0]:7.1f} MB   peak growth {http[1]:7.1f} MB   {http[2]:6.1f} s")
    print(f"SFTP  put        rss before {sftp[0]:7.1f} MB   peak growth {sftp[1]:7.1f} MB   {sftp[2]:6.1f} s "
          "(upload, then received into PostgreSQL)")
    ok = sftp[1] <= http[1] + SLACK_MB
    print(f"ceiling: SFTP growth <= HTTP growth + {SLACK_MB:g} MB: {'ok' if ok else 'EXCEEDED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
