"""Training loop: SGD semantics, cosine schedule, divergence, callbacks, reproducibility, and a
stand-alone sanity run (a small NB201 network learns scikit-learn's digits)."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest

from archmodel.conv import (
    SGD,
    StderrProgress,
    build_nb201_network,
    cosine_lr,
    evaluate,
    random_crop,
    random_flip,
    train,
)
from archmodel.errors import ParameterError, TrainingDivergedError

from conftest import require_module

OPS = ["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "skip_connect"]


def small_problem(rng, n=24, classes=3):
    X = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, classes, n)
    X[np.arange(n), y % 3, :2, :2] += 3.0          # a learnable signal
    return X, y


def test_sgd_matches_pytorch_update_rule():
    p = {"w": np.array([1.0, -2.0])}
    g1, g2 = np.array([0.5, 0.5]), np.array([-1.0, 2.0])
    opt = SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=False)
    opt.step({"w": g1})
    v1 = g1 + 0.01 * np.array([1.0, -2.0])
    w1 = np.array([1.0, -2.0]) - 0.1 * v1
    np.testing.assert_allclose(p["w"], w1)
    opt.step({"w": g2}, lr=0.05)
    v2 = 0.9 * v1 + g2 + 0.01 * w1
    np.testing.assert_allclose(p["w"], w1 - 0.05 * v2)

    q = {"w": np.array([1.0])}
    nest = SGD(q, lr=0.1, momentum=0.5, weight_decay=0.0, nesterov=True)
    nest.step({"w": np.array([2.0])})
    np.testing.assert_allclose(q["w"], 1.0 - 0.1 * (2.0 + 0.5 * 2.0))
    with pytest.raises(ParameterError, match="'nesterov' parameter of SGD needs momentum"):
        SGD(q, momentum=0.0, nesterov=True)


def test_cosine_schedule():
    assert cosine_lr(0, 100, 0.1) == pytest.approx(0.1)
    assert cosine_lr(50, 100, 0.1) == pytest.approx(0.05)
    assert cosine_lr(100, 100, 0.1, min_lr=0.001) == pytest.approx(0.001)
    lrs = [cosine_lr(s, 100, 0.1) for s in range(100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert cosine_lr(0, 100, 0.1, warmup_steps=10) == pytest.approx(0.01)
    assert cosine_lr(9, 100, 0.1, warmup_steps=10) == pytest.approx(0.1)
    assert cosine_lr(10, 100, 0.1, warmup_steps=10) == pytest.approx(0.1)
    assert cosine_lr(55, 100, 0.1, warmup_steps=10) == pytest.approx(0.05)


def test_training_is_reproducible_and_silent(rng, capsys):
    X, y = small_problem(rng)
    weights = []
    for _ in range(2):
        net = build_nb201_network(OPS, C=2, N=1, num_classes=3, input_size=8, rng=1, backend="numpy")
        res = train(net, X, y, epochs=2, batch_size=8, lr=0.05, rng=7,
                    augment=[random_crop(1), random_flip()])
        weights.append(net.parameters()["classifier.weight"].copy())
        assert res.steps == 6 and len(res.history) == 2 and not res.stopped_early
    np.testing.assert_array_equal(weights[0], weights[1])
    net = build_nb201_network(OPS, C=2, N=1, num_classes=3, input_size=8, rng=1, backend="numpy")
    train(net, X, y, epochs=2, batch_size=8, lr=0.05, rng=8, augment=[random_crop(1), random_flip()])
    assert not np.array_equal(net.parameters()["classifier.weight"], weights[0])
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_divergence_names_the_epoch(rng):
    X, y = small_problem(rng)
    net = build_nb201_network(OPS, C=2, N=1, num_classes=3, input_size=8, rng=1, backend="numpy")

    def poison(ev):
        if ev.kind == "epoch" and ev.epoch == 2:
            net.parameters()["classifier.weight"][...] = np.nan

    with pytest.raises(TrainingDivergedError, match=r"loss nan at epoch 3 of 4, step 1 of 3") as info:
        train(net, X, y, epochs=4, batch_size=8, rng=0, callback=poison)
    assert info.value.epoch == 3 and info.value.step == 1
    assert isinstance(info.value, FloatingPointError)


def test_callback_events_progress_and_stop(rng):
    X, y = small_problem(rng)
    net = build_nb201_network(OPS, C=2, N=1, num_classes=3, input_size=8, rng=1, backend="numpy")
    events = []
    stream = io.StringIO()
    progress = StderrProgress(every=2, stream=stream)

    def cb(ev):
        events.append((ev.kind, ev.epoch, ev.step, ev.global_step))
        progress(ev)
        if ev.kind == "batch" and ev.global_step == 4:
            ev.request_stop()

    res = train(net, X, y, epochs=3, batch_size=8, rng=0, X_val=X[:6], y_val=y[:6], callback=cb)
    assert res.stopped_early and res.steps == 4
    assert events == [("batch", 1, 1, 1), ("batch", 1, 2, 2), ("batch", 1, 3, 3), ("epoch", 1, 3, 3),
                      ("batch", 2, 1, 4)]
    text = stream.getvalue()
    assert "epoch 1/3 step 2/3 loss" in text and "epoch 1/3 done: train_loss" in text and "val_acc" in text


def test_history_and_validation(rng):
    X, y = small_problem(rng, n=30)
    net = build_nb201_network(OPS, C=2, N=1, num_classes=3, input_size=8, rng=1, backend="numpy")
    res = train(net, X, y, epochs=2, batch_size=10, lr=0.05, X_val=X, y_val=y, rng=0)
    last = res.history[-1]
    assert set(last) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    loss, acc = evaluate(net, X, y)
    assert last["val_loss"] == pytest.approx(loss) and last["val_accuracy"] == pytest.approx(acc)
    logits = net.predict(X)
    assert acc == pytest.approx(float((logits.argmax(1) == y).mean()))
    assert last["lr"] == pytest.approx(cosine_lr(5, 6, 0.05))


def test_bad_training_arguments(rng):
    X, y = small_problem(rng)
    net = build_nb201_network(OPS, C=2, N=1, num_classes=3, input_size=8, rng=1, backend="numpy")
    with pytest.raises(ParameterError, match=r"training images must have shape \(n, 3, 8, 8\)"):
        train(net, X[:, :, :4, :4], y)
    with pytest.raises(ParameterError, match=r"labels must lie in \[0, 3\)"):
        train(net, X, y + 3)
    with pytest.raises(ParameterError, match="pass both X_val and y_val"):
        train(net, X, y, X_val=X)
    with pytest.raises(ParameterError, match="'epochs' parameter of train"):
        train(net, X, y, epochs=0)


def test_augmentations(rng):
    x = rng.standard_normal((6, 2, 5, 5))
    flipped = random_flip(1.0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped, x[:, :, :, ::-1])
    np.testing.assert_array_equal(random_flip(0.0)(x, np.random.default_rng(0)), x)
    cropped = random_crop(2)(x, np.random.default_rng(1))
    assert cropped.shape == x.shape
    for i in range(6):   # every crop is a shifted window of the zero-padded image
        xp = np.pad(x[i], ((0, 0), (2, 2), (2, 2)))
        assert any(np.array_equal(cropped[i], xp[:, a:a + 5, b:b + 5]) for a in range(5) for b in range(5))


def test_digits_sanity_training(backend):
    """Stand-alone: a C=8, N=1 NB201 network trained 3 epochs on the digits reaches far above
    chance (10 %) on the held-out test split."""
    require_module("sklearn", "data")  # skips without scikit-learn, fails under CI
    from archmodel.datasets.images import load_digits

    data = load_digits()
    net = build_nb201_network(OPS, C=8, N=1, num_classes=10, in_channels=1, input_size=8, rng=0,
                              backend=backend.name)
    res = train(net, data.X_train, data.y_train, epochs=3, batch_size=64, lr=0.05, rng=0)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    loss, acc = evaluate(net, data.X_test, data.y_test)
    assert math.isfinite(loss)
    assert acc > 0.8
