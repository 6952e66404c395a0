"""The public face of ``medselect.train`` (changing it is a decision, not an accident)."""

import medselect.train


def test_public_api():
    assert sorted(medselect.train.__all__) == [
        "BestTracker", "CaseDataset", "EnsembleNetwork", "EpochRecord", "NORMALIZERS",
        "StoredCases", "TrainResult",
        "TrainingData", "autocast",
        "build_dataset", "build_network", "build_optimizer", "build_preset", "build_scheduler",
        "cache_folder", "case_reader", "check_network_input", "check_run", "count_parameters",
        "describe_preset", "grad_scaler",
        "load_checkpoint", "load_ensemble", "load_model", "normalize", "offline_augment",
        "predict", "predict_logits", "preprocess_image", "resize", "resize_arguments",
        "save_checkpoint",
        "seed_everything", "select_device", "train_model",
    ]
    assert all(hasattr(medselect.train, name) for name in medselect.train.__all__)
