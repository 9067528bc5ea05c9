"""Which CPU kernels the numerical libraries take: AVX2 on every x86-64 machine, by default.

torch (its own vectorised operations and oneDNN's convolutions), MKL, NumPy and OpenBLAS each
choose their kernels when they load, from the processor's instruction set, and numba compiles
UMAP's loops for it. On a CPU with
AVX-512 they take wider kernels that add floats in another order than the AVX2 kernels of an
older CPU: the last bits of a loss differ, a noisy-label run drifts from there, and a study's
tables no longer come back byte for byte on another machine (measured on a Zen 4: 35 of the
quick study's files moved, UMAP maps and noisy-label metrics among them). Every x86-64 CPU of
the last decade has AVX2, so rsdml asks these libraries for their AVX2 kernels on all of them.

``$RSDML_CPU_KERNELS`` chooses how far that goes:

- ``avx2`` (the default): the AVX2 kernels, and MKL's reproducible AVX2 branch
  (``MKL_CBWR=AVX2``). The same numbers on AVX2 and AVX-512 machines of one vendor (measured
  on AMD EPYCs of both kinds), at MKL's full speed. Not across vendors: MKL honours that branch
  on Intel processors only and takes its own dispatch on the others (its documentation says
  so; on an Intel Xeon, MKL told that the processor is not Intel's returned other products).
- ``portable``: the same, with MKL's ``COMPATIBLE`` branch, the one branch MKL documents as
  running alike on Intel and other processors. Matrix products and MKL's vector functions
  (``torch.exp``) are 2-4x slower (benchmarks/mkl_branch.py); a frozen-feature cell took 1.7x
  as long. The ``quick`` and ``ucmerced`` studies ask for it (``cpu_kernels: portable``), so
  that their figures come back byte for byte on Intel and AMD processors alike: on an Intel
  Xeon the whole quick study did, with MKL told and not told that the processor is Intel's
  (a real AMD processor has not run it yet).
- ``native``: each library's own choice, for speed on a many-core AVX-512 machine, giving up
  equality with other machines.

The libraries read their settings once, when they load, so this module sets environment
variables and must run before NumPy and torch are imported: ``import rsdml`` calls
:func:`pin_cpu_kernels` first thing, and every process started from there (a study's notebook
kernels, Slurm jobs, ``torchrun`` workers) inherits the settings. A process that imported NumPy
or torch before rsdml keeps the kernels it loaded; its children still get the pinned ones. A
study that names its kernels switches those of the processes it starts
(:func:`use_kernels_in_children`), unless the user set ``$RSDML_CPU_KERNELS``.

It imports nothing heavy (not even rsdml's own modules) for the same reason.

The AVX2 pins cost little speed: EfficientNet-Lite0's forward ran at 28-47 img/s with either
kernel set on a 2-core Zen 4 (noisy, measured in one session), and its features do not depend
on MKL's branch (measured on an Intel Xeon). A variable already set by the user is never
overridden. ONNX Runtime and OpenVINO, the optional feature engines, offer no such setting:
their features may differ in the last bits between CPU families (the ``quick`` and
``ucmerced`` presets pin ``engine: torch``).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import warnings
from collections.abc import MutableMapping

KERNELS_ENV = "RSDML_CPU_KERNELS"
AVX2 = "avx2"
PORTABLE = "portable"
NATIVE = "native"
CHOICES = (AVX2, PORTABLE, NATIVE)
DEFAULT = AVX2
# What each choice gives, for the messages that offer the choices.
CHOICE_MEANINGS = {
    AVX2: "the AVX2 kernels: the same numbers on every x86-64 machine of one vendor",
    PORTABLE: "the same numbers on Intel and AMD processors, slower matrix products",
    NATIVE: "each library's fastest kernels for this CPU",
}

# MKL's conditional-numerical-reproducibility branch of each pinned choice. MKL runs a named
# ISA branch such as AVX2 on Intel processors only; elsewhere it falls back to its automatic
# dispatch. COMPATIBLE (SSE2 without the approximate reciprocals, whose last bits differ between
# vendors) is the branch it runs alike on every x86-64 processor.
MKL_BRANCHES = {AVX2: "AVX2", PORTABLE: "COMPATIBLE"}

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


def pinned_settings(choice: str, numpy_version: str | None) -> dict[str, str]:
    """The environment variables that make each library take the kernels of ``choice``
    (``avx2`` or ``portable``)."""
    return {
        "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised element-wise and reduction kernels
        "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's convolutions and linear layers through oneDNN
        # torch's matrix products, LAPACK and vector functions: a reproducible MKL branch
        "MKL_CBWR": MKL_BRANCHES[choice],
        "OPENBLAS_CORETYPE": "Haswell",  # NumPy's and SciPy's BLAS: the AVX2 kernels
        "NPY_DISABLE_CPU_FEATURES": numpy_avx512_names(numpy_version),  # NumPy's own loops
        # numba's code generation (UMAP's compiled loops, built with fastmath): for a Haswell
        # rather than for this processor, whose vector width and tuning would otherwise
        # choose how the loops' sums are split; the features name the Haswell CPU's own
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": "+avx2,+fma",
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
    """``$RSDML_CPU_KERNELS``: ``avx2`` (the default), ``portable`` or ``native``.

    Raises:
        ValueError: any other value; the message names the fix.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(KERNELS_ENV, "").strip().lower() or DEFAULT
    if value not in CHOICES:
        raise ValueError(f"{KERNELS_ENV}={environ[KERNELS_ENV]!r} {_not_a_choice()}")
    return value


def _not_a_choice() -> str:
    return (
        f"is not one of {', '.join(CHOICES)}; unset it ({CHOICE_MEANINGS[AVX2]}), or set "
        f"{KERNELS_ENV}={PORTABLE} ({CHOICE_MEANINGS[PORTABLE]}) or {KERNELS_ENV}={NATIVE} "
        f"({CHOICE_MEANINGS[NATIVE]})"
    )


# What pin_cpu_kernels set in this process's environment (never a variable the user set), and
# whether the user named the kernels before rsdml was imported: a study's choice replaces the
# first for the processes it starts and yields to the second (use_kernels_in_children).
_PINNED_HERE: dict[str, str] = {}
_USER_NAMED_KERNELS = KERNELS_ENV in os.environ


def pin_cpu_kernels(
    environ: MutableMapping[str, str] | None = None,
    machine: str | None = None,
    numpy_version: str | None = None,
    cpuinfo: str | None = None,
) -> dict[str, str]:
    """Ask the numerical libraries for the kernels of ``$RSDML_CPU_KERNELS``.

    Sets each variable of :func:`pinned_settings` that is not set yet, on an x86-64 processor
    with AVX2 and unless ``$RSDML_CPU_KERNELS`` is ``native``. An invalid
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
    own_environment = environ is None or environ is os.environ
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
        name: value
        for name, value in pinned_settings(choice, version).items()
        if name not in environ
    }
    environ.update(added)
    if own_environment:
        _PINNED_HERE.update(added)
    return added


def use_kernels_in_children(choice: str | None) -> str:
    """Make the processes started from now on (notebook kernels, jobs) take ``choice``'s kernels.

    This process keeps the libraries it loaded; its environment changes for its children: the
    variables :func:`pin_cpu_kernels` set here are replaced by those of ``choice``, while any the
    user set stay. A ``$RSDML_CPU_KERNELS`` the user set before rsdml was imported wins over
    ``choice``, and None keeps the current choice.

    Returns:
        The kernels the children get: one of :data:`CHOICES`.

    Raises:
        ValueError: ``choice`` is not one of :data:`CHOICES`.
    """
    if choice is None or _USER_NAMED_KERNELS:
        return cpu_kernels_choice()
    if choice not in CHOICES:
        raise ValueError(f"CPU kernels {choice!r} {_not_a_choice()}")
    for name in _PINNED_HERE:
        os.environ.pop(name, None)
    _PINNED_HERE.clear()
    os.environ[KERNELS_ENV] = choice
    pin_cpu_kernels()
    return choice


def kernel_record(environ: MutableMapping[str, str] | None = None) -> dict[str, str | None]:
    """``$RSDML_CPU_KERNELS`` and the variables the libraries read their kernels from, as set
    in ``environ`` (default ``os.environ``): what a run records of the kernels it ran with.
    (A process that loaded NumPy or torch before rsdml may have ignored them.)"""
    environ = os.environ if environ is None else environ
    names = [KERNELS_ENV, *pinned_settings(AVX2, None)]  # the same names for every choice
    return {name: environ.get(name) for name in names}
