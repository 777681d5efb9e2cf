"""The model graph as inline SVG text: the GAN (z -> G -> G(z) -> D <- x, its losses and gradient paths) and the VAE.

GAN Lab's overview, drawn without gradio: the UI puts the text in a gr.HTML. Every part is a <g> with
data-part (its name) and data-state ("updating", "frozen", "idle"; gradient paths "active", "dim",
"idle"), so a test or a browser can ask which part is highlighted. No external fonts, scripts or ids:
two graphs on one page cannot clash, and the text works offline.
"""
from __future__ import annotations

import math
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from gan_demo.families import FAMILIES
from gan_demo.families.losses import PROBABILITY_LOSSES
from gan_demo.render.viz import FAKE_COLOR, REAL_COLOR

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
         badge_text: str = "", fill: str = "#ffffff") -> None:
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
    top = y + h / 2 - (16 + line_h * len(lines)) / 2 + 13  # the title's baseline: the text block centred
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
class Box(NamedTuple):
    """Where a part sits, in viewBox units."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


# Two rows: G's side on top (y 74..144), the real side below (y 208..278); D spans both.
_TOP, _BOT, _ROW = 74, 208, 70
GAN_BOXES = {
    "z": Box(10, _TOP, 74, _ROW), "G": Box(108, _TOP, 92, _ROW), "G(z)": Box(224, _TOP, 100, _ROW),
    "data": Box(10, _BOT, 190, _ROW), "x": Box(224, _BOT, 100, _ROW), "D": Box(348, _TOP, 92, _BOT + _ROW - _TOP),
    "D(G(z))": Box(464, _TOP, 94, _ROW), "D(x)": Box(464, _BOT, 94, _ROW),
    "loss_G": Box(582, _TOP, 128, _ROW), "loss_D": Box(582, _BOT, 128, _ROW),
}
GAN_HEIGHT = 392
_LANE_G, _LANE_D = 52, 310  # the gradient paths run above and below the rows


def gan_graph(loss: str = "nonsaturating", *, kind: str = "2d", updating: str | None = None,
              numbers: dict | None = None, r1_gamma: float = 0.0, gp_weight: float = 10.0,
              mode_seeking: float = 0.0, dataset: str = "", step: int | None = None, r1_every: int = 1) -> str:
    """The GAN's graph as SVG text.

    loss: the run's loss kind (losses.LOSS_KINDS); kind: "2d" (points) or "image"; updating: "D" after
    a D step, "G" after a G step, None while a run trains or is idle (no highlight); numbers: any of
    StepRecord's d_real, d_fake, loss_d, loss_g, grad_norm_d, grad_norm_g (missing ones are not written);
    r1_gamma > 0 adds the R1 penalty to loss_D (lazy when r1_every > 1), wgan-gp its gradient penalty (weight gp_weight),
    mode_seeking > 0 MSGAN's term to loss_G; dataset names the real data (escaped, cut to its file name).
    """
    if updating not in GAN_UPDATING:
        raise ValueError(f"updating: one of D, G or None for a GAN (got {updating!r})")
    loss_name = LOSS_NAMES.get(loss, str(loss))
    penalties = []  # (short name for the heading, term of loss_D)
    if loss == "wgan-gp":
        penalties.append(("", f"λ·GP (λ = {gp_weight:g}, gradient penalty)"))  # "WGAN-GP" already says GP
    if r1_gamma and r1_gamma > 0:
        lazy = f"; lazy: ×{r1_every} every {r1_every} steps" if r1_every and r1_every > 1 else ""
        penalties.append(("R1", f"γ/2·R1 (γ = {r1_gamma:g}, R1 penalty on real data{lazy})"))
    heading = f"GAN · loss: {loss_name}" + "".join(f" + {short}" for short, _ in penalties if short)
    label = f"Model graph: {heading}; " + (f"updating {updating}" if updating else "no part highlighted")
    svg = _Svg(GAN_HEIGHT, label)
    svg.text(12, 22, heading, size=14, weight="bold", anchor="start")
    right = {"D": "one D step: only D learns", "G": "one G step: only G learns",
             None: "forward: solid · gradients: dashed"}[updating]
    svg.text(WIDTH - 12, 22, right if step is None else f"step {step:,} · {right}", size=12, anchor="end",
             fill=HIGHLIGHT if updating else MUTED, weight="bold" if updating else "normal")
    _gan_gradients(svg, updating)  # first, so the boxes are drawn over their ends
    _gan_forward(svg)
    _gan_parts(svg, loss, loss_name, kind, updating, numbers or {}, dataset)
    d_text, g_text = LOSS_TEXT.get(loss, (f"the {loss} loss of D", f"the {loss} loss of G"))
    g_terms = [g_text] + ([f"{mode_seeking:g}·mode-seeking"] if mode_seeking and mode_seeking > 0 else [])
    foot = 346  # the formulas, as losses.py computes them
    svg.text(12, foot, "loss_D = " + " + ".join([d_text] + [term for _, term in penalties]), size=12,
             anchor="start", fill=D_BLUE)
    svg.text(12, foot + 17, "loss_G = " + " + ".join(g_terms), size=12, anchor="start", fill=FAKE)
    where = ("D(·) = P(real), σ of D's score" if loss in PROBABILITY_LOSSES and loss != "hinge"
             else "D(·) is D's raw score; the boxes show σ(score)" if loss == "hinge"
             else "D(·) is the critic's raw score")
    svg.text(12, foot + 34, f"numbers: means over the step's batch (D's outputs before its update) · {where}",
             size=11, anchor="start", fill=MUTED)
    return svg.svg()


def _gan_gradients(svg: _Svg, updating: str | None) -> None:
    """The dashed gradient paths: loss_G back through D into G (above), loss_D into D only (below)."""
    b = GAN_BOXES
    for part, active, dim in (("grad_G", updating == "G", updating == "D"),
                              ("grad_D", updating == "D", updating == "G")):
        state = "active" if active else "dim" if dim else "idle"
        color = HIGHLIGHT if active else FAKE if part == "grad_G" else D_BLUE
        width = 3 if active else 1.8
        svg.open(part, state, 0.3 if dim else 1.0)
        if part == "grad_G":
            loss, lane = b["loss_G"], _LANE_G
            svg.arrow([(loss.cx, loss.y), (loss.cx, lane), (b["G"].cx, lane), (b["G"].cx, b["G"].y)], color, width,
                      dashed=True)
            svg.arrow([(b["D"].cx, lane), (b["D"].cx, b["D"].y + 8)], color, 1.4, dashed=True, head=False)  # via D
            words, text_y = "∂loss_G flows back through D (frozen) and G(z) into G", lane - 6
        else:
            loss, lane = b["loss_D"], _LANE_D
            svg.arrow([(loss.cx, loss.bottom), (loss.cx, lane), (b["D"].cx, lane), (b["D"].cx, b["D"].bottom + 14)],
                      color, width, dashed=True)
            words, text_y = "∂loss_D updates D only (G(z) is detached)", lane + 15
        svg.text((b["D"].cx + loss.cx) / 2, text_y, words, size=11, fill=color)
        svg.close()


def _gan_forward(svg: _Svg) -> None:
    """The forward pass, left to right: purple on G's side, green on the real side."""
    b = GAN_BOXES
    for src, dst, color in (("z", "G", FAKE), ("G", "G(z)", FAKE), ("data", "x", REAL), ("D(G(z))", "loss_G", FAKE),
                            ("D(x)", "loss_D", REAL)):
        svg.arrow([(b[src].right, b[dst].cy), (b[dst].x, b[dst].cy)], color)
    for row, color in ((b["G(z)"], FAKE), (b["x"], REAL)):  # into D and out of it, on the same row
        svg.arrow([(row.right, row.cy), (b["D"].x, row.cy)], color)
        svg.arrow([(b["D"].right, row.cy), (b["D(x)"].x, row.cy)], color)
    svg.arrow([(b["D(G(z))"].right, b["D(G(z))"].cy + 18), (b["loss_D"].x, b["loss_D"].cy - 18)], FAKE)  # both terms


def _gan_parts(svg: _Svg, loss: str, loss_name: str, kind: str, updating: str | None, n: dict,
               dataset: str) -> None:
    """The boxes, with the numbers of `n` written on the parts they belong to."""
    b = GAN_BOXES
    thing = "point" if kind == "2d" else "image"
    score = "P(real)" if loss in PROBABILITY_LOSSES else "score"
    d_state = {"D": "updating", "G": "frozen", None: "idle"}[updating]
    g_state = {"D": "frozen", "G": "updating", None: "idle"}[updating]

    def box(part: str, color: str, title: str, lines: list, **kw) -> None:
        _box(svg, part, *b[part], color, title, lines, **kw)

    box("z", FAKE, "z", ["noise", "~ N(0, I)"])
    box("G", FAKE, "G", ["generator", _with("|∇G|", n.get("grad_norm_g"))], state=g_state,
        badge=(b["G"].cx, b["G"].bottom + 8), badge_text="updating G" if g_state == "updating" else "frozen")
    box("G(z)", FAKE, "G(z)", [f"generated {thing}"])
    box("data", REAL, "real data", [_short(dataset, 26) if dataset else None, "sampled by index"])
    box("x", REAL, "x", [f"a real {thing}"])
    box("D", D_BLUE, "D", ["critic" if loss == "wgan-gp" else "discriminator", _with("|∇D|", n.get("grad_norm_d"))],
        state=d_state, badge=(b["D"].cx, b["D"].y + 10), badge_text="updating D" if d_state == "updating" else "frozen")
    box("D(G(z))", FAKE, "D(G(z))", [score, fmt(n.get("d_fake"))])
    box("D(x)", REAL, "D(x)", [score, fmt(n.get("d_real"))])
    box("loss_G", FAKE, "loss_G", [loss_name, fmt(n.get("loss_g"))], state="updating" if updating == "G" else "idle")
    box("loss_D", D_BLUE, "loss_D", [loss_name, fmt(n.get("loss_d"))], state="updating" if updating == "D" else "idle")


# ---------------------------------------------------------------------------------------- VAE
# Top row: x -> encoder -> (mu, logvar) -> z -> decoder -> x_hat (y 84..162); below: ELBO, the KL term, epsilon
# and the reconstruction term (y 210..288).
_VTOP, _VBOT, _VROW = 84, 210, 78
VAE_BOXES = {
    "x": Box(10, _VTOP, 72, _VROW), "encoder": Box(104, _VTOP, 100, _VROW), "mu_logvar": Box(226, _VTOP, 100, _VROW),
    "z": Box(348, _VTOP, 92, _VROW), "decoder": Box(462, _VTOP, 100, _VROW), "x_hat": Box(584, _VTOP, 126, _VROW),
    "elbo": Box(10, _VBOT, 116, _VROW), "kl": Box(200, _VBOT, 134, _VROW), "epsilon": Box(348, _VBOT, 92, _VROW),
    "recon": Box(504, _VBOT, 206, _VROW),
}
VAE_HEIGHT = 388
_VLANE_X, _VLANE_GRAD = 50, 318  # x's path to the reconstruction term (above), the gradient lane (below)


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
    heading = f"VAE · loss = recon + β·KL (β = {beta:g})"
    svg = _Svg(VAE_HEIGHT, f"Model graph: {heading}; "
               + ("updating encoder and decoder" if updating else "no part highlighted"))
    svg.text(12, 22, heading, size=14, weight="bold", anchor="start")
    right = [s for s in ("updating encoder + decoder" if updating else None, _with("|∇|", n.get("grad_norm"))) if s]
    right_text = " · ".join(right) if right else "forward: solid · gradients: dashed"
    svg.text(WIDTH - 12, 22, right_text if step is None else f"step {step:,} · {right_text}", size=12, anchor="end",
             fill=HIGHLIGHT if updating else MUTED)
    _vae_gradients(svg, updating)
    _vae_forward(svg)
    _vae_parts(svg, kind, updating, n, beta, recon, dataset)
    foot = 356
    svg.text(12, foot, "loss = recon + β·KL  ·  ELBO = −(recon + KL) ≤ log p(x)", size=12, anchor="start",
             fill=INK)
    svg.text(12, foot + 17, "z = μ + σ·ε with ε ~ N(0, I): the noise sits outside the path, so gradients reach μ "
             "and σ (the reparameterisation trick)", size=11, anchor="start", fill=MUTED)
    return svg.svg()


def _vae_gradients(svg: _Svg, updating: str | None) -> None:
    """recon's gradient into the decoder and through z into the encoder; KL's into the encoder only.

    Both flow in every step, so they keep their colours (green, red); a step only makes them thicker.
    """
    b = VAE_BOXES
    state, width = ("active", 3) if updating else ("idle", 1.8)
    enc, rec, lane = b["encoder"], b["recon"], _VLANE_GRAD
    svg.open("grad_recon", state)
    svg.arrow([(rec.cx, rec.bottom), (rec.cx, lane), (enc.cx - 18, lane), (enc.cx - 18, enc.bottom)], REAL, width,
              dashed=True)
    svg.arrow([(b["decoder"].x + 14, lane), (b["decoder"].x + 14, b["decoder"].bottom)], REAL, width, dashed=True)
    svg.text(350, lane + 16, "∂recon: into the decoder, and through z = μ + σ·ε into the encoder", size=11,
             fill=REAL)
    svg.close()
    svg.open("grad_kl", state)
    kl = b["kl"]
    svg.arrow([(kl.x, kl.cy), (enc.cx + 24, kl.cy), (enc.cx + 24, enc.bottom)], KL_RED, width, dashed=True)
    svg.text(enc.cx + 30, kl.bottom + 14, "∂KL: encoder only", size=11, fill=KL_RED, anchor="start")
    svg.close()


def _vae_forward(svg: _Svg) -> None:
    """x through the encoder, z and the decoder to x_hat; the side inputs of z and of the two loss terms."""
    b = VAE_BOXES
    chain = ("x", "encoder", "mu_logvar", "z", "decoder", "x_hat")
    for src, dst in zip(chain, chain[1:]):
        svg.arrow([(b[src].right, b[src].cy), (b[dst].x, b[dst].cy)], REAL if src == "x" else INK)
    svg.arrow([(b["mu_logvar"].cx, b["mu_logvar"].bottom), (b["mu_logvar"].cx, b["kl"].y)], KL_RED)
    svg.arrow([(b["z"].cx, b["epsilon"].y), (b["z"].cx, b["z"].bottom)], INK)  # epsilon enters z from below
    svg.arrow([(b["x_hat"].cx, b["x_hat"].bottom), (b["x_hat"].cx, b["recon"].y)], INK)
    x, rec = b["x"], b["recon"]
    svg.arrow([(x.cx, x.y), (x.cx, _VLANE_X), (WIDTH - 8, _VLANE_X), (WIDTH - 8, rec.cy), (rec.right, rec.cy)],
              REAL, 1.4)
    svg.text(x.cx + 8, _VLANE_X - 6, "x is also the target the reconstruction is scored against", size=11,
             fill=REAL, anchor="start")


def _vae_parts(svg: _Svg, kind: str, updating: str | None, n: dict, beta: float, recon: str, dataset: str) -> None:
    b = VAE_BOXES
    thing = "point" if kind == "2d" else "image"
    state = "updating" if updating else "idle"

    def box(part: str, color: str, title: str, lines: list, **kw) -> None:
        _box(svg, part, *b[part], color, title, lines, **kw)

    box("x", REAL, "x", [f"real {thing}", _short(dataset, 10) if dataset else None])
    for part, title, sub in (("encoder", "encoder", "q(z | x)"), ("decoder", "decoder", "p(x | z)")):
        box(part, INK, title, [sub], state=state, badge=(b[part].cx, b[part].y - 22), badge_text="updating")
    box("mu_logvar", INK, "μ, log σ²", ["of q(z | x)"])
    box("z", INK, "z", ["= μ + σ·ε"])
    box("x_hat", INK, "x̂", [f"decoded {thing}"])
    box("elbo", MUTED, "ELBO", ["= −(recon + KL)", fmt(n.get("elbo"))])
    box("epsilon", MUTED, "ε", ["~ N(0, I)", "fresh each step"])
    weight = n.get("kl_weight")  # below beta during a KL warm-up
    warm = f"weight now {fmt(weight)}" if weight is not None and abs(float(weight) - beta) > 1e-12 else None
    box("kl", KL_RED, "β·KL", ["KL(q(z | x) ‖ N(0, I))", _with("KL", n.get("kl")), warm])
    box("recon", REAL, "reconstruction", [f"−log p(x | z): {RECON_TEXT.get(recon, recon)}", fmt(n.get("recon"))])


# ----------------------------------------------------------------------------------- dispatch
def model_graph(family: str = "gan", **kw) -> str:
    """The graph of a model family ("gan" or "vae") with gan_graph's or vae_graph's arguments."""
    if family == "gan":
        return gan_graph(**kw)
    if family == "vae":
        return vae_graph(**kw)
    raise ValueError(f"family: gan or vae (got {family!r})")


def _gan_run_graph(cfg, *, updating: str | None, numbers: dict | None, dataset: str | None,
                   step: int | None) -> str:
    """A GAN with its loss, penalties and data (updating: "D", "G" or None)."""
    t = cfg.train
    if t.r1_gamma is None or t.mode_seeking is None or t.r1_every is None:  # "auto": the numbers the run will use
        cfg = cfg.resolved()
    t = cfg.train
    return gan_graph(t.loss, kind=cfg.kind, updating=updating, numbers=numbers, r1_gamma=t.r1_gamma,
                     gp_weight=t.gp_weight, mode_seeking=t.mode_seeking, r1_every=t.r1_every,
                     dataset=cfg.data.dataset if dataset is None else dataset, step=step)


def _vae_run_graph(cfg, *, updating: str | None, numbers: dict | None, dataset: str | None,
                   step: int | None) -> str:
    """A VAE with its reconstruction term and beta (updating: "enc+dec" or None)."""
    if cfg.vae.recon is None:
        cfg = cfg.resolved()
    return vae_graph(kind=cfg.kind, updating=updating, numbers=numbers, beta=cfg.vae.beta, recon=cfg.vae.recon,
                     dataset=cfg.data.dataset if dataset is None else dataset, step=step)


# family -> its hand-drawn diagram of a RunConfig; a family without one gets family_graph (its networks and series)
DIAGRAMS = {"gan": _gan_run_graph, "vae": _vae_run_graph}


def family_graph(family, *, updating: str | None = None, numbers: dict | None = None, dataset: str = "",
                 step: int | None = None) -> str:
    """Any family's diagram from what it declares: z, then its networks in order (network_names; `updating`,
    a phase's name, highlights them all), then its numbers (series)."""
    n = numbers or {}
    heading = f"{family.name} · networks {', '.join(family.network_names)}"
    svg = _Svg(200, f"Model graph: {heading}; " + (f"updating ({updating})" if updating else "no part highlighted"))
    svg.text(12, 22, heading, size=14, weight="bold", anchor="start")
    if step is not None:
        svg.text(WIDTH - 12, 22, f"step {step:,}", size=12, anchor="end", fill=MUTED)
    names = list(family.network_names)
    w = min(140, (WIDTH - 20 - 150) / max(1, len(names)) - 20)
    x = 10
    _box(svg, "z", x, 60, 70, 70, MUTED, "z", [_short(dataset) if dataset else None])
    x += 90
    for name in names:
        svg.arrow([(x - 20, 95), (x - 2, 95)], INK)
        _box(svg, name, x, 60, w, 70, INK, name, [], state="updating" if updating else "idle",
             badge=(x + w / 2, 136), badge_text="updating")
        x += w + 20
    svg.arrow([(x - 20, 95), (x - 2, 95)], INK)
    _box(svg, "numbers", x, 40, WIDTH - 10 - x, 110, INK, "numbers",
         [_with(name, n.get(name)) or name for name in family.series[:5]])
    return svg.svg()


def run_graph(cfg, *, updating: str | None = None, numbers: dict | None = None, dataset: str | None = None,
              step: int | None = None) -> str:
    """The graph of a RunConfig's family (ideally resolved, so "auto" is its value): its DIAGRAMS entry (a GAN
    with its loss, penalties and data; a VAE with its reconstruction term and beta), else family_graph."""
    draw = DIAGRAMS.get(cfg.family)
    if draw is not None:
        return draw(cfg, updating=updating, numbers=numbers, dataset=dataset, step=step)
    return family_graph(FAMILIES[cfg.family], updating=updating, numbers=numbers,
                        dataset=cfg.data.dataset if dataset is None else dataset, step=step)
