from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from schemas.tables import ENTITY_INDEX_V1, ENTITY_INDEX_V3
from tasks.annotate import DEFAULT_MODEL, load_pipeline, mentions_of, model_version
from tasks.entities.document import (
    Mention,
    build_entity_index,
    consistent_entities,
    may_define,
    merge_fragments,
    trim_names,
)


def m(text: str, doc: str, label: str, nth: int = 0, source: str = "model") -> Mention:
    """The ``nth`` occurrence of ``text`` in ``doc`` as a mention the model labelled ``label``."""
    start = -1
    for _ in range(nth + 1):
        start = doc.index(text, start + 1)
    return Mention(start, start + len(text), text, label, label, source)


def decided(mentions: list[Mention]) -> list[tuple[str, str, str, str]]:
    return [(x.text, x.label, x.canonical, x.source) for x in mentions]


def test_split_name_is_merged_across_particles() -> None:
    doc = "European Commission chief Ursula von der Leyen told reporters."
    got = merge_fragments([m("European Commission", doc, "ORG"), m("Ursula von", doc, "PERSON"),
                           m("Leyen", doc, "GPE")], doc)
    assert [(x.text, x.label, x.model_label, x.source) for x in got] == [
        ("European Commission", "ORG", "ORG", "model"),
        ("Ursula von der Leyen", "PERSON", "PERSON|GPE", "merged"),
    ]
    assert doc[got[1].start:got[1].end] == "Ursula von der Leyen"
    # the model's other split: the particle inside the first fragment
    got = merge_fragments([m("Ursula von der", doc, "PERSON"), m("Leyen", doc, "GPE")], doc)
    assert decided(got) == [("Ursula von der Leyen", "PERSON", "", "merged")]


def test_names_next_to_each_other_are_not_merged() -> None:
    doc = "Xi and Putin met. Talks with Zelenskyy de facto stalled. Menon\nvon Berg"
    mentions = [m("Xi", doc, "PERSON"), m("Putin", doc, "PERSON"), m("Zelenskyy", doc, "PERSON"),
                m("Menon", doc, "PERSON"), m("von Berg", doc, "PERSON")]
    assert merge_fragments(mentions, doc) == mentions


def test_same_surface_gets_one_label_by_majority() -> None:
    doc = "Zelenskyy said. Zelenskyy added. Later Zelenskyy spoke. Kyiv agreed, Zelenskyy said."
    got = consistent_entities([m("Zelenskyy", doc, "ORG"), m("Zelenskyy", doc, "GPE", 1),
                               m("Zelenskyy", doc, "GPE", 2), m("Kyiv", doc, "PERSON"),
                               m("Zelenskyy", doc, "GPE", 3)], doc)
    assert [(x.text, x.label, x.model_label) for x in got] == [
        ("Zelenskyy", "GPE", "ORG"), ("Zelenskyy", "GPE", "GPE"), ("Zelenskyy", "GPE", "GPE"),
        ("Kyiv", "PERSON", "PERSON"), ("Zelenskyy", "GPE", "GPE")]


def test_ruler_match_decides_the_label_of_every_mention() -> None:
    doc = "Zelenskyy said. Zelenskyy added. Zelenskyy spoke."
    got = consistent_entities([m("Zelenskyy", doc, "ORG"), m("Zelenskyy", doc, "GPE", 1),
                               m("Zelenskyy", doc, "PERSON", 2, source="ruler")], doc)
    assert [(x.label, x.source) for x in got] == [("PERSON", "model"), ("PERSON", "model"),
                                                  ("PERSON", "ruler")]


def test_short_form_joins_the_full_name() -> None:
    doc = ("Xi spoke to Zelenskyy. Xi also said. \"Xi Jinping does not want it,\" said Rajan "
           "Menon. Xi is ready, Menon added. Menon said.")
    got = consistent_entities([
        m("Xi", doc, "PERSON"), m("Zelenskyy", doc, "PERSON"), m("Xi", doc, "PERSON", 1),
        m("Xi Jinping", doc, "WORK_OF_ART"), m("Rajan Menon", doc, "PERSON"),
        m("Xi", doc, "PERSON", 3), m("Menon", doc, "ORG", 1), m("Menon", doc, "ORG", 2),
    ], doc)
    assert decided(got) == [
        ("Xi", "PERSON", "Xi Jinping", "model"),
        ("Zelenskyy", "PERSON", "Zelenskyy", "model"),
        ("Xi", "PERSON", "Xi Jinping", "model"),
        ("Xi Jinping", "PERSON", "Xi Jinping", "model"),  # a dozen votes beat one long form
        ("Rajan Menon", "PERSON", "Rajan Menon", "model"),
        ("Xi", "PERSON", "Xi Jinping", "model"),
        ("Menon", "PERSON", "Rajan Menon", "model"),  # 2 words x PERSON vs 2 x ORG: longest wins
        ("Menon", "PERSON", "Rajan Menon", "model"),
    ]
    assert got[3].model_label == "WORK_OF_ART"


def test_short_forms_that_are_places_or_ambiguous_stay_apart() -> None:
    doc = ("George Washington was born in Virginia. Washington said. John Smith and Jane Smith "
           "met. Smith left. March began on 3 March.")
    got = consistent_entities([
        m("George Washington", doc, "PERSON"), m("Virginia", doc, "GPE"),
        m("Washington", doc, "GPE", 1), m("John Smith", doc, "PERSON"),
        m("Jane Smith", doc, "PERSON"), m("Smith", doc, "PERSON", 2),
        m("March", doc, "DATE"), m("3 March", doc, "DATE"),
    ], doc)
    assert [(x.text, x.label, x.canonical) for x in got] == [
        ("George Washington", "PERSON", "George Washington"), ("Virginia", "GPE", "Virginia"),
        ("Washington", "GPE", "Washington"), ("John Smith", "PERSON", "John Smith"),
        ("Jane Smith", "PERSON", "Jane Smith"), ("Smith", "PERSON", "Smith"),
        ("March", "DATE", "March"), ("3 March", "DATE", "3 March"),
    ]


def test_surface_forms_ignore_the_and_possessive() -> None:
    doc = "The United States said. the United States' view. United States officials. Kyiv's mayor"
    got = consistent_entities([m("The United States", doc, "GPE"),
                               m("the United States", doc, "GPE"),
                               m("United States", doc, "ORG", 2), m("Kyiv's", doc, "GPE")], doc)
    assert [(x.label, x.canonical) for x in got] == [
        ("GPE", "United States"), ("GPE", "United States"), ("GPE", "United States"),
        ("GPE", "Kyiv")]


def test_names_leave_out_a_leading_the_and_the_possessive() -> None:
    """The real model includes "the" and "'s" in a name's span; the published span does not
    (the project's gold and GUM's are written so); a capitalised title "The" stays."""
    text = ("Officials of the United States met the Democratic Party's leaders and The New York "
            "Times in Ohio.")
    doc = load_pipeline(DEFAULT_MODEL)(text)
    assert [e.text for e in doc.ents][:2] == ["the United States", "the Democratic Party's"]
    got = consistent_entities(mentions_of(doc), text)
    assert [(x.text, x.label, x.canonical, x.model_label) for x in got] == [
        ("United States", "GPE", "United States", "GPE"),
        ("Democratic Party", "ORG", "Democratic Party", "ORG"),
        ("The New York Times", "ORG", "New York Times", "ORG"),
        ("Ohio", "GPE", "Ohio", "GPE"),
    ]
    assert all(text[x.start:x.end] == x.text for x in got)
    # dates and numbers keep their span
    assert decided(trim_names([m("the 1990s", text.replace("Ohio", "the 1990s"), "DATE")],
                              text.replace("Ohio", "the 1990s"))) == [
        ("the 1990s", "DATE", "", "model")]


def test_a_name_does_not_run_into_a_bracket_it_does_not_close() -> None:
    """The model can take the acronym after a name into its span ("World Health Organisation
    (WHO"): the name ends before the bracket, so the definition after it can be read."""
    text = "Experts at the World Health Organisation (WHO) and the Kennedy Space Center (KSC) met."
    got = trim_names([m("World Health Organisation (WHO", text, "ORG"),
                      m("Kennedy Space Center (KSC)", text, "FAC"), m("(KSC", text, "ORG")], text)
    assert decided(got) == [("World Health Organisation", "ORG", "", "model"),
                            ("Kennedy Space Center (KSC)", "FAC", "", "model"),
                            ("(KSC", "ORG", "", "model")]
    assert all(text[x.start:x.end] == x.text for x in got)


def test_ruler_wins_over_the_real_model(tmp_path) -> None:
    text = ("In this case, Putin has indicated to Xi that he is ready to talk to Kyiv, Menon "
            "added. \"Xi Jinping does not want that,\" he said.")
    plain = load_pipeline(DEFAULT_MODEL)
    said = {e.text: e.label_ for e in plain(text).ents}
    assert said["Kyiv"] == "PERSON" and "Xi Jinping" not in said  # the model's noise here

    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "GPE", "pattern": "Kyiv"}\n'
                        '{"label": "PERSON", "pattern": "Xi Jinping", "id": "Xi Jinping"}\n')
    nlp = load_pipeline(DEFAULT_MODEL, str(patterns))
    assert load_pipeline(DEFAULT_MODEL, str(patterns)) is nlp  # cached per process
    got = {x.text: x for x in consistent_entities(mentions_of(nlp(text)), text)}
    assert (got["Kyiv"].label, got["Kyiv"].source, got["Kyiv"].model_label) == (
        "GPE", "ruler", "PERSON")
    assert (got["Xi Jinping"].label, got["Xi Jinping"].source) == ("PERSON", "ruler")
    assert got["Xi Jinping"].model_label is None  # the model saw nothing there
    assert (got["Xi"].label, got["Xi"].canonical) == ("PERSON", "Xi Jinping")
    for x in got.values():
        assert text[x.start:x.end] == x.text

    version = model_version(DEFAULT_MODEL, str(patterns))
    assert version.startswith(f"{DEFAULT_MODEL}==3.8.0+patterns:") and len(version.split(":")[1]) == 8
    patterns.write_text('{"label": "GPE", "pattern": "Kyiv"}\n')
    assert model_version(DEFAULT_MODEL, str(patterns)) != version  # a changed file is noticed


def test_entity_index_counts_each_document_once_in_its_latest_version() -> None:
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    documents = pa.table({"doc_id": ["a", "b", "a"], "run_id": ["r1", "r1", "r2"],
                          "processed_at": pa.array([t1, t1, t2], pa.timestamp("us", tz="UTC"))})
    entities = pa.table({
        "doc_id": ["a", "a", "b", "a", "a"], "run_id": ["r1", "r1", "r1", "r2", "r2"],
        "canonical": ["Kyiv", "Kyiv", "Kyiv", "Kyiv", "Xi Jinping"],
        "label": ["GPE", "GPE", "GPE", "GPE", "PERSON"]})
    index = build_entity_index(entities, documents)
    assert index.schema.equals(ENTITY_INDEX_V3, check_metadata=True)
    rows = index.select(ENTITY_INDEX_V1.names).to_pylist()
    assert rows == [
        {"canonical": "Kyiv", "label": "GPE", "n_documents": 2, "n_mentions": 2,
         "first_seen": t1, "last_seen": t2},
        {"canonical": "Xi Jinping", "label": "PERSON", "n_documents": 1, "n_mentions": 1,
         "first_seen": t2, "last_seen": t2},
    ]
    # nothing to merge: each row is an entity of its own
    assert [(r["entity_canonical"], r["aliases"], r["merge_evidence"])
            for r in index.to_pylist()] == [("Kyiv", [], ""), ("Xi Jinping", [], "")]


def test_entity_index_groups_variants_across_documents() -> None:
    """Issue 'one identity per name': transliterations, a surname, case and an exonym join
    one entity each, with the evidence; two people who share a surname stay apart."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    docs = {"a": [("Volodymyr Zelensky", "PERSON"), ("Kyiv", "GPE")],
            "b": [("Zelenskyy", "PERSON"), ("KYIV", "GPE"), ("John Smith", "PERSON")],
            "c": [("Zelenskiy", "PERSON"), ("Kiev", "GPE"), ("Jane Smith", "PERSON"),
                  ("Zelensky", "ORG")],
            "d": [("Zelensky", "PERSON"), ("Smith", "PERSON")]}
    documents = pa.table({"doc_id": list(docs), "run_id": ["r"] * 4,
                          "processed_at": pa.array([at] * 4, pa.timestamp("us", tz="UTC"))})
    rows = [(d, c, lab) for d, names in docs.items() for c, lab in names]
    entities = pa.table({"doc_id": [r[0] for r in rows], "run_id": ["r"] * len(rows),
                         "canonical": [r[1] for r in rows], "label": [r[2] for r in rows]})
    index = {(r["canonical"], r["label"]): r
             for r in build_entity_index(entities, documents).to_pylist()}
    zelensky = index[("Volodymyr Zelensky", "PERSON")]
    assert zelensky["aliases"] == ["Zelenskiy", "Zelensky", "Zelenskyy"]
    for form in ("Zelensky", "Zelenskyy", "Zelenskiy"):
        row = index[(form, "PERSON")]
        assert (row["entity_id"], row["entity_canonical"], row["entity_label"]) == (
            zelensky["entity_id"], "Volodymyr Zelensky", "PERSON")
    assert index[("Zelensky", "PERSON")]["merge_evidence"].count("short form: surname of the "
                                                                 "full name 'Volodymyr Zelensky'")
    assert "transliteration" in index[("Zelenskyy", "PERSON")]["merge_evidence"]
    assert index[("Zelensky", "ORG")]["entity_id"] != zelensky["entity_id"]  # another family
    kyiv = index[("Kyiv", "GPE")]
    assert (kyiv["aliases"], index[("Kiev", "GPE")]["entity_id"]) == (["KYIV", "Kiev"],
                                                                      kyiv["entity_id"])
    assert "exonym" in index[("Kiev", "GPE")]["merge_evidence"]
    assert "same name (case)" in index[("KYIV", "GPE")]["merge_evidence"]
    smiths = {index[(n, "PERSON")]["entity_id"] for n in ("John Smith", "Jane Smith", "Smith")}
    assert len(smiths) == 3
    assert index[("Smith", "PERSON")]["merge_evidence"] == ""


def test_entity_index_joins_an_acronym_its_latest_text_defines() -> None:
    """The clean text of a document's latest version defines KPA; an earlier version that only
    named the two side by side would not have, and the BBC beside an invented Bristol Business
    Council in another document stays apart."""
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    texts = {("a", "r1"): "The KPA and the Korean People's Army were both named.",
             ("a", "r2"): "The Korean People's Army [KPA] moved; the KPA said so.",
             ("b", "r2"): "Gareth Hale of the Bristol Business Council told the BBC so."}
    names = ["KPA", "Korean People's Army", "Bristol Business Council", "BBC"]
    rows = [(d, r, n, text.index(n)) for (d, r), text in texts.items() for n in names
            if n in text]
    documents = pa.table({"doc_id": ["a", "a", "b"], "run_id": ["r1", "r2", "r2"],
                          "processed_at": pa.array([t1, t2, t2], pa.timestamp("us", tz="UTC")),
                          "clean_text": list(texts.values())})
    entities = pa.table({"doc_id": [x[0] for x in rows], "run_id": [x[1] for x in rows],
                         "canonical": [x[2] for x in rows], "label": ["ORG"] * len(rows),
                         "start_char": [x[3] for x in rows],
                         "end_char": [x[3] + len(x[2]) for x in rows]})
    assert may_define(entities) == {"a", "b"}
    index = {r["canonical"]: r for r in build_entity_index(entities, documents).to_pylist()}
    assert index["KPA"]["entity_canonical"] == "Korean People's Army"
    assert index["KPA"]["merge_evidence"].endswith(
        "acronym: KPA = Korean People's Army (defined in 1 document)")
    assert index["BBC"]["entity_id"] != index["Bristol Business Council"]["entity_id"]
    # the earlier version is the latest when processed later: it defines nothing
    earlier = documents.set_column(2, "processed_at",
                                   pa.array([t2, t1, t2], pa.timestamp("us", tz="UTC")))
    index = {r["canonical"]: r for r in build_entity_index(entities, earlier).to_pylist()}
    assert index["KPA"]["entity_id"] != index["Korean People's Army"]["entity_id"]
    # without the texts (or the spans), nothing is defined
    plain = build_entity_index(entities, documents.drop_columns(["clean_text"])).to_pylist()
    assert len({r["entity_id"] for r in plain}) == 4


def test_caps_dateline_and_headline_are_read_re_cased_and_kept_as_written() -> None:
    """Issue 15: the small model calls UKRAINE an ORG and misses names in an ALL-CAPS headline;
    read re-cased, they are found, at the same offsets, with the text as written."""
    import hashlib

    from tasks.annotate import annotate_documents
    from tasks.batch import Batch, incoming_table
    from tasks.clean import CleanConfig
    from tasks.clean.batch import clean_documents
    from tasks.ingest import Document

    text = ("ZELENSKY MEETS XI IN BEIJING\n\n"
            "KYIV, UKRAINE (Wire) \u2014 Zelensky flew from Kyiv to Beijing, where Xi greeted "
            "him. Officials in Ukraine called the talks useful.")
    plain = {e.text: e.label_ for e in load_pipeline(DEFAULT_MODEL)(text).ents}
    assert plain.get("UKRAINE") != "GPE" and "ZELENSKY" not in plain  # the model alone
    doc = Document(hashlib.sha256(text.encode()).hexdigest(), "t.txt", text, "utf-8", False)
    batch = clean_documents(Batch("r", 0, incoming_table([doc])), CleanConfig())
    batch = annotate_documents(batch, DEFAULT_MODEL)
    ents = batch.tables["entities"].to_pylist()
    found = {(e["text"], e["label"]) for e in ents}
    assert {("ZELENSKY", "PERSON"), ("UKRAINE", "GPE"), ("BEIJING", "GPE")} <= found
    for e in ents:
        assert text[e["raw_start"]:e["raw_end"]] == e["text"]
    sentences = batch.tables["sentences"].to_pylist()
    assert sentences[0]["text"].startswith("ZELENSKY MEETS XI IN BEIJING")  # as written


def test_variants_across_documents_share_an_entity_with_the_real_model() -> None:
    """From text to entity_index: what the real model reads as people in four wire items."""
    import hashlib

    from tasks.annotate import annotate_documents
    from tasks.batch import Batch, incoming_table
    from tasks.clean import CleanConfig
    from tasks.clean.batch import clean_documents
    from tasks.ingest import Document

    texts = ["Ukrainian President Volodymyr Zelensky met European leaders on Monday.",
             "Mr Zelenskyy told reporters he would travel to Warsaw next week.",
             "Zelensky said on Friday that aid was arriving.",
             "Volodymyr Zelenskiy told reporters in Kiev that the talks had gone well."]
    docs = [Document(hashlib.sha256(t.encode()).hexdigest(), f"{i}.txt", t, "utf-8", False)
            for i, t in enumerate(texts)]
    batch = clean_documents(Batch("r", 0, incoming_table(docs)), CleanConfig())
    batch = annotate_documents(batch, DEFAULT_MODEL)
    index = {(r["canonical"], r["label"]): r for r in build_entity_index(
        batch.tables["entities"], batch.tables["documents"]).to_pylist()}
    zelensky = index[("Volodymyr Zelensky", "PERSON")]
    assert zelensky["aliases"] == ["Zelensky", "Zelenskyy"]
    assert index[("Zelenskyy", "PERSON")]["entity_id"] == zelensky["entity_id"]
    assert "romanisation" in index[("Zelenskyy", "PERSON")]["merge_evidence"]
    # the small model calls this one an ORG: other label family, so its own entity (a limit)
    assert index[("Volodymyr Zelenskiy", "ORG")]["entity_id"] != zelensky["entity_id"]
