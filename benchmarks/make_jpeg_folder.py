"""Write N JPEGs of 178 x 218 (CelebA's aligned size) for load benchmarks: deterministic, varied, about CelebA's file size.

Image i depends on i alone (numpy's generator seeded with i): a lit background gradient, a face-like
ellipse with eyes and a mouth at a jittered place, a few random shapes and mild sensor noise, saved
at JPEG quality 90 (about 8-12 KB each; CelebA's average is 7 KB). Names as CelebA's: 000001.jpg, ...

    python benchmarks/make_jpeg_folder.py /tmp/celeba_like/img_align_celeba --n 20000
    python benchmarks/make_jpeg_folder.py /tmp/celeba_like/img_align_celeba --n 200000 --workers 2

Keep the output out of the git tree (2 GB for 200,000 images).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 178, 218
QUALITY = 90
CHUNK = 500  # images per task


# Shared by every image (computed once per process): pixel coordinates from the centre, and a bank of
# sensor noise that each image takes a window of (drawing fresh normals for every pixel costs 3 ms).
_YY, _XX = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32) - np.array([HEIGHT / 2, WIDTH / 2], np.float32)[:, None, None]
_NOISE = np.random.default_rng(0).normal(0, 4.0, (2 * HEIGHT, 2 * WIDTH, 3)).round().astype(np.int16)


def make_image(i: int) -> Image.Image:
    rng = np.random.default_rng(i)
    # background: two colours blended along a random direction
    c0, c1 = rng.uniform(20, 235, 3).astype(np.float32), rng.uniform(20, 235, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.clip((_XX * np.float32(np.cos(angle)) + _YY * np.float32(np.sin(angle))) / 200 + 0.5, 0, 1)
    im = Image.fromarray((c0 + t[..., None] * (c1 - c0)).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.integers(2, 6)):  # shapes in the background
        x0, y0 = rng.integers(-40, WIDTH), rng.integers(-40, HEIGHT)
        box = (x0, y0, x0 + rng.integers(20, 90), y0 + rng.integers(20, 90))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    # a face: skin ellipse, two eyes, a mouth, around the centre as in the aligned crops
    cx, cy = WIDTH / 2 + rng.normal(0, 6), HEIGHT / 2 + rng.normal(0, 6)
    fw, fh = rng.uniform(45, 60), rng.uniform(60, 78)
    skin = tuple(int(c) for c in rng.uniform([120, 80, 60], [250, 210, 180]))
    draw.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=skin)
    eye = tuple(int(c) for c in rng.integers(0, 90, 3))
    for side in (-1, 1):
        ex, ey = cx + side * fw * 0.42, cy - fh * 0.15
        draw.ellipse((ex - 8, ey - 4, ex + 8, ey + 4), fill=(240, 240, 240))
        draw.ellipse((ex - 3, ey - 3, ex + 3, ey + 3), fill=eye)
    mouth_w = rng.uniform(14, 26)
    draw.chord((cx - mouth_w, cy + fh * 0.35, cx + mouth_w, cy + fh * 0.6), 0, 180,
               fill=tuple(int(c) for c in rng.uniform([120, 30, 40], [220, 90, 100])))
    oy, ox = rng.integers(0, HEIGHT), rng.integers(0, WIDTH)
    noisy = np.asarray(im, dtype=np.int16) + _NOISE[oy:oy + HEIGHT, ox:ox + WIDTH]
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def write_range(args: tuple[str, int, int]) -> int:
    """Write images start .. stop-1 (files 1-based as CelebA's); returns the bytes written."""
    out, start, stop = args
    total = 0
    for i in range(start, stop):
        path = Path(out) / f"{i + 1:06d}.jpg"
        make_image(i).save(path, format="JPEG", quality=QUALITY)
        total += path.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write (created; existing files of the same names are overwritten)")
    parser.add_argument("--n", type=int, default=20_000, help="images to write (default 20000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all CPUs)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(str(out), a, min(a + CHUNK, args.n)) for a in range(0, args.n, CHUNK)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        total = sum(pool.map(write_range, tasks))
    seconds = time.perf_counter() - start
    print(f"wrote {args.n:,} JPEGs of {WIDTH} x {HEIGHT} ({total / 2**20:,.1f} MiB, {total / max(args.n, 1) / 1024:.1f} KiB "
          f"each) to {out} in {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
