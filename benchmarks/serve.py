"""Load test of `fastlearn serve`: 8 concurrent clients on 127.0.0.1, a bounded request count.

A resnet18 image classifier (random weights: speed does not depend on them) is exported and
served by `fastlearn serve` in its own process. Each client uploads the same 320x240 JPEG
(multipart, as a browser does) in a loop until the requests run out; the script reports
requests per second, p50/p99 latency and the error count (which must be zero). As the
reference for single-item latency, it times in-process loops over the same JPEG:
fastlearn's `predictor.predict` (what the server runs per request) and fastai 2.8's
`learn.predict` (in `.venv-fastai`, a subprocess; skipped with a note when absent).

    python benchmarks/serve.py [--requests 400] [--clients 8] [--size 224] [--threads 2]

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
    dls = ImageDataLoaders.from_folder(folder, item_tfms=Resize(size), bs=4, num_workers=0,
                                       device="cpu")
    learn = vision_learner(dls, "resnet18", pretrained=False, show_progress=False)
    return learn.export(folder / "model.fl")


# ------------------------------------------------------------------------- the load test
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fastlearn.cli", "serve", str(model), "--port", str(port),
           "--threads", str(threads), "--log-level", "warning"]
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


async def load_test(url: str, payload: bytes, requests: int, clients: int) -> dict:
    """`clients` connections posting the image until `requests` answers came back."""
    import httpx

    remaining, latencies, model_ms, errors, warmed = requests, [], [], [], 0
    ready = asyncio.Event()
    files = {"file": ("query.jpg", payload, "image/jpeg")}

    async def client_loop() -> None:
        nonlocal remaining, warmed
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            await client.post("/predict", files=files)  # warm-up, not counted
            warmed += 1
            if warmed == clients:
                ready.set()
            await ready.wait()
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    answer = await client.post("/predict", files=files)
                    ok = answer.status_code == 200 and "label" in answer.json()
                    error = f"{answer.status_code}: {answer.text[:200]}"
                    if ok:
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
    return {"wall_s": time.perf_counter() - start, "latencies": latencies, "errors": errors,
            "model_s": model_ms}


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
    result = subprocess.run([str(FASTAI_PYTHON), "-c", FASTAI_SCRIPT, str(folder), str(size),
                             str(n), str(threads), str(query)], capture_output=True, text=True,
                            timeout=1200)
    if result.returncode != 0:
        return f"fastai failed: {result.stderr.strip().splitlines()[-1:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- report
def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def row(name: str, times: list[float] | str, rps: float | None = None, errors: str = "") -> str:
    if isinstance(times, str):
        return f"{name:<40} skipped: {times}"
    rate = f"{rps:8.1f}" if rps is not None else f"{1 / statistics.median(times):8.1f}"
    return (f"{name:<40}{rate}{percentile(times, 50):9.1f}{percentile(times, 99):9.1f}"
            f"{errors:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="counted requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--size", type=int, default=224, help="model input size")
    parser.add_argument("--threads", type=int, default=2, help="torch threads everywhere")
    parser.add_argument("--loop", type=int, default=100, help="reference loop iterations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        query = make_folder(folder)
        model = export_model(folder, args.size)
        port = free_port()
        server = start_server(model, port, args.threads)
        try:
            result = asyncio.run(load_test(f"http://127.0.0.1:{port}", query.read_bytes(),
                                           args.requests, args.clients))
        finally:
            server.terminate()
            server.wait(timeout=30)
        ours = predictor_loop(model, query, args.loop, args.threads)
        theirs = fastai_loop(folder, args.size, query, args.loop, args.threads)
    lat, errors = result["latencies"], result["errors"]
    print(f"resnet18 at {args.size}x{args.size}, one 320x240 JPEG per request; torch threads "
          f"{args.threads}; {os.cpu_count()} CPU cores")
    print(f"{'':<40}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    print(row(f"fastlearn serve, {args.clients} clients, {len(lat) + len(errors)} req", lat,
              len(lat) / result["wall_s"], str(len(errors))))
    print(row("  its predict_batch time (server time_ms)", result["model_s"]))
    print(row("fastlearn predictor.predict loop", ours))
    print(row("fastai 2.8 learn.predict loop", theirs))
    if not isinstance(theirs, str):
        print(f"single-item latency, fastai / fastlearn (p50): "
              f"{statistics.median(theirs) / statistics.median(ours):.2f}x")
    if errors:
        print("errors:", *errors[:5], sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
