"""Which CPU kernels the numerical libraries take: AVX2 on every x86-64 machine, by default.

torch (its own vectorised operations and oneDNN's convolutions), MKL, NumPy and OpenBLAS each
choose their kernels when they load, from the processor's instruction set. On a CPU with
AVX-512 they take wider kernels that add floats in another order than the AVX2 kernels of an
older CPU: the last bits of a loss differ, a noisy-label run drifts from there, and a study's
tables no longer come back byte for byte on another machine (measured on a Zen 4: 35 of the
quick study's files moved, UMAP maps and noisy-label metrics among them). Every x86-64 CPU of
the last decade has AVX2, so rsdml asks these libraries for their AVX2 kernels on all of them:
the same commit gives the same numbers on AVX2 and AVX-512 machines (measured on AMD EPYCs of
both kinds). An Intel Xeon still gave numbers that differ in the last bits (README,
"Reproducible to the byte"): MKL's reproducible mode does not make the two vendors agree alone.

The libraries read their settings once, when they load, so this module sets environment
variables and must run before NumPy and torch are imported: ``import rsdml`` calls
:func:`pin_cpu_kernels` first thing, and every process started from there (a study's notebook
kernels, Slurm jobs, ``torchrun`` workers) inherits the settings. A process that imported NumPy
or torch before rsdml keeps the kernels it loaded; its children still get the pinned ones.

It imports nothing heavy (not even rsdml's own modules) for the same reason.

The settings cost little speed: EfficientNet-Lite0's forward ran at 28-47 img/s with either
kernel set on a 2-core Zen 4 (noisy, measured in one session). ``RSDML_CPU_KERNELS=native``
leaves the libraries their own choice (for speed on a many-core AVX-512 machine, giving up
equality with other machines); a variable already set by the user is never overridden. ONNX
Runtime and OpenVINO, the optional feature engines, offer no such setting: their features may
differ in the last bits between CPU families (the ``quick`` and ``ucmerced`` presets pin
``engine: torch``).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import warnings
from collections.abc import MutableMapping

KERNELS_ENV = "RSDML_CPU_KERNELS"
PORTABLE = "avx2"
NATIVE = "native"
CHOICES = (PORTABLE, NATIVE)

# The architectures where the settings apply; elsewhere (ARM) there is no AVX to pin.
X86_64_MACHINES = frozenset({"x86_64", "amd64", "x64"})

# NumPy names its dispatched AVX-512 kernels by feature group; NumPy 2.4 regrouped them under
# the x86-64 micro-architecture levels. Naming a group that the installed NumPy does not
# dispatch only raises a (hidden) ImportWarning, so the names follow the installed version.
NUMPY_AVX512_GROUPS = "X86_V4 AVX512_ICL AVX512_SPR"
NUMPY_AVX512_FEATURES_BEFORE_2_4 = (
    "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
)


def numpy_avx512_names(numpy_version: str | None) -> str:
    """The ``NPY_DISABLE_CPU_FEATURES`` value that turns off NumPy's AVX-512 kernels."""
    if numpy_version is None:
        return NUMPY_AVX512_GROUPS
    try:
        major, minor = (int(part) for part in numpy_version.split(".")[:2])
    except ValueError:
        return NUMPY_AVX512_GROUPS
    return NUMPY_AVX512_GROUPS if (major, minor) >= (2, 4) else NUMPY_AVX512_FEATURES_BEFORE_2_4


def installed_numpy_version() -> str | None:
    """NumPy's version from its installed metadata, without importing NumPy."""
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return None


def portable_settings(numpy_version: str | None) -> dict[str, str]:
    """The environment variables that make each library take its AVX2 kernels."""
    return {
        "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised element-wise and reduction kernels
        "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's convolutions and linear layers through oneDNN
        # torch's matrix products and LAPACK: MKL's reproducible AVX2 mode, the same code path
        # on Intel and AMD processors (left alone, MKL takes vendor-specific ones)
        "MKL_CBWR": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",  # NumPy's and SciPy's BLAS: the AVX2 kernels
        "NPY_DISABLE_CPU_FEATURES": numpy_avx512_names(numpy_version),  # NumPy's own loops
    }


def lacks_avx2(cpuinfo: str | None = None) -> bool:
    """Whether this processor is known to lack AVX2 (read from ``/proc/cpuinfo`` on Linux).

    Forcing AVX2 kernels on such a processor would stop the process on an illegal instruction,
    so nothing is pinned there. Where the flags cannot be read (macOS, Windows) the processor
    is taken to have AVX2, as every x86-64 processor since 2013 does.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
                cpuinfo = file.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "avx2" not in line.split(":", 1)[-1].split()
    return False


def cpu_kernels_choice(environ: MutableMapping[str, str] | None = None) -> str:
    """``$RSDML_CPU_KERNELS``: ``avx2`` (the default) or ``native``.

    Raises:
        ValueError: any other value; the message names the fix.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(KERNELS_ENV, "").strip().lower() or PORTABLE
    if value not in CHOICES:
        raise ValueError(
            f"{KERNELS_ENV}={environ[KERNELS_ENV]!r} is not one of {', '.join(CHOICES)}; unset "
            f"it (the AVX2 kernels: the same numbers on every x86-64 machine) or set "
            f"{KERNELS_ENV}={NATIVE} (each library's fastest kernels for this CPU)"
        )
    return value


def pin_cpu_kernels(
    environ: MutableMapping[str, str] | None = None,
    machine: str | None = None,
    numpy_version: str | None = None,
    cpuinfo: str | None = None,
) -> dict[str, str]:
    """Ask the numerical libraries for their AVX2 kernels, unless told otherwise.

    Sets each variable of :func:`portable_settings` that is not set yet, on an x86-64
    processor with AVX2 and unless ``$RSDML_CPU_KERNELS`` is ``native``. An invalid
    ``$RSDML_CPU_KERNELS`` pins nothing and warns (it is read at import time, where an
    exception would make rsdml unusable); the command line refuses it with an error.

    Args:
        environ: the environment to change (default ``os.environ``).
        machine: the processor architecture (default ``platform.machine()``).
        numpy_version: the installed NumPy's version (default: read from its metadata).
        cpuinfo: the text of ``/proc/cpuinfo`` (default: read it; see :func:`lacks_avx2`).

    Returns:
        The variables this call set, with their values.
    """
    environ = os.environ if environ is None else environ
    machine = platform.machine() if machine is None else machine
    if machine.lower() not in X86_64_MACHINES or lacks_avx2(cpuinfo):
        return {}
    try:
        choice = cpu_kernels_choice(environ)
    except ValueError:
        warnings.warn(
            f"{KERNELS_ENV}={environ[KERNELS_ENV]!r} is not one of {', '.join(CHOICES)}: the CPU "
            "kernels are left to each library",
            stacklevel=2,
        )
        return {}
    if choice == NATIVE:
        return {}
    version = installed_numpy_version() if numpy_version is None else numpy_version
    added = {
        name: value for name, value in portable_settings(version).items() if name not in environ
    }
    environ.update(added)
    return added
