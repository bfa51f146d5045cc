-- Subscribers: the people Facteur writes to.

-- name: subscriber-select
-- The API's view of one subscriber; topics are folded into {"key": "status"}.
SELECT s.id, s.email, s.name, s.status, s.locale, s.timezone, s.attributes, s.score, s.company_id,
       s.frequency, s.paused_until, s.confirmed_at, s.created_at, s.updated_at,
       COALESCE((SELECT jsonb_object_agg(t.key, sub.status)
                   FROM subscriptions sub JOIN topics t ON t.id = sub.topic_id
                  WHERE sub.subscriber_id = s.id), '{}') AS topics
  FROM subscribers s
 WHERE s.id = $1

-- name: subscriber-exists
SELECT 1 AS found FROM subscribers WHERE id = $1

-- name: subscriber-id-by-email
SELECT id FROM subscribers WHERE lower(email) = lower($1)

-- name: subscriber-insert
INSERT INTO subscribers (email, name, status, locale, timezone, attributes, company_id, confirmed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $3 = 'active' THEN now() END)
RETURNING id

-- name: subscriber-update
-- A partial update in one statement: NULL means "leave as is"; the $n::bool flags say
-- whether a nullable column was sent (so it can be cleared). Attributes merge: keys in $8
-- are set, keys in $9 removed. The sub-select sees the row as it was before the update.
UPDATE subscribers s SET
       email = COALESCE($2, s.email),
       name = COALESCE($3, s.name),
       status = COALESCE($4, s.status),
       locale = COALESCE($5, s.locale),
       timezone = CASE WHEN $6::bool THEN $7 ELSE s.timezone END,
       attributes = (s.attributes || $8::jsonb) - $9::text[],
       company_id = CASE WHEN $10::bool THEN $11 ELSE s.company_id END,
       confirmed_at = CASE WHEN COALESCE($4, s.status) = 'active' THEN COALESCE(s.confirmed_at, now()) ELSE s.confirmed_at END,
       updated_at = now()
 WHERE s.id = $1
RETURNING (SELECT old.status FROM subscribers old WHERE old.id = $1) AS old_status, s.status

-- name: subscribers-list
-- Keyset pagination on id: stable under concurrent inserts, no OFFSET scans.
SELECT s.id, s.email, s.name, s.status, s.locale, s.timezone, s.attributes, s.score, s.company_id,
       s.frequency, s.paused_until, s.confirmed_at, s.created_at, s.updated_at,
       COALESCE((SELECT jsonb_object_agg(t.key, sub.status)
                   FROM subscriptions sub JOIN topics t ON t.id = sub.topic_id
                  WHERE sub.subscriber_id = s.id), '{}') AS topics
  FROM subscribers s
 WHERE s.id > $1
   AND ($2::text IS NULL OR s.status = $2)
   AND ($3::bigint IS NULL OR s.company_id = $3)
   AND ($4::text IS NULL OR s.email ILIKE '%' || $4 || '%' ESCAPE '\' OR s.name ILIKE '%' || $4 || '%' ESCAPE '\')
   AND ($5::text IS NULL OR EXISTS (
          SELECT 1 FROM subscriptions sub JOIN topics t ON t.id = sub.topic_id
           WHERE sub.subscriber_id = s.id AND t.key = $5 AND sub.status = 'subscribed'))
   AND ($6::timestamptz IS NULL OR s.created_at >= $6)
 ORDER BY s.id
 LIMIT $7

-- name: subscribers-upsert-batch
-- Bulk upsert from a JSON array. Existing people are updated only in the columns given
-- (a missing status never re-activates someone who unsubscribed); new people are inserted.
-- Counts come back in one row. The caller has validated and de-duplicated the input.
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS x(email text, name text, status text, locale text, timezone text, attributes jsonb, company_id bigint)
), updated AS (
    UPDATE subscribers s SET
           name = COALESCE(i.name, s.name),
           status = COALESCE(i.status, s.status),
           locale = COALESCE(i.locale, s.locale),
           timezone = COALESCE(i.timezone, s.timezone),
           attributes = s.attributes || COALESCE(i.attributes, '{}'),
           company_id = COALESCE(i.company_id, s.company_id),
           confirmed_at = CASE WHEN COALESCE(i.status, s.status) = 'active' THEN COALESCE(s.confirmed_at, now()) ELSE s.confirmed_at END,
           updated_at = now()
      FROM input i
     WHERE lower(s.email) = lower(i.email)
    RETURNING s.id, lower(s.email) AS key
), inserted AS (
    INSERT INTO subscribers (email, name, status, locale, timezone, attributes, company_id, confirmed_at)
    SELECT i.email, COALESCE(i.name, ''), COALESCE(i.status, 'active'), COALESCE(i.locale, 'en'), i.timezone,
           COALESCE(i.attributes, '{}'), i.company_id, CASE WHEN COALESCE(i.status, 'active') = 'active' THEN now() END
      FROM input i
     WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.key = lower(i.email))
    ON CONFLICT (lower(email)) DO NOTHING
    RETURNING id
)
SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM updated) AS updated

-- name: subscriber-erase-events
DELETE FROM events WHERE subscriber_id = $1

-- name: subscriber-erase-consent
-- Only allowed inside the erasure transaction (the consent_log trigger checks facteur.erasing).
DELETE FROM consent_log WHERE subscriber_id = $1

-- name: subscriber-delete
DELETE FROM subscribers WHERE id = $1 RETURNING email

-- name: suppression-by-hash
INSERT INTO suppressions (email_hash, reason, details)
VALUES (sha256(convert_to(lower($1), 'UTF8')), 'erased', 'erased on request')
ON CONFLICT (email_hash) WHERE email_hash IS NOT NULL DO NOTHING

-- name: subscribers-export
-- Streams in id order for CSV export; the caller pages with the last id.
SELECT s.id, s.email, s.name, s.status, s.locale, s.timezone, s.attributes, s.score, s.company_id, s.created_at,
       COALESCE((SELECT string_agg(t.key, ';' ORDER BY t.key)
                   FROM subscriptions sub JOIN topics t ON t.id = sub.topic_id
                  WHERE sub.subscriber_id = s.id AND sub.status = 'subscribed'), '') AS topics
  FROM subscribers s
 WHERE s.id > $1
 ORDER BY s.id
 LIMIT $2

-- name: subscribers-export-of
-- The same rows for a list of ids (a segment's members, a page at a time), in id order.
SELECT s.id, s.email, s.name, s.status, s.locale, s.timezone, s.attributes, s.score, s.company_id, s.created_at,
       COALESCE((SELECT string_agg(t.key, ';' ORDER BY t.key)
                   FROM subscriptions sub JOIN topics t ON t.id = sub.topic_id
                  WHERE sub.subscriber_id = s.id AND sub.status = 'subscribed'), '') AS topics
  FROM subscribers s
 WHERE s.id = ANY($1::bigint[])
 ORDER BY s.id

-- name: import-create-staging
-- One row per good CSV line; dropped at commit. Every import query below reads it.
CREATE TEMP TABLE import_rows (
    line integer NOT NULL, email text NOT NULL, name text, status text, locale text, timezone text,
    attributes jsonb NOT NULL, topics text[], created_at timestamptz
) ON COMMIT DROP

-- name: import-upsert
-- The last line wins for a repeated address. Empty cells arrive as NULL and keep what is
-- there. An import never re-activates someone who unsubscribed, bounced or complained.
WITH input AS (
    SELECT DISTINCT ON (lower(email)) * FROM import_rows ORDER BY lower(email), line DESC
), updated AS (
    UPDATE subscribers s SET
           name = COALESCE(i.name, s.name),
           status = CASE WHEN s.status IN ('unsubscribed', 'bounced', 'complained') THEN s.status
                         ELSE COALESCE(i.status, s.status) END,
           locale = COALESCE(i.locale, s.locale),
           timezone = COALESCE(i.timezone, s.timezone),
           attributes = s.attributes || i.attributes,
           updated_at = now()
      FROM input i
     WHERE lower(s.email) = lower(i.email)
    RETURNING lower(s.email) AS key
), inserted AS (
    -- created_at from the file (a migration from another tool) applies to new people only.
    INSERT INTO subscribers (email, name, status, locale, timezone, attributes, confirmed_at, created_at)
    SELECT i.email, COALESCE(i.name, ''), COALESCE(i.status, 'active'), COALESCE(i.locale, 'en'), i.timezone, i.attributes,
           CASE WHEN COALESCE(i.status, 'active') = 'active' THEN now() END, COALESCE(i.created_at, now())
      FROM input i
     WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.key = lower(i.email))
    ON CONFLICT (lower(email)) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM updated) AS updated

-- name: import-subscribe
-- Subscribes imported people to the topics of their line; an existing choice (including an
-- unsubscribe) is never overwritten by an import. Each new subscription is logged.
WITH wanted AS (
    SELECT DISTINCT s.id AS subscriber_id, t.id AS topic_id
      FROM (SELECT DISTINCT ON (lower(email)) email, topics FROM import_rows
             WHERE topics IS NOT NULL ORDER BY lower(email), line DESC) i
      JOIN subscribers s ON lower(s.email) = lower(i.email)
      CROSS JOIN LATERAL unnest(i.topics) AS k(key)
      JOIN topics t ON t.key = k.key
), changed AS (
    INSERT INTO subscriptions (subscriber_id, topic_id, status, source)
    SELECT subscriber_id, topic_id, 'subscribed', 'import' FROM wanted
    ON CONFLICT (subscriber_id, topic_id) DO NOTHING
    RETURNING subscriber_id, topic_id
)
INSERT INTO consent_log (subscriber_id, topic_id, action, source)
SELECT subscriber_id, topic_id, 'subscribe', 'import' FROM changed
