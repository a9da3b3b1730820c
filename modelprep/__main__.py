"""``python -m modelprep``: prepare the default model (idempotent) and print its folder.

``--merged`` prints the folder of what the server serves by default: the base model with the
default adapter merged in (built once, cached), which another server, such as vLLM's own,
can load to run the very same weights.
"""

import argparse
import sys

from modelprep.adapters import DEFAULT_ADAPTER_NAME, shipped_adapter_dir
from modelprep.base_model import ModelUnavailableError, base_model_dir, ensure_base_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelprep", description=__doc__)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--print-dir", action="store_true", help="print the folder, prepare nothing")
    how.add_argument(
        "--merged",
        action="store_true",
        help=f"prepare and print the base model with {DEFAULT_ADAPTER_NAME} merged in",
    )
    args = parser.parse_args(argv)
    if args.print_dir:
        print(base_model_dir())
        return 0
    try:
        base = ensure_base_model()
    except ModelUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.merged:
        print(base)
        return 0
    adapter = shipped_adapter_dir()
    if adapter is None:
        print(f"error: the shipped adapter {DEFAULT_ADAPTER_NAME} is missing", file=sys.stderr)
        return 1
    from modelprep.merged import merged_model_dir  # torch and peft, only when merging

    print(merged_model_dir(base, adapter))
    return 0


if __name__ == "__main__":
    sys.exit(main())
