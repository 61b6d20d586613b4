"""Draw the integration's brand icons (run with the project's .venv python).

The icon is drawn rather than kept as a hand-edited binary, so anyone can change it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BRAND = Path(__file__).parents[1] / "custom_components" / "ocpp_csms" / "brand"
BACKGROUND = (21, 101, 192, 255)  # blue
FOREGROUND = (255, 255, 255, 255)
ACCENT = (255, 202, 40, 255)  # amber bolt

# A plug body with two pins and a cable, and a bolt on the body; in a 0..1 unit square.
PLUG = [(0.30, 0.36), (0.70, 0.36), (0.70, 0.56), (0.58, 0.70), (0.42, 0.70), (0.30, 0.56)]
PINS = [((0.38, 0.18), (0.44, 0.36)), ((0.56, 0.18), (0.62, 0.36))]
CABLE = ((0.46, 0.70), (0.54, 0.86))
BOLT = [(0.53, 0.40), (0.42, 0.54), (0.50, 0.54), (0.46, 0.66), (0.58, 0.50), (0.50, 0.50)]


def draw(size: int) -> Image.Image:
    """The icon at `size` x `size` pixels."""
    scale = 4  # draw large and shrink, for smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=BACKGROUND)

    def points(shape: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * big, y * big) for x, y in shape]

    def box(corners: tuple[tuple[float, float], tuple[float, float]]) -> list[float]:
        (x0, y0), (x1, y1) = corners
        return [x0 * big, y0 * big, x1 * big, y1 * big]

    for pin in PINS:
        pen.rounded_rectangle(box(pin), radius=big // 60, fill=FOREGROUND)
    pen.rectangle(box(CABLE), fill=FOREGROUND)
    pen.polygon(points(PLUG), fill=FOREGROUND)
    pen.polygon(points(BOLT), fill=ACCENT)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    """Write icon.png (256 px) and icon@2x.png (512 px)."""
    BRAND.mkdir(parents=True, exist_ok=True)
    draw(256).save(BRAND / "icon.png", optimize=True)
    draw(512).save(BRAND / "icon@2x.png", optimize=True)


if __name__ == "__main__":
    main()
