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
