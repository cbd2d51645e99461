"""The paraphrase hook (tasks.modalities.text.ops_paraphrase) with a tiny, randomly initialised T5 and a
word-level tokenizer, both built here and saved to tmp_path: nothing is downloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from augmill.tasks.ops.base import OperatorConfigError
from augmill.tasks.ops.policy import build_policy, replay, run_policy

pytest.importorskip("transformers")

WORDS = "the quick brown fox jumps over lazy dog it was a happy day then slept".split()


def tiny_model(folder, seed: int = 0):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {word: i + 3 for i, word in enumerate(WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
    config = T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
                      num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(seed)  # the test's own model; the operator itself holds no random state
    model = T5ForConditionalGeneration(config)
    with torch.no_grad():  # never the special tokens, so the random model writes words until max_new_tokens
        model.lm_head.weight[:3] = 0.0
        model.lm_head.bias = None
        model.lm_head.weight[3:] += 0.5 * torch.sign(model.lm_head.weight[3:])
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return str(tiny_model(tmp_path_factory.mktemp("paraphraser")))


TEXTS = ["the quick brown fox jumps over the lazy dog", "It was a happy day. Then the dog slept!",
         "Café 東京 😀", "!!!"]


@pytest.mark.parametrize("text", TEXTS)
def test_paraphrase_is_deterministic_json_safe_replayable_and_never_empty(model_folder, text):
    policy = build_policy([{"name": "paraphrase", "model": model_folder, "max_new_tokens": 6}], "text")
    out, records = run_policy(policy, np.random.default_rng(1), text)
    again, _ = run_policy(policy, np.random.default_rng(99), text)  # nothing drawn: greedy decoding
    assert out == again and isinstance(out, str) and out.strip()
    stored = json.loads(json.dumps(records))
    assert stored == records
    assert replay(text, stored, "text") == out
    assert stored[0]["params"]["model"] == model_folder and len(stored[0]["params"]["model_sha256"]) == 64


def test_the_model_writes_its_own_words(model_folder):
    text = "the quick brown fox jumps over the lazy dog"
    out, _ = run_policy(build_policy([{"name": "paraphrase", "model": model_folder, "max_new_tokens": 6}], "text"),
                        np.random.default_rng(0), text)
    assert out != text and 1 <= len(out.split()) <= 6 and set(out.split()) <= set(WORDS)


def test_a_changed_model_folder_is_refused_on_replay(tmp_path):
    folder = str(tiny_model(tmp_path / "m", seed=1))
    text = "the lazy dog slept"
    _, records = run_policy(build_policy([{"name": "paraphrase", "model": folder}], "text"),
                            np.random.default_rng(0), text)
    tiny_model(tmp_path / "m", seed=2)  # other weights under the same folder
    with pytest.raises(ValueError, match="model folder .* changed since the op was recorded"):
        replay(text, records, "text")


@pytest.mark.parametrize("config, message", [
    ({}, "got ''"),
    ({"model": "no/such/folder"}, "got 'no/such/folder'; nothing is downloaded"),
    ({"model": "t5-small"}, "got 't5-small'"),  # a hub name is not a folder
])
def test_a_model_that_is_not_a_local_folder_is_refused_naming_the_key(config, message):
    with pytest.raises(OperatorConfigError, match=rf"augment.policy\[0\]: paraphrase.model must be a local folder.*{message}"):
        build_policy([{"name": "paraphrase", **config}], "text")


def test_max_new_tokens_must_be_a_positive_integer(model_folder):
    with pytest.raises(OperatorConfigError, match="paraphrase.max_new_tokens must be an integer >= 1"):
        build_policy([{"name": "paraphrase", "model": model_folder, "max_new_tokens": 0}], "text")


def test_the_text_stage_paraphrases_keeping_labels_lineage_and_replay(model_folder, tmp_path):
    from augmill.tasks.augment import Shard
    from augmill.tasks.modalities.text import modality as text
    from tests.test_text_modality import make_params, sources

    params = make_params(tmp_path)
    params = params.model_copy(update={"augment": params.augment.model_copy(update={"policy": [
        {"name": "paraphrase", "p": 1.0, "model": model_folder, "max_new_tokens": 8},
        {"name": "random_swap", "p": 0.5}]})})
    frame = sources(tmp_path)
    shard = Shard(0, tuple(frame[frame["variants"] > 0].to_dict("records")))
    rows = text.augment_shard(shard, params)
    assert rows == text.augment_shard(shard, params) and len(rows) == 9
    by_source = frame.set_index("sample_id")
    for row in rows:
        ops = json.loads(row["ops"])
        assert row["label"] == by_source.loc[row["source_id"], "label"]
        assert ops[0]["name"] == "paraphrase" and ops[0]["params"]["model"] == model_folder
        assert replay(by_source.loc[row["source_id"], "text"], ops, "text") == row["text"]
