"""The registered metrics, by what they judge; importing this package registers them all."""

from dgm.metrics.suite import density, images, samples  # noqa: F401
