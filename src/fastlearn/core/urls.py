"""The course's dataset URLs, the names a mirror may hold them under, and their checksums."""

from __future__ import annotations

__all__ = ["URLs"]

# name, size in bytes, sha256 of the course's sample archives as a mirror holds them
_SAMPLES = """\
adult_sample.tgz 434565 e593cc6007a6cb3e3c0d34719ed6ecec410bff2ac813d5d8c5a7719b52e7141c
ml-100k.zip 895340 6f2f2ca6638444afec59a1461d41f3474d0d8469f11981f4ed9c073a0ee9da64
imdb_sample.tgz 571813 eecbbefaaf9d0ad5baa86a397c0d4d8a35827cfd134841fc2b8de0fb03446899
wikitext-2.tgz 4070191 afb8b129830e35d2113dd55ac107d321da4415cec0212398fd8cb3deeddc08aa
mnist_sample.tgz 3199166 29d192ce6bd933afaed4abf05772dcffd36bc170d7be527885f60e0de33998a9
mnist_tiny.tgz 319545 fb6efb9d759d2486c5d8e7288820499e4e894dd4f3c72d6b5ee0bc118a43c9a9
oxford-iiit-pet-sample.tgz 58609813 fccc8518d77c99fbb58716e5077f354fa959f900bce6ca9d33c728942ebdd4de
camvid_tiny.tgz 2313718 d2c3ab5f9df65a7e2bdb9cf58eee1bd388f87f3626c6dbb7958792ffd276ed84
coco_tiny.tgz 800451 7516fc8f68586c6207223237ccf731e890d8301191f8e2f8596a0765e0224fd1
bike_sharing.tgz 285994 67bde4624d5cefa121c11c21004ceeaf18b8229d1301648b38b61c7e5cf5a308"""


class URLs:
    """The course's dataset URLs (fast.ai S3 names), mirror aliases and known checksums."""

    S3 = "https://s3.amazonaws.com/fast-ai-"
    SAMPLE = f"{S3}sample/"
    S3_IMAGE = f"{S3}imageclas/"
    S3_IMAGELOC = f"{S3}imagelocal/"
    S3_NLP = f"{S3}nlp/"
    S3_COCO = f"{S3}coco/"
    S3_MODEL = f"{S3}modelzoo/"

    # samples used throughout the course
    ADULT_SAMPLE = f"{SAMPLE}adult_sample.tgz"
    CAMVID_TINY = f"{SAMPLE}camvid_tiny.tgz"
    CIFAR = f"{SAMPLE}cifar10.tgz"
    COCO_TINY = f"{S3_COCO}coco_tiny.tgz"
    HUMAN_NUMBERS = f"{SAMPLE}human_numbers.tgz"
    IMDB_SAMPLE = f"{SAMPLE}imdb_sample.tgz"
    ML_SAMPLE = f"{SAMPLE}movie_lens_sample.tgz"
    MNIST_SAMPLE = f"{SAMPLE}mnist_sample.tgz"
    MNIST_TINY = f"{SAMPLE}mnist_tiny.tgz"
    PLANET_SAMPLE = f"{SAMPLE}planet_sample.tgz"

    # full datasets
    IMAGENETTE = f"{S3_IMAGE}imagenette2.tgz"
    IMAGENETTE_160 = f"{S3_IMAGE}imagenette2-160.tgz"
    IMAGENETTE_320 = f"{S3_IMAGE}imagenette2-320.tgz"
    IMAGEWOOF = f"{S3_IMAGE}imagewoof2.tgz"
    MNIST = f"{S3_IMAGE}mnist_png.tgz"
    PETS = f"{S3_IMAGE}oxford-iiit-pet.tgz"
    BIWI_HEAD_POSE = f"{S3_IMAGELOC}biwi_head_pose.tgz"
    CAMVID = f"{S3_IMAGELOC}camvid.tgz"
    PASCAL_2007 = f"{S3_IMAGELOC}pascal_2007.tgz"
    IMDB = f"{S3_NLP}imdb.tgz"
    WIKITEXT = f"{S3_NLP}wikitext-103.tgz"
    WIKITEXT_TINY = f"{S3_NLP}wikitext-2.tgz"
    ML_100k = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    BIKE = (
        "https://archive.ics.uci.edu/ml/machine-learning-databases/00275/Bike-Sharing-Dataset.zip"
    )

    # pretrained weights
    WT103_FWD = f"{S3_MODEL}wt103-fwd.tgz"
    WT103_BWD = f"{S3_MODEL}wt103-bwd.tgz"

    # Upstream file name -> other names to look for in FASTLEARN_DATA_MIRROR, in order.
    MIRROR_ALIASES: dict[str, tuple[str, ...]] = {
        "oxford-iiit-pet.tgz": ("oxford-iiit-pet-sample.tgz",),
        "Bike-Sharing-Dataset.zip": ("bike_sharing.tgz",),
    }
    # Mirror file name -> (size, sha256) of the course's sample archives: a file fetched from
    # FASTLEARN_DATA_MIRROR under one of these names is verified against it.
    CHECKSUMS: dict[str, tuple[int, str]] = {
        name: (int(size), sha) for name, size, sha in (row.split() for row in _SAMPLES.split("\n"))
    }
