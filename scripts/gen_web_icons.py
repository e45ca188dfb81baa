"""Draw the web page's icons (observer/web/*.png): an eye on observer's blue, with a red dot for
"something needs you". Pure Python (shapes as signed distances, one sample a pixel, edges
smoothed over a pixel), so no image library is needed and the same code always draws the same
pixels.

    .venv/bin/python -m scripts.gen_web_icons          # write the icons
    .venv/bin/python -m scripts.gen_web_icons --check  # exit 1 if one differs from its drawing

tests/scripts/test_gen_web_icons.py fails when an icon and this drawing drift apart.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "observer" / "web"
Color = tuple[int, int, int]
BLUE: Color = (0x1C, 0x7E, 0xD6)
WHITE: Color = (0xFF, 0xFF, 0xFF)
IRIS: Color = (0x0B, 0x3D, 0x6E)
PUPIL: Color = (0x10, 0x14, 0x1A)
RED: Color = (0xC9, 0x2A, 0x2A)


@dataclass(frozen=True)
class Icon:
    name: str
    size: int
    rounded: bool  # rounded corners ("any"); a maskable icon fills its square
    scale: float  # the drawing's size in the square (a maskable one keeps to its safe zone)


ICONS = (
    Icon("favicon.png", 32, True, 1.0),
    Icon("apple-touch-icon.png", 180, False, 0.9),
    Icon("icon-192.png", 192, True, 1.0),
    Icon("icon-512.png", 512, True, 1.0),
    Icon("icon-maskable-512.png", 512, False, 0.78),
)


def _circle(cx: float, cy: float, r: float) -> Callable[[float, float], float]:
    return lambda x, y: math.hypot(x - cx, y - cy) - r


def _rounded_square(radius: float) -> Callable[[float, float], float]:
    def distance(x: float, y: float) -> float:
        qx, qy = abs(x - 0.5) - (0.5 - radius), abs(y - 0.5) - (0.5 - radius)
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def _layers(icon: Icon) -> list[tuple[Callable[[float, float], float], Color]]:
    """Back to front: each shape's signed distance (negative inside) and its color."""

    def at(cx: float, cy: float, r: float) -> Callable[[float, float], float]:
        s = icon.scale
        return _circle(0.5 + (cx - 0.5) * s, 0.5 + (cy - 0.5) * s, r * s)

    # The eye: where two circles overlap, 0.64 wide and 0.36 high.
    upper, lower = at(0.5, 0.5 + 0.19444, 0.37444), at(0.5, 0.5 - 0.19444, 0.37444)
    background = _rounded_square(0.22 if icon.rounded else 0.0)
    return [
        (background, BLUE),
        (lambda x, y: max(upper(x, y), lower(x, y)), WHITE),
        (at(0.5, 0.5, 0.145), IRIS),
        (at(0.5, 0.5, 0.065), PUPIL),
        (at(0.535, 0.465, 0.025), WHITE),
        (at(0.775, 0.245, 0.095), RED),
    ]


def render(icon: Icon) -> bytes:
    """The icon's pixels, RGBA, row after row."""
    layers = _layers(icon)
    size = icon.size
    out = bytearray()
    for row in range(size):
        y = (row + 0.5) / size
        for column in range(size):
            x = (column + 0.5) / size
            r = g = b = a = 0.0
            for distance, color in layers:
                # Coverage: 1 inside, 0 outside, a pixel's width of ramp across the edge.
                cover = min(1.0, max(0.0, 0.5 - distance(x, y) * size))
                if cover <= 0.0:
                    continue
                keep = 1.0 - cover
                r = color[0] * cover + r * keep
                g = color[1] * cover + g * keep
                b = color[2] * cover + b * keep
                a = cover + a * keep
            if a > 0.0:  # colors above are premultiplied; a PNG's are not
                r, g, b = r / a, g / a, b / a
            out += bytes((round(r), round(g), round(b), round(a * 255)))
    return bytes(out)


def png(size: int, rgba: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    stride = size * 4
    raw = b"".join(b"\x00" + rgba[i : i + stride] for i in range(0, len(rgba), stride))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def pixels_of(data: bytes) -> tuple[int, bytes]:
    """The size and RGBA pixels of a PNG this script wrote (one IDAT, no filters)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    at, size, idat = 8, 0, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">I", body[:4])[0]
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = size * 4 + 1
    return size, b"".join(raw[i + 1 : i + stride] for i in range(0, len(raw), stride))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the web page's icons.")
    parser.add_argument("--check", action="store_true", help="only report whether they are current")
    parser.add_argument("--into", type=Path, default=WEB, help="where the icons go")
    args = parser.parse_args(argv)
    stale = []
    for icon in ICONS:
        path = args.into / icon.name
        pixels = render(icon)
        if args.check:
            try:
                current = pixels_of(path.read_bytes())
            except (OSError, ValueError, zlib.error):
                current = (0, b"")
            if current != (icon.size, pixels):
                stale.append(icon.name)
            continue
        path.write_bytes(png(icon.size, pixels))
        print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m scripts.gen_web_icons")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
