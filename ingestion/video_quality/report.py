"""What a diagnosis batch tells an operator: how many snapshots, how many per defect, and for every flagged camera
why — each defect verdict's measure, value, the camera's normal and the limit it crossed. The Dagster asset shows
these as metadata; the CLI prints the same per verdict in its JSON."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from safecity.ingestion.video_quality.batch import FileDiagnosis
from safecity.ingestion.video_quality.thresholds import VideoQualityConfig, default_thresholds

OK_LABEL = "正常 ok"


@dataclass(frozen=True)
class Flag:
    """One defect verdict on one snapshot, explained."""
    device_id: str | None
    file: str
    check: str
    name_zh: str
    measure: str
    value: float
    normal: float | None            # None: judged by an absolute limit (no baseline, or physics)
    limit: float
    fault_when: str


@dataclass
class BatchReport:
    batch_id: str
    in_landing: int
    new: list[str]
    results: list[FileDiagnosis]
    sheet: Path | None = None
    baselines_written: int = 0
    by_defect: Counter = field(default_factory=Counter)
    unreadable: int = 0
    flags: list[Flag] = field(default_factory=list)

    @classmethod
    def of(cls, batch_id: str, in_landing: int, new: list[str], results: list[FileDiagnosis],
           names: dict[str, str], config: VideoQualityConfig | None = None, **kw) -> "BatchReport":
        """`names`: local path -> landing name, so that the report names files as the landing does."""
        config = config or default_thresholds()
        report = cls(batch_id, in_landing, new, results, **kw)
        for item in results:
            if item.diagnosis is None:
                report.unreadable += 1
                continue
            report.by_defect[item.diagnosis.defect or OK_LABEL] += 1
            for r in item.diagnosis.results:
                if r.verdict == "defect":
                    names_of = config.checks[r.check]
                    report.flags.append(Flag(item.device_id, names.get(str(item.path), str(item.path)), r.check,
                                             names_of.name_zh, r.measure or names_of.measure, r.score, r.normal,
                                             r.threshold, r.fault_when))
        return report

    def by_defect_markdown(self) -> str:
        return "| 结论 verdict | 快照 snapshots |\n|---|---|\n" + "\n".join(
            f"| {defect} | {count} |" for defect, count in self.by_defect.most_common())

    def flagged_markdown(self, limit: int = 100) -> str:
        """The flagged cameras, one row per defect verdict (the first `limit`)."""
        head = ("| 摄像机 camera | 快照 snapshot | 诊断项 check | 度量 measure | 值 value | 常态 normal | 门限 limit |\n"
                "|---|---|---|---|---:|---:|---:|\n")
        rows = [f"| {f.device_id or '-'} | {Path(f.file).name} | {f.check} {f.name_zh} | {f.measure} | "
                f"{f.value:.3f} | {'-' if f.normal is None else f'{f.normal:.3f}'} | "
                f"{'<' if f.fault_when == 'below' else '>'} {f.limit:.3f} |" for f in self.flags[:limit]]
        more = [f"\n… {len(self.flags) - limit} more 另有" ] if len(self.flags) > limit else []
        return head + "\n".join(rows) + "".join(more)

    def metadata(self) -> dict[str, object]:
        """Plain values and markdown strings for the Dagster asset (it wraps the markdown)."""
        return {"snapshots_diagnosed": len(self.new), "unreadable": self.unreadable,
                "defective": sum(n for d, n in self.by_defect.items() if d != OK_LABEL),
                "flagged_cameras": len({f.device_id for f in self.flags}),
                "cameras_with_baseline": self.baselines_written,
                "by_defect": self.by_defect_markdown(), "flagged": self.flagged_markdown()}
