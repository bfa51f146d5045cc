-- Asynchronous bounces and complaints (DSN and ARF reports).

-- name: bounce-message-by-message-id
-- The sent message a report is about, by the Message-ID of the returned original.
SELECT m.id, m.subscriber_id, m.campaign_id, s.email FROM messages m JOIN subscribers s ON s.id = m.subscriber_id
 WHERE m.message_id = $1

-- name: bounce-message-by-id
SELECT m.id, m.subscriber_id, m.campaign_id, s.email FROM messages m JOIN subscribers s ON s.id = m.subscriber_id
 WHERE m.id = $1

-- name: bounce-subscriber-by-email
SELECT id FROM subscribers WHERE lower(email) = lower($1)

-- name: bounce-apply
SELECT facteur_apply_report($1::text, $2, $3, $4, $5::text, $6::jsonb, $7::integer, $8::integer) AS outcome
