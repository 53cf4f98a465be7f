"""Text from users' files (class names, folder paths) as a matplotlib figure draws it:
character for character, or, where it cannot, in escapes that say what stood there."""

from __future__ import annotations

import functools

# Python hands over a byte of a name that is not UTF-8 as one of these code points.
ESCAPED_BYTES = range(0xDC80, 0xDD00)
# matplotlib's generic font families, each a list of fonts in its rcParams.
GENERIC_FAMILIES = ("serif", "sans-serif", "cursive", "fantasy", "monospace")


def drawable(text: str) -> str:
    """``text`` as a figure's title or label shows it literally: ``$`` escaped (matplotlib
    reads what stands between two as mathtext: a class folder named ``$5-$10`` was drawn
    as an italic 5- and ``a$^$b`` failed to draw); a stray byte of a name that is not
    UTF-8 written ``\\xe9`` (matplotlib refused the figure); a character the figure's
    fonts lack written ``\\u4e8c`` (drawn as an empty box, with a warning for each)."""
    glyphs = _glyphs()
    return "".join(_drawn(character, glyphs) for character in text)


def _drawn(character: str, glyphs: frozenset[int]) -> str:
    code = ord(character)
    if code in ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if character == "$":
        return r"\$"
    if code in glyphs or character == "\n":
        return character
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@functools.cache
def _glyphs() -> frozenset[int]:
    """The code points of the fonts matplotlib draws text in: its default family's fonts
    that are installed, each of which it falls back on for a character the first lacks."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    default = FontProperties()
    fonts = set()
    for family in default.get_family():
        for name in rcParams[f"font.{family}"] if family in GENERIC_FAMILIES else [family]:
            try:
                fonts.add(findfont(FontProperties(family=name), fallback_to_default=False))
            except ValueError:  # not installed
                continue
    fonts = fonts or {findfont(default)}
    return frozenset(code for font in fonts for code in FT2Font(font).get_charmap())
