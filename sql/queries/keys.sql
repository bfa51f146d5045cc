-- API keys: only the SHA-256 of a key is stored.

-- name: api-key-insert
INSERT INTO api_keys (name, key_hash, prefix, scopes) VALUES ($1, $2, $3, $4::text[]) RETURNING id

-- name: api-key-verify
-- Touches last_used_at at most once a minute, so verification is a read most of the time.
WITH key AS (
    SELECT id, name, scopes, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
), touched AS (
    UPDATE api_keys a SET last_used_at = now()
      FROM key WHERE a.id = key.id AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
)
SELECT id, name, scopes FROM key

-- name: api-keys-list
SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY id

-- name: api-key-revoke
UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id
