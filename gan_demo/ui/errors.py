"""A visitor's mistake: one clear message for them (gr.Error), one line in the server log, no traceback."""
from __future__ import annotations

import logging

import gradio as gr

log = logging.getLogger("gan_demo")


def user_error(message: str) -> gr.Error:
    """A gr.Error that gradio shows without printing a traceback; the server log gets one line instead.

    gradio prints the full traceback of every gr.Error unless print_exception=False: with it, each
    mistyped setting wrote ~35 lines to the server's log.
    """
    message = " ".join(str(message).split())
    log.warning("user error: %s", message)
    return gr.Error(message, print_exception=False)
