"""gan_demo: train GANs live and explore what the generator learned (engine; the UI lives in gan_demo.ui)."""

__version__ = "0.1.0"
