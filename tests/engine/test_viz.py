"""Tests for gan_demo.render.viz: picture sizes, that things are drawn where they should be, GIFs, speed."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gan_demo.render import viz

BOUNDS = (-2.0, 2.0, -2.0, 2.0)


def pixel_at(img: Image.Image, x: float, y: float, bounds=BOUNDS) -> np.ndarray:
    """The RGB value at data point (x, y)."""
    xmin, xmax, ymin, ymax = bounds
    u = int((x - xmin) / (xmax - xmin) * img.width)
    v = int((ymax - y) / (ymax - ymin) * img.height)
    return np.asarray(img)[v, u].astype(int)


def test_to_unit():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0])
    assert torch.equal(viz.to_unit(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    assert np.allclose(viz.to_unit(np.array([-1.0, 1.0])), [0.0, 1.0])


@pytest.mark.parametrize("b,c,nrow,pad,upscale", [(10, 1, 4, 2, 1), (16, 3, 8, 0, 3), (3, 1, 8, 1, 2), (1, 3, 8, 2, 1)])
def test_image_grid_size(b, c, nrow, pad, upscale):
    h, w = 8, 6
    img = viz.image_grid(torch.rand(b, c, h, w), nrow=nrow, pad=pad, upscale=upscale)
    cols, rows = min(nrow, b), -(-b // min(nrow, b))
    assert img.mode == "RGB"
    assert img.size == (cols * (w * upscale + pad) + pad, rows * (h * upscale + pad) + pad)


def test_image_grid_content_and_tensor_to_image():
    x = torch.zeros(2, 1, 4, 4)
    x[1] = 1.0
    img = np.asarray(viz.image_grid(x, nrow=2, pad=1, upscale=2, pad_value=0.5))
    assert (img[1:9, 1:9] == 0).all() and (img[1:9, 10:18] == 255).all()
    assert (img[0] == 128).all()  # padding
    single = viz.tensor_to_image(torch.rand(3, 5, 7), upscale=3)
    assert single.size == (21, 15) and single.mode == "RGB"
    with pytest.raises(ValueError):
        viz.image_grid(torch.rand(2, 2, 4, 4))


def test_default_bounds_and_grid_points():
    xmin, xmax, ymin, ymax = viz.default_bounds(np.array([[0.0, 0.0], [2.0, 1.0]]), margin=0.25)
    assert (xmax - xmin) == pytest.approx(ymax - ymin) == pytest.approx(3.0)
    assert (xmin + xmax) / 2 == pytest.approx(1.0) and (ymin + ymax) / 2 == pytest.approx(0.5)
    g = viz.grid_points((0, 4, 0, 2), n=4)
    assert g.shape == (16, 2)
    assert np.allclose(g[:4, 0], [0.5, 1.5, 2.5, 3.5]) and np.allclose(g[:4, 1], 0.25)  # row 0 = lowest y
    assert np.allclose(g[4:8, 1], 0.75)


def test_points_image_draws_both_sets():
    real = np.array([[1.0, 1.0]] * 5)
    fake = np.array([[-1.0, -1.0]] * 5)
    img = viz.points_image(real, fake, BOUNDS, size=256)
    assert img.size == (256, 256) and img.mode == "RGB"
    r, g, b = pixel_at(img, 1.0, 1.0)
    assert g > r + 40 and g > b + 40  # green
    r, g, b = pixel_at(img, -1.0, -1.0)
    assert r > g + 40 and b > g + 40  # purple
    assert (pixel_at(img, 1.3, -0.7) > 240).all()  # white background, off the grid lines


@pytest.mark.parametrize("real, fake", [
    ("cloud", "cloud"),  # a live 2D run's picture
    (None, "cloud"),  # generated points alone
    ("few", "odd"),  # NaN and far-away points are left out in both
    ("few", "empty"),
])
def test_points_backdrop_draws_the_same_pixels_as_lab_image(real, fake):
    rng = np.random.default_rng(0)
    sets = {"cloud": rng.normal(size=(1000, 2)), "few": rng.normal(size=(10, 2)), None: None,
            "odd": np.array([[np.nan, 1.0], [100.0, 3.0], [0.0, 0.0]]), "empty": np.zeros((0, 2))}
    real, fake = sets[real], torch.as_tensor(sets[fake])
    bounds = viz.default_bounds(real if real is not None else fake)
    backdrop = viz.PointsBackdrop(real, bounds, size=128)
    for shift in (0.0, 0.5):  # drawn twice: the first draw leaves the backdrop as it was
        expected = np.asarray(viz.lab_image(real, fake + shift, bounds, size=128))
        np.testing.assert_array_equal(np.asarray(backdrop.draw(fake + shift)), expected)
        np.testing.assert_array_equal(np.asarray(viz.points_image(real, fake + shift, bounds, size=128)), expected)


def test_lab_image_layers_and_orientation():
    n = 32
    heat = np.zeros((n, n))
    heat[:, n // 2:] = 1.0  # right half "real"
    real = np.array([[1.5, 1.5]])
    fake = np.array([[-1.0, 1.0], [1.0, -1.0]])
    grads = np.array([[1.0, 0.0], [0.0, 0.5]])
    z = np.stack(np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)), -1)
    img = viz.lab_image(real, fake, BOUNDS, heat=heat, grads=grads, manifold=z, size=320)
    assert img.size == (320, 320) and img.mode == "RGB"
    left, right = pixel_at(img, -1.5, 0.3), pixel_at(img, 1.5, 0.3)
    assert left[0] > left[1] and left[2] > left[1]  # purple-ish: D says fake
    assert right[1] > right[0] and right[1] > right[2]  # green-ish: D says real
    r, g, b = pixel_at(img, 1.5, 1.5)
    assert g > r + 40 and g > b + 40  # the real point, saturated green
    # an arrow points right from the fake point at (-1, 1): dark pixels to its right
    arrow = pixel_at(img, -0.8, 1.0)
    assert arrow.sum() < 300

    # row 0 of heat is the bottom of the picture
    heat = np.zeros((n, n))
    heat[: n // 2] = 1.0
    img = viz.lab_image(None, None, BOUNDS, heat=heat, size=200, legend=False)
    bottom, top = pixel_at(img, 0.3, -1.5), pixel_at(img, 0.3, 1.5)
    assert bottom[1] > bottom[0] and top[0] > top[1]


def test_lab_image_tolerates_torch_nan_and_raw_scores():
    real = torch.randn(100, 2)
    fake = torch.randn(50, 2)
    fake[0] = float("nan")
    grads = torch.zeros(50, 2)  # no arrows to draw
    heat = torch.randn(16, 16) * 5  # raw WGAN critic values
    img = viz.lab_image(real, fake, BOUNDS, heat=heat, grads=grads, heat_range=None, size=128)
    assert img.size == (128, 128)
    with pytest.raises(ValueError):
        viz.lab_image(real, fake, BOUNDS, grads=torch.zeros(3, 2))


def test_gif_round_trip(tmp_path):
    frames = [Image.new("RGB", (40, 30), (i * 60, 100, 200 - i * 40)) for i in range(4)]
    frames.append(Image.new("L", (20, 20), 7))  # another mode and size: converted, resized
    data = viz.gif_bytes(frames, duration_ms=50)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (40, 30)
    path = viz.save_gif(frames[:2], tmp_path / "sub" / "a.gif")
    assert Image.open(path).n_frames == 2


def test_lab_image_draws_every_layer_at_512_px():
    """The lab's picture with all its layers (its speed is a benchmark's business, not a test's)."""
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, (2000, 2))
    fake = rng.normal(0, 1, (500, 2))
    grads = rng.normal(0, 1, (500, 2))
    heat = rng.random((64, 64))
    manifold = np.stack(np.meshgrid(np.linspace(-2, 2, 20), np.linspace(-2, 2, 20)), -1)
    bounds = viz.default_bounds(real)
    plain = np.asarray(viz.lab_image(real, fake, bounds, size=512))
    img = viz.lab_image(real, fake, bounds, heat=heat, grads=grads, manifold=manifold, size=512)
    assert img.size == (512, 512)
    assert (np.asarray(img) != plain).any(axis=-1).mean() > 0.05  # the heat map, arrows and manifold are drawn


def test_class_scatter_puts_each_point_where_it_is_in_its_class_colour():
    points = torch.tensor([[0.0, 0.0], [2.0, 2.0], [-3.0, -1.0]])
    labels = torch.tensor([3, 0, 7])
    img = viz.class_scatter(points, labels, (-4, 4, -4, 4), class_names=[str(k) for k in range(10)], size=400,
                            square=(-2.5, 2.5), axes=("z1", "z2"))
    assert img.height == 400 and img.width > 400  # the legend strip beside the plot
    px = np.asarray(img)
    for (x, y), k in zip(points.tolist(), labels.tolist()):
        u, v = int((x + 4) / 8 * 400), int((4 - y) / 8 * 400)  # y points up
        assert tuple(px[v, u]) == viz.CLASS_COLORS[k]
    assert all((px[:, 400:].reshape(-1, 3) == viz.CLASS_COLORS[k]).all(1).any() for k in range(10))
    plain = viz.class_scatter(points, None, (-4, 4, -4, 4), size=200)
    assert plain.size == (200, 200) and tuple(np.asarray(plain)[100, 100]) == viz.FAKE_COLOR
    with pytest.raises(ValueError, match="one entry per point"):
        viz.class_scatter(points, labels[:2], (-4, 4, -4, 4))
