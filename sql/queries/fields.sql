-- The custom-field registry.

-- name: fields-list
SELECT key, type, label, created_at FROM fields ORDER BY key

-- name: field-insert
INSERT INTO fields (key, type, label) VALUES ($1, $2, $3) RETURNING created_at

-- name: field-statistics
-- The extended statistics on subscribers (custom fields' are named facteur_field_<key>).
SELECT stxname::text AS stxname FROM pg_statistic_ext WHERE stxrelid = 'subscribers'::regclass
