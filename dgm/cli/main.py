"""Entry point of `dgm`: argument parsing, and errors turned into one line and an exit code.

Exit codes: 0 success, 2 bad usage or bad input, 1 internal error (or a diverged run).
`--debug` shows tracebacks. Lightning is imported only by `dgm train`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from dgm import __version__

EXIT_USAGE, EXIT_INTERNAL = 2, 1


class UsageError(Exception):
    """argparse found bad usage; reported in one line, exit code 2."""


class Terminated(BaseException):
    """SIGTERM, raised where the command is, like Ctrl-C's KeyboardInterrupt: the command unwinds,
    so that its half-written temporary files are removed (`dgm train` stops gracefully instead)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and never exit by themselves."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> Parser:
    from dgm.cli import classify, compare, demo, evaluate, list_, reproduce, sample, train

    parser = Parser(prog="dgm", description="Deep generative modeling: fit, sample, evaluate.")
    parser.add_argument("--version", action="version", version=f"dgm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (train, sample, evaluate, classify, compare, reproduce, list_, demo):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return EXIT_USAGE
        return args.handler(args) or 0
    except UsageError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dgm: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("dgm: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception as e:  # noqa: BLE001  (every error becomes one line unless --debug)
        from dgm.errors import DgmError

        if debug:
            raise
        if isinstance(e, DgmError):
            print(f"dgm: error: {_one_line(e)}", file=sys.stderr)
            return e.exit_code
        print(
            f"dgm: internal error: {type(e).__name__}: {_one_line(e)} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if previous is not None:  # a caller in the same process (a test) keeps its own handler
            signal.signal(signal.SIGTERM, previous)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
