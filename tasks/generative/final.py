"""merge's part for synthetic samples: the accepted ones join the final train split with
origin "synthetic"; the quarantined ones go to reports/quarantine.csv with validate's
reasons; and the accounting proves none was lost."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from augmill.tasks import paths
from augmill.tasks.generative import SYNTHETIC_DIR, SYNTHETIC_MANIFEST, SYNTHETIC_VALIDATED
from augmill.tasks.io import copy_file_reusing, read_parquet, safe_name
from augmill.tasks.params import Params


@dataclass
class SyntheticRows:
    made: int  # rows the synthesize stage wrote
    accepted: pd.DataFrame
    quarantined: pd.DataFrame

    @classmethod
    def read(cls, params: Params) -> SyntheticRows | None:
        """None when synthesize is off: merge then behaves as if this module did not exist."""
        if not params.synthesize.enabled:
            return None
        made = read_parquet(SYNTHETIC_MANIFEST, "synthetic manifest (stage synthesize)")
        validated = read_parquet(SYNTHETIC_VALIDATED, "validated synthetic manifest (stage validate)")
        return cls(len(made), validated[validated["status"] == "accepted"].drop(columns=["status", "reason_code", "reason"]),
                   validated[validated["status"] != "accepted"])

    def finalize(self, modality, originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
        """The modality's final manifest with the accepted synthetic rows added. A modality whose
        rows hold their values (tables) takes them with its own accepted rows; for one whose
        rows are files, the files are copied to data/final/train/<label>/."""
        if "path" not in modality.AUGMENTED_COLUMNS:
            return modality.finalize(originals, pd.concat([accepted, self.accepted], ignore_index=True), params)
        final = modality.finalize(originals, accepted, params)
        rows = self.accepted.copy()
        rows["final_path"] = [f"train/{safe_name(label)}/{sid}.png" for label, sid in zip(rows["label"], rows["sample_id"],
                                                                                          strict=True)]
        for source, target in zip(rows["path"], rows["final_path"], strict=True):
            copy_file_reusing(SYNTHETIC_DIR / source, paths.FINAL / target, paths.FINAL_PREVIOUS / target)
        rows["path"] = rows.pop("final_path")
        frame = pd.concat([final, rows], ignore_index=True)
        return frame.astype({c: "Int64" for c in ("width", "height") if c in frame})

    def quarantine_rows(self, columns: list[str]) -> pd.DataFrame:
        rows = self.quarantined.assign(stage="validate")
        rows["path"] = [str(SYNTHETIC_DIR / p) for p in rows["path"]] if "path" in rows else ""
        return rows[columns]

    def summary(self) -> dict:
        accepted, rejected = len(self.accepted), len(self.quarantined)
        return {"made": self.made, "accepted": accepted, "rejected": rejected, "balanced": self.made == accepted + rejected}
