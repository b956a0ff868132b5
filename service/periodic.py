"""A background thread that runs one action every few seconds until told to stop, logging its failures."""

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("provenance.periodic")


def run_every(interval: float, action: Callable[[], object], stop: threading.Event, name: str,
              failure: str) -> threading.Thread:
    """Start a daemon thread calling `action` every `interval` seconds until `stop` is set; an exception is
    logged as `failure` and the next round tries again (a database briefly unreachable, say)."""

    def loop() -> None:
        while not stop.wait(interval):
            try:
                action()
            except Exception:
                log.exception(failure)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
