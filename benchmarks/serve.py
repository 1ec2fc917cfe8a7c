"""Load test of `fastlearn serve`: 8 concurrent clients on 127.0.0.1, a bounded request count.

A resnet18 image classifier (random weights: speed does not depend on them) is exported and
served by `fastlearn serve` in its own process. Each client uploads the same 320x240 JPEG
(multipart, as a browser does) in a loop until the requests run out; the script reports
requests per second, p50/p99 latency and the error count (which must be zero). As the
reference for single-item latency, it times in-process loops over the same JPEG:
fastlearn's `predictor.predict` (what the server runs per request) and fastai 2.8's
`learn.predict` (in `.venv-fastai`, a subprocess; skipped with a note when absent).

    python benchmarks/serve.py [--requests 400] [--clients 8] [--size 224] [--threads 2]

`--app tabular` serves a tabular classifier on the course's Adult setup instead (6
categorical + 3 continuous columns, layers [200, 100]; random weights unless `--epochs`):
each client posts the first `--rows` rows of adult.csv as JSON (`{"row": {...}}`) in turn,
and the references are loops over the same rows: fastlearn's `predictor.predict(row)` and
`learn.predict(row)`, and fastai 2.8's tabular `learn.predict(df.iloc[i])` (fastai's tabular
module runs in `.venv-fastai`; its vision module needs torchvision, absent there).

    python benchmarks/serve.py --app tabular --requests 2000 --threads 1

The server, the clients and the reference loops share this machine's cores: the load test's
latency includes queueing (predictions run one at a time) and the clients' own CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FASTAI_PYTHON = ROOT / ".venv-fastai" / "bin" / "python"


# ------------------------------------------------------------------------- data and model
def photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth gradient with noise: compresses like a photo, not like flat colour."""
    rng = np.random.default_rng(seed)
    w, h = size
    x, y = np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))
    base = np.stack([x, y, (x + y) / 2], axis=-1) * rng.uniform(80, 200, 3)
    arr = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def make_folder(folder: Path) -> Path:
    """train/ and valid/ with two classes of JPEGs, and the query image."""
    seed = 0
    for split, n in (("train", 4), ("valid", 2)):
        for label in ("a", "b"):
            (folder / split / label).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                seed += 1
                photo(seed).save(folder / split / label / f"{i}.jpg")
    query = folder / "query.jpg"
    photo(12345).save(query, quality=90)
    return query


def export_model(folder: Path, size: int) -> Path:
    from fastlearn import set_seed
    from fastlearn.vision.augment import Resize
    from fastlearn.vision.data import ImageDataLoaders
    from fastlearn.vision.learner import vision_learner

    set_seed(0)
    dls = ImageDataLoaders.from_folder(
        folder, item_tfms=Resize(size), bs=4, num_workers=0, device="cpu"
    )
    learn = vision_learner(dls, "resnet18", pretrained=False, show_progress=False)
    return learn.export(folder / "model.fl")


# ------------------------------------------------------------------------- the load test
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, threads: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "fastlearn.cli",
        "serve",
        str(model),
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"The server exited with code {server.returncode}: {' '.join(cmd)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    sys.exit("The server did not answer /health within 120 s.")


def image_request(payload: bytes):
    """Each request uploads the JPEG as multipart, as a browser does."""
    files = {"file": ("query.jpg", payload, "image/jpeg")}
    return lambda client, i: client.post("/predict", files=files)


def row_request(rows: list[dict]):
    """Request i posts row i (mod the number of rows) as JSON."""
    return lambda client, i: client.post("/predict", json={"row": rows[i % len(rows)]})


def health_request():
    """GET /health: the server's HTTP floor (no body to parse, no model)."""
    return lambda client, i: client.get("/health")


async def load_test(url: str, send, requests: int, clients: int) -> dict:
    """`clients` connections sending `send(client, i)` until `requests` answers came back."""
    import httpx

    remaining, latencies, model_ms, errors, warmed = requests, [], [], [], 0
    ready = asyncio.Event()

    async def client_loop() -> None:
        nonlocal remaining, warmed
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            await send(client, 0)  # warm-up, not counted
            warmed += 1
            if warmed == clients:
                ready.set()
            await ready.wait()
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    answer = await send(client, remaining)
                    ok = answer.status_code == 200 and (
                        "label" in answer.json() or answer.url.path == "/health"
                    )
                    error = f"{answer.status_code}: {answer.text[:200]}"
                    if ok and "time_ms" in answer.json():
                        model_ms.append(answer.json()["time_ms"] / 1000)
                except httpx.HTTPError as e:
                    ok, error = False, repr(e)[:200]
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors.append(error)

    tasks = [asyncio.create_task(client_loop()) for _ in range(clients)]
    await ready.wait()
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    return {
        "wall_s": time.perf_counter() - start,
        "latencies": latencies,
        "errors": errors,
        "model_s": model_ms,
    }


# ------------------------------------------------------------------------- reference loops
def predictor_loop(model: Path, query: Path, n: int, threads: int) -> list[float]:
    import torch

    from fastlearn.core.export import load_learner

    torch.set_num_threads(threads)
    predictor = load_learner(model)
    data = query.read_bytes()  # as the server gets it
    for _ in range(3):
        predictor.predict(data)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        predictor.predict(data)
        times.append(time.perf_counter() - start)
    return times


FASTAI_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from fastai.vision.all import ImageDataLoaders, Resize, resnet18, vision_learner
folder, size, n, threads, query = sys.argv[1:6]
torch.set_num_threads(int(threads))
dls = ImageDataLoaders.from_folder(folder, train="train", valid="valid",
                                   item_tfms=Resize(int(size)), bs=4, num_workers=0)
learn = vision_learner(dls, resnet18, pretrained=False)
for _ in range(3):
    learn.predict(query)
times = []
for _ in range(int(n)):
    start = time.perf_counter()
    learn.predict(query)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def fastai_loop(folder: Path, size: int, query: Path, n: int, threads: int) -> list[float] | str:
    if not FASTAI_PYTHON.exists():
        return "no .venv-fastai (bash benchmarks/setup_fastai_env.sh)"
    result = subprocess.run(
        [
            str(FASTAI_PYTHON),
            "-c",
            FASTAI_SCRIPT,
            str(folder),
            str(size),
            str(n),
            str(threads),
            str(query),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if result.returncode != 0:
        return f"fastai failed: {result.stderr.strip().splitlines()[-1:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- tabular (Adult)
def adult_setup():
    """(adult.csv, SETUP, CAT_NAMES, CONT_NAMES) of benchmarks/tabular.py (the course setup)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_tabular", Path(__file__).with_name("tabular.py")
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.adult_csv(None), bench.SETUP, bench.CAT_NAMES, bench.CONT_NAMES


def export_tabular(folder: Path, csv: Path, setup: dict, epochs: int):
    """(model file, learner): a tabular_learner on Adult, trained `epochs`, exported."""
    from fastlearn import set_seed
    from fastlearn.tabular import TabularDataLoaders, tabular_learner

    dls = TabularDataLoaders.from_csv(csv, device="cpu", **setup)
    set_seed(0)
    learn = tabular_learner(dls, show_progress=False)
    if epochs:
        learn.fit_one_cycle(epochs, 1e-2)
    return learn.export(folder / "model.fl"), learn


def adult_rows(csv: Path, columns: list[str], n: int) -> list[dict]:
    """The first `n` rows as a JSON client sends them (the model's columns; NaN -> null)."""
    import pandas as pd

    df = pd.read_csv(csv, skipinitialspace=True).head(n)[columns]
    return json.loads(df.to_json(orient="records"))


def timed_loop(predict, items: list, n: int) -> list[float]:
    """Seconds of each of `n` calls `predict(items[i % len(items)])`, after 3 warm-ups."""
    for i in range(3):
        predict(items[i % len(items)])
    times = []
    for i in range(n):
        item = items[i % len(items)]
        start = time.perf_counter()
        predict(item)
        times.append(time.perf_counter() - start)
    return times


FASTAI_TABULAR_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import torch
from fastai.tabular.all import (Categorify, FillMissing, Normalize, TabularDataLoaders,
                                set_seed, tabular_learner)
csv, n_rows, n, threads, epochs = sys.argv[1], *map(int, sys.argv[2:6])
cat_names, cont_names = json.loads(sys.argv[6])
torch.set_num_threads(threads)
dls = TabularDataLoaders.from_csv(csv, y_names="salary", cat_names=cat_names,
    cont_names=cont_names, procs=[Categorify, FillMissing, Normalize], seed=42, bs=64,
    device="cpu")
set_seed(0)
learn = tabular_learner(dls)
if epochs:
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, 1e-2)
df = pd.read_csv(csv, skipinitialspace=True).head(n_rows)
rows = [df.iloc[i] for i in range(len(df))]
times = []
with learn.no_bar(), learn.no_logging():
    for i in range(3):
        learn.predict(rows[i % len(rows)])
    for i in range(n):
        row = rows[i % len(rows)]
        start = time.perf_counter()
        learn.predict(row)
        times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def fastai_tabular_loop(
    csv: Path, names: list, n_rows: int, n: int, threads: int, epochs: int
) -> list[float] | str:
    if not FASTAI_PYTHON.exists():
        return "no .venv-fastai (bash benchmarks/setup_fastai_env.sh)"
    result = subprocess.run(
        [
            str(FASTAI_PYTHON),
            "-c",
            FASTAI_TABULAR_SCRIPT,
            str(csv),
            str(n_rows),
            str(n),
            str(threads),
            str(epochs),
            json.dumps(names),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if result.returncode != 0:
        return f"fastai failed: {result.stderr.strip().splitlines()[-1:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def main_tabular(args: argparse.Namespace) -> None:
    import torch

    from fastlearn.core.export import load_learner

    torch.set_num_threads(args.threads)
    csv, setup, cat_names, cont_names = adult_setup()
    rows = adult_rows(csv, cat_names + cont_names, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        model, learn = export_tabular(Path(tmp), csv, setup, args.epochs)
        port = free_port()
        server = start_server(model, port, args.threads)
        try:
            result = asyncio.run(
                load_test(
                    f"http://127.0.0.1:{port}", row_request(rows), args.requests, args.clients
                )
            )
            floor = asyncio.run(
                load_test(f"http://127.0.0.1:{port}", health_request(), args.requests, args.clients)
            )
            alone = asyncio.run(
                load_test(f"http://127.0.0.1:{port}", row_request(rows), min(args.requests, 300), 1)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        predictor = load_learner(model)
        same = all(torch.equal(predictor.predict(r)[2], learn.predict(r)[2]) for r in rows[:50])
        ours = timed_loop(predictor.predict, rows, args.loop)
        ours_learn = timed_loop(learn.predict, rows, args.loop)
    theirs = fastai_tabular_loop(
        csv, [cat_names, cont_names], args.rows, args.loop, args.threads, args.epochs
    )
    lat, errors = result["latencies"], result["errors"]
    print(
        f"Adult tabular_learner (layers [200, 100], {args.epochs} epochs), JSON rows cycling "
        f"over {len(rows)} rows of adult.csv; torch threads {args.threads}; "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"predictor.predict == learn.predict bit for bit on 50 rows: {same}")
    print(f"{'':<40}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    print(
        row(
            f"fastlearn serve, {args.clients} clients, {len(lat) + len(errors)} req",
            lat,
            len(lat) / result["wall_s"],
            str(len(errors)),
        )
    )
    print(row("  its predict_batch time (server time_ms)", result["model_s"]))
    print(
        row(
            f"same server, GET /health, {args.clients} clients",
            floor["latencies"],
            len(floor["latencies"]) / floor["wall_s"],
            str(len(floor["errors"])),
        )
    )
    print(
        row(
            f"fastlearn serve, 1 client, {len(alone['latencies'])} req",
            alone["latencies"],
            len(alone["latencies"]) / alone["wall_s"],
            str(len(alone["errors"])),
        )
    )
    print(row("fastlearn predictor.predict loop", ours))
    print(row("fastlearn learn.predict loop", ours_learn))
    print(row("fastai 2.8 learn.predict loop", theirs))
    p50 = statistics.median(ours)
    if not isinstance(theirs, str):
        print(
            f"single-item latency p50, fastai learn.predict / fastlearn predictor.predict: "
            f"{statistics.median(theirs) / p50:.1f}x"
        )
    if not isinstance(theirs, str):
        print(
            f"fastai learn.predict p50 / served p50: 8 clients "
            f"{statistics.median(theirs) / statistics.median(lat):.2f}x, 1 client "
            f"{statistics.median(theirs) / statistics.median(alone['latencies']):.1f}x"
        )
    print(
        f"served p50 / predictor.predict p50: 8 clients {statistics.median(lat) / p50:.0f}x, "
        f"1 client {statistics.median(alone['latencies']) / p50:.0f}x"
    )
    errors += floor["errors"] + alone["errors"]
    if errors:
        print("errors:", *errors[:5], sep="\n  ")
        sys.exit(1)


# ------------------------------------------------------------------------- report
def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def row(name: str, times: list[float] | str, rps: float | None = None, errors: str = "") -> str:
    if isinstance(times, str):
        return f"{name:<40} skipped: {times}"
    rate = f"{rps:8.1f}" if rps is not None else f"{1 / statistics.median(times):8.1f}"
    return f"{name:<40}{rate}{percentile(times, 50):9.1f}{percentile(times, 99):9.1f}{errors:>8}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="counted requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--size", type=int, default=224, help="model input size")
    parser.add_argument("--threads", type=int, default=2, help="torch threads everywhere")
    parser.add_argument("--loop", type=int, default=100, help="reference loop iterations")
    parser.add_argument(
        "--app",
        choices=["image", "tabular"],
        default="image",
        help="the served model: resnet18 on a JPEG, or Adult rows as JSON",
    )
    parser.add_argument("--rows", type=int, default=200, help="tabular: distinct Adult rows")
    parser.add_argument("--epochs", type=int, default=0, help="tabular: training epochs")
    args = parser.parse_args()
    if args.app == "tabular":
        main_tabular(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        query = make_folder(folder)
        model = export_model(folder, args.size)
        port = free_port()
        server = start_server(model, port, args.threads)
        try:
            result = asyncio.run(
                load_test(
                    f"http://127.0.0.1:{port}",
                    image_request(query.read_bytes()),
                    args.requests,
                    args.clients,
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        ours = predictor_loop(model, query, args.loop, args.threads)
        theirs = fastai_loop(folder, args.size, query, args.loop, args.threads)
    lat, errors = result["latencies"], result["errors"]
    print(
        f"resnet18 at {args.size}x{args.size}, one 320x240 JPEG per request; torch threads "
        f"{args.threads}; {os.cpu_count()} CPU cores"
    )
    print(f"{'':<40}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    print(
        row(
            f"fastlearn serve, {args.clients} clients, {len(lat) + len(errors)} req",
            lat,
            len(lat) / result["wall_s"],
            str(len(errors)),
        )
    )
    print(row("  its predict_batch time (server time_ms)", result["model_s"]))
    print(row("fastlearn predictor.predict loop", ours))
    print(row("fastai 2.8 learn.predict loop", theirs))
    if not isinstance(theirs, str):
        print(
            f"single-item latency, fastai / fastlearn (p50): "
            f"{statistics.median(theirs) / statistics.median(ours):.2f}x"
        )
    if errors:
        print("errors:", *errors[:5], sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
