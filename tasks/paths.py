"""Every path the pipeline writes, named once. Relative to the project root,
which is the working directory under `dvc repro` and `augmill run`."""

from pathlib import Path

DATA = Path("data")
INTERIM = DATA / "interim"
FINAL = DATA / "final"
DEMO_RAW = DATA / "raw"  # written by the demo stage `prepare`; your own data goes elsewhere
REPORTS = Path("reports")
EXPECTATIONS = Path("expectations")

# explore
RAW_MANIFEST = INTERIM / "raw_manifest.parquet"
EXPLORE_REPORT = REPORTS / "explore.json"
# bias
BIAS_REPORT = REPORTS / "bias.json"
LABEL_ISSUES = REPORTS / "label_issues.csv"  # suspected label errors in train, most suspect first
LABEL_REVIEW_PAGE = REPORTS / "label_review.html"
PLAN = INTERIM / "plan.json"
# augment
AUGMENTED_DIR = INTERIM / "augmented"
AUGMENTED_MANIFEST = INTERIM / "augmented.parquet"
# validate
VALIDATED_MANIFEST = INTERIM / "validated.parquet"
VALIDATION_SUMMARY = REPORTS / "validation.json"
VALIDATION_PAGE = REPORTS / "validation.html"
GALLERY_PAGE = REPORTS / "gallery.html"
GX_DOCS = REPORTS / "gx_docs"
# merge
FINAL_MANIFEST = FINAL / "manifest.parquet"
# The last run's data/final, set aside (data/.tmp: same file system, not an output) so files
# that come out the same are moved back, not copied; deleted when merge ends.
FINAL_PREVIOUS = DATA / ".tmp" / "final-previous"
# What merge wrote there last (sha256 and stat of each file, io.FinalFiles): outside every output.
FINAL_FILES_RECORD = Path(".augmill") / "final-files.parquet"
# The raw files explore hashed (sha256 and stat of each, io.HashRecord): a file unchanged is not read again.
RAW_HASHES_RECORD = Path(".augmill") / "raw-hashes.parquet"
MERGE_REPORT = REPORTS / "merge.json"
QUARANTINE = REPORTS / "quarantine.csv"
PLOTS = REPORTS / "plots"
CLASS_COUNTS_BEFORE = PLOTS / "train_before.csv"
CLASS_COUNTS_AFTER = PLOTS / "train_after.csv"
CLASS_DISTRIBUTION_PNG = PLOTS / "class_distribution.png"
EXPLORE_PLOT = PLOTS / "explore_class_split.png"
# evaluate
EVALUATE_REPORT = REPORTS / "evaluate.json"
HEADLINE = REPORTS / "metrics.json"  # the few figures dvc.yaml lists as metrics (tasks/headline.py)
PER_CLASS_RECALL = PLOTS / "per_class_recall.csv"
PER_CLASS_RECALL_PNG = PLOTS / "per_class_recall.png"
TUNE_REPORT = REPORTS / "tune.json"  # augmill tune (a command, not a stage)
POLICY_CHOICE = REPORTS / "policy_choice.json"  # augment.policy: auto: the search's choice (stage augment)
# report (written by evaluate, or `augmill report`)
REPORT_PAGE = REPORTS / "index.html"
# review: the human decisions, tracked in git, read by merge
DECISIONS = Path("reviews") / "decisions.csv"
# preview (not a pipeline output: `augmill preview` writes it on demand)
PREVIEW = REPORTS / "preview"
