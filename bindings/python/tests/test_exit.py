"""A process that used AsyncClient exits cleanly. Runtime threads hand results to the event loop
from outside Python; one caught re-entering Python during interpreter finalization used to abort
the process (SIGABRT in about one exit in six before `minoots._native` learned to quiesce at
exit), so this runs a burst of short-lived processes."""

import subprocess
import sys

SCRIPT = """
import asyncio, sys, minoots

async def main(url):
    client = await minoots.AsyncClient.connect(url, api_key="local-dev-key", tenant="exit")
    async def worker(w):
        for i in range(25):
            await client.schedule(f"x{w}-{i}", "1h")
    await asyncio.gather(*(worker(w) for w in range(8)))

asyncio.run(main(sys.argv[1]))
"""


def test_processes_using_asyncio_exit_cleanly(server):
    codes = [subprocess.run([sys.executable, "-c", SCRIPT, server], timeout=120).returncode for _ in range(20)]
    assert codes == [0] * 20
