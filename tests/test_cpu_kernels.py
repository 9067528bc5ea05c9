"""The CPU kernels rsdml asks the numerical libraries for: the same on every x86-64 machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from rsdml.cli import main
from rsdml.cpu_kernels import (
    KERNELS_ENV,
    NUMPY_AVX512_FEATURES_BEFORE_2_4,
    NUMPY_AVX512_GROUPS,
    X86_64_MACHINES,
    cpu_kernels_choice,
    lacks_avx2,
    numpy_avx512_names,
    pin_cpu_kernels,
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
    with pytest.warns(UserWarning, match="'avx512' is not one of avx2, native"):
        assert (
            pin_cpu_kernels(environ, machine="x86_64", numpy_version="2.4.1", cpuinfo=AVX2_CPUINFO)
            == {}
        )
    assert environ == {KERNELS_ENV: "avx512"}


def test_the_choice_defaults_to_avx2_and_names_the_fix():
    assert cpu_kernels_choice({}) == "avx2"
    assert cpu_kernels_choice({KERNELS_ENV: ""}) == "avx2"
    assert cpu_kernels_choice({KERNELS_ENV: "NATIVE"}) == "native"
    with pytest.raises(ValueError, match=f"unset it .* or set {KERNELS_ENV}=native"):
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
    assert f"{KERNELS_ENV}='fastest' is not one of avx2, native" in error
    assert "Traceback" not in error


# What a fresh interpreter's libraries report after `import rsdml`, then torch and NumPy.
PROBE = """
import json, rsdml, torch, numpy
from numpy._core._multiarray_umath import __cpu_features__ as numpy_features
print(json.dumps({"torch": torch.backends.cpu.get_cpu_capability(),
                  "numpy_avx512": numpy_features.get("X86_V4", numpy_features["AVX512_SKX"])}))
"""


def probe(**environment: str) -> dict:
    env = dict(os.environ)
    for name in (
        KERNELS_ENV,
        "ATEN_CPU_CAPABILITY",
        "ONEDNN_MAX_CPU_ISA",
        "MKL_CBWR",
        "OPENBLAS_CORETYPE",
        "NPY_DISABLE_CPU_FEATURES",
    ):
        env.pop(name, None)
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
    if native["torch"] == "AVX512":
        assert pinned["torch"] == "AVX2" and native["numpy_avx512"] is True
