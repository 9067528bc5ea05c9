"""The CPU kernels rsdml asks the numerical libraries for: the same on every x86-64 machine."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys

import pytest

from rsdml import cpu_kernels
from rsdml.cli import main
from rsdml.cpu_kernels import (
    KERNELS_ENV,
    NUMPY_AVX512_FEATURES_BEFORE_2_4,
    NUMPY_AVX512_GROUPS,
    X86_64_MACHINES,
    cpu_kernels_choice,
    kernel_record,
    lacks_avx2,
    numpy_avx512_names,
    pin_cpu_kernels,
    use_kernels_in_children,
)

ON_X86_64 = platform.machine().lower() in X86_64_MACHINES


def test_an_empty_environment_gets_every_library_pinned_to_avx2():
    environ: dict[str, str] = {}
    added = pin_cpu_kernels(environ, machine="x86_64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO)
    assert environ == added
    assert environ == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": "+avx2,+fma",
    }


def test_portable_asks_mkl_for_the_branch_it_runs_alike_on_every_vendor():
    environ = {KERNELS_ENV: "portable"}
    added = pin_cpu_kernels(environ, machine="x86_64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO)
    assert added == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": "+avx2,+fma",
    }


def test_a_setting_the_user_made_is_kept():
    environ = {"ATEN_CPU_CAPABILITY": "default", KERNELS_ENV: "avx2"}
    added = pin_cpu_kernels(environ, machine="AMD64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO)
    assert environ["ATEN_CPU_CAPABILITY"] == "default"
    assert "ATEN_CPU_CAPABILITY" not in added and "ONEDNN_MAX_CPU_ISA" in added


@pytest.mark.parametrize("value", ["native", " Native "])
def test_native_leaves_the_libraries_their_choice(value):
    environ = {KERNELS_ENV: value}
    assert (
        pin_cpu_kernels(environ, machine="x86_64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO)
        == {}
    )
    assert environ == {KERNELS_ENV: value}


@pytest.mark.parametrize("machine", ["arm64", "aarch64", "ppc64le"])
def test_nothing_is_pinned_off_x86(machine):
    environ: dict[str, str] = {}
    assert (
        pin_cpu_kernels(environ, machine=machine, numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO) == {}
    )
    assert environ == {}


AVX2_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx fma avx2 avx512f\n"
OLD_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 sse4_2 avx\n"


def test_a_processor_without_avx2_is_left_alone():
    # forcing AVX2 kernels there would end the process on an illegal instruction
    assert lacks_avx2(OLD_CPUINFO) and not lacks_avx2(AVX2_CPUINFO)
    assert not lacks_avx2("no flags line here")  # unknown: taken to have AVX2
    environ: dict[str, str] = {}
    assert pin_cpu_kernels(environ, "x86_64", "2.4.1", cpuinfo=OLD_CPUINFO) == {}
    assert environ == {}
    assert pin_cpu_kernels(environ, "x86_64", "2.4.1", cpuinfo=AVX2_CPUINFO)


def test_an_unknown_choice_warns_and_pins_nothing():
    environ = {KERNELS_ENV: "avx512"}
    with pytest.warns(UserWarning, match="'avx512' is not one of avx2, portable, native"):
        assert (
            pin_cpu_kernels(environ, machine="x86_64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO)
            == {}
        )
    assert environ == {KERNELS_ENV: "avx512"}


def test_the_choice_defaults_to_avx2_and_names_the_fix():
    assert cpu_kernels_choice({}) == "avx2"
    assert cpu_kernels_choice({KERNELS_ENV: ""}) == "avx2"
    assert cpu_kernels_choice({KERNELS_ENV: "NATIVE"}) == "native"
    assert cpu_kernels_choice({KERNELS_ENV: " portable"}) == "portable"
    with pytest.raises(ValueError, match=f"unset it .* or set {KERNELS_ENV}=portable .* or "):
        cpu_kernels_choice({KERNELS_ENV: "fast"})


@pytest.mark.parametrize(
    ("version", "names"),
    [
        ("2.4.0", NUMPY_AVX512_GROUPS),
        ("2.10.1", NUMPY_AVX512_GROUPS),
        ("3.0.0rc1", NUMPY_AVX512_GROUPS),
        ("2.3.5", NUMPY_AVX512_FEATURES_BEFORE_2_4),
        ("1.26.4", NUMPY_AVX512_FEATURES_BEFORE_2_4),
        ("not-a-version", NUMPY_AVX512_GROUPS),
        (None, NUMPY_AVX512_GROUPS),
    ],
)
def test_numpy_names_its_avx512_kernels_by_version(version, names):
    assert numpy_avx512_names(version) == names


def test_the_command_line_refuses_an_unknown_choice(monkeypatch, capsys):
    monkeypatch.setenv(KERNELS_ENV, "fastest")
    assert main(["methods"]) == 2
    error = capsys.readouterr().err
    assert f"{KERNELS_ENV}='fastest' is not one of avx2, portable, native" in error
    assert "Traceback" not in error


# What a fresh interpreter's libraries report after `import rsdml`, then torch and NumPy.
PROBE = """
import json, rsdml, torch, numpy
from numpy._core._multiarray_umath import __cpu_features__ as numpy_features
from numba.core import config as numba_config
print(json.dumps({"torch": torch.backends.cpu.get_cpu_capability(),
                  "numpy_avx512": numpy_features.get("X86_V4", numpy_features["AVX512_SKX"]),
                  "numba_cpu": numba_config.CPU_NAME}))
"""


def probe(**environment: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in kernel_record()}
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not ON_X86_64, reason="the pinned kernels are x86-64's")
def test_importing_rsdml_first_gives_torch_and_numpy_their_avx2_kernels():
    pinned = probe()
    native = probe(**{KERNELS_ENV: "native"})
    # On an AVX-512 machine the native run reports AVX512 and NumPy's AVX-512 kernels; the
    # pinned one never goes beyond AVX2 (a machine without AVX2 reports less in both).
    assert pinned["torch"] in {"AVX2", "DEFAULT"}
    assert pinned["numpy_avx512"] is False
    if pinned["torch"] == "AVX2":  # pinned (a machine without AVX2 is left alone)
        assert pinned["numba_cpu"] == "haswell" and native["numba_cpu"] is None
    if native["torch"] == "AVX512":
        assert pinned["torch"] == "AVX2" and native["numpy_avx512"] is True


@pytest.fixture
def own_environment(monkeypatch):
    """This process's environment as `import rsdml` left it on an x86-64 machine with AVX2 (the
    avx2 pins), restored afterwards; the user named no kernels."""
    for name in kernel_record():
        monkeypatch.delenv(name, raising=False)
    pinned = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
    for name, value in pinned.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cpu_kernels, "_PINNED_HERE", dict(pinned))
    monkeypatch.setattr(cpu_kernels, "_USER_NAMED_KERNELS", False)
    monkeypatch.setattr(cpu_kernels, "pin_cpu_kernels", fake_pin)
    return pinned


def fake_pin() -> dict[str, str]:
    """pin_cpu_kernels on this process's environment (it records what it set there), as on an
    x86-64 machine with AVX2."""
    return pin_cpu_kernels(
        os.environ, machine="x86_64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO
    )


def test_a_studys_choice_replaces_the_pins_rsdml_made_for_the_processes_it_starts(
    own_environment, monkeypatch
):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")  # the user's own setting
    assert use_kernels_in_children("portable") == "portable"
    assert os.environ[KERNELS_ENV] == "portable"
    assert os.environ["MKL_CBWR"] == "COMPATIBLE"
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert os.environ["OPENBLAS_CORETYPE"] == "Zen"
    # and back, or to none at all
    assert use_kernels_in_children("avx2") == "avx2"
    assert os.environ["MKL_CBWR"] == "AVX2"
    assert use_kernels_in_children("native") == "native"
    assert "MKL_CBWR" not in os.environ and "ATEN_CPU_CAPABILITY" not in os.environ
    assert os.environ["OPENBLAS_CORETYPE"] == "Zen"


def test_without_a_choice_the_children_keep_this_processs_kernels(own_environment):
    before = dict(os.environ)
    assert use_kernels_in_children(None) == "avx2"
    assert dict(os.environ) == before


def test_kernels_the_user_named_win_over_the_studys(own_environment, monkeypatch):
    monkeypatch.setenv(KERNELS_ENV, "native")
    monkeypatch.setattr(cpu_kernels, "_USER_NAMED_KERNELS", True)
    before = dict(os.environ)
    assert use_kernels_in_children("portable") == "native"
    assert dict(os.environ) == before


def test_an_unknown_study_choice_is_refused_naming_the_choices(own_environment):
    with pytest.raises(ValueError, match="'fast' is not one of avx2, portable, native"):
        use_kernels_in_children("fast")


def test_a_run_records_the_kernel_settings():
    environ = {KERNELS_ENV: "portable", "MKL_CBWR": "COMPATIBLE", "UNRELATED": "x"}
    record = kernel_record(environ)
    assert record[KERNELS_ENV] == "portable" and record["MKL_CBWR"] == "COMPATIBLE"
    assert record["ATEN_CPU_CAPABILITY"] is None and "UNRELATED" not in record


# Products and functions that torch computes with MKL, hashed, in a fresh interpreter.
MKL_PROBE = """
import hashlib, rsdml, torch
torch.manual_seed(0)
torch.set_num_threads(1)
results = []
for m, k, n in [(64, 128, 10), (10, 64, 128), (64, 1280, 128), (240, 128, 300)]:
    a, b, bias = torch.randn(m, k), torch.randn(k, n), torch.randn(n)
    results += [a @ b, torch.addmm(bias, a, b), a.t().contiguous().t() @ b]
x = torch.randn(64, 300)
results += [x.exp(), x.abs().log(), torch.linalg.svdvals(x)]
print(hashlib.md5(b"".join(t.numpy().tobytes() for t in results)).hexdigest())
"""

# Tells MKL that the processor is not Intel's: its dispatch then takes the path of an AMD one.
NOT_INTEL = """
int mkl_serv_intel_cpu_true(void) { return 0; }
int mkl_serv_intel_cpu(void) { return 0; }
"""


def mkl_probe(kernels: str, preload: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in kernel_record()}
    env[KERNELS_ENV] = kernels
    if preload:
        env["LD_PRELOAD"] = preload
    result = subprocess.run(
        [sys.executable, "-c", MKL_PROBE], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(
    not ON_X86_64 or sys.platform != "linux", reason="MKL's vendor check is x86-64 Linux's here"
)
def test_portable_kernels_give_the_same_numbers_whichever_vendor_mkl_sees(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the vendor stand-in")
    source = tmp_path / "not_intel.c"
    source.write_text(NOT_INTEL)
    library = tmp_path / f"not_intel_{hashlib.md5(NOT_INTEL.encode()).hexdigest()[:6]}.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    if mkl_probe("avx2") == mkl_probe("avx2", preload=str(library)):
        # on an AMD processor MKL already takes that path; a torch without MKL has no vendor
        pytest.skip("MKL gives the same numbers with or without the stand-in here")
    assert mkl_probe("portable") == mkl_probe("portable", preload=str(library))
