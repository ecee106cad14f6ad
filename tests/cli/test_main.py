"""The ``ghostproof`` command line, run as a real subprocess: build, info, prove, verify.

Exit codes (ghostproof/cli.py): 0 valid, 1 a check failed, 2 bad input; every failure is
one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLI = [sys.executable, "-c", "from ghostproof.cli.main import main; main()"]


def run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "digits"
    proc = run("model", "build", "--preset", "digits", "-o", path, "--json")
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture(scope="module")
def info(model_dir) -> dict:
    proc = run("model", "info", model_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def response_path(model_dir) -> Path:
    path = model_dir.parent / "r.json"
    proc = run("prove", model_dir, "--sample", "0", "-o", path, "--json")
    assert proc.returncode == 0, proc.stderr
    return path


def verify(response: Path, model_dir: Path, root: str, *extra: str) -> subprocess.CompletedProcess:
    return run("verify", response, "--ghost", model_dir / "ghost.json", "--root", root, *extra)


def tampered(json_path: Path, name: str, edit) -> Path:
    """A copy of the JSON file ``json_path`` (an answer or a request), named ``name`` beside
    it, with ``edit`` applied to its object."""
    obj = json.loads(json_path.read_text())
    edit(obj)
    path = json_path.parent / name
    path.write_text(json.dumps(obj))
    return path


# ---------------------------------------------------------------- happy path


def test_model_info_reports_the_ghost_file(model_dir, info):
    from ghostproof.protocol.ghost import parse_ghost
    from ghostproof.protocol.hashing import to_hex

    ghost = parse_ghost((model_dir / "ghost.json").read_bytes())
    assert info["ghostRoot"] == to_hex(ghost.ghost_root)
    assert info["headerHash"] == to_hex(ghost.header_hash)


def test_model_info_describes_the_digits_layer(info):
    layer = info["layers"][0]
    assert (len(info["layers"]), layer["dIn"], layer["dOut"], layer["k"]) == (1, 64, 10, 16)


def test_prove_writes_a_response(response_path):
    assert json.loads(response_path.read_text())["format"] == "ghostproof/response/2"


def test_verify_valid_response_exits_0(model_dir, info, response_path):
    proc = verify(response_path, model_dir, info["ghostRoot"])
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_verify_json_reports_prover_output(model_dir, info, response_path):
    proc = verify(response_path, model_dir, info["ghostRoot"], "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    claimed = json.loads(response_path.read_text())["output"]
    assert summary["valid"] is True
    assert summary["output"] == claimed
    assert summary["top1"] == int(np.argmax(claimed))


def test_verify_binary_response_exits_0(model_dir, info):
    path = model_dir.parent / "r.bin"
    proc = run("prove", model_dir, "--sample", "1", "-o", path, "--binary")
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes()[:3] == b"GPR"
    assert verify(path, model_dir, info["ghostRoot"]).returncode == 0


def test_prove_from_input_file(model_dir, info):
    x = np.load(model_dir / "samples.npy")[2]
    np.save(model_dir.parent / "x.npy", x)
    path = model_dir.parent / "rx.json"
    proc = run("prove", model_dir, "--input", model_dir.parent / "x.npy", "-o", path)
    assert proc.returncode == 0, proc.stderr
    assert verify(path, model_dir, info["ghostRoot"]).returncode == 0


# ---------------------------------------------------------------- failed checks: exit 1


def test_invalid_tampered_output_exits_1(model_dir, info, response_path):
    path = tampered(response_path, "t_out.json", lambda o: o["output"].__setitem__(0, o["output"][0] + 1))
    assert_one_line_error(verify(path, model_dir, info["ghostRoot"]), 1)


def test_invalid_tampered_key_columns_exits_1(model_dir, info, response_path):
    def edit(o):
        cols = o["layers"][0]["keyColumns"]
        o["layers"][0]["keyColumns"] = cols[:10] + ("1" if cols[10] != "1" else "2") + cols[11:]

    proc = verify(tampered(response_path, "t_cols.json", edit), model_dir, info["ghostRoot"])
    assert_one_line_error(proc, 1)
    assert "layer 0 matrix K" in proc.stderr


def test_invalid_tampered_signature_exits_1(model_dir, info, response_path):
    def edit(o):
        sig = o["signature"]
        o["signature"] = sig[:10] + ("a" if sig[10] != "a" else "b") + sig[11:]

    path = tampered(response_path, "t_sig.json", edit)
    assert_one_line_error(verify(path, model_dir, info["ghostRoot"]), 1)


def test_invalid_other_root_exits_1(model_dir, response_path):
    assert_one_line_error(verify(response_path, model_dir, "0x" + "ab" * 32), 1)


# ---------------------------------------------------------------- bad input: exit 2


def test_invalid_malformed_json_exits_2(model_dir, info):
    path = model_dir.parent / "bad.json"
    path.write_text("{not json")
    assert_one_line_error(verify(path, model_dir, info["ghostRoot"]), 2)


def test_invalid_undecodable_field_exits_2(model_dir, info, response_path):
    path = tampered(response_path, "t_sel.json", lambda o: o["layers"][0]["selected"].__setitem__(1, 0))
    assert_one_line_error(verify(path, model_dir, info["ghostRoot"]), 2)


def test_invalid_deeply_nested_json_exits_2(model_dir, info):
    path = model_dir.parent / "deep.json"
    path.write_text("[" * 100_000)
    assert_one_line_error(verify(path, model_dir, info["ghostRoot"]), 2)


def test_invalid_missing_response_file_exits_2(model_dir, info):
    assert_one_line_error(verify(model_dir.parent / "absent.json", model_dir, info["ghostRoot"]), 2)


def test_invalid_missing_ghost_file_exits_2(model_dir, info, response_path):
    proc = run("verify", response_path, "--ghost", model_dir / "absent.json", "--root", info["ghostRoot"])
    assert_one_line_error(proc, 2)


def test_invalid_non_canonical_ghost_file_exits_2(model_dir, info, response_path):
    path = model_dir.parent / "ghost-pretty.json"
    path.write_text(json.dumps(json.loads((model_dir / "ghost.json").read_text()), indent=1))
    proc = run("verify", response_path, "--ghost", path, "--root", info["ghostRoot"])
    assert_one_line_error(proc, 2)


@pytest.mark.parametrize("root", ["0x1234", "0x" + "00" * 33, "1234", "0x" + "zz" * 32])
def test_invalid_root_argument_exits_2(model_dir, response_path, root):
    assert_one_line_error(verify(response_path, model_dir, root), 2)


def test_invalid_truncated_binary_exits_2(model_dir, info):
    path = model_dir.parent / "cut.bin"
    run("prove", model_dir, "--sample", "3", "-o", path, "--binary", "--exact")
    path.write_bytes(path.read_bytes()[:-7])
    assert_one_line_error(verify(path, model_dir, info["ghostRoot"]), 2)


@pytest.mark.parametrize(
    ("name", "x"),
    [
        ("nan", np.full(64, np.nan, dtype=np.float32)),
        ("zeros", np.zeros(64, dtype=np.float32)),
        ("short", np.ones(63, dtype=np.float32)),
        ("matrix", np.ones((2, 64), dtype=np.float32)),
        ("beyond-float32", np.full(64, 1e300)),
        ("complex", np.ones(64, dtype=np.complex128)),
        ("bool", np.ones(64, dtype=bool)),
    ],
)
def test_invalid_input_file_exits_2(model_dir, name, x):
    path = model_dir.parent / f"in-{name}.npy"
    np.save(path, x)
    out = model_dir.parent / f"out-{name}.json"
    proc = run("prove", model_dir, "--input", path, "-o", out)
    assert_one_line_error(proc, 2)
    assert not out.exists()


def test_invalid_prove_without_input_exits_2(model_dir):
    assert_one_line_error(run("prove", model_dir, "-o", model_dir.parent / "none.json"), 2)


def test_invalid_sample_out_of_range_exits_2(model_dir):
    assert_one_line_error(run("prove", model_dir, "--sample", "100000", "-o", model_dir.parent / "s.json"), 2)


def test_invalid_verify_without_ghost_option_exits_2(response_path):
    assert_one_line_error(run("verify", response_path), 2)


def test_invalid_unknown_preset_exits_2(tmp_path):
    assert_one_line_error(run("model", "build", "--preset", "bogus", "-o", tmp_path / "m"), 2)


@pytest.mark.parametrize("model_id", ["-1", str(1 << 256)])
def test_invalid_model_id_exits_2(model_dir, model_id):
    out = model_dir.parent / "bad-id.json"
    assert_one_line_error(run("prove", model_dir, "--sample", "0", "--model-id", model_id, "-o", out), 2)
    assert not out.exists()


@pytest.fixture()
def model_copy(model_dir, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(model_dir, tmp_path / "copy"))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("anchor.json", '{"modelId": null}'),
        ("anchor.json", '{"modelId": 1, "chainId": -1, "registry": "0x' + "11" * 20 + '"}'),
        ("anchor.json", '{"modelId": 1, "chainId": 5, "registry": 12}'),
        ("anchor.json", '{"modelId": 1, "chainId": 5, "registry": "0x12"}'),
        ("model.json", '{"index": {"ef": null}}'),
        ("model.json", '{"index": {"ef": 1e400}}'),
        ("model.json", "[1]"),
    ],
)
def test_invalid_model_dir_metadata_exits_2(model_copy, name, text):
    (model_copy / name).write_text(text)
    proc = run("prove", model_copy, "--sample", "0", "-o", model_copy / "r.json")
    if name == "model.json" and text == "[1]":  # ignored, like a missing model.json
        assert proc.returncode == 0, proc.stderr
    else:
        assert_one_line_error(proc, 2)


def test_prove_exact_prints_no_warning(model_dir):
    proc = run("prove", model_dir, "--sample", "1", "--exact", "-o", model_dir.parent / "exact.json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("--preset", "synthetic", "--n", "100", "--d", "8", "--k", "0"),  # was silently k=32
        ("--preset", "digits", "--k", "0"),
        ("--preset", "synthetic", "--n", "100", "--d", "8", "--ef", "0"),  # built, then unservable
        ("--preset", "synthetic", "--n", "100", "--d", "8", "--hnsw-m", "1"),
        ("--preset", "synthetic", "--n", str(1 << 31), "--d", "4096"),  # MemoryError traceback
        ("--preset", "synthetic", "--n", "100", "--d", "8", "--order", "kmeans"),
        ("--preset", "synthetic", "--n", "100", "--d", "8", "--kind", "gaussian"),
    ],
)
def test_invalid_build_parameters_exit_2(tmp_path, args):
    assert_one_line_error(run("model", "build", "-o", tmp_path / "m", *args), 2)


def test_build_clustered_model_in_cluster_order(tmp_path):
    out = tmp_path / "m"
    proc = run("model", "build", "--preset", "synthetic", "--kind", "clustered", "--n", "600", "--d", "16",
               "--k", "4", "--order", "cluster", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    header = json.loads((out / "ghost.json").read_text())["header"]
    assert header["order"]["method"] == "kmeans-bisection-v1"


# ---------------------------------------------------------------- the request an answer answers

NONCE = "0x" + "5a" * 32


@pytest.fixture(scope="module")
def bound(model_dir) -> tuple[Path, Path, Path]:
    """(answer, request file, input .npy) of one query with a chosen nonce."""
    x = np.load(model_dir / "samples.npy")[4]
    x_path = model_dir.parent / "x4.npy"
    np.save(x_path, x)
    answer, request = model_dir.parent / "a4.json", model_dir.parent / "req4.json"
    proc = run("prove", model_dir, "--input", x_path, "--nonce", NONCE, "-o", answer,
               "--request-out", request)
    assert proc.returncode == 0, proc.stderr
    return answer, request, x_path


def test_prove_writes_the_request_file(bound):
    answer, request, x_path = bound
    obj = json.loads(request.read_text())
    assert set(obj) == {"modelId", "input", "nonce"}
    assert obj["nonce"] == NONCE and obj["modelId"] == 0
    assert np.array_equal(np.asarray(obj["input"], dtype=np.float32), np.load(x_path))
    assert json.loads(answer.read_text())["request"]["nonce"] == NONCE


def test_verify_with_request_file_is_bound(model_dir, info, bound):
    answer, request, _ = bound
    proc = verify(answer, model_dir, info["ghostRoot"], "--request", request, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["boundToRequest"] is True and summary["requestHash"].startswith("0x")


def test_verify_with_input_and_nonce_is_bound(model_dir, info, bound):
    answer, _, x_path = bound
    proc = verify(answer, model_dir, info["ghostRoot"], "--input", x_path, "--nonce", NONCE)
    assert proc.returncode == 0, proc.stderr
    assert "answers your request" in proc.stdout


def test_verify_without_request_says_not_bound(model_dir, info, bound):
    answer, _, _ = bound
    proc = verify(answer, model_dir, info["ghostRoot"])
    assert proc.returncode == 0, proc.stderr
    assert "not bound to a request" in proc.stdout
    proc = verify(answer, model_dir, info["ghostRoot"], "--json")
    summary = json.loads(proc.stdout)
    assert summary["boundToRequest"] is False and summary["requestHash"] is None


def test_invalid_verify_other_nonce_exits_1(model_dir, info, bound):
    answer, _, x_path = bound
    proc = verify(answer, model_dir, info["ghostRoot"], "--input", x_path, "--nonce", "0x" + "5b" * 32)
    assert_one_line_error(proc, 1)
    assert "nonce" in proc.stderr


def test_invalid_verify_other_input_exits_1(model_dir, info, bound):
    answer, _, _ = bound
    other = model_dir.parent / "x5.npy"
    np.save(other, np.load(model_dir / "samples.npy")[5])
    proc = verify(answer, model_dir, info["ghostRoot"], "--input", other, "--nonce", NONCE)
    assert_one_line_error(proc, 1)
    assert "different input" in proc.stderr


def test_invalid_verify_request_for_other_model_exits_1(model_dir, info, bound):
    answer, request, _ = bound
    path = tampered(request, "req-other-model.json", lambda o: o.__setitem__("modelId", 7))
    proc = verify(answer, model_dir, info["ghostRoot"], "--request", path)
    assert_one_line_error(proc, 1)
    assert "model id" in proc.stderr


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("extra-key", lambda o: o.__setitem__("format", 1)),
        ("short-nonce", lambda o: o.__setitem__("nonce", "0x1234")),
        ("not-float32", lambda o: o["input"].__setitem__(0, 0.1)),
        ("string-input", lambda o: o["input"].__setitem__(0, "1")),
        ("negative-id", lambda o: o.__setitem__("modelId", -1)),
        ("not-object", lambda o: o.clear()),
    ],
)
def test_invalid_request_file_exits_2(model_dir, info, bound, name, edit):
    answer, request, _ = bound
    proc = verify(answer, model_dir, info["ghostRoot"], "--request", tampered(request, name, edit))
    assert_one_line_error(proc, 2)


@pytest.mark.parametrize("text", ['{"modelId": 0, "input": [NaN], "nonce": "0x"}', "[" * 100_000, "{"])
def test_invalid_request_file_json_exits_2(model_dir, info, bound, text):
    answer, _, _ = bound
    path = model_dir.parent / "req-bad.json"
    path.write_text(text)
    assert_one_line_error(verify(answer, model_dir, info["ghostRoot"], "--request", path), 2)


@pytest.mark.parametrize(
    "extra",
    [
        ("--nonce", NONCE),  # no --input
        ("--input", "x4.npy"),  # no --nonce
        ("--input", "x4.npy", "--nonce", "0x12"),  # nonce not 32 bytes
        ("--request", "req4.json", "--nonce", NONCE),  # both forms
        ("--request", "absent.json"),
    ],
)
def test_invalid_verify_request_options_exit_2(model_dir, info, bound, extra):
    answer, _, _ = bound
    args = [str(model_dir.parent / a) if a.endswith((".npy", ".json")) else a for a in extra]
    assert_one_line_error(verify(answer, model_dir, info["ghostRoot"], *args), 2)


def test_invalid_prove_nonce_exits_2(model_dir):
    out = model_dir.parent / "bad-nonce.json"
    proc = run("prove", model_dir, "--sample", "0", "--nonce", "0x" + "ab" * 31, "-o", out)
    assert_one_line_error(proc, 2)
    assert not out.exists()


# ---------------------------------------------------------------- the key prove signs with


def _anchor(model_copy: Path, prover: str) -> None:
    (model_copy / "anchor.json").write_text(json.dumps(
        {"modelId": 3, "chainId": 11155111, "registry": "0x" + "11" * 20, "prover": prover}
    ))


def test_invalid_prove_key_not_registered_prover_exits_2(model_copy):
    """DIR/prover.key is not the prover anchor.json names: refused before proving."""
    other = "0x" + "22" * 20
    _anchor(model_copy, other)
    out = model_copy / "r.json"
    proc = run("prove", model_copy, "--sample", "0", "-o", out)
    assert_one_line_error(proc, 2)
    assert "not model 3's registered prover" in proc.stderr and other in proc.stderr.lower()
    assert not out.exists()


def test_prove_signs_with_keystore(model_copy, tmp_path):
    from eth_account import Account

    from ghostproof.adapters.chain.accounts import write_keystore

    account = Account.create()
    keystore = tmp_path / "key.json"
    write_keystore(keystore, account, "pw")
    _anchor(model_copy, account.address)
    out = model_copy / "r.json"
    env = {**__import__("os").environ, "GHOSTPROOF_KEYSTORE_PASSWORD": "pw"}
    proc = subprocess.run([*CLI, "prove", str(model_copy), "--sample", "0", "-o", str(out),
                           "--keystore", str(keystore)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(out.read_text())
    assert answer["prover"] == account.address
    assert (answer["chainId"], answer["modelId"]) == (11155111, 3)


def test_invalid_prove_dev_account_off_local_chain_exits_2(model_copy):
    _anchor(model_copy, "0x" + "22" * 20)
    proc = run("prove", model_copy, "--sample", "0", "--dev-account", "1", "-o", model_copy / "r.json")
    assert_one_line_error(proc, 2)
    assert "use --keystore" in proc.stderr


@pytest.mark.parametrize("text", ["{not json", "[1]", "[" * 100_000, "\ufeff{}"])
def test_invalid_anchor_file_exits_2(model_copy, text):
    """A damaged anchor.json is not silently taken for 'not anchored' (receipts for no chain)."""
    (model_copy / "anchor.json").write_text(text)
    out = model_copy / "r.json"
    assert_one_line_error(run("prove", model_copy, "--sample", "0", "-o", out), 2)
    assert not out.exists()
