-- Lighter indexes on subscribers, measured with bench/import.sh (1M rows, PostgreSQL 15):
--
-- * The GIN (jsonb_path_ops) index on attributes cost about 3 s of a 13 s bulk upsert, and
--   it only serves `attributes @> '{…}'` containment. Segment conditions on custom fields
--   compare values (`attributes->>'plan' = $1`, ranges on numbers and dates), which GIN
--   cannot answer; the segmentation engine adds expression indexes for the fields it needs.
-- * company_id is NULL for most people (B2C lists, imports): indexing only the rows that
--   have one keeps the index small and cheap to maintain, and still serves
--   "people of company X" and the foreign key's ON DELETE SET NULL.
DROP INDEX subscribers_attributes_idx;
DROP INDEX subscribers_company_id_idx;
CREATE INDEX subscribers_company_id_idx ON subscribers (company_id) WHERE company_id IS NOT NULL;
