"""How a setting shows in the web app: its plain label and help line, the kind of control, its range or choices, and
where it sits on the Train tab and among Compare's B fields. Words and numbers only: the UI builds the controls.

A family declares the faces of its settings beside them (FamilySpec.faces); a setting of its own section without one
gets face_from_field's: its name as the label, its config comment as the help, a control for its type.
"""
from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field, fields

from gan_demo.core.config import field_docs, field_type

TRAIN_FOLDS = ("lesson", "training", "model", "advanced")  # the Train tab's parts: always open, then three folds
COMPARE_FOLDS = ("open", "more")  # Compare's B fields: open, or in the "More of B's settings" fold
CONTROLS = ("number", "slider", "radio", "dropdown", "checkbox")
LAST = 1000  # the order of a setting that names none: after the declared ones of its fold


@dataclass(frozen=True)
class Place:
    """Where a control sits: its fold, its order there (the shared controls are numbered in tens), and a row name
    that the controls sitting side by side share (None: a line of its own)."""

    fold: str
    order: int = LAST
    row: str | None = None


@dataclass(frozen=True)
class Face:
    """A setting's control: a student's words for it, the kind of control and its bounds, its places."""

    label: str  # the short label (a few words, not a sentence)
    help: str = ""  # one line under it: what the setting does to the run
    control: str = "number"  # number, slider, radio, dropdown or checkbox
    minimum: float | None = None  # the control's bounds and step (None: the control's own)
    maximum: float | None = None
    step: float | None = None
    whole: bool = False  # a whole number (a number box with no decimals)
    choices: tuple = ()  # a radio's or dropdown's values, or (label, value) pairs
    train: Place = field(default_factory=lambda: Place("training"))  # its place on the Train tab
    compare: Place | None = field(default_factory=lambda: Place("more"))  # its B field on Compare; None: B keeps A's

    def __post_init__(self):
        for what, value, known in (("control", self.control, CONTROLS), ("train fold", self.train.fold, TRAIN_FOLDS),
                                   ("compare fold", self.compare.fold if self.compare else "open", COMPARE_FOLDS)):
            if value not in known:
                raise ValueError(f"{self.label}: {what} must be one of {', '.join(known)} (got {value!r})")


@lru_cache(maxsize=None)
def face_from_field(klass, name: str, choices: tuple = ()) -> Face:
    """The face of a settings field that declares none: its name as the label, its config comment as the help
    (cut at the first ";"), a checkbox for a bool, a radio for a field with fixed choices, else a number box."""
    kind = field_type(klass, name)
    doc = re.split(r";\s", field_docs(klass).get(name, ""), maxsplit=1)[0]
    control = "checkbox" if kind is bool else "radio" if choices else "number"
    return Face(name.replace("_", " ").capitalize(), doc, control, whole=kind is int, choices=tuple(choices))


def family_faces(spec) -> dict[str, Face]:
    """{setting: face} of one registered family (a config.FamilySpec): its declared faces (of its own section and of
    the shared fields only it reads), then a derived one for each field of its section without one. A face of
    None means "no control" (a setting the web app leaves at its default)."""
    faces = dict(spec.faces)
    if spec.settings is not None:
        for f in fields(spec.settings):
            if f.name not in faces:
                faces[f.name] = face_from_field(spec.settings, f.name, tuple(spec.choices.get(f.name, ())))
    return {name: face for name, face in faces.items() if face is not None}
