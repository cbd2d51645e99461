"""The text modality: labelled texts from CSV/TSV, Parquet or JSON Lines files,
profiled, augmented with the EDA family and a contraction paraphrase, measured
against their sources, shown for review and written to data/final/. Stage logic
shared by every modality lives in the stage modules; only what is particular to
text is here. Augmented texts live in the manifests' ``text`` column: no files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from augmill.tasks import paths
from augmill.tasks.ingest import MANIFEST_COLUMNS, assign_splits, resolve_inside
from augmill.tasks.io import write_bytes_atomic, write_data_csv
from augmill.tasks.modalities.text.files import TextFileError, manifest_row, read_records, text_hash
from augmill.tasks.modalities.text.lexicon import load_lexicon
from augmill.tasks.modalities.text.measures import lengths, near_duplicate_pairs, similarity
from augmill.tasks.modalities.text.tokens import lower_words, normalise
from augmill.tasks.ops.policy import build_policy, run_policy
from augmill.tasks.params import Params
from augmill.tasks.progress import progress_bar
from augmill.tasks.seeding import sample_seed

# The distributions whose versions shape this modality's bytes: part of every memo key (tasks.cache).
LIBRARIES = ("numpy", "pandas", "pyarrow")
SUITE_FILE = paths.EXPECTATIONS / "text_augmented.json"
AUGMENTED_COLUMNS = ["text"]
FEATURE_COLUMNS = ["length_ratio", "similarity"]
FINAL_COLUMNS = ["text"]
# features() compares each variant with every val/test text and with its siblings, so the
# validate stage measures the whole set every run instead of memoising per sample.
FEATURES_PER_SAMPLE = False
# The evaluate stage's baseline for text: baseline_features returns the raw texts and the
# evaluator fits a TF-IDF vectoriser on the train split (a vocabulary cannot be fitted per call).
BASELINE = "tfidf"


# ---- explore ---------------------------------------------------------------

def read_raw(params: Params) -> tuple[pd.DataFrame, dict]:
    """One manifest row per record of the files in text.files, quarantined ones included."""
    settings = params.text
    root = Path(params.data.raw_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data.raw_dir: {root} is not a folder (set data.raw_dir in params.yaml)")
    files = settings.files.items() if isinstance(settings.files, dict) else [(None, f) for f in settings.files]
    columns = {"text": settings.text_column, "label": settings.label_column, "split": settings.split_column}
    rows, described = [], []
    for split, name in files:
        path = resolve_inside(root, name)
        if path is None:
            raise TextFileError(f"text.files: {name} resolves outside data.raw_dir ({root}); not read")
        stats: dict = {}
        before = len(rows)
        with progress_bar(f"explore: reading {name}", None) as advance:
            for record in read_records(path, (settings.text_column, settings.label_column), stats):
                rows.append(manifest_row(record, name, columns, split))
                advance()
        # Blank lines are no records (as for any CSV reader), but are counted so none goes unnoticed.
        from_column = f"column {settings.split_column!r}, else data.split" if settings.split_column else "data.split"
        described.append({"file": name, "split": split or from_column,
                          "records": len(rows) - before, "blank_lines_skipped": stats.get("blank_lines", 0)})
    if not rows:
        raise TextFileError(f"text.files: {[d['file'] for d in described]} hold no records")
    frame = pd.DataFrame(rows)[[*MANIFEST_COLUMNS, "text"]]
    frame = assign_splits(frame, params.data.split.model_dump(), params.seed)
    return frame, {"root": str(root), "layout": "text files", "files": described}


def _spread(values: pd.Series) -> dict:
    if values.empty:
        return {}
    return {"min": int(values.min()), "median": round(float(values.median()), 2), "mean": round(float(values.mean()), 2),
            "p95": round(float(values.quantile(0.95)), 2), "max": int(values.max())}


def _length_table(ok: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([lengths(t) for t in ok["text"]], index=ok.index, columns=["chars", "words", "sentences"])


def encoding_issues(texts: pd.Series, limit: int) -> dict:
    """What a reader should look at: control characters, U+FFFD (a file decoded with the
    wrong encoding earlier), and texts that do not look English (the thesaurus is English)."""
    english = load_lexicon()

    def not_english(text: str) -> bool:
        # Five or more words, under 30% of them English function words or WordNet entries.
        words = lower_words(text)
        return len(words) >= 5 and sum(english.is_stop_word(w) or w in english for w in words) < 0.3 * len(words)

    checks = {
        "control_characters": lambda t: any(ord(c) < 32 and c not in "\t\n\r" or 127 <= ord(c) < 160 for c in t),
        "replacement_character": lambda t: "\ufffd" in t,
        "non_ascii": lambda t: not t.isascii(),
        "likely_not_english": not_english,
    }
    report = {}
    for name, check in checks.items():
        hits = [sid for sid, text in texts.items() if check(text)]
        report[name] = {"texts": len(hits), "examples": hits[:limit]}
    return report


def profile(ok: pd.DataFrame, params: Params) -> dict:
    ok = ok.set_index("sample_id", drop=False)
    sizes = _length_table(ok)
    vocabulary = {label: set() for label in sorted(ok["label"].unique())}
    for label, text in zip(ok["label"], ok["text"], strict=True):
        vocabulary[label].update(lower_words(text))
    limit = params.explore.max_listed_pairs
    pairs = near_duplicate_pairs(ok["text"].tolist(), params.text.near_duplicate_jaccard)
    ids, splits, labels = ok["sample_id"].tolist(), ok["split"].tolist(), ok["label"].tolist()
    return {
        "lengths": {measure: _spread(sizes[measure]) for measure in sizes.columns},
        "lengths_by_class": {label: {m: _spread(sizes.loc[group.index, m]) for m in sizes.columns}
                             for label, group in ok.groupby("label", sort=True)},
        "vocabulary": {"words": len(set().union(*vocabulary.values())) if vocabulary else 0,
                       "by_class": {label: len(words) for label, words in vocabulary.items()}},
        "encoding": encoding_issues(ok["text"], limit),
        "near_duplicates": {
            "measure": "Jaccard similarity of word 3-gram sets (MinHash candidates, checked exactly)",
            "threshold": params.text.near_duplicate_jaccard,
            "pairs": len(pairs),
            "pairs_across_splits": sum(splits[i] != splits[j] for i, j, _ in pairs),
            "pairs_with_different_labels": sum(labels[i] != labels[j] for i, j, _ in pairs),
            "examples": [{"a": ids[i], "b": ids[j], "jaccard": score} for i, j, score in pairs[:limit]],
        },
    }


def bias_extra(ok: pd.DataFrame, params: Params) -> dict:
    """Length bias in the train split: if one class is systematically longer, a model can
    learn length instead of content, and augmenting the other classes keeps it."""
    from scipy.stats import kruskal

    train = ok[ok["split"] == "train"]
    if train.empty:
        return {}
    words = pd.Series([len(lower_words(t)) for t in train["text"]], index=train.index)
    medians = {str(label): float(words[group.index].median()) for label, group in train.groupby("label", sort=True)}
    groups = [words[group.index].to_numpy() for _, group in train.groupby("label", sort=True)]
    ratio = max(medians.values()) / max(min(medians.values()), 1.0)
    test = None
    if len(groups) > 1 and all(len(g) > 1 for g in groups) and len(set(words)) > 1:
        statistic, p_value = kruskal(*groups)
        test = {"test": "Kruskal-Wallis on words per text", "statistic": round(float(statistic), 4),
                "p_value": round(float(p_value), 6)}
    biased = ratio > params.text.max_length_bias
    return {
        "median_words_by_class": medians,
        "longest_over_shortest_median": round(ratio, 4),
        "max_length_bias": params.text.max_length_bias,
        "length_biased": biased,
        "difference_test": test,
        "note": ("one class's texts are systematically longer: a model can learn length instead of content; "
                 "random_deletion shortens and random_insertion lengthens the texts of the classes it augments")
        if biased else "",
    }


# ---- augment ---------------------------------------------------------------

def build_text_policy(params: Params) -> list:
    """The policy with the thesaurus and stop words of the `text:` section bound to each operator."""
    lexicon = load_lexicon(tuple(params.text.synonyms), tuple(params.text.extra_stop_words))
    # A model hook (paraphrase: tasks.modalities.text.ops_paraphrase) has its own vocabulary, no lexicon.
    return [op.with_lexicon(lexicon) if hasattr(op, "with_lexicon") else op
            for op in build_policy(params.augment.policy, "text")]


def augment_shard(shard, params: Params) -> list[dict]:
    """Every variant of every source in the shard. A variant equal to its source or to an
    earlier variant of it is drawn again from its own generator (text.max_redraws times at
    most), so the recorded ops still replay to exactly the kept text."""
    policy = build_text_policy(params)
    rows = []
    for source in shard.sources:
        text = source["text"]
        seen = {normalise(text)}
        for variant in range(int(source["variants"])):
            seed = sample_seed(params.seed, source["source_id"], variant)
            rng = np.random.default_rng(seed)
            for _ in range(params.text.max_redraws + 1):
                new_text, records = run_policy(policy, rng, text)
                if normalise(new_text) not in seen:
                    break
            seen.add(normalise(new_text))
            rows.append({"sample_id": f"{source['source_id']}-aug{variant:03d}", "source_id": source["source_id"],
                         "label": source["label"], "ops": json.dumps(records, sort_keys=True, ensure_ascii=False),
                         "seed": seed, "variant": variant, "sha256": text_hash(new_text), "text": new_text})
    return rows


# ---- validate --------------------------------------------------------------

def features(augmented: pd.DataFrame, sources: pd.DataFrame, params: Params) -> pd.DataFrame:
    """One row of measurements per augmented text, compared with its source, and with
    other texts: is it a copy of a val/test text, or of an earlier variant of its source
    (compared with spacing and Unicode form normalised: a copy with an extra space is a copy)."""
    source_text = dict(zip(sources["sample_id"], sources["text"], strict=True))
    held_out = {normalise(t) for t in sources.loc[sources["split"] != "train", "text"]}
    keys = pd.Series([normalise(t) if isinstance(t, str) else None for t in augmented["text"]], index=augmented.index)
    order = augmented.assign(key=keys).sort_values("sample_id")
    repeats = set(order.loc[order["key"].notna() & order.duplicated(["source_id", "key"]), "sample_id"])
    rows = []
    with progress_bar("validate: measuring", len(augmented)) as advance:
        for row, key in zip(augmented.itertuples(index=False), keys, strict=True):
            source = source_text.get(row.source_id)
            measured = {"sample_id": row.sample_id, "source_id": row.source_id, "label": row.label,
                        "source_exists": source is not None, "words": None, "length_ratio": None, "similarity": None,
                        "differs_from_source": None, "exact_duplicate_of_holdout": None,
                        "repeats_another_variant": row.sample_id in repeats,
                        "unreadable": "" if key is not None else "the text column is empty"}
            if key is not None:
                measured["words"] = len(lower_words(row.text))
                measured["exact_duplicate_of_holdout"] = key in held_out
                if source is not None:
                    measured["length_ratio"] = round(len(key) / max(len(normalise(source)), 1), 4)
                    measured["similarity"] = similarity(source, row.text)
                    measured["differs_from_source"] = key != normalise(source)
            rows.append(measured)
            advance()
    return pd.DataFrame(rows)


def suite_parameters(labels: list[str], params: Params) -> dict:
    text = params.text
    return {"labels": labels, "min_length_ratio": text.min_length_ratio, "max_length_ratio": text.max_length_ratio,
            "min_similarity": text.min_similarity, "max_similarity": text.max_similarity}


def render_gallery(validated: pd.DataFrame, raw: pd.DataFrame, params: Params, path: Path) -> None:
    from augmill.tasks.modalities.text.review import render_text_gallery

    render_text_gallery(validated, raw, params, path)


# ---- merge -----------------------------------------------------------------

EXPORT_COLUMNS = ["sample_id", "label", "text", "origin", "source_id"]


def finalize(originals: pd.DataFrame, accepted: pd.DataFrame, params: Params) -> pd.DataFrame:
    """The final rows (texts stay in the manifest), plus one file per split for convenience:
    ``train.csv`` and ``train.jsonl``, both holding the exact texts and labels (dataset
    files, not spreadsheet reports: nothing is neutralised)."""
    frame = pd.concat([originals, accepted], ignore_index=True)
    frame = frame.sort_values(["split", "label", "sample_id"]).reset_index(drop=True)
    for split, group in frame.groupby("split", sort=True):
        export = group[EXPORT_COLUMNS]
        write_data_csv(export, paths.FINAL / f"{split}.csv")
        lines = [json.dumps(record, ensure_ascii=False) for record in export.to_dict("records")]
        write_bytes_atomic(paths.FINAL / f"{split}.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
    return frame


# ---- evaluate --------------------------------------------------------------

def baseline_features(frame: pd.DataFrame, params: Params, folder: Path | None = None) -> np.ndarray:
    """The raw texts, a 1-D object array: the evaluator vectorises them (BASELINE = "tfidf"),
    fitting the vocabulary on the train rows only. ``folder`` is unused: the texts are in the rows."""
    return frame["text"].astype(object).to_numpy()
