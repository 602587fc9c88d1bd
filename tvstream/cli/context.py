"""State shared by every CLI verb: verbosity and the stderr console that owns human output."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.logging import RichHandler


@dataclass
class AppContext:
    """Passed to every verb through click's context object."""

    quiet: bool = False
    verbose: int = 0
    # Human text goes to stderr: stdout carries JSON lines only.
    console: Console = field(default_factory=lambda: Console(stderr=True))

    def say(self, message: str) -> None:
        """A human line on stderr, unless --quiet."""
        if not self.quiet:
            self.console.print(message)

    def configure_logging(self) -> None:
        """Route the library's ``logging`` records to the stderr console (the CLI owns handlers)."""
        level = logging.ERROR if self.quiet else (logging.DEBUG if self.verbose > 1 else
                                                 logging.INFO if self.verbose else logging.WARNING)
        handler = RichHandler(console=self.console, show_time=False, show_path=False, markup=False)
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(level)


pass_app = click.make_pass_decorator(AppContext, ensure=True)
