"""Running the installed `trio` command in a subprocess, as a user would."""

import os
import subprocess
import sys
from pathlib import Path


def run_trio(*args: str, site: Path | None = None, env: dict | None = None, check: bool = False):
    """Run the installed ``trio`` CLI in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_")}
    if site is not None:
        full_env["PYTHONPATH"] = str(site)
    full_env.update(env or {})
    trio = Path(sys.executable).with_name("trio")
    result = subprocess.run([str(trio), *args], capture_output=True, text=True, env=full_env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"trio {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def watch_until(*args: str, until, timeout: float = 90.0) -> tuple[list[dict], int]:
    """Run ``trio <args> --json`` (a watch of a live source, which never ends by itself) until
    ``until(events)`` holds, then press Ctrl-C (SIGINT); return every event and the exit status (130, as for
    any command Ctrl-C ends)."""
    import json
    import signal
    import threading

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIO_")}
    trio = Path(sys.executable).with_name("trio")
    process = subprocess.Popen(
        [str(trio), *args, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell's children ignore it
    )  # fmt: skip
    timer = threading.Timer(timeout, process.send_signal, (signal.SIGINT,))  # a watch that never gets there ends too
    timer.start()
    events: list[dict] = []
    try:
        for line in process.stdout:
            events.append(json.loads(line))
            if until(events):
                process.send_signal(signal.SIGINT)
                break
        rest, errors = process.communicate(timeout=30)
    finally:
        timer.cancel()
        process.kill()
    events += [json.loads(line) for line in rest.splitlines()]
    if process.returncode not in (0, 130):
        raise AssertionError(f"trio {' '.join(args)} failed ({process.returncode}):\n{errors}")
    return events, process.returncode
