-- The preference center, one-click unsubscribe, double opt-in and the consent export.

-- name: preferences-subscriber
SELECT id, email, name, status, locale, frequency, paused_until, confirmed_at
  FROM subscribers WHERE id = $1

-- name: preferences-subscriber-lock
-- Changes to one person's preferences are serialized: two saves at once cannot both log
-- the same change or undo each other half-way.
SELECT id, email, status, locale, frequency, paused_until,
       confirmation_sent_at > now() - interval '1 hour' AS confirmation_recent
  FROM subscribers WHERE id = $1 FOR NO KEY UPDATE

-- name: preferences-suppressed
-- The address is on the suppression list, as itself or as the hash an erasure keeps.
SELECT EXISTS (
    SELECT 1 FROM suppressions
     WHERE (email IS NOT NULL AND lower(email) = lower($1))
        OR (email_hash IS NOT NULL AND email_hash = sha256(convert_to(lower($1), 'UTF8')))
) AS suppressed

-- name: preferences-confirmation-sent
UPDATE subscribers SET confirmation_sent_at = now() WHERE id = $1

-- name: preferences-topics
-- Every topic with the person's status for it (NULL: never set), in creation order.
SELECT t.id, t.key, t.name, t.description, t.translations, x.status
  FROM topics t LEFT JOIN subscriptions x ON x.topic_id = t.id AND x.subscriber_id = $1
 ORDER BY t.id

-- name: preferences-subscribed-keys
SELECT t.key FROM subscriptions x JOIN topics t ON t.id = x.topic_id
 WHERE x.subscriber_id = $1 AND x.status = 'subscribed'

-- name: preferences-set-frequency
UPDATE subscribers SET frequency = $2, updated_at = now() WHERE id = $1

-- name: preferences-set-pause
-- $2 days from now, or NULL to resume.
UPDATE subscribers
   SET paused_until = CASE WHEN $2::int IS NULL THEN NULL ELSE now() + $2::int * interval '1 day' END,
       updated_at = now()
 WHERE id = $1
RETURNING paused_until

-- name: preferences-set-locale
UPDATE subscribers SET locale = $2, updated_at = now() WHERE id = $1

-- name: preferences-set-status
UPDATE subscribers SET status = $2, updated_at = now() WHERE id = $1

-- name: preferences-confirm
-- Double opt-in: only a pending person becomes active; returns nothing otherwise.
UPDATE subscribers SET status = 'active', confirmed_at = now(), updated_at = now()
 WHERE id = $1 AND status = 'pending'
RETURNING confirmed_at

-- name: preferences-message
-- What a one-click unsubscribe link names: the message's person, campaign and topic.
SELECT m.subscriber_id, m.campaign_id, c.topic_id, t.key AS topic
  FROM messages m JOIN campaigns c ON c.id = m.campaign_id LEFT JOIN topics t ON t.id = c.topic_id
 WHERE m.id = $1

-- name: preferences-unsubscribe-event
-- The campaign's unsubscribe count (stats) and email-activity segments read events.
INSERT INTO events (type, subscriber_id, campaign_id, message_id, properties, occurred_at)
VALUES ('unsubscribe', $1, $2, $3, $4::jsonb, now())

-- name: form-token-claim
-- Claims a form token's nonce; no row back means it was used before (a replay).
INSERT INTO form_tokens_used (nonce) VALUES ($1) ON CONFLICT DO NOTHING RETURNING nonce

-- name: form-tokens-purge
DELETE FROM form_tokens_used WHERE used_at < now() - $1::int * interval '1 second'

-- name: consent-export-page
-- Keyset pages of the consent log for [from, to), oldest first.
SELECT c.id, c.subscriber_id, s.email, t.key AS topic, c.action, c.source, host(c.ip) AS ip, c.user_agent,
       c.details, c.occurred_at
  FROM consent_log c
  LEFT JOIN subscribers s ON s.id = c.subscriber_id
  LEFT JOIN topics t ON t.id = c.topic_id
 WHERE c.occurred_at >= $1 AND c.occurred_at < $2
   AND (c.occurred_at, c.id) > ($3, $4)
 ORDER BY c.occurred_at, c.id
 LIMIT $5
