"""Check the wheel as a user gets it: one import name, the contract artifacts inside, a light
install that verifies without torch, and a prover install that runs the demo.

Run by tests/test_wheel.py (``make test``), or by hand: ``.venv/bin/python scripts/check_wheel.py``.
Everything happens in a temporary directory outside the checkout, in fresh virtual
environments that install only from the package index (pip's own configuration and cache):

1. ``pip wheel`` of a copy of the source tree; the wheel's only top-level name is
   ``ghostproof`` and it ships ``ghostproof/contracts/artifacts/*.json``.
2. A light venv, ``pip install WHEEL``: torch, hnswlib, scikit-learn, eth-tester and the web
   server are absent; the committed example (examples/digits/) verifies against its root;
   ``model build`` says which extra it needs (exit 2, one line); compiling says it needs a
   checkout; ``chain up`` finds Anvil ($GHOSTPROOF_ANVIL) and deploys from the shipped artifacts.
3. A prover venv, ``pip install 'WHEEL[prover]'``: still no torch; ``ghostproof demo`` runs
   to the end.

Bounded: every step has a time-out and the whole check a deadline (``--budget``, seconds).
Exits 0 when all holds; otherwise prints one line naming the failed step (and the tail of
its output) and exits 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "digits"
NPM_ANVIL = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ARTIFACTS = ("GhostCredit", "GhostRegistry", "CreditEscrow")
NOT_IN_LIGHT = ("torch", "hnswlib", "sklearn", "scipy", "eth_tester", "eth", "fastapi", "uvicorn")
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
MISSING_EXTRA = "error: ghostproof model build needs the prover extra: pip install 'ghostproof[prover]'"
DEFAULT_BUDGET_S = 420.0


class CheckFailed(Exception):
    """A step of the check did not hold; the message says which and why."""


class Clock:
    """The check's deadline: each step gets at most what is left of the budget."""

    def __init__(self, budget_s: float) -> None:
        """Start the clock with ``budget_s`` seconds for the whole check."""
        self.start = time.monotonic()
        self.deadline = self.start + budget_s

    def left(self, step: str) -> float:
        """Seconds left before the deadline; CheckFailed once it has passed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 1:
            raise CheckFailed(f"{step}: out of time (the check's budget is spent)")
        return remaining

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.start


def clean_env(venv: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH or active venv, ``venv``'s bin first."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    path = env.get("PATH", "/usr/bin:/bin")
    env["PATH"] = f"{venv / 'bin'}:{path}" if venv is not None else path
    env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "COLUMNS": "200", **extra})
    return env


def run(
    clock: Clock, step: str, argv: list[str | Path], cwd: Path, env: dict[str, str], limit_s: float
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd`` for at most ``limit_s`` (and the clock's remainder); return it.
    CheckFailed if it does not finish in time."""
    timeout = min(limit_s, clock.left(step))
    try:
        return subprocess.run(
            [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{step}: no result within {timeout:.0f} s") from exc


def expect_ok(proc: subprocess.CompletedProcess[str], step: str) -> str:
    """``proc``'s stdout if it exited 0; else CheckFailed with the tail of its output."""
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-1500:]
        raise CheckFailed(f"{step}: exit {proc.returncode}\n{tail}")
    return proc.stdout


def copy_source(dest: Path) -> Path:
    """Copy what the build reads (pyproject, README, ghostproof/ and the folders it links) to ``dest``."""
    dest.mkdir()
    for name in SOURCE_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
    shutil.copytree(REPO / "ghostproof", dest / "ghostproof", symlinks=True, ignore=ignore)
    for link in (REPO / "ghostproof").iterdir():
        if link.is_symlink():
            target = (link.parent / os.readlink(link)).resolve()
            shutil.copytree(target, dest / target.relative_to(REPO), symlinks=True, ignore=ignore)
    return dest


def build_wheel(clock: Clock, work: Path) -> Path:
    """``pip wheel`` a clean copy of the source tree; return the wheel."""
    src = copy_source(work / "src")
    dist = work / "dist"
    proc = run(clock, "pip wheel", [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                                    "-w", dist, src], work, clean_env(), 180)
    expect_ok(proc, "pip wheel")
    wheels = sorted(dist.glob("ghostproof-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"pip wheel: expected one ghostproof wheel, found {wheels}")
    return wheels[0]


def check_wheel_contents(wheel: Path) -> None:
    """The wheel's only import name is ``ghostproof``, and it ships the contract artifacts."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        tops = {n.split("/", 1)[0] for n in names}
        top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        declared = zf.read(top_level[0]).decode().split() if top_level else ["ghostproof"]
    packages = {t for t in tops if not t.endswith((".dist-info", ".data"))}
    if packages != {"ghostproof"} or declared != ["ghostproof"]:
        raise CheckFailed(f"wheel: top-level names {sorted(packages)} / top_level.txt {declared}, "
                          "expected only ghostproof")
    missing = [a for a in ARTIFACTS if f"ghostproof/contracts/artifacts/{a}.json" not in names]
    if missing:
        raise CheckFailed(f"wheel: contract artifacts missing: {missing}")


def make_venv(clock: Clock, venv: Path, requirement: str, work: Path) -> None:
    """A fresh venv at ``venv`` with ``requirement`` installed (from the index, pip's cache)."""
    step = f"venv {venv.name}"
    expect_ok(run(clock, step, [sys.executable, "-m", "venv", venv], work, clean_env(), 60), step)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", requirement]
    expect_ok(run(clock, f"pip install {requirement}", pip, work, clean_env(venv), 300),
              f"pip install {requirement}")


def check_absent(clock: Clock, venv: Path, modules: tuple[str, ...], work: Path) -> None:
    """None of ``modules`` can be imported in ``venv`` (``import torch`` fails there)."""
    code = ("import importlib.util, sys; "
            f"found = [m for m in {modules!r} if importlib.util.find_spec(m)]; "
            "print(*found); sys.exit(1 if found else 0)")
    proc = run(clock, "absent packages", [venv / "bin" / "python", "-c", code], work, clean_env(venv), 60)
    if proc.returncode != 0:
        raise CheckFailed(f"{venv.name} venv: has {proc.stdout.strip() or proc.stderr.strip()[-300:]}")
    proc = run(clock, "import torch", [venv / "bin" / "python", "-c", "import torch"], work,
               clean_env(venv), 60)
    if proc.returncode == 0:
        raise CheckFailed(f"{venv.name} venv: `import torch` works; it must not")


def check_installed_not_checkout(clock: Clock, venv: Path, work: Path) -> None:
    """``import ghostproof`` in ``venv`` comes from the venv, not from the checkout."""
    code = "import ghostproof; print(ghostproof.__file__)"
    where = expect_ok(run(clock, "import ghostproof", [venv / "bin" / "python", "-c", code], work,
                          clean_env(venv), 60), "import ghostproof").strip()
    if not Path(where).resolve().is_relative_to(venv.resolve()):
        raise CheckFailed(f"{venv.name} venv: ghostproof imported from {where}, not from the venv")


def check_verify_example(clock: Clock, venv: Path, work: Path) -> None:
    """The committed example verifies against its root, with the README's command line."""
    shutil.copytree(EXAMPLE, work / "examples" / "digits")
    root = (EXAMPLE / "root.txt").read_text(encoding="utf-8").strip()
    argv = [venv / "bin" / "ghostproof", "verify", "examples/digits/answer.json",
            "--ghost", "examples/digits/ghost.json", "--request", "examples/digits/request.json",
            "--root", root]
    out = expect_ok(run(clock, "verify the example", argv, work, clean_env(venv), 60), "verify the example")
    if "valid" not in out or "answers your request" not in out:
        raise CheckFailed(f"verify the example: unexpected output\n{out[-800:]}")


def check_missing_extra(clock: Clock, venv: Path, work: Path) -> None:
    """``model build`` in the light venv prints the one line naming the prover extra, exit 2."""
    argv = [venv / "bin" / "ghostproof", "model", "build", "-o", "m"]
    proc = run(clock, "model build (light)", argv, work, clean_env(venv), 60)
    if proc.returncode != 2 or proc.stderr.strip() != MISSING_EXTRA:
        raise CheckFailed(f"model build in the light venv: exit {proc.returncode}, "
                          f"stderr {proc.stderr.strip()[-600:]!r}; expected {MISSING_EXTRA!r}")


def check_compile_needs_checkout(clock: Clock, venv: Path, work: Path) -> None:
    """Compiling from the installed package fails with the one CompileError saying why."""
    code = ("from ghostproof.protocol.errors import CompileError\n"
            "from ghostproof.adapters.chain.compile import compile_contracts\n"
            "try:\n    compile_contracts()\nexcept CompileError as exc:\n    print(exc)\n")
    out = expect_ok(run(clock, "compile (installed)", [venv / "bin" / "python", "-c", code], work,
                        clean_env(venv), 60), "compile (installed)")
    if "checkout" not in out:
        raise CheckFailed(f"compile in the light venv: expected a CompileError naming the checkout, "
                          f"got {out!r}")


def anvil_path() -> Path:
    """The Anvil binary for the deploy check: $GHOSTPROOF_ANVIL, PATH, or the checkout's npm one."""
    found = os.environ.get("GHOSTPROOF_ANVIL") or shutil.which("anvil")
    path = Path(found) if found else NPM_ANVIL
    if not path.is_file():
        raise CheckFailed(f"chain up: no Anvil binary (looked at $GHOSTPROOF_ANVIL, PATH and {NPM_ANVIL})")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_deploy(clock: Clock, venv: Path, work: Path) -> None:
    """``chain up`` from the installed package finds Anvil through $GHOSTPROOF_ANVIL and deploys
    the shipped artifacts (deployment.json names the three contracts); then it is stopped."""
    deployment = work / "deployment.json"
    argv = [str(venv / "bin" / "ghostproof"), "chain", "up", "--port", str(free_port()),
            "--deployment", str(deployment)]
    env = clean_env(venv, GHOSTPROOF_ANVIL=str(anvil_path()))
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        limit = time.monotonic() + min(60.0, clock.left("chain up"))
        while not deployment.exists() and proc.poll() is None and time.monotonic() < limit:
            time.sleep(0.2)
        if not deployment.exists():
            raise CheckFailed(f"chain up: no deployment file (exit {proc.poll()})")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            output = proc.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0]
    text = deployment.read_text(encoding="utf-8")
    if not all(name in text for name in ARTIFACTS):
        raise CheckFailed(f"chain up: deployment file lacks a contract\n{text[:500]}\n{output[-500:]}")


def check_demo(clock: Clock, venv: Path, work: Path) -> None:
    """``ghostproof demo`` runs to the end in the prover venv."""
    argv = [venv / "bin" / "ghostproof", "demo", "--dir", work / "demo", "--samples", "2"]
    out = expect_ok(run(clock, "demo", argv, work, clean_env(venv), 240), "demo")
    if "rejected" not in out or "audit layer 0 K: OK" not in out:
        raise CheckFailed(f"demo: did not reach its end\n{out[-1200:]}")


def check(work: Path, budget_s: float) -> list[tuple[str, float]]:
    """Run every step in ``work``; return (step, seconds) for each. CheckFailed on the first failure."""
    clock = Clock(budget_s)
    times: list[tuple[str, float]] = []

    def step(name: str, fn, *args) -> object:
        started = time.monotonic()
        result = fn(*args)
        times.append((name, time.monotonic() - started))
        return result

    wheel = step("pip wheel", build_wheel, clock, work)
    step("wheel contents", check_wheel_contents, wheel)
    light, prover = work / "light", work / "prover"
    step("light venv: pip install WHEEL", make_venv, clock, light, str(wheel), work)
    step("light venv: no torch, hnswlib, …", check_absent, clock, light, NOT_IN_LIGHT, work)
    step("light venv: installed package", check_installed_not_checkout, clock, light, work)
    step("light venv: verify the example", check_verify_example, clock, light, work)
    step("light venv: model build needs [prover]", check_missing_extra, clock, light, work)
    step("light venv: compile needs a checkout", check_compile_needs_checkout, clock, light, work)
    step("light venv: chain up deploys", check_deploy, clock, light, work)
    step("prover venv: pip install WHEEL[prover]", make_venv, clock, prover, f"{wheel}[prover]", work)
    step("prover venv: no torch", check_absent, clock, prover, ("torch",), work)
    step("prover venv: demo", check_demo, clock, prover, work)
    return times


def du(path: Path) -> int:
    """Bytes under ``path`` (files only, links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    """Run the check in a temporary directory; print each step's time, exit 0 or 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="Seconds for the whole check.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ghostproof-wheel-"))
    started = time.monotonic()
    try:
        times = check(work, args.budget)
    except CheckFailed as exc:
        print(f"check_wheel: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    else:
        for name, seconds in times:
            print(f"{seconds:7.1f} s  {name}")
        wheel = next((work / "dist").glob("*.whl"))
        print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e3:.0f} kB; light venv "
              f"{du(work / 'light') / 1e6:.0f} MB; prover venv {du(work / 'prover') / 1e6:.0f} MB")
        print(f"check_wheel: OK in {time.monotonic() - started:.0f} s")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
