"""gan_demo: train GANs live and explore what the generator learned (engine; the UI lives in gan_demo.ui)."""

__version__ = "0.1.0"

from gan_demo.core import config as _config  # noqa: E402


def _load_families() -> None:
    """The families register their settings with gan_demo.core.config as they are imported (core imports no family)."""
    import gan_demo.families  # noqa: F401


# The registry imports them when first read, so every RunConfig knows them whatever was imported first, and a
# command that reads no family (`python -m gan_demo --help`) does not import torch.
_config.FAMILY_SPECS.loader = _load_families
