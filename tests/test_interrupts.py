"""Signals held while gen-secret must not stop half-way, and taken where it can stop safely."""

from __future__ import annotations

import os
import signal

import pytest

from generator.io.interrupts import held


def interrupted_twice_then(reached: list[str], check: bool) -> None:
    with held() as interrupts:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        reached.append("after both signals")  # a rollback here runs to its end
        if check:
            interrupts.check()
        reached.append("after check")


def test_ctrl_c_waits_for_check_and_a_second_one_changes_nothing() -> None:
    reached: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        interrupted_twice_then(reached, check=True)
    assert reached == ["after both signals"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_never_checked_is_raised_when_the_block_ends() -> None:
    reached: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        interrupted_twice_then(reached, check=False)
    assert reached == ["after both signals", "after check"]


def terminated() -> None:
    with held() as interrupts:
        os.kill(os.getpid(), signal.SIGTERM)
        interrupts.check()


def test_sigterm_exits_143_at_check() -> None:
    with pytest.raises(SystemExit) as caught:
        terminated()
    assert caught.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_ignored_sigint_stays_ignored() -> None:
    # A background job started by a non-interactive shell ignores SIGINT; so does gen-secret.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with held() as interrupts:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            interrupts.check()
        assert interrupts.pending is None
    finally:
        signal.signal(signal.SIGINT, previous)


def hung_up() -> None:
    with held() as interrupts:
        os.kill(os.getpid(), signal.SIGHUP)
        interrupts.check()


def test_sighup_is_held_like_sigterm_and_exits_129() -> None:
    # A closed terminal or a dropped SSH session must not stop a write half-way either.
    with pytest.raises(SystemExit) as caught:
        hung_up()
    assert caught.value.code == 129
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def test_an_ignored_sighup_stays_ignored() -> None:
    # Under nohup SIGHUP is ignored from the start; holding it must not make it count again.
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with held() as interrupts:
            os.kill(os.getpid(), signal.SIGHUP)
            interrupts.check()
        assert interrupts.pending is None
    finally:
        signal.signal(signal.SIGHUP, previous)
