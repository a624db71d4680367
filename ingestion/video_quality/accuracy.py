"""Accuracy of the diagnosis on the simulator's labelled snapshots (or on a labelled set of real pictures,
evaluate_labelled): precision, recall and F1 per defect class, and
the false-positive rate on clean snapshots per condition (day, night, rain, haze).

Ground truth is the simulator's manifest.json: `files` gives every snapshot's label (clean or a defect class) and
the condition it was taken in; reference frames are `snapshot_reference` files. A snapshot counts as found for a
class when that check's verdict is defect; a clean snapshot is a false positive when any check says defect.
"""
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from safecity.ingestion.video_quality.baseline import BaselineBook
from safecity.ingestion.video_quality.batch import diagnose_files
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.diagnose import diagnose
from safecity.ingestion.video_quality.references import ReferenceStore
from safecity.ingestion.video_quality.snapshots import SnapshotError, read_index, read_snapshot
from safecity.ingestion.video_quality.thresholds import CHECKS, VideoQualityConfig, default_thresholds


class ManifestError(ValueError):
    """A folder that is not a simulator output (no readable manifest.json)."""


@dataclass
class ClassScore:
    name: str
    support: int = 0            # labelled snapshots of the class
    true_positive: int = 0
    false_positive: int = 0     # snapshots of another label (clean included) judged this class

    @property
    def false_negative(self) -> int:
        return self.support - self.true_positive

    @property
    def precision(self) -> float | None:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else None

    @property
    def recall(self) -> float | None:
        return self.true_positive / self.support if self.support else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class AccuracyReport:
    classes: dict[str, ClassScore] = field(default_factory=lambda: {c: ClassScore(c) for c in CHECKS})
    clean: Counter = field(default_factory=Counter)            # condition -> clean snapshots
    clean_flagged: Counter = field(default_factory=Counter)    # condition -> clean snapshots with a defect verdict
    flagged_as: Counter = field(default_factory=Counter)       # check -> clean snapshots it flagged
    errors: list[str] = field(default_factory=list)
    snapshots: int = 0
    natural: dict[str, list[str]] = field(default_factory=dict)  # a labelled set's natural defects -> verdicts

    def false_positive_rate(self, condition: str | None = None) -> float | None:
        total = sum(self.clean.values()) if condition is None else self.clean[condition]
        flagged = sum(self.clean_flagged.values()) if condition is None else self.clean_flagged[condition]
        return flagged / total if total else None

    def as_dict(self) -> dict:
        def r(x):
            return None if x is None else round(x, 4)
        return {
            "snapshots": self.snapshots,
            "classes": {c.name: {"support": c.support, "true_positive": c.true_positive,
                                 "false_positive": c.false_positive, "false_negative": c.false_negative,
                                 "precision": r(c.precision), "recall": r(c.recall), "f1": r(c.f1)}
                        for c in self.classes.values()},
            "clean": {cond: {"snapshots": n, "flagged": self.clean_flagged[cond],
                             "false_positive_rate": r(self.false_positive_rate(cond))}
                      for cond, n in sorted(self.clean.items())},
            "false_positive_rate": r(self.false_positive_rate()),
            "clean_flagged_as": dict(self.flagged_as),
            "natural_defects": self.natural,
            "errors": self.errors,
        }


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{folder}: no manifest.json (not a simulator output folder)") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{folder / 'manifest.json'}: unreadable ({exc})") from None


def evaluate(folders: list[str | Path] | str | Path, config: VideoQualityConfig | None = None) -> AccuracyReport:
    """Diagnose every labelled snapshot of one or more simulator output folders and score the verdicts."""
    config = config or default_thresholds()
    report = AccuracyReport()
    for folder in [folders] if isinstance(folders, (str, Path)) else folders:
        folder = Path(folder)
        entries = {rel: e for rel, e in read_manifest(folder).get("files", {}).items() if e.get("kind") == "snapshot"}
        by_path = {folder / rel: e for rel, e in entries.items()}
        # An evaluation reads the folder's reference frames and never rewrites them.
        store = ReferenceStore(folder / "snapshots" / "reference", config, persist=False)
        for item in diagnose_files(by_path, store, config):
            entry = by_path[item.path]
            if item.diagnosis is None:
                report.errors.append(item.error)
                continue
            report.snapshots += 1
            _score(report, entry["label"], entry.get("condition", "unknown"), item.diagnosis.defects)
    return report


LABELS_FILE = "labels.csv"


def evaluate_labelled(folder: str | Path, config: VideoQualityConfig | None = None) -> AccuracyReport:
    """Score the diagnosis on a labelled set of pictures (labels.csv: file, device_id, captured_at, label,
    previous). Rows labelled `baseline` are a camera's recent good snapshots: its baseline is learned from them and
    the first is its preset reference frame. Every other row is diagnosed against that baseline and reference and
    against the file named in `previous` (the camera's snapshot before it); `natural_defect` rows are reported
    with their verdicts, outside the class figures."""
    config = config or default_thresholds()
    rows = read_index(Path(folder) / LABELS_FILE)
    report = AccuracyReport()
    book = BaselineBook(config.baseline)
    references: dict[str, Frame] = {}
    for row in rows:
        if row["label"] == "baseline":
            frame = Frame.of(read_snapshot(row["file"]))
            references.setdefault(row["device_id"], frame)
            book.learn_from(row["device_id"], [frame])
    for row in rows:
        if row["label"] == "baseline":
            continue
        try:
            frame = Frame.of(read_snapshot(row["file"]))
            previous = Frame.of(read_snapshot(row["file"].parent.parent / row["previous"])) \
                if row.get("previous") else None
        except SnapshotError as exc:
            report.errors.append(str(exc))
            continue
        device = row["device_id"]
        result = diagnose(frame, previous, references.get(device), baseline=book.baseline(device), config=config)
        if row["label"] == "natural_defect":
            report.natural[str(row["file"])] = list(result.defects)
            continue
        report.snapshots += 1
        _score(report, row["label"], "real", result.defects)
    return report


def _score(report: AccuracyReport, label: str, condition: str, defects: tuple[str, ...]) -> None:
    if label in report.classes:
        report.classes[label].support += 1
    for check in defects:
        if check == label:
            report.classes[check].true_positive += 1
        else:
            report.classes[check].false_positive += 1
    if label == "clean":
        report.clean[condition] += 1
        if defects:
            report.clean_flagged[condition] += 1
        report.flagged_as.update(defects)


def render_table(report: AccuracyReport, config: VideoQualityConfig | None = None) -> str:
    config = config or default_thresholds()

    def pct(x):
        return "   -  " if x is None else f"{100 * x:5.1f}%"
    lines = [f"{'check 诊断项':<34} {'n':>5} {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>9} {'recall':>7} {'F1':>7}"]
    for c in report.classes.values():
        names = config.checks[c.name]
        label = f"{c.name} {names.name_zh}"
        lines.append(f"{label:<34} {c.support:>5} {c.true_positive:>5} {c.false_positive:>5} {c.false_negative:>5} "
                     f"{pct(c.precision):>9} {pct(c.recall):>7} {pct(c.f1):>7}")
    lines.append("")
    lines.append(f"{'clean 正常快照 condition 条件':<34} {'n':>5} {'flagged':>8} {'FP rate 误报率':>14}")
    for condition, n in sorted(report.clean.items()):
        lines.append(f"{condition:<34} {n:>5} {report.clean_flagged[condition]:>8} "
                     f"{pct(report.false_positive_rate(condition)):>14}")
    lines.append(f"{'all 合计':<34} {sum(report.clean.values()):>5} {sum(report.clean_flagged.values()):>8} "
                 f"{pct(report.false_positive_rate()):>14}")
    if report.flagged_as:
        lines.append("clean snapshots flagged as 正常快照误报为: " +
                     ", ".join(f"{k} {v}" for k, v in report.flagged_as.most_common()))
    for path, defects in report.natural.items():
        lines.append(f"natural defect 自然缺陷 {path}: {', '.join(defects) or '未检出 not found'}")
    if report.errors:
        lines.append(f"unreadable 无法读取: {len(report.errors)}")
        lines.extend(f"  {e}" for e in report.errors)
    return "\n".join(lines)
