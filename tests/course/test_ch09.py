"""Chapter 9 (09_tabular): the bulldozers data with `add_datepart`, `TabularPandas` and its
procs, decision trees and random forests on `to.train.xs`, then a tabular neural net and an
ensemble, as the book writes them.

The Kaggle folder (TrainAndValid.csv, Test.csv) is built by a fixture: 400 sales whose log
price follows YearMade and ProductSize. Random forests use fewer trees and `max_samples` that
fit the small frame (scikit-learn rejects max_samples above the row count); `dls` uses bs=64
instead of 1024. dtreeviz, treeinterpreter, waterfall charts and fastbook's `cluster_columns`
/ `draw_tree` are outside the library and left out.
"""

import math

import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from fastlearn.tabular.all import *

dep_var = 'SalePrice'
sizes = 'Large', 'Large / Medium', 'Medium', 'Small', 'Mini', 'Compact'


def r_mse(pred, y): return round(math.sqrt(((pred-y)**2).mean()), 6)
def m_rmse(m, xs, y): return r_mse(m.predict(xs), y)


def rf(xs, y, n_estimators=20, max_samples=200,
       max_features=0.5, min_samples_leaf=5, **kwargs):
    return RandomForestRegressor(n_jobs=-1, n_estimators=n_estimators,
        max_samples=max_samples, max_features=max_features,
        min_samples_leaf=min_samples_leaf, oob_score=True, random_state=0).fit(xs, y)


def rf_feat_importance(m, df):
    return pd.DataFrame({'cols': df.columns, 'imp': m.feature_importances_}
                        ).sort_values('imp', ascending=False)


def _load(path):
    df = pd.read_csv(path/'TrainAndValid.csv', low_memory=False)
    df['ProductSize'] = df['ProductSize'].astype('category')
    df['ProductSize'] = df['ProductSize'].cat.set_categories(sizes, ordered=True)
    df[dep_var] = np.log(df[dep_var])
    df = add_datepart(df, 'saledate')
    return df


def _splits(df):
    cond = (df.saleYear < 2011) | (df.saleMonth < 10)
    train_idx = np.where( cond)[0]
    valid_idx = np.where(~cond)[0]
    return (list(train_idx), list(valid_idx))


@pytest.fixture(scope='module')
def to(bulldozers_path):
    df = _load(bulldozers_path)
    procs = [Categorify, FillMissing]
    cont, cat = cont_cat_split(df, 1, dep_var=dep_var)
    return TabularPandas(df, procs, cat, cont, y_names=dep_var, splits=_splits(df))


@pytest.fixture(scope='module')
def forest_data(to):
    xs, y = to.train.xs, to.train.y
    valid_xs, valid_y = to.valid.xs, to.valid.y
    xs.loc[xs['YearMade'] < 1900, 'YearMade'] = 1950
    valid_xs.loc[valid_xs['YearMade'] < 1900, 'YearMade'] = 1950
    return xs, y, valid_xs, valid_y


# --- The Dataset: Look at the Data ----------------------------------------------------------
def test_look_at_the_data(bulldozers_path):
    path = Path(bulldozers_path)                    # the Kaggle competition folder
    df = pd.read_csv(path/'TrainAndValid.csv', low_memory=False)
    assert 'ProductSize' in df.columns
    df['ProductSize'] = df['ProductSize'].astype('category')
    df['ProductSize'] = df['ProductSize'].cat.set_categories(sizes, ordered=True)
    assert list(df['ProductSize'].cat.categories) == list(sizes)
    df[dep_var] = np.log(df[dep_var])
    assert 8 < df[dep_var].min() and df[dep_var].max() < 12


# --- Decision Trees: Handling Dates ---------------------------------------------------------
def test_handling_dates(bulldozers_path):
    path = Path(bulldozers_path)
    df = pd.read_csv(path/'TrainAndValid.csv', low_memory=False)
    df = add_datepart(df, 'saledate')
    df_test = pd.read_csv(path/'Test.csv', low_memory=False)
    df_test = add_datepart(df_test, 'saledate')
    cols = ' '.join(o for o in df.columns if o.startswith('sale')).split()
    assert 'saledate' not in df.columns
    for c in ('saleYear', 'saleMonth', 'saleWeek', 'saleDay', 'saleDayofweek', 'saleDayofyear',
              'saleIs_month_end', 'saleIs_month_start', 'saleIs_quarter_end',
              'saleIs_quarter_start', 'saleIs_year_end', 'saleIs_year_start', 'saleElapsed'):
        assert c in cols and c in df_test.columns


# --- Using TabularPandas and TabularProc ----------------------------------------------------
def test_tabular_pandas_and_procs(bulldozers_path, tmp_path):
    path = Path(bulldozers_path)
    df = _load(path)
    procs = [Categorify, FillMissing]
    splits = _splits(df)
    cont, cat = cont_cat_split(df, 1, dep_var=dep_var)
    assert 'saleElapsed' in cont and 'state' in cat and 'ProductSize' in cat
    assert dep_var not in cont + cat

    to = TabularPandas(df, procs, cat, cont, y_names=dep_var, splits=splits)
    assert (len(to.train), len(to.valid)) == (len(splits[0]), len(splits[1]))
    to.show(3)
    to1 = TabularPandas(df, procs, ['state', 'ProductGroup', 'Drive_System', 'Enclosure'], [],
                        y_names=dep_var, splits=splits)
    to1.show(3)
    assert len(to.items.head(3)) == 3
    codes = to1.items[['state', 'ProductGroup', 'Drive_System', 'Enclosure']].head(3)
    assert all(pd.api.types.is_integer_dtype(codes[c]) for c in codes.columns)
    # ordered categories keep their order, after the missing-value class
    assert list(to.classes['ProductSize'])[-6:] == list(sizes)
    # FillMissing adds a boolean _na column for continuous columns with missing values
    assert 'MachineHoursCurrentMeter_na' in to.train.xs.columns

    save_pickle(tmp_path/'to.pkl', to)
    to = load_pickle(tmp_path/'to.pkl')
    assert len(to.train) == len(splits[0])


# --- Creating the Decision Tree -------------------------------------------------------------
def test_creating_the_decision_tree(to, forest_data):
    xs, y, valid_xs, valid_y = forest_data
    assert not xs.isna().any().any()
    assert all(pd.api.types.is_numeric_dtype(xs[c]) for c in xs.columns)
    m = DecisionTreeRegressor(max_leaf_nodes=4)
    m.fit(xs, y)
    assert m.get_n_leaves() == 4

    m = DecisionTreeRegressor()
    m.fit(xs, y)
    assert m_rmse(m, xs, y) < 1e-6 < m_rmse(m, valid_xs, valid_y)
    m = DecisionTreeRegressor(min_samples_leaf=25)
    m.fit(to.train.xs, to.train.y)
    assert m_rmse(m, valid_xs, valid_y) < 0.5
    assert m.get_n_leaves() < len(xs) / 20


# --- Random Forests: Creating a Random Forest / Out-of-Bag Error ----------------------------
def test_random_forest(forest_data):
    xs, y, valid_xs, valid_y = forest_data
    m = rf(xs, y)
    assert m_rmse(m, valid_xs, valid_y) < 0.3
    preds = np.stack([t.predict(valid_xs) for t in m.estimators_])
    assert abs(r_mse(preds.mean(0), valid_y) - m_rmse(m, valid_xs, valid_y)) < 1e-3
    assert r_mse(m.oob_prediction_, y) < 0.3


# --- Model Interpretation: tree variance, feature importance, removing variables ------------
def test_model_interpretation(forest_data):
    xs, y, valid_xs, valid_y = forest_data
    m = rf(xs, y)
    preds = np.stack([t.predict(valid_xs) for t in m.estimators_])
    preds_std = preds.std(0)
    assert preds.shape == (20, len(valid_xs)) and preds_std.shape == (len(valid_xs),)

    fi = rf_feat_importance(m, xs)
    assert set(fi['cols'].iloc[:2]) == {'YearMade', 'ProductSize'}
    fi.plot('cols', 'imp', 'barh', figsize=(12, 7), legend=False)
    to_keep = fi[fi.imp > 0.005].cols
    xs_imp = xs[to_keep]
    valid_xs_imp = valid_xs[to_keep]
    m = rf(xs_imp, y)
    assert m_rmse(m, valid_xs_imp, valid_y) < 0.3


# --- Extrapolation and Neural Networks: The Extrapolation Problem / Out-of-Domain Data -----
def test_extrapolation_and_out_of_domain(forest_data):
    x_lin = torch.linspace(0, 20, steps=40)
    y_lin = x_lin + torch.randn_like(x_lin)
    xs_lin = x_lin.unsqueeze(1)
    assert tuple(xs_lin.shape) == (40, 1) and tuple(x_lin[:, None].shape) == (40, 1)
    m_lin = RandomForestRegressor(n_estimators=20).fit(xs_lin[:30], y_lin[:30])
    assert m_lin.predict(xs_lin)[-1] < float(y_lin[-1]) - 3      # a forest cannot extrapolate

    xs, y, valid_xs, valid_y = forest_data
    df_dom = pd.concat([xs, valid_xs])
    is_valid = np.array([0]*len(xs) + [1]*len(valid_xs))
    m = rf(df_dom, is_valid)
    top = rf_feat_importance(m, df_dom)[:6]
    assert {'saleElapsed', 'SalesID', 'saleYear'} & set(top['cols'])


@pytest.fixture(scope='module')
def nn_setup(bulldozers_path):
    path = Path(bulldozers_path)
    df_nn = pd.read_csv(path/'TrainAndValid.csv', low_memory=False)
    df_nn['ProductSize'] = df_nn['ProductSize'].astype('category')
    df_nn['ProductSize'] = df_nn['ProductSize'].cat.set_categories(sizes, ordered=True)
    df_nn[dep_var] = np.log(df_nn[dep_var])
    df_nn = add_datepart(df_nn, 'saledate')
    xs_final_time_columns = ['YearMade', 'ProductSize', 'Coupler_System', 'fiProductClassDesc',
                             'ModelID', 'saleElapsed', 'fiSecondaryDesc', 'Enclosure',
                             'fiModelDesc', 'fiModelDescriptor', 'Hydraulics_Flow',
                             'ProductGroup', 'Drive_System', 'state']
    df_nn_final = df_nn[xs_final_time_columns + [dep_var]]
    return df_nn_final, _splits(df_nn)


# --- Using a Neural Network / Ensembling ----------------------------------------------------
@pytest.mark.slow
def test_using_a_neural_network(nn_setup, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df_nn_final, splits = nn_setup
    cont_nn, cat_nn = cont_cat_split(df_nn_final, max_card=9000, dep_var=dep_var)
    assert dep_var not in cont_nn + cat_nn
    assert set(cont_nn + cat_nn) == set(df_nn_final.columns) - {dep_var}
    assert df_nn_final[cat_nn].nunique().min() >= 1
    cat_nn.remove('fiModelDescriptor')

    procs_nn = [Categorify, FillMissing, Normalize]
    to_nn = TabularPandas(df_nn_final, procs_nn, cat_nn, cont_nn,
                          splits=splits, y_names=dep_var)
    dls = to_nn.dataloaders(64)
    y = to_nn.train.y
    assert 8 < y.min() and y.max() < 12

    learn = tabular_learner(dls, y_range=(8, 12), layers=[500, 250],
                            n_out=1, loss_func=F.mse_loss)
    sugg = learn.lr_find()
    assert isinstance(sugg.valley, float)
    learn.fit_one_cycle(5, 1e-2)
    assert learn.recorder.losses[-1] < learn.recorder.losses[0]

    preds, targs = learn.get_preds()
    assert tuple(preds.shape) == (len(splits[1]), 1)
    assert float(preds.min()) > 8 and float(preds.max()) < 12
    assert r_mse(preds, targs) < 0.6
    learn.save('nn')
    assert (Path('models')/'nn.pth').exists()

    # Ensembling with a forest on the same columns
    xs, valid_xs = to_nn.train.xs, to_nn.valid.xs
    m = rf(xs, to_nn.train.y)
    rf_preds = m.predict(valid_xs)
    ens_preds = (to_np(preds.squeeze()) + rf_preds) / 2
    assert ens_preds.shape == (len(splits[1]),)
    assert r_mse(ens_preds, to_nn.valid.y.values) < 0.6
