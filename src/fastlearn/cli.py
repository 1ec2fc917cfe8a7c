"""The `fastlearn` command: demo, datasets (more subcommands come with the applications)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out=args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from .core.download import URLs, untar_data

    if args.name is None:
        for name in sorted(n for n in vars(URLs) if n.isupper()):
            print(f"{name:20} {getattr(URLs, name)}")
        return 0
    url = getattr(URLs, args.name.upper(), args.name)
    print(untar_data(url, force=args.force))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="fastlearn",
        description="fastlearn: the fast.ai course's deep-learning workflow on plain PyTorch.",
        epilog="Run 'fastlearn COMMAND --help' for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="train a small CNN on bundled digits (under a minute)",
                          description="Train a small CNN on scikit-learn's 8x8 digits: lr_find, "
                          "fit_one_cycle, plots (loss, lr finder, confusion matrix) as PNG, "
                          "save, reload and predict.")
    demo.add_argument("--out", default="demo_output", help="folder for plots and the model "
                      "(default: demo_output)")
    demo.add_argument("--epochs", type=int, default=6, help="training epochs (default: 6)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    demo.set_defaults(func=_demo)

    data = sub.add_parser("datasets", help="list the course's datasets, or download one",
                          description="Without NAME, list the URLs table. With NAME (e.g. "
                          "PETS, or a URL), download and extract it into the cache "
                          "(FASTLEARN_HOME, default ~/.fastlearn) and print its folder.")
    data.add_argument("name", nargs="?", help="a URLs name such as ADULT_SAMPLE, or a URL")
    data.add_argument("--force", action="store_true", help="download again")
    data.set_defaults(func=_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fastlearn` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError, RuntimeError, KeyError) as e:
        print(f"fastlearn {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
