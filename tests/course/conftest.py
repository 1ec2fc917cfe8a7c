"""Small on-disk data sets in the layouts the fast.ai course downloads with `untar_data`.

Each builder writes, under a tmp folder, the folder that the course's URL would unpack to
(pets, bears, MNIST sample, PASCAL-like multi-label CSV, BIWI-like head centres, CamVid-like
masks, Imagenette-like class folders, IMDb folders, MovieLens tables, the adult and bulldozers
CSVs), only much smaller, and with a signal a model can pick up in one epoch (class colour,
sentiment words, latent rating factors, price driven by year and size).

Tests wrap a fixture folder in the course's `Path` (`path = Path(pets_path)`), standing in for
the `Path` that `untar_data(URLs.X)` returns.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    """Fixed seeds so that the small-data assertions do not flicker between runs."""
    import random

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def _reset_base_path():
    """The course sets `Path.BASE_PATH` for shorter reprs; undo it after each test."""
    had = hasattr(Path, "BASE_PATH")
    old = getattr(Path, "BASE_PATH", None)
    yield
    if had:
        Path.BASE_PATH = old
    elif hasattr(Path, "BASE_PATH"):
        try:
            delattr(Path, "BASE_PATH")
        except AttributeError:
            pass


# ----------------------------------------------------------------------------- images

COLOURS = [(220, 40, 40), (40, 200, 60), (50, 70, 230), (230, 210, 40), (200, 60, 210),
           (40, 210, 210)]


def save_image(fn: Path, colour, size=(40, 32), seed: int = 0, mode: str = "RGB") -> Path:
    """A noisy image of one dominant colour (size is (w, h)); JPEG or PNG from the suffix."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.array(colour, dtype=np.float32)[None, None, :]
    arr = base + rng.normal(0, 18, size=(h, w, 3))
    arr = np.clip(arr, 15, 250).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if mode == "L":
        img = img.convert("L")
    fn.parent.mkdir(parents=True, exist_ok=True)
    img.save(fn)
    return fn


def image_bytes(fn: Path) -> bytes:
    return Path(fn).read_bytes()


PET_BREEDS = ["Abyssinian", "Bengal", "american_bulldog", "great_pyrenees"]


def build_pets(root: Path, n_per_breed: int = 10) -> Path:
    """URLs.PETS: images/{Breed}_{n}.jpg (cats capitalised) and an annotations folder."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    sizes = [(40, 32), (32, 40), (36, 36), (48, 32)]
    for b, breed in enumerate(PET_BREEDS):
        for i in range(n_per_breed):
            save_image(root / "images" / f"{breed}_{i + 1}.jpg", COLOURS[b],
                       size=sizes[i % len(sizes)], seed=100 * b + i)
    return root


BEAR_TYPES = ("grizzly", "black", "teddy")


def build_bears(root: Path, n_per_class: int = 10) -> Path:
    """The ch2 `bears` folder: one sub-folder per bear type, landscape images."""
    for c, bear in enumerate(BEAR_TYPES):
        for i in range(n_per_class):
            save_image(root / bear / f"{i:08d}.jpg", COLOURS[c], size=(48, 32), seed=10 * c + i)
    return root


def build_mnist_sample(root: Path, n_train: int = 40, n_valid: int = 10) -> Path:
    """URLs.MNIST_SAMPLE: train/{3,7}, valid/{3,7} of 28x28 grey PNGs, plus labels.csv."""
    rng = np.random.default_rng(0)
    rows = []

    def digit(kind: str) -> np.ndarray:
        a = np.zeros((28, 28))          # black background, as MNIST's
        if kind == "3":   # three horizontal bars and a right stroke
            for r in (5, 13, 21):
                a[r:r + 3, 8:20] = 200
            a[5:24, 18:21] = 200
        else:             # top bar and a diagonal
            a[5:8, 6:22] = 200
            for r in range(8, 24):
                c = 21 - (r - 8) // 2
                a[r, c - 1:c + 2] = 200
        a = np.where(a > 0, a + rng.normal(0, 25, size=a.shape), 0)
        a = np.roll(a, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
        return np.clip(a, 0, 255).astype(np.uint8)

    for split, n in (("train", n_train), ("valid", n_valid)):
        for kind in ("3", "7"):
            for i in range(n):
                fn = root / split / kind / f"{1000 * int(kind) + i}.png"
                fn.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(digit(kind), "L").save(fn)
                rows.append((f"{split}/{kind}/{fn.name}", int(kind == "7")))
    pd.DataFrame(rows, columns=["name", "label"]).to_csv(root / "labels.csv", index=False)
    return root


PASCAL_CLASSES = ["car", "cat", "dog", "person"]


def build_pascal(root: Path, n: int = 32) -> Path:
    """URLs.PASCAL_2007-like: train/*.jpg and train.csv with fname, labels, is_valid."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        k = 1 + (i % 2)
        labels = sorted(rng.choice(PASCAL_CLASSES, size=k, replace=False).tolist())
        colour = np.zeros(3)
        for lab in labels:
            colour += np.array(COLOURS[PASCAL_CLASSES.index(lab)])
        colour = np.clip(colour / len(labels), 0, 255)
        fname = f"{i:06d}.jpg"
        save_image(root / "train" / fname, tuple(colour), size=(40, 32), seed=i)
        rows.append((fname, " ".join(labels), i % 4 == 0))
    pd.DataFrame(rows, columns=["fname", "labels", "is_valid"]).to_csv(root / "train.csv",
                                                                       index=False)
    return root


def build_biwi(root: Path, folders=("01", "02", "13"), n_per_folder: int = 6) -> Path:
    """URLs.BIWI_HEAD_POSE-like: NN/frame_XXXXX_rgb.jpg with frame_XXXXX_pose.txt, 01/rgb.cal.

    The camera file gives fx=fy=40, cx=32, cy=24 for 64x48 images; each pose's translation
    puts the head centre at a known pixel, drawn as a bright square on the image.
    """
    rng = np.random.default_rng(2)
    cal = ["40 0 32", "0 40 24", "0 0 1"] + ["0 0 0"] * 3 + ["1 0 0", "0 1 0", "0 0 1"]
    for f in folders:
        d = root / f
        d.mkdir(parents=True, exist_ok=True)
        (d / "rgb.cal").write_text("\n".join(cal) + "\n")
        for i in range(n_per_folder):
            px, py = rng.uniform(20, 44), rng.uniform(16, 32)
            z = 1000.0
            x, y = (px - 32) * z / 40, (py - 24) * z / 40
            arr = np.clip(rng.normal(60, 10, size=(48, 64, 3)), 0, 255)
            arr[int(py) - 4:int(py) + 4, int(px) - 4:int(px) + 4] = 240
            stem = f"frame_{i:05d}_"
            Image.fromarray(arr.astype(np.uint8), "RGB").save(d / f"{stem}rgb.jpg")
            pose = ["1 0 0", "0 1 0", "0 0 1", f"{x:.3f} {y:.3f} {z:.3f}"]
            (d / f"{stem}pose.txt").write_text("\n".join(pose) + "\n")
    return root


CAMVID_CODES = ["Road", "Sky", "Car"]


def build_camvid(root: Path, n: int = 10, size=(32, 32)) -> Path:
    """URLs.CAMVID_TINY-like: images/*.png, labels/*_P.png (class indices), codes.txt."""
    rng = np.random.default_rng(3)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "codes.txt").write_text("\n".join(CAMVID_CODES) + "\n")
    w, h = size
    for i in range(n):
        mask = np.zeros((h, w), dtype=np.uint8)
        mask[: h // 2] = 1                      # sky on top
        cx = rng.integers(4, w - 12)
        mask[h // 2 + 2: h // 2 + 10, cx:cx + 8] = 2   # a car on the road
        img = np.zeros((h, w, 3), dtype=np.float32)
        img[mask == 0] = (90, 90, 90)
        img[mask == 1] = (120, 170, 240)
        img[mask == 2] = (220, 30, 30)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img, "RGB").save(root / "images" / f"seq_{i:05d}.png")
        Image.fromarray(mask, "L").save(root / "labels" / f"seq_{i:05d}_P.png")
    return root


IMAGENETTE_CLASSES = ("n01440764", "n03028079", "n03425413")


def build_imagenette(root: Path, n_train: int = 8, n_val: int = 4) -> Path:
    """URLs.IMAGENETTE-like: train/<wnid>/*.JPEG and val/<wnid>/*.JPEG."""
    for c, wnid in enumerate(IMAGENETTE_CLASSES):
        for split, n in (("train", n_train), ("val", n_val)):
            for i in range(n):
                save_image(root / split / wnid / f"{wnid}_{i}.JPEG", COLOURS[c],
                           size=(48, 40), seed=1000 * c + 10 * (split == "val") + i)
    return root


# ----------------------------------------------------------------------------- text

_POS = ["great", "wonderful", "loved", "brilliant", "superb"]
_NEG = ["awful", "terrible", "hated", "boring", "dreadful"]
_FILLER = ("the movie was a film with actors and a story that i watched on a night "
           "it had scenes music and some dialogue about people in the city").split()


def _review(rng, label: str | None, n_words: int = 80) -> str:
    words = list(rng.choice(_FILLER, size=n_words))
    signal = _POS if label == "pos" else _NEG if label == "neg" else _POS + _NEG
    for j in range(0, n_words, 8):
        words[j] = str(rng.choice(signal))
    words[0] = words[0].capitalize()
    text = " ".join(words)
    return text.replace(" night ", " night. The ", 1) + "."


def build_imdb(root: Path, n_train: int = 20, n_test: int = 8, n_unsup: int = 20) -> Path:
    """URLs.IMDB-like: train/{pos,neg}, test/{pos,neg}, unsup/ of .txt reviews."""
    rng = np.random.default_rng(4)
    for split, n in (("train", n_train), ("test", n_test)):
        for label in ("neg", "pos"):
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (d / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(_review(rng, label))
    d = root / "unsup"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n_unsup):
        (d / f"{i}_0.txt").write_text(_review(rng, None))
    return root


# ----------------------------------------------------------------------------- ratings

MOVIE_TITLES = [
    "Star Wars (1977)", "Silence of the Lambs, The (1991)", "Shawshank Redemption, The (1994)",
    "Children of the Corn: The Gathering (1996)", "Toy Story (1995)", "Fargo (1996)",
    "Contact (1997)", "Return of the Jedi (1983)", "Liar Liar (1997)", "Scream (1996)",
    "Titanic (1997)", "Casablanca (1942)", "Empire Strikes Back, The (1980)",
    "Lawnmower Man 2: Beyond Cyberspace (1996)", "Amélie (2001)",
]


def make_ratings(n_users: int = 40, n_per_user: int = 12, seed: int = 0) -> pd.DataFrame:
    """(user, movie, rating, timestamp) from two latent factors and per-movie biases.

    'Shawshank Redemption' has the highest bias, 'Children of the Corn' the lowest.
    """
    rng = np.random.default_rng(seed)
    n_movies = len(MOVIE_TITLES)
    uf, mf = rng.normal(size=(n_users, 2)), rng.normal(size=(n_movies, 2))
    bias = np.zeros(n_movies)
    bias[2], bias[3], bias[13] = 1.6, -2.0, -1.5
    rows = []
    for u in range(n_users):
        for m in rng.choice(n_movies, size=n_per_user, replace=False):
            r = 3.2 + bias[m] + 0.8 * uf[u] @ mf[m] + rng.normal(0, 0.3)
            rows.append((u + 1, int(m) + 1, int(np.clip(np.round(r), 1, 5)),
                         874965758 + len(rows)))
    return pd.DataFrame(rows, columns=["user", "movie", "rating", "timestamp"])


def build_ml_100k(root: Path) -> Path:
    """URLs.ML_100k-like: tab-separated u.data, pipe-separated latin-1 u.item."""
    root.mkdir(parents=True, exist_ok=True)
    make_ratings().to_csv(root / "u.data", sep="\t", header=False, index=False)
    lines = [f"{i + 1}|{t}|01-Jan-1995||http://example.invalid|0|0|1"
             for i, t in enumerate(MOVIE_TITLES)]
    (root / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return root


def build_ml_sample(root: Path) -> Path:
    """URLs.ML_SAMPLE-like: ratings.csv with userId, movieId, rating, timestamp."""
    root.mkdir(parents=True, exist_ok=True)
    df = make_ratings(seed=1)
    df.columns = ["userId", "movieId", "rating", "timestamp"]
    df.to_csv(root / "ratings.csv", index=False)
    return root


# ----------------------------------------------------------------------------- tabular

def build_adult(root: Path, n: int = 240) -> Path:
    """URLs.ADULT_SAMPLE-like adult.csv; salary follows age and education-num."""
    rng = np.random.default_rng(5)
    root.mkdir(parents=True, exist_ok=True)
    age = rng.integers(18, 70, size=n)
    edu_num = rng.integers(1, 16, size=n)
    score = (age - 40) / 10 + (edu_num - 8) / 3 + rng.normal(0, 0.5, size=n)
    df = pd.DataFrame({
        "age": age,
        "workclass": rng.choice([" Private", " Self-emp-inc", " State-gov"], size=n),
        "fnlwgt": rng.integers(20000, 400000, size=n),
        "education": rng.choice([" HS-grad", " Bachelors", " Masters", " Some-college"], size=n),
        "education-num": edu_num.astype(float),
        "marital-status": rng.choice([" Married-civ-spouse", " Never-married", " Divorced"],
                                     size=n),
        "occupation": rng.choice([" Exec-managerial", " Sales", " Craft-repair", None], size=n),
        "relationship": rng.choice([" Husband", " Wife", " Not-in-family"], size=n),
        "race": rng.choice([" White", " Black", " Asian-Pac-Islander"], size=n),
        "sex": rng.choice([" Male", " Female"], size=n),
        "capital-gain": 0, "capital-loss": 0, "hours-per-week": rng.integers(20, 60, size=n),
        "native-country": " United-States",
        "salary": np.where(score > 0, ">=50k", "<50k"),
    })
    df.loc[rng.choice(n, size=10, replace=False), "education-num"] = np.nan
    df.to_csv(root / "adult.csv", index=False)
    return root


PRODUCT_SIZES = ("Large", "Large / Medium", "Medium", "Small", "Mini", "Compact")


def _bulldozer_frame(rng, n: int, with_price: bool) -> pd.DataFrame:
    year = rng.integers(1965, 2010, size=n)
    year[rng.choice(n, size=max(1, n // 20), replace=False)] = 1000   # the dataset's outliers
    size = rng.choice(list(PRODUCT_SIZES) + [None], size=n)
    start = pd.Timestamp("2005-01-01").value // 10**9
    end = pd.Timestamp("2012-04-30").value // 10**9
    dates = pd.to_datetime(rng.integers(start, end, size=n), unit="s").normalize()
    model_desc = rng.choice(["520H", "950F", "D6R", "310G", "PC200", "416C", "580K"], size=n)
    group = rng.choice(["WL", "TEX", "SSL", "BL"], size=n)
    df = pd.DataFrame({
        "SalesID": np.arange(1139246, 1139246 + n),
        "MachineID": rng.integers(1000000, 1100000, size=n),
        "ModelID": rng.integers(3000, 3030, size=n),
        "datasource": 121,
        "auctioneerID": rng.choice([1.0, 2.0, 3.0, np.nan], size=n),
        "YearMade": year,
        "MachineHoursCurrentMeter": rng.choice([0.0, 1500.0, 3200.0, np.nan], size=n),
        "UsageBand": rng.choice(["Low", "Medium", "High", None], size=n),
        "saledate": dates.strftime("%m/%d/%Y 0:00"),
        "fiModelDesc": model_desc,
        "fiBaseModel": [m[:3] for m in model_desc],
        "fiSecondaryDesc": rng.choice(["A", "B", "C", None], size=n),
        "fiModelDescriptor": rng.choice(["II", "LC", None], size=n),
        "ProductSize": size,
        "fiProductClassDesc": rng.choice(["Wheel Loader - 110.0 to 120.0 Horsepower",
                                          "Track Type Tractor, Dozer - 20.0 to 75.0 Horsepower"],
                                         size=n),
        "state": rng.choice(["Alabama", "Texas", "Ohio", "Florida", "California"], size=n),
        "ProductGroup": group,
        "ProductGroupDesc": [{"WL": "Wheel Loader", "TEX": "Track Excavators",
                              "SSL": "Skid Steer Loaders", "BL": "Backhoe Loaders"}[g]
                             for g in group],
        "Drive_System": rng.choice(["Two Wheel Drive", "Four Wheel Drive", None], size=n),
        "Enclosure": rng.choice(["OROPS", "EROPS", "EROPS w AC", None], size=n),
        "Hydraulics_Flow": rng.choice(["Standard", "High Flow", None], size=n),
        "Grouser_Tracks": rng.choice(["None or Unspecified", "Yes", None], size=n),
        "Coupler_System": rng.choice(["None or Unspecified", "Yes", None], size=n),
    })
    if with_price:
        eff_year = np.where(year < 1900, 1985, year)
        size_eff = np.array([{"Large": 0.6, "Large / Medium": 0.4, "Medium": 0.2, "Small": -0.1,
                              "Mini": -0.4, "Compact": -0.3}.get(s, 0.0) for s in size])
        log_price = 9.8 + 0.025 * (eff_year - 1990) + size_eff + rng.normal(0, 0.08, size=n)
        df.insert(1, "SalePrice", np.round(np.exp(log_price)))
    return df


def build_bulldozers(root: Path, n: int = 400, n_test: int = 40) -> Path:
    """The bluebook-for-bulldozers Kaggle folder: TrainAndValid.csv and Test.csv."""
    rng = np.random.default_rng(6)
    root.mkdir(parents=True, exist_ok=True)
    _bulldozer_frame(rng, n, True).to_csv(root / "TrainAndValid.csv", index=False)
    _bulldozer_frame(rng, n_test, False).to_csv(root / "Test.csv", index=False)
    return root


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def pets_path(tmp_path_factory):
    return build_pets(tmp_path_factory.mktemp("data") / "oxford-iiit-pet")


@pytest.fixture(scope="session")
def bears_path(tmp_path_factory):
    return build_bears(tmp_path_factory.mktemp("data") / "bears")


@pytest.fixture(scope="session")
def mnist_path(tmp_path_factory):
    return build_mnist_sample(tmp_path_factory.mktemp("data") / "mnist_sample")


@pytest.fixture(scope="session")
def pascal_path(tmp_path_factory):
    return build_pascal(tmp_path_factory.mktemp("data") / "pascal_2007")


@pytest.fixture(scope="session")
def biwi_path(tmp_path_factory):
    return build_biwi(tmp_path_factory.mktemp("data") / "biwi_head_pose")


@pytest.fixture(scope="session")
def camvid_path(tmp_path_factory):
    return build_camvid(tmp_path_factory.mktemp("data") / "camvid_tiny")


@pytest.fixture(scope="session")
def imagenette_path(tmp_path_factory):
    return build_imagenette(tmp_path_factory.mktemp("data") / "imagenette2")


@pytest.fixture
def imdb_path(tmp_path):
    # per test: the text API writes tokenized copies and models/ next to the data
    return build_imdb(tmp_path / "imdb")


@pytest.fixture(scope="session")
def ml_100k_path(tmp_path_factory):
    return build_ml_100k(tmp_path_factory.mktemp("data") / "ml-100k")


@pytest.fixture(scope="session")
def ml_sample_path(tmp_path_factory):
    return build_ml_sample(tmp_path_factory.mktemp("data") / "movie_lens_sample")


@pytest.fixture(scope="session")
def adult_path(tmp_path_factory):
    return build_adult(tmp_path_factory.mktemp("data") / "adult_sample")


@pytest.fixture(scope="session")
def bulldozers_path(tmp_path_factory):
    return build_bulldozers(tmp_path_factory.mktemp("data") / "bluebook-for-bulldozers")


# ----------------------------------------------------------------------------- live report

def pytest_runtest_logreport(report):
    """With COURSE_REPORT=<file>, append each failing course call as it happens (one line:
    test, the test-file line, the error), so a long run can be read before it ends."""
    import os

    out = os.environ.get("COURSE_REPORT")
    if not out or report.passed or (report.when != "call" and not report.failed):
        return
    kind = "skipped" if report.skipped else f"failed ({report.when})"
    where, msg = "", ""
    tb = getattr(report.longrepr, "reprtraceback", None)
    if tb is not None:
        entries = [e for e in tb.reprentries
                   if getattr(e, "reprfileloc", None) and "tests/course/" in e.reprfileloc.path]
        if entries:
            loc = entries[-1].reprfileloc
            where = f"{Path(loc.path).name}:{loc.lineno}"
        crash = getattr(report.longrepr, "reprcrash", None)
        msg = crash.message.splitlines()[0] if crash else ""
    else:
        msg = str(report.longrepr).splitlines()[-1] if report.longrepr else ""
    with open(out, "a") as f:
        f.write(f"{report.nodeid}\t{kind}\t{where}\t{msg[:200]}\t{report.duration:.1f}s\n")
