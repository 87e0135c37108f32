"""One guard for tests of inputs that used to hang (FIFOs, /dev/zero, huge declared sizes)."""
from __future__ import annotations

import threading
from typing import Any, Callable


def finishes(fn: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Run ``fn`` in a thread and return its value (or raise its error); fail the test, rather than hang the
    suite, if it is still running after ``seconds``."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for more than {seconds} s"
    if "error" in out:
        raise out["error"]
    return out.get("value")
