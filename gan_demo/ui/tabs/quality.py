"""Quality tab: measure a generator's quality figures beside held-out real data, with what each figure means."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from gan_demo.core.config import IMAGE_DATASETS, TOY_DATASETS
from gan_demo.evaluation.evaluate import DEFAULT_N, METRICS, evaluate_sampler, table_rows
from gan_demo.render.viz import FAKE_COLOR, REAL_COLOR, nearest_picture
from gan_demo.ui.catalog import is_live
from gan_demo.ui.errors import for_visitor
from gan_demo.ui.widgets import default_choice
from gan_demo.ui.long_jobs import THREADS

MIN_N, MAX_N, N_STEP = 500, 26_000, 500  # sample-count slider (26,000: the stacked-digits protocol)
GENERATED, REAL = "generated", "held-out real"  # the two series of the table and the histogram
COLORS = {GENERATED: "#%02x%02x%02x" % FAKE_COLOR, REAL: "#%02x%02x%02x" % REAL_COLOR}  # as in the 2D pictures
SAMPLES = "samples (generated / real)"  # how many samples each figure was measured on
TABLE_HEADERS = ["figure", GENERATED, REAL, "better", SAMPLES]
MAX_BINS = 100  # classes or modes the histogram orders (ring8 8, digits 10, grid25 25)
# stacked digits: 1,000 bars would be unreadable, so the chart counts modes by how many samples they got,
# in multiples of a fair share (n / 1,000): a perfect generator puts nearly every mode in "0.5-2x"
STACKED_BINS = (("missed (0)", 0.0), ("< 0.5x fair", 1e-9), ("0.5-2x fair", 0.5), ("2-4x fair", 2.0), ("> 4x fair", 4.0))
HISTOGRAM_ORDER = ([f"{i} {s}" for i in range(MAX_BINS) for s in ("gen", "real")]  # the chart's x order
                   + [f"{name} {s}" for name, _ in STACKED_BINS for s in ("gen", "real")])

# What each figure means, for students; keyed like evaluate.METRICS. Only the figures a report holds are shown.
EXPLAIN = {
    "fd_classifier": "**FD_classifier**: the Fréchet distance between generated and training images, both described "
                     "by the features of a small classifier this project trains on the same dataset: an FID analogue. "
                     "It compares the average and the spread of the two feature clouds, so it rises when images look "
                     "wrong *and* when they lack variety. It is not the FID published in papers (that one uses an "
                     "Inception network): compare it with the held-out real column and with other runs measured here. "
                     "**Sample-size bias:** FD estimated from fewer samples comes out higher (the spread of a small "
                     "sample is noisier, and noise adds distance), so two FDs can only be compared when they were "
                     "measured on the same number of samples: both columns here use the same count (the samples "
                     "column), and a figure measured with another count elsewhere is not comparable.",
    "classifier_score": "**classifier score**: the Inception Score formula with the same classifier. High (at most "
                        "the number of classes) when each image is clearly one class and all classes appear equally.",
    "classes_covered": "**classes covered**: classes the classifier finds in at least a tenth of a fair share of the "
                       "samples (1% of them for 10 classes). A collapsed generator makes a few classes only.",
    "class_kl": "**class histogram KL from uniform**: 0 when every class is drawn equally often, ln K (2.30 "
                        "for 10 classes) when every sample is one class. The bar chart shows the histogram itself.",
    "precision": "**precision** (k-NN, Kynkäänniemi et al. 2019): the share of generated images that land among real "
                 "images in the classifier's feature space: *how many generated samples look real*.",
    "recall": "**recall**: the share of real images that land among the generated ones: *how much of the real "
              "variety the generator covers*. Mode collapse keeps precision high and pulls recall down.",
    "label_accuracy": "**accuracy on requested labels** (conditional models): how often the classifier reads the "
                      "class the generator was asked to draw.",
    "nn_train_rms_median": "**nearest training image, median RMS**: for each image, the pixel distance (root mean "
                           "square, pixels in [-1, 1]) to its closest training image. Held-out real images are no "
                           "copies, so their median is the yardstick: a generated median far below it means the "
                           "generator copies (memorises) training images. The picture shows the first generated "
                           "images above their nearest training images.",
    "fid": "**standard FID**: the published measure (Inception features), comparable with papers.",
    "modes_covered": "**modes covered**: mixture components (the 8 blobs of ring8, the 25 of grid25) that get at "
                     "least a tenth of a fair share of the samples (and at least 5) within 3σ of them. A collapsed "
                     "generator covers a few.",
    "high_quality": "**high-quality share**: samples within 3σ of their nearest mode (σ: the spread of each blob). "
                    "Low when the generator puts points between the modes.",
    "mode_kl": "**mode histogram KL from uniform**: 0 when the high-quality samples spread evenly over the "
                       "modes, ln K when they all sit on one. The bar chart shows the histogram itself.",
    "grid_kl": "**grid KL(real ‖ fake)** (GAN Lab's measure): real and generated points counted on a 20×20 grid. "
               "Large when real areas get no generated points, which is what mode collapse does.",
    "grid_js": "**grid JS(real, fake)**: the symmetric Jensen-Shannon version of the same, between 0 and ln 2 ≈ 0.69.",
    "stacked_modes": "**modes covered**: each image holds three digits, one per colour channel, so there are "
                     "10 × 10 × 10 = 1,000 modes, all equally likely. The project's digits classifier reads each "
                     "channel; a mode is covered when at least one sample lands in it (the count of the VEEGAN "
                     "and PacGAN papers, on 26,000 samples). With fewer samples even real data misses some: "
                     "compare with the held-out real column.",
    "stacked_kl": "**mode histogram KL from uniform**: 0 when the 1,000 modes get equal shares, ln 1000 ≈ 6.91 "
                  "when every sample is one mode. Counting alone leaves about 999 / (2 × samples) "
                  "(0.019 for 26,000) even for perfect samples. Published: DCGAN 3.4, PacDCGAN2 0.06.",
    "digit_confidence": "**classifier confidence**: the classifier's mean probability for the digit it reads in "
                        "each channel; low when channels look like no digit (early in training, or blurred).",
    "mode_read_accuracy": "**modes read right**: on held-out real triples, how often all three digits are read as "
                          "their true labels: how far the mode counts can be trusted.",
}
REAL_COLUMN = {
    "image": "The **held-out real** column scores real images the generator never saw (the test split) in the same "
             "way, with the same number of samples: a yardstick, not a limit. The distances are measured to the "
             "*training* images, and the test split differs a little from them, so a generator can score below "
             "the held-out column (closer to its training set than new real images are): read that as \"as good "
             "as real data here\", or, with a nearest-image median far below the real one, as copying. "
             "Compare the two columns.",
    "2d": "The **held-out real** column scores a fresh draw of real points the same way (grid divergences: against "
          "the training draw), with the same number of samples: a yardstick, not a limit (a generator can score "
          "a little below it by chance). Compare the two columns.",
}
PROBLEMS = {
    "image": "**Mode collapse** looks like: few classes covered, a class KL well above the real one, precision high "
             "but recall low, and a larger FD_classifier. **Memorisation** looks like: a nearest-training-image "
             "median far below the real one, and near-identical pairs in the picture.",
    "stacked": "**Mode collapse** looks like: fewer of the 1,000 modes covered than the held-out real column, a "
               "mode KL well above it, and in the chart many modes missed while others get several times their "
               "share. A generator could draw crisp digits in every channel and still cover only a few hundred modes.",
    "2d": "**Mode collapse** looks like: fewer modes covered, a mode KL above the real one, and a large grid KL "
          "(real blobs with no generated points nearby).",
}


# ----------------------------------------------------------------------------------- results
def figures_table(report: dict) -> pd.DataFrame:
    """One row per figure the report holds: plain-words name, generated, held-out real, which way is better,
    and how many samples each side was measured on."""
    gen, real = report.get("generated", {}), report.get("real", {})
    keys = [key for key in METRICS if key in gen or key in real]  # table_rows' order
    counts = report.get("counts", {})
    samples = [f"{counts[key][0]:,} / {counts[key][1]:,}" if key in counts else "–" for key in keys]
    return pd.DataFrame([(*r, c) for r, c in zip(table_rows(report), samples)], columns=TABLE_HEADERS)


def explanation(report: dict) -> str:
    """What the figures in this report mean and what trouble looks like in them (Markdown)."""
    held = set(report.get("generated", {})) | set(report.get("real", {}))
    lines = [f"- {EXPLAIN[key]}" for key in METRICS if key in held and key in EXPLAIN]
    kind = "2d" if report.get("kind") == "2d" else "image"
    problems = PROBLEMS["stacked" if "stacked_modes" in held else kind]
    return "\n".join([*lines, "", REAL_COLUMN[kind], "", problems])


def stacked_histogram_frame(report: dict) -> pd.DataFrame:
    """Stacked digits: how many of the 1,000 modes got no sample, few, a fair share or too many (long form)."""
    rows = []
    for series, figures, total in ((GENERATED, report["generated"], report["n_generated"]),
                                   (REAL, report["real"], report["n_real"])):
        counts = np.asarray(figures["stacked_counts"], dtype=np.float64)
        fair = total / len(counts)
        edges = [low * fair for _, low in STACKED_BINS[1:]] + [np.inf]
        for (name, _), low, high in zip(STACKED_BINS, [-np.inf] + edges[:-1], edges):
            if name.startswith("missed"):
                modes = int((counts == 0).sum())
            else:
                modes = int(((counts > 0) & (counts >= low) & (counts < high)).sum())
            rows.append((name, series, f"{name} {'gen' if series == GENERATED else 'real'}", modes,
                         modes / len(counts)))
    return pd.DataFrame(rows, columns=["bin", "series", "bar", "count", "share"])


def histogram_frame(report: dict) -> pd.DataFrame | None:
    """The class (images) or mode (2D mixtures) histogram in long form: one row per bin and series,
    with its count and its share of the series' samples; None when the report has none."""
    if "stacked_counts" in report.get("generated", {}):
        return stacked_histogram_frame(report)
    key = next((k for k in ("class_counts", "mode_counts") if k in report.get("generated", {})), None)
    if key is None:
        return None
    rows = []
    for series, figures, total in ((GENERATED, report["generated"], report["n_generated"]),
                                   (REAL, report["real"], report["n_real"])):
        for i, count in enumerate(figures.get(key) or []):
            rows.append((str(i), series, f"{i} {'gen' if series == GENERATED else 'real'}", count, count / total))
    return pd.DataFrame(rows, columns=["bin", "series", "bar", "count", "share"])


def histogram_caption(report: dict) -> str:
    if "stacked_counts" in report.get("generated", {}):
        return ("**Modes by samples received** (1,000 modes; fair share = samples / 1,000): the share of modes "
                "that got no sample, less than half a fair share, about a fair share, or two and four times too "
                "many. Collapse moves modes out of the middle bar: many get no sample at all (the first bar) while a "
                "few get several times their share (the last ones). "
                "Generated (purple) beside held-out real (green).")
    if "class_counts" in report.get("generated", {}):
        return ("**Class histogram**: the classifier's reading of each sample, as a share of each set: "
                "generated (purple) beside held-out real (green).")
    return ("**Mode histogram**: samples within 3σ of each mode, as a share of each set: generated (purple) beside "
            "held-out real (green). What the bars leave below 100% is the samples between the modes.")


def nearest_picture_of(report: dict):
    """The first generated images above their nearest training images, or None (2D sets)."""
    samples = report.get("samples")
    if not samples:
        return None
    return nearest_picture(samples["generated"], samples["nearest"], report["nearest_train"]["distances"])


def sample_counts_words(report: dict, what: str) -> str:
    """Which figures compare equal sample counts and which do not (and why), from the report's counts."""
    counts = report.get("counts", {})
    shown = [key for key in METRICS if key in counts]
    unequal = [METRICS[key][0] for key in shown if counts[key][0] != counts[key][1]]
    if not unequal:
        return ""
    equal = [METRICS[key][0] for key in shown if counts[key][0] == counts[key][1]]
    text = (f" The held-out set has fewer {what} than were generated, so {', '.join(unequal)} compare different "
            "sample counts (the samples column): a share or a rate barely depends on the count, but counts and "
            "divergences do, so read those columns side by side with care")
    return text + (f"; {', '.join(equal)} use the same count on both sides." if equal else ".")


def summary(report: dict, name: str, live: bool) -> str:
    """Which generator was measured, on what, how long it took (Markdown)."""
    what = "points" if report.get("kind") == "2d" else "images"
    cond = " (conditional)" if report.get("conditional") else ""
    text = (f"**{name}**: {report.get('dataset')} at step {report.get('step')}{cond} · {report.get('n_generated')} "
            f"generated {what} (seed {report.get('seed')}) beside {report.get('n_real')} held-out real {what} · "
            f"{report.get('seconds')} s on {report.get('device')}.")
    text += sample_counts_words(report, what)
    clf = report.get("classifier")
    if clf:
        origin = f"trained now in {clf['train_seconds']} s, then cached" if clf.get("trained_now") else "cached"
        text += (f"\n\nClassifier: {clf['dataset']} {clf['img_size']} px, {100 * clf['test_accuracy']:.1f}% accuracy "
                 f"on held-out images ({origin}).")
    if live:
        text += ("\n\nA live run keeps training while it is measured: the samples come from about this step, "
                 "and the figures will move as it learns.")
    return text


OPTIONAL_FID = ("The standard FID (Inception features, the papers' figure) is optional and not set up on this "
                "server; FD_classifier plays its part here.")


def notes_markdown(report: dict) -> str:
    """The report's notes; a standard FID that could not run is a quiet line, not an error (it is optional)."""
    notes = list(report.get("notes", []))
    fid = report.get("standard_fid") or {}
    quiet = ""
    if fid.get("note") and "fid" not in report.get("generated", {}):
        quiet = f"\n\n<small>{OPTIONAL_FID}</small>"
    return ("**Notes**\n\n" + "\n".join(f"- {note}" for note in notes) if notes else "") + quiet


def cli_command(name: str, n: int, folder: Path | None) -> str:
    """The same measurement from the command line (its default seed is the app's, so the figures match)."""
    if folder is not None:
        return f"python -m gan_demo eval --checkpoint {_shown_path(folder)} --n {n}"
    if is_live(name):
        where = "save the run on the Train tab (a comparison on the Compare tab), unzip it, and give its folder"
    else:
        where = "unzip the run folder you uploaded and give its path"
    return f"# {where}:\npython -m gan_demo eval --checkpoint my_run --n {n}"


def _shown_path(folder: Path) -> str:
    """checkpoints/ring8 when the app runs from the repository, else the full path."""
    folder = folder.resolve()
    return str(folder.relative_to(Path.cwd())) if folder.is_relative_to(Path.cwd()) else str(folder)


# ----------------------------------------------------------------------------------- handlers
def check_web_data(sampler) -> None:
    """Refuse to read real data that a web visitor named: a checkpoint's dataset must be a built-in one.

    A live run's dataset is the server's own copy of what this session uploaded (Catalog only serves a
    session its own run); an uploaded run zip's config.json could name any path on the server.
    """
    dataset = sampler.cfg.data.dataset
    if sampler.trainer is None and dataset not in TOY_DATASETS + IMAGE_DATASETS:
        raise ValueError(f"this run was trained on its own files ({Path(str(dataset)).name}), which are not on "
                         "this server: measure it with `python -m gan_demo eval` where its data is")


class Quality:
    """The tab's handlers: take the session's choice of generator, run the evaluation, show the report."""

    def __init__(self, ctx):
        self.ctx = ctx

    def _session(self, request):
        return self.ctx.registry.get(request.session_hash)

    def measure(self, request: gr.Request, name, n, progress=gr.Progress()):
        """Evaluate the chosen generator with n samples.
        Returns (status, results column, summary, table, explanation, histogram box, its caption, histogram,
        nearest-images box, nearest picture, notes, command)."""
        n = int(n or DEFAULT_N)
        try:
            sampler = self.ctx.catalog.sampler(name, self._session(request))
            check_web_data(sampler)
            progress(0.0, desc="starting")
            waiting = lambda ahead: progress(0.0, desc=f"waiting: {ahead} evaluation(s) before yours")  # noqa: E731
            with self.ctx.evaluations.turn(request.session_hash, on_wait=waiting):
                # The server's data folder, whatever a checkpoint's config.json says: an uploaded run's paths are
                # the uploader's words, and the classifier cache is written there.
                report = evaluate_sampler(sampler, n=n, keep_samples=True, data_dir=self.ctx.data_dir,
                                          progress=lambda fraction, message: progress(fraction, desc=message))
        except (KeyError, ValueError, RuntimeError, OSError) as exc:
            text = for_visitor(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc))
            gr.Warning(f"Could not measure {name or 'that generator'}: {text}")
            return (f"⚠ Could not measure **{name or 'nothing selected'}**: {text}", gr.update(visible=False),
                    *[gr.skip()] * 10)
        frame, picture = histogram_frame(report), nearest_picture_of(report)
        # Only the chart's value changes, never its other properties: a value and a property changed in the
        # same update race in Gradio 6.31's plot and left the old bars drawn under the new title.
        return ("", gr.update(visible=True), summary(report, name, sampler.trainer is not None),
                figures_table(report), explanation(report),
                gr.update(visible=frame is not None), histogram_caption(report), frame,
                gr.update(visible=picture is not None), picture,
                notes_markdown(report), cli_command(name, n, self.checkpoint_folder(name)))

    def checkpoint_folder(self, name) -> Path | None:
        """The folder of a pretrained checkpoint (the one path a user also has); None otherwise."""
        catalog = self.ctx.catalog
        return catalog.pretrained_root / name if name in catalog.pretrained() else None

    def refresh(self, request: gr.Request, current):
        """The generator list again (a run may have started, an upload arrived)."""
        names = self.ctx.catalog.choices(self._session(request))
        if current in names:  # no value: a pick made while this ran is kept, not reset to what it read
            return gr.update(choices=names)
        return gr.update(choices=names, value=default_choice(names))


# ------------------------------------------------------------------------------------- layout
def build(ctx) -> dict:
    """Lay out the Quality tab inside the current gr.Tab and wire its events."""
    h = Quality(ctx)
    names = ctx.catalog.choices(None)
    quiet = dict(api_visibility="private", concurrency_limit=None, show_progress="hidden")

    gr.Markdown("How good is a generator? Measure it with the figures used in GAN papers (or this project's "
                "analogues of them), each beside the same figure for real data the generator never saw.")
    with gr.Row():
        checkpoint = gr.Dropdown(names, value=default_choice(names), label="Generator", scale=4,
                                 info="pretrained runs, your current run, runs uploaded on the Explore tab",
                                 elem_id="quality-checkpoint")
        with gr.Column(scale=1, min_width=170):
            refresh = gr.Button("↻ Refresh list", size="sm", elem_id="quality-refresh")
    with gr.Row(equal_height=True):
        n = gr.Slider(MIN_N, MAX_N, value=DEFAULT_N, step=N_STEP, label="Samples", scale=3, elem_id="quality-n",
                      info="generated samples scored; more give steadier figures and take longer "
                           "(stacked-digits: 26,000, its papers' count, for 1,000 modes)")
        with gr.Column(scale=2, min_width=220):
            measure = gr.Button("Measure quality", variant="primary", elem_id="quality-measure")
            gr.Markdown("The first time for an image set takes a minute or more on a 2-core CPU: the project "
                        "first trains its small classifier. It is cached on disk, and later measurements take "
                        "seconds.", elem_classes="quality-hint")
    status = gr.Markdown(elem_id="quality-status")
    with gr.Column(visible=False, elem_id="quality-results") as results:
        about = gr.Markdown(elem_id="quality-summary")
        table = gr.Dataframe(headers=TABLE_HEADERS, datatype="str", interactive=False, wrap=True,
                             label="Quality figures", elem_id="quality-table")
        explained = gr.Markdown(elem_id="quality-explanation")
        with gr.Row():
            with gr.Column(scale=1, min_width=360) as histogram_box:
                histogram_about = gr.Markdown(elem_id="quality-histogram-caption")
                # one x category per (bin, series): BarPlot stacks bars that share an x value
                histogram = gr.BarPlot(x="bar", y="share", color="series", color_map=COLORS, sort=HISTOGRAM_ORDER,
                                       y_lim=[0, None], x_label_angle=-45, x_title="class or mode · series",
                                       y_title="share of the set", tooltip="all", height=340, show_label=False,
                                       elem_id="quality-histogram")
            with gr.Column(scale=1, min_width=360) as nearest_box:
                gr.Markdown("**Nearest training images**: the first generated images (top row, purple frame) and "
                            "the training images closest to each, with the RMS pixel distance under each.")
                nearest = gr.Image(format="png", type="pil", interactive=False, show_label=False,
                                   buttons=["download", "fullscreen"], elem_id="quality-nearest",
                                   elem_classes="pixelated")
        notes = gr.Markdown(elem_id="quality-notes")
        command = gr.Code(language="shell", interactive=False, lines=2, wrap_lines=True,
                          label="The same measurement from the command line", elem_id="quality-cli")

    # Heavy (seconds, or minutes while a classifier trains): one evaluation at a time across all sessions
    # (ctx.evaluations), one place per visitor; the rest wait in turn with their place shown.
    measure.click(h.measure, [checkpoint, n], [status, results, about, table, explained, histogram_box, histogram_about,
                                               histogram, nearest_box, nearest, notes, command],
                  api_visibility="private", concurrency_limit=THREADS, concurrency_id="quality")
    refresh.click(h.refresh, checkpoint, checkpoint, **quiet)
    tab = gr.context.get_render_context()
    if isinstance(tab, gr.Tab):  # opening the tab refreshes the list: a run may have started meanwhile
        tab.select(h.refresh, checkpoint, checkpoint, **quiet)
    return {"checkpoint": checkpoint, "n": n, "measure": measure, "status": status, "table": table,
            "histogram": histogram, "nearest": nearest, "handlers": h}
