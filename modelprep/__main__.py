"""``python -m modelprep``: prepare the default model (idempotent) and print its folder."""

import argparse
import sys

from modelprep.base_model import ModelUnavailableError, base_model_dir, ensure_base_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelprep", description=__doc__)
    parser.add_argument(
        "--print-dir", action="store_true", help="print the folder, prepare nothing"
    )
    args = parser.parse_args(argv)
    if args.print_dir:
        print(base_model_dir())
        return 0
    try:
        print(ensure_base_model())
    except ModelUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
