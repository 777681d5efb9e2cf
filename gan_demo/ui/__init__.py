"""The Gradio app: one module per tab plus the session registry; it calls the engine only.

Importing this package imports gradio, so analytics and telemetry are switched off first.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from gan_demo.ui.app import AppContext, build_demo, launch  # noqa: E402

__all__ = ["AppContext", "build_demo", "launch"]
