#!/usr/bin/env python3
"""Checks that the charts of a report stay readable, whatever the number of files behind it:

    scripts/check-svg-labels.py DIR [--max-texts N]

For every DIR/*.svg: it parses as XML; it holds at most N (default 200) text elements (a label per
node of a 1,000-node fleet would be unreadable, whatever else); every label lies inside the picture
and no two labels overlap, each label's box estimated from its font size (0.55 em per character,
DejaVu Sans's average over mixed text; 1 em high), anchored as `text-anchor` says. Rotated labels (a
`rotate(...)` transform) are checked for their anchor point only. Exits 1 naming each problem.
Used by scripts/fleet-scale.sh on the report of 1,000 nodes.
"""
import argparse
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def boxes(path):
    root = ET.parse(path).getroot()
    width, height = float(root.get("width")), float(root.get("height"))
    base = float(root.get("font-size", "12"))
    found = []
    for text in root.iter(NS + "text"):
        # The label's own text, not its <title> (a tooltip, drawn nowhere).
        label = (text.text or "") + "".join(
            (child.text or "") + (child.tail or "") if child.tag != NS + "title" else (child.tail or "")
            for child in text)
        size = float(text.get("font-size", base))
        x, y = float(text.get("x", "0")), float(text.get("y", "0"))
        transform = text.get("transform", "")
        rotated = "rotate" in transform
        w = 0.55 * size * len(label)
        anchor = text.get("text-anchor", "start")
        left = x - (w if anchor == "end" else w / 2 if anchor == "middle" else 0)
        found.append({"label": label, "rotated": rotated, "x": x, "y": y,
                      "box": (left, y - size * 0.8, left + w, y + size * 0.2)})
    return width, height, found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--max-texts", type=int, default=200)
    args = parser.parse_args()
    problems = []
    files = sorted(glob.glob(os.path.join(args.dir, "*.svg")))
    if not files:
        problems.append(f"no SVG in {args.dir}")
    for path in files:
        name = os.path.basename(path)
        try:
            width, height, found = boxes(path)
        except (ET.ParseError, TypeError, ValueError) as e:
            problems.append(f"{name}: not a readable SVG ({e})")
            continue
        if len(found) > args.max_texts:
            problems.append(f"{name}: {len(found)} labels, more than {args.max_texts}")
        flat = [t for t in found if not t["rotated"]]
        for t in found:
            if t["rotated"]:
                if not (0 <= t["x"] <= width and 0 <= t["y"] <= height):
                    problems.append(f"{name}: rotated label {t['label']!r} anchored outside the picture")
                continue
            l, top, r, bottom = t["box"]
            if l < -1 or r > width + 1 or top < -1 or bottom > height + 1:
                problems.append(f"{name}: label {t['label']!r} runs outside the {width:g}×{height:g} picture")
        for i, a in enumerate(flat):
            for b in flat[i + 1:]:
                ax0, ay0, ax1, ay1 = a["box"]
                bx0, by0, bx1, by1 = b["box"]
                # More than 2 px each way: a touch of the estimate's slack is no overlap.
                if min(ax1, bx1) - max(ax0, bx0) > 2 and min(ay1, by1) - max(ay0, by0) > 2:
                    problems.append(f"{name}: labels {a['label']!r} and {b['label']!r} overlap")
    for p in problems:
        print("check-svg-labels: " + p, file=sys.stderr)
    if problems:
        return 1
    print(f"check-svg-labels: {len(files)} charts in {args.dir}: labels inside, none overlapping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
