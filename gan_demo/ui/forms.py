"""Form values <-> RunConfig: the controls' fields, their auto defaults, a config from values and its command line.

No gradio here: the Train, Compare and Lessons tabs and the API share these (values in, values out).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from gan_demo.core.config import (ACTIVATIONS, ARCHS, FAMILY_SPECS, IMAGE_DATASETS, IMG_SIZES, LOSSES,
                                  MAX_SCHEDULE, SERVER_ONLY, STACKED_DIGITS, TOY_DATASETS, ConfigError, DataConfig,
                                  RegistryView, RunConfig, TrainConfig, family_settings_classes, field_type,
                                  section_classes, web_settings)
from gan_demo.core.faces import COMPARE_FOLDS, TRAIN_FOLDS, Face, Place, family_faces
from gan_demo.training.budget import TimeBudget
from gan_demo.ui.limits import WEB_LIMITS, check_web_limits
from gan_demo.ui.plain_words import WORDS


WEB_MINUTES = 60  # the longest time budget a web run may ask for (its steps also stay within WEB_LIMITS)

# The shared settings' controls (each family's own come from its FamilySpec.faces): a student's words
# (plain_words.WORDS), the control and its bounds, its place on the Train tab (numbered in tens, so that a family's
# controls sit between them) and its B field on Compare (None: B keeps A's). The family and dataset pickers'
# choices come from the registries.
def _shared(name: str, control: str = "number", train: Place = Place("training"), compare: Place | None = None,
            **bounds) -> Face:
    return Face(*WORDS[name], control, train=train, compare=compare, **bounds)


SHARED_FACES = {
    "family": _shared("family", "radio", Place("lesson", 10), Place("open", 10, "family")),
    "dataset": _shared("dataset", "dropdown", Place("lesson", 20)),
    "steps": _shared("steps", train=Place("lesson", 40, "run"), compare=Place("open", 41, "length"), minimum=1,
                     maximum=WEB_LIMITS["steps"], whole=True),
    "seed": _shared("seed", train=Place("lesson", 41, "run"), minimum=0, whole=True),
    "batch_size": _shared("batch_size", train=Place("training", 10, "size"), compare=Place("open", 40, "length"),
                          minimum=1, maximum=WEB_LIMITS["batch_size"], whole=True),
    "z_dim": _shared("z_dim", train=Place("training", 11, "size"), compare=Place("more", 51, "size"), minimum=1,
                     maximum=WEB_LIMITS["z_dim"], whole=True),
    "width": _shared("width", "slider", Place("model", 10), Place("more", 50, "size"), minimum=8,
                     maximum=WEB_LIMITS["width"], step=8),
    "depth": _shared("depth", "slider", Place("model", 20), minimum=1, maximum=WEB_LIMITS["depth"], step=1),
    "activation": _shared("activation", "dropdown", Place("model", 30), choices=ACTIVATIONS),
    "ngf": _shared("ngf", "slider", Place("model", 40), Place("more", 60, "channels"), minimum=4,
                   maximum=WEB_LIMITS["ngf"], step=4),
    "ndf": _shared("ndf", "slider", Place("model", 50), Place("more", 61, "channels"), minimum=4,
                   maximum=WEB_LIMITS["ndf"], step=4),
    "img_size": _shared("img_size", "dropdown", Place("model", 60), choices=IMG_SIZES),
    "channels": _shared("channels", "dropdown", Place("model", 70),
                        choices=(("the dataset's own", 0), ("1 (grayscale)", 1), ("3 (RGB)", 3))),
    "conditional": _shared("conditional", "checkbox", Place("model", 80)),
    "arch": _shared("arch", "radio", Place("advanced", 10), choices=ARCHS),
    "beta1": _shared("beta1", train=Place("advanced", 40, "adam"), compare=Place("more", 10, "adam"), minimum=0,
                     maximum=0.999, step=0.05),
    "beta2": _shared("beta2", train=Place("advanced", 41, "adam"), compare=Place("more", 11, "adam"), minimum=0,
                     maximum=0.9999, step=0.001),
}
# Shared controls one dataset kind reads: shown for it, hidden for the other (the Train tab's Model fold).
KIND_ONLY = {"2d": ("width", "depth", "activation"), "image": ("ngf", "ndf", "img_size", "channels", "conditional")}


def _faces() -> list[tuple[str, str | None, Face]]:
    """(setting, the family that owns it or None, its face) for every control: the shared ones, then each registered
    family's in registration order."""
    out = [(name, None, face) for name, face in SHARED_FACES.items()]
    for family, spec in FAMILY_SPECS.items():
        out += [(name, family, face) for name, face in family_faces(spec).items()]
    return out


def _in_order(folds: tuple, place_of) -> dict:
    """{setting: face} of the faces with a place, in page order: by fold, then order (ties: shared first, then
    the families in registration order)."""
    placed = [(name, face, place_of(face)) for name, _, face in _faces() if place_of(face) is not None]
    placed.sort(key=lambda item: (folds.index(item[2].fold), item[2].order))
    return {name: face for name, face, _ in placed}


def fold_rows(faces: dict, place_of, fold: str) -> list[tuple[str | None, list[str]]]:
    """The controls of one fold, in order, as (row name, settings): those that share a row name and follow each
    other sit in one row; a control without a row name has a line of its own (row name None)."""
    out: list[tuple[str | None, list[str]]] = []
    for name, face in faces.items():
        place = place_of(face)
        if place.fold != fold:
            continue
        if place.row is not None and out and out[-1][0] == place.row:
            out[-1][1].append(name)
        else:
            out.append((place.row, [name]))
    return out


def train_place(face: Face) -> Place:
    return face.train


def compare_place(face: Face) -> Place | None:
    return face.compare


# The controls, by RunConfig field name, in page order (the order handlers receive them): name -> its Face.
CONTROL_FIELDS = RegistryView(lambda: _in_order(TRAIN_FOLDS, train_place))
# Controls only one family reads: shown when it is picked, hidden for the others (each family's faces).
FAMILY_ONLY = RegistryView(lambda: {family: tuple(name for name, owner, _ in _faces() if owner == family)
                                    for family in FAMILY_SPECS})
SECTION_OF = web_settings()  # the one map from a setting's name to its config section (gan_demo.core.config)
CONFIG_CLASS = section_classes()  # section -> its dataclass (each registered family's own included)


def _none_means_auto() -> set[str]:
    """The settings whose default is None ("auto")."""
    return {name for name, section in SECTION_OF.items()
            if section != "run" and getattr(CONFIG_CLASS[section](), name) is None}


# Auto fields (None in the config: "the default for this dataset kind, loss and family"): the controls show
# the resolved value instead, and a value equal to it goes back to None, so the config stays "auto". The
# channels control has a word of its own for auto (0: "the dataset's own").
def _auto_fields() -> dict:
    auto = _none_means_auto()
    return {name: face for name, face in CONTROL_FIELDS.items() if name != "channels" and name in auto}


AUTO_FIELDS = RegistryView(_auto_fields)
SAME = ""  # a B control left empty: the same as A
# The settings B can change, in the order of Compare's controls ("same as A" when empty), and B's schedule. The
# data and the seed are A's: a comparison changes how the models learn, not what they learn from.
B_FIELDS = RegistryView(lambda: {**_in_order(COMPARE_FOLDS, compare_place), "schedule": None})
MAX_SCHEDULE_TEXT = 100_000  # characters of B's schedule box (1,000 changes take ~30,000)


def resolved_defaults(dataset: str = "ring8", loss: str = "nonsaturating", family: str = "gan") -> dict:
    """The values the auto fields take for this dataset, loss and family (a VAE: z_dim 2 or 16, beta1 0.9).

    A family's own section takes that family's defaults whatever the picked family, so a GAN's hidden VAE
    controls show a VAE's (and go back to None: a GAN's config keeps its vae section "auto").
    """
    def resolve(name: str) -> RunConfig:
        return RunConfig(family=name, data=DataConfig(dataset=dataset or "ring8"), train=TrainConfig(loss=loss)).resolved()

    resolved = {family: resolve(family)}
    own = family_settings_classes()  # the sections a family owns: resolved as that family resolves them

    def source(section: str) -> RunConfig:
        owner = section if section in own else family
        if owner not in resolved:
            resolved[owner] = resolve(owner)
        return resolved[owner]

    return {name: getattr(getattr(source(SECTION_OF[name]), SECTION_OF[name]), name) for name in AUTO_FIELDS}


def values_for(preset: dict | None = None) -> dict:
    """Every control's value for a preset {field: value}: defaults resolved for its dataset and loss, then the preset.

    The tab's first values come from here; a preset that leaves fields out gets its dataset's defaults.
    """
    preset = dict(preset or {})
    unknown = set(preset) - set(CONTROL_FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    base = RunConfig()
    values = {name: getattr(base if SECTION_OF[name] == "run" else getattr(base, SECTION_OF[name]), name)
              for name in CONTROL_FIELDS}
    values.update(resolved_defaults(preset.get("dataset", base.data.dataset), preset.get("loss", base.train.loss),
                                    preset.get("family", base.family)))
    values["channels"] = 0  # the control's word for auto: "the dataset's own"
    values.update(preset)
    return values


OWN_IMAGES_EXAMPLE = "your-images.zip"  # stands for any folder or zip of a visitor's images (their own defaults)


def swap_defaults(current: dict, dataset: str, loss: str, family: str = "gan") -> dict:
    """New values for the auto fields after the dataset, loss or family changed.

    A field still showing a default (of any dataset kind, loss or family) moves to the new default;
    a value the user typed stays.
    """
    new = resolved_defaults(dataset, loss, family)
    known = [resolved_defaults(d, l, f) for d in ("ring8", "grid25", "digits", STACKED_DIGITS, OWN_IMAGES_EXAMPLE)
             for l in LOSSES for f in FAMILY_SPECS]
    out = {}
    for name, value in current.items():
        if value is None or any(value == k[name] for k in known):
            out[name] = new[name]
    return out


def _coerce(name: str, value, kind: type):
    """A control's or an API's value as the field's type (int, float, bool, str); ConfigError names the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{name}: enter a value")
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: must be true or false (got {value!r})")
        return value
    if kind is str:
        return str(value)
    if kind is int:
        number = whole_number(value)
        if number is None:
            raise ConfigError(f"{name}: must be a whole number (got {str(value)[:40]!r})")
        return number
    if isinstance(value, bool):
        raise ConfigError(f"{name}: must be a number (got {value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name}: {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name}: must be a finite number (got {value})")
    return number


def whole_number(value) -> int | None:
    """value as an exact int (an int, a float such as 3.0, or a string such as "9223372036854775807"), else None.

    Never through float alone: a float has 53 bits, so 2**63 - 1 (the largest seed) would become 2**63.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() else None  # is_integer is False for inf and nan


def config_from_values(values: dict, uploads: dict | None = None) -> RunConfig:
    """A RunConfig from control values (or an API's {field: value}); raises ConfigError naming the field.

    The dataset is a built-in name or the server-made id of a file this session uploaded (`uploads`:
    id -> path); no other string reaches the file system. Auto fields equal to their resolved default
    are stored as the "pick the default" sentinel, so the config (and its command line) stays short.
    """
    values = dict(values)
    dataset = values.get("dataset", RunConfig().data.dataset)
    if uploads and dataset in uploads:
        values["dataset"] = str(uploads[dataset])
    elif dataset not in TOY_DATASETS + IMAGE_DATASETS:
        raise ConfigError(f"dataset: unknown dataset {str(dataset)[:80]!r}; use one of "
                          f"{', '.join(TOY_DATASETS + IMAGE_DATASETS)} or upload a file")
    cfg = RunConfig()
    for name, value in values.items():
        if name in SERVER_ONLY:
            raise ConfigError(f"{name}: cannot be set from the web app (the server chooses it)")
        if name not in SECTION_OF:
            raise ConfigError(f"unknown setting: {name}")
        section = SECTION_OF[name]
        if value is None and name in _none_means_auto():
            coerced = None  # auto: the default for the dataset, family and loss
        elif value in (None, 0) and (section, name) == ("data", "channels"):
            coerced = None  # the dataset's own channels
        else:
            coerced = _coerce(name, value, field_type(CONFIG_CLASS[section], name))
        setattr(cfg if section == "run" else getattr(cfg, section), name, coerced)
    cfg.validate()
    defaults = resolved_defaults(cfg.data.dataset, cfg.train.loss, cfg.family)
    collapsed = []
    for name in AUTO_FIELDS:
        part = getattr(cfg, SECTION_OF[name])
        if getattr(part, name) == defaults[name]:
            collapsed.append((name, getattr(part, name)))
            setattr(part, name, None)
    _keep_what_auto_would_change(cfg, collapsed)
    check_web_limits(cfg)
    return cfg


def _keep_what_auto_would_change(cfg: RunConfig, collapsed: list) -> None:
    """Put back the values of `collapsed` ((name, value) set to auto for equalling the dataset's default) that auto
    would resolve differently given the other settings: mbstd_group auto is 4 on stacked-digits (pack auto 2 on
    your own images) only while R1 is on, so a 4 left in place with R1 turned off stays 4. What the tab shows is
    what the run gets."""
    others = set(family_settings_classes()) - {cfg.family}  # another family's section: auto whatever it shows
    collapsed = [(name, value) for name, value in collapsed if SECTION_OF[name] not in others]
    while collapsed:
        try:
            resolved = cfg.resolved()
        except ConfigError:
            return  # the start reports it, naming the field
        moved = [(name, value) for name, value in collapsed
                 if getattr(getattr(resolved, SECTION_OF[name]), name) != value]
        if not moved:
            return
        for name, value in moved:
            setattr(getattr(cfg, SECTION_OF[name]), name, value)
            collapsed.remove((name, value))


def time_budget(train_for: str, minutes) -> TimeBudget | None:
    """The Train tab's "Train for": None for steps, or a TimeBudget of `minutes` (at most WEB_MINUTES) whose
    steps stay within the web's step limit; ConfigError names the field."""
    if train_for != "minutes":
        return None
    if minutes is None or not 0 < float(minutes) <= WEB_MINUTES:
        raise ConfigError(f"minutes: between 0 and {WEB_MINUTES} in the web app (got {minutes}); train longer runs "
                          "with the command line (--minutes)")
    return TimeBudget(float(minutes), limit=WEB_LIMITS["steps"])


def cli_command(cfg: RunConfig, run_id: str | None = None) -> str:
    """The command that repeats this run headless (an uploaded file is named by its own name)."""
    shown = RunConfig.from_dict(cfg.to_dict())
    uploaded = Path(shown.data.dataset).is_absolute()
    if uploaded:
        shown.data.dataset = Path(shown.data.dataset).name
    out = f"runs/{run_id or Path(shown.data.dataset).stem}"
    text = shown.to_cli(out=out)
    if uploaded:
        text = f"# {shown.data.dataset} is the file you uploaded\n{text}"
    return text


# ---------------------------------------------------------------- a comparison's B (Compare, Lessons)
def b_values(a_values: dict, changes: dict) -> tuple[dict, list]:
    """B's control values (A's, with the family/loss defaults moved as the Train tab would, then B's changes)
    and B's schedule of changes while it trains ([] unless given). Empty changes mean "same as A"."""
    changes = {k: v for k, v in changes.items() if v is not None and str(v).strip() != SAME}
    unknown = set(changes) - set(B_FIELDS)
    if unknown:
        raise ConfigError(f"B cannot change {', '.join(sorted(unknown))} (the data and the seed are A's)")
    schedule = changes.pop("schedule", None)
    values = dict(a_values)
    family, loss = changes.get("family", values["family"]), changes.get("loss", values["loss"])
    if (family, loss) != (values["family"], values["loss"]):  # defaults follow B's loss and family, as on Train
        values.update(swap_defaults({n: values[n] for n in AUTO_FIELDS}, values["dataset"], loss, family))
    values.update(changes)
    return values, parse_schedule(schedule)


def parse_schedule(text) -> list:
    """B's schedule from the tab's text (JSON: [{"step": 1000, "lr_d": 0.002}]), checked; [] when empty."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    if isinstance(text, str) and len(text) > MAX_SCHEDULE_TEXT:
        raise ConfigError(f"schedule: at most {MAX_SCHEDULE_TEXT:,} characters (got {len(text):,}); a schedule "
                          f"holds at most {MAX_SCHEDULE:,} changes")
    try:
        schedule = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:  # JSONDecodeError, and an integer of more than 4,300 digits
        raise ConfigError(f"schedule: not JSON ({str(exc)[:120]}); e.g. [{{\"step\": 1000, \"lr_d\": 0.002}}]") from None
    except RecursionError:
        raise ConfigError("schedule: nested too deeply; e.g. [{\"step\": 1000, \"lr_d\": 0.002}]") from None
    return schedule


def pair_configs(a_values: dict, changes: dict, uploads: dict | None = None) -> tuple[RunConfig, RunConfig]:
    """A's and B's RunConfigs from the Train tab's values and B's changes; ConfigError names the field."""
    cfg_a = config_from_values(a_values, uploads)
    values, schedule = b_values(a_values, changes)
    cfg_b = config_from_values(values, uploads)
    if schedule:
        cfg_b.schedule = schedule
        check_web_limits(cfg_b)  # the values, their types, and each change's work per step, as a start's
    return cfg_a, cfg_b


def changes_between(a_values: dict, b_values_: dict) -> dict:
    """The B controls' values that turn A into B (a lesson's two presets): {field: value}.

    Measured from A with B's family and loss (their defaults moved, as b_values does), so a setting B
    states explicitly is kept even where it equals what A shows."""
    switch = {k: b_values_[k] for k in ("family", "loss") if b_values_.get(k, a_values[k]) != a_values[k]}
    base, _ = b_values(a_values, switch)
    out = dict(switch)
    for name in B_FIELDS:
        if name in base and base[name] != b_values_.get(name, base[name]):
            out[name] = b_values_[name]
    missing = {n for n in CONTROL_FIELDS if base.get(n) != b_values_.get(n)} - set(out)
    if missing:
        raise ConfigError(f"a comparison's B cannot change {', '.join(sorted(missing))}")
    return out
