"""generator/io/libc.py: C functions through _ctypes, and through ctypes where _ctypes is not
CPython's (PyPy ships its own, without dlopen, dlsym and call_function)."""

from __future__ import annotations

import ctypes
import os
import sys
import types
from pathlib import Path

import pytest

from generator.io import libc


@pytest.fixture(params=["_ctypes", "ctypes"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs both ways: CPython's _ctypes, and a _ctypes without its C functions."""
    if request.param == "ctypes":
        assert ctypes.CDLL  # loaded with the real _ctypes, before the stand-in replaces it
        monkeypatch.setitem(sys.modules, "_ctypes", types.ModuleType("_ctypes"))
    return str(request.param)


def test_calls_a_function_and_returns_its_int(way: str) -> None:
    assert libc.call("getpid") == os.getpid()


def test_a_function_the_library_lacks_is_none(way: str) -> None:
    assert libc.call("gen_secret_no_such_function") is None


def test_syncfs_is_0_on_a_folder_and_minus_1_on_a_closed_descriptor(
    way: str, tmp_path: Path
) -> None:
    if sys.platform != "linux":
        pytest.skip("syncfs(2) is Linux's")
    fd = os.open(tmp_path, os.O_RDONLY)
    os.close(fd)
    assert libc.call("syncfs", fd) == -1  # EBADF
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert libc.call("syncfs", fd) == 0
    finally:
        os.close(fd)
