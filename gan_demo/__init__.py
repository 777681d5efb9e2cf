"""gan_demo: train GANs live and explore what the generator learned (engine; the UI lives in gan_demo.ui)."""

__version__ = "0.1.0"

# The families register their settings with gan_demo.core.config as they are imported (core imports no
# family): importing them with the package means every RunConfig knows them, whatever was imported first.
import gan_demo.families  # noqa: E402,F401
