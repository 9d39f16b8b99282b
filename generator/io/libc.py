"""Calls into the C library for what the os module lacks (prctl, syncfs), without ctypes.

Through _ctypes, CPython's C core of ctypes: importing ctypes itself took 2 ms of a 150 ms
render (its Python layer defines dozens of types), and every render calls prctl, every write
syncfs. Where _ctypes is not CPython's (PyPy has its own, without these functions), ctypes.
"""

from __future__ import annotations


def call(name: str, *args: int) -> int | None:
    """`name(*args)` from the process's own symbols, for a function that takes and returns C
    ints; None where the C library has no such function."""
    try:
        # ImportError too where _ctypes lacks one of them.
        from _ctypes import call_function, dlopen, dlsym
    except ImportError:
        return _call_through_ctypes(name, *args)
    try:
        # dlopen(NULL): the process's own symbols, as ctypes.CDLL(None) opens them.
        function = dlsym(dlopen(None), name)  # type: ignore[arg-type]
    except OSError:
        return None
    result: int = call_function(function, args)
    return result


def _call_through_ctypes(name: str, *args: int) -> int | None:
    import ctypes

    function = getattr(ctypes.CDLL(None), name, None)
    return None if function is None else int(function(*args))
