-- Topics and each subscriber's subscription to them.

-- name: topics-list
SELECT id, key, name, description, default_subscribed, translations, created_at, updated_at FROM topics ORDER BY key

-- name: topic-select
SELECT id, key, name, description, default_subscribed, translations, created_at, updated_at FROM topics WHERE id = $1

-- name: topic-insert
INSERT INTO topics (key, name, description, default_subscribed, translations) VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id

-- name: topic-update
UPDATE topics SET name = COALESCE($2, name), description = COALESCE($3, description),
       default_subscribed = COALESCE($4, default_subscribed), translations = COALESCE($5::jsonb, translations),
       updated_at = now()
 WHERE id = $1
RETURNING id

-- name: topic-delete
DELETE FROM topics WHERE id = $1 RETURNING id

-- name: topic-keys
SELECT id, key FROM topics WHERE key = ANY($1::text[])

-- name: subscriptions-set
-- Sets one status for several topics and logs each real change (not repeats) to consent_log.
WITH changed AS (
    INSERT INTO subscriptions (subscriber_id, topic_id, status, source, updated_at)
    SELECT $1, t.id, $3, $4, now() FROM topics t WHERE t.key = ANY($2::text[])
    ON CONFLICT (subscriber_id, topic_id) DO UPDATE
       SET status = EXCLUDED.status, source = EXCLUDED.source, updated_at = now()
     WHERE subscriptions.status <> EXCLUDED.status
    RETURNING topic_id
)
INSERT INTO consent_log (subscriber_id, topic_id, action, source, ip, user_agent, details)
SELECT $1, topic_id, CASE WHEN $3 = 'subscribed' THEN 'subscribe' ELSE 'unsubscribe' END, $4, $5::inet, $6, $7::jsonb
  FROM changed

-- name: consent-log-insert
INSERT INTO consent_log (subscriber_id, topic_id, action, source, ip, user_agent, details)
VALUES ($1, $2, $3, $4, $5::inet, $6, $7::jsonb)

-- name: consent-log-of-subscriber
SELECT c.id, c.topic_id, t.key AS topic, c.action, c.source, host(c.ip) AS ip, c.user_agent, c.details, c.occurred_at
  FROM consent_log c LEFT JOIN topics t ON t.id = c.topic_id
 WHERE c.subscriber_id = $1
 ORDER BY c.occurred_at, c.id
