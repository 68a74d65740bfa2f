"""The runtime of data-product-template projects: serving, batch scoring, the registry,
evaluation and A/B analysis, for any project's pipeline (see :class:`Project`)."""

from importlib.metadata import version

from data_product_runtime.project import Project

__all__ = ["Project", "__version__"]
__version__ = version("data-product-runtime")
