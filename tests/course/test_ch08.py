"""Chapter 8 (08_collab): MovieLens ratings, latent factors by hand, DotProduct models on
`Learner`, weight decay, own embeddings, interpreting biases and embeddings, `collab_learner`
and the neural-net variant, as the book writes them.

The ML_100k-like folder (tab-separated u.data, latin-1 u.item) is built by a fixture: 40
users and 15 titles whose ratings follow two latent factors plus per-movie biases, with
'Shawshank Redemption' the best liked. Epochs are as in the book (5) since each is a few
batches.
"""

import pytest

from fastlearn.collab import *
from fastlearn.tabular.all import *


@pytest.fixture
def ratings(ml_100k_path):
    path = Path(ml_100k_path)                       # untar_data(URLs.ML_100k)
    ratings = pd.read_csv(path/'u.data', delimiter='\t', header=None,
                          names=['user', 'movie', 'rating', 'timestamp'])
    movies = pd.read_csv(path/'u.item',  delimiter='|', encoding='latin-1',
                         usecols=(0, 1), names=('movie', 'title'), header=None)
    return ratings.merge(movies)


@pytest.fixture
def dls(ratings):
    return CollabDataLoaders.from_df(ratings, item_name='title', bs=64)


# --- A First Look at the Data ---------------------------------------------------------------
def test_a_first_look_at_the_data(ml_100k_path):
    path = Path(ml_100k_path)
    ratings = pd.read_csv(path/'u.data', delimiter='\t', header=None,
                          names=['user', 'movie', 'rating', 'timestamp'])
    assert len(ratings) == 480
    last_skywalker = np.array([0.98, 0.9, -0.9])
    user1 = np.array([0.9, 0.8, -0.6])
    casablanca = np.array([-0.99, -0.3, 0.8])
    assert (user1*last_skywalker).sum() > 0 > (user1*casablanca).sum()


# --- Creating the DataLoaders ---------------------------------------------------------------
def test_creating_the_dataloaders(ratings, dls):
    assert 'title' in ratings.columns and 'Amélie (2001)' in set(ratings['title'])
    dls.show_batch()
    assert set(dls.classes) >= {'user', 'title'}
    assert 'Star Wars (1977)' in dls.classes['title']
    assert 'Amélie (2001)' in dls.classes['title']

    n_users  = len(dls.classes['user'])
    n_movies = len(dls.classes['title'])
    assert n_users >= 40 and n_movies >= 15
    n_factors = 5
    user_factors = torch.randn(n_users, n_factors)
    movie_factors = torch.randn(n_movies, n_factors)

    one_hot_3 = one_hot(3, n_users).float()
    assert tuple(one_hot_3.shape) == (n_users,)
    assert torch.allclose(user_factors.t() @ one_hot_3, user_factors[3])


def _sizes(dls): return len(dls.classes['user']), len(dls.classes['title'])


# --- Collaborative Filtering from Scratch ---------------------------------------------------
def test_collab_from_scratch(dls):
    n_users, n_movies = _sizes(dls)

    class DotProduct(Module):
        def __init__(self, n_users, n_movies, n_factors):
            self.user_factors = Embedding(n_users, n_factors)
            self.movie_factors = Embedding(n_movies, n_factors)

        def forward(self, x):
            users = self.user_factors(x[:, 0])
            movies = self.movie_factors(x[:, 1])
            return (users * movies).sum(dim=1)

    x, y = dls.one_batch()
    assert tuple(x.shape) == (64, 2)
    model = DotProduct(n_users, n_movies, 50)
    learn = Learner(dls, model, loss_func=MSELossFlat())
    before = learn.validate()[0]
    learn.fit_one_cycle(5, 5e-3)
    assert learn.validate()[0] < before

    class DotProduct(Module):
        def __init__(self, n_users, n_movies, n_factors, y_range=(0, 5.5)):
            self.user_factors = Embedding(n_users, n_factors)
            self.movie_factors = Embedding(n_movies, n_factors)
            self.y_range = y_range

        def forward(self, x):
            users = self.user_factors(x[:, 0])
            movies = self.movie_factors(x[:, 1])
            return sigmoid_range((users * movies).sum(dim=1), *self.y_range)

    model = DotProduct(n_users, n_movies, 50)
    out = model(x)
    assert float(out.min()) > 0 and float(out.max()) < 5.5
    learn = Learner(dls, model, loss_func=MSELossFlat())
    learn.fit_one_cycle(5, 5e-3)

    class DotProductBias(Module):
        def __init__(self, n_users, n_movies, n_factors, y_range=(0, 5.5)):
            self.user_factors = Embedding(n_users, n_factors)
            self.user_bias = Embedding(n_users, 1)
            self.movie_factors = Embedding(n_movies, n_factors)
            self.movie_bias = Embedding(n_movies, 1)
            self.y_range = y_range

        def forward(self, x):
            users = self.user_factors(x[:, 0])
            movies = self.movie_factors(x[:, 1])
            res = (users * movies).sum(dim=1, keepdim=True)
            res += self.user_bias(x[:, 0]) + self.movie_bias(x[:, 1])
            return sigmoid_range(res, *self.y_range)

    model = DotProductBias(n_users, n_movies, 50)
    learn = Learner(dls, model, loss_func=MSELossFlat())
    before = learn.validate()[0]
    learn.fit_one_cycle(5, 5e-3)
    assert learn.validate()[0] < before


# --- Weight Decay ---------------------------------------------------------------------------
def test_weight_decay(dls):
    n_users, n_movies = _sizes(dls)

    class DotProductBias(Module):
        def __init__(self, n_users, n_movies, n_factors, y_range=(0, 5.5)):
            self.user_factors = Embedding(n_users, n_factors)
            self.user_bias = Embedding(n_users, 1)
            self.movie_factors = Embedding(n_movies, n_factors)
            self.movie_bias = Embedding(n_movies, 1)
            self.y_range = y_range

        def forward(self, x):
            users = self.user_factors(x[:, 0])
            movies = self.movie_factors(x[:, 1])
            res = (users * movies).sum(dim=1, keepdim=True)
            res += self.user_bias(x[:, 0]) + self.movie_bias(x[:, 1])
            return sigmoid_range(res, *self.y_range)

    model = DotProductBias(n_users, n_movies, 50)
    learn = Learner(dls, model, loss_func=MSELossFlat())
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    assert len(learn.recorder.values) == 5


def create_params(size):
    return nn.Parameter(torch.zeros(*size).normal_(0, 0.01))


class DotProductBiasParams(Module):
    # the book's second DotProductBias, built from create_params
    def __init__(self, n_users, n_movies, n_factors, y_range=(0, 5.5)):
        self.user_factors = create_params([n_users, n_factors])
        self.user_bias = create_params([n_users])
        self.movie_factors = create_params([n_movies, n_factors])
        self.movie_bias = create_params([n_movies])
        self.y_range = y_range

    def forward(self, x):
        users = self.user_factors[x[:, 0]]
        movies = self.movie_factors[x[:, 1]]
        res = (users*movies).sum(dim=1)
        res += self.user_bias[x[:, 0]] + self.movie_bias[x[:, 1]]
        return sigmoid_range(res, *self.y_range)


# --- Creating Our Own Embedding Module ------------------------------------------------------
def test_creating_our_own_embedding_module(dls):
    class T(Module):
        def __init__(self): self.a = torch.ones(3)
    assert len(L(T().parameters())) == 0

    class T(Module):
        def __init__(self): self.a = nn.Parameter(torch.ones(3))
    assert len(L(T().parameters())) == 1

    class T(Module):
        def __init__(self): self.a = nn.Linear(1, 3, bias=False)
    t = T()
    assert len(L(t.parameters())) == 1
    assert type(t.a.weight) is torch.nn.parameter.Parameter

    n_users, n_movies = _sizes(dls)
    model = DotProductBiasParams(n_users, n_movies, 50)
    learn = Learner(dls, model, loss_func=MSELossFlat())
    before = learn.validate()[0]
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    assert learn.validate()[0] < before


# --- Interpreting Embeddings and Biases -----------------------------------------------------
def test_interpreting_embeddings_and_biases(ratings):
    # The book trains on 100,000 ratings; these 480 synthetic ones give 30 steps at bs=64,
    # where Adam moves every above-average film's bias at the same rate (about lr a step),
    # so the ranking is noise. bs=8 gives 240 steps: the biases then learn the designed order.
    dls = CollabDataLoaders.from_df(ratings, item_name='title', bs=8)
    n_users, n_movies = _sizes(dls)
    learn = Learner(dls, DotProductBiasParams(n_users, n_movies, 50), loss_func=MSELossFlat())
    learn.fit_one_cycle(5, 5e-3, wd=0.1)

    movie_bias = learn.model.movie_bias.squeeze()
    idxs = movie_bias.argsort()[:5]
    worst = [dls.classes['title'][i] for i in idxs]
    assert all(isinstance(t, str) for t in worst)
    idxs = movie_bias.argsort(descending=True)[:5]
    best = [dls.classes['title'][i] for i in idxs]
    assert 'Shawshank Redemption, The (1994)' in best

    g = ratings.groupby('title')['rating'].count()
    top_movies = g.sort_values(ascending=False).index.values[:1000]
    top_idxs = tensor([learn.dls.classes['title'].o2i[m] for m in top_movies])
    movie_w = learn.model.movie_factors[top_idxs].cpu().detach()
    movie_pca = pca(movie_w, 3)          # the book's movie_w.pca(3) patches torch.Tensor
    fac0, fac1, fac2 = movie_pca.t()
    assert tuple(movie_pca.shape) == (len(top_movies), 3)
    idxs = list(range(10))
    X = fac0[idxs]
    Y = fac2[idxs]
    plt.scatter(X, Y)


# --- Using fastai.collab --------------------------------------------------------------------
def test_using_fastai_collab(dls):
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
    before = learn.validate()[0]
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    assert learn.validate()[0] < before
    assert 'i_bias' in repr(learn.model) or hasattr(learn.model, 'i_bias')

    movie_bias = learn.model.i_bias.weight.squeeze()
    idxs = movie_bias.argsort(descending=True)[:5]
    best = [dls.classes['title'][i] for i in idxs]
    assert 'Shawshank Redemption, The (1994)' in best

    # --- Embedding Distance
    movie_factors = learn.model.i_weight.weight
    idx = dls.classes['title'].o2i['Silence of the Lambs, The (1991)']
    distances = nn.CosineSimilarity(dim=1)(movie_factors, movie_factors[idx][None])
    idx = distances.argsort(descending=True)[1]
    closest = dls.classes['title'][idx]
    assert isinstance(closest, str) and closest != 'Silence of the Lambs, The (1991)'


# --- Deep Learning for Collaborative Filtering ----------------------------------------------
def test_deep_learning_for_collab(dls):
    embs = get_emb_sz(dls)
    assert len(embs) == 2
    assert embs[0][0] == len(dls.classes['user']) and embs[1][0] == len(dls.classes['title'])

    class CollabNN(Module):
        def __init__(self, user_sz, item_sz, y_range=(0, 5.5), n_act=100):
            self.user_factors = Embedding(*user_sz)
            self.item_factors = Embedding(*item_sz)
            self.layers = nn.Sequential(
                nn.Linear(user_sz[1]+item_sz[1], n_act),
                nn.ReLU(),
                nn.Linear(n_act, 1))
            self.y_range = y_range

        def forward(self, x):
            embs = self.user_factors(x[:, 0]), self.item_factors(x[:, 1])
            x = self.layers(torch.cat(embs, dim=1))
            return sigmoid_range(x, *self.y_range)

    model = CollabNN(*embs)
    learn = Learner(dls, model, loss_func=MSELossFlat())
    before = learn.validate()[0]
    learn.fit_one_cycle(5, 5e-3, wd=0.01)
    assert learn.validate()[0] < before

    learn = collab_learner(dls, use_nn=True, y_range=(0, 5.5), layers=[100, 50])
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    assert len(learn.recorder.values) == 5

    @delegates(TabularModel)
    class EmbeddingNN(TabularModel):
        def __init__(self, emb_szs, layers, **kwargs):
            super().__init__(emb_szs, layers=layers, n_cont=0, out_sz=1, **kwargs)

    m = EmbeddingNN(embs, [10], y_range=(0, 5.5))
    x, _ = dls.one_batch()
    assert tuple(m(x, torch.zeros(len(x), 0)).shape) == (len(x), 1)
