-- The send worker: claims, last checks, results. Every result statement only touches rows
-- the worker still holds (status 'sending', locked_by = the worker), so a message whose lease
-- expired and was reclaimed by another worker is never overwritten by a late result.

-- name: sending-campaigns
SELECT id FROM campaigns WHERE status = 'sending' ORDER BY id

-- name: messages-claim
-- Takes up to $2 due messages of campaign $1 for worker $3, with a lease of $4 seconds.
-- Eligibility is judged in the same statement: the ineligible are skipped with the reason.
-- Served by messages_campaign_status_idx (campaign_id, status, next_attempt_at).
WITH due AS (
    SELECT m.id
      FROM messages m
     WHERE m.campaign_id = $1 AND m.status = 'queued' AND m.next_attempt_at <= now()
       AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = $1 AND c.status = 'sending')
     ORDER BY m.next_attempt_at
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), judged AS (
    SELECT d.id, facteur_skip_reason(m.subscriber_id, c.topic_id) AS reason
      FROM due d JOIN messages m ON m.id = d.id JOIN campaigns c ON c.id = m.campaign_id
)
UPDATE messages m
   SET status = CASE WHEN j.reason IS NULL THEN 'sending' ELSE 'skipped' END,
       skip_reason = j.reason,
       locked_by = CASE WHEN j.reason IS NULL THEN $3 END,
       locked_until = CASE WHEN j.reason IS NULL THEN now() + make_interval(secs => $4::float8) END,
       attempts = m.attempts + CASE WHEN j.reason IS NULL THEN 1 ELSE 0 END
  FROM judged j
 WHERE m.id = j.id
RETURNING m.id, m.subscriber_id, m.variant, m.attempts, m.status

-- name: subscribers-render-context
-- The template context of many people in one round trip (see subscriber-render-context).
SELECT s.id, s.email, s.name, s.locale, s.timezone, s.score, s.status, s.attributes,
       co.name AS company_name, co.domain AS company_domain, co.industry AS company_industry, co.naics AS company_naics,
       co.employees AS company_employees, co.revenue AS company_revenue, co.region AS company_region
  FROM subscribers s LEFT JOIN companies co ON co.id = s.company_id
 WHERE s.id = ANY($1::bigint[])

-- name: messages-still-sendable
-- The last check before messages go to SMTP: still held by worker $2, campaign still
-- sending, subscriber still eligible. What is missing from the answer is not sent.
SELECT m.id, c.status = 'sending' AS campaign_sending, facteur_skip_reason(m.subscriber_id, c.topic_id) AS reason
  FROM messages m JOIN campaigns c ON c.id = m.campaign_id
 WHERE m.id = ANY($1::bigint[]) AND m.status = 'sending' AND m.locked_by = $2

-- name: messages-sent
-- Accepted by the SMTP server: $2 its replies (queue ids), $3 the Message-IDs, each a
-- 'sent' event for segments ("received campaign 12") and engagement.
WITH done AS (
    UPDATE messages m
       SET status = 'sent', sent_at = now(), smtp_reply = r.reply, message_id = r.message_id,
           locked_by = NULL, locked_until = NULL
      FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, reply, message_id)
     WHERE m.id = r.id AND m.status = 'sending' AND m.locked_by = $4
    RETURNING m.id, m.subscriber_id, m.campaign_id
)
INSERT INTO events (type, subscriber_id, campaign_id, message_id, occurred_at)
SELECT 'sent', subscriber_id, campaign_id, id, now() FROM done

-- name: messages-retry
-- A transient failure: back to the queue after $3 seconds (backoff with jitter). $4 says which
-- attempts do not count (the server was unavailable, not the message at fault).
UPDATE messages m
   SET status = 'queued', smtp_reply = r.reply, next_attempt_at = now() + make_interval(secs => r.delay::float8),
       attempts = m.attempts - CASE WHEN r.refund = 'true' THEN 1 ELSE 0 END,
       locked_by = NULL, locked_until = NULL
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS r(id, reply, delay, refund)
 WHERE m.id = r.id AND m.status = 'sending' AND m.locked_by = $5

-- name: messages-failed
-- Failed for good. $3 says why: 'hard' (refused at RCPT with 5.1.x: the mailbox or domain does
-- not exist; the person is marked bounced and the address suppressed), 'failed' (another
-- permanent refusal, or transient ones past the attempt limit), each with a 'bounce' event
-- carrying the server's reply; 'unbuildable' (the message could not be built): no bounce.
WITH failed AS (
    UPDATE messages m
       SET status = 'failed', smtp_reply = r.reply, locked_by = NULL, locked_until = NULL
      FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, reply, kind)
     WHERE m.id = r.id AND m.status = 'sending' AND m.locked_by = $4
    RETURNING m.id, m.subscriber_id, m.campaign_id, r.reply, r.kind
), logged AS (
    INSERT INTO events (type, subscriber_id, campaign_id, message_id, properties, occurred_at)
    SELECT 'bounce', subscriber_id, campaign_id, id, jsonb_build_object('smtp_reply', reply, 'kind', kind, 'source', 'smtp'), now()
      FROM failed WHERE kind <> 'unbuildable'
), bounced AS (
    UPDATE subscribers s SET status = 'bounced', updated_at = now()
      FROM failed f
     WHERE f.kind = 'hard' AND s.id = f.subscriber_id AND s.status = 'active'
    RETURNING s.id, s.email, f.reply
), status_logged AS (
    -- The status change is part of the person's consent history, like every other.
    INSERT INTO consent_log (subscriber_id, action, source, details)
    SELECT id, 'status', 'bounce', jsonb_build_object('from', 'active', 'to', 'bounced', 'smtp_reply', reply) FROM bounced
)
INSERT INTO suppressions (email, reason, details)
SELECT email, 'hard_bounce', reply FROM bounced
ON CONFLICT DO NOTHING

-- name: messages-release
-- Claimed but not sent (pause, cancel, shutdown, ineligible at the last check): back to the
-- queue as they were; the claim's attempt does not count.
UPDATE messages m
   SET status = 'queued', attempts = greatest(m.attempts - 1, 0), locked_by = NULL, locked_until = NULL
 WHERE m.id = ANY($1::bigint[]) AND m.status = 'sending' AND m.locked_by = $2

-- name: messages-reclaim-expired
-- Leases that ran out (a worker crashed or hung): due again, for any worker.
UPDATE messages
   SET status = 'queued', locked_by = NULL, locked_until = NULL, next_attempt_at = now()
 WHERE status = 'sending' AND locked_until < now()

-- name: messages-queue-depth
-- Messages waiting in sending campaigns, for the queue-depth gauge.
SELECT count(*) AS n
  FROM messages m JOIN campaigns c ON c.id = m.campaign_id AND c.status = 'sending'
 WHERE m.status = 'queued'
