"""The model graph as inline SVG text: the GAN (z -> G -> G(z) -> D <- x, its losses and gradient paths) and the VAE.

GAN Lab's overview, drawn without gradio: the UI puts the text in a gr.HTML. Every part is a <g> with
data-part (its name) and data-state ("updating", "frozen", "idle"; gradient paths "active", "dim",
"idle"), so a test or a browser can ask which part is highlighted. No external fonts, scripts or ids:
two graphs on one page cannot clash, and the text works offline.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from .losses import PROBABILITY_LOSSES
from .viz import FAKE_COLOR, REAL_COLOR

WIDTH = 720  # viewBox units; the SVG scales to its container and is meant to be read at ~700 px
REAL = "#%02x%02x%02x" % REAL_COLOR  # green: real data, as on the lab's pictures
FAKE = "#%02x%02x%02x" % FAKE_COLOR  # purple: generated data and G's side
D_BLUE = "#2166ac"  # D and loss_D (the Train tab's loss_D curve colour)
KL_RED = "#b2182b"  # the VAE's KL term
HIGHLIGHT = "#e66101"  # orange: the part being updated (the app's marker colour)
INK, MUTED, FROZEN_FILL = "#222222", "#6b6b6b", "#ececec"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"  # local fonts only
GAN_UPDATING = ("D", "G", None)
VAE_UPDATING = ("enc+dec", None)

LOSS_NAMES = {"nonsaturating": "non-saturating", "minimax": "minimax", "hinge": "hinge",
              "lsgan": "least squares (LSGAN)", "wgan-gp": "WGAN-GP"}
# kind -> (loss_D, loss_G) in plain text, as losses.d_loss / g_loss compute them (means over the batch).
LOSS_TEXT = {
    "nonsaturating": ("−log D(x) − log(1 − D(G(z)))", "−log D(G(z))"),
    "minimax": ("−log D(x) − log(1 − D(G(z)))", "log(1 − D(G(z)))"),
    "hinge": ("max(0, 1 − D(x)) + max(0, 1 + D(G(z)))", "−D(G(z))"),
    "lsgan": ("½(D(x) − 1)² + ½D(G(z))²", "½(D(G(z)) − 1)²"),
    "wgan-gp": ("D(G(z)) − D(x)", "−D(G(z))"),
}
RECON_TEXT = {"bernoulli": "binary cross-entropy", "gaussian": "squared error / 2σ²"}


# ------------------------------------------------------------------------------ small helpers
def fmt(value) -> str | None:
    """A number as written on the graph: 3 decimals near 1, fewer for big values, scientific when tiny."""
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        return str(v)  # nan, inf, -inf: the run has blown up, say so
    a = abs(v)
    if a == 0:
        return "0"
    if a < 1e-3 or a >= 1e5:
        return f"{v:.2e}"
    decimals = 3 if a < 10 else 2 if a < 100 else 1 if a < 1000 else 0
    return f"{v:.{decimals}f}"


def _short(name: str, limit: int = 30) -> str:
    """A dataset name or path cut to its last part and to `limit` characters (escaped later)."""
    name = str(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name if len(name) <= limit else name[:limit - 1] + "…"


class _Svg:
    """Collects SVG elements as text; every string that came from outside goes through escape()."""

    def __init__(self, height: int, label: str):
        self.height = height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
            f'style="max-width:{WIDTH}px;height:auto;display:block" role="img" aria-label={quoteattr(label)} '
            f'font-family={quoteattr(FONT)}>',
            f"<title>{escape(label)}</title>",
            f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff" rx="8"/>',  # readable on dark themes
        ]

    def add(self, text: str) -> None:
        self.parts.append(text)

    def text(self, x: float, y: float, s: str, size: int = 12, fill: str = INK, anchor: str = "middle",
             weight: str = "normal", italic: bool = False) -> None:
        style = ' font-style="italic"' if italic else ""
        self.add(f'<text x="{x:g}" y="{y:g}" font-size="{size}" fill="{fill}" text-anchor="{anchor}" '
                 f'font-weight="{weight}"{style}>{escape(str(s))}</text>')

    def arrow(self, points: list[tuple[float, float]], color: str, width: float = 1.6, dashed: bool = False,
              head: bool = True) -> None:
        """A polyline with a filled triangle at its last point (drawn, not an SVG marker: no ids to clash)."""
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        coords = " ".join(f"{x:g},{y:g}" for x, y in points)
        self.add(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="{width:g}"{dash} '
                 'stroke-linejoin="round"/>')
        if head:
            (x0, y0), (x1, y1) = points[-2], points[-1]
            angle = math.atan2(y1 - y0, x1 - x0)
            size = 5 + 1.5 * width
            left = (x1 - size * math.cos(angle - 0.45), y1 - size * math.sin(angle - 0.45))
            right = (x1 - size * math.cos(angle + 0.45), y1 - size * math.sin(angle + 0.45))
            self.add(f'<polygon points="{x1:g},{y1:g} {left[0]:.1f},{left[1]:.1f} {right[0]:.1f},{right[1]:.1f}" '
                     f'fill="{color}"/>')

    def badge(self, cx: float, y: float, s: str, fill: str, text_fill: str = "#ffffff") -> None:
        """A small rounded label (e.g. "updating D") centred at cx, top at y."""
        w = 7 * len(s) + 14
        self.add(f'<rect x="{cx - w / 2:g}" y="{y:g}" width="{w:g}" height="18" rx="9" fill="{fill}"/>')
        self.text(cx, y + 13, s, size=11, fill=text_fill, weight="bold")

    def open(self, part: str, state: str, opacity: float = 1.0) -> None:
        dim = f' opacity="{opacity:g}"' if opacity < 1 else ""
        self.add(f"<g data-part={quoteattr(part)} data-state={quoteattr(state)}{dim}>")

    def close(self) -> None:
        self.add("</g>")

    def svg(self) -> str:
        return "\n".join(self.parts + ["</svg>"])


def _box(svg: _Svg, part: str, x: float, y: float, w: float, h: float, color: str, title: str,
         lines: list[str | None], state: str = "idle", badge: tuple[float, float] | None = None,
         badge_text: str = "", fill: str = "#ffffff", text_top: float | None = None) -> None:
    """One part: a rounded box with a bold title and small lines under it (None lines are left out).

    state "updating" draws a thick orange border and a badge; "frozen" a grey fill, a dashed border and
    a grey badge. badge: where the badge sits (centre x, top y); badge_text: its words.
    """
    lines = [s for s in lines if s]
    stroke, width, dash = color, 2, ""
    if state == "updating":
        stroke, width, fill = HIGHLIGHT, 4, "#fdf0e6"
    elif state == "frozen":
        fill, dash = FROZEN_FILL, ' stroke-dasharray="5 3"'
    svg.open(part, state)
    svg.add(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="8" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"{dash}/>')
    line_h = 15
    top = text_top if text_top is not None else y + h / 2 - (16 + line_h * len(lines)) / 2 + 13
    svg.text(x + w / 2, top, title, size=14, weight="bold", fill=INK)
    for i, s in enumerate(lines):
        svg.text(x + w / 2, top + 17 + i * line_h, s, size=11, fill=INK if any(c.isdigit() for c in s) else MUTED)
    if badge is not None and state in ("updating", "frozen"):
        svg.badge(badge[0], badge[1], badge_text, HIGHLIGHT if state == "updating" else "#8a8a8a")
    svg.close()


def _with(label: str, value) -> str | None:
    text = fmt(value)
    return None if text is None else f"{label} {text}"


# ---------------------------------------------------------------------------------------- GAN
def gan_graph(loss: str = "nonsaturating", *, kind: str = "2d", updating: str | None = None,
              numbers: dict | None = None, r1_gamma: float = 0.0, gp_weight: float = 10.0,
              mode_seeking: float = 0.0, dataset: str = "", step: int | None = None) -> str:
    """The GAN's graph as SVG text.

    loss: the run's loss kind (losses.LOSS_KINDS); kind: "2d" (points) or "image"; updating: "D" after
    a D step, "G" after a G step, None while a run trains or is idle (no highlight); numbers: any of
    StepRecord's d_real, d_fake, loss_d, loss_g, grad_norm_d, grad_norm_g (missing ones are not written);
    r1_gamma > 0 adds the R1 penalty to loss_D, wgan-gp its gradient penalty (weight gp_weight),
    mode_seeking > 0 MSGAN's term to loss_G; dataset names the real data (escaped, cut to its file name).
    """
    if updating not in GAN_UPDATING:
        raise ValueError(f"updating: one of D, G or None for a GAN (got {updating!r})")
    n = numbers or {}
    thing = "point" if kind == "2d" else "image"
    critic = loss == "wgan-gp"
    d_name = "critic" if critic else "discriminator"
    prob = loss in PROBABILITY_LOSSES
    loss_name = LOSS_NAMES.get(loss, str(loss))
    d_text, g_text = LOSS_TEXT.get(loss, (f"the {loss} loss of D", f"the {loss} loss of G"))
    extras_d = []
    if loss == "wgan-gp":
        extras_d.append(("GP", f"λ·GP (λ = {gp_weight:g}, gradient penalty)"))
    if r1_gamma and r1_gamma > 0:
        extras_d.append(("R1", f"γ/2·R1 (γ = {r1_gamma:g}, R1 penalty on real data)"))
    extras_g = [f"{mode_seeking:g}·mode-seeking"] if mode_seeking and mode_seeking > 0 else []
    d_state = {"D": "updating", "G": "frozen", None: "idle"}[updating]
    g_state = {"D": "frozen", "G": "updating", None: "idle"}[updating]

    heading = f"GAN · loss: {loss_name}" + "".join(f" + {short}" for short, _ in extras_d if short != "GP")
    svg = _Svg(392, f"Model graph: {heading}; " + (f"updating {updating}" if updating else "no part highlighted"))
    svg.text(12, 22, heading, size=14, weight="bold", anchor="start")
    right = {"D": "one D step: only D learns", "G": "one G step: only G learns",
             None: "forward: solid · gradients: dashed"}[updating]
    if step is not None:
        right = f"step {step:,} · {right}"
    svg.text(WIDTH - 12, 22, right, size=12, anchor="end", fill=HIGHLIGHT if updating else MUTED,
             weight="bold" if updating else "normal")

    top, bottom, row_h = 74, 208, 70  # row tops; rows are row_h tall (centres 109 and 243)
    cy_top, cy_bot = top + row_h / 2, bottom + row_h / 2
    col = {"z": (10, 74), "G": (108, 92), "s": (224, 100), "D": (348, 92), "o": (464, 94), "L": (582, 128)}

    def cx(name: str) -> float:
        return col[name][0] + col[name][1] / 2

    def left(name: str) -> float:
        return col[name][0]

    def right_of(name: str) -> float:
        return col[name][0] + col[name][1]

    # Gradient paths first, so boxes are drawn over their ends.
    g_path = "active" if updating == "G" else "dim" if updating == "D" else "idle"
    d_path = "active" if updating == "D" else "dim" if updating == "G" else "idle"
    lane_g, lane_d = 52, 310
    width_g = 3 if g_path == "active" else 1.8
    svg.open("grad_G", g_path, 0.3 if g_path == "dim" else 1.0)
    g_color = HIGHLIGHT if g_path == "active" else FAKE
    svg.arrow([(cx("L"), top), (cx("L"), lane_g), (cx("G"), lane_g), (cx("G"), top)], g_color, width_g, dashed=True)
    svg.arrow([(cx("D"), lane_g), (cx("D"), top + 8)], g_color, 1.4, dashed=True, head=False)  # passes through D
    svg.text((cx("D") + cx("L")) / 2, lane_g - 6, "∂loss_G flows back through D (frozen) and G(z) into G",
             size=11, fill=g_color)
    svg.close()
    svg.open("grad_D", d_path, 0.3 if d_path == "dim" else 1.0)
    d_color = HIGHLIGHT if d_path == "active" else D_BLUE
    width_d = 3 if d_path == "active" else 1.8
    svg.arrow([(cx("L"), bottom + row_h), (cx("L"), lane_d), (cx("D"), lane_d), (cx("D"), bottom + row_h + 14)],
              d_color, width_d, dashed=True)
    svg.text((cx("D") + cx("L")) / 2, lane_d + 15, "∂loss_D updates D only (G(z) is detached)", size=11,
             fill=d_color)
    svg.close()

    # Forward arrows: purple on G's side, green on the real side.
    svg.arrow([(right_of("z"), cy_top), (left("G"), cy_top)], FAKE)
    svg.arrow([(right_of("G"), cy_top), (left("s"), cy_top)], FAKE)
    svg.arrow([(right_of("G"), cy_bot), (left("s"), cy_bot)], REAL)
    svg.arrow([(right_of("s"), cy_top), (left("D"), cy_top)], FAKE)
    svg.arrow([(right_of("s"), cy_bot), (left("D"), cy_bot)], REAL)
    svg.arrow([(right_of("D"), cy_top), (left("o"), cy_top)], FAKE)
    svg.arrow([(right_of("D"), cy_bot), (left("o"), cy_bot)], REAL)
    svg.arrow([(right_of("o"), cy_top), (left("L"), cy_top)], FAKE)
    svg.arrow([(right_of("o"), cy_top + 18), (left("L"), cy_bot - 18)], FAKE)
    svg.arrow([(right_of("o"), cy_bot), (left("L"), cy_bot)], REAL)

    # The parts.
    _box(svg, "z", *col["z"][:1], top, col["z"][1], row_h, FAKE, "z", ["noise", "~ N(0, I)"])
    _box(svg, "G", col["G"][0], top, col["G"][1], row_h, FAKE, "G", ["generator", _with("|∇G|", n.get("grad_norm_g"))],
         state=g_state, badge=(cx("G"), top + row_h + 8), badge_text="updating G" if g_state == "updating" else "frozen")
    _box(svg, "G(z)", col["s"][0], top, col["s"][1], row_h, FAKE, "G(z)", [f"generated {thing}"])
    data_w = right_of("G") - left("z")
    _box(svg, "data", left("z"), bottom, data_w, row_h, REAL, "real data",
         [_short(dataset, 26) if dataset else None, "sampled by index"])
    _box(svg, "x", col["s"][0], bottom, col["s"][1], row_h, REAL, "x", [f"a real {thing}"])
    _box(svg, "D", col["D"][0], top, col["D"][1], bottom + row_h - top, D_BLUE, "D",
         [d_name, _with("|∇D|", n.get("grad_norm_d"))], state=d_state,
         badge=(cx("D"), top + 10), badge_text="updating D" if d_state == "updating" else "frozen")
    score = "P(real)" if prob else "score"
    _box(svg, "D(G(z))", col["o"][0], top, col["o"][1], row_h, FAKE, "D(G(z))", [score, fmt(n.get("d_fake"))])
    _box(svg, "D(x)", col["o"][0], bottom, col["o"][1], row_h, REAL, "D(x)", [score, fmt(n.get("d_real"))])
    _box(svg, "loss_G", col["L"][0], top, col["L"][1], row_h, FAKE, "loss_G", [loss_name, fmt(n.get("loss_g"))],
         state="updating" if updating == "G" else "idle")
    _box(svg, "loss_D", col["L"][0], bottom, col["L"][1], row_h, D_BLUE, "loss_D",
         [loss_name, fmt(n.get("loss_d"))], state="updating" if updating == "D" else "idle")

    # The formulas, as the code computes them.
    foot = 346
    svg.text(12, foot, "loss_D = " + " + ".join([d_text] + [long for _, long in extras_d]), size=12, anchor="start", fill=D_BLUE)
    svg.text(12, foot + 17, "loss_G = " + " + ".join([g_text] + extras_g), size=12, anchor="start", fill=FAKE)
    where = ("D(·) = P(real), σ of D's score" if prob and loss != "hinge"
             else "D(·) is D's raw score; the boxes show σ(score)" if loss == "hinge"
             else "D(·) is the critic's raw score")
    svg.text(12, foot + 34, f"numbers: means over the step's batch (D's outputs before its update) · {where}",
             size=11, anchor="start", fill=MUTED)
    return svg.svg()


# ---------------------------------------------------------------------------------------- VAE
def vae_graph(*, kind: str = "2d", updating: str | None = None, numbers: dict | None = None, beta: float = 1.0,
              recon: str = "gaussian", dataset: str = "", step: int | None = None) -> str:
    """The VAE's graph as SVG text.

    updating: "enc+dec" after a training step (one optimizer updates both), None for no highlight;
    numbers: any of families.vae.SERIES (recon, kl, elbo, loss, kl_weight, grad_norm); recon: its kind
    (bernoulli or gaussian); beta: the KL weight.
    """
    if updating not in VAE_UPDATING:
        raise ValueError(f"updating: one of 'enc+dec' or None for a VAE (got {updating!r})")
    n = numbers or {}
    thing = "point" if kind == "2d" else "image"
    state = "updating" if updating else "idle"
    heading = f"VAE · loss = recon + β·KL (β = {beta:g})"
    svg = _Svg(388, f"Model graph: {heading}; " + ("updating encoder and decoder" if updating else "no part highlighted"))
    svg.text(12, 22, heading, size=14, weight="bold", anchor="start")
    right = [s for s in ("updating encoder + decoder" if updating else None, _with("|∇|", n.get("grad_norm"))) if s]
    right_text = " · ".join(right) if right else "forward: solid · gradients: dashed"
    if step is not None:
        right_text = f"step {step:,} · {right_text}"
    svg.text(WIDTH - 12, 22, right_text, size=12, anchor="end", fill=HIGHLIGHT if updating else MUTED)

    top, bottom, row_h = 84, 210, 78
    cy_top, cy_bot = top + row_h / 2, bottom + row_h / 2
    col = {"x": (10, 72), "enc": (104, 100), "mu": (226, 100), "z": (348, 92), "dec": (462, 100), "xh": (584, 126)}

    def cx(name: str) -> float:
        return col[name][0] + col[name][1] / 2

    def right_of(name: str) -> float:
        return col[name][0] + col[name][1]

    kl_box = (200, 134)  # under (mu, logvar)
    rec_box = (504, 206)  # under the decoder and x_hat

    # Gradient paths (dashed) under the boxes.
    path = "active" if updating else "idle"
    rec_color = REAL  # both paths carry gradient in every step: colours tell them apart, width says "now"
    pw = 3 if updating else 1.8
    lane = 318  # under the bottom row (which ends at 288)
    svg.open("grad_recon", path)
    rec_cx = rec_box[0] + rec_box[1] / 2
    svg.arrow([(rec_cx, bottom + row_h), (rec_cx, lane), (cx("enc") - 18, lane), (cx("enc") - 18, top + row_h)],
              rec_color, pw, dashed=True)
    svg.arrow([(col["dec"][0] + 14, lane), (col["dec"][0] + 14, top + row_h)], rec_color, pw, dashed=True)
    svg.text(350, lane + 16, "∂recon: into the decoder, and through z = μ + σ·ε into the encoder", size=11,
             fill=rec_color)
    svg.close()
    svg.open("grad_kl", path)
    kl_color = KL_RED
    svg.arrow([(kl_box[0], cy_bot), (cx("enc") + 24, cy_bot), (cx("enc") + 24, top + row_h)], kl_color, pw,
              dashed=True)
    svg.text(cx("enc") + 30, bottom + row_h + 14, "∂KL: encoder only", size=11, fill=kl_color, anchor="start")
    svg.close()

    # Forward arrows: x to the encoder, through z to x_hat; x also to the reconstruction term.
    svg.arrow([(right_of("x"), cy_top), (col["enc"][0], cy_top)], REAL)
    svg.arrow([(right_of("enc"), cy_top), (col["mu"][0], cy_top)], INK)
    svg.arrow([(right_of("mu"), cy_top), (col["z"][0], cy_top)], INK)
    svg.arrow([(right_of("z"), cy_top), (col["dec"][0], cy_top)], INK)
    svg.arrow([(right_of("dec"), cy_top), (col["xh"][0], cy_top)], INK)
    svg.arrow([(cx("mu"), top + row_h), (cx("mu"), bottom)], KL_RED)
    svg.arrow([(cx("z"), bottom), (cx("z"), top + row_h)], INK)  # epsilon enters z from below
    svg.arrow([(cx("xh"), top + row_h), (cx("xh"), bottom)], INK)
    svg.arrow([(cx("x"), top), (cx("x"), 50), (WIDTH - 8, 50), (WIDTH - 8, cy_bot),
               (rec_box[0] + rec_box[1], cy_bot)], REAL, 1.4)
    svg.text(cx("x") + 8, 44, "x is also the target the reconstruction is scored against", size=11, fill=REAL,
             anchor="start")

    enc_dec_badge = "updating"
    _box(svg, "x", col["x"][0], top, col["x"][1], row_h, REAL, "x", [f"real {thing}", _short(dataset, 10) if dataset else None])
    _box(svg, "encoder", col["enc"][0], top, col["enc"][1], row_h, INK, "encoder", ["q(z | x)"], state=state,
         badge=(cx("enc"), top - 22), badge_text=enc_dec_badge)
    _box(svg, "mu_logvar", col["mu"][0], top, col["mu"][1], row_h, INK, "μ, log σ²", ["of q(z | x)"])
    _box(svg, "z", col["z"][0], top, col["z"][1], row_h, INK, "z", ["= μ + σ·ε"])
    _box(svg, "decoder", col["dec"][0], top, col["dec"][1], row_h, INK, "decoder", ["p(x | z)"], state=state,
         badge=(cx("dec"), top - 22), badge_text=enc_dec_badge)
    _box(svg, "x_hat", col["xh"][0], top, col["xh"][1], row_h, INK, "x̂", [f"decoded {thing}"])
    _box(svg, "elbo", 10, bottom, 116, row_h, MUTED, "ELBO", ["= −(recon + KL)", fmt(n.get("elbo"))])
    _box(svg, "epsilon", col["z"][0], bottom, col["z"][1], row_h, MUTED, "ε", ["~ N(0, I)", "fresh each step"])
    weight = n.get("kl_weight")
    warm = f"weight now {fmt(weight)}" if weight is not None and abs(float(weight) - beta) > 1e-12 else None
    _box(svg, "kl", kl_box[0], bottom, kl_box[1], row_h, KL_RED, "β·KL",
         ["KL(q(z | x) ‖ N(0, I))", _with("KL", n.get("kl")), warm])
    _box(svg, "recon", rec_box[0], bottom, rec_box[1], row_h, REAL, "reconstruction",
         [f"−log p(x | z): {RECON_TEXT.get(recon, recon)}", fmt(n.get("recon"))])

    foot = 356
    svg.text(12, foot, "loss = recon + β·KL  ·  ELBO = −(recon + KL) ≤ log p(x)", size=12, anchor="start", fill=INK)
    svg.text(12, foot + 17, "z = μ + σ·ε with ε ~ N(0, I): the noise sits outside the path, so gradients reach μ "
             "and σ (the reparameterisation trick)", size=11, anchor="start", fill=MUTED)
    return svg.svg()


# ----------------------------------------------------------------------------------- dispatch
def model_graph(family: str = "gan", **kw) -> str:
    """The graph of a model family ("gan" or "vae") with gan_graph's or vae_graph's arguments."""
    if family == "gan":
        return gan_graph(**kw)
    if family == "vae":
        return vae_graph(**kw)
    raise ValueError(f"family: gan or vae (got {family!r})")


def run_graph(cfg, *, updating: str | None = None, numbers: dict | None = None, dataset: str | None = None,
              step: int | None = None) -> str:
    """The GAN graph of a RunConfig (ideally resolved, so R1's "auto" is its number): its loss, penalties, data."""
    if cfg.train.r1_gamma < 0 or cfg.train.mode_seeking < 0:  # "auto": the numbers the run will use
        cfg = cfg.resolved()
    t = cfg.train
    return gan_graph(t.loss, kind=cfg.kind, updating=updating, numbers=numbers, r1_gamma=max(t.r1_gamma, 0.0),
                     gp_weight=t.gp_weight, mode_seeking=max(t.mode_seeking, 0.0),
                     dataset=cfg.data.dataset if dataset is None else dataset, step=step)
