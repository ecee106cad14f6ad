"""``credits buy | deposit | withdraw | status`` and ``wallet balance`` on a real Anvil node:
a deposit is one transaction (permit), a withdrawal is requested, then made after the delay,
and a deposit cancels a pending one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostproof.adapters.chain.deployment import ONE_CREDIT
from ghostproof.adapters.chain.escrow import channel
from ghostproof.adapters.chain.registry import credit_balance
from ghostproof.verifier.wallet import Wallet
from tests.fixtures.chain import PARAMS
from tests.fixtures.cli import one_error, run

from .conftest import PASSWORD, World, funded_wallet

pytestmark = pytest.mark.anvil


def _nonce(world: World, address: str) -> int:
    return int(world.env.chain.w3.eth.get_transaction_count(address))


def test_buy_credits(world: World, tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    wallet = Wallet.create(home, PASSWORD)
    world.env.send_eth(wallet.address, 10**18)
    code, out, err = run(capsys, "credits", "buy", "2.5", "--home", home, *world.chain_args(), "--json")
    assert code == 0, err
    bought = json.loads(out)
    assert bought["account"] == wallet.address and int(bought["credits"]) >= 5 * ONE_CREDIT // 2
    assert credit_balance(world.env.chain, world.env.deployment, wallet.address) == int(bought["credits"])
    code, out, err = run(capsys, "wallet", "balance", "--home", home, *world.chain_args(), "--json")
    assert code == 0, err
    assert json.loads(out)["credits"] == bought["credits"]


def test_invalid_password_is_one_line_exit_2(world: World, tmp_path: Path, capsys, monkeypatch) -> None:
    home = tmp_path / "home"
    Wallet.create(home, PASSWORD).close()
    monkeypatch.setenv("GHOSTPROOF_KEYSTORE_PASSWORD", "not the password")
    code, out, err = run(capsys, "credits", "buy", "1", "--home", home, *world.chain_args())
    assert code == 2 and one_error(err) and "wrong password" in err
    assert out == ""


def test_deposit_is_one_transaction_with_a_permit(world: World, tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    wallet = funded_wallet(world, home, deposited=0)
    before = _nonce(world, wallet.address)
    code, out, err = run(capsys, "credits", "deposit", "0.25", "--prover", world.prover.address,
                         "--home", home, *world.chain_args(), "--json")
    assert code == 0, err
    made = json.loads(out)
    assert _nonce(world, wallet.address) == before + 1  # no separate approve
    assert made["deposited"] == made["amount"] == str(ONE_CREDIT // 4) and made["epoch"] == 0
    state = channel(world.env.chain, world.env.deployment, wallet.address, world.prover.address)
    assert state.deposited == ONE_CREDIT // 4


def test_status_shows_the_channel(world: World, tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    wallet = funded_wallet(world, home, deposited=ONE_CREDIT // 10)
    code, out, err = run(capsys, "credits", "status", "--prover", world.prover.address, "--home", home,
                         *world.chain_args(), "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["address"] == wallet.address
    (row,) = status["channels"]
    assert row == {"prover": world.prover.address, "epoch": 0, "deposited": str(ONE_CREDIT // 10),
                   "redeemed": "0", "signed": "0", "accepted": "0", "left": str(ONE_CREDIT // 10),
                   "withdrawableAt": 0, "withdrawalPending": False, "blocked": False}


def test_withdraw_requests_then_withdraws_after_the_delay(
    world: World, tmp_path: Path, capsys, password_env
) -> None:
    home = tmp_path / "home"
    wallet = funded_wallet(world, home, deposited=ONE_CREDIT // 10)
    args = ["credits", "withdraw", "--prover", world.prover.address, "--home", home, *world.chain_args()]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "withdrawal requested: due at" in out and "again then" in out
    code, out, _ = run(capsys, *args, "--json")
    step = json.loads(out)
    assert step["action"] == "pending"
    assert step["withdrawableAt"] - step["chainTime"] <= PARAMS.withdrawal_delay_s
    held = credit_balance(world.env.chain, world.env.deployment, wallet.address)
    world.env.chain.advance_time(PARAMS.withdrawal_delay_s)
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["action"] == "withdrawn" and done["amount"] == str(ONE_CREDIT // 10) and done["epoch"] == 1
    assert credit_balance(world.env.chain, world.env.deployment, wallet.address) == held + ONE_CREDIT // 10
    state = channel(world.env.chain, world.env.deployment, wallet.address, world.prover.address)
    assert (state.deposited, state.withdrawable_at, state.epoch) == (0, 0, 1)


def test_deposit_cancels_a_pending_withdrawal(world: World, tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    funded_wallet(world, home, deposited=ONE_CREDIT // 10)
    chain_args = ["--home", home, *world.chain_args()]
    assert run(capsys, "credits", "withdraw", "--prover", world.prover.address, *chain_args)[0] == 0
    code, out, err = run(capsys, "credits", "deposit", "0.1", "--prover", world.prover.address, *chain_args)
    assert code == 0, err
    assert "pending withdrawal was cancelled" in out
    code, out, _ = run(capsys, "credits", "status", "--prover", world.prover.address, *chain_args, "--json")
    (row,) = json.loads(out)["channels"]
    assert row["withdrawalPending"] is False and row["deposited"] == str(2 * ONE_CREDIT // 10)


def test_invalid_withdraw_of_an_empty_channel(world: World, tmp_path: Path, capsys, password_env) -> None:
    home = tmp_path / "home"
    funded_wallet(world, home, deposited=0)
    code, _, err = run(capsys, "credits", "withdraw", "--prover", world.prover.address, "--home", home,
                       *world.chain_args())
    assert code == 2 and one_error(err) and "nothing is deposited" in err


def test_invalid_prover_address(world: World, tmp_path: Path, capsys, password_env) -> None:
    code, _, err = run(capsys, "credits", "deposit", "1", "--prover", "0x1234", "--home", tmp_path,
                       *world.chain_args())
    assert code == 2 and one_error(err)
