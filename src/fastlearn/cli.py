"""The `fastlearn` command: demo, datasets, predict and serve (more come with the applications)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .train_cli import add_train_parser

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


def _predict(args: argparse.Namespace) -> int:
    from .core.export import load_learner
    from .serve.inputs import Limits, fault_message, format_result, input_spec, parse_cli_item

    if args.top_k < 1:
        raise ValueError(f"Expected --top-k to be at least 1. Received: {args.top_k}.")
    predictor = load_learner(args.model)
    spec, limits = input_spec(predictor.info()), Limits()
    items = [parse_cli_item(arg, spec, limits) for arg in args.inputs]
    answers = []
    for arg, item in zip(args.inputs, items):
        try:
            result = predictor.predict(item)
        except (ValueError, TypeError, KeyError, IndexError, OSError) as e:
            raise ValueError(f"input {arg[:80]!r}: {fault_message(e)}") from None
        answers.append({"input": arg, **format_result(result, predictor.config,
                                                      predictor.vocab, args.top_k)})
    if args.json:
        print(json.dumps(answers, indent=2))
    else:
        _print_table(answers)
    return 0


def _print_table(answers: list[dict[str, Any]]) -> None:
    """One line per input: the input, the prediction, the top classes with probabilities."""
    def short(x: Any, n: int = 40) -> str:
        text = x if isinstance(x, str) else f"{x:.4g}" if isinstance(x, float) else json.dumps(x)
        return text if len(text) <= n else text[:n - 3] + "..."

    classes = "top" in answers[0]
    head = ("input", "prediction", "top classes" if classes else "")
    rows = [(short(a["input"]), short(a["label"]),
             "  ".join(f"{t['label']} {t['probability']:.3f}" for t in a.get("top", [])))
            for a in answers]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(2)]
    for r in [head, *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip())


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .serve import create_app

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    app = create_app(args.model, max_body=int(args.max_body_mb * 2**20),
                     max_pixels=args.max_pixels, max_text=args.max_text, top_k=args.top_k)
    print(f"Serving {args.model} at http://{args.host}:{args.port}/ (Ctrl-C to stop)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict", help="predict with an exported model (.fl) from the command line",
        description="Load a model written by learn.export() and predict each INPUT, which "
        "depends on the model: image paths for image models, texts for text models, JSON "
        "rows for tabular models ('{\"age\": 39, \"workclass\": \"Private\"}'), JSON "
        "pairs for collaborative filtering ('[\"user_1\", \"item_9\"]'), JSON lists for "
        "tensor models. Prints a table, or JSON with --json.",
        epilog="example: fastlearn predict pets.fl cat.jpg dog.jpg --top-k 2")
    p.add_argument("model", help="the exported model file (.fl)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image path, text or JSON")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per input (default: 3)")
    p.set_defaults(func=_predict)


def _add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="serve an exported model: a web page and a JSON API (uvicorn)",
        description="Serve a model written by learn.export(): GET / is a page fitted to the "
        "model's input (image upload, text box, one field per column, user and item), "
        "POST /predict takes an upload or JSON and answers JSON, GET /info describes the "
        "model, GET /health answers {\"status\": \"ok\"}. Needs fastlearn[serve].",
        epilog="example: fastlearn serve pets.fl --port 8000, then open http://127.0.0.1:8000/ "
        "or: curl -F file=@cat.jpg http://127.0.0.1:8000/predict")
    p.add_argument("model", help="the exported model file (.fl)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                   "127.0.0.1, this machine only; 0.0.0.0 listens on every interface)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--max-body-mb", type=float, default=10.0,
                   help="largest request body in MiB (default: 10)")
    p.add_argument("--max-pixels", type=int, default=50_000_000,
                   help="largest image in pixels, width x height (default: 50,000,000)")
    p.add_argument("--max-text", type=int, default=100_000,
                   help="longest text in characters (default: 100,000)")
    p.add_argument("--top-k", type=int, default=5, help="classes per answer (default: 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for inference (default: torch's choice)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default: info)")
    p.set_defaults(func=_serve)


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
    _add_predict(sub)
    _add_serve(sub)
    add_train_parser(sub)
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
