"""What tunecard prints while it works: progress, and the libraries' notices it quiets.

On a terminal, progress is tqdm's bar. Anywhere else (a log file, a pipe, a CI job) a bar's carriage-return frames
and escape codes would fill the log, so progress is a plain line at most every LINE_SECONDS seconds, at every
tenth of the way and at the end, as tqdm, Accelerate and Lightning users see it in their logs."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

from tqdm.auto import tqdm
from tqdm.std import tqdm as plain_tqdm

LINE_SECONDS = float(os.environ.get("TUNECARD_PROGRESS_SECONDS", 30))
"""Off a terminal: the most seconds between two progress lines (unless a tenth of the way is reached first);
$TUNECARD_PROGRESS_SECONDS sets it (0: a line at every update tqdm draws)."""


class LineProgress(plain_tqdm):
    """tqdm that writes whole lines: the first, one per tenth of the total or LINE_SECONDS, and the last."""

    def __init__(self, *args, **kwargs):
        kwargs.update(dynamic_ncols=False, ncols=100, ascii=True)
        self._line_at, self._tenth, self._shown = None, -1, None
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        if msg == "":  # tqdm clearing a bar it does not keep (leave=False): a log keeps its last line instead
            self._line_at = None
            self.display()
            return False
        now = time.monotonic()
        tenth = int(10 * self.n / self.total) if self.total else -1
        due = self._line_at is None or now - self._line_at >= LINE_SECONDS or tenth > self._tenth
        if (due or self.disable) and (self.n, tenth) != self._shown:  # disable: set by close() before its last call
            self.fp.write(self.__str__() + "\n")
            self.fp.flush()
            self._line_at, self._tenth, self._shown = now, tenth, (self.n, tenth)
        return True

    def close(self):
        if not hasattr(self, "fp"):  # a disabled bar (TQDM_DISABLE, another process of several)
            return super().close()
        fp, self.fp = self.fp, _NoNewline(self.fp)  # tqdm ends a kept bar with a newline: ours are lines already
        try:
            super().close()
        finally:
            self.fp = fp

    @classmethod
    def write(cls, s, file=None, end="\n", nolock=False):
        (file or sys.stdout).write(s + end)


class _NoNewline:
    def __init__(self, fp):
        self.fp = fp

    def write(self, text):
        if text != "\n":
            self.fp.write(text)

    def flush(self):
        self.fp.flush()


class NoProgress:
    """Stands in for a progress bar where nothing should be shown (another process of several, a server's batch,
    a Ray actor: Ray Data shows its own)."""

    def update(self, n=1):
        pass


def on_terminal() -> bool:
    """stderr is a terminal, or a Jupyter notebook (whose bars are widgets): where a bar can redraw itself."""
    if bool(getattr(sys.stderr, "isatty", lambda: False)()):
        return True
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress(total=None, desc: str = "", unit: str = "it", **kwargs):
    """A progress bar on a terminal or in a notebook, a line-writing one elsewhere (same tqdm interface: update,
    close, set_postfix, write)."""
    kind = tqdm if on_terminal() else LineProgress
    return kind(total=total, desc=desc, unit=unit, **kwargs)


def quiet_library_progress() -> None:
    """Off a terminal (and outside a notebook), the bars transformers, huggingface_hub and datasets draw for their
    own steps (loading and writing weights, reading and tokenizing files) are turned off for the rest of the
    process: tunecard's lines say what runs. The CLI and the verbs that train or score call it."""
    if on_terminal():
        return
    import datasets
    import huggingface_hub.utils
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    datasets.disable_progress_bars()


@contextlib.contextmanager
def quiet_hub_warnings():
    """Offline, huggingface_hub logs a warning per failed request before raising; the
    TunecardError raised from that exception says it once, with the fix."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
