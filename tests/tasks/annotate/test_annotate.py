from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.annotate import (
    DEFAULT_MODEL,
    ModelNotFound,
    annotate_documents,
    load_pipeline,
    model_version,
    read_entity_patterns,
)
from tasks.annotate.spacy_pass import pieces, sentence_spans
from tasks.batch import Batch, incoming_table
from tasks.clean import CleanConfig, cleaner_version
from tasks.clean.batch import clean_documents
from tasks.ingest import Document, sha256_hex


def test_pieces_cover_text_and_cut_at_boundaries() -> None:
    text = "\n\n".join(f"Paragraph {i} is here. " * 30 for i in range(200))
    parts = list(pieces(text, limit=5_000))
    assert "".join(p for _, p in parts) == text
    assert all(len(p) <= 5_000 for _, p in parts)
    assert all(text[o:o + len(p)] == p for o, p in parts)
    assert all(p.endswith("\n\n") for _, p in parts[:-1])


def test_pieces_of_one_endless_word() -> None:
    text = "x" * 12_345
    parts = list(pieces(text, limit=1_000))
    assert "".join(p for _, p in parts) == text and len(parts) == 13


def test_model_version_and_pipeline() -> None:
    assert model_version(DEFAULT_MODEL) == f"{DEFAULT_MODEL}==3.8.0"
    nlp = load_pipeline(DEFAULT_MODEL)
    assert "ner" in nlp.pipe_names
    assert "parser" not in nlp.pipe_names and "tagger" not in nlp.pipe_names
    doc = nlp("Ursula Meyer flew to Berlin on Monday. She met officials there.")
    assert [e.label_ for e in doc.ents][:1] == ["PERSON"]
    assert sentence_spans(doc) == [(0, 38), (39, 63)]


SENTENCE_CASES = [
    "",
    "   ",
    "No end at all",
    "One. Two! Three? Four",
    "...leading dots. Then words.",
    "He said \"Stop.\" Then he left.",
    "Prices rose 2.5% in Jan. and Feb. according to the U.S. Census Bureau.",
    "Wait!!! What?! Really?!? Yes.",
    "Line one.\n\nLine two\nwithout end\n\n\n",
    "A list: (a) first; (b) second. - Dash item. \u2014 Em dash.",
    "Ellipsis\u2026 then more. Full stop\u3002 Japanese style\uff01 end",
    "End with space. ",
    "Quote ends.\u201d Next one starts.",
    ". . .",
    "!?",
]


@pytest.mark.parametrize("text", SENTENCE_CASES)
def test_sentence_spans_are_the_sentencizers(text: str) -> None:
    """The array computation gives exactly the sentences spaCy's sentencizer sets."""
    from spacy.pipeline import Sentencizer

    doc = load_pipeline(DEFAULT_MODEL)(text)
    ours = sentence_spans(doc)
    theirs = [(s.start_char, s.end_char) for s in Sentencizer()(doc).sents]
    assert ours == theirs


def test_sentence_spans_match_the_sentencizer_on_the_sample() -> None:
    from spacy.pipeline import Sentencizer

    from tasks.ingest import find_sources, read_sources
    from tests.conftest import REPO

    texts = [d.raw_text for d in read_sources(find_sources(str(REPO / "data" / "raw")))
             if isinstance(d, Document)]
    nlp = load_pipeline(DEFAULT_MODEL)
    n = 0
    for doc in nlp.pipe(texts):
        ours = sentence_spans(doc)
        assert ours == [(s.start_char, s.end_char) for s in Sentencizer()(doc).sents]
        n += len(ours)
    assert n > 100  # the sample has many sentences: the comparison compared something


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Word", "word", "U.S.", "3.5", " ", "  ", "\n", "\n\n", ".",
                                 "!", "?", "...", "\"", "'", "(", ")", "-", "\u2026", "\u3002",
                                 ",", ";", "Dr.", "e.g."]), max_size=40).map("".join))
def test_sentence_spans_are_the_sentencizers_on_any_text(text: str) -> None:
    from spacy.pipeline import Sentencizer

    doc = load_pipeline(DEFAULT_MODEL).make_doc(text)
    assert sentence_spans(doc) == [(s.start_char, s.end_char) for s in Sentencizer()(doc).sents]


def test_unknown_model_names_the_installed_ones() -> None:
    with pytest.raises(ModelNotFound, match=f"Installed pipelines: .*{DEFAULT_MODEL}"):
        model_version("en_core_web_nonexistent")


def test_patterns_file_names_the_bad_line(tmp_path) -> None:
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "GPE", "pattern": "Kyiv"}\n{"label": "GPE"}\n')
    with pytest.raises(ValueError, match=r"patterns.jsonl:2: a pattern needs"):
        model_version(DEFAULT_MODEL, str(patterns))
    with pytest.raises(ValueError, match="cannot be read"):
        model_version(DEFAULT_MODEL, str(tmp_path / "missing.jsonl"))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("[]", '"pattern" is an empty list of token patterns'),
        ('"  "', '"pattern" is an empty phrase'),
        ('[{"LOWERX": "kyiv"}]', "not a valid list of token patterns: Invalid token patterns"),
        ('["kyiv"]', "not a valid list of token patterns: Invalid token patterns"),
    ],
    ids=["empty-list", "blank-phrase", "unknown-attribute", "not-a-dict"],
)
def test_patterns_spacy_would_refuse_are_refused_naming_the_line(tmp_path, pattern: str,
                                                                 message: str) -> None:
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "GPE", "pattern": [{"LOWER": "kyiv"}]}\n'
                        f'{{"label": "X", "pattern": {pattern}}}\n')
    with pytest.raises(ValueError, match=rf"patterns.jsonl:2: {message}"):
        model_version(DEFAULT_MODEL, str(patterns))


def test_example_patterns_load_and_version() -> None:
    from tests.conftest import REPO

    example = str(REPO / "config" / "entity_patterns.example.jsonl")
    assert "+patterns:" in model_version(DEFAULT_MODEL, example)
    nlp = load_pipeline(DEFAULT_MODEL, example)
    assert nlp.pipe_names[-2:] == ["mtclean_model_ents", "entity_ruler"]
    ents = nlp("KYIV, March 3 - Zelenskyy spoke.").ents
    assert [(e.text, e.label_) for e in ents] == [
        ("KYIV", "GPE"), ("March 3", "DATE"), ("Zelenskyy", "PERSON")]


def test_patterns_read_once_are_what_the_batch_uses_and_records(tmp_path) -> None:
    """The flow reads the patterns file once and ships its content: a file changed during the
    run no longer reaches the workers while ``model`` records the old hash."""
    path = tmp_path / "patterns.jsonl"
    path.write_text('{"label": "GPE", "pattern": "Kyiv"}\n')
    patterns = read_entity_patterns(path)
    model = model_version(DEFAULT_MODEL, patterns)
    path.write_text('{"label": "ORG", "pattern": "Kyiv"}\n')  # edited while the run goes on
    text = "Officials met in Kyiv on Monday."
    config = CleanConfig()
    batch = Batch("r1", 0, incoming_table([Document(sha256_hex(text), "a.txt", text, "utf-8",
                                                    False)]),
                  cleaner_version=cleaner_version(config), model=model)
    batch = clean_documents(batch, config)
    batch = annotate_documents(batch, DEFAULT_MODEL, patterns)
    assert [(e["text"], e["label"], e["source"]) for e in batch.tables["entities"].to_pylist()
            ] == [("Kyiv", "GPE", "ruler"), ("Monday", "DATE", "model")]
    assert batch.tables["documents"].column("model").to_pylist() == [model]
    assert model.endswith(f"+patterns:{patterns.sha256[:8]}")
    # the next run reads the file as it is now
    assert model_version(DEFAULT_MODEL, str(path)) != model
    nlp = load_pipeline(DEFAULT_MODEL, str(path))
    assert [(e.text, e.label_) for e in nlp(text).ents if e.text == "Kyiv"] == [("Kyiv", "ORG")]


TEXTS = ["Ursula Meyer flew to Berlin on Monday. She met officials there.",
         "Officials met in Oslo on on Tuesday. Nothing was was agreed.",
         "Paris was quiet on Wednesday."]


def _cleaned(texts: list[str]) -> Batch:
    docs = [Document(sha256_hex(t), f"d{i}.txt", t, "utf-8", False) for i, t in enumerate(texts)]
    return clean_documents(Batch("r1", 0, incoming_table(docs)), CleanConfig())


def _rows(batch: Batch, table: str, without: str = "") -> list[dict]:
    return [r for r in batch.tables[table].to_pylist() if r["doc_id"] != without]


@pytest.mark.parametrize("part", ["mentions_of", "consistent_entities"],
                         ids=["reading-pieces", "document-consistency"])
def test_a_document_whose_annotation_raises_becomes_a_reject(monkeypatch, part: str) -> None:
    """A bug only one document reaches (in the spaCy pass, or in the document-level entity
    decisions): that document is a reject naming the step, the others are annotated as if it
    were not there, and its rows leave every table (its edits too)."""
    import tasks.annotate.spacy_pass

    cleaned = _cleaned(TEXTS)
    bad = sha256_hex(TEXTS[1])
    assert bad in cleaned.tables["edits"].column("doc_id").to_pylist()  # "on on", "was was"
    expected = annotate_documents(cleaned, DEFAULT_MODEL)
    real = getattr(tasks.annotate.spacy_pass, part)

    def bug_in_one_document(*args):  # the real part, failing on one document's text
        if any(isinstance(a, str) and "Oslo" in a for a in args):
            raise RuntimeError("a bug only this document reaches")
        return real(*args)

    monkeypatch.setattr(tasks.annotate.spacy_pass, part, bug_in_one_document)
    out = annotate_documents(cleaned, DEFAULT_MODEL)
    assert [(r["source"], r["reason"], r["detail"], r["raw_text"])
            for r in out.tables["rejects"].to_pylist()] == [
        ("d1.txt", "processing_error", "annotation failed: RuntimeError: a bug only this "
         "document reaches", TEXTS[1])]
    assert out.tables["documents"].column("source").to_pylist() == ["d0.txt", "d2.txt"]
    for table in ("sentences", "entities", "edits", "flags"):
        assert _rows(out, table) == _rows(expected, table, without=bad), table
    assert _rows(out, "entities")  # something was compared
    documents = expected.tables["documents"].drop_columns(["processed_at"]).to_pylist()
    assert out.tables["documents"].drop_columns(["processed_at"]).to_pylist() == [
        documents[0], documents[2]]


def test_annotation_of_a_batch_not_cleaned_fails_the_batch() -> None:
    """A schema problem is no one document's fault: the batch fails, naming what is missing."""
    from tasks.batch import BatchFailed

    batch = Batch("r1", 0, incoming_table([Document(sha256_hex(TEXTS[2]), "d.txt", TEXTS[2],
                                                    "utf-8", False)]))
    with pytest.raises(BatchFailed, match=r"cleaned table does not fit its schema: columns "
                                          r"missing \['clean_text', 'n_edits', 'n_flags'\]"):
        annotate_documents(batch, DEFAULT_MODEL)
    with pytest.raises(BatchFailed, match="is not installed"):  # ModelNotFound is one
        annotate_documents(_cleaned(TEXTS[2:]), "en_core_web_nonexistent")
