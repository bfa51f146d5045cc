-- Segments: rule trees stored in their JSON form.

-- name: segments-list
SELECT id, name, description, definition, kind, refreshed_at, created_at, updated_at FROM segments ORDER BY id

-- name: segment-select
SELECT id, name, description, definition, kind, refreshed_at, created_at, updated_at FROM segments WHERE id = $1

-- name: segment-insert
INSERT INTO segments (name, description, definition, kind) VALUES ($1, $2, $3::jsonb, $4) RETURNING id

-- name: segment-update
UPDATE segments
   SET name = COALESCE($2, name), description = COALESCE($3, description), definition = COALESCE($4::jsonb, definition),
       kind = COALESCE($5, kind), updated_at = now()
 WHERE id = $1
RETURNING id

-- name: segment-delete
DELETE FROM segments WHERE id = $1 RETURNING id

-- name: segment-definitions
-- Every definition, to resolve references between segments (a small table).
SELECT id, definition, kind FROM segments

-- name: segment-topics
-- Topic ids by key, for the compiler (a small table).
SELECT id, key FROM topics

-- name: segment-members-clear
DELETE FROM segment_members WHERE segment_id = $1

-- name: segment-refreshed
-- After a static segment's snapshot is written (true), or when it becomes dynamic (false).
UPDATE segments SET refreshed_at = CASE WHEN $2 THEN now() END WHERE id = $1 RETURNING refreshed_at

-- name: segment-settings
-- For the transaction that evaluates a segment: JIT compiles the query for longer than the
-- query runs (up to a quarter second measured), and the id sets under an `or` or a `not` are
-- hashed only when they fit in work_mem × hash_mem_multiplier (a million ids need about 64 MB);
-- otherwise each person would be looked up in a list.
SELECT set_config('jit', 'off', true) AS jit, set_config('work_mem', '128MB', true) AS work_mem

-- name: segments-lock
-- Serializes segment writes (a transaction-scoped advisory lock; the key is arbitrary but fixed).
SELECT pg_advisory_xact_lock(4246) AS locked
