"""pytest fixture: a fresh fake per test, state under ``tmp_path``, strict about RPC coverage.

Use it from a test module with::

    from tests.fakes.modal_fake.fixture import modal_fake  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .client import ModalFake


@pytest.fixture
def modal_fake(tmp_path: Path) -> Iterator[ModalFake]:
    """A running fake. At teardown it fails the test if the client called an RPC the fake does
    not serve (a client upgrade that needs new RPCs) or if the fake hit a bug of its own."""
    fake = ModalFake.start(tmp_path / "modal-fake")
    try:
        yield fake
        unimplemented, errors = fake.unimplemented(), fake.errors()
    finally:
        fake.stop()
    assert unimplemented == [], f"the client called RPCs the fake does not serve: {unimplemented}"
    assert errors == [], f"the fake failed while serving: {errors}\n{fake.stderr_text()[-3000:]}"
