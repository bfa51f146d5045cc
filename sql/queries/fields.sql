-- The custom-field registry.

-- name: fields-list
SELECT key, type, label, created_at FROM fields ORDER BY key

-- name: field-insert
INSERT INTO fields (key, type, label) VALUES ($1, $2, $3) RETURNING created_at
