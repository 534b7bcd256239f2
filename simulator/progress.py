"""The one progress bar of every long command (a generation's passes, a sweep's rows, a comparison's runs):
rich, on stderr, and only when stderr is a terminal, so piped or logged output stays clean and an error
stays one line."""

import time


class ProgressBar:
    """Call it with (done, total[, text]) as work finishes; it appears on the first call with total ≥
    `minimum`. With `rate`, it shows the units per second since that first call."""

    def __init__(self, label: str, unit: str = "", minimum: int = 1, rate: bool = False):
        self.label, self.unit, self.minimum, self.rate = label, unit, minimum, rate
        self._bar, self._off = None, False

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int, text: str = "") -> None:
        if self._off or total < self.minimum:
            return
        if self._bar is None and not self._start(done, total):
            return
        elapsed = time.monotonic() - self._since
        speed = f"{(done - self._first) / elapsed:.1f}{self.unit}/s" if self.rate and elapsed > 0 else ""
        self._bar.update(self._task, completed=done, total=total, description=text, speed=speed)

    def _start(self, done: int, total: int) -> bool:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            self._off = True
            return False
        columns = [TextColumn(self.label), BarColumn(), TextColumn("{task.completed}/{task.total}" + self.unit),
                   TextColumn("{task.description}")]
        if self.rate:
            columns.append(TextColumn("{task.fields[speed]}"))
        columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        self._bar = Progress(*columns, console=console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task("", total=total, completed=done, speed="")
        self._since, self._first = time.monotonic(), done
        return True

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
