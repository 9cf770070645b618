"""Writes the image tests' files and PIL's pixels for them (tests/test_image.cpp).

    python3 make_images.py OUT_DIR

For every file OUT_DIR/<name> it writes OUT_DIR/<name>.c1, .c3 and .c4: the raw bytes PIL decodes
(convert("L"), convert("RGB"), convert("RGBA"), as Keras's load_img does), and one line
"<name> <height> <width>" in OUT_DIR/manifest.txt. Pixels are seeded: every run writes the same files.
"""
import os
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image


def picture(h, w, c, seed):
    """Smooth gradients plus noise: like a photo for JPEG's sake, with every byte value in use."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * (3 + k) + y * (5 - k) + 40 * k) % 256 for k in range(c)]
    img = np.stack(planes, axis=-1).astype(np.int32) + rng.integers(-20, 21, size=(h, w, c))
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def interlaced_png(rgb):
    """An Adam7-interlaced 8-bit RGB PNG (PIL writes only non-interlaced ones)."""
    h, w, _ = rgb.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = rgb[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def main(out):
    warnings.simplefilter("ignore")  # PIL advises RGBA for palette transparency; the tRNS file is the point
    os.makedirs(out, exist_ok=True)
    files = {}
    rgb = Image.fromarray(picture(37, 53, 3, 1), "RGB")
    files["rgb_q90.jpg"] = lambda p: rgb.save(p, quality=90)
    files["rgb_q90_444.jpg"] = lambda p: rgb.save(p, quality=90, subsampling=0)
    files["rgb_progressive.jpg"] = lambda p: rgb.save(p, quality=90, progressive=True)
    grey = Image.fromarray(picture(29, 31, 1, 2)[:, :, 0], "L")
    files["grey_q90.jpg"] = lambda p: grey.save(p, quality=90)
    files["cmyk_q90.jpg"] = lambda p: rgb.convert("CMYK").save(p, quality=90)  # with an Adobe marker
    files["rgb.png"] = lambda p: rgb.save(p)
    files["rgba.png"] = lambda p: Image.fromarray(picture(19, 23, 4, 3), "RGBA").save(p)
    files["grey.png"] = lambda p: grey.save(p)
    files["grey_alpha.png"] = lambda p: Image.fromarray(picture(17, 13, 2, 4), "LA").save(p)
    palette = rgb.quantize(colors=16)
    files["palette.png"] = lambda p: palette.save(p)
    files["palette_trns.png"] = lambda p: palette.save(p, transparency=bytes([0, 128, 255] + [255] * 13))
    files["grey_trns.png"] = lambda p: grey.save(p, transparency=int(np.asarray(grey)[3, 4]))
    files["grey_1bit.png"] = lambda p: grey.convert("1").save(p)
    words = (picture(21, 27, 1, 5)[:, :, 0].astype(np.uint16) * 257 + np.uint16(77)).astype(np.uint16)
    files["grey16.png"] = lambda p: Image.fromarray(words, "I;16").save(p)
    files["rgb_interlaced.png"] = lambda p: open(p, "wb").write(interlaced_png(picture(27, 22, 3, 6)))
    files["rgb24.bmp"] = lambda p: rgb.save(p)
    frames = [Image.fromarray(picture(25, 33, 3, 7 + k), "RGB").quantize(colors=32) for k in range(2)]
    files["two_frames.gif"] = lambda p: frames[0].save(p, save_all=True, append_images=frames[1:], duration=100)

    lines = []
    for name, write in files.items():
        path = os.path.join(out, name)
        write(path)
        img = Image.open(path)
        if name == "grey16.png":
            # PIL clips 16-bit grey to 8 bits; the high byte is the reference (TensorFlow's convert_image_dtype).
            high = (np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8)
            refs = {"c1": high, "c3": np.stack([high] * 3, -1),
                    "c4": np.stack([high] * 3 + [np.full_like(high, 255)], -1)}
        else:
            refs = {"c1": np.asarray(img.convert("L")), "c3": np.asarray(img.convert("RGB")),
                    "c4": np.asarray(img.convert("RGBA"))}
        for suffix, pixels in refs.items():
            with open(path + "." + suffix, "wb") as f:
                f.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
        lines.append(f"{name} {img.height} {img.width}\n")
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main(sys.argv[1])
