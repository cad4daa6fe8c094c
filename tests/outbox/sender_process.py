"""One sender in a process of its own, until the outbox has been empty for a moment.

Used by test_processes.py: `python -m tests.outbox.sender_process DB_URL SMTP_PORT DATA_DIR`.
Prints how many notifications this process handled.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from gateway.store import db
from tests.outbox.helpers import sender_for, settings_for


async def main(db_url: str, port: int, data_dir: Path) -> int:
    pool = await db.create_pool(db_url, min_size=1, max_size=2)
    try:
        sender = sender_for(pool, settings_for(data_dir, port), name=f"pid-{os.getpid()}")
        handled = idle = 0
        while idle < 20:
            if await sender.send_one():
                handled += 1
                idle = 0
            else:
                idle += 1
                await asyncio.sleep(0.05)
        await sender.transport.close()
    finally:
        await pool.close()
    return handled


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))
