"""Chapter 7 (07_sizing_and_tta): training xresnet50 from scratch on Imagenette,
normalization, progressive resizing, test-time augmentation, Mixup and label smoothing.

The Imagenette-like folder (train/ and val/ with three wnid class folders) is built by a
fixture; 32 px crops instead of 224 (24 px instead of 128 for the first resizing stage), one
epoch and `bs=8` (the book's 64/128 exceed the 36 images).
"""

import pytest

from fastlearn.vision.all import *

pytestmark = pytest.mark.slow  # minutes of training on 2 CPU cores: run with -m slow


def get_image_files_sorted(path, recurse=True, folders=None):
    # a fastbook helper (not part of the library), as the book's utils define it
    return get_image_files(path, recurse, folders).sorted()


def _get_dls_factory(path):
    def get_dls(bs, size):
        dblock = DataBlock(blocks=(ImageBlock, CategoryBlock),
                           get_items=get_image_files,
                           get_y=parent_label,
                           item_tfms=Resize(48),
                           batch_tfms=[*aug_transforms(size=size, min_scale=0.75),
                                       Normalize.from_stats(*imagenet_stats)])
        return dblock.dataloaders(path, bs=bs)
    return get_dls


# --- Imagenette -----------------------------------------------------------------------------
def test_imagenette(imagenette_path):
    path = Path(imagenette_path)                    # untar_data(URLs.IMAGENETTE)
    dblock = DataBlock(blocks=(ImageBlock(), CategoryBlock()),
                       get_items=get_image_files,
                       get_y=parent_label,
                       item_tfms=Resize(48),
                       batch_tfms=aug_transforms(size=32, min_scale=0.75))
    dls = dblock.dataloaders(path, bs=8)
    assert dls.c == 3
    assert list(dls.vocab) == ['n01440764', 'n03028079', 'n03425413']

    model = xresnet50(n_out=dls.c)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    before = learn.validate()[0]
    learn.fit_one_cycle(1, 3e-3)
    assert len(learn.recorder.values) == 1
    assert learn.validate()[0] != before


# --- Normalization --------------------------------------------------------------------------
def test_normalization(imagenette_path):
    path = Path(imagenette_path)
    dblock = DataBlock(blocks=(ImageBlock(), CategoryBlock()),
                       get_items=get_image_files,
                       get_y=parent_label,
                       item_tfms=Resize(48),
                       batch_tfms=aug_transforms(size=32, min_scale=0.75))
    x, y = dblock.dataloaders(path, bs=8).one_batch()
    means, stds = x.mean(dim=[0, 2, 3]), x.std(dim=[0, 2, 3])
    assert tuple(means.shape) == (3,) and float(x.min()) >= 0 and float(x.max()) <= 1

    get_dls = _get_dls_factory(path)
    dls = get_dls(8, 32)
    x, y = dls.one_batch()
    assert tuple(x.shape) == (8, 3, 32, 32)
    assert float(x.min()) < 0                 # normalized with the ImageNet statistics
    assert imagenet_stats[0] == pytest.approx([0.485, 0.456, 0.406], abs=1e-3)

    model = xresnet50(n_out=dls.c)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    learn.fit_one_cycle(1, 3e-3)


# --- Progressive Resizing -------------------------------------------------------------------
def test_progressive_resizing(imagenette_path):
    get_dls = _get_dls_factory(imagenette_path)
    dls = get_dls(8, 24)
    learn = Learner(dls, xresnet50(n_out=dls.c), loss_func=CrossEntropyLossFlat(),
                    metrics=accuracy)
    learn.fit_one_cycle(1, 3e-3)

    learn.dls = get_dls(8, 32)
    assert tuple(learn.dls.one_batch()[0].shape[-2:]) == (32, 32)
    learn.fine_tune(1, 1e-3)
    assert len(learn.recorder.values) == 1


# --- Test Time Augmentation -----------------------------------------------------------------
def test_test_time_augmentation(imagenette_path):
    get_dls = _get_dls_factory(imagenette_path)
    dls = get_dls(8, 32)
    learn = Learner(dls, xresnet50(n_out=dls.c), loss_func=CrossEntropyLossFlat(),
                    metrics=accuracy)
    learn.fit_one_cycle(1, 3e-3)
    preds, targs = learn.tta()
    n_valid = len(dls.valid_ds)
    assert tuple(preds.shape) == (n_valid, 3) and tuple(targs.shape) == (n_valid,)
    acc = accuracy(preds, targs).item()
    assert isinstance(acc, float) and 0 <= acc <= 1


# --- Mixup ----------------------------------------------------------------------------------
def test_mixup(imagenette_path):
    path = Path(imagenette_path)
    church = PILImage.create(get_image_files_sorted(path/'train'/'n03028079')[0])
    gas = PILImage.create(get_image_files_sorted(path/'train'/'n03425413')[0])
    church = church.resize((256, 256))
    gas = gas.resize((256, 256))
    tchurch = tensor(church).float() / 255.
    tgas = tensor(gas).float() / 255.
    assert tuple(tchurch.shape) == (256, 256, 3)

    _, axs = plt.subplots(1, 3, figsize=(12, 4))
    show_image(tchurch, ax=axs[0])
    show_image(tgas, ax=axs[1])
    show_image((0.3*tchurch + 0.7*tgas), ax=axs[2])

    dls = _get_dls_factory(path)(8, 32)
    model = xresnet50(n_out=dls.c)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(),
                    metrics=accuracy, cbs=MixUp())
    learn.fit_one_cycle(1, 3e-3)
    assert len(learn.recorder.values) == 1


# --- Label Smoothing ------------------------------------------------------------------------
def test_label_smoothing(imagenette_path):
    dls = _get_dls_factory(imagenette_path)(8, 32)
    model = xresnet50(n_out=dls.c)
    learn = Learner(dls, model, loss_func=LabelSmoothingCrossEntropy(),
                    metrics=accuracy)
    learn.fit_one_cycle(1, 3e-3)
    assert len(learn.recorder.values) == 1

    # with a confident, correct prediction the smoothed loss stays above plain cross-entropy
    logits, targ = tensor([[10., 0., 0.]]), tensor([0])
    assert LabelSmoothingCrossEntropy()(logits, targ) > F.cross_entropy(logits, targ)
