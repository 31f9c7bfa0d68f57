"""``python -m losscli``, and the console script's entry point.

The first import of the CLI takes a few tenths of a second; Ctrl-C during it exits 130
quietly, as it does later.
"""

import sys


def main() -> None:
    try:
        from .cli import main as run
    except KeyboardInterrupt:  # Ctrl-C during start-up: the documented exit, no traceback
        sys.exit(130)
    try:
        run()
    except SystemExit as done:
        if (
            isinstance(done.code, int)
            and "pyarrow" in sys.modules
            and "distributed" not in sys.modules
        ):
            # pyarrow's threads can abort the interpreter's shutdown after a damaged file
            # ("terminate called without an active exception", exit 134, the error already
            # printed): the run is over and written, so leave without that shutdown
            import contextlib
            import os

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):  # a closed or full stdout was reported
                    stream.flush()
            os._exit(done.code)
        raise


if __name__ == "__main__":
    main()
