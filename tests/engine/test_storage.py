"""Saving parameters to .npz and loading them back, all or nothing."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from lazymagic import (
    DeferredInitializationError,
    LazyMagicError,
    MemoryLimitError,
    ParameterFileError,
    ShapeError,
    nn,
    options,
)
from lazymagic.engine import events, storage

MARKER = "__lazymagic_format__"


def small_net(**dense0) -> nn.Sequential:
    return nn.Sequential(nn.Dense(8, activation="relu", **dense0), nn.Dense(3))


def trained_net(seed: int = 0) -> nn.Sequential:
    net = small_net()
    net.initialize(seed=seed)
    net(np.ones((2, 5), np.float32))
    return net


def cnn() -> nn.Sequential:
    shared = nn.Dense(6, label="shared")
    return nn.Sequential(
        nn.Conv2D(4, 3, padding=1),
        nn.BatchNorm(),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(6, activation="relu"),
        shared,
        nn.Dense(6, share=shared),
        nn.Dense(2),
    )


def snapshot(net: nn.Block) -> dict[str, tuple]:
    out = {}
    for name, p in net.collect_params().items():
        values = None if p._data is None else p._data.copy()
        out[name] = (p.state, p.shape, p._data, values)
    return out


def assert_unchanged(net: nn.Block, before: dict[str, tuple]) -> None:
    for name, p in net.collect_params().items():
        state, shape, data, values = before[name]
        assert (p.state, p.shape) == (state, shape), name
        assert p._data is data, name
        if values is not None:
            np.testing.assert_array_equal(p._data, values)


def write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **arrays)


def saved_arrays(net: nn.Block) -> dict[str, np.ndarray]:
    return {n: p._data for n, p in net.collect_params().items()}


@pytest.fixture
def saved(tmp_path):
    net = trained_net()
    path = tmp_path / "params.npz"
    net.save_parameters(str(path))
    return net, path


# -- round trip ------------------------------------------------------------------------


def test_save_writes_one_entry_per_dotted_name_and_a_marker(tmp_path):
    net = cnn()
    net.initialize(seed=2)
    net(np.ones((2, 3, 6, 6), np.float32))
    path = tmp_path / "cnn.npz"

    net.save_parameters(str(path))

    with np.load(path, allow_pickle=False) as npz:
        names = sorted(npz.files)
        for name, p in net.collect_params().items():
            assert npz[name].dtype == p.dtype
            np.testing.assert_array_equal(npz[name], p.data())
    expected = [
        "0.weight",
        "0.bias",
        "1.gamma",
        "1.beta",
        "1.running_mean",
        "1.running_var",
        "4.weight",
        "4.bias",
        "shared.weight",
        "shared.bias",
        "7.weight",
        "7.bias",
    ]  # the tied layer 6 adds nothing
    assert names == sorted([*expected, MARKER])


def test_round_trip_into_a_declared_net_gives_identical_values_and_outputs(tmp_path):
    net = cnn()
    net.initialize(seed=2)
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6)).astype(np.float32)
    net(x, training=True)  # moves the running statistics off their start
    expected = net(x)
    path = tmp_path / "cnn.npz"
    net.save_parameters(path)

    fresh = cnn()
    fresh.load_parameters(path)

    for name, p in fresh.collect_params().items():
        original = net.collect_params()[name]
        assert p.state == "materialized" and p.shape == original.shape
        np.testing.assert_array_equal(p.data(), original.data())
    assert fresh[6].weight is fresh[5].weight  # still tied after loading
    np.testing.assert_array_equal(fresh(x), expected)


@pytest.mark.parametrize("initialized", [False, True], ids=["declared", "pending"])
def test_loading_fills_every_unknown_dimension_and_notifies_once(saved, initialized):
    _, path = saved
    net = small_net()
    if initialized:
        net.initialize(seed=9)
    calls = []
    events.subscribe(calls.append)
    try:
        net.load_parameters(str(path))
    finally:
        events.unsubscribe(calls.append)

    assert net[0].in_units == 5 and net[1].in_units == 8
    assert net[0].weight.shape == (8, 5) and net[1].weight.shape == (3, 8)
    assert len(calls) == 1
    assert [p.name for p in calls[0]] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert all(p.state == "materialized" for p in calls[0])


def test_loading_into_a_materialized_net_replaces_the_values(saved):
    original, path = saved
    net = trained_net(seed=1)
    assert not np.array_equal(net[0].weight.data(), original[0].weight.data())

    net.load_parameters(path)

    np.testing.assert_array_equal(net[0].weight.data(), original[0].weight.data())


def test_plain_npz_with_matching_names_loads(tmp_path):
    arrays = {
        "0.weight": np.arange(40, dtype=np.float32).reshape(8, 5),
        "0.bias": np.ones(8, np.float32),
        "1.weight": np.full((3, 8), 0.5, np.float32),
        "1.bias": np.zeros(3, np.float32),
    }
    path = tmp_path / "plain.npz"
    write_npz(path, arrays)
    net = small_net()

    net.load_parameters(path)

    for name, value in arrays.items():
        np.testing.assert_array_equal(net.collect_params()[name].data(), value)


def test_lower_precision_values_that_cast_safely_load(tmp_path):
    arrays = {
        "0.weight": np.full((8, 5), 0.25, np.float16),
        "0.bias": np.arange(8, dtype=np.int16),
        "1.weight": np.ones((3, 8), np.float32),
        "1.bias": np.zeros(3, np.float32),
    }
    path = tmp_path / "half.npz"
    write_npz(path, arrays)
    net = small_net()

    net.load_parameters(path)

    assert (
        net[0].weight.dtype == np.float32 and net[0].weight.data().dtype == np.float32
    )
    np.testing.assert_array_equal(net[0].bias.data(), np.arange(8))


# -- saving refuses what cannot be saved -----------------------------------------------


@pytest.mark.parametrize("initialized", [False, True], ids=["declared", "pending"])
def test_saving_a_lazy_net_writes_nothing_and_says_what_to_do(tmp_path, initialized):
    net = small_net()
    if initialized:
        net.initialize()
    path = tmp_path / "lazy.npz"

    with pytest.raises(DeferredInitializationError) as caught:
        net.save_parameters(path)

    message = str(caught.value)
    assert "'0.weight'" in message and "'1.weight'" in message
    assert "nothing was written" in message
    assert "net(X)" in message and "infer_shape" in message
    assert not path.exists()
    assert os.listdir(tmp_path) == []


def test_failed_save_leaves_the_earlier_file_intact(saved, monkeypatch):
    _, path = saved
    before = path.read_bytes()
    net = trained_net(seed=5)
    real_write = np.lib.format.write_array
    calls = []

    def fail_midway(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", fail_midway)
    with pytest.raises(ParameterFileError, match="No space left on device") as caught:
        net.save_parameters(path)

    assert "nothing was written" in str(caught.value)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left


def test_interrupted_save_leaves_no_file(tmp_path, monkeypatch):
    net = trained_net()
    path = tmp_path / "new.npz"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupt)
    with pytest.raises(KeyboardInterrupt):
        net.save_parameters(path)

    assert os.listdir(tmp_path) == []


def test_saving_into_a_missing_directory_says_so(tmp_path):
    net = trained_net()
    with pytest.raises(ParameterFileError, match="does not exist"):
        net.save_parameters(tmp_path / "nowhere" / "p.npz")


# -- loading refuses bad files and changes nothing -------------------------------------


def check_refused(net, path, error, *parts):
    before = snapshot(net)
    with pytest.raises(error) as caught:
        net.load_parameters(path)
    message = str(caught.value)
    for part in parts:
        assert part in message, (part, message)
    assert isinstance(caught.value, LazyMagicError)
    assert_unchanged(net, before)
    return message


@pytest.fixture(params=["declared", "pending", "materialized"])
def target(request):
    net = small_net()
    if request.param != "declared":
        net.initialize(seed=4)
    if request.param == "materialized":
        net(np.ones((1, 5), np.float32))
    return net


def test_missing_file(tmp_path, target):
    check_refused(
        target,
        tmp_path / "nope.npz",
        ParameterFileError,
        "no parameter file at",
        "nope.npz",
        "save_parameters",
    )


def test_truncated_file(saved, tmp_path, target):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])

    check_refused(
        target,
        cut,
        ParameterFileError,
        "cut.npz",
        "truncated or damaged",
        "Nothing was loaded",
        "save_parameters",
    )


def test_file_cut_inside_the_first_array(saved, tmp_path, target):
    _, path = saved
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:100])

    check_refused(target, cut, ParameterFileError, "truncated or damaged")


def test_corrupted_values_fail_their_checksum(saved, tmp_path, target):
    _, path = saved
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("1.weight.npy")
        # The member's data starts after its local header (30 bytes + names).
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data = bytearray(path.read_bytes())
    data[offset + info.compress_size - 4] ^= 0xFF  # inside the last value
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))

    check_refused(target, bad, ParameterFileError, "truncated or damaged")


@pytest.mark.parametrize(
    "content, part",
    [(b"", "is empty"), (b"name,value\n0.weight,1\n", "starts with other bytes")],
    ids=["empty", "csv"],
)
def test_file_that_is_not_an_npz(tmp_path, target, content, part):
    path = tmp_path / "other.npz"
    path.write_bytes(content)
    check_refused(target, path, ParameterFileError, "not a parameter file", part)


def test_single_array_npy_file(tmp_path, target):
    path = tmp_path / "one.npy"
    np.save(path, np.ones(3))
    check_refused(target, path, ParameterFileError, "single array")


def test_pickled_objects_are_never_loaded(tmp_path, target):
    arrays = saved_arrays(trained_net())
    arrays["0.bias"] = np.array([{"x": 1}] * 8, dtype=object)
    path = tmp_path / "objects.npz"
    np.savez(path, **arrays)

    check_refused(target, path, ParameterFileError, "'0.bias'", "pickle")


def test_file_of_a_newer_format_is_refused(tmp_path, target):
    arrays = saved_arrays(trained_net())
    arrays[MARKER] = np.array("lazymagic parameters 99")
    path = tmp_path / "future.npz"
    write_npz(path, arrays)

    check_refused(target, path, ParameterFileError, "format 99", "Upgrade")


def test_missing_and_extra_names_are_listed_with_close_names(saved):
    _, path = saved
    net = nn.Sequential(nn.Dense(8, activation="relu", label="fc1"), nn.Dense(3))
    message = check_refused(
        net,
        path,
        ParameterFileError,
        "does not fit this net",
        "'fc1.weight' (did you mean '0.weight'?)",
        "'fc1.bias' (did you mean '0.bias'?)",
        "in the file but not in the net: '0.weight', '0.bias'",
        "same labels",
    )
    assert "format marker" not in message  # it is a lazymagic file


def test_extra_name_alone_is_refused(tmp_path, target):
    arrays = saved_arrays(trained_net())
    arrays["2.weight"] = np.ones((3, 3), np.float32)
    path = tmp_path / "extra.npz"
    write_npz(path, arrays)

    message = check_refused(
        target, path, ParameterFileError, "in the file but not in the net: '2.weight'"
    )
    assert "missing" not in message
    assert "no lazymagic format marker" in message


def test_transposed_weight_names_the_parameter_and_both_shapes(tmp_path):
    arrays = saved_arrays(trained_net())
    arrays["0.weight"] = np.ascontiguousarray(arrays["0.weight"].T)
    path = tmp_path / "transposed.npz"
    write_npz(path, arrays)

    check_refused(
        trained_net(),
        path,
        ShapeError,
        "parameter '0.weight' has shape (8, 5); the file holds shape (5, 8) "
        "(the transpose of what fits)",
        "nothing was loaded",
    )


def test_shape_against_a_declared_dimension(saved):
    _, path = saved
    check_refused(
        small_net(in_units=7),
        path,
        ShapeError,
        "parameter '0.weight' has shape (8, 7); the file holds shape (8, 5)",
    )


def test_wrong_rank_against_a_lazy_net(tmp_path, target):
    arrays = saved_arrays(trained_net())
    arrays["1.bias"] = np.zeros((3, 1), np.float32)
    path = tmp_path / "rank.npz"
    write_npz(path, arrays)

    check_refused(
        target,
        path,
        ShapeError,
        "parameter '1.bias' has shape (3,); the file holds shape (3, 1)",
    )


def test_values_that_do_not_cast_safely_are_refused(tmp_path, target):
    arrays = {n: a.astype(np.float64) for n, a in saved_arrays(trained_net()).items()}
    path = tmp_path / "double.npz"
    write_npz(path, arrays)

    check_refused(
        target,
        path,
        ParameterFileError,
        "'0.weight': the file holds float64 values; the parameter is float32",
        "net.cast('float64')",
    )


def test_complex_values_are_refused(tmp_path, target):
    arrays = saved_arrays(trained_net())
    arrays["1.bias"] = arrays["1.bias"].astype(np.complex64)
    path = tmp_path / "complex.npz"
    write_npz(path, arrays)

    check_refused(target, path, ParameterFileError, "'1.bias'", "complex64")


def test_one_bad_entry_at_the_end_changes_nothing(tmp_path):
    net = trained_net(seed=3)
    arrays = saved_arrays(trained_net(seed=8))
    arrays["1.bias"] = np.zeros(4, np.float32)  # the only wrong entry, last
    path = tmp_path / "last.npz"
    write_npz(path, arrays)

    check_refused(net, path, ShapeError, "'1.bias'")


def test_memory_limit_applies_to_loading(saved):
    _, path = saved
    net = small_net()
    saved_limit = options.max_param_bytes
    options.max_param_bytes = 100
    try:
        check_refused(net, path, MemoryLimitError, "'0.weight'", "(8, 5)")
    finally:
        options.max_param_bytes = saved_limit


def test_no_file_is_ever_opened_with_pickle(saved, monkeypatch):
    _, path = saved
    seen = []
    real_load = np.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(storage.np, "load", spy)
    small_net().load_parameters(path)

    assert seen == [False]
