"""Chapter 2 (02_production): bears DataBlock, resizing and augmentation, training,
interpretation, export and inference, as the book writes them.

Offline and tiny: the `bears` folder is built by a fixture (the book downloads it with an image
search), images are 32 px instead of 128/224, one epoch, `pretrained=False` (no weight
download here), and `bs=8` because the book's default of 64 exceeds the 24 training images.
The ipywidgets app and ImageClassifierCleaner need a notebook front end and are left out.
"""


import pytest

from fastlearn.vision.all import *

pytestmark = pytest.mark.slow  # minutes of training on 2 CPU cores: run with -m slow


def _bears(bears_path):
    bears = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=get_image_files,
        splitter=RandomSplitter(valid_pct=0.2, seed=42),
        get_y=parent_label,
        item_tfms=Resize(32))
    return bears


# --- Gathering Data -------------------------------------------------------------------------
def test_gathering_data_verify_images(tmp_path, bears_path):
    import shutil
    path = Path(tmp_path) / 'bears'
    shutil.copytree(bears_path, path)
    (path / 'grizzly' / 'broken.jpg').write_bytes(b'not really a jpeg')

    fns = get_image_files(path)
    assert len(fns) == 31
    failed = verify_images(fns)
    assert len(failed) == 1 and Path(failed[0]).name == 'broken.jpg'
    failed.map(Path.unlink)
    assert len(get_image_files(path)) == 30


# --- From Data to DataLoaders ---------------------------------------------------------------
def test_from_data_to_dataloaders(bears_path):
    path = Path(bears_path)
    bears = _bears(path)
    dls = bears.dataloaders(path, bs=8)
    assert list(dls.vocab) == ['black', 'grizzly', 'teddy']
    assert len(dls.train_ds) == 24 and len(dls.valid_ds) == 6
    xb, yb = dls.valid.one_batch()
    assert tuple(xb.shape) == (6, 3, 32, 32)
    dls.valid.show_batch(max_n=4, nrows=1)

    # squish keeps the whole landscape image: no blank rows
    bears = bears.new(item_tfms=Resize(32, ResizeMethod.Squish))
    dls = bears.dataloaders(path, bs=8)
    xb, _ = dls.valid.one_batch()
    assert tuple(xb.shape[-2:]) == (32, 32)
    assert float(xb[:, :, 0, :].max()) > 0
    dls.valid.show_batch(max_n=4, nrows=1)

    # padding a 48x32 image to a square adds zero rows at top and bottom
    bears = bears.new(item_tfms=Resize(32, ResizeMethod.Pad, pad_mode='zeros'))
    dls = bears.dataloaders(path, bs=8)
    xb, _ = dls.valid.one_batch()
    assert tuple(xb.shape[-2:]) == (32, 32)
    assert float(xb[:, :, 0, :].abs().max()) == 0
    dls.valid.show_batch(max_n=4, nrows=1)

    bears = bears.new(item_tfms=RandomResizedCrop(32, min_scale=0.3))
    dls = bears.dataloaders(path, bs=8)
    xb, _ = dls.train.one_batch()
    assert tuple(xb.shape) == (8, 3, 32, 32)
    dls.train.show_batch(max_n=4, nrows=1, unique=True)


# --- Data Augmentation ----------------------------------------------------------------------
def test_data_augmentation(bears_path):
    path = Path(bears_path)
    bears = _bears(path)
    bears = bears.new(item_tfms=Resize(32), batch_tfms=aug_transforms(mult=2))
    dls = bears.dataloaders(path, bs=8)
    xb, yb = dls.train.one_batch()
    assert tuple(xb.shape) == (8, 3, 32, 32) and tuple(yb.shape) == (8,)
    dls.train.show_batch(max_n=8, nrows=2, unique=True)


# --- Training Your Model, and Using It to Clean Your Data -----------------------------------
def test_training_and_interpretation(bears_path):
    path = Path(bears_path)
    bears = _bears(path)
    bears = bears.new(
        item_tfms=RandomResizedCrop(32, min_scale=0.5),
        batch_tfms=aug_transforms())
    dls = bears.dataloaders(path, bs=8)

    learn = vision_learner(dls, resnet18, metrics=error_rate, pretrained=False)
    learn.fine_tune(1)

    interp = ClassificationInterpretation.from_learner(learn)
    interp.plot_confusion_matrix()
    cm = interp.confusion_matrix()
    assert tuple(cm.shape) == (3, 3) and int(cm.sum()) == 6
    interp.plot_top_losses(5, nrows=1)
    mc = interp.most_confused()
    assert isinstance(mc, list)
    assert all(isinstance(t, tuple) and len(t) == 3 for t in mc)


# --- Turning Your Model into an Online Application: Using the Model for Inference ---------
def test_export_and_inference(bears_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = Path(bears_path)
    dls = _bears(path).dataloaders(path, bs=8)
    learn = vision_learner(dls, resnet18, metrics=error_rate, pretrained=False)
    learn.fine_tune(1)

    learn.export()
    path = Path()
    # Documented difference: the export is the safe export.fl (no pickle); load_learner given
    # the book's export.pkl finds it.
    assert list(path.ls(file_exts='.fl')) == [Path('export.fl')]
    assert list(path.ls(file_exts='.pkl')) == []
    learn_inf = load_learner(path/'export.pkl')

    pred, pred_idx, probs = learn_inf.predict(str(bears_path/'grizzly'/'00000000.jpg'))
    assert pred in ('black', 'grizzly', 'teddy')
    assert list(learn_inf.dls.vocab) == ['black', 'grizzly', 'teddy']
    assert learn_inf.dls.vocab[int(pred_idx)] == pred
    assert probs.shape == (3,)


# --- Creating a Notebook App from the Model (the parts without widgets) --------------------
def test_notebook_app_logic(bears_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dls = _bears(bears_path).dataloaders(bears_path, bs=8)
    learn = vision_learner(dls, resnet18, metrics=error_rate, pretrained=False)
    learn.export()
    learn_inf = load_learner(Path()/'export.pkl')

    # btn_upload.data[-1] holds the uploaded file's bytes
    data = [(bears_path/'teddy'/'00000003.jpg').read_bytes()]
    img = PILImage.create(data[-1])
    thumb = img.to_thumb(128, 128)
    assert max(thumb.size) <= 128
    pred, pred_idx, probs = learn_inf.predict(img)
    value = f'Prediction: {pred}; Probability: {probs[pred_idx]:.04f}'
    assert value.startswith('Prediction: ') and pred in value
