"""Datasets: the registry, image decoding, the uint8 image cache, stacked digits."""
