"""A visitor's mistake: one clear message for them (gr.Error), one line in the server log, no traceback."""
from __future__ import annotations

import logging

import gradio as gr

from gan_demo.core.config import DataConfig, data_dir

log = logging.getLogger("gan_demo")


def user_error(message: str) -> gr.Error:
    """A gr.Error that gradio shows without printing a traceback; the server log gets one line instead.

    gradio prints the full traceback of every gr.Error unless print_exception=False: with it, each
    mistyped setting wrote ~35 lines to the server's log.
    """
    message = " ".join(for_visitor(message).split())
    log.warning("user error: %s", message)
    return gr.Error(message, print_exception=False)


def refusal(message) -> str:
    """A visitor's mistake shown in the page (not as a toast): the one-line sentence, logged once."""
    message = " ".join(for_visitor(message).split())
    log.warning("user error: %s", message)
    return message


def for_visitor(message) -> str:
    """An engine message as a web visitor may read it: the server's data folders are not named.

    (The command line shows the full path, so a user knows where to put downloaded files; web runs
    cannot choose the data folder, so a visitor has no use for the server's path.)
    """
    text = str(message)
    for folder in sorted(_HIDDEN, key=len, reverse=True):
        text = text.replace(folder, "the server's data folder")
    return text


def hide_folder(folder) -> None:
    """Name this folder (and its expanded form) "the server's data folder" in messages to visitors."""
    from pathlib import Path

    _HIDDEN.update({str(folder), str(Path(folder).expanduser())})


_HIDDEN: set[str] = {str(data_dir(DataConfig()))}
