"""rsdml: a reproducible study of deep metric learning for remote-sensing scene images.

Data flows one way through the package::

    rsdml.data -> rsdml.models -> rsdml.losses -> rsdml.train -> rsdml.evaluate
               -> rsdml.plots / rsdml.tables -> notebooks/ (papermill) -> figures/
"""

__version__ = "0.1.0"
