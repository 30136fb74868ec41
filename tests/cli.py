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
