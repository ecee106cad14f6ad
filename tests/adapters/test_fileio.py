"""prover/modeldir.py atomic_write / atomic_file: the one writer of whole files.

The old writer used the predictable temporary name ``.NAME.PID.tmp`` opened without
O_EXCL / O_NOFOLLOW: a symlink planted there redirected the write (and the rename then
installed the symlink), and a planted 0644 file left ``prover.key`` world-readable.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account

from ghostproof.adapters.chain.accounts import load_keystore, write_keystore
from ghostproof.adapters.fileio import atomic_file, atomic_write
from ghostproof.adapters.storage.layout import KEY_FILE

KEY = b"0x" + b"ab" * 32


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def plausible_temp_names(path: Path) -> list[Path]:
    """Names a writer might pick for a temporary file beside ``path`` (the old one first)."""
    name = path.name
    return [path.with_name(n) for n in (
        f".{name}.{os.getpid()}.tmp", f"{name}.tmp", f".{name}.tmp", f"{name}.{os.getpid()}.tmp",
        f"{path.stem}.tmp", f"{name}~", f".{name}.swp", f".{name}.new", f"{name}.new",
    )]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the directory written to, which a planted symlink points at."""
    target = tmp_path / "outside" / "victim"
    target.parent.mkdir()
    target.write_bytes(b"untouched")
    return target


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    path.mkdir()
    return path


def test_atomic_write_writes_the_bytes_with_exactly_the_mode(directory):
    old_umask = os.umask(0o077)
    try:
        atomic_write(directory / "model.json", b"{}", 0o644)
        atomic_write(directory / KEY_FILE, KEY, 0o600)
    finally:
        os.umask(old_umask)
    assert (directory / "model.json").read_bytes() == b"{}" and mode_of(directory / "model.json") == 0o644
    assert (directory / KEY_FILE).read_bytes() == KEY and mode_of(directory / KEY_FILE) == 0o600


def test_atomic_write_leaves_no_temporary_file(directory):
    atomic_write(directory / KEY_FILE, KEY, 0o600)
    assert sorted(p.name for p in directory.iterdir()) == [KEY_FILE]


def test_key_file_is_0600_where_the_old_one_was_0644(directory):
    key = directory / KEY_FILE
    key.write_bytes(b"old")
    key.chmod(0o644)
    atomic_write(key, KEY, 0o600)
    assert key.read_bytes() == KEY and mode_of(key) == 0o600


def test_invalid_planted_0644_temp_files_do_not_open_the_key(directory):
    key = directory / KEY_FILE
    planted = plausible_temp_names(key)
    for path in planted:
        path.write_bytes(b"planted")
        path.chmod(0o644)
    atomic_write(key, KEY, 0o600)
    assert key.read_bytes() == KEY and mode_of(key) == 0o600
    assert all(p.read_bytes() == b"planted" for p in planted)  # not written through, not moved


def test_invalid_planted_symlinks_do_not_redirect_the_write(directory, outside):
    key = directory / KEY_FILE
    for path in plausible_temp_names(key):
        path.symlink_to(outside)
    atomic_write(key, KEY, 0o600)
    assert outside.read_bytes() == b"untouched"
    assert not key.is_symlink() and key.read_bytes() == KEY and mode_of(key) == 0o600


def test_invalid_symlink_at_the_random_temp_name_is_skipped(directory, outside, monkeypatch):
    # mkstemp tries names in turn with O_EXCL: a symlink planted at the name it would pick
    # first makes it move on rather than follow the link.
    names = iter(["planted", "fresh"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    key = directory / KEY_FILE
    planted = directory / f".{KEY_FILE}.planted.tmp"
    planted.symlink_to(outside)
    atomic_write(key, KEY, 0o600)
    assert outside.read_bytes() == b"untouched" and planted.is_symlink()
    assert key.read_bytes() == KEY and mode_of(key) == 0o600


def test_invalid_symlink_at_the_destination_is_replaced_not_followed(directory, outside):
    key = directory / KEY_FILE
    key.symlink_to(outside)
    atomic_write(key, KEY, 0o600)
    assert outside.read_bytes() == b"untouched" and not key.is_symlink() and key.read_bytes() == KEY


def test_failed_rename_leaves_the_old_file_and_no_temporary_file(directory, monkeypatch):
    path = directory / "model.json"
    path.write_bytes(b"old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in directory.iterdir()] == ["model.json"]


def test_failed_write_inside_atomic_file_leaves_nothing(directory):
    path = directory / "layer0.K.npy"
    with pytest.raises(RuntimeError), atomic_file(path) as fh:
        fh.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(directory.iterdir()) == []


def test_atomic_file_takes_np_save(directory):
    path = directory / "layer0.K.npy"
    with atomic_file(path) as fh:
        np.save(fh, np.arange(6, dtype=np.int8))
    assert np.load(path).tolist() == list(range(6))


def test_invalid_no_replace_refuses_an_existing_file_or_symlink(directory, outside):
    path = directory / "keystore.json"
    path.symlink_to(outside)
    with pytest.raises(FileExistsError):
        atomic_write(path, b"new", 0o600, replace=False)
    assert outside.read_bytes() == b"untouched" and path.is_symlink()
    assert [p.name for p in directory.iterdir()] == ["keystore.json"]


def test_write_keystore_is_0600_and_loads_back(directory):
    account = Account.create()
    path = directory / "keystore.json"
    write_keystore(path, account, "pw")
    assert mode_of(path) == 0o600 and load_keystore(path, "pw").address == account.address
    assert [p.name for p in directory.iterdir()] == ["keystore.json"]


def test_invalid_write_keystore_never_overwrites(directory):
    path = directory / "keystore.json"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        write_keystore(path, Account.create(), "pw")
    assert path.read_bytes() == b"precious"
