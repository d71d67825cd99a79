"""Tests for the FAQ sentence embeddings (the real bundled model) and their disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faq.semantic import E5Embedder


def test_similar_questions_are_closer_than_unrelated_ones(tmp_path: Path) -> None:
    emb = E5Embedder(cache_path=None)
    q = emb.embed_query("普查员上门要收费吗")
    same, other = emb.embed(["普查收不收钱", "今天天气怎么样"])
    assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-3
    assert float(q @ same) > float(q @ other)
    en = emb.embed_query("Does the census charge a fee?")
    assert float(en @ same) > float(en @ other)  # one model for Chinese and English


def test_cache_survives_a_restart_without_loading_the_model(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "faq.npz"
    first = E5Embedder(cache_path=cache)
    vectors = first.embed(["普查是干什么的", "怎么核实普查员"])
    assert cache.exists()
    second = E5Embedder(cache_path=cache)
    again = second.embed(["怎么核实普查员", "普查是干什么的"])
    assert second._model is None, "cached texts must not need the model"
    assert np.allclose(again, vectors[::-1])


def test_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "faq.npz"
    cache.write_bytes(b"not a numpy file")
    emb = E5Embedder(cache_path=cache)
    assert emb.embed(["普查是干什么的"]).shape == (1, 384)
    assert E5Embedder(cache_path=cache).embed(["普查是干什么的"]).shape == (1, 384)


def test_a_query_embedding_reads_at_most_its_first_tokens() -> None:
    """Long questions are cut to their first `max_tokens` tokens before the engine runs;
    short ones are embedded whole, as one by one."""
    import numpy as np

    from faq.semantic import E5Embedder, _first_tokens

    emb = E5Embedder(None)
    model = emb._load()
    long = "请问一下我们公司是做电镀的，去年换了新的生产线，普查员上门要收费吗，需要准备哪些材料呢"
    cut = _first_tokens(model, long, 32)
    assert long.startswith(cut) and model.token_count(cut, True) <= 32 < model.token_count(
        cut + long[len(cut)], True)
    vecs = emb.embed_queries(["普查员上门要收费吗", long], max_tokens=32)
    assert np.allclose(vecs[0], emb.embed_query("普查员上门要收费吗"))
    assert np.allclose(vecs[1], emb.embed_query(cut))
    assert not np.allclose(vecs[1], emb.embed_query(long))
