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
    run()


if __name__ == "__main__":
    main()
