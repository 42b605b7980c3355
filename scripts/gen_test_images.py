#!/usr/bin/env python3
"""Writes the small test images under tests/data/images/ (committed).

Run with the project venv (scripts/venv.sh prints its python); Pillow writes
the JPEGs and 8-bit PNGs, a few lines below write the 16-bit RGB PNG and the
PNG whose header claims more pixels than the server accepts.
"""
import pathlib
import struct
import zlib

import numpy as np
from PIL import Image

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "images"


def picture(height, width):
    """A smooth colour picture with some edges, uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    b = (((x // 4 + y // 4) % 2) * 160 + 40).astype(np.uint8)
    return np.dstack([r, g, b])


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def raw_png(width, height, bit_depth, color_type, rows):
    """A PNG from already-packed rows (each without its filter byte)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = b"".join(b"\x00" + row for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(data))
        + png_chunk(b"IEND", b"")
    )


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rgb = picture(30, 40)
    Image.fromarray(rgb).save(OUT / "photo.jpg", quality=90)
    Image.fromarray(rgb).save(OUT / "photo_444.jpg", quality=95, subsampling=0)
    Image.fromarray(rgb).save(OUT / "progressive.jpg", quality=90, progressive=True)
    Image.fromarray(picture(24, 32)).save(OUT / "small.jpg", quality=90)
    Image.fromarray(rgb[:, :, 1]).save(OUT / "grey.jpg", quality=95)
    Image.fromarray(rgb).save(OUT / "rgb.png")
    Image.fromarray(rgb[:, :, 0]).save(OUT / "grey.png")
    alpha = np.full(rgb.shape[:2] + (1,), 128, np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2)).save(OUT / "rgba.png")
    # 16-bit RGB: each value v16 = v8 * 256 + 7, so the high byte is v8.
    wide = (rgb.astype(np.uint16) * 256 + 7).astype(">u2")
    rows = [wide[y].tobytes() for y in range(wide.shape[0])]
    (OUT / "rgb16.png").write_bytes(raw_png(40, 30, 16, 2, rows))
    # A real file cut short.
    (OUT / "corrupt.jpg").write_bytes((OUT / "photo.jpg").read_bytes()[:200])
    # 100000 x 100000 pixels in the header, one row of data.
    (OUT / "huge.png").write_bytes(raw_png(100000, 100000, 8, 0, [b"\x00" * 10]))
    print(f"images written under {OUT}")


if __name__ == "__main__":
    main()
