-- Segments: rule trees stored in their JSON form.

-- name: segments-list
SELECT id, name, description, definition, kind, refreshed_at, created_at, updated_at FROM segments ORDER BY id

-- name: segment-select
SELECT id, name, description, definition, kind, refreshed_at, created_at, updated_at FROM segments WHERE id = $1

-- name: segment-insert
INSERT INTO segments (name, description, definition, kind) VALUES ($1, $2, $3::jsonb, 'dynamic') RETURNING id

-- name: segment-update
UPDATE segments
   SET name = COALESCE($2, name), description = COALESCE($3, description), definition = COALESCE($4::jsonb, definition),
       updated_at = now()
 WHERE id = $1
RETURNING id

-- name: segment-delete
DELETE FROM segments WHERE id = $1 RETURNING id

-- name: segment-definitions
-- Every definition, to resolve references between segments (a small table).
SELECT id, definition FROM segments

-- name: segments-lock
-- Serializes segment writes (a transaction-scoped advisory lock; the key is arbitrary but fixed).
SELECT pg_advisory_xact_lock(4246) AS locked
