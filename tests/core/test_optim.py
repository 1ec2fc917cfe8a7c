"""Decoupled weight decay, no decay on norm/bias, any torch optimiser."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastlearn import SGD, Adam, OptimWrapper
from fastlearn.core.optim import make_optimizer, norm_and_bias_params

from ..conftest import TinyNet


def test_decoupled_weight_decay_matches_formula():
    torch.manual_seed(0)
    model = TinyNet()
    ref = TinyNet()
    ref.load_state_dict(model.state_dict())
    opt = make_optimizer(SGD, [list(model.parameters())], model, lr=0.1, wd=0.5)
    x = torch.randn(8, 4)
    for m in (model, ref):
        m(x).sum().backward()
    opt.step()
    with torch.no_grad():
        no_decay = norm_and_bias_params(ref)
        for p in ref.parameters():
            if id(p) not in no_decay:
                p.mul_(1 - 0.1 * 0.5)
            p.sub_(0.1 * p.grad)
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_norm_and_bias_params_are_found():
    model = TinyNet()
    ids = norm_and_bias_params(model)
    assert id(model[0].bias) in ids and id(model[1].weight) in ids and id(model[3].bias) in ids
    assert id(model[0].weight) not in ids and id(model[3].weight) not in ids


def test_any_torch_optimizer_steps_as_torch_does(synth_learner):
    """A torch optimiser as opt_func is the one the learner steps, and the wrapper's steps
    are torch's own (weight decay off)."""
    learn = synth_learner(opt_func=torch.optim.RMSprop, lr=1e-3)
    learn.fit(1)
    assert isinstance(learn.opt, OptimWrapper)
    assert isinstance(learn.opt.opt, torch.optim.RMSprop)
    assert all("square_avg" in learn.opt.opt.state[p] for p in learn.model.parameters())
    torch.manual_seed(0)
    model, ref = TinyNet(), TinyNet()
    ref.load_state_dict(model.state_dict())
    start = model[3].weight.detach().clone()
    wrapped = make_optimizer(
        torch.optim.RMSprop, [list(model.parameters())], model, lr=1e-2, wd=0.0
    )
    plain = torch.optim.RMSprop(ref.parameters(), lr=1e-2)
    xb, yb = torch.randn(16, 4), torch.randn(16, 2)
    for _ in range(3):
        for net, opt in ((model, wrapped), (ref, plain)):
            opt.zero_grad()
            nn.functional.mse_loss(net(xb), yb).backward()
            opt.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)
    assert not torch.equal(model[3].weight, start)  # it did step


def test_adam_betas_follow_mom():
    model = nn.Linear(2, 2)
    opt = make_optimizer(Adam, [list(model.parameters())], model, lr=1e-3, wd=0.0)
    opt.set_hyper("mom", 0.8)
    assert opt.param_groups[0]["betas"] == (0.8, 0.99)
    assert opt.get_hyper("mom") == [0.8]


def test_a_parameter_in_two_groups_is_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="two groups"):
        make_optimizer(Adam, [[model.weight], [model.weight]], model, lr=1e-3, wd=0.0)
