"""A run continued from outside (population-based training): snapshots at the interval, a
donor's weights and optimizer state taken, new values applied and recorded."""

from __future__ import annotations

import pytest
import torch
from train_data import TASK, discs, tiny_config

from medselect.config.run import PopulationMember
from medselect.train import train_model
from medselect.train.online import Continuation, snapshot_path, start_path

TRAIN, VAL = discs(8), discs(4, seed=1)


def member(index: int, learning_rate: float):
    return tiny_config(epochs=4, learning_rate=learning_rate, augmentation="light",
                       population=PopulationMember(population="pbt-test", member=index))


@pytest.fixture
def train(plugin):
    """Train a configuration on CPU with a continuation; its epoch records."""

    def run(config, out_dir, continuation):
        records = []
        train_model(config, plugin, TASK, TRAIN, VAL, out_dir=out_dir, device="cpu",
                    on_epoch=records.append, continuation=continuation)
        return records

    return run


def test_a_member_continued_from_a_donor_trains_on_from_its_weights_and_optimizer(tmp_path,
                                                                                 train):
    values = {"learning_rate": 1e-2, "augmentation_strength": 0.5}
    donor = train(member(1, 1e-2), tmp_path / "donor", Continuation(2, values))
    assert snapshot_path(tmp_path / "donor", 2).exists()
    assert not snapshot_path(tmp_path / "donor", 4).exists()  # the last epoch is last.pt
    assert [r.augmentation_strength for r in donor] == [0.5] * 4
    own = train(member(0, 1e-3), tmp_path / "member", Continuation(2, {"learning_rate": 1e-3}))
    assert [r.learning_rate for r in own] == [1e-3] * 4

    # from the donor's snapshot with the donor's values: the donor's own epochs 3 and 4
    given = snapshot_path(tmp_path / "donor", 2)
    copied = train(member(0, 1e-3), tmp_path / "member", Continuation(2, values, given))
    assert [r.epoch for r in copied] == [3, 4]
    for mine, theirs in zip(copied, donor[2:], strict=True):
        assert mine.metrics()["train_loss"] == pytest.approx(theirs.metrics()["train_loss"],
                                                             rel=1e-5)
    started = torch.load(start_path(tmp_path / "member", 2), weights_only=True)
    donor_state = torch.load(given, weights_only=True)
    assert all(torch.equal(started["model"][k], v) for k, v in donor_state["model"].items())
    assert started["values"] == values
    # the member's own curve (its best epoch) is kept, not the donor's
    assert started["best_epoch"] == torch.load(snapshot_path(tmp_path / "member", 2),
                                               weights_only=True)["best_epoch"]

    # new values from the exploit are what epochs 3 and 4 train and record
    explored = train(member(0, 1e-3), tmp_path / "member",
                     Continuation(2, {"learning_rate": 4e-3, "augmentation_strength": 1.5}, given))
    assert [(r.learning_rate, r.augmentation_strength) for r in explored] == [(4e-3, 1.0)] * 2
    last = torch.load(tmp_path / "member" / "last.pt", weights_only=True)
    assert last["optimizer"]["param_groups"][0]["lr"] == 4e-3


def test_members_of_one_population_share_a_fingerprint_other_networks_do_not(tmp_path,
                                                                               train):
    from medselect.errors import TrainingError

    train(member(1, 1e-2), tmp_path / "donor", Continuation(2))
    wider = member(0, 1e-3).model_copy(update={"features": 8})
    with pytest.raises(TrainingError, match="another run configuration"):
        train(wider, tmp_path / "other",
              Continuation(2, start=snapshot_path(tmp_path / "donor", 2)))
