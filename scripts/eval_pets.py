#!/usr/bin/env python3
"""Score HallWatch person tracks (and optionally bare detections) against MOTChallenge ground truth.

Usage:
  eval_pets.py --gt ../shared/data/pets09_s2l1/gt/gt.txt --tracks tracks.txt [--dets dets.txt]
               [--zones config/zones/pets09.toml --counts counts.csv --visits visits.csv --fps 7]
               [--scale-to 384x288] [--baseline-dets untiled/detections.txt]
  (scripts/eval_pets.sh runs `hallwatch analyze` on the clip and then this script.)

Files are MOTChallenge text: frame,id,left,top,width,height,score_or_flag,... (frames 1-based).
In gt.txt column 7 is a flag: 0 = ignore (people the annotators chose not to score).
Ignore rows are handled the way the MOTChallenge devkit does: a hypothesis matched (IoU >= 0.5,
optimal assignment over all GT boxes of the frame) to an ignored GT box is removed, so it is neither
a false positive nor a hit; ignored boxes are never misses.

Reports (needs `pip install motmetrics numpy scipy`):
  * MOTA, IDF1, ID switches, precision/recall (motmetrics, IoU >= 0.5);
  * per-frame count error: count = number of boxes output in a frame versus the number of scored
    (flag 1) GT boxes in that frame; MAE and bias (mean of output - truth) over all frames. Also shown
    "with ignore rule": boxes on ignored GT people dropped first (kinder to a detector that sees them);
  * with --dets: the same count error for the bare detector (no tracking) at score thresholds
    0.30..0.80, and the best of them;
  * with --zones and --counts: per-frame count error *in each area zone* of hallwatch's counts.csv
    (debounced membership) against the scored GT boxes whose foot point (bottom centre) is inside the
    polygon; with --dets also for the bare detector at its best whole-view threshold;
  * with --zones, --visits and --tracks: per-person time in zone. GT time = frames with the foot point
    inside / fps. Each hallwatch track is assigned to the GT person it overlaps (IoU >= 0.5) most often;
    a person's measured time is the sum of the visits.csv durations of their tracks. Reports the median
    and mean absolute error over GT people who were in the zone (measured, GT, or both);
  * with --tracks and --dets: the ratio of the tracks' count MAE to the bare detector's best, the
    figure the acceptance floor is stated in (<= 0.8 on unseen sequences). --baseline-dets names a
    different bare detector for that ratio (the untiled one when the run used tiles; --dets then
    still gives the tiled detector's own figures).
With --scale-to WxH the analysed video was the clip resized to WxH (a proxy for small, distant
people): GT boxes are scaled from --width x --height to it; zones are normalised and carry over.
"""
import argparse
import csv
import sys
import tomllib
from collections import defaultdict

import numpy as np
from scipy.optimize import linear_sum_assignment

import motmetrics as mm


def load(path, min_score=None, scale=(1.0, 1.0)):
    """frame -> list of (id, [l, t, w, h], col7), boxes multiplied by scale (sx, sy)."""
    rows = defaultdict(list)
    with open(path) as f:
        for line in f:
            p = line.strip().split(",")
            if len(p) < 7:
                continue
            fr, tid = int(float(p[0])), int(float(p[1]))
            l, t, w, h = (float(v) for v in p[2:6])
            box = [l * scale[0], t * scale[1], w * scale[0], h * scale[1]]
            c7 = float(p[6])
            if min_score is not None and c7 < min_score:
                continue
            rows[fr].append((tid, box, c7))
    return rows


def iou_matrix(a, b):
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0][:, None], b[:, 0][None]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1][:, None], b[:, 1][None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def drop_ignored(gt_rows, hyp_rows):
    """Returns (scored GT rows, hypotheses not matched to an ignored GT box)."""
    if not hyp_rows or not gt_rows:
        return [g for g in gt_rows if g[2] != 0], list(hyp_rows)
    iou = iou_matrix([g[1] for g in gt_rows], [h[1] for h in hyp_rows])
    cost = np.where(iou >= 0.5, 1.0 - iou, 1e6)
    gi, hi = linear_sum_assignment(cost)
    drop = {h for g, h in zip(gi, hi) if cost[g, h] < 1e6 and gt_rows[g][2] == 0}
    return [g for g in gt_rows if g[2] != 0], [h for k, h in enumerate(hyp_rows) if k not in drop]


def count_errors(gt, hyp, frames, ignore_rule=False):
    """Per-frame count error. Default: every output box against the scored GT boxes (the product's
    view: a count is a count). With ignore_rule, hypotheses on ignored GT people are dropped first."""
    diffs = []
    for fr in frames:
        if ignore_rule:
            g, h = drop_ignored(gt.get(fr, []), hyp.get(fr, []))
        else:
            g, h = [x for x in gt.get(fr, []) if x[2] != 0], hyp.get(fr, [])
        diffs.append(len(h) - len(g))
    d = np.asarray(diffs, dtype=float)
    return float(np.abs(d).mean()), float(d.mean())


def load_zones(path):
    """zone id -> polygon (normalised), area zones only."""
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    return {z["id"]: z["polygon"] for z in doc.get("zones", []) if "polygon" in z}


def inside(pt, poly):
    """Even-odd ray casting, the same rule as src/vision/zones.rs."""
    x, y = pt
    res = False
    j = len(poly) - 1
    for i in range(len(poly)):
        (ax, ay), (bx, by) = poly[i], poly[j]
        if (ay > y) != (by > y):
            if x < ax + (y - ay) * (bx - ax) / (by - ay):
                res = not res
        j = i
    return res


def foot(box, w, h):
    return ((box[0] + box[2] / 2) / w, (box[1] + box[3]) / h)


def zone_count_errors(gt, pred_counts, poly, frames, w, h):
    """MAE and bias of a per-frame zone count (dict frame -> count) vs scored GT feet in the polygon."""
    d = []
    for fr in frames:
        g = sum(1 for x in gt.get(fr, []) if x[2] != 0 and inside(foot(x[1], w, h), poly))
        d.append(pred_counts.get(fr, 0) - g)
    d = np.asarray(d, dtype=float)
    return float(np.abs(d).mean()), float(d.mean())


def read_counts(path):
    """zone -> {frame: count} from counts.csv."""
    out = defaultdict(dict)
    with open(path) as f:
        for row in csv.DictReader(f):
            out[row["zone"]][int(row["frame"])] = int(row["count"])
    return out


def time_in_zone(gt, hyp, visits_path, zone, poly, frames, fps, w, h):
    """Per-GT-person time-in-zone errors (seconds): (list of |err|, list of (gt_id, gt_s, measured_s))."""
    gt_time = defaultdict(float)
    ignored = set()
    for fr in frames:
        for gid, box, flag in gt.get(fr, []):
            if flag == 0:
                ignored.add(gid)
            elif inside(foot(box, w, h), poly):
                gt_time[gid] += 1.0 / fps
    # Assign each hypothesis track to the GT person it matches most often (IoU >= 0.5, optimal per frame).
    votes = defaultdict(lambda: defaultdict(int))
    for fr in frames:
        g, hy = gt.get(fr, []), hyp.get(fr, [])
        if not g or not hy:
            continue
        iou = iou_matrix([x[1] for x in g], [x[1] for x in hy])
        cost = np.where(iou >= 0.5, 1.0 - iou, 1e6)
        gi, hi = linear_sum_assignment(cost)
        for a, b in zip(gi, hi):
            if cost[a, b] < 1e6:
                votes[hy[b][0]][g[a][0]] += 1
    owner = {tid: max(v.items(), key=lambda kv: kv[1])[0] for tid, v in votes.items()}
    measured = defaultdict(float)
    with open(visits_path) as f:
        for row in csv.DictReader(f):
            if row["zone"] != zone:
                continue
            gid = owner.get(int(row["track_id"]))
            if gid is not None:
                measured[gid] += float(row["exit_s"]) - float(row["enter_s"])
    people = sorted((set(gt_time) | set(measured)) - ignored)
    rows = [(gid, gt_time.get(gid, 0.0), measured.get(gid, 0.0)) for gid in people]
    return [abs(m - g) for _, g, m in rows], rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--tracks", help="tracker output, MOTChallenge format")
    ap.add_argument("--dets", help="bare detections (id column ignored, column 7 = score)")
    ap.add_argument("--frames", type=int, help="number of frames (default: last GT frame)")
    ap.add_argument("--zones", help="zone file (TOML) used for the run")
    ap.add_argument("--counts", help="hallwatch counts.csv")
    ap.add_argument("--visits", help="hallwatch visits.csv")
    ap.add_argument("--fps", type=float, default=7.0, help="true frame rate (PETS09-S2L1: 7)")
    ap.add_argument("--width", type=int, default=768, help="frame width of the GT")
    ap.add_argument("--height", type=int, default=576, help="frame height of the GT")
    ap.add_argument("--scale-to", help="WxH: the analysed video is the clip resized to this size")
    ap.add_argument("--baseline-dets", help="bare detector for the count MAE ratio (default: --dets)")
    args = ap.parse_args()

    scale = (1.0, 1.0)
    if args.scale_to:
        try:
            sw, sh = (int(v) for v in args.scale_to.lower().split("x"))
        except ValueError:
            sys.exit(f"--scale-to {args.scale_to!r}: expected WxH, e.g. 384x288")
        scale = (sw / args.width, sh / args.height)
        args.width, args.height = sw, sh
        print(f"scaled: GT boxes x{scale[0]:.3f} x{scale[1]:.3f} to {sw}x{sh}")
    gt = load(args.gt, scale=scale)
    n_frames = args.frames or max(gt)
    frames = range(1, n_frames + 1)

    if args.tracks:
        hyp = load(args.tracks)
        acc = mm.MOTAccumulator(auto_id=False)
        for fr in frames:
            g, h = drop_ignored(gt.get(fr, []), hyp.get(fr, []))
            iou = iou_matrix([x[1] for x in g], [x[1] for x in h])
            # motmetrics' own iou_matrix uses np.asfarray (gone in NumPy 2); same rule: match at IoU >= 0.5.
            dist = np.where(iou >= 0.5, 1.0 - iou, np.nan)
            acc.update([x[0] for x in g], [x[0] for x in h], dist, frameid=fr)
        mh = mm.metrics.create()
        s = mh.compute(
            acc,
            metrics=["mota", "idf1", "num_switches", "precision", "recall", "num_false_positives",
                     "num_misses", "mostly_tracked", "num_unique_objects", "num_fragmentations"],
            name="tracks",
        )
        r = s.iloc[0]
        mae, bias = count_errors(gt, hyp, frames)
        print(f"tracks: MOTA {r.mota:.3f}  IDF1 {r.idf1:.3f}  IDSW {int(r.num_switches)}  "
              f"frag {int(r.num_fragmentations)}  prec {r.precision:.3f}  rec {r.recall:.3f}  "
              f"FP {int(r.num_false_positives)}  FN {int(r.num_misses)}  "
              f"MT {int(r.mostly_tracked)}/{int(r.num_unique_objects)}")
        tracks_mae = mae
        mae_i, bias_i = count_errors(gt, hyp, frames, ignore_rule=True)
        print(f"tracks: count MAE {mae:.3f}  bias {bias:+.3f}   "
              f"(with ignore rule: MAE {mae_i:.3f}  bias {bias_i:+.3f})")

    if args.dets:
        best = None
        for thr in np.arange(0.30, 0.8001, 0.05):
            dets = load(args.dets, min_score=thr)
            mae, bias = count_errors(gt, dets, frames)
            mae_i, bias_i = count_errors(gt, dets, frames, ignore_rule=True)
            print(f"detector >= {thr:.2f}: count MAE {mae:.3f}  bias {bias:+.3f}   "
                  f"(with ignore rule: MAE {mae_i:.3f}  bias {bias_i:+.3f})")
            if best is None or mae < best[1]:
                best = (thr, mae, bias)
        print(f"detector best: >= {best[0]:.2f}  count MAE {best[1]:.3f}  bias {best[2]:+.3f}")
        baseline = best
        if args.baseline_dets:
            baseline = None
            for thr in np.arange(0.30, 0.8001, 0.05):
                mae, bias = count_errors(gt, load(args.baseline_dets, min_score=thr), frames)
                if baseline is None or mae < baseline[1]:
                    baseline = (thr, mae, bias)
            print(f"baseline detector ({args.baseline_dets}) best: >= {baseline[0]:.2f}  "
                  f"count MAE {baseline[1]:.3f}  bias {baseline[2]:+.3f}")
        if args.tracks and baseline[1] > 0:
            print(f"count MAE ratio tracks / bare detector: {tracks_mae / baseline[1]:.3f}  "
                  f"({tracks_mae:.3f} / {baseline[1]:.3f}; floor on unseen sequences: <= 0.8)")
    zones = load_zones(args.zones) if args.zones else {}
    best_thr = best[0] if args.dets else None
    for zid, poly in zones.items():
        if args.counts:
            counts = read_counts(args.counts)
            mae, bias = zone_count_errors(gt, counts.get(zid, {}), poly, frames, args.width, args.height)
            print(f"zone {zid}: tracks count MAE {mae:.3f}  bias {bias:+.3f}")
        if args.dets:
            dets = load(args.dets, min_score=best_thr)
            dc = {fr: sum(1 for x in rows if inside(foot(x[1], args.width, args.height), poly)) for fr, rows in dets.items()}
            mae, bias = zone_count_errors(gt, dc, poly, frames, args.width, args.height)
            print(f"zone {zid}: detector >= {best_thr:.2f} count MAE {mae:.3f}  bias {bias:+.3f}")
        if args.visits and args.tracks:
            errs, rows = time_in_zone(gt, load(args.tracks), args.visits, zid, poly, frames, args.fps,
                                      args.width, args.height)
            if errs:
                gt_total = sum(g for _, g, _ in rows)
                m_total = sum(m for _, _, m in rows)
                print(f"zone {zid}: time in zone over {len(errs)} people: median |error| {np.median(errs):.2f} s  "
                      f"mean |error| {np.mean(errs):.2f} s  (GT total {gt_total:.1f} s, measured {m_total:.1f} s)")
    if not args.tracks and not args.dets:
        sys.exit("nothing to score: give --tracks and/or --dets")


if __name__ == "__main__":
    main()
