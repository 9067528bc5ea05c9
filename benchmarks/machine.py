"""The line every benchmark prints first: which machine, how busy, which library versions.

Benchmark figures mean little without it: the README quotes them with this line, and a loaded
machine (the load average) explains figures that come out low.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from collections.abc import Iterable
from pathlib import Path


def processor() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def usable_cores() -> int:
    """Cores this process may run on (a Slurm allocation or taskset narrows them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def describe_machine(packages: Iterable[str] = ("torch",)) -> str:
    """Processor, usable cores, load average, Python and the versions of ``packages``."""
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{processor()}, {usable_cores()} usable cores (load average {load}), "
        f"Python {platform.python_version()}; {', '.join(versions)}"
    )
