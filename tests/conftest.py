import pytest

import fastgru


@pytest.fixture(autouse=True)
def _restore_threads():
    n = fastgru.get_num_threads()
    yield
    fastgru.set_num_threads(n)
