"""The sentence catalogues in hub/locale: complete, and the same placeholders in each language."""

from __future__ import annotations

import string

import pytest

from hub.core import texts


def _fields(sentence: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(sentence) if name}


def test_every_english_sentence_has_its_indonesian_one_with_the_same_placeholders() -> None:
    indonesian, english = texts.catalogue("id"), texts.catalogue("en")
    assert not set(english) - set(indonesian)
    for key, sentence in english.items():
        assert _fields(sentence) == _fields(indonesian[key]), key


def test_an_unknown_language_speaks_indonesian() -> None:
    assert texts.text("jv", "ack_button") == texts.text("id", "ack_button")


def test_a_key_written_in_two_files_is_refused(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "locale" / "id"
    folder.mkdir(parents=True)
    (folder / "a.toml").write_text('hello = "Halo"\n', encoding="utf-8")
    (folder / "b.toml").write_text('hello = "Halo lagi"\n', encoding="utf-8")
    monkeypatch.setattr(texts.resources, "files", lambda _package: tmp_path)
    texts.catalogue.cache_clear()
    try:
        with pytest.raises(texts.DuplicateText, match="hello"):
            texts.catalogue("id")
    finally:
        monkeypatch.undo()
        texts.catalogue.cache_clear()
