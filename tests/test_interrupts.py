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


# What a CI runner or kubelet sends to cancel, and what a closed terminal or a dropped SSH
# session sends: neither may stop a write half-way; each exits as the shell would report it.
STOPPING = [(signal.SIGTERM, 143), (signal.SIGHUP, 129)]


def stopped_by(signum: signal.Signals) -> None:
    with held() as interrupts:
        os.kill(os.getpid(), signum)
        interrupts.check()


@pytest.mark.parametrize(("signum", "code"), STOPPING, ids=["SIGTERM", "SIGHUP"])
def test_a_stopping_signal_exits_at_check_with_128_plus_its_number(
    signum: signal.Signals, code: int
) -> None:
    with pytest.raises(SystemExit) as caught:
        stopped_by(signum)
    assert caught.value.code == code
    assert signal.getsignal(signum) is signal.SIG_DFL


# A background job started by a non-interactive shell ignores SIGINT; under nohup SIGHUP is
# ignored from the start. Holding a signal must not make it count again.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_an_ignored_signal_stays_ignored(signum: signal.Signals) -> None:
    previous = signal.signal(signum, signal.SIG_IGN)
    try:
        with held() as interrupts:
            assert signal.getsignal(signum) is signal.SIG_IGN
            os.kill(os.getpid(), signum)
            interrupts.check()
        assert interrupts.pending is None
    finally:
        signal.signal(signum, previous)
