"""The data pipeline of a run: prepared cases cached once, loader workers, the augmentation
ramp, and device figures that are absent rather than invented."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_data import TASK, discs, tiny_config

from medselect.errors import DataError
from medselect.train import StoredCases, build_dataset, build_preset, train_model
from medselect.train.cache import preparation_key
from medselect.train.dataset import CaseDataset
from medselect.train.gpu_usage import GpuUsage
from medselect.train.loader import PREFETCH_BATCHES, loader_workers, make_loader
from medselect.train.loop import augmentation_strength

DATA = discs(6)


def stored(reads: list[str], cache=None, data=DATA) -> StoredCases:
    """The discs as rows of a store, counting the cases read into ``reads``."""
    rows = [{"case_id": c, "content_hash": f"h-{c}", "image_uris": [f"{c}.nii"]}
            for c in data.case_ids]
    by_id = dict(zip(data.case_ids, zip(data.images, data.targets, strict=True), strict=True))

    def read(row):
        reads.append(row["case_id"])
        return by_id[row["case_id"]]

    return StoredCases(rows, read, cache)


def test_cached_cases_are_prepared_once_and_equal_fresh_ones(tmp_path, plugin):
    config = tiny_config(input_size=(16, 16))
    fresh = build_dataset(DATA, config, plugin, TASK, training=False).items
    first_reads, second_reads = [], []
    first = build_dataset(stored(first_reads, tmp_path), config, plugin, TASK, training=False)
    second = build_dataset(stored(second_reads, tmp_path), config, plugin, TASK, training=False)
    assert first_reads == list(DATA.case_ids) and second_reads == []  # the second run reads none
    folder = tmp_path / preparation_key(config, plugin, TASK)
    assert len(list(folder.glob("*.pt"))) == len(DATA)
    for a, b, c in zip(fresh, first.items, second.items, strict=True):
        for key in ("image", "label"):  # resizing itself may differ in the last bit
            assert torch.allclose(a[key], b[key], rtol=0, atol=1e-6)
            assert torch.equal(b[key], c[key])


def test_cache_files_are_written_beside_the_cache_and_renamed_into_it(tmp_path, plugin,
                                                                    monkeypatch):
    import shutil
    import tempfile

    moves = []
    real_move = shutil.move
    monkeypatch.setattr(shutil, "move", lambda src, dst: moves.append((src, dst)) or
                        real_move(src, dst))
    config = tiny_config(input_size=(16, 16))
    before = tempfile.tempdir
    build_dataset(stored([], tmp_path), config, plugin, TASK, training=False)
    folder = tmp_path / preparation_key(config, plugin, TASK)
    assert len(moves) == len(DATA)  # one rename per case, within the cache's own file system
    assert all(Path(src).parent.parent == folder for src, _ in moves)
    assert tempfile.tempdir == before and not list(folder.glob("tmp*"))


def test_another_input_size_or_normalisation_is_prepared_apart(tmp_path, plugin):
    keys = {preparation_key(tiny_config(**f), plugin, TASK) for f in (
        {"input_size": (16, 16)}, {"input_size": (32, 32)}, {"normalization": "minmax"})}
    assert len(keys) == 3
    # what does not change a prepared case (the network, the schedule) shares its entries
    assert preparation_key(tiny_config(depth=3, warmup_epochs=1), plugin, TASK) == \
        preparation_key(tiny_config(), plugin, TASK)


def test_a_case_that_does_not_fit_is_named_when_prepared(tmp_path, plugin):
    bad = discs(2)
    bad = type(bad)([bad.images[0], bad.images[1][0]], bad.targets, bad.case_ids)
    with pytest.raises(DataError, match="case 'disc-0-1': image has shape"):
        build_dataset(stored([], tmp_path, bad), tiny_config(), plugin, TASK, training=False)


def test_the_ramp_scales_every_random_steps_probability():
    augment = build_preset("light", 2, seed=0)
    dataset = CaseDataset([], augment)
    full = [step.prob for step in augment.transforms]
    dataset.set_strength(0.5)
    assert [step.prob for step in augment.transforms] == pytest.approx([p / 2 for p in full])
    dataset.set_strength(1.0)
    assert [step.prob for step in augment.transforms] == pytest.approx(full)
    with pytest.raises(ValueError, match="strength must be in"):
        dataset.set_strength(1.5)


def test_augmentation_strength_per_epoch():
    ramp = tiny_config(augmentation="light", augmentation_ramp=4, epochs=6)
    assert [augmentation_strength(ramp, e) for e in range(1, 7)] == [0.25, 0.5, 0.75, 1, 1, 1]
    assert augmentation_strength(tiny_config(augmentation="light"), 1) == 1.0
    assert augmentation_strength(tiny_config(), 1) is None


def test_loaders_use_workers_pinned_memory_and_prefetch_on_cuda_only():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert (loader_workers(cpu), loader_workers(cuda), loader_workers(cuda, 2)) == (0, 4, 2)
    dataset = CaseDataset(DATA.images, None)
    on_gpu = make_loader(dataset, batch_size=2, device=cuda, workers=2, shuffle_seed=1)
    assert (on_gpu.pin_memory, on_gpu.num_workers, on_gpu.prefetch_factor) == (
        True, 2, PREFETCH_BATCHES)
    on_cpu = make_loader(dataset, batch_size=2, device=cpu, workers=0)
    assert (on_cpu.pin_memory, on_cpu.num_workers) == (False, 0)


def test_loader_workers_train_what_the_training_process_trains(tmp_path, plugin):
    """The worker code path, run on CPU: without random augmentation, the same batches."""
    runs = {}
    for workers in (0, 1):
        records = []
        train_model(tiny_config(), plugin, TASK, DATA, discs(4, seed=1),
                    out_dir=tmp_path / str(workers), on_epoch=records.append, device="cpu",
                    workers=workers)
        runs[workers] = [r.train_loss for r in records]
    assert runs[1] == pytest.approx(runs[0], rel=1e-6)


def test_no_gpu_no_gpu_figures():
    usage = GpuUsage(torch.device("cpu"))
    usage.start()
    assert usage.stop() == {} and not usage.available
