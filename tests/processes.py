"""Launching and watching the processes of a multi-process test so that it fails fast and never hangs: every
process writes its output to files (no pipe can fill up and block it), all are polled together, the first to exit
non-zero stops the others at once (its process group: torchrun's workers too) and its stderr is the failure's
message, and a deadline stops everything that is still running."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class Launched:
    """A started process whose stdout and stderr go to temporary files."""
    args: list[str]
    process: subprocess.Popen
    out: object = field(repr=False)
    err: object = field(repr=False)

    def stdout(self) -> str:
        self.out.seek(0)
        return self.out.read()

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read()

    def stop(self) -> None:
        """SIGKILL to the process's whole group (it leads its own session: torchrun's workers go with it)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)


def launch(args: list[str], env: dict | None = None) -> Launched:
    out = tempfile.TemporaryFile("w+", encoding="utf-8")
    err = tempfile.TemporaryFile("w+", encoding="utf-8")
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True, env=env,
                               start_new_session=True)
    return Launched(list(args), process, out, err)


class ProcessFailed(AssertionError):
    def __init__(self, failed: Launched, message: str):
        super().__init__(message)
        self.failed = failed


def wait_all(launched: list[Launched], timeout: float = 600, poll: float = 0.2) -> list[subprocess.CompletedProcess]:
    """Waits for every process to exit 0. The first to exit non-zero stops the others at once and raises
    ProcessFailed with its stderr (the end of it); past `timeout` seconds every process still running is stopped
    and the stderr of each is reported."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            codes = [item.process.poll() for item in launched]
            failed = next((item for item, code in zip(launched, codes) if code not in (None, 0)), None)
            if failed is not None:
                for item in launched:
                    item.stop()
                others = [i for i, item in enumerate(launched) if item is not failed]
                raise ProcessFailed(failed, (
                    f"process {launched.index(failed)} of {len(launched)} exited {failed.process.returncode} "
                    f"(the others, {others}, were stopped): {' '.join(failed.args)}\n"
                    f"--- its stderr (end) ---\n{failed.stderr()[-4000:]}"))
            if all(code == 0 for code in codes):
                return [subprocess.CompletedProcess(item.args, 0, item.stdout(), item.stderr()) for item in launched]
            if time.monotonic() > deadline:
                running = [i for i, code in enumerate(codes) if code is None]
                for item in launched:
                    item.stop()
                report = "\n".join(f"--- process {i} ({'still running' if codes[i] is None else 'exit 0'}), "
                                   f"stderr (end) ---\n{item.stderr()[-2000:]}" for i, item in enumerate(launched))
                raise AssertionError(f"processes {running} still running after {timeout:.0f} s, stopped:\n{report}")
            time.sleep(poll)
    finally:
        for item in launched:
            if item.process.poll() is None:
                item.stop()


# ---- one `tunecard` process watched by its progress lines (crash and resume tests) ----------------------------

def tunecard_process(*args) -> subprocess.Popen:
    """`python -m tunecard ARGS` with a progress line at every training step on stderr (piped)."""
    import sys

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1",
           "TUNECARD_PROGRESS_SECONDS": "0"}
    return subprocess.Popen([sys.executable, "-m", "tunecard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def run_until_step(process: subprocess.Popen, step: int, steps: int, action) -> str:
    """Watch the training bar on stderr (not the scoring bars); call `action(process)` once it shows `step` of
    `steps`. Returns the stderr. Past 600 s the process is killed."""
    import re
    import threading

    seen, fired = [], threading.Event()

    def watch():
        buffer = ""
        while chunk := process.stderr.read(64):
            seen.append(chunk)
            buffer = (buffer + chunk)[-300:]
            shown = [int(m) for m in re.findall(rf"Training:[^\n]*?(\d+)/{steps} \[", buffer)]
            if not fired.is_set() and shown and max(shown) >= step:
                fired.set()
                action(process)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        process.wait(timeout=600)
    finally:
        if process.poll() is None:  # past the deadline: never leave it running
            process.kill()
            process.wait(timeout=30)
        reader.join(timeout=30)
    return "".join(seen)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    """The process's exit status and output once it ends (killed past 600 s)."""
    try:
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:  # past the deadline: never leave it running
            process.kill()
            process.wait(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
