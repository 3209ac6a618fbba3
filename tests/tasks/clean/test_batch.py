"""The cleaner over a batch: each batch is cleaned with its own evidence."""

from __future__ import annotations

from tasks.batch import Batch, incoming_table
from tasks.clean import CleanConfig
from tasks.clean.batch import clean_documents
from tasks.ingest import Document
from tests.tasks.clean.test_evidence import STORIES, _article


def _batch(index: int, texts: list[str]) -> Batch:
    docs = [Document(f"{index}-{i}", f"s{index}-{i}.txt", t, "utf-8", False)
            for i, t in enumerate(texts)]
    return Batch("run", index, incoming_table(docs))


def test_each_batch_is_cleaned_with_its_own_recurring_lines() -> None:
    """Issue 10, finding 8: the rules were cached with the first batch's recurring lines, so a
    worker's later batches removed the first batch's lines and kept their own."""
    # Title Case, so that only the batch's evidence can remove them (the per-document headline
    # check keeps Title Case lines as the article's own sub-headings)
    first = "More Stories From Our Newsroom"
    second = "Our Readers Also Enjoyed These"
    config = CleanConfig()
    one = clean_documents(_batch(0, [_article(b, first) for b in STORIES[:3]]), config)
    two = clean_documents(_batch(1, [_article(b, second) for b in STORIES[1:4]]), config)
    assert not any(first in t for t in one.incoming.column("clean_text").to_pylist())
    assert not any(second in t for t in two.incoming.column("clean_text").to_pylist())
    assert set(two.tables["edits"].column("rule").to_pylist()) == {"boilerplate_line"}
    assert all(two.tables["edits"].column("reason").to_pylist())


def test_a_document_the_cleaner_fails_on_becomes_a_reject(monkeypatch) -> None:
    """A bug only one document reaches: it is a reject naming the cleaner, the others are
    cleaned as if it were not there, and the cleaned table fits its schema."""
    import tasks.clean.batch
    from schemas.tables import CLEANED_V1

    texts = ["The the cat sat.", "Officials met in Oslo on on Tuesday.", "A dog  barked."]
    expected = clean_documents(_batch(0, texts), CleanConfig())
    real = tasks.clean.batch.clean_text

    def bug_in_one_document(text, *args):  # the real cleaner, failing on one document's text
        if "Oslo" in text:
            raise ValueError("a bug only this document reaches")
        return real(text, *args)

    monkeypatch.setattr(tasks.clean.batch, "clean_text", bug_in_one_document)
    batch = _batch(0, texts)
    batch.cleaner_version, batch.model = "c1", "m1"
    out = clean_documents(batch, CleanConfig())
    assert [(r["doc_id"], r["reason"], r["detail"], r["raw_text"], r["cleaner_version"])
            for r in out.tables["rejects"].to_pylist()] == [
        ("0-1", "processing_error", "the cleaner failed on this document: ValueError: a bug "
         "only this document reaches", texts[1], "c1")]
    assert out.incoming.schema.equals(CLEANED_V1, check_metadata=True)
    keep = expected.incoming.take([0, 2])
    assert out.incoming.to_pylist() == keep.to_pylist()
    for table in ("edits", "flags"):
        assert out.tables[table].to_pylist() == [
            r for r in expected.tables[table].to_pylist() if r["doc_id"] != "0-1"], table
    assert out.tables["edits"].num_rows
