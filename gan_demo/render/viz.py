"""Tensors to pictures: image grids, 2D scatter and GAN Lab-style pictures, animated GIFs (PIL + numpy)."""
from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from gan_demo.data.image_cache import to_unit  # noqa: F401  (pictures are drawn from [0, 1]; the map lives with the image data)

# GAN Lab's colours: green for real data, purple for generated data (ColorBrewer PRGn ends).
REAL_COLOR = (27, 120, 55)
FAKE_COLOR = (118, 42, 131)
# ColorBrewer PRGn, purple (D(x) = 0, "fake") through white to green (D(x) = 1, "real").
_PRGN = ("#40004b", "#762a83", "#9970ab", "#c2a5cf", "#e7d4e8", "#f7f7f7",
         "#d9f0d3", "#a6dba0", "#5aae61", "#1b7837", "#00441b")
HEAT_STRENGTH = 0.6  # 1 = full PRGn colours; less mixes in white so the points stay readable
_SS = 2  # 2D pictures are drawn at twice the size and reduced: cheap anti-aliasing


# ------------------------------------------------------------------------------------ helpers
def _numpy(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    return np.asarray(x, dtype=dtype)


def _points(x, name: str) -> np.ndarray | None:
    if x is None:
        return None
    a = _numpy(x)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {tuple(a.shape)}")
    return a


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont:
    """A scalable font of `size` px for labels drawn on pictures (Pillow's own, else DejaVu, else the bitmap one)."""
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 ships a scalable font
    except TypeError:
        pass
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


@functools.lru_cache(maxsize=4)
def _heat_lut(strength: float) -> np.ndarray:
    """(256, 3) uint8 colour table for values 0..1, lightened toward white by (1 - strength)."""
    stops = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in _PRGN], dtype=np.float64)
    t = np.linspace(0, 1, 256)
    pos = np.linspace(0, 1, len(stops))
    lut = np.stack([np.interp(t, pos, stops[:, c]) for c in range(3)], 1)
    lut = 255 - (255 - lut) * strength
    return np.round(lut).astype(np.uint8)


# -------------------------------------------------------------------------------------- images
def image_grid(x, nrow: int = 8, pad: int = 2, upscale: int = 1, pad_value: float = 1.0) -> Image.Image:
    """An RGB grid of images.

    x: (B, C, H, W) or (C, H, W) float in [0, 1] (clamped), C = 1 or 3; grayscale is drawn
    as RGB so every grid has the same mode. Each image is enlarged ``upscale`` times by
    nearest neighbour (tiny 16/32 px images stay crisp), then cells are separated by ``pad``
    pixels of ``pad_value`` (1 = white). Picture size, as torchvision's make_grid:
    width = cols * (W * upscale + pad) + pad, height = rows * (H * upscale + pad) + pad,
    with cols = min(nrow, B), rows = ceil(B / cols).
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().to("cpu", torch.float32)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] not in (1, 3) or t.shape[0] == 0:
        raise ValueError(f"image_grid needs (B, C, H, W) images with C = 1 or 3, got {tuple(t.shape)}")
    if nrow < 1 or pad < 0 or upscale < 1:
        raise ValueError(f"need nrow >= 1, pad >= 0, upscale >= 1 (got {nrow}, {pad}, {upscale})")
    b, c, h, w = t.shape
    t = t.clamp(0, 1).expand(b, 3, h, w)
    if upscale > 1:
        t = t.repeat_interleave(upscale, 2).repeat_interleave(upscale, 3)
        h, w = h * upscale, w * upscale
    cols = min(nrow, b)
    rows = math.ceil(b / cols)
    # pad each cell on the bottom/right, fill the missing cells, then tile
    cells = torch.full((rows * cols, 3, h + pad, w + pad), float(pad_value))
    cells[:b, :, :h, :w] = t
    grid = cells.view(rows, cols, 3, h + pad, w + pad).permute(2, 0, 3, 1, 4)
    grid = grid.reshape(3, rows * (h + pad), cols * (w + pad))
    grid = torch.nn.functional.pad(grid, (pad, 0, pad, 0), value=float(pad_value))
    pixels = (grid * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(pixels, "RGB")


def tensor_to_image(x, upscale: int = 1) -> Image.Image:
    """One (C, H, W) image in [0, 1] as an RGB picture, enlarged ``upscale`` times (nearest)."""
    return image_grid(x, nrow=1, pad=0, upscale=upscale)


# ------------------------------------------------------------------------------------ 2D plots
def default_bounds(points, margin: float = 0.15) -> tuple[float, float, float, float]:
    """Square (xmin, xmax, ymin, ymax) around the finite points, ``margin`` x their span on each side."""
    p = _points(points, "points")
    p = p[np.isfinite(p).all(1)]
    if len(p) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = p.min(0), p.max(0)
    center = (lo + hi) / 2
    span = float((hi - lo).max())
    half = span * (0.5 + margin) if span > 0 else 1.0
    return (float(center[0] - half), float(center[0] + half), float(center[1] - half), float(center[1] + half))


def grid_points(bounds, n: int = 64) -> np.ndarray:
    """(n * n, 2) float32 points at the centres of an n x n grid over bounds, for a heat map.

    Row-major: ``heat = D(grid_points(bounds, n)).reshape(n, n)`` gives heat[i, j] at
    x = xs[j], y = ys[i] with xs and ys increasing, the orientation ``lab_image`` expects.
    """
    xmin, xmax, ymin, ymax = (float(b) for b in bounds)
    xs = xmin + (np.arange(n) + 0.5) * (xmax - xmin) / n
    ys = ymin + (np.arange(n) + 0.5) * (ymax - ymin) / n
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def _nice_step(span: float, target: int = 6) -> float:
    """1, 2 or 5 times a power of ten, giving about ``target`` grid lines over span."""
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for f in (1, 2, 5, 10):
        if f * power >= raw:
            return f * power
    return 10 * power


class _Plot:
    """Maps data coordinates to pixels of a square picture drawn at _SS times its size."""

    def __init__(self, bounds, size: int):
        self.xmin, self.xmax, self.ymin, self.ymax = (float(b) for b in bounds)
        if not (self.xmax > self.xmin and self.ymax > self.ymin):
            raise ValueError(f"bounds must be (xmin, xmax, ymin, ymax) with xmin < xmax, ymin < ymax, got {bounds}")
        self.size = int(size)
        self.px = self.size * _SS  # side of the supersampled canvas

    def to_px(self, p: np.ndarray) -> np.ndarray:
        # (N, 2) data -> (N, 2) canvas pixels, y pointing down; clipped so PIL never sees huge numbers
        u = (p[..., 0] - self.xmin) / (self.xmax - self.xmin) * self.px
        v = (self.ymax - p[..., 1]) / (self.ymax - self.ymin) * self.px
        return np.clip(np.stack([u, v], -1), -4 * self.px, 5 * self.px)


def _draw_grid(draw: ImageDraw.ImageDraw, plot: _Plot, on_heat: bool) -> None:
    # light grid lines at round numbers; the axes x = 0 and y = 0 a little darker
    step = _nice_step(max(plot.xmax - plot.xmin, plot.ymax - plot.ymin))
    line = (0, 0, 0, 22) if on_heat else (0, 0, 0, 18)
    axis = (0, 0, 0, 70) if on_heat else (0, 0, 0, 60)
    w = _SS
    for k in range(math.ceil(plot.xmin / step), math.floor(plot.xmax / step) + 1):
        u = float(plot.to_px(np.array([k * step, 0.0]))[0])
        draw.line([(u, 0), (u, plot.px)], fill=axis if k == 0 else line, width=w)
    for k in range(math.ceil(plot.ymin / step), math.floor(plot.ymax / step) + 1):
        v = float(plot.to_px(np.array([0.0, k * step]))[1])
        draw.line([(0, v), (plot.px, v)], fill=axis if k == 0 else line, width=w)


@functools.lru_cache(maxsize=16)
def _disc(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the pixels in a disc of the given radius."""
    k = int(math.ceil(radius))
    dy, dx = np.mgrid[-k:k + 1, -k:k + 1]
    inside = dx ** 2 + dy ** 2 <= radius ** 2 + 0.5
    return dy[inside], dx[inside]


def _stamp(pixels: np.ndarray, pad: int, p: np.ndarray, radius: float, color) -> None:
    """Paint a filled disc at each (u, v) canvas point, vectorised.

    pixels is the (S + 2 pad, S + 2 pad, 3) uint8 canvas with a border of pad >= radius
    pixels, so every disc of a point inside the border fits without per-pixel bounds
    checks; each pixel is written as one 3-byte value through a flat view.
    """
    if len(p) == 0:
        return
    dy, dx = _disc(radius)
    side = pixels.shape[1]
    cu = np.floor(p[:, 0]).astype(np.int64) + pad  # in padded pixels
    cv = np.floor(p[:, 1]).astype(np.int64) + pad
    k = int(math.ceil(radius))
    keep = (cu >= k) & (cu < side - k) & (cv >= k) & (cv < side - k)  # the whole disc fits
    base = cv[keep] * side + cu[keep]
    flat = (base[:, None] + (dy * side + dx)[None]).ravel()
    rgb = np.dtype((np.void, 3))
    pixels.reshape(-1, 3).view(rgb).ravel()[flat] = np.array(color, np.uint8).view(rgb)[0]


def _draw_points(canvas: Image.Image, plot: _Plot, layers, radius: float) -> Image.Image:
    """Draw each (points (N, 2) | None, colour) layer in order as discs with a thin white rim."""
    layers = [(p, c) for p, c in layers if p is not None and len(p)]
    if not layers:
        return canvas
    pixels, pad = _padded(canvas, radius)
    for p, color in layers:
        _stamp_layer(pixels, pad, plot, p, color, radius)
    return _unpadded(pixels, pad)


def _padded(canvas: Image.Image, radius: float) -> tuple[np.ndarray, int]:
    """The canvas as a (S + 2 pad, S + 2 pad, 3) array with a border wide enough for any point's disc."""
    pad = int(math.ceil(radius * _SS + 0.75 * _SS)) + 1
    pixels = np.zeros((canvas.size[1] + 2 * pad, canvas.size[0] + 2 * pad, 3), np.uint8)
    pixels[pad:-pad, pad:-pad] = np.asarray(canvas)
    return pixels, pad


def _stamp_layer(pixels: np.ndarray, pad: int, plot: _Plot, points: np.ndarray, color, radius: float) -> None:
    """Points (N, 2) in data coordinates as discs of `color` with a thin white rim (the finite ones)."""
    p = plot.to_px(points[np.isfinite(points).all(1)])
    r = radius * _SS
    _stamp(pixels, pad, p, r + 0.75 * _SS, (255, 255, 255))  # the rim keeps dense clouds of points apart
    _stamp(pixels, pad, p, r, tuple(color))


def _unpadded(pixels: np.ndarray, pad: int) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pixels[pad:-pad, pad:-pad]), "RGB")


class PointsBackdrop:
    """points_image for one fixed set of real points and bounds, drawn many times (a live run's picture at each
    step): the white canvas, the grid and the real points are drawn once; draw(fake) stamps only the generated
    points on a copy. The same pixels as lab_image with only real and fake points."""

    def __init__(self, real, bounds, size: int = 512, real_color=REAL_COLOR, fake_color=FAKE_COLOR,
                 radius: float = 2.5, legend: bool = True):
        self.plot = _Plot(bounds, size)
        real_p = _points(real, "real")
        self.has_real = real_p is not None
        self.real_color, self.fake_color, self.radius, self.legend = real_color, fake_color, radius, legend
        canvas = Image.new("RGB", (self.plot.px, self.plot.px), (255, 255, 255))
        _draw_grid(ImageDraw.Draw(canvas, "RGBA"), self.plot, on_heat=False)
        self.pixels, self.pad = _padded(canvas, radius)
        if real_p is not None and len(real_p):
            _stamp_layer(self.pixels, self.pad, self.plot, real_p, real_color, radius)

    def draw(self, fake) -> Image.Image:
        """The picture with these generated points (N, 2) over the backdrop."""
        fake_p = _points(fake, "fake")
        pixels = self.pixels.copy()
        if fake_p is not None and len(fake_p):
            _stamp_layer(pixels, self.pad, self.plot, fake_p, self.fake_color, self.radius)
        img = _unpadded(pixels, self.pad).reduce(_SS)
        if self.legend:
            _draw_point_legend(img, self.real_color, self.fake_color, self.has_real, fake_p is not None)
        return img


def _draw_manifold(draw: ImageDraw.ImageDraw, plot: _Plot, manifold) -> None:
    m = _numpy(manifold)
    if m.ndim != 3 or m.shape[2] != 2:
        raise ValueError(f"manifold must have shape (R, C, 2), got {tuple(m.shape)}")
    px = plot.to_px(m)
    finite = np.isfinite(m).all(2)
    color = (60, 60, 60, 110)
    for lines, ok in ((px, finite), (px.transpose(1, 0, 2), finite.T)):  # rows, then columns
        for line, line_ok in zip(lines, ok):
            # draw each run of finite points as one polyline
            start = None
            for i in range(len(line) + 1):
                if i < len(line) and line_ok[i]:
                    start = i if start is None else start
                    continue
                if start is not None and i - start >= 2:
                    draw.line([tuple(q) for q in line[start:i].tolist()], fill=color, width=_SS, joint="curve")
                start = None


def _draw_arrows(draw: ImageDraw.ImageDraw, plot: _Plot, fake: np.ndarray, grads, length: float) -> None:
    g = _numpy(grads)
    if g.shape != fake.shape:
        raise ValueError(f"grads must match fake points: {tuple(fake.shape)}, got {tuple(g.shape)}")
    ok = np.isfinite(g).all(1) & np.isfinite(fake).all(1)
    g, p = g[ok], plot.to_px(fake[ok])
    if len(g) == 0:
        return
    g = g * np.array([1.0, -1.0])  # picture y points down
    norm = np.linalg.norm(g, axis=1)
    longest = norm.max()
    if not longest > 0:
        return
    arrow = g * (length * _SS / longest)  # the longest arrow is `length` pixels
    arrow_len = norm * (length * _SS / longest)
    keep = arrow_len >= 1.5 * _SS
    p, arrow, arrow_len = p[keep], arrow[keep], arrow_len[keep]
    tips = p + arrow
    unit = arrow / arrow_len[:, None]
    head = np.minimum(4.0 * _SS, 0.45 * arrow_len)[:, None]
    back = tips - unit * head
    normal = np.stack([-unit[:, 1], unit[:, 0]], 1) * head * 0.55
    left, right = back + normal, back - normal
    color = (20, 20, 20, 190)
    # one polyline per arrow: tail -> tip -> one barb -> tip -> other barb
    path = np.stack([p, tips, left, tips, right], 1).tolist()
    for arrow_path in path:
        draw.line([tuple(q) for q in arrow_path], fill=color, width=1)  # half a pixel once reduced: many overlap


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _draw_point_legend(img: Image.Image, real_color, fake_color, show_real: bool, show_fake: bool) -> None:
    entries = [(c, t) for c, t, show in ((real_color, "real", show_real), (fake_color, "generated", show_fake)) if show]
    if not entries:
        return
    size = img.size[0]
    small = font(max(10, round(size * 0.03)))
    draw = ImageDraw.Draw(img, "RGBA")
    line_h = _text_size(draw, "Hg", small)[1] + 6
    width = max(_text_size(draw, t, small)[0] for _, t in entries)
    dot = line_h * 0.28
    x0, y0 = 8, 8
    box = (x0, y0, x0 + 12 + 2 * dot + 6 + width + 8, y0 + 6 + line_h * len(entries) + 2)
    draw.rounded_rectangle(box, radius=5, fill=(255, 255, 255, 215), outline=(0, 0, 0, 50))
    for i, (color, text) in enumerate(entries):
        cy = y0 + 4 + line_h * i + line_h / 2
        cx = x0 + 10 + dot
        draw.ellipse((cx - dot, cy - dot, cx + dot, cy + dot), fill=tuple(color), outline=(255, 255, 255))
        draw.text((cx + dot + 6, cy), text, fill=(30, 30, 30), font=small, anchor="lm")


def _draw_heat_legend(img: Image.Image, lo: float, hi: float, lut: np.ndarray) -> None:
    # a colour bar in the bottom-right corner: "D(x)", then fake 0 ... 1 real
    size = img.size[0]
    tiny = font(max(9, round(size * 0.026)))
    draw = ImageDraw.Draw(img, "RGBA")
    if (lo, hi) == (0.0, 1.0):
        left_text, right_text = "0 fake", "real 1"
    else:
        left_text, right_text = f"{lo:.3g} fake", f"real {hi:.3g}"
    title = "D(x)"
    bar_w, bar_h = max(60, round(size * 0.22)), max(6, round(size * 0.022))
    text_h = _text_size(draw, "Hg", tiny)[1]
    label_w = _text_size(draw, left_text, tiny)[0] + _text_size(draw, right_text, tiny)[0] + 12
    inner_w = max(bar_w, label_w)
    box_w, box_h = inner_w + 16, text_h * 2 + bar_h + 22
    x1, y1 = size - 8, size - 8
    x0, y0 = x1 - box_w, y1 - box_h
    draw.rounded_rectangle((x0, y0, x1, y1), radius=5, fill=(255, 255, 255, 215), outline=(0, 0, 0, 50))
    draw.text((x0 + box_w / 2, y0 + 4), title, fill=(30, 30, 30), font=tiny, anchor="mt")
    bx0, by0 = round(x0 + 8 + (inner_w - bar_w) / 2), round(y0 + 8 + text_h)
    # the bar itself, at full colour strength so it matches the map
    ramp = lut[np.linspace(0, 255, bar_w).round().astype(np.int64)]
    img.paste(Image.fromarray(np.repeat(ramp[None], bar_h, 0), "RGB"), (bx0, by0))
    draw.rectangle((bx0 - 1, by0 - 1, bx0 + bar_w, by0 + bar_h), outline=(0, 0, 0, 90))
    ty = by0 + bar_h + 4
    draw.text((x0 + 8, ty), left_text, fill=FAKE_COLOR, font=tiny, anchor="lt")
    draw.text((x1 - 8, ty), right_text, fill=REAL_COLOR, font=tiny, anchor="rt")


def lab_image(real, fake, bounds, heat=None, grads=None, manifold=None, size: int = 512,
              real_color=REAL_COLOR, fake_color=FAKE_COLOR, radius: float = 2.5,
              heat_range: tuple[float, float] | None = (0.0, 1.0), arrow_length: float | None = None,
              real_on_top: bool = False, legend: bool = True) -> Image.Image:
    """A GAN Lab-style picture of a 2D GAN: D's opinion, the data, G's samples, G's gradients.

    Layers, bottom to top:
      heat      (H, W) values of D on a grid, e.g. D(x) in [0, 1] (``heat_range``; None =
                the map's own min..max, for raw WGAN/LSGAN scores). heat[i, j] is the value
                at x = xs[j], y = ys[i] with xs, ys increasing and spread evenly over the
                cells of ``bounds``, so row 0 is the *bottom* of the picture (it is flipped
                when drawn); ``grid_points(bounds, n)`` makes matching query points. Colours
                go from purple (0, "fake") through white to green (1, "real"), lightened.
      manifold  (R, C, 2): G applied to a regular R x C grid of noise values; its rows and
                columns are drawn as thin grey polylines (how G folds the noise plane).
      real      (N, 2) data points, green; fake (M, 2) generated points, purple, drawn over
                the real ones (GAN Lab's order: where G is right, purple and green mix;
                ``real_on_top=True`` swaps them).
      grads     (M, 2): the direction each fake point is pushed, -dL_G/dx at that point,
                drawn as arrows from the point, scaled so the longest is ``arrow_length``
                pixels (default 7% of size); arrows under 1.5 px are left out. Drawn as
                translucent hairlines, since hundreds overlap near the modes.
    Any layer may be None. ``bounds`` = (xmin, xmax, ymin, ymax), square for true shapes
    (see ``default_bounds``). Returns an RGB picture of size x size pixels.
    """
    plot = _Plot(bounds, size)
    real_p, fake_p = _points(real, "real"), _points(fake, "fake")
    lut = _heat_lut(1.0)
    lo = hi = None
    if heat is not None:
        h = _numpy(heat, np.float32)
        if h.ndim != 2:
            raise ValueError(f"heat must have shape (H, W), got {tuple(h.shape)}")
        finite = h[np.isfinite(h)]
        if heat_range is None:
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        else:
            lo, hi = float(heat_range[0]), float(heat_range[1])
        scale = 1.0 / (hi - lo) if hi > lo else 0.0
        values = np.nan_to_num(h[::-1], nan=(lo + hi) / 2)  # row 0 = ymin goes to the bottom
        index = np.clip((values - lo) * (scale * 255) + 0.5, 0, 255).astype(np.uint8)
        small = Image.fromarray(np.ascontiguousarray(_heat_lut(HEAT_STRENGTH)[index]), "RGB")
        # smooth to the final size, then double without filtering (reduce() undoes it exactly)
        canvas = small.resize((plot.size, plot.size), Image.Resampling.BILINEAR)
        canvas = canvas.resize((plot.px, plot.px), Image.Resampling.NEAREST)
    else:
        canvas = Image.new("RGB", (plot.px, plot.px), (255, 255, 255))

    draw = ImageDraw.Draw(canvas, "RGBA")
    _draw_grid(draw, plot, on_heat=heat is not None)
    if manifold is not None:
        _draw_manifold(draw, plot, manifold)

    layers = [(real_p, real_color), (fake_p, fake_color)]
    canvas = _draw_points(canvas, plot, layers[::-1] if real_on_top else layers, radius)

    if grads is not None:
        if fake_p is None:
            raise ValueError("grads need the fake points they start from")
        length = arrow_length if arrow_length is not None else 0.07 * size
        _draw_arrows(ImageDraw.Draw(canvas, "RGBA"), plot, fake_p, grads, length)

    img = canvas.reduce(_SS)
    if legend:
        _draw_point_legend(img, real_color, fake_color, real_p is not None, fake_p is not None)
        if heat is not None:
            _draw_heat_legend(img, lo, hi, lut)
    return img


def points_image(real, fake, bounds, size: int = 512, real_color=REAL_COLOR, fake_color=FAKE_COLOR,
                 radius: float = 2.5, legend: bool = True) -> Image.Image:
    """A clean scatter of real (green) and generated (purple) 2D points on white, with a legend.

    real (N, 2), fake (M, 2) (either may be None) in data coordinates; bounds = (xmin, xmax,
    ymin, ymax), square for true shapes (see ``default_bounds``). Returns size x size RGB.
    """
    return PointsBackdrop(real, bounds, size=size, real_color=real_color, fake_color=fake_color, radius=radius,
                          legend=legend).draw(fake)



# Ten distinct colours for classes (matplotlib's tab10), cycled beyond ten.
CLASS_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def class_scatter(points, labels=None, bounds=(-4.0, 4.0, -4.0, 4.0), class_names=(), size: int = 512,
                  radius: float = 2.0, square: tuple[float, float] | None = None,
                  axes: tuple[str, str] | None = None) -> Image.Image:
    """Points coloured by class, e.g. a VAE's encoded data in a 2D latent space (Kingma & Welling, fig. 4).

    points (N, 2); labels (N,) ints or None (one colour); bounds (xmin, xmax, ymin, ymax), fixed so
    the picture does not jump as training moves the points; square (lo, hi): a dashed outline of
    [lo, hi]^2 (the region a decoded manifold covers), its corner value written beside it; axes: the
    names of x and y, written at the ends of the axes through 0. With class_names, a legend strip on the
    right: the picture is then wider than `size`.
    """
    plot = _Plot(bounds, size)
    p = _points(points, "points")
    canvas = Image.new("RGB", (plot.px, plot.px), (255, 255, 255))
    draw = ImageDraw.Draw(canvas, "RGBA")
    _draw_grid(draw, plot, on_heat=False)
    if square is not None:
        (u0, v0), (u1, v1) = plot.to_px(np.array([[square[0], square[1]], [square[1], square[0]]]))
        for a, b in (((u0, v0), (u1, v0)), ((u1, v0), (u1, v1)), ((u1, v1), (u0, v1)), ((u0, v1), (u0, v0))):
            n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) // (8 * _SS)))
            for i in range(0, n, 2):  # dashes
                t0, t1 = i / n, min(1.0, (i + 1) / n)
                draw.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                           (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], fill=(0, 0, 0, 110), width=_SS)
    if labels is None:
        layers = [(p, FAKE_COLOR)]
    else:
        y = _numpy(labels, np.int64).reshape(-1)
        if len(y) != len(p):
            raise ValueError(f"labels must have one entry per point: {len(p)}, got {len(y)}")
        layers = [(p[y == k], CLASS_COLORS[k % len(CLASS_COLORS)]) for k in np.unique(y)]
    img = _draw_points(canvas, plot, layers, radius).reduce(_SS)
    _label_axes(img, plot, axes, square)
    if labels is None or not class_names:
        return img
    # The legend beside the plot, never over the points: one line per class, a dot in its colour.
    text_font = font(max(11, round(size * 0.032)))
    measure = ImageDraw.Draw(img)
    line_h = _text_size(measure, "Hg", text_font)[1] + 8
    strip = 34 + max(_text_size(measure, str(n), text_font)[0] for n in class_names)
    out = Image.new("RGB", (size + strip, size), (255, 255, 255))
    out.paste(img, (0, 0))
    draw = ImageDraw.Draw(out)
    draw.line([(size, 0), (size, size)], fill=(200, 200, 200), width=1)
    top = max(8, (size - line_h * len(class_names)) // 2)
    for k, name in enumerate(class_names):
        cy = top + line_h * k + line_h / 2
        dot = line_h * 0.28
        draw.ellipse((size + 10, cy - dot, size + 10 + 2 * dot, cy + dot), fill=CLASS_COLORS[k % len(CLASS_COLORS)])
        draw.text((size + 16 + 2 * dot, cy), str(name), fill=(30, 30, 30), font=text_font, anchor="lm")
    return out



def _label_axes(img: Image.Image, plot: _Plot, axes: tuple[str, str] | None, square) -> None:
    """Axis names at the positive ends of x = 0 and y = 0, and the square's corner value (class_scatter)."""
    draw = ImageDraw.Draw(img)
    small = font(max(11, round(img.size[0] * 0.03)))
    ink = dict(fill=(60, 60, 60), font=small, stroke_width=2, stroke_fill=(255, 255, 255))
    origin = plot.to_px(np.array([0.0, 0.0])) / _SS
    if axes is not None and plot.xmin < 0 < plot.xmax and plot.ymin < 0 < plot.ymax:
        draw.text((img.size[0] - 6, origin[1] - 4), axes[0], anchor="rb", **ink)
        draw.text((origin[0] + 6, 6), axes[1], anchor="lt", **ink)
    if square is not None:
        corner = plot.to_px(np.array([square[1], square[1]])) / _SS
        draw.text((corner[0] + 4, corner[1] - 4), f"{square[1]:g}", anchor="lb", **ink)


# ----------------------------------------------------------------------------------- animation
def gif_bytes(frames, duration_ms: int | list[int] = 80, loop: int = 0) -> bytes:
    """An animated GIF of PIL pictures (or (H, W, 3) uint8 arrays), as bytes.

    Every frame is converted to RGB, resized to the first frame's size if needed, and
    quantised to its own 256-colour palette by median cut without dithering (flat plots
    stay clean; the faster octree method bands the heat map), about 30 ms per 512 px frame.
    ``loop=0`` repeats forever. PIL merges identical consecutive frames into one longer one.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("gif_bytes needs at least one frame")
    pictures = []
    for f in frames:
        im = f if isinstance(f, Image.Image) else Image.fromarray(np.asarray(f))
        im = im.convert("RGB")
        if pictures and im.size != pictures[0].size:
            im = im.resize(pictures[0].size, Image.Resampling.BILINEAR)
        pictures.append(im)
    paletted = [im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
                for im in pictures]
    buffer = io.BytesIO()
    paletted[0].save(buffer, format="GIF", save_all=True, append_images=paletted[1:],
                     duration=duration_ms, loop=loop)
    return buffer.getvalue()


def save_gif(frames, path, duration_ms: int | list[int] = 80, loop: int = 0) -> Path:
    """Write ``gif_bytes(frames, ...)`` to path (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gif_bytes(frames, duration_ms=duration_ms, loop=loop))
    return path


# ------------------------------------------------------------------------- nearest neighbours
def nearest_picture(generated, nearest, distances, cell: int = 64, pad: int = 6) -> Image.Image:
    """Generated images above their nearest training images, each training image's distance under it.

    generated: (G, C, H, W) in [0, 1]; nearest: (G, K, C, H, W) in [0, 1]; distances: G rows of K
    numbers. Column g is generated image g (top, framed in FAKE_COLOR) and its K nearest training
    images below it, closest first. Images are enlarged by nearest neighbour to about ``cell`` px.
    """
    gen = torch.as_tensor(generated).detach().to("cpu", torch.float32)
    near = torch.as_tensor(nearest).detach().to("cpu", torch.float32)
    if gen.ndim != 4 or near.ndim != 5 or near.shape[0] != gen.shape[0] or near.shape[2:] != gen.shape[1:]:
        raise ValueError(f"need generated (G, C, H, W) and nearest (G, K, C, H, W), got {tuple(gen.shape)} "
                         f"and {tuple(near.shape)}")
    n_gen, k = near.shape[:2]
    upscale = max(1, round(cell / gen.shape[-1]))
    side = gen.shape[-1] * upscale
    label_font, small = font(13), font(12)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    row_labels = ["generated"] + [f"nearest {i + 1}" if k > 1 else "nearest" for i in range(k)]
    left = max(_text_size(probe, t, label_font)[0] for t in row_labels) + 2 * pad
    text_h = _text_size(probe, "0.000", small)[1] + 6
    col_w = side + 2 * pad
    row_h = side + text_h + pad
    img = Image.new("RGB", (left + n_gen * col_w, pad + (k + 1) * row_h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for row, text in enumerate(row_labels):
        draw.text((pad, pad + row * row_h + side / 2), text, fill=(60, 60, 60), font=label_font, anchor="lm")
    for g in range(n_gen):
        x = left + g * col_w + pad
        img.paste(tensor_to_image(gen[g], upscale), (x, pad))
        draw.rectangle((x - 2, pad - 2, x + side + 1, pad + side + 1), outline=FAKE_COLOR, width=2)
        draw.text((x + side / 2, pad + side + 3), f"#{g}", fill=(60, 60, 60), font=small, anchor="mt")
        for i in range(k):
            y = pad + (i + 1) * row_h
            img.paste(tensor_to_image(near[g, i], upscale), (x, y))
            draw.text((x + side / 2, y + side + 3), f"{float(distances[g][i]):.3f}", fill=(60, 60, 60),
                      font=small, anchor="mt")
    return img
