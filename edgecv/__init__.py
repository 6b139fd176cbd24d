"""edgecv: one recipe from a vision model to a compressed, exported and validated artifact for edge devices.

Example::

    from edgecv.api import compress
    report = compress("recipes/quickstart.yaml")
    print(report.validations[0].metrics["top1"])
"""

__version__ = "0.1.0"
