"""The `fastlearn` command: demo, datasets, predict, serve and train.

Nothing heavy is imported until a command runs: `fastlearn --help` and `--version` answer
without importing torch. Errors a user can fix (a missing file, a failed download, a bad
input) print one line and exit with 1; `--debug` (or FASTLEARN_DEBUG=1) shows the traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .train_cli import add_train_parser

__all__ = ["main", "build_parser"]

# Errors that describe the user's input, files, network or environment: one line, no traceback.
# Others (TypeError, AttributeError, IndexError...) are bugs and keep their traceback.
_USER_ERRORS = (ValueError, KeyError, OSError, ImportError, RuntimeError)
_ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")  # as untar_data's
_DATASET_NOTES = {  # URLs name -> what it holds (the course's lessons use most of them)
    "ADULT_SAMPLE": "tabular: US census rows, salary above or below 50k",
    "BIKE": "tabular: hourly bike rentals (UCI bike sharing)",
    "BIWI_HEAD_POSE": "image points: the centre of a head in Kinect frames",
    "CAMVID": "segmentation: street scenes, 32 classes",
    "CAMVID_TINY": "segmentation: a small sample of CamVid street scenes",
    "CIFAR": "images: 60,000 photos of 32x32 pixels, 10 classes",
    "COCO_TINY": "object detection: a small sample of COCO",
    "HUMAN_NUMBERS": "text: the numbers 1 to 9,999 written in English",
    "IMAGENETTE": "images: 10 easy ImageNet classes, full size",
    "IMAGENETTE_160": "images: Imagenette, shortest side 160 pixels",
    "IMAGENETTE_320": "images: Imagenette, shortest side 320 pixels",
    "IMAGEWOOF": "images: 10 dog breeds from ImageNet",
    "IMDB": "text: 100,000 film reviews, 50,000 labelled positive or negative",
    "IMDB_SAMPLE": "text: 1,000 film reviews, positive or negative",
    "ML_100k": "collab: MovieLens, 100,000 ratings of 1,682 films by 943 users",
    "ML_SAMPLE": "collab: a sample of MovieLens ratings",
    "MNIST": "images: 70,000 handwritten digits",
    "MNIST_SAMPLE": "images: handwritten 3s and 7s",
    "MNIST_TINY": "images: a tiny set of handwritten 3s and 7s",
    "PASCAL_2007": "multi-label images and boxes: PASCAL VOC 2007, 20 classes",
    "PETS": "images: 37 breeds of cats and dogs (Oxford-IIIT Pet)",
    "PLANET_SAMPLE": "multi-label images: satellite tiles of the Amazon",
    "WIKITEXT": "text: WikiText-103, Wikipedia articles (103M words)",
    "WIKITEXT_TINY": "text: WikiText-2, Wikipedia articles (2M words)",
    "WT103_FWD": "weights: AWD-LSTM language model trained on WikiText-103",
    "WT103_BWD": "weights: the same language model, reading backwards",
}


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out=args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from .core import download

    urls, home = download.URLs, download.fastlearn_home()
    names = _dataset_names(urls)
    if args.name is None:
        width = max(map(len, names))
        print("Datasets (fastlearn datasets NAME downloads one and prints its folder):")
        for name in names:
            stem = download._archive_stem(getattr(urls, name).rsplit("/", 1)[-1])
            cached = "  [downloaded]" if (home / "data" / stem).is_dir() else ""
            print(f"  {name:<{width}}  {_DATASET_NOTES.get(name, getattr(urls, name))}{cached}")
        print(
            f"Cache: {home} (FASTLEARN_HOME). Offline, FASTLEARN_DATA_MIRROR names a folder "
            "or URL holding the archives."
        )
        return 0
    print(download.untar_data(_dataset_url(args.name, urls, names), force=args.force))
    return 0


def _dataset_names(urls: type) -> list[str]:
    """The names in URLs whose value is an archive's URL (not the S3 prefixes or tables)."""
    return sorted(
        n
        for n, v in vars(urls).items()
        if not n.startswith("_")
        and isinstance(v, str)
        and v.startswith(("http://", "https://"))
        and v.lower().endswith(_ARCHIVES)
    )


def _dataset_url(name: str, urls: type, names: list[str]) -> str:
    """A URLs name (any case) -> its URL; a URL or an archive's path as given."""
    by_upper = {n.upper(): n for n in names}
    if name.upper() in by_upper:
        return getattr(urls, by_upper[name.upper()])
    if "://" in name or name.lower().endswith(_ARCHIVES) or os.path.exists(name):
        return name
    close = difflib.get_close_matches(name.upper(), list(by_upper), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(by_upper[c] for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown dataset {name!r}.{hint} Expected a name listed by `fastlearn "
        f"datasets`, a URL or the path of an archive ({', '.join(_ARCHIVES)})."
    )


def _predict(args: argparse.Namespace) -> int:
    from .answers import fault_message, format_result
    from .core.export import load_learner
    from .inputs import Limits, input_spec, parse_cli_item

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
        answers.append(
            {
                "input": arg,
                **format_result(result, predictor.config, predictor.vocab, args.top_k, item=item),
            }
        )
    if args.json:
        print(json.dumps(answers, indent=2))
    else:
        _print_table(answers, paths=spec["kind"] == "image")
    return 0


def _print_table(answers: list[dict[str, Any]], *, paths: bool = False) -> None:
    """One line per input: the input, the prediction, the top classes with probabilities.

    Long inputs are cut to 40 characters: paths (`paths`) keep their end, the file name
    (`…/images/cat_12.jpg`); texts and JSON keep their start.
    """

    def short(x: Any, n: int = 40, keep_end: bool = False) -> str:
        text = x if isinstance(x, str) else f"{x:.4g}" if isinstance(x, float) else json.dumps(x)
        if len(text) <= n:
            return text
        return "…" + text[-(n - 1) :] if keep_end else text[: n - 1] + "…"

    classes, boxes = "top" in answers[0], "boxes" in answers[0]
    head = (
        "input",
        "prediction",
        "top classes" if classes else "boxes: label score (x0, y0, x1, y1)" if boxes else "",
    )
    rows = [
        (
            short(a["input"], keep_end=paths),
            f"{len(a['boxes'])} boxes" if boxes else short(a["label"]),
            _details(a),
        )
        for a in answers
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(2)]
    for r in [head, *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip())


def _details(answer: dict[str, Any]) -> str:
    """The table's last column: the top classes with probabilities, or a detector's boxes
    with scores and pixel corners."""
    if "boxes" in answer:
        return "  ".join(
            f"{b['label']} {b['score']:.2f} ({', '.join(map(str, b['box']))})"
            for b in answer["boxes"]
        )
    return "  ".join(f"{t['label']} {t['probability']:.3f}" for t in answer.get("top", []))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .serve import create_app

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    app = create_app(
        args.model,
        max_body=int(args.max_body_mb * 2**20),
        max_pixels=args.max_pixels,
        max_text=args.max_text,
        top_k=args.top_k,
    )
    print(f"Serving {args.model} at http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with an exported model (.fl) from the command line",
        description="Load a model written by learn.export() and predict each INPUT, which "
        "depends on the model: image paths for image models, texts for text models, JSON "
        'rows for tabular models (\'{"age": 39, "workclass": "Private"}\'), JSON '
        'pairs for collaborative filtering (\'["user_1", "item_9"]\'), JSON lists for '
        "tensor models. Prints a table, or JSON with --json.",
        epilog="example: fastlearn predict pets.fl cat.jpg dog.jpg --top-k 2",
    )
    p.add_argument("model", help="the exported model file (.fl)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image path, text or JSON")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per input (default: 3)")
    p.set_defaults(func=_predict)


def _add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve an exported model: a web page and a JSON API (uvicorn)",
        description="Serve a model written by learn.export(): GET / is a page fitted to the "
        "model's input (image upload, text box, one field per column, user and item), "
        "POST /predict takes an upload or JSON and answers JSON, GET /info describes the "
        'model, GET /health answers {"status": "ok"}. Needs fastlearn[serve].',
        epilog="example: fastlearn serve pets.fl --port 8000, then open http://127.0.0.1:8000/ "
        "or: curl -F file=@cat.jpg http://127.0.0.1:8000/predict",
    )
    p.add_argument("model", help="the exported model file (.fl)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: "
        "127.0.0.1, this machine only; 0.0.0.0 listens on every interface)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--max-body-mb", type=float, default=10.0, help="largest request body in MiB (default: 10)"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=50_000_000,
        help="largest image in pixels, width x height (default: 50,000,000)",
    )
    p.add_argument(
        "--max-text",
        type=int,
        default=100_000,
        help="longest text in characters (default: 100,000)",
    )
    p.add_argument("--top-k", type=int, default=5, help="classes per answer (default: 5)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads for inference (default: torch's choice)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: info)",
    )
    p.set_defaults(func=_serve)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="fastlearn",
        description="fastlearn: the fast.ai course's deep-learning workflow on plain PyTorch.",
        epilog="Run 'fastlearn COMMAND --help' for a command's options. Errors print one "
        "line; --debug (or FASTLEARN_DEBUG=1) shows their traceback.",
    )
    parser.add_argument("--version", action="version", version=f"fastlearn {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (or set FASTLEARN_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train a small CNN on bundled digits (under a minute)",
        description="Train a small CNN on scikit-learn's 8x8 digits: lr_find, "
        "fit_one_cycle, plots (loss, lr finder, confusion matrix) as PNG, "
        "save, reload and predict.",
    )
    demo.add_argument(
        "--out", default="demo_output", help="folder for plots and the model (default: demo_output)"
    )
    demo.add_argument("--epochs", type=int, default=6, help="training epochs (default: 6)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    demo.set_defaults(func=_demo)

    data = sub.add_parser(
        "datasets",
        help="list the course's datasets, or download one",
        description="Without NAME, list the course's datasets by name with "
        "what each holds. With NAME (e.g. PETS or ml_100k, in any case), a "
        "URL or an archive's path (.tgz, .zip...), download and extract it "
        "into the cache (FASTLEARN_HOME, default ~/.fastlearn) and print its "
        "folder.",
        epilog="example: fastlearn datasets mnist_tiny",
    )
    data.add_argument(
        "name", nargs="?", help="a dataset name such as ADULT_SAMPLE, a URL or an archive's path"
    )
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
    debug = args.debug or os.environ.get("FASTLEARN_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"fastlearn {args.command}: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as e:
        if debug:
            raise
        print(f"fastlearn {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    """The error's message on one line (a KeyError's without the quotes repr adds)."""
    if type(error).__str__ is KeyError.__str__ and len(error.args) == 1:
        text = str(error.args[0])
    else:
        text = str(error)
    return " ".join(text.split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
