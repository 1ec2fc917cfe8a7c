import pytest

"""Chapter 6 (06_multicat): multi-label classification from a CSV with the DataBlock API,
binary cross-entropy and `accuracy_multi`, then image regression with `PointBlock`.

The PASCAL_2007-like folder (train/*.jpg, train.csv with fname, labels, is_valid) and the
BIWI-like folders (NN/frame_*_rgb.jpg, frame_*_pose.txt, 01/rgb.cal) are built by fixtures.
Images are 32 px (64x48 for BIWI), one epoch, `pretrained=False` (no weight download here),
`bs=8` where the book's default of 64 exceeds the tiny training set. `plot_function` is a
fastbook helper and is left out.
"""


from fastlearn.vision.all import *

CLASSES = ['car', 'cat', 'dog', 'person']


def _splitter(df):
    train = df.index[~df['is_valid']].tolist()
    valid = df.index[df['is_valid']].tolist()
    return train, valid


def _multicat_dls(path, df):
    def get_x(r): return path/'train'/r['fname']
    def get_y(r): return r['labels'].split(' ')
    dblock = DataBlock(blocks=(ImageBlock, MultiCategoryBlock),
                       splitter=_splitter,
                       get_x=get_x,
                       get_y=get_y,
                       item_tfms = RandomResizedCrop(32, min_scale=0.35))
    return dblock.dataloaders(df, bs=8)


# --- Multi-Label Classification: The Data ---------------------------------------------------
def test_the_data(pascal_path):
    path = Path(pascal_path)                        # untar_data(URLs.PASCAL_2007)
    df = pd.read_csv(path/'train.csv')
    assert list(df.columns) == ['fname', 'labels', 'is_valid']
    assert df.iloc[:, 0].equals(df['fname'])
    assert df.iloc[0, :].equals(df.iloc[0])


# --- Constructing a DataBlock ---------------------------------------------------------------
def test_constructing_a_datablock(pascal_path):
    path = Path(pascal_path)
    df = pd.read_csv(path/'train.csv')

    dblock = DataBlock()
    dsets = dblock.datasets(df)
    assert (len(dsets.train), len(dsets.valid)) == (26, 6)
    x, y = dsets.train[0]
    assert x['fname'] == y['fname']          # with no getters, x and y are both the row

    dblock = DataBlock(get_x = lambda r: r['fname'], get_y = lambda r: r['labels'])
    dsets = dblock.datasets(df)
    x, y = dsets.train[0]
    assert x in set(df['fname']) and y in set(df['labels'])

    def get_x(r): return path/'train'/r['fname']
    def get_y(r): return r['labels'].split(' ')
    dblock = DataBlock(get_x = get_x, get_y = get_y)
    dsets = dblock.datasets(df)
    x, y = dsets.train[0]
    assert isinstance(x, Path) and x.exists() and isinstance(y, list)

    dblock = DataBlock(blocks=(ImageBlock, MultiCategoryBlock),
                       get_x = get_x, get_y = get_y)
    dsets = dblock.datasets(df)
    img, target = dsets.train[0]
    assert isinstance(img, PILImage)
    assert tuple(target.shape) == (4,) and set(target.tolist()) <= {0., 1.}
    assert list(dsets.train.vocab) == CLASSES

    dblock = DataBlock(blocks=(ImageBlock, MultiCategoryBlock),
                       splitter=_splitter,
                       get_x=get_x,
                       get_y=get_y)
    dsets = dblock.datasets(df)
    assert len(dsets.valid) == int(df['is_valid'].sum())
    idxs = torch.where(dsets.train[0][1] == 1.)[0]
    first_train_row = df[~df['is_valid']].iloc[0]
    assert set(dsets.train.vocab[idxs]) == set(get_y(first_train_row))

    dls = _multicat_dls(path, df)
    dls.show_batch(nrows=1, ncols=3)
    xb, yb = dls.train.one_batch()
    assert tuple(xb.shape) == (8, 3, 32, 32) and tuple(yb.shape) == (8, 4)


# --- Binary Cross-Entropy -------------------------------------------------------------------
@pytest.mark.slow
def test_binary_cross_entropy(pascal_path):
    path = Path(pascal_path)
    df = pd.read_csv(path/'train.csv')
    dls = _multicat_dls(path, df)

    learn = vision_learner(dls, resnet18, pretrained=False)
    x, y = to_cpu(dls.train.one_batch())
    activs = learn.model(x)
    assert tuple(activs.shape) == (8, 4)

    def binary_cross_entropy(inputs, targets):
        inputs = inputs.sigmoid()
        return -torch.where(targets == 1, inputs, 1-inputs).log().mean()

    loss_func = nn.BCEWithLogitsLoss()
    loss = loss_func(activs, y)
    assert torch.isclose(loss, binary_cross_entropy(activs, y), atol=1e-5)
    # the DataBlock picked a binary cross-entropy for a multi-label target
    assert torch.isclose(learn.loss_func(activs, y), loss, atol=1e-5)

    learn = vision_learner(dls, resnet50, metrics=partial(accuracy_multi, thresh=0.2),
                           pretrained=False)
    learn.fine_tune(1, base_lr=3e-3, freeze_epochs=1)

    learn.metrics = partial(accuracy_multi, thresh=0.1)
    res = learn.validate()
    assert len(res) == 2 and all(isinstance(v, float) for v in res)
    learn.metrics = partial(accuracy_multi, thresh=0.99)
    res99 = learn.validate()

    preds, targs = learn.get_preds()
    assert tuple(preds.shape) == (8, 4) and tuple(targs.shape) == (8, 4)
    assert float(preds.min()) >= 0 and float(preds.max()) <= 1    # sigmoid applied
    acc = accuracy_multi(preds, targs, thresh=0.9, sigmoid=False)
    assert 0 <= float(acc) <= 1
    acc99 = accuracy_multi(preds, targs, thresh=0.99, sigmoid=False)
    assert abs(float(acc99) - res99[1]) < 1e-4

    xs = torch.linspace(0.05, 0.95, 29)
    accs = [accuracy_multi(preds, targs, thresh=i, sigmoid=False) for i in xs]
    plt.plot(xs, accs)
    assert len(accs) == 29


def _img2pose(x): return Path(f'{str(x)[:-7]}pose.txt')


def _biwi(path):
    cal = np.genfromtxt(path/'01'/'rgb.cal', skip_footer=6)

    def get_ctr(f):
        ctr = np.genfromtxt(_img2pose(f), skip_header=3)
        c1 = ctr[0] * cal[0][0]/ctr[2] + cal[0][2]
        c2 = ctr[1] * cal[1][1]/ctr[2] + cal[1][2]
        return tensor([c1, c2])

    biwi = DataBlock(
        blocks=(ImageBlock, PointBlock),
        get_items=get_image_files,
        get_y=get_ctr,
        splitter=FuncSplitter(lambda o: o.parent.name == '13'),
        batch_tfms=aug_transforms(size=(24, 32)),
    )
    return biwi, get_ctr


# --- Regression: Assemble the Data ----------------------------------------------------------
def test_assemble_the_data(biwi_path):
    path = Path(biwi_path)                          # untar_data(URLs.BIWI_HEAD_POSE)
    Path.BASE_PATH = path
    assert [o.name for o in path.ls().sorted()] == ['01', '02', '13']
    assert len((path/'01').ls().sorted()) == 13        # 6 images, 6 poses, rgb.cal

    img_files = get_image_files(path)
    assert len(img_files) == 18

    def img2pose(x): return Path(f'{str(x)[:-7]}pose.txt')
    assert img2pose(img_files[0]).exists()
    im = PILImage.create(img_files[0])
    assert tuple(im.shape) == (48, 64)
    assert max(im.to_thumb(160).size) <= 160

    biwi, get_ctr = _biwi(path)
    ctr = get_ctr(img_files[0])
    assert tuple(ctr.shape) == (2,)
    assert 0 < float(ctr[0]) < 64 and 0 < float(ctr[1]) < 48

    dls = biwi.dataloaders(path, bs=6)
    assert len(dls.train_ds) == 12 and len(dls.valid_ds) == 6
    dls.show_batch(max_n=9, figsize=(8, 6))
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (6, 3, 24, 32)
    assert tuple(yb.shape) == (6, 1, 2)
    assert float(yb.abs().max()) <= 1.5                 # points are scaled to about [-1, 1]


# --- Regression: Training a Model -----------------------------------------------------------
@pytest.mark.slow
def test_training_a_regression_model(biwi_path):
    path = Path(biwi_path)
    biwi, _ = _biwi(path)
    dls = biwi.dataloaders(path, bs=6)
    learn = vision_learner(dls, resnet18, y_range=(-1, 1), pretrained=False)

    xb, _ = dls.one_batch()
    out = learn.model(xb)
    assert float(out.min()) > -1 and float(out.max()) < 1          # y_range applied
    assert 'MSE' in type(dls.loss_func).__name__ or 'mse' in str(dls.loss_func).lower()

    sugg = learn.lr_find(num_it=20)    # the book uses the default 100 iterations
    assert isinstance(sugg.valley, float)
    lr = 1e-2
    learn.fine_tune(1, lr)
    learn.show_results(ds_idx=1, nrows=3, figsize=(6, 8))
