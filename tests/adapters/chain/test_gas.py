"""Gas targets: register ≤ 150k, redeem ≤ 80k, a challenge at d=256, N=10^6 ≤ 150k (the report
itself: scripts/gas_report.py)."""

from __future__ import annotations

import pytest

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester
from ghostproof.adapters.chain.gas import TARGETS, measure_gas
from ghostproof.adapters.chain.provider import connect, embedded_chain


@pytest.fixture(scope="module", params=["embedded", "anvil"])
def measured(request: pytest.FixtureRequest) -> dict[str, int]:
    if request.param == "embedded":
        chain = embedded_chain()
        owner = dev_account(chain, 0)
        fund_from_tester(chain, owner.address, 10**23)
    else:
        chain = connect(request.getfixturevalue("anvil_node").url)
        owner = dev_account(chain, 0)
    return measure_gas(chain, owner)


@pytest.mark.parametrize("step", sorted(TARGETS))
def test_gas_within_target(measured: dict[str, int], step: str) -> None:
    assert 0 < measured[step] <= TARGETS[step]


def test_gas_covers_every_step(measured: dict[str, int]) -> None:
    for step in ("deploy GhostRegistry", "register", "deposit", "redeem", "withdraw",
                 "layer-root opening, 64 layers (view)"):
        assert measured[step] > 0
