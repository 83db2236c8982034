#!/usr/bin/env python3
"""Writes CSV files of Amazon reviews, the shape a user's own data would have, for the
README's walkthrough of `tl run recipes/my-reviews.toml`:

  my-data/reviews-<source>.csv              text,label (every labelled review)
  my-data/reviews-<target>-unlabelled.csv   text       (80 % of the target, no labels)
  my-data/reviews-<target>-test.csv         text,label (the other 20 %)

usage: scripts/amazon-csv.py DATA_DIR/amazon-reviews OUT_DIR [source] [target]
"""
import csv, os, random, re, sys, html

def reviews(folder):
    out = []
    for label in ("positive", "negative"):
        raw = open(os.path.join(folder, f"{label}.review"), encoding="utf-8", errors="replace").read()
        for text in re.findall(r"<review_text>(.*?)</review_text>", raw, re.S):
            out.append((html.unescape(text.strip()), label))
    return out

def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, out = sys.argv[1], sys.argv[2]
    source = sys.argv[3] if len(sys.argv) > 3 else "books"
    target = sys.argv[4] if len(sys.argv) > 4 else "kitchen"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"reviews-{source}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(reviews(os.path.join(data, source)))
    items = reviews(os.path.join(data, target))
    random.Random(0).shuffle(items)
    cut = int(0.8 * len(items))
    with open(os.path.join(out, f"reviews-{target}-unlabelled.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows((t,) for t, _ in items[:cut])
    with open(os.path.join(out, f"reviews-{target}-test.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(items[cut:])
    print(f"wrote {out}: {source} (labelled), {target} ({cut} unlabelled, {len(items) - cut} to test)")

main()
