"""Suite-wide settings: built helpers (the MPI probe's C timing loop) go to a directory of this
session, never to the user's ``~/.cache``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from measure.native_loop import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("fabric-cache")))
        yield
