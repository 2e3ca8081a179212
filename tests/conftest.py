import signal

import pytest

import fastgru


@pytest.fixture(autouse=True)
def _restore_threads():
    n = fastgru.get_num_threads()
    yield
    fastgru.set_num_threads(n)


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt in the main thread during the test,
    whatever handler or signal mask a library imported earlier in this
    process left behind."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    yield
    if signal.SIGINT in blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, old)
