"""Ingest: every input document becomes exactly one Document or one Reject with a stable reason."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks import ingest
from tasks.ingest import (
    BadInput,
    Document,
    Limits,
    Reject,
    decode,
    file_path,
    find_sources,
    read_source,
    read_sources,
    sha256_hex,
    source_name,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
LATIN1_TEXT = "Le café est très bon, à côté de la gare. Où est la crème brûlée?"
CP1252_TEXT = "He said \u201chello\u201d \u2014 it\u2019s fine. Price: 5\u20ac."


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read(path: Path, text_column: str = "text") -> list[Document | Reject]:
    return list(read_source(str(path), text_column))


def reasons(items: list[Document | Reject]) -> list[str]:
    return [item.reason if isinstance(item, Reject) else "document" for item in items]


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def gzipped(path: Path) -> Path:
    """Compress ``path`` to ``path.gz`` and remove the original."""
    target = path.with_name(path.name + ".gz")
    target.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return target


# ---------------------------------------------------------------------------------------------
# formats


def test_txt_file_is_one_document(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "The contract was signed.\nIt enters into force today.\n")
    assert read(path) == [
        Document(
            doc_id=sha("The contract was signed.\nIt enters into force today.\n"),
            source=str(path),
            raw_text="The contract was signed.\nIt enters into force today.\n",
            encoding="utf-8",
            encoding_detected=False,
        )
    ]


def test_doc_id_is_sha256_of_raw_text_and_same_text_same_id(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "Same text.")
    b = write(tmp_path / "b.md", "Same text.")
    c = write(tmp_path / "c.jsonl", '{"text": "Same text."}\n')
    ids = {item.doc_id for item in read(a) + read(b) + read(c)}
    assert ids == {hashlib.sha256(b"Same text.").hexdigest()}
    assert sha256_hex("Same text.") == sha256_hex(b"Same text.") == sha("Same text.")


def test_utf8_bom_is_removed(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfHello.")
    [doc] = read(path)
    assert (doc.raw_text, doc.encoding, doc.encoding_detected) == ("Hello.", "utf-8-sig", False)


def test_jsonl_id_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path / "docs.jsonl",
        '{"id": "d1", "text": "First text.", "lang": "en", "score": 0.5}\n'
        '{"text": "Second text."}\n'
        '{"id": 7, "text": "Third text.", "tags": ["a", "b"]}\n',
    )
    assert read(path) == [
        Document(
            sha("First text."),
            f"{path}#1",
            "First text.",
            "utf-8",
            False,
            "d1",
            '{"lang": "en", "score": 0.5}',
        ),
        Document(sha("Second text."), f"{path}#2", "Second text.", "utf-8", False, None, None),
        Document(
            sha("Third text."),
            f"{path}#3",
            "Third text.",
            "utf-8",
            False,
            "7",
            '{"tags": ["a", "b"]}',
        ),
    ]


def test_jsonl_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.ndjson", '{"text": "One."}\n\n   \n{"text": "Two."}\n')
    assert [(d.source, d.raw_text) for d in read(path)] == [
        (f"{path}#1", "One."),
        (f"{path}#4", "Two."),
    ]


CSV_TEXT = (
    "id,text,lang\r\n"
    'r1,"Hello, world.",en\r\n'
    'r2,"She said ""yes"".\nThen she left.",en\r\n'
    "r3,Plain text,fr\r\n"
)


def test_csv_with_embedded_newlines_quotes_and_commas(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.csv", CSV_TEXT)
    assert read(path) == [
        Document(
            sha("Hello, world."),
            f"{path}#1",
            "Hello, world.",
            "utf-8",
            False,
            "r1",
            '{"lang": "en"}',
        ),
        Document(
            sha('She said "yes".\nThen she left.'),
            f"{path}#2",
            'She said "yes".\nThen she left.',
            "utf-8",
            False,
            "r2",
            '{"lang": "en"}',
        ),
        Document(
            sha("Plain text"), f"{path}#3", "Plain text", "utf-8", False, "r3", '{"lang": "fr"}'
        ),
    ]


def test_tsv(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.tsv", 'text\tsource\nTab, separated.\tweb\n"Two\tcells"\tbook\n')
    assert [(d.raw_text, d.metadata) for d in read(path)] == [
        ("Tab, separated.", '{"source": "web"}'),
        ("Two\tcells", '{"source": "book"}'),
    ]


def test_csv_field_longer_than_the_csv_module_default_limit(tmp_path: Path) -> None:
    long_text = "word " * 60_000  # 300 kB, over the csv module's 128 KiB default
    path = write(tmp_path / "long.csv", f'text\n"{long_text}"\n')
    assert [d.raw_text for d in read(path)] == [long_text]


def test_parquet_text_column(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "docs.parquet", {"id": ["p1", "p2"], "text": ["First.", "Second."], "n": [1, 2]}
    )
    assert read(path) == [
        Document(sha("First."), f"{path}#1", "First.", "utf-8", False, "p1", '{"n": 1}'),
        Document(sha("Second."), f"{path}#2", "Second.", "utf-8", False, "p2", '{"n": 2}'),
    ]


def test_parquet_dictionary_encoded_text_column(tmp_path: Path) -> None:
    text = pa.array(["A.", "B.", "A."]).dictionary_encode()
    path = write_parquet(tmp_path / "dict.parquet", {"text": text})
    assert [d.raw_text for d in read(path)] == ["A.", "B.", "A."]


@pytest.mark.parametrize(
    ("name", "data", "texts"),
    [
        ("a.txt", "Gzipped text.", ["Gzipped text."]),
        ("a.jsonl", '{"text": "One."}\n{"text": "Two."}\n', ["One.", "Two."]),
        ("a.csv", CSV_TEXT, ["Hello, world.", 'She said "yes".\nThen she left.', "Plain text"]),
        ("a.tsv", "text\nOne.\nTwo.\n", ["One.", "Two."]),
        ("a.parquet", None, ["One.", "Two."]),
    ],
)
def test_gzip_of_each_format(tmp_path: Path, name: str, data: str | None, texts: list[str]) -> None:
    path = tmp_path / name
    if data is None:
        write_parquet(path, {"text": ["One.", "Two."]})
    else:
        write(path, data)
    gz = gzipped(path)
    items = read(gz)
    assert [d.raw_text for d in items] == texts
    assert all(isinstance(d, Document) and d.source.startswith(str(gz)) for d in items)


def test_text_column_parameter(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "a.jsonl", '{"body": "From JSONL.", "text": "not this"}\n')
    csv_ = write(tmp_path / "b.csv", "text,body\nnot this,From CSV.\n")
    parquet = write_parquet(tmp_path / "c.parquet", {"body": ["From Parquet."]})
    items = list(read_sources([str(jsonl), str(csv_), str(parquet)], text_column="body"))
    assert [(d.raw_text, d.metadata) for d in items] == [
        ("From JSONL.", '{"text": "not this"}'),
        ("From CSV.", '{"text": "not this"}'),
        ("From Parquet.", None),
    ]



@pytest.mark.parametrize(("name", "shown"), [
    (b"plain.txt", "plain.txt"),
    ("caf\u00e9.txt".encode(), "caf\u00e9.txt"),
    (b"dir\\file.txt", "dir\\file.txt"),  # a Windows zip's folder: kept as it is
    (b"latin\xe9name.txt", "latin\\xe9name.txt"),
    (b"lit\\x41.txt", "lit\\x5cx41.txt"),  # a literal "\x41" is not taken for a byte
    (b"both\\x41\xff.txt", "both\\x5cx41\\xff.txt"),
])
def test_a_source_name_is_text_that_gives_the_file_back(name: bytes, shown: str) -> None:
    """Issue 24, finding 2: a name that is not UTF-8 is recorded with its bytes escaped."""
    path = os.fsdecode(b"/data/" + name)
    assert source_name(path) == "/data/" + shown
    assert file_path(source_name(path)) == path
    (source_name(path)).encode("utf-8")  # storable in Parquet


def test_a_file_whose_name_is_not_utf8_is_read_under_its_escaped_name(tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"feed\xe9.jsonl")
    with open(raw, "wb") as fh:
        fh.write(b'{"text": "One."}\n{"text": ""}\n')
    items = read_source(os.fsdecode(raw))
    shown = f"{tmp_path}/feed\\xe9.jsonl"
    assert [(type(i).__name__, i.source) for i in items] == [
        ("Document", f"{shown}#1"), ("Reject", f"{shown}#2")]


# ---------------------------------------------------------------------------------------------
# finding sources


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write(root / "a.txt", "A.")
    write(root / "sub" / "b.jsonl", '{"text": "B."}\n')
    write(root / "sub" / "deeper" / "c.csv", "text\nC.\n")
    write(root / ".hidden.txt", "hidden")
    write(root / "_SUCCESS", "")
    write(root / ".git" / "config.txt", "hidden dir")
    return root


def test_find_sources_file(tree: Path) -> None:
    assert find_sources(tree / "a.txt") == [str(tree / "a.txt")]


def test_find_sources_directory_is_recursive_sorted_and_skips_hidden(tree: Path) -> None:
    assert find_sources(tree) == [
        str(tree / "a.txt"),
        str(tree / "sub" / "b.jsonl"),
        str(tree / "sub" / "deeper" / "c.csv"),
    ]


def test_find_sources_glob(tree: Path) -> None:
    assert find_sources(f"{tree}/**/*.jsonl") == [str(tree / "sub" / "b.jsonl")]
    assert find_sources(f"{tree}/*.txt") == [str(tree / "a.txt")]


def test_find_sources_glob_matching_directories_and_their_files_lists_each_file_once(
    tree: Path,
) -> None:
    # glob itself skips dot-files only; a file the pattern names is taken as asked for
    assert find_sources(f"{tree}/**") == [
        str(tree / "a.txt"),
        str(tree / "sub" / "b.jsonl"),
        str(tree / "sub" / "deeper" / "c.csv"),
        str(tree / "_SUCCESS"),
    ]


def test_find_sources_missing_source(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"does not exist: give a file, a directory or a glob"
    ):
        find_sources(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"matches no file"):
        find_sources(f"{tmp_path}/*.jsonl")


def test_find_sources_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "sub" / "a.txt", "A.")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")  # a file-like symlink to itself
    assert find_sources(root) == [str(root / "self"), str(root / "sub" / "a.txt")]
    assert reasons(list(read_sources(find_sources(root)))) == ["io_error", "document"]


def test_a_source_is_named_by_its_resolved_absolute_path(tmp_path: Path, monkeypatch) -> None:
    """Issue 24, finding 3: the same folder spelled another way was a new corpus. Every
    spelling of a folder or of a file in it gives the file's resolved absolute path, and the
    documents and rejects read from it are recorded under that path."""
    src = tmp_path / "src"
    write(src / "a.txt", "Officials met in Paris.")
    write(src / "feed.jsonl", '{"text": "Rain in Oslo."}\n{"x": 1}\n')
    (tmp_path / "link").symlink_to(src, target_is_directory=True)
    (tmp_path / "a-link.txt").symlink_to(src / "a.txt")
    monkeypatch.chdir(tmp_path)
    real = [str(src / "a.txt"), str(src / "feed.jsonl")]
    for spelling in ["src", "src/../src", "./src/", str(src), "link", f"{tmp_path}/link",
                     "link/../src", "link/*", f"{tmp_path}/src/../link/**"]:
        assert find_sources(spelling) == real, spelling
    assert find_sources("a-link.txt") == find_sources("link/a.txt") == [str(src / "a.txt")]
    items = list(read_sources(find_sources("link/../src")))
    assert [(type(i).__name__, i.source) for i in items] == [
        ("Document", str(src / "a.txt")), ("Document", f"{src}/feed.jsonl#1"),
        ("Reject", f"{src}/feed.jsonl#2")]


def test_a_file_reached_through_a_symlink_too_is_read_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "a.txt", "A.")
    write(root / "sub" / "b.txt", "B.")
    (root / "also-a.txt").symlink_to(root / "a.txt")
    (root / "also-sub").symlink_to(root / "sub", target_is_directory=True)
    assert find_sources(root) == [str(root / "a.txt"), str(root / "sub" / "b.txt")]
    assert find_sources(f"{root}/**") == [str(root / "a.txt"), str(root / "sub" / "b.txt")]


def test_a_link_that_leads_nowhere_keeps_its_name_in_its_real_folder(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "gone.txt").symlink_to(tmp_path / "missing.txt")
    (tmp_path / "link").symlink_to(tmp_path / "src", target_is_directory=True)
    assert find_sources(tmp_path / "link") == [str(tmp_path / "src" / "gone.txt")]
    assert ingest.real_path(str(tmp_path / "link" / "gone.txt")) == str(
        tmp_path / "src" / "gone.txt")


def test_a_source_recorded_as_typed_is_named_by_its_resolved_path(tmp_path: Path) -> None:
    """Earlier versions recorded sources as typed, often relative to the folder the run was
    started in: named now by the file's resolved path, then the row."""
    project = tmp_path / "project"
    write(project / "in" / "a.txt", "A.")
    write(project / "in" / "feed.jsonl", '{"text": "B."}\n')
    write(project / "in" / "y#2", "A file named like a row.")
    raw = os.path.join(os.fsencode(project / "in"), b"latin\xe9.jsonl")
    with open(raw, "wb") as fh:
        fh.write(b'{"text": "C."}\n')
    (tmp_path / "link").symlink_to(project / "in", target_is_directory=True)
    folder = str(project)
    real = project / "in"
    resolved = ingest.resolved_source
    assert resolved("in/a.txt", None, folder) == str(real / "a.txt")
    assert resolved("in/../in/feed.jsonl#1", None, folder) == f"{real}/feed.jsonl#1"
    assert resolved("in/feed.jsonl#3-", None, folder) == f"{real}/feed.jsonl#3-"
    assert resolved("in/y#2", None, folder) == f"{real}/y#2"  # a file of that name: no row
    assert resolved("in/feed.jsonl#1", "in/feed.jsonl", folder) == f"{real}/feed.jsonl#1"
    assert resolved("in/latin\\xe9.jsonl#1", None, folder) == f"{real}/latin\\xe9.jsonl#1"
    assert resolved(f"{tmp_path}/link/a.txt") == str(real / "a.txt")
    assert resolved(f"{tmp_path}/link/feed.jsonl#1", f"{tmp_path}/link/feed.jsonl") == (
        f"{real}/feed.jsonl#1")
    assert resolved(str(real / "a.txt")) == str(real / "a.txt")  # as this version records it


# ---------------------------------------------------------------------------------------------
# bad input: one reject with a stable reason, then the next file


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        (b"", "empty", "is empty or only white space"),
        (b"  \n\t\r\n  ", "empty", "is empty or only white space"),
        (b"\x00" * 64, "binary", "binary data"),
        (PNG, "binary", "is a PNG image, not text"),
        (gzip.compress(b"hello"), "binary", "is gzip data (without a .gz name), not text"),
        ("   \u3000\u2003\n".encode(), "empty", "is empty or only white space"),
    ],
    ids=["empty", "whitespace", "nul-bytes", "png", "gzip-as-txt", "unicode-whitespace"],
)
def test_bad_text_file_is_one_reject_and_the_stream_goes_on(
    tmp_path: Path, data: bytes, reason: str, detail: str
) -> None:
    bad = write(tmp_path / "bad.txt", data)
    good = write(tmp_path / "good.txt", "Good.")
    items = list(read_sources([str(bad), str(good)]))
    assert reasons(items) == [reason, "document"]
    assert items[0].source == str(bad)
    assert items[0].doc_id == hashlib.sha256(data).hexdigest()
    assert detail in items[0].detail and str(bad) in items[0].detail


def test_latin1_text_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.txt", LATIN1_TEXT.encode("latin-1"))
    [doc] = read(path)
    assert (doc.raw_text, doc.encoding, doc.encoding_detected) == (LATIN1_TEXT, "cp1252", True)
    assert doc.doc_id == sha(LATIN1_TEXT)


def test_windows_1252_text_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "cp1252.txt", CP1252_TEXT.encode("cp1252"))
    [doc] = read(path)
    assert (doc.raw_text, doc.encoding, doc.encoding_detected) == (CP1252_TEXT, "cp1252", True)


def test_non_western_legacy_encoding_is_not_forced_to_cp1252() -> None:
    text = "Привет, как дела? Это тест русского текста в кодировке."
    assert decode(text.encode("cp1251")) == (text, "cp1251", True)


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "utf16.txt", "Ünïcode text.\r\n".encode("utf-16"))
    [doc] = read(path)
    assert (doc.raw_text, doc.encoding, doc.encoding_detected) == (
        "Ünïcode text.\r\n",
        "utf-16",
        True,
    )


def test_mixed_line_endings_are_kept_raw(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.txt", b"one\r\ntwo\nthree\rfour")
    [doc] = read(path)
    assert doc.raw_text == "one\r\ntwo\nthree\rfour"


def test_jsonl_broken_line_among_good_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.jsonl", '{"text": "One."}\n{"text": "Two.\n{"text": "Three."}\n')
    items = read(path)
    assert reasons(items) == ["document", "malformed_json", "document"]
    assert [i.source for i in items] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    bad = items[1]
    assert bad.detail == "line 2 is not valid JSON: Unterminated string starting at (column 10)"
    assert bad.raw_text == '{"text": "Two.'
    assert bad.doc_id == hashlib.sha256(b'{"text": "Two.').hexdigest()


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        (
            '["a", "b"]',
            "malformed_json",
            "line 1 is a JSON list, not an object with a 'text' field",
        ),
        (
            '"just a string"',
            "malformed_json",
            "line 1 is a JSON str, not an object with a 'text' field",
        ),
        ('{"body": "x", "id": 1}', "missing_text", "no 'text' field (fields: body, id)"),
        ('{"text": null}', "missing_text", "no 'text' field (fields: text)"),
        ('{"text": 42}', "bad_text_type", "field 'text' is a int, not a string"),
        ('{"text": ["a"]}', "bad_text_type", "field 'text' is a list, not a string"),
        ('{"text": ""}', "empty", "the document is empty or only white space"),
        (
            '{"text": "nul \\u0000 inside"}',
            "binary",
            "the document holds binary data (NUL or control bytes), not text",
        ),
        ("1" * 5000, "malformed_json", "line 1 is not valid JSON: Exceeds the limit"),
        ("[" * 100_000 + "]" * 100_000, "malformed_json", "line 1 is not valid JSON:"),
    ],
    ids=[
        "array",
        "string",
        "no-text",
        "null-text",
        "int-text",
        "list-text",
        "empty-text",
        "nul-text",
        "huge-int",
        "deep-nesting",
    ],
)
def test_jsonl_bad_records(tmp_path: Path, line: str, reason: str, detail: str) -> None:
    path = write(tmp_path / "docs.jsonl", line + '\n{"text": "Good."}\n')
    items = read(path)
    assert reasons(items) == [reason, "document"]
    assert items[0].source == f"{path}#1"
    assert items[0].detail.startswith(detail)


def test_jsonl_lone_surrogate_becomes_replacement_character(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", '{"text": "bad \\ud800 half", "id": "\\udfff"}\n')
    [doc] = read(path)
    assert doc.raw_text == "bad \ufffd half"
    assert doc.external_id == "\ufffd"
    assert doc.encoding == "utf-8+replaced-surrogates"
    assert doc.doc_id == sha("bad \ufffd half")


def test_jsonl_latin1_line_among_utf8_lines(tmp_path: Path) -> None:
    data = (
        b'{"text": "Plain ASCII."}\n'
        + '{"text": "Déjà vu, café crème, très bien."}\n'.encode("latin-1")
        + '{"text": "UTF-8 naïve."}\n'.encode()
    )
    items = read(write(tmp_path / "mixed.jsonl", data))
    assert [(d.raw_text, d.encoding, d.encoding_detected) for d in items] == [
        ("Plain ASCII.", "utf-8", False),
        ("Déjà vu, café crème, très bien.", "cp1252", True),
        ("UTF-8 naïve.", "utf-8", False),
    ]


def test_jsonl_utf16_with_bom(tmp_path: Path) -> None:
    data = '{"text": "One."}\n{"text": "Twö."}\n'.encode("utf-16")
    items = read(write(tmp_path / "wide.jsonl", data))
    assert [(d.source, d.raw_text, d.encoding) for d in items] == [
        (f"{tmp_path / 'wide.jsonl'}#1", "One.", "utf-16"),
        (f"{tmp_path / 'wide.jsonl'}#2", "Twö.", "utf-16"),
    ]


def test_csv_without_the_text_column(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.csv", "id,body,lang\n1,Hello.,en\n")
    [reject] = read(path)
    assert (reject.reason, reject.source) == ("missing_column", str(path))
    assert reject.detail == (
        f"{path} has no 'text' column (columns: id, body, lang); choose one with text_column"
    )


def test_csv_short_row_is_missing_text(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.csv", "id,text\n1\n2,Fine.\n")
    assert reasons(read(path)) == ["missing_text", "document"]


def test_parquet_text_column_of_wrong_type(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "ints.parquet", {"text": [1, 2, 3]})
    [reject] = read(path)
    assert (reject.reason, reject.source) == ("wrong_column_type", str(path))
    assert reject.detail == f"{path}: column 'text' is int64, not a string column"


def test_parquet_without_the_text_column(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "x.parquet", {"body": ["a"], "id": ["1"]})
    [reject] = read(path)
    assert reject.reason == "missing_column"
    assert "(columns: body, id)" in reject.detail


def test_parquet_null_text_is_missing_text(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "x.parquet", {"text": ["One.", None]})
    assert reasons(read(path)) == ["document", "missing_text"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bad.txt.gz", b"\x1f\x8b\x08\x00 this is not deflate data", "corrupt_file"),
        ("bad.parquet", b"PAR1 not really parquet", "corrupt_file"),
        ("bad.parquet.gz", gzip.compress(b"garbage"), "corrupt_file"),
        ("empty.jsonl", b"", "empty"),
        ("blank.jsonl", b"\n\n  \n", "empty"),
        ("header-only.csv", b"id,text\n", "empty"),
        ("empty.csv", b"", "empty"),
        ("image.png", PNG, "unsupported_format"),
        ("archive.tar.gz", gzip.compress(b"x"), "unsupported_format"),
    ],
)
def test_bad_file_is_one_reject(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    bad = write(tmp_path / name, data)
    good = write(tmp_path / "good.txt", "Good.")
    items = list(read_sources([str(bad), str(good)]))
    assert reasons(items) == [reason, "document"]
    assert items[0].source == str(bad)
    assert str(bad) in items[0].detail


def test_truncated_gzip_keeps_the_rows_before_the_cut(tmp_path: Path) -> None:
    """Read as a stream, a cut .jsonl.gz gives the lines before the cut, then one reject."""
    lines = b"".join(b'{"text": "Line %d."}\n' % i for i in range(2000))
    bad = write(tmp_path / "cut.jsonl.gz", gzip.compress(lines)[:-2000])
    good = write(tmp_path / "good.txt", "Good.")
    items = list(read_sources([str(bad), str(good)]))
    kept = len(items) - 2
    assert 0 < kept < 2000
    assert reasons(items) == ["document"] * kept + ["corrupt_file", "document"]
    assert items[-2].source == f"{bad}#{kept + 1}-"
    assert items[-2].detail.startswith(f"{bad} is not a valid gzip file: Compressed file ended")


def test_parquet_with_a_damaged_page_ends_in_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "damaged.parquet"
    table = pa.table({"text": [f"row {i} " * 20 for i in range(3000)]})
    pq.write_table(table, path, row_group_size=1000, compression="none")
    offset = pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset + 10 : offset + 400] = b"\xff" * 390
    path.write_bytes(bytes(data))
    good = write(tmp_path / "good.txt", "Good.")
    items = list(read_sources([str(path), str(good)]))
    assert reasons(items)[-2:] == ["corrupt_file", "document"]
    assert set(reasons(items)[:-2]) <= {"document"}
    assert "Parquet data after row" in items[-2].detail


def test_parquet_with_no_rows_is_an_empty_reject(tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    assert reasons(read(path)) == ["empty"]


def test_unsupported_format_names_the_supported_ones(tmp_path: Path) -> None:
    [reject] = read(write(tmp_path / "image.png", PNG))
    assert reject.detail == (
        f"{tmp_path / 'image.png'}: .png extension is not a supported format "
        "(.csv, .jsonl, .md, .ndjson, .parquet, .text, .tsv, .txt, (any of these).gz)"
    )


# ---------------------------------------------------------------------------------------------
# files that cannot be read


def test_fifo_is_unreadable_and_does_not_block(tmp_path: Path) -> None:
    # Running as root, chmod 000 does not stop reading; a named pipe truly cannot be read as a
    # file (opening it would wait for a writer forever), whoever runs the tests.
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    good = write(tmp_path / "good.txt", "Good.")
    items = list(read_sources(find_sources(tmp_path)))
    assert reasons(items) == ["document", "unreadable"]
    assert (
        items[1].detail == f"{fifo} cannot be read: it is a named pipe (FIFO), not a regular file"
    )
    assert items[0].source == str(good)


def test_directory_named_like_a_file_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").mkdir()
    [reject] = read(tmp_path / "notes.txt")
    assert reject.reason == "unreadable"
    assert "it is a directory" in reject.detail


def test_permission_denied_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 000 is ignored for root, so the denial is simulated where ingest opens files: its
    # bounded reader (limits) and the formats (a Parquet file, a file-level reject's id).
    path = write(tmp_path / "secret.txt", "Secret.")

    def denied(file: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(file))

    for module in (ingest.formats, ingest.limits):
        monkeypatch.setattr(module, "open", denied, raising=False)
    [reject] = read(path)
    assert (reject.reason, reject.source) == ("unreadable", str(path))
    assert reject.detail == f"{path} cannot be read: Permission denied"
    assert reject.doc_id == sha256_hex(f"unreadable:{path}:")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_chmod_000_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", "Secret.")
    path.chmod(0)
    try:
        assert reasons(read(path)) == ["unreadable"]
    finally:
        path.chmod(0o644)


def test_broken_symlink_is_io_error(tmp_path: Path) -> None:
    link = tmp_path / "gone.txt"
    link.symlink_to(tmp_path / "missing.txt")
    assert find_sources(link) == [str(link)]
    [reject] = read(link)
    assert reject.reason == "io_error"
    assert reject.detail == f"{link} cannot be read: No such file or directory"


# ---------------------------------------------------------------------------------------------
# scale and accounting


def test_ten_thousand_tiny_files(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(100):
        sub = root / f"d{i:02d}"
        sub.mkdir(parents=True)
        for j in range(100):
            (sub / f"f{j:02d}.txt").write_bytes(b"Doc %d." % (i * 100 + j))
    paths = find_sources(root)
    assert len(paths) == 10_000
    items = list(read_sources(paths))
    assert len(items) == 10_000
    assert all(isinstance(d, Document) for d in items)
    assert len({d.doc_id for d in items}) == 10_000


def test_decode_20_mb_single_line() -> None:
    data = b"abc def " * (20 * 1024 * 1024 // 8)
    text, encoding, detected = decode(data)
    assert (len(text), encoding, detected) == (20 * 1024 * 1024, "utf-8", False)


def test_read_20_mb_single_line_jsonl(tmp_path: Path) -> None:
    text = "word " * (4 * 1024 * 1024)
    path = write(tmp_path / "big.jsonl", json.dumps({"text": text}) + "\n")
    [doc] = read(path)
    assert doc.raw_text == text


def test_decode_raises_bad_input_with_reason() -> None:
    with pytest.raises(BadInput) as info:
        decode(b"\x00\x01\x02", "the thing")
    assert (info.value.reason, info.value.detail) == (
        "binary",
        "the thing holds binary data (NUL or control bytes), not text",
    )


def test_every_input_document_is_accounted_for(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    write(root / "a.txt", "Plain.")  # 1 input document
    write(root / "b.txt", b"")  # 1
    write(root / "c.txt", PNG)  # 1
    write(root / "d.png", PNG)  # 1
    write(root / "e.jsonl", '{"text": "1"}\nnot json\n{"x": 1}\n{"text": 3}\n\n[1]\n')  # 5
    write(root / "f.csv", 'id,text\n1,"a, b"\n2,\n3,"multi\nline"\n')  # 3
    write(root / "g.csv", "id,body\n1,x\n2,y\n")  # missing column: 1 reject for the file
    write_parquet(root / "h.parquet", {"text": ["p1", None, "p3"]})  # 3
    write_parquet(root / "i.parquet", {"text": [1, 2]})  # wrong type: 1 reject for the file
    write(root / "sub" / "j.txt.gz", b"\x1f\x8bbroken")  # 1
    gzipped(write(root / "sub" / "k.jsonl", '{"text": "gz1"}\n{"text": "gz2"}\n'))  # 2
    os.mkfifo(root / "sub" / "l.txt")  # 1
    write(root / "sub" / "m.txt", LATIN1_TEXT.encode("latin-1"))  # 1
    expected_inputs = 1 + 1 + 1 + 1 + 5 + 3 + 1 + 3 + 1 + 1 + 2 + 1 + 1

    items = list(read_sources(find_sources(root)))
    docs = [i for i in items if isinstance(i, Document)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert len(docs) + len(rejects) == expected_inputs == 22
    assert sorted(d.raw_text for d in docs) == sorted(
        ["Plain.", "1", "a, b", "multi\nline", "p1", "p3", "gz1", "gz2", LATIN1_TEXT]
    )
    assert sorted(r.reason for r in rejects) == sorted(
        [
            "empty",
            "binary",
            "unsupported_format",
            "malformed_json",
            "missing_text",
            "bad_text_type",
            "malformed_json",
            "empty",  # f.csv row 2: empty text
            "missing_column",
            "missing_text",
            "wrong_column_type",
            "corrupt_file",
            "unreadable",
        ]
    )
    assert all(r.detail for r in rejects)


def test_directory_that_cannot_be_listed_becomes_an_unreadable_reject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as root every directory can be listed, so the denial is simulated in os.scandir
    root = tmp_path / "data"
    write(root / "a.txt", "A.")
    write(root / "locked" / "b.txt", "B.")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    paths = find_sources(root)
    monkeypatch.undo()
    assert paths == [str(root / "a.txt"), str(root / "locked")]
    assert reasons(list(read_sources(paths))) == ["document", "unreadable"]


# ---------------------------------------------------------------------------------------------
# oversized and compressed input: bounded memory, a too_large reject, never a failed run

MiB = 1 << 20


def gzip_bomb(path: Path, *parts: tuple[bytes, int]) -> Path:
    """A .gz of concatenated members: ``unit`` repeated to ``size`` bytes for each part.

    Compressing 16 MiB once and repeating the member makes a GiB-sized expansion in a second."""
    with open(path, "wb") as fh:
        for unit, size in parts:
            block = unit * max(1, min(size, 16 * MiB) // len(unit))
            member = gzip.compress(block, compresslevel=9)
            for _ in range(max(1, size // len(block))):
                fh.write(member)
    return path


BOMB_READER = """
import collections, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from tasks.ingest import Limits, Reject, read_sources
seen = collections.Counter()
details = {}
for item in read_sources(sys.argv[4:], limits=Limits(int(sys.argv[2]), int(sys.argv[3]))):
    what = item.reason if isinstance(item, Reject) else "document"
    seen[item.source.rsplit("/", 1)[-1] + " " + what] += 1
    if isinstance(item, Reject):
        details[item.source.rsplit("/", 1)[-1]] = item.detail
# VmHWM, not ru_maxrss: the latter keeps the high-water mark of the process that forked us
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seen": seen, "details": details, "peak_rss_mb": int(hwm.split()[1]) // 1024}))
"""


def test_gzip_bombs_are_too_large_rejects_in_bounded_memory(tmp_path: Path) -> None:
    """1.5 GiB behind a 1.5 MB .gz, read under a 1 GiB address-space limit: the old
    whole-file read died with MemoryError and lost the normal files next to it."""
    bombs = [
        gzip_bomb(tmp_path / "a-one-line.txt.gz", (b"a", 1536 * MiB)),
        gzip_bomb(tmp_path / "b-long-line.jsonl.gz", (b'{"text": "before"}\n', 1),
                  (b"a", 32 * MiB), (b'\n{"text": "after"}\n', 1)),
        gzip_bomb(tmp_path / "c-one-line.jsonl.gz", (b"a", 1536 * MiB)),
        gzip_bomb(tmp_path / "d-many-lines.jsonl.gz", (b'{"text": "%s"}\n' % (b"x" * 1000), 1536 * MiB)),
        gzip_bomb(tmp_path / "e-many-rows.csv.gz", (b"id,text\n", 1),
                  (b"1,%s\n" % (b"y" * 1000), 1536 * MiB)),
    ]
    assert all(b.stat().st_size < 4 * MiB for b in bombs)
    good = [write(tmp_path / "f-good.txt", "Good."),
            write(tmp_path / "g-good.jsonl", '{"text": "Also good."}\n')]
    paths = [str(p) for p in bombs + good]
    run = subprocess.run([sys.executable, "-c", BOMB_READER, str(1024 * MiB), str(MiB),
                          str(64 * MiB), *paths],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    seen = result["seen"]
    many_lines = 64 * MiB // len(b'{"text": "%s"}\n' % (b"x" * 1000))
    many_rows = 64 * MiB // len(b"1,%s\n" % (b"y" * 1000))
    assert seen == {
        "a-one-line.txt.gz too_large": 1,
        "b-long-line.jsonl.gz#1 document": 1,
        "b-long-line.jsonl.gz#2 too_large": 1,
        "b-long-line.jsonl.gz#3 document": 1,
        "c-one-line.jsonl.gz too_large": 1,
        "d-many-lines.jsonl.gz#1 document": 1,  # the same text: one doc_id, many sources
        **{k: v for k, v in seen.items() if k.startswith("d-many-lines.jsonl.gz#") and v == 1},
        f"d-many-lines.jsonl.gz#{many_lines + 1}- too_large": 1,
        **{k: v for k, v in seen.items() if k.startswith("e-many-rows.csv.gz#") and v == 1},
        f"e-many-rows.csv.gz#{many_rows + 1}- too_large": 1,
        "f-good.txt document": 1,
        "g-good.jsonl#1 document": 1,
    }
    assert sum(k.startswith("d-many-lines") for k in seen) == many_lines + 1
    assert sum(k.startswith("e-many-rows") for k in seen) == many_rows + 1
    details = result["details"]
    assert details["a-one-line.txt.gz"].endswith(
        "the file (uncompressed) is larger than 1,048,576 bytes (max_document_bytes); it was not read")
    assert details["b-long-line.jsonl.gz#2"].startswith(f"{bombs[1]}#2: line 2 is larger than")
    assert details["c-one-line.jsonl.gz"] == (
        f"{bombs[2]} expands to more than 67,108,864 bytes (max_file_bytes); split it or raise "
        "the limit")
    assert result["peak_rss_mb"] < 200, result


def test_document_limit_applies_to_every_format(tmp_path: Path) -> None:
    limits = Limits(document_bytes=100, file_bytes=10_000)
    big = "z" * 101
    txt = write(tmp_path / "big.txt", big)
    jsonl = write(tmp_path / "a.jsonl", f'{{"text": "ok"}}\n{{"text": "{big}"}}\n')
    csv_file = write(tmp_path / "a.csv", f"id,text\n1,ok\n2,{big[:90]}\n")
    parquet = write_parquet(tmp_path / "a.parquet", {"text": ["ok", big]})
    items = list(read_sources([str(txt), str(jsonl), str(csv_file), str(parquet)], limits=limits))
    assert [(Path(i.source).name, reasons([i])[0]) for i in items] == [
        ("big.txt", "too_large"), ("a.jsonl#1", "document"), ("a.jsonl#2", "too_large"),
        ("a.csv#1", "document"), ("a.csv#2", "document"),
        ("a.parquet#1", "document"), ("a.parquet#2", "too_large"),
    ]
    assert [i.source for i in read_source(str(txt), limits=Limits(100, 50))] == [str(txt)]


def parquet_bomb(path: Path, rows: int, value_bytes: int, row_group_rows: int | None = None,
                 page_per_value: bool = False) -> Path:
    """Parquet of ``rows`` values of ``value_bytes`` each, zstd: a few KB on disk whose footer
    states the full uncompressed size. By default one row group in one page, as an attacker
    would write it; ``page_per_value`` writes a page per value, as a careful writer would."""
    values = pa.array([f"{i:06d}" + "a" * (value_bytes - 6) for i in range(rows)])
    pq.write_table(pa.table({"text": values}), path, compression="zstd",
                   row_group_size=row_group_rows or rows,
                   **({"write_batch_size": 1, "data_page_size": 1 << 16} if page_per_value
                      else {}))
    return path


def test_parquet_bombs_are_too_large_from_the_footer_in_bounded_memory(tmp_path: Path) -> None:
    """Issue 24, finding 4: a few KB of zstd Parquet stating 192 MiB uncompressed was read
    1,024 rows at a time (the whole file) whatever max_file_bytes said. Now the footer's
    uncompressed sizes count against max_file_bytes before a page is read, rows are read a few
    at a time, and a dictionary that expands past the limit stops where it crosses it."""
    one_page = parquet_bomb(tmp_path / "a-one-page.parquet", 48, 4 * MiB)
    gz = gzipped(parquet_bomb(tmp_path / "b-one-page.parquet", 48, 4 * MiB))
    paged = parquet_bomb(tmp_path / "c-paged.parquet", 48, 4 * MiB - 1024, row_group_rows=8,
                         page_per_value=True)
    dictionary = tmp_path / "d-dictionary.parquet"  # one 2 MiB value, 40 times: 80 MiB
    pq.write_table(pa.table({"text": pa.DictionaryArray.from_arrays(
        pa.array([0] * 40, pa.int32()), pa.array(["d" * (2 * MiB)]))}), dictionary,
        compression="zstd")
    good = write_parquet(tmp_path / "e-good.parquet", {"text": ["Good.", "Also good."]})
    paths = [one_page, gz, paged, dictionary, good]
    assert all(p.stat().st_size < MiB for p in paths)
    run = subprocess.run([sys.executable, "-c", BOMB_READER, str(1024 * MiB), str(8 * MiB),
                          str(64 * MiB), *map(str, paths)],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["seen"] == {
        "a-one-page.parquet too_large": 1,
        "b-one-page.parquet.gz too_large": 1,
        **{f"c-paged.parquet#{n} document": 1 for n in range(1, 17)},  # 2 row groups of 32 MiB
        "c-paged.parquet#17- too_large": 1,
        **{f"d-dictionary.parquet#{n} document": 1 for n in range(1, 33)},  # 32 x 2 MiB
        "d-dictionary.parquet#33- too_large": 1,
        "e-good.parquet#1 document": 1, "e-good.parquet#2 document": 1,
    }
    details = result["details"]
    stated = pq.ParquetFile(one_page).metadata.row_group(0).total_byte_size
    assert details["a-one-page.parquet"] == (
        f"{one_page}: its Parquet footer states {stated:,} bytes uncompressed, more than "
        f"67,108,864 (max_file_bytes); no row was read: split it or raise the limit")
    assert details["c-paged.parquet#17-"].startswith(
        f"{paged}: its Parquet footer states more than 67,108,864 bytes uncompressed up to row "
        "24 (max_file_bytes); rows 17 on were not read")
    assert details["d-dictionary.parquet#33-"].startswith(
        f"{dictionary} expands to more than 67,108,864 bytes (max_file_bytes)")
    assert result["peak_rss_mb"] < 250, result
