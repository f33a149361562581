"""Synthetic licence-plate renderer.

Renders flat plates with known text for US, EU (DE, FR, IT, ES, NL, BE, UK) and Brazilian
(old grey and Mercosur) layouts, one- and two-row, with distractor text (state names,
slogans, dealer frames, stickers) that the recogniser must learn to ignore, then degrades
them like a roadside camera would (perspective, blur, low resolution, noise, glare,
shadows, night/IR greyscale, dirt, JPEG).

Only fonts from Debian packages are used (see FONT_FILES); the model cards name their
licences.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

# Debian package -> font files used for plate characters.
FONT_FILES = {
    "fonts-opendin": ["/usr/share/fonts/truetype/opendin/OSP-DIN.ttf"],
    "fonts-bebas-neue": [
        "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Bold.otf",
        "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf",
    ],
    "fonts-urw-base35": [
        "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Bold.otf",
        "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf",
        "/usr/share/fonts/opentype/urw-base35/NimbusMonoPS-Bold.otf",
        "/usr/share/fonts/opentype/urw-base35/URWGothic-Demi.otf",
        "/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Regular.otf",
    ],
    # Monoline engraving-style gothic, drawn with a thick stroke (FONT_STROKE): close to the
    # narrow "Penitentiary Gothic" serials of many US states.
    "fonts-routed-gothic": [
        "/usr/share/fonts/truetype/routed-gothic/routed-gothic-narrow.ttf",
        "/usr/share/fonts/truetype/routed-gothic/routed-gothic.ttf",
    ],
    "fonts-roboto-unhinted": [
        "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
        "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Medium.ttf",
    ],
    # Clones of the US highway sign alphabets (FHWA Series B, C, D), which many states' serials
    # follow more closely than any font above.
    "fonts-roadgeek": [
        "/usr/share/fonts/truetype/roadgeek/RG2014B.ttf",
        "/usr/share/fonts/truetype/roadgeek/RG2014C.ttf",
        "/usr/share/fonts/truetype/roadgeek/RG2014D.ttf",
    ],
    "fonts-dejavu-core": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed-Bold.ttf",
    ],
}
# Stroke width (at the 96 px render size) that turns a monoline or sign-weight font into
# plate-weight strokes.
FONT_STROKE = {
    **dict(zip(FONT_FILES["fonts-routed-gothic"], (2, 3))),
    **dict(zip(FONT_FILES["fonts-roadgeek"], (2, 2, 1))),  # Series B, C, D
}

# Fonts for small distractor text (state names, slogans, dealer frames).
DECOR_FONT_FILES = [
    "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
    "/usr/share/fonts/opentype/urw-base35/C059-BdIta.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-Bold.otf",
    "/usr/share/fonts/opentype/urw-base35/NimbusRoman-Bold.otf",
    "/usr/share/fonts/opentype/urw-base35/URWBookman-Demi.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Book.otf",
]

US_STATES = [
    "ALABAMA", "ALASKA", "ARIZONA", "ARKANSAS", "CALIFORNIA", "COLORADO", "CONNECTICUT",
    "DELAWARE", "FLORIDA", "GEORGIA", "HAWAII", "IDAHO", "ILLINOIS", "INDIANA", "IOWA",
    "KANSAS", "KENTUCKY", "LOUISIANA", "MAINE", "MARYLAND", "MASSACHUSETTS", "MICHIGAN",
    "MINNESOTA", "MISSISSIPPI", "MISSOURI", "MONTANA", "NEBRASKA", "NEVADA",
    "NEW HAMPSHIRE", "NEW JERSEY", "NEW MEXICO", "NEW YORK", "NORTH CAROLINA",
    "NORTH DAKOTA", "OHIO", "OKLAHOMA", "OREGON", "PENNSYLVANIA", "RHODE ISLAND",
    "SOUTH CAROLINA", "SOUTH DAKOTA", "TENNESSEE", "TEXAS", "UTAH", "VERMONT", "VIRGINIA",
    "WASHINGTON", "WEST VIRGINIA", "WISCONSIN", "WYOMING", "Ohio", "Texas", "Florida",
    "Virginia", "Maryland", "Arizona", "Colorado", "Pennsylvania", "New Jersey", "Michigan",
]
US_SLOGANS = [
    "LIVE FREE OR DIE", "EMPIRE STATE", "Garden State", "Sunshine State", "Land of Lincoln",
    "THE LONE STAR STATE", "GRAND CANYON STATE", "Great Lakes", "FAMOUS POTATOES",
    "Green Mountain State", "vacationland", "FIRST IN FLIGHT", "Pure Michigan",
    "Explore Minnesota", "Peach State", "Birthplace of Aviation", "Constitution State",
    "Ocean State", "Keystone State", "visitPA.com", "In God We Trust", "Wild Wonderful",
    "Centennial State", "America's Dairyland", "THE NATURAL STATE", "Treasure State",
    "Spirit of America", "Heart of Dixie", "Sportsman's Paradise", "Big Sky Country",
    "Land of Enchantment", "Discover", "Volunteer State", "Show-Me State", "Evergreen State",
    "DEALER", "Fire Dept", "Support Education", "Choose Life", "Veteran", "SAVE THE BAY",
    "www.dmv.gov", "Official", "Kansas", "Cultural Heritage", "Lakes County",
]
US_DEALERS = [
    "AUTO SALES", "HONDA OF CITY", "TOYOTA", "FORD", "CHEVROLET", "MOTORS", "AUTO GROUP",
    "CARMAX", "NISSAN", "ALUMNI", "I LOVE MY DOG", "GO TEAM", "KIA", "SUBARU",
]
BR_CITIES = [
    "SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA",
    "RS - PORTO ALEGRE", "SC - JOINVILLE", "BA - SALVADOR", "SP - CAMPINAS", "GO - GOIANIA",
    "PE - RECIFE", "SP - SANTOS", "MG - UBERLANDIA", "DF - BRASILIA", "SP - GUARULHOS",
]


# Packages whose fonts are licensed OFL-1.1; CANDOR_FONTS=ofl restricts plate characters to them.
OFL_PACKAGES = ("fonts-opendin", "fonts-bebas-neue", "fonts-routed-gothic")


def _ofl_only() -> bool:
    return os.environ.get("CANDOR_FONTS") == "ofl"


def _packages() -> tuple[str, ...]:
    return OFL_PACKAGES if _ofl_only() else tuple(FONT_FILES)


def all_fonts() -> list[str]:
    fonts = [f for p in _packages() for f in FONT_FILES[p] if os.path.exists(f)]
    if not fonts:
        raise FileNotFoundError("no plate fonts found: apt-get install " + " ".join(FONT_FILES))
    return fonts


def missing_fonts() -> list[str]:
    """Font files the renderer would use (under the CANDOR_FONTS in force) but cannot find.
    It skips them, and the same seed then renders other plates than a documented run's, so
    the tools that render refuse to run while this is not empty (`require_fonts`)."""
    paths = [f for p in _packages() for f in FONT_FILES[p]]
    if not _ofl_only():  # in OFL mode the distractor text uses the plate fonts
        paths += DECOR_FONT_FILES
    return sorted({f for f in paths if not os.path.exists(f)})


def require_fonts(tool: str) -> None:
    """Stops `tool` before it renders anything while a font is missing, naming each file and
    the Debian package to install (distractor fonts share the plate fonts' folders)."""
    missing = missing_fonts()
    if not missing:
        return
    owner = {f: p for p, files in FONT_FILES.items() for f in files}
    by_dir = {os.path.dirname(f): p for f, p in owner.items()}
    packages = sorted({owner.get(f) or by_dir.get(os.path.dirname(f), "?") for f in missing})
    raise SystemExit(
        f"{tool}: missing fonts: {' '.join(missing)}; install them with apt-get install "
        f"{' '.join(packages)} (or set CANDOR_FONTS=ofl to render with the OFL fonts only)")


_FONT_CACHE: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    key = (path, size)
    if key not in _FONT_CACHE:
        _FONT_CACHE[key] = ImageFont.truetype(path, size)
    return _FONT_CACHE[key]


def sample_pattern(rng: np.random.Generator, pattern: str) -> str:
    """L = letter, N = digit, A = letter or digit; anything else is copied literally."""
    out = []
    for c in pattern:
        if c == "L":
            out.append(LETTERS[rng.integers(26)])
        elif c == "N":
            out.append(DIGITS[rng.integers(10)])
        elif c == "A":
            out.append(ALPHABET[rng.integers(36)])
        else:
            out.append(c)
    return "".join(out)


def label_of(text: str) -> str:
    return "".join(c for c in text if c in ALPHABET)


# Common US serial layouts; '-', ' ' and '*' (a state emblem) are separators.
US_PATTERNS = [
    "LLL-NNNN", "LLL NNNN", "LLL*NNNN", "NLLL NNN", "NLLLNNN", "NLL NNNN", "NNN-LLL", "NNN LLL",
    "LLL-NNN", "LLL NNN", "LL-NNNNN", "NNNNNN", "NNNN-LL", "LL NNNN", "NLLNNN", "NNN*NNN",
    "LNN-LLL", "LLLNNNN", "NNL-LLL", "LL-NNNN", "NNNLLL", "LLNN*LLL", "NLL-NNN", "LNLNNN",
    "NNLLNN", "LLL-NNL", "NNNNNNN", "LNNNNNN", "NLNNNN", "LLLL NN",
]
EU_FORMATS = {
    "DE": ["L LL NNNN", "LL LL NNN", "LLL L NNNN", "LL L NNNN", "L L NNN", "LL LL NNNN"],
    "FR": ["LL-NNN-LL"],
    "IT": ["LL NNNLL", "LL NNN LL"],
    "ES": ["NNNN LLL"],
    "NL": ["NN-LLL-N", "LL-NNN-L", "N-LLL-NN", "LLL-NN-L", "NN-LL-LL", "LL-NN-NN"],
    "BE": ["N-LLL-NNN"],
    "UK": ["LLNN LLL"],
}
EU_CODES = {"DE": "D", "FR": "F", "IT": "I", "ES": "E", "NL": "NL", "BE": "B", "UK": "UK"}


@dataclass
class FlatPlate:
    image: np.ndarray  # HxWx3 uint8 RGB, the plate itself (frame included when drawn)
    text: str  # label: characters from ALPHABET only
    two_row: bool
    region: str


def _rand_color(rng, lo, hi):
    return tuple(int(x) for x in rng.integers(lo, hi + 1, size=3))


def _text_image(text: str, font_path: str, size: int, color, spacing: float = 0.0, serif_i: bool = False):
    """Renders text tightly cropped, returns an RGBA PIL image. `serif_i` draws each I with
    slab serifs, as California's and several other states' plate fonts do (the real valid
    crops showed such I's read as T)."""
    f = font(font_path, size)
    stroke = FONT_STROKE.get(font_path, 0)
    ink = dict(font=f, fill=color + (255,), stroke_width=stroke, stroke_fill=color + (255,))
    serif_i = serif_i and "I" in text
    if spacing <= 0 and not serif_i:
        l, t, r, b = f.getbbox(text, stroke_width=stroke)
        img = Image.new("RGBA", (r - l + 4, b - t + 4), (0, 0, 0, 0))
        ImageDraw.Draw(img).text((2 - l, 2 - t), text, **ink)
        return img
    # Per-character drawing with extra spacing.
    boxes = [f.getbbox(c, stroke_width=stroke) for c in text]
    asc = min(b[1] for b in boxes)
    desc = max(b[3] for b in boxes)
    gap = int(spacing * size)
    stem = f.getbbox("I", stroke_width=stroke)
    stem_w, stem_h = stem[2] - stem[0], stem[3] - stem[1]
    serif_w = max(int(1.8 * stem_w), int(stem_h * 0.5))
    bar_h = max(2, int(min(0.7 * stem_w, 0.12 * stem_h)))
    widths = [max(b[2] - b[0], size // 4, serif_w if serif_i and c == "I" else 0) for c, b in zip(text, boxes)]
    total = sum(widths) + gap * (len(text) - 1) + 4
    img = Image.new("RGBA", (max(total, 4), desc - asc + 4), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    x = 2
    for c, b, w in zip(text, boxes, widths):
        if serif_i and c == "I":
            # the stem centred in its cell, thin bars (at most 0.7 of the stem) at top and bottom
            d.text((x + (w - (b[2] - b[0])) / 2 - b[0], 2 - asc), c, **ink)
            left = x + (w - serif_w) / 2
            d.rectangle((left, 2 + b[1] - asc, left + serif_w, 2 + b[1] - asc + bar_h), fill=color + (255,))
            d.rectangle((left, 2 + b[3] - asc - bar_h, left + serif_w, 2 + b[3] - asc), fill=color + (255,))
        else:
            d.text((x - b[0], 2 - asc), c, **ink)
        x += w + gap
    return img


def _paste_text(canvas: Image.Image, timg: Image.Image, box, rng, emboss=False):
    """Stretches text image into box (x0, y0, x1, y1) and composites it."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    w, h = max(x1 - x0, 2), max(y1 - y0, 2)
    t = timg.resize((w, h), Image.BILINEAR)
    if emboss:
        shadow = Image.new("RGBA", t.size, (0, 0, 0, 0))
        alpha = t.split()[3].point(lambda a: a * 0.5)
        shadow.putalpha(alpha)
        off = max(1, h // 30)
        canvas.alpha_composite(shadow, (x0 + off, y0 + off))
    canvas.alpha_composite(t, (x0, y0))


def _fit_text(canvas, text, font_path, color, box, rng, emboss=False, spacing=0.0, serif_i=False):
    timg = _text_image(text, font_path, 96, color, spacing, serif_i)
    _paste_text(canvas, timg, box, rng, emboss)


def _decor(canvas, text, color, cx, cy, max_w, h, rng):
    """Small distractor text centred at (cx, cy), at most max_w wide."""
    fonts = DECOR_FONT_FILES if os.environ.get("CANDOR_FONTS") != "ofl" else all_fonts()
    fp = fonts[rng.integers(len(fonts))]
    timg = _text_image(text, fp, 64, color)
    aspect = timg.width / max(timg.height, 1)
    w = min(max_w, h * aspect * rng.uniform(0.8, 1.2))
    _paste_text(canvas, timg, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rng)


def _background(rng, w, h, base):
    """Plate background: flat, gradient or with soft coloured scenery blobs."""
    arr = np.empty((h, w, 3), np.float32)
    arr[:] = base
    kind = rng.random()
    if kind < 0.35:
        c2 = np.array(_rand_color(rng, 120, 255), np.float32)
        t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.7 else np.linspace(0, 1, w)[None, :, None]
        arr = arr * (1 - 0.6 * t) + c2 * 0.6 * t
    elif kind < 0.6:
        for _ in range(rng.integers(1, 5)):
            c = np.array(_rand_color(rng, 60, 255), np.float32)
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.1, 0.5) * w
            yy, xx = np.mgrid[0:h, 0:w]
            m = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))[..., None] * rng.uniform(0.3, 0.8)
            arr = arr * (1 - m) + c * m
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGBA")


def _border(d: ImageDraw.ImageDraw, w, h, color, rng):
    t = int(rng.integers(2, max(3, h // 25)))
    m = int(rng.integers(1, max(2, h // 30)))
    d.rounded_rectangle((m, m, w - 1 - m, h - 1 - m), radius=int(h * 0.06), outline=color, width=t)


def _bolts(d, w, h, rng):
    r = max(2, int(h * rng.uniform(0.025, 0.045)))
    col = _rand_color(rng, 90, 200)
    ys = [h * 0.12] if rng.random() < 0.6 else [h * 0.12, h * 0.88]
    for y in ys:
        for x in (w * 0.22, w * 0.78):
            d.ellipse((x - r, y - r, x + r, y + r), fill=col, outline=(40, 40, 40))


def _emblem(canvas, cx, cy, size, rng):
    """A small state emblem/heart/logo used as separator on US plates."""
    d = ImageDraw.Draw(canvas)
    col = _rand_color(rng, 0, 220)
    r = size / 2
    k = rng.integers(3)
    if k == 0:
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
    elif k == 1:
        d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=col)
    else:
        pts = []
        for i in range(10):
            rr = r if i % 2 == 0 else r * 0.45
            a = -math.pi / 2 + i * math.pi / 5
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        d.polygon(pts, fill=col)


def _draw_groups(canvas, text, font_path, color, box, rng, emboss, serif_i=False):
    """Draws a serial with separators: '-' drawn as dash, ' ' as gap, '*' as emblem."""
    x0, y0, x1, y1 = box
    groups = []
    cur = ""
    seps = []
    for c in text:
        if c in " -*":
            groups.append(cur)
            seps.append(c)
            cur = ""
        else:
            cur += c
    groups.append(cur)
    h = y1 - y0
    sep_w = {" ": 0.35 * h, "-": 0.45 * h, "*": 0.6 * h}
    char_w = h * rng.uniform(0.42, 0.62)
    nchars = sum(len(g) for g in groups)
    total = nchars * char_w + sum(sep_w[s] for s in seps)
    scale = min(1.0, (x1 - x0) / total)
    char_w *= scale
    total *= scale
    x = x0 + ((x1 - x0) - total) / 2
    spacing = rng.uniform(0.0, 0.12) if rng.random() < 0.5 else 0.0
    for i, g in enumerate(groups):
        gw = len(g) * char_w
        if g:
            _fit_text(canvas, g, font_path, color, (x, y0, x + gw, y1), rng, emboss, spacing, serif_i)
        x += gw
        if i < len(seps):
            sw = sep_w[seps[i]] * scale
            if seps[i] == "-":
                d = ImageDraw.Draw(canvas)
                d.rectangle((x + sw * 0.2, y0 + h * 0.45, x + sw * 0.8, y0 + h * 0.55), fill=color)
            elif seps[i] == "*":
                _emblem(canvas, x + sw / 2, y0 + h / 2, sw * 0.8, rng)
            x += sw


def _side_mark(canvas, d, x0, x1, y0, ch, color, rng):
    """Not-serial marks beside the serial at its height: small letters stacked vertically
    (Queensland's QLD, month or county codes) or a sticker with small digits; on real valid
    crops such marks were read as an extra leading character. Returns the serial's new x0, x1."""
    side_w = ch * rng.uniform(0.16, 0.26)
    on_left = rng.random() < 0.7
    sx = x0 if on_left else x1 - side_w
    if rng.random() < 0.6:
        word = sample_pattern(rng, ["LLL", "LL", "LLLL"][rng.integers(3)])
        step = ch / len(word)
        for i, c in enumerate(word):
            _decor(canvas, c, color, sx + side_w / 2, y0 + step * (i + 0.5), side_w, step * 0.8, rng)
    else:
        top, bottom = y0 + ch * rng.uniform(0.1, 0.3), y0 + ch * rng.uniform(0.7, 0.9)
        d.rectangle((sx, top, sx + side_w, bottom), fill=_rand_color(rng, 0, 255))
        _decor(canvas, sample_pattern(rng, "NN"), _rand_color(rng, 0, 255), sx + side_w / 2, (top + bottom) / 2,
               side_w * 0.9, (bottom - top) * 0.4, rng)
    gap = side_w * rng.uniform(0.3, 0.8)
    return (sx + side_w + gap, x1) if on_left else (x0, sx - gap)


def render_us(rng) -> FlatPlate:
    two_row = rng.random() < 0.12
    if two_row:  # motorcycle / small plates: 7" x 4"
        W, H = 250, 180
    else:
        W, H = 300, 150
    dark_bg = rng.random() < 0.1
    if dark_bg:
        base = _rand_color(rng, 0, 90)
        fg = _rand_color(rng, 200, 255)
    else:
        base = _rand_color(rng, 190, 255)
        palette = [(20, 20, 20), (20, 30, 110), (120, 20, 20), (10, 80, 30), (80, 20, 60), (10, 60, 120)]
        fg = palette[rng.integers(len(palette))]
        fg = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in fg)
    canvas = _background(rng, W, H, base)
    d = ImageDraw.Draw(canvas)
    if rng.random() < 0.7:
        _border(d, W, H, fg if rng.random() < 0.5 else _rand_color(rng, 0, 200), rng)
    if rng.random() < 0.3:
        _bolts(d, W, H, rng)
    fpath = all_fonts()[rng.integers(len(all_fonts()))]
    emboss = rng.random() < 0.5
    serif_i = rng.random() < 0.35
    state_col = fg if rng.random() < 0.5 else _rand_color(rng, 0, 200)
    # Top: state name; bottom: slogan / county.
    if rng.random() < 0.9:
        _decor(canvas, US_STATES[rng.integers(len(US_STATES))], state_col, W / 2, H * rng.uniform(0.1, 0.16),
               W * rng.uniform(0.4, 0.85), H * rng.uniform(0.1, 0.17), rng)
    if rng.random() < 0.75:
        _decor(canvas, US_SLOGANS[rng.integers(len(US_SLOGANS))], state_col, W / 2, H * rng.uniform(0.86, 0.91),
               W * rng.uniform(0.35, 0.8), H * rng.uniform(0.08, 0.13), rng)
    if rng.random() < 0.35:  # registration stickers with small digits
        for cx in ([W * 0.1] if rng.random() < 0.5 else [W * 0.1, W * 0.9]):
            sw, sh = W * 0.12, H * 0.16
            cy = H * 0.14
            sc = _rand_color(rng, 0, 255)
            d.rectangle((cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2), fill=sc)
            _decor(canvas, sample_pattern(rng, "NN" if rng.random() < 0.5 else "LLL"), _rand_color(rng, 0, 255),
                   cx, cy, sw * 0.9, sh * 0.7, rng)
    if two_row:
        top = sample_pattern(rng, ["LLL", "NNN", "LL", "NN", "LLN"][rng.integers(5)])
        bot = sample_pattern(rng, ["NNN", "NNNN", "LLL", "NN"][rng.integers(4)])
        ch = H * 0.3
        _fit_text(canvas, top, fpath, fg, (W / 2 - len(top) * ch * 0.3, H * 0.2, W / 2 + len(top) * ch * 0.3,
                                           H * 0.2 + ch), rng, emboss, serif_i=serif_i)
        _fit_text(canvas, bot, fpath, fg, (W / 2 - len(bot) * ch * 0.3, H * 0.53, W / 2 + len(bot) * ch * 0.3,
                                           H * 0.53 + ch), rng, emboss, serif_i=serif_i)
        text = top + bot
    else:
        if rng.random() < 0.15:  # vanity plate
            n = int(rng.integers(2, 8))
            serial = "".join(ALPHABET[i] for i in rng.integers(10 if rng.random() < 0.2 else 0, 36, size=n))
            if rng.random() < 0.3 and n > 3:
                k = int(rng.integers(1, n))
                serial = serial[:k] + " " + serial[k:]
        else:
            serial = sample_pattern(rng, US_PATTERNS[rng.integers(len(US_PATTERNS))])
        ch = H * rng.uniform(0.42, 0.55)
        y0 = H * 0.5 - ch / 2 + H * rng.uniform(-0.04, 0.04)
        x0, x1 = W * rng.uniform(0.05, 0.12), W * rng.uniform(0.88, 0.95)
        if rng.random() < 0.2:
            x0, x1 = _side_mark(canvas, d, x0, x1, y0, ch, state_col, rng)
        stacked = ""
        if rng.random() < 0.12:  # stacked characters at the left (e.g. plate type)
            stacked = sample_pattern(rng, "LL")
            sw = ch * 0.35
            sx = x0
            _fit_text(canvas, stacked[0], fpath, fg, (sx, y0, sx + sw, y0 + ch * 0.47), rng, serif_i=serif_i)
            _fit_text(canvas, stacked[1], fpath, fg, (sx, y0 + ch * 0.53, sx + sw, y0 + ch), rng, serif_i=serif_i)
            x0 = sx + sw * 1.4
        _draw_groups(canvas, serial, fpath, fg, (x0, y0, x1, y0 + ch), rng, emboss, serif_i)
        text = stacked + serial
    return FlatPlate(np.array(canvas.convert("RGB")), label_of(text), two_row, "us")


def render_eu(rng) -> FlatPlate:
    country = list(EU_FORMATS)[rng.integers(len(EU_FORMATS))]
    fmt = EU_FORMATS[country][rng.integers(len(EU_FORMATS[country]))]
    text = sample_pattern(rng, fmt)
    two_row = rng.random() < 0.15
    yellow = (country == "NL") or (country == "UK" and rng.random() < 0.5)
    base = (250, 205, 20) if yellow else (245, 245, 245)
    base = tuple(int(np.clip(c + rng.integers(-25, 10), 0, 255)) for c in base)
    fg = (150, 20, 30) if country == "BE" else (15, 15, 15)
    W, H = (280, 200) if two_row else (520, 110)
    canvas = _background(rng, W, H, base) if rng.random() < 0.2 else Image.new("RGBA", (W, H), base + (255,))
    d = ImageDraw.Draw(canvas)
    _border(d, W, H, fg, rng)
    band = int(W * (0.085 if not two_row else 0.14))
    if country != "UK" or rng.random() < 0.5:
        d.rectangle((0, 0, band, H), fill=(20, 50, 160))
        code = EU_CODES[country] if country != "UK" else "UK"
        _decor(canvas, code, (240, 240, 240), band / 2, H * 0.75, band * 0.8, H * 0.22, rng)
        for i in range(12):  # EU star circle
            a = i * math.pi / 6
            cx, cy = band / 2 + band * 0.28 * math.cos(a), H * 0.3 + band * 0.28 * math.sin(a)
            d.ellipse((cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5), fill=(240, 200, 0))
    if country == "FR" and not two_row:
        d.rectangle((W - band, 0, W, H), fill=(20, 50, 160))
        _decor(canvas, sample_pattern(rng, "NN"), (240, 240, 240), W - band / 2, H * 0.75, band * 0.8,
               H * 0.25, rng)
    fpath = all_fonts()[rng.integers(len(all_fonts()))]
    if country == "DE" and rng.random() < 0.7:
        fpath = FONT_FILES["fonts-opendin"][0]
    if two_row:
        parts = text.replace("-", " ").split(" ")
        k = max(1, len(parts) // 2)
        top, bot = " ".join(parts[:k]), " ".join(parts[k:])
        ch = H * 0.36
        _draw_groups(canvas, top, fpath, fg, (band + 8, H * 0.1, W - 8, H * 0.1 + ch), rng, False)
        _draw_groups(canvas, bot, fpath, fg, (band + 8, H * 0.54, W - 8, H * 0.54 + ch), rng, False)
    else:
        ch = H * rng.uniform(0.66, 0.78)
        right = W - band - 6 if country == "FR" else W - 10
        _draw_groups(canvas, text, fpath, fg, (band + 8, H / 2 - ch / 2, right, H / 2 + ch / 2), rng, False)
    return FlatPlate(np.array(canvas.convert("RGB")), label_of(text), two_row, "eu-" + country.lower())


def render_br(rng) -> FlatPlate:
    mercosur = rng.random() < 0.45
    two_row = rng.random() < 0.12
    if mercosur:
        text = sample_pattern(rng, "LLLNLNN")
    else:
        text = sample_pattern(rng, "LLL-NNNN")
    W, H = (200, 170) if two_row else (400, 130)
    if mercosur:
        canvas = Image.new("RGBA", (W, H), _rand_color(rng, 225, 255) + (255,))
        d = ImageDraw.Draw(canvas)
        bh = H * 0.2 if not two_row else H * 0.18
        d.rectangle((0, 0, W, bh), fill=(20, 50, 150))
        _decor(canvas, "BRASIL", (240, 240, 240), W / 2, bh / 2, W * 0.3, bh * 0.7, rng)
        fg = (15, 15, 15) if rng.random() < 0.85 else (160, 20, 20)
        _border(d, W, H, (20, 20, 20), rng)
        top_y = bh + H * 0.06
    else:
        g = int(rng.integers(150, 215))
        canvas = _background(rng, W, H, (g, g, g + int(rng.integers(-5, 10))))
        if rng.random() < 0.15:  # red commercial plates
            canvas = Image.new("RGBA", (W, H), (170, 25, 25, 255))
        d = ImageDraw.Draw(canvas)
        fg = (25, 25, 25) if rng.random() < 0.9 else (235, 235, 235)
        _border(d, W, H, fg, rng)
        if rng.random() < 0.3:
            _bolts(d, W, H, rng)
        city_h = H * 0.17
        _decor(canvas, BR_CITIES[rng.integers(len(BR_CITIES))], fg, W / 2, H * 0.14, W * 0.7, city_h, rng)
        top_y = H * 0.26
    fpath = all_fonts()[rng.integers(len(all_fonts()))]
    if two_row:
        body = H - top_y - H * 0.06
        ch = body * 0.44
        top, bot = (text[:3], text[3:].replace("-", ""))
        _fit_text(canvas, top, fpath, fg, (W * 0.22, top_y, W * 0.78, top_y + ch), rng)
        _fit_text(canvas, bot, fpath, fg, (W * 0.12, top_y + body * 0.53, W * 0.88, top_y + body * 0.53 + ch), rng)
    else:
        ch = (H - top_y - H * 0.08) * rng.uniform(0.88, 1.0)
        _draw_groups(canvas, text, fpath, fg, (W * 0.05, top_y, W * 0.95, top_y + ch), rng, False)
    return FlatPlate(np.array(canvas.convert("RGB")), label_of(text), two_row, "br")


REGION_WEIGHTS = [("us", 0.5, render_us), ("eu", 0.25, render_eu), ("br", 0.25, render_br)]


def render_flat(rng, region: str | None = None) -> FlatPlate:
    if region is not None:
        return {"us": render_us, "eu": render_eu, "br": render_br}[region](rng)
    r = rng.random()
    acc = 0.0
    for _, w, fn in REGION_WEIGHTS:
        acc += w
        if r < acc:
            return fn(rng)
    return render_us(rng)


# ---------------------------------------------------------------- degradations


def add_frame(img: np.ndarray, rng) -> np.ndarray:
    """Licence-plate frame: dark or chrome rim, often with dealer text below."""
    h, w = img.shape[:2]
    t = int(h * rng.uniform(0.04, 0.1))
    b = int(h * rng.uniform(0.04, 0.22))
    col = _rand_color(rng, 0, 60) if rng.random() < 0.7 else _rand_color(rng, 150, 230)
    out = np.empty((h + t + b, w + 2 * t, 3), np.uint8)
    out[:] = col
    out[t:t + h, t:t + w] = img
    if b > h * 0.1 and rng.random() < 0.7:
        pil = Image.fromarray(out).convert("RGBA")
        tc = (230, 230, 230) if sum(col) < 300 else (20, 20, 20)
        _decor(pil, US_DEALERS[rng.integers(len(US_DEALERS))], tc, out.shape[1] / 2, t + h + b / 2,
               w * 0.6, b * 0.7, rng)
        out = np.array(pil.convert("RGB"))
    return out


def dirt(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    for _ in range(rng.integers(1, 12)):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.02, 0.15) * w
        yy, xx = np.ogrid[0:h, 0:w]
        m = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))[..., None] * rng.uniform(0.2, 0.6)
        col = np.array(_rand_color(rng, 40, 120), np.float32)
        out = out * (1 - m) + col * m
    return np.clip(out, 0, 255).astype(np.uint8)


def glare(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    rx, ry = rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.6) * h
    yy, xx = np.ogrid[0:h, 0:w]
    m = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))[..., None] * rng.uniform(0.3, 0.9)
    return np.clip(img.astype(np.float32) * (1 - m) + 255 * m, 0, 255).astype(np.uint8)


def shadow(img: np.ndarray, rng) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    a = rng.uniform(0, 2 * math.pi)
    d = (xx - rng.uniform(0, w)) * math.cos(a) + (yy - rng.uniform(0, h)) * math.sin(a)
    soft = rng.uniform(1, 0.1 * w + 2)
    m = 1 / (1 + np.exp(-d / soft))
    k = rng.uniform(0.3, 0.75)
    return np.clip(img.astype(np.float32) * (1 - k * m)[..., None], 0, 255).astype(np.uint8)


def scene_background(rng, h, w) -> np.ndarray:
    """Car-body like surroundings around the plate (built small, then upscaled: cheap)."""
    sh, sw = max(4, h // 4), max(4, w // 4)
    base = np.array(_rand_color(rng, 0, 255), np.float32)
    arr = np.empty((sh, sw, 3), np.float32)
    arr[:] = base
    t = np.linspace(0, 1, sh)[:, None, None]
    arr = arr * (1 - 0.5 * t) + np.array(_rand_color(rng, 0, 255), np.float32) * 0.5 * t
    arr += rng.normal(0, rng.uniform(2, 20), size=(sh, sw, 1)).astype(np.float32)
    for _ in range(rng.integers(0, 4)):  # bumper edges, light clusters
        y = int(rng.integers(0, sh))
        arr[y:y + int(rng.integers(1, max(2, sh // 8)))] = np.array(_rand_color(rng, 0, 255), np.float32)
    small = np.clip(arr, 0, 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# Share of crops framed at or just inside the plate's edge, as user-supplied crops often are;
# the rest get 0-12 % of scene around the plate, as a detector box does.
TIGHT_SHARE = 0.35
TIGHT_MARGIN_X, TIGHT_MARGIN_Y = (-0.03, 0.02), (-0.05, 0.02)


def perspective_crop(img: np.ndarray, rng, out_margin=(0.0, 0.12)) -> np.ndarray:
    """Warps the flat plate with a random perspective onto a scene and crops around it the way a
    detector box or a user's tight cut would (loose or tight, slightly off-centre)."""
    h, w = img.shape[:2]
    pad = int(max(h, w) * 0.35)
    H2, W2 = h + 2 * pad, w + 2 * pad
    scene = scene_background(rng, H2, W2)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    j = rng.uniform(0, 0.08, size=(4, 2)) * np.float32([w, h])
    sgn = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = src + j * sgn * rng.choice([-1, 1], size=(4, 1)) + pad
    # rotation + horizontal foreshortening
    ang = math.radians(rng.normal(0, 4))
    c = dst.mean(0)
    R = np.float32([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    dst = (dst - c) @ R.T + c
    if rng.random() < 0.3:
        k = rng.uniform(0.6, 1.0)
        dst[:, 0] = (dst[:, 0] - c[0]) * k + c[0]
        side = rng.integers(2)
        idx = [0, 3] if side == 0 else [1, 2]
        dst[idx, 1] = (dst[idx, 1] - c[1]) * rng.uniform(0.8, 1.0) + c[1]
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    comp = cv2.warpPerspective(img, M, (W2, H2), dst=scene, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_TRANSPARENT)
    x0, y0 = dst.min(0)
    x1, y1 = dst.max(0)
    bw, bh = x1 - x0, y1 - y0
    tight = rng.random() < TIGHT_SHARE
    mx = rng.uniform(*(TIGHT_MARGIN_X if tight else out_margin), size=2) * bw
    my = rng.uniform(*(TIGHT_MARGIN_Y if tight else out_margin), size=2) * bh
    # slight shift as detectors do
    sx, sy = rng.normal(0, 0.02) * bw, rng.normal(0, 0.04) * bh
    cx0 = int(np.clip(x0 - mx[0] + sx, 0, W2 - 2))
    cx1 = int(np.clip(x1 + mx[1] + sx, cx0 + 2, W2))
    cy0 = int(np.clip(y0 - my[0] + sy, 0, H2 - 2))
    cy1 = int(np.clip(y1 + my[1] + sy, cy0 + 2, H2))
    return comp[cy0:cy1, cx0:cx1]


def photometric(img: np.ndarray, rng) -> np.ndarray:
    """Blur, low resolution, noise, night/IR, contrast, JPEG."""
    h, w = img.shape[:2]
    out = img
    # Severities are capped where a person can still read the plate: an illegible crop with a
    # label teaches the network to guess (by eye, 10 of 48 crops of the old mix were past reading).
    if rng.random() < 0.35:  # low resolution: camera saw the plate small
        target_h = int(rng.uniform(18, 40))
        s = target_h / h
        small = cv2.resize(out, (max(4, int(w * s)), target_h), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    r = rng.random()
    if r < 0.3:
        k = rng.uniform(0.3, 1.0) * h / 60
        out = cv2.GaussianBlur(out, (0, 0), max(0.1, k))
    elif r < 0.45:  # motion blur
        L = int(rng.integers(3, max(4, w // 30)))
        ker = np.zeros((L, L), np.float32)
        if rng.random() < 0.5:
            ker[L // 2, :] = 1
        else:
            ker[:, L // 2] = 1
        out = cv2.filter2D(out, -1, ker / L)
    f = out.astype(np.float32)
    if rng.random() < 0.2:  # night / IR: greyscale, bright retroreflective background
        g = f.mean(2, keepdims=True)
        gamma = rng.uniform(0.4, 1.0)
        g = 255 * (g / 255) ** gamma
        f = np.repeat(g, 3, 2)
    # contrast / brightness / colour cast
    a = rng.uniform(0.6, 1.3)
    b = rng.uniform(-50, 50)
    f = (f - 128) * a + 128 + b
    f *= rng.uniform(0.85, 1.15, size=(1, 1, 3))
    f += rng.normal(0, rng.uniform(0, 9), size=f.shape)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        q = int(rng.integers(25, 85))
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return out


def degrade_flat(plate: FlatPlate, rng) -> np.ndarray:
    """Plate-level effects applied before the perspective warp."""
    img = plate.image
    if rng.random() < 0.25:
        img = add_frame(img, rng)
    if rng.random() < 0.25:
        img = dirt(img, rng)
    if rng.random() < 0.2:
        img = shadow(img, rng)
    if rng.random() < 0.15:
        img = glare(img, rng)
    return img


def render_crop(rng, region: str | None = None) -> tuple[np.ndarray, str, bool, str]:
    """One recogniser training crop: RGB uint8 array, label text, two-row flag, region
    (`us`, `br` or `eu-XX`)."""
    plate = render_flat(rng, region)
    img = degrade_flat(plate, rng)
    crop = perspective_crop(img, rng)
    if crop.shape[0] > 80:  # the recogniser sees 32 px rows; degrade at a nearby scale (cheaper)
        s = 80 / crop.shape[0]
        crop = cv2.resize(crop, (max(8, int(crop.shape[1] * s)), 80), interpolation=cv2.INTER_AREA)
    crop = photometric(crop, rng)
    return crop, plate.text, plate.two_row, plate.region


# ---------------------------------------------------------------- recogniser input


def add_layout_args(ap) -> None:
    """The recogniser's input layout, as the manifest's input_height/input_width/channels say it:
    32x128 grey for the conv-only recogniser, 48xW RGB for the PP-OCRv4 fine-tune."""
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--channels", type=int, choices=(1, 3), default=1)


def layout_of(a) -> tuple[int, int, int]:
    return a.height, a.width, a.channels


def to_grey(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float32)
    return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114


def recogniser_input(img: np.ndarray, height: int, width: int, two_row: bool, channels: int = 1) -> np.ndarray:
    """Float image HxW (grey, channels=1) or HxWx3 (RGB, channels=3) in 0..255, laid out exactly
    as the engine does it: plain resize of the whole crop, or for two-row reading, top half |
    bottom half side by side."""
    g = to_grey(img) if channels == 1 else img.astype(np.float32)
    if not two_row:
        return cv2.resize(g, (width, height), interpolation=cv2.INTER_LINEAR)
    h = g.shape[0]
    top, bot = g[: h // 2], g[h // 2:]
    half = width // 2
    return np.concatenate([
        cv2.resize(top, (half, height), interpolation=cv2.INTER_LINEAR),
        cv2.resize(bot, (width - half, height), interpolation=cv2.INTER_LINEAR),
    ], axis=1)
