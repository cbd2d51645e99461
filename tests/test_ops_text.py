"""Tests for the text operators: the sample/apply/replay contract for every
registered operator, what each operator does (a swap keeps the words, a deletion
only removes, a synonym replacement only swaps non-stop words for thesaurus
synonyms), hard inputs (Unicode, emoji, very long, one word), the tokeniser
they share, the thesaurus reader, and config validation."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augmill.tasks.modalities.text.lexicon import STOP_WORDS, SynonymFileError, load_lexicon, parse_synonyms
from augmill.tasks.modalities.text.tokens import Tokenised, join_sentences, match_case, split_sentences, tokens
from augmill.tasks.ops import policy
from augmill.tasks.ops.base import OperatorConfigError

TEXT_OPS = policy.operators_for("text")
LEXICON = load_lexicon()

SAMPLES = {
    "plain": "The quick brown fox jumps over the lazy dog. It was a happy day! Then the dog slept.",
    "unicode": "Café crème brûlée — naïve coöperation, 東京 and Zürich are big cities. Ça va?",
    "emoji": "I love this phone 😍🔥 it is fast and small, great camera 📷!",
    "one_word": "Happy",
    "caps": "DO NOT COMPLAIN IF THE TREATMENT FAILS TO BRING RELIEF.",
    "contractions": "I can't say I'm sure, but we're not leaving. You do not know what it is about.",
    "spacing": "  Two  spaces\tand a tab.\n\nNew paragraph here.  ",
    "long": " ".join(["The small program reads a large file and writes a short report."] * 400),
    "no_words": "!!! 😀😀 ???",
}


def apply_op(name: str, text: str, **params) -> str:
    # As replay does: an instance built without __init__, so apply can use only its params.
    cls = TEXT_OPS[name]
    return cls.__new__(cls).apply(text, **params)


def sample_and_apply(name: str, text: str, seed: int = 0, **config) -> tuple[str, dict]:
    op = TEXT_OPS[name](**config)
    params = op.sample(np.random.default_rng(seed), text)
    return op.apply(text, **params), params


def words(text: str) -> list[str]:
    return Tokenised.of(text).words


def non_word_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if not Tokenised.of(t).word_positions]


# --- the contract, for every operator ----------------------------------------------


def test_every_registered_text_operator_is_tested():
    assert set(TEXT_OPS) == {"synonym_replacement", "random_insertion", "random_swap", "random_deletion",
                             "sentence_shuffle", "contractions", "keyboard_typo", "ocr_noise"}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("name", sorted(TEXT_OPS))
def test_contract_deterministic_replayable_never_empty(name, sample):
    text = SAMPLES[sample]
    op = TEXT_OPS[name]()
    params = op.sample(np.random.default_rng(42), text)
    assert op.sample(np.random.default_rng(42), text) == params
    assert json.loads(json.dumps(params)) == params, "params must be JSON-safe as they are"
    out = op.apply(text, **params)
    assert isinstance(out, str) and out.strip(), "a non-empty text never becomes empty"
    assert op.apply(text, **params) == out
    records = json.loads(json.dumps([{"name": name, "params": params}]))
    assert policy.replay(text, records, "text") == out


@pytest.mark.parametrize("name", sorted(TEXT_OPS))
def test_operators_change_a_text_that_offers_them_something(name):
    # (A swap of two equal words, "the" and "the", would change nothing: all words differ here.)
    text = {"contractions": SAMPLES["contractions"], "random_swap": "One two three, four five six seven."}.get(
        name, SAMPLES["plain"])
    changed = {sample_and_apply(name, text, seed)[0] != text for seed in range(5)}
    assert changed == {True}


# Configs far from the defaults: an apply that read its config instead of its params
# would diverge from the recorded params on replay.
NON_DEFAULT = {"synonym_replacement": {"alpha": (0.5, 0.6)}, "random_insertion": {"alpha": (0.4, 0.5)},
               "random_swap": {"alpha": (0.5, 0.5)}, "random_deletion": {"alpha": (0.4, 0.5)},
               "contractions": {"alpha": (1.0, 1.0)}, "keyboard_typo": {"alpha": (0.5, 0.6)},
               "ocr_noise": {"alpha": (0.7, 0.8)}}


@pytest.mark.parametrize("name", sorted(TEXT_OPS))
def test_replay_depends_on_params_not_config(name):
    op = TEXT_OPS[name](**NON_DEFAULT.get(name, {}))
    text = SAMPLES["contractions"] + " " + SAMPLES["plain"]
    out, records = policy.run_policy([op], np.random.default_rng(9), text)
    assert policy.replay(text, records, "text") == out


@pytest.mark.parametrize("name", sorted(TEXT_OPS))
def test_sampling_uses_only_the_given_generator(name):
    op = TEXT_OPS[name]()
    np.random.seed(0)
    first = op.sample(np.random.default_rng(7), SAMPLES["plain"])
    np.random.seed(1)
    assert op.sample(np.random.default_rng(7), SAMPLES["plain"]) == first


# --- what each operator does --------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("seed", range(4))
def test_random_swap_keeps_the_multiset_of_words_and_everything_else_in_place(sample, seed):
    text = SAMPLES[sample]
    out, _ = sample_and_apply("random_swap", text, seed, alpha=(0.3, 0.3))
    assert Counter(words(out)) == Counter(words(text))
    assert non_word_tokens(out) == non_word_tokens(text)


def test_random_swap_count_follows_alpha_as_in_eda():
    text = SAMPLES["plain"]  # 18 words
    _, params = sample_and_apply("random_swap", text, 0, alpha=(0.2, 0.2))
    assert len(params["swaps"]) == int(0.2 * 18)
    _, params = sample_and_apply("random_swap", "two words", 0, alpha=(0.01, 0.01))
    assert len(params["swaps"]) == 1  # at least one


def is_subsequence(short: str, long: str) -> bool:
    remaining = iter(long)
    return all(character in remaining for character in short)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("seed", range(4))
def test_random_deletion_only_removes_and_keeps_a_word(sample, seed):
    text = SAMPLES[sample]
    out, params = sample_and_apply("random_deletion", text, seed, alpha=(0.5, 0.9))
    assert is_subsequence(out, text), "a deletion may only remove characters"
    assert not Counter(words(out)) - Counter(words(text))
    remaining = len(words(text)) - len(params["deletions"])
    assert len(words(out)) == remaining and (remaining >= 1 or not words(text))
    assert non_word_tokens(out).count(".") == non_word_tokens(text).count(".")
    if len(words(text)) >= 2:
        assert params["deletions"], "at least one word goes"


def test_random_deletion_leaves_no_double_space():
    assert apply_op("random_deletion", "a b c d", deletions=[1, 2]) == "a d"
    assert apply_op("random_deletion", "Hello, big world!", deletions=[1]) == "Hello, world!"
    assert apply_op("random_deletion", "first second", deletions=[1]) == "first"


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("seed", range(4))
def test_synonym_replacement_changes_only_non_stop_words_to_listed_synonyms(sample, seed):
    text = SAMPLES[sample]
    out, params = sample_and_apply("synonym_replacement", text, seed, alpha=(0.3, 0.3))
    before, after = Tokenised.of(text), Tokenised.of(out)
    assert non_word_tokens(out) == non_word_tokens(text)
    assert len(before.words) == len(after.words)  # the bundled thesaurus has single words only
    replaced = {index for index, _ in params["replacements"]}
    for index, (old, new) in enumerate(zip(before.words, after.words, strict=True)):
        if index not in replaced:
            assert old == new
            continue
        assert old.lower() not in STOP_WORDS
        assert new.lower() in LEXICON.synonyms(old)
        assert new == match_case(old, new.lower()), "the replacement takes the case of the word it replaces"


def test_synonym_replacement_keeps_case_and_skips_names():
    out, params = sample_and_apply("synonym_replacement", "HAPPY people", 0, alpha=(1.0, 1.0))
    assert out.split()[0].isupper() and out.split()[0] != "HAPPY"
    # "Grover" mid-sentence is a name; "happy" is a word. Only the word may change.
    text = "The president Grover was happy"
    for seed in range(10):
        out, params = sample_and_apply("synonym_replacement", text, seed, alpha=(1.0, 1.0))
        assert "Grover" in out and "president" not in {w for i, w in params["replacements"]}
        assert all(words(text)[i] not in ("The", "was") for i, _ in params["replacements"])


def test_synonym_replacement_count_follows_alpha():
    text = SAMPLES["plain"]
    _, params = sample_and_apply("synonym_replacement", text, 1, alpha=(0.2, 0.2))
    assert len(params["replacements"]) == int(0.2 * 18)


@pytest.mark.parametrize("seed", range(6))
def test_random_insertion_adds_synonyms_of_words_of_the_text(seed):
    text = SAMPLES["plain"]
    out, params = sample_and_apply("random_insertion", text, seed, alpha=(0.2, 0.2))
    added = Counter(words(out)) - Counter(words(text))
    assert sum(added.values()) == len(params["insertions"]) == int(0.2 * 18)
    assert not Counter(words(text)) - Counter(words(out)), "an insertion removes nothing"
    anchors = {w.lower() for w in words(text) if w.lower() not in STOP_WORDS}
    for word in added:
        assert any(word in LEXICON.synonyms(anchor) for anchor in anchors)
    assert non_word_tokens(out).count(".") == non_word_tokens(text).count(".")


def test_random_insertion_positions_and_order():
    assert apply_op("random_insertion", "a b", insertions=[[0, "x"], [2, "y"], [1, "z"], [0, "w"]]) == "x w a z b y"


def test_sentence_shuffle_permutes_sentences_and_keeps_the_spacing():
    text = "One. Two!  Three? Four."
    out = apply_op("sentence_shuffle", text, order=[3, 2, 1, 0])
    assert out == "Four. Three?  Two! One."
    for seed in range(10):
        out, params = sample_and_apply("sentence_shuffle", text, seed)
        assert sorted(params["order"]) == [0, 1, 2, 3] and params["order"] != [0, 1, 2, 3]
        assert sorted(split_sentences(out)[0]) == sorted(split_sentences(text)[0])
    single = "Only one sentence here"
    assert sample_and_apply("sentence_shuffle", single)[0] == single
    with pytest.raises(ValueError, match="sentence_shuffle"):
        apply_op("sentence_shuffle", text, order=[0, 1])


def test_sentence_split_respects_abbreviations_and_quotes():
    sentences, separators = split_sentences(' Dr. Smith said "Go home." Then e.g. he left. Done ')
    assert sentences == ['Dr. Smith said "Go home."', "Then e.g. he left.", "Done"]
    assert separators == [" ", " ", " ", " "]


def test_contractions_expand_and_form_only_safe_ones():
    text = "I can't go. Do not wait! It is late and I am tired. I know what it is."
    out = apply_op("contractions", text, edits=TEXT_OPS["contractions"]().sample(
        np.random.default_rng(0), text)["edits"])
    assert out != text
    everything = TEXT_OPS["contractions"](alpha=(1.0, 1.0))
    out, _ = sample_and_apply("contractions", text, 0, alpha=(1.0, 1.0))
    assert out == "I cannot go. Don't wait! It's late and I'm tired. I know what it is."
    assert everything.sample(np.random.default_rng(0), "It's his and he'd go") == {"edits": []}  # 's, 'd: ambiguous
    assert sample_and_apply("contractions", "DO NOT ENTER", 0)[0] == "DON'T ENTER"
    assert sample_and_apply("contractions", "We don’t know", 0)[0] == "We do not know"


# --- hard inputs --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEXT_OPS))
def test_very_long_text_is_replayable(name):
    # Speed is measured by benchmarks/text_augment.py, run by hand; a test asserts no timing.
    text = SAMPLES["long"]  # 4,800 words
    out, params = sample_and_apply(name, text, 3)
    assert isinstance(out, str) and out.strip()
    assert policy.replay(text, [{"name": name, "params": params}], "text") == out


@pytest.mark.parametrize("name", sorted(TEXT_OPS))
def test_one_word_and_wordless_texts(name):
    for text in ("Happy", "word", "😀", "!!!"):
        out, _ = sample_and_apply(name, text, 0, **({} if name in ("sentence_shuffle", "contractions") else
                                                  {"alpha": (1.0, 1.0)}))
        if name in ("keyboard_typo", "ocr_noise"):  # characters, not words: letters change, nothing else
            eligible = any(TEXT_OPS[name]().choices(char) for char in text if char.isascii())
            assert len(out) == len(text) and (out != text) == eligible
        else:
            assert out.strip() and (name in ("synonym_replacement", "random_insertion") or out == text)


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200)
       .filter(lambda t: t.strip()),
       seed=st.integers(0, 2**32 - 1))
def test_full_policy_on_any_text_replays_and_never_empties(text, seed):
    assert join_sentences(*split_sentences(text)) == text
    ops = policy.build_policy([{"name": name, "p": 1.0} for name in sorted(TEXT_OPS)], "text")
    out, records = policy.run_policy(ops, np.random.default_rng(seed), text)
    assert out.strip()
    assert policy.replay(text, json.loads(json.dumps(records)), "text") == out


def test_tokens_join_back_to_the_text():
    for text in SAMPLES.values():
        assert "".join(tokens(text)) == text
    assert Tokenised.of("don't well-known e-mail 42").words == ["don't", "well-known", "e-mail", "42"]


def test_match_case():
    assert match_case("Happy", "glad") == "Glad"
    assert match_case("HAPPY", "glad") == "GLAD"
    assert match_case("happy", "glad") == "glad"
    assert match_case("happy", "MI") == "MI"  # a replacement's own capitals are kept


# --- thesaurus ----------------------------------------------------------------------


def test_bundled_wordnet_table_is_there_and_sensible():
    assert len(LEXICON) > 30_000
    assert "large" in LEXICON.synonyms("big")
    assert "attorney" in LEXICON.synonyms("Lawyer")
    assert LEXICON.synonyms("the") == ()


def test_solr_synonym_format():
    table = parse_synonyms("# comment\nheart attack, myocardial infarction, MI\n\ndoc, medic => physician\n", "f")
    assert table["mi"] == {"heart attack", "myocardial infarction"}
    assert table["doc"] == {"physician"} and table["medic"] == {"physician"}
    assert "heart attack" not in table and "physician" not in table
    with pytest.raises(SynonymFileError, match="f:2: empty term"):
        parse_synonyms("a, b\na,, c\n", "f")
    with pytest.raises(SynonymFileError, match="more than one"):
        parse_synonyms("a => b => c", "f")


def test_a_user_thesaurus_and_stop_words_are_used(tmp_path):
    path = tmp_path / "medical.txt"
    path.write_text("fever, pyrexia\npatient => case\n", encoding="utf-8")
    lexicon = load_lexicon((str(path),), ("patient",))
    (op,) = policy.build_policy([{"name": "synonym_replacement", "alpha": [1.0, 1.0]}], "text")
    bound = op.with_lexicon(lexicon)
    text = "The patient has a FEVER"
    out = bound.apply(text, **bound.sample(np.random.default_rng(0), text))
    assert out == "The patient has a PYREXIA"  # "patient" is now a stop word; case kept
    assert op.sample(np.random.default_rng(0), text) != bound.sample(np.random.default_rng(0), text)


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize("entry", [{"name": "random_swap", "alpha": [0.5, 0.1]},
                                   {"name": "random_deletion", "alpha": [0, 1.5]},
                                   {"name": "synonym_replacement", "alpha": "some"},
                                   {"name": "contractions", "alpha": [0.2]}])
def test_invalid_alpha_is_rejected_naming_operator_and_field(entry):
    with pytest.raises(OperatorConfigError, match=f"{entry['name']}.alpha"):
        policy.build_policy([entry], "text")


def test_unknown_option_and_image_operator_are_rejected():
    with pytest.raises(OperatorConfigError, match="unknown option"):
        policy.build_policy([{"name": "random_swap", "n": 3}], "text")
    with pytest.raises(OperatorConfigError, match="unknown text operator 'rotate'"):
        policy.build_policy([{"name": "rotate"}], "text")
    with pytest.raises(OperatorConfigError, match="sentence_shuffle"):
        policy.build_policy([{"name": "sentence_shuffle", "alpha": [0.1, 0.2]}], "text")


def test_yaml_lists_become_hashable_pairs():
    (op,) = policy.build_policy([{"name": "random_swap", "alpha": [0.1, 0.2], "p": 0.5}], "text")
    assert op.alpha == (0.1, 0.2)
    hash(op)


@pytest.mark.parametrize("seed", range(5))
def test_character_noise_changes_only_eligible_characters_to_their_table(seed):
    from augmill.tasks.modalities.text.ops_noise import KEYBOARD, OCR_CONFUSIONS

    text = SAMPLES["unicode"] + " " + SAMPLES["plain"] + " 0O1lI5S8B"
    for name, table in (("keyboard_typo", KEYBOARD), ("ocr_noise", OCR_CONFUSIONS)):
        out, params = sample_and_apply(name, text, seed, alpha=(0.2, 0.2))
        changed = [i for i, (a, b) in enumerate(zip(text, out, strict=True)) if a != b]
        assert changed and changed == sorted({position for position, _ in params["edits"]})
        for i in changed:
            expected = table[text[i].lower()].upper() if name == "keyboard_typo" and text[i].isupper() else \
                table.get(text[i].lower() if name == "keyboard_typo" else text[i], "")
            assert text[i].isascii() and out[i] in expected, (name, text[i], out[i])
        eligible = sum(1 for c in text if c.isascii() and (table.get(c.lower()) if name == "keyboard_typo" else table.get(c)))
        assert len(changed) == max(1, int(0.2 * eligible))


def test_keyboard_neighbours_are_adjacent_keys():
    from augmill.tasks.modalities.text.ops_noise import KEYBOARD

    assert KEYBOARD["s"] == "adewxz" and KEYBOARD["p"] == "0lo" and KEYBOARD["m"] == "jkn" and KEYBOARD["q"] == "12aw"
