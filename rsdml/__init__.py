"""rsdml: a reproducible study of deep metric learning for remote-sensing scene images.

Data flows one way through the package::

    rsdml.data -> rsdml.models -> rsdml.losses -> rsdml.train -> rsdml.evaluate
               -> rsdml.plots / rsdml.tables -> notebooks/ (papermill) -> figures/
"""

# Before anything imports NumPy or torch: the same CPU kernels on every x86-64 machine, so the
# same commit gives the same numbers everywhere (rsdml.cpu_kernels says why and how to opt out).
from rsdml.cpu_kernels import pin_cpu_kernels

pin_cpu_kernels()

__version__ = "0.1.0"
