"""The bias stage's label check (tasks/label_issues.py, issue #22): flipped labels found,
deterministic, near-copies counted once, and what report / quarantine / fail and the
reviewer's label decisions do to the plan."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augmill.tasks import bias, label_issues, paths
from augmill.tasks.io import write_parquet
from augmill.tasks.params_load import load_params
from augmill.tasks.review import DecisionsError, empty_decisions

REPO = Path(__file__).resolve().parents[1]
CENTRES = {"a": (0.0, 0.0), "b": (6.0, 0.0), "c": (0.0, 6.0)}


def params_for(*overrides: str):
    return load_params(REPO / "examples" / "tabular.yaml", ["execution.cache=false", *overrides])


def blob_manifest(per_class: int = 40, flips: int = 6, seed: int = 3) -> tuple[pd.DataFrame, dict[str, str]]:
    """A raw manifest of a table with three well-separated classes and ``flips`` train labels
    moved to another class; returns it and sample_id -> true label of the flipped rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, (x, y) in CENTRES.items():
        for i in range(per_class):
            f1, f2 = rng.normal(x, 1.0), rng.normal(y, 1.0)
            rows.append({"sample_id": f"{label}{i:03d}", "label": label, "f1": f1, "f2": f2,
                         "split": "test" if i % 5 == 0 else "train"})
    frame = pd.DataFrame(rows)
    frame = frame.assign(source_id=frame["sample_id"], origin="original", status="ok", reason_code="", reason="",
                         path="table.csv",
                         sha256=[hashlib.sha256(f"{a:.12f},{b:.12f}".encode()).hexdigest()
                                 for a, b in zip(frame["f1"], frame["f2"], strict=True)])
    train = np.flatnonzero(frame["split"] == "train")
    flipped = {}
    for position in rng.choice(train, size=flips, replace=False):
        true = frame.at[position, "label"]
        frame.at[position, "label"] = sorted(set(CENTRES) - {true})[int(rng.integers(2))]
        flipped[frame.at[position, "sample_id"]] = true
    return frame, flipped


def train_of(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest[manifest["split"] == "train"]


def test_flipped_labels_are_found_with_their_true_label_suggested():
    manifest, flipped = blob_manifest()
    findings = label_issues.check(train_of(manifest), params_for())
    suspects = findings.suspects.set_index("sample_id")
    found = set(suspects.index) & set(flipped)
    assert len(found) >= 5, (sorted(flipped), suspects.index.tolist())
    assert len(found) / len(suspects) >= 0.7
    assert all(suspects.at[i, "suggested_label"] == flipped[i] for i in found)
    assert all(suspects.at[i, "given_label"] != flipped[i] for i in found)
    assert suspects["score"].is_monotonic_increasing  # most suspect first


def test_no_suspects_on_clean_separable_labels():
    manifest, _ = blob_manifest(flips=0)
    assert label_issues.check(train_of(manifest), params_for()).suspects.empty


def test_check_is_deterministic_and_independent_of_row_order():
    manifest, _ = blob_manifest()
    first = label_issues.check(train_of(manifest), params_for()).suspects
    shuffled = train_of(manifest).sample(frac=1.0, random_state=7)
    again = label_issues.check(shuffled, params_for()).suspects
    pd.testing.assert_frame_equal(first, again)
    other_seed = label_issues.check(train_of(manifest), params_for("seed=7")).suspects
    assert set(other_seed["sample_id"]) & set(first["sample_id"])  # folds change, the clear flips stay


def test_folds_in_worker_processes_give_the_same_probabilities():
    """execution.workers only decides where the folds are fitted: 1 and 2 workers, the same numbers."""
    train = train_of(blob_manifest()[0])
    values, labels = train[["f1", "f2"]].to_numpy(), train["label"].to_numpy(dtype=str)
    from augmill.flows.executors import shared_mapper

    params = {workers: params_for(f"execution.workers={workers}") for workers in (1, 2)}
    (one, one_c), (two, two_c) = (label_issues.out_of_fold_choice(values, "dense", labels, sorted(CENTRES),
                                                                  params[workers], shared_mapper(params[workers].execution))
                                  for workers in (1, 2))
    assert np.array_equal(one, two) and one_c == two_c
    assert np.allclose(one.sum(axis=1), 1.0)  # every row held out once, its columns in class order


def test_exact_copies_form_one_cluster_per_class_and_count_once():
    manifest, _ = blob_manifest(flips=0)
    train = train_of(manifest).copy()
    a_rows = train.index[train["label"] == "a"][:3]
    train.loc[a_rows, "sha256"] = "same"  # three copies in class a
    b_row = train.index[train["label"] == "b"][0]
    train.loc[b_row, "sha256"] = "same"  # the same content under another label is not the same cluster
    clusters = label_issues.duplicate_clusters(train, params_for())
    assert clusters == [sorted(train.loc[a_rows, "sample_id"])]
    counts = label_issues.distinct_counts(train, clusters)
    assert counts["a"] == int((train["label"] == "a").sum()) - 2
    assert counts["b"] == int((train["label"] == "b").sum())


def test_plan_sizes_a_class_on_distinct_samples():
    manifest, _ = blob_manifest(flips=0)
    a_rows = manifest.index[(manifest["label"] == "a") & (manifest["split"] == "train")][:10]
    manifest.loc[a_rows, "sha256"] = "copy"
    _, plan, _ = bias.assess(manifest, params_for("bias.policy=rebalance", "augment.factor=1.5"))
    entry = plan["classes"]["a"]
    assert entry["distinct"] == entry["original"] - 9
    # Sized as the smaller class it really is: it gets more new samples than a class of the same real size.
    assert entry["new"] > plan["classes"]["b"]["new"]


def test_report_mode_marks_suspects_not_augmented_and_keeps_them():
    manifest, flipped = blob_manifest()
    report, plan, findings = bias.assess(manifest, params_for("bias.label_issues=report"))
    assert plan["not_augmented"] == sorted(findings.suspects["sample_id"])
    assert set(flipped) & set(plan["not_augmented"])
    assert not [e for e in plan["excluded"] if e["reason_code"] == "label_issue"]
    assert sum(report["train_counts"].values()) == len(train_of(manifest))
    assert report["label_check"]["suspects"] == len(findings.suspects)


def test_quarantine_mode_excludes_suspects_with_a_reason():
    manifest, _ = blob_manifest()
    report, plan, findings = bias.assess(manifest, params_for("bias.label_issues=quarantine"))
    excluded = {e["sample_id"]: e for e in plan["excluded"]}
    assert set(excluded) == set(findings.suspects["sample_id"]) and excluded
    assert {e["reason_code"] for e in excluded.values()} == {"label_issue"}
    first = findings.suspects.iloc[0]
    assert f"likely {first.suggested_label!r}" in excluded[first.sample_id]["reason"]
    assert plan["not_augmented"] == []
    assert sum(report["train_counts"].values()) == len(train_of(manifest)) - len(excluded)


def test_fail_mode_stops_with_the_count_and_the_list(tmp_path, monkeypatch):
    manifest, _ = blob_manifest()
    monkeypatch.chdir(tmp_path)
    write_parquet(manifest, paths.RAW_MANIFEST)
    with pytest.raises(bias.LabelIssuesFound) as failure:
        bias.run(params_for("bias.label_issues=fail"))
    listed = pd.read_csv(tmp_path / paths.LABEL_ISSUES)
    message = str(failure.value)
    assert "\n" not in message
    assert f"{len(listed)} likely label errors" in message and str(paths.LABEL_ISSUES) in message
    assert len(listed) > 0
    assert "given" in (tmp_path / paths.LABEL_REVIEW_PAGE).read_text()


def decisions(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"target": t, "decision": d, "note": "", "reviewer": "r", "date": "2026-01-02", "line": i + 2}
                         for i, (t, d) in enumerate(rows)], columns=empty_decisions().columns)


def test_label_decisions_relabel_keep_and_confirm():
    manifest, flipped = blob_manifest()
    _, _, before = bias.assess(manifest, params_for("bias.label_issues=report"))
    wrong = [i for i in before.suspects["sample_id"] if i in flipped]
    assert len(wrong) >= 3
    sha = dict(zip(manifest["sample_id"], manifest["sha256"], strict=True))
    given = dict(zip(manifest["sample_id"], manifest["label"], strict=True))
    relabel, keep, confirm = wrong[:3]
    report, plan, findings = bias.assess(manifest, params_for("bias.label_issues=report"), decisions(
        (f"sha256:{sha[relabel]}", f"relabel:{flipped[relabel]}"), (f"sha256:{sha[keep]}", "keep"),
        (f"sha256:{sha[confirm]}", "confirm")))
    assert plan["relabelled"] == [{"sample_id": relabel, "sha256": sha[relabel], "from": given[relabel],
                                   "to": flipped[relabel]}]
    assert not {relabel, keep, confirm} & set(plan["not_augmented"])  # the reviewer's word wins
    assert [e["reason_code"] for e in plan["excluded"] if e["sample_id"] == confirm] == ["label_issue"]
    assert report["label_check"]["reviewed"] == {"relabelled": 1, "confirmed_wrong": 1, "kept": 1}
    relabelled = bias.apply_relabels(manifest, plan).set_index("sample_id")["label"]
    assert relabelled[relabel] == flipped[relabel] and relabelled[keep] == given[keep]
    assert manifest.set_index("sample_id").at[relabel, "label"] == given[relabel]  # raw rows are never edited


def test_label_decisions_naming_nothing_fail_with_the_line():
    manifest, _ = blob_manifest()
    with pytest.raises(DecisionsError, match=r"decisions.csv:2: 'sha256:abc' is not a train sample"):
        bias.assess(manifest, params_for(), decisions(("sha256:abc", "keep")))
    some_sha = train_of(manifest)["sha256"].iloc[0]
    with pytest.raises(DecisionsError, match=r"decisions.csv:2: 'relabel:z': 'z' is not a class"):
        bias.assess(manifest, params_for(), decisions((f"sha256:{some_sha}", "relabel:z")))


def test_decisions_file_accepts_label_decisions_only_about_sha256_targets(tmp_path):
    from augmill.tasks.review import read_decisions

    path = tmp_path / "decisions.csv"
    path.write_text("target,decision,note,reviewer,date\nsha256:ab,relabel:7,,r,2026-01-02\nsha256:cd,keep,,r,2026-01-02\n"
                    "sha256:ef,confirm,,r,2026-01-02\n")
    assert read_decisions(path)["decision"].tolist() == ["relabel:7", "keep", "confirm"]
    path.write_text("target,decision,note,reviewer,date\nsha256:ab,reject,,r,2026-01-02\nsome_variant,keep,,r,2026-01-02\n"
                    "sha256:cd,relabel:,,r,2026-01-02\n")
    with pytest.raises(DecisionsError) as failure:
        read_decisions(path)
    assert [line.split(": ")[0] for line in str(failure.value).splitlines()] == [f"{path}:2", f"{path}:3", f"{path}:4"]


def test_a_model_near_chance_lists_suspects_but_does_not_act_on_them():
    manifest, _ = blob_manifest(flips=0)
    # Labels drawn independently of the features: no model can tell the classes apart.
    manifest["label"] = np.random.default_rng(5).permutation(manifest["label"].to_numpy())
    report, plan, findings = bias.assess(manifest, params_for("bias.label_issues=quarantine"))
    assert len(findings.suspects) and "too close to chance" in findings.not_acted_on
    assert plan["not_augmented"] == [] and not plan["excluded"]
    assert report["label_check"]["not_acted_on"] == findings.not_acted_on
    skilled = bias.assess(blob_manifest()[0], params_for("bias.label_issues=quarantine"))[2]
    assert skilled.not_acted_on is None and skilled.setup["out_of_fold_balanced_accuracy"] > 0.8


def test_a_class_with_one_train_sample_skips_the_check_with_the_reason():
    manifest, _ = blob_manifest()
    lone = manifest.index[manifest["split"] == "train"][0]
    manifest.loc[lone, "label"] = "lonely"
    report, plan, findings = bias.assess(manifest, params_for("bias.label_issues=fail"))
    assert "['lonely'] have a single train sample" in findings.skipped
    assert findings.suspects.empty and plan["not_augmented"] == [] and report["label_check"]["suspects"] == 0


def test_report_section_shows_each_listed_suspect_as_its_row_and_each_cluster_seen():
    from augmill.tasks import label_review

    manifest, flipped = blob_manifest()
    copies = manifest.index[(manifest["label"] == "a") & (manifest["split"] == "train")][:3]
    manifest.loc[copies, "sha256"] = "copy"
    report, _, findings = bias.assess(manifest, params_for("bias.label_issues=quarantine"))
    section = label_review.report_section(report["label_check"], manifest, params_for())
    listed = findings.suspects.head(label_review.IN_REPORT)
    assert [card["sample_id"] for card in section["suspects"]] == listed["sample_id"].tolist()
    rows = manifest.set_index("sample_id")
    for card in section["suspects"]:  # given vs suggested, beside the sample's own feature values
        assert card["given_label"] == rows.at[card["sample_id"], "label"] != card["suggested_label"]
        assert dict(card["row"]) == {"f1": rows.at[card["sample_id"], "f1"], "f2": rows.at[card["sample_id"], "f2"]}
    assert section["mode_effect"] == label_review.MODE_EFFECT["quarantine"]
    assert section["cluster_count"] == 1 and section["clusters"][0]["size"] == 3
    assert [card["sample_id"] for card in section["clusters"][0]["looks"]] == sorted(manifest.loc[copies, "sample_id"])
    assert label_review.report_section(None, manifest, params_for()) is None  # bias has not run


def test_the_chosen_regularisation_stops_flagging_clean_samples_an_overfitted_model_gets_wrong():
    """Few samples and many uninformative features (as 16x16 pixels of a small image set): the
    logistic regression at evaluate's C overfits, is confidently wrong on some clean samples and
    flags them beside the flips; the check's choice of C (out-of-fold log loss against the given
    labels) picks a stronger regularisation, which flags the flips and not those clean samples."""
    rng = np.random.default_rng(1)
    truth = np.array(["a"] * 60 + ["b"] * 60)
    signal = np.where(truth == "a", -1.0, 1.0)[:, None] + rng.normal(0, 0.6, (120, 4))
    values = np.hstack([signal, rng.normal(0, 1, (120, 50))])
    flips = rng.choice(120, 10, replace=False)
    given = truth.copy()
    given[flips] = np.where(truth[flips] == "a", "b", "a")
    train = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(120)], "path": "", "sha256": "", "label": given})
    flipped_ids = {f"s{i:03d}" for i in flips}
    params = params_for()

    def flagged(steps: tuple[float, ...]) -> tuple[set[str], float | None]:
        probabilities, strength = label_issues.out_of_fold_choice(values, "dense", given, ["a", "b"], params,
                                                                  steps=steps)
        return set(label_issues.label_suspects(train, probabilities, ["a", "b"])["sample_id"]), strength

    evaluates_c, _ = flagged((1.0,))
    chosen, strength = flagged(label_issues.REGULARISATION_STEPS)
    assert strength is not None and strength < params.evaluate.C
    clean_flagged_before = evaluates_c - flipped_ids
    assert len(clean_flagged_before) >= 3, sorted(evaluates_c)
    assert not (chosen & clean_flagged_before), sorted(chosen & clean_flagged_before)
    assert len(chosen & flipped_ids) >= len(evaluates_c & flipped_ids) - 1


def test_text_keeps_the_evaluate_models_regularisation():
    """TF-IDF text and the CNN have no choice to make: one model, evaluate's."""
    assert label_issues.regularisation_grid("tfidf", params_for()) == [None]
    assert label_issues.regularisation_grid("dense", params_for("evaluate.C=2.0")) == [2.0, 0.2, 0.02]


def test_outlier_distances_do_not_depend_on_the_neighbour_search_chunk():
    """The outliers' nearest neighbours are searched in chunks of NEIGHBOUR_MEMORY_MB (memory at
    20,000 images); a 1 MB chunk (many chunks here) must find the outliers a single chunk finds."""
    rng = np.random.default_rng(5)
    values = np.vstack([rng.normal(size=(597, 16)), 36.0 * np.eye(16)[:3]])  # three points far apart
    train = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(600)], "path": "table.csv", "label": "a"})
    single = label_issues.far_outliers(train, values, "dense", np.ones((600, 1)), ["a"], memory_mb=1024)
    chunked = label_issues.far_outliers(train, values, "dense", np.ones((600, 1)), ["a"], memory_mb=1)
    assert set(single["sample_id"]) >= {"s597", "s598", "s599"}
    pd.testing.assert_frame_equal(chunked, single)


def test_outliers_standardised_in_place_are_the_same():
    """far_outliers(overwrite=True) standardises the caller's features in place (#24: no second
    copy of them at 20,000 images): the same outliers as on a copy; overwrite=False leaves them be."""
    rng = np.random.default_rng(5)
    values = np.vstack([rng.normal(size=(597, 16)), 36.0 * np.eye(16)[:3]]) * 3 + 2  # three points far apart
    train = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(600)], "path": "table.csv", "label": "a"})
    kept = values.copy()
    copied = label_issues.far_outliers(train, values, "dense", np.ones((600, 1)), ["a"])
    assert np.array_equal(values, kept)
    in_place = label_issues.far_outliers(train, values, "dense", np.ones((600, 1)), ["a"], overwrite=True)
    assert not np.array_equal(values, kept)  # standardised where it lay
    assert set(copied["sample_id"]) >= {"s597", "s598", "s599"}
    pd.testing.assert_frame_equal(in_place, copied)


def test_near_duplicate_pairs_as_arrays_match_every_pair_checked():
    """The image near-duplicate pairs, as three arrays (#24: 800,000 pairs as Python tuples held
    ~100 MB), are exactly the pairs within the distance that are not exact copies, in (i, j) order."""
    from augmill.tasks.modalities.image.modality import near_duplicate_pairs

    rng = np.random.default_rng(4)
    base = rng.integers(0, 2**63, size=6, dtype=np.uint64)
    hashes = [int(base[rng.integers(6)]) ^ (1 << int(rng.integers(64))) * int(rng.integers(2)) for _ in range(80)]
    sha = [f"{rng.integers(60):064x}" for _ in range(80)]  # some exact copies
    ok = pd.DataFrame({"phash": [f"{h:016x}" for h in hashes], "sha256": sha})
    expected = [(i, j, bin(hashes[i] ^ hashes[j]).count("1")) for i in range(80) for j in range(i + 1, 80)
                if bin(hashes[i] ^ hashes[j]).count("1") <= 2 and sha[i] != sha[j]]
    first, second, distance = near_duplicate_pairs(ok, 2)
    assert len(expected) > 100
    assert list(zip(first.tolist(), second.tolist(), distance.tolist(), strict=True)) == expected
    assert [len(a) for a in near_duplicate_pairs(ok.iloc[:1], 2)] == [0, 0, 0]


def test_duplicate_clusters_from_pair_arrays_as_from_pair_sets(monkeypatch):
    """duplicate_clusters reads the pairs as sorted arrays (#24); the clusters are the ones the
    set-per-sample reading made, whatever the pairs' order, direction or repeats."""
    rng = np.random.default_rng(9)
    n = 120
    train = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(n)], "label": rng.choice(["a", "b"], n),
                          "sha256": [f"{v:064x}" for v in rng.integers(0, 90, n)]})
    pairs = [(int(i), int(j)) for i, j in rng.integers(0, n, size=(400, 2)) if i != j]
    pairs += pairs[:30]  # repeated, and both directions
    monkeypatch.setattr(label_issues, "near_pairs", lambda frame, params: (np.array([i for i, _ in pairs]),
                                                                          np.array([j for _, j in pairs])))

    def by_sets() -> list[list[str]]:  # the reading before #24
        labels, ids = train["label"].to_numpy(), train["sample_id"].to_numpy()
        close: dict[int, set[int]] = {}
        for i, j in pairs:
            close.setdefault(max(i, j), set()).add(min(i, j))
        first_of_content: dict[str, int] = {}
        leader = np.arange(n)
        for i, sha in enumerate(train["sha256"]):
            if sha in first_of_content and labels[first_of_content[sha]] == labels[i]:
                leader[i] = leader[first_of_content[sha]]
                continue
            first_of_content.setdefault(sha, i)
            earlier = [k for k in sorted(close.get(i, ())) if leader[k] == k and labels[k] == labels[i]]
            if earlier:
                leader[i] = earlier[0]
        groups: dict[int, list[str]] = {}
        for i, lead in enumerate(leader):
            groups.setdefault(int(lead), []).append(str(ids[i]))
        return [members for _, members in sorted(groups.items()) if len(members) > 1]

    clusters = label_issues.duplicate_clusters(train, params_for())
    assert len(clusters) > 5 and clusters == by_sets()
