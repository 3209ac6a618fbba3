-- DuckDB views over the tables: `.read store/views.sql` in the duckdb shell, from the folder
-- that holds `output/` (from Python, for any output: store.views_sql(path)).
-- *_all: every version of every document. current_*: one row per document, its latest
-- version (latest processed_at, then the latest run), and the child rows of that version.
CREATE OR REPLACE VIEW documents_all AS
    SELECT * FROM read_parquet('output/documents/**/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW edits_all AS
    SELECT * FROM read_parquet('output/edits/**/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW flags_all AS
    SELECT * FROM read_parquet('output/flags/**/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW sentences_all AS
    SELECT * FROM read_parquet('output/sentences/**/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW entities_all AS
    SELECT * FROM read_parquet('output/entities/**/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW rejects_all AS
    SELECT * FROM read_parquet('output/rejects/**/*.parquet', hive_partitioning = true);
CREATE OR REPLACE VIEW runs AS
    SELECT * FROM read_parquet('output/runs/**/*.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW current_documents AS
    SELECT * FROM documents_all
    QUALIFY row_number() OVER (PARTITION BY doc_id ORDER BY processed_at DESC, run_id DESC) = 1;
CREATE OR REPLACE VIEW current_edits AS
    SELECT e.* FROM edits_all e SEMI JOIN current_documents d USING (doc_id, run_id);
CREATE OR REPLACE VIEW current_flags AS
    SELECT f.* FROM flags_all f SEMI JOIN current_documents d USING (doc_id, run_id);
CREATE OR REPLACE VIEW current_sentences AS
    SELECT s.* FROM sentences_all s SEMI JOIN current_documents d USING (doc_id, run_id);
CREATE OR REPLACE VIEW current_entities AS
    SELECT e.* FROM entities_all e SEMI JOIN current_documents d USING (doc_id, run_id);
