-- Campaigns: what is sent, to whom, and where it stands.

-- name: campaign-select
SELECT c.id, c.name, c.subject, c.from_name, c.from_email, c.reply_to, c.template_id, c.segment_id, c.topic_id,
       t.key AS topic_key, c.headers, c.status, c.scheduled_at, c.started_at, c.finished_at, c.track_opens, c.track_clicks,
       c.rate_limit, c.ab, c.created_at, c.updated_at
  FROM campaigns c LEFT JOIN topics t ON t.id = c.topic_id
 WHERE c.id = $1

-- name: campaigns-list
SELECT c.id, c.name, c.subject, c.from_name, c.from_email, c.reply_to, c.template_id, c.segment_id, c.topic_id,
       t.key AS topic_key, c.headers, c.status, c.scheduled_at, c.started_at, c.finished_at, c.track_opens, c.track_clicks,
       c.rate_limit, c.ab, c.created_at, c.updated_at
  FROM campaigns c LEFT JOIN topics t ON t.id = c.topic_id
 WHERE c.id > $1 AND ($2::text IS NULL OR c.status = $2)
 ORDER BY c.id LIMIT $3

-- name: campaign-insert
INSERT INTO campaigns (name, subject, from_name, from_email, reply_to, template_id, segment_id, topic_id, headers,
                       track_opens, track_clicks, rate_limit, ab)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13::jsonb)
RETURNING id

-- name: campaign-update
-- Only drafts and scheduled campaigns change; $14 lists nullable columns to clear.
UPDATE campaigns SET
       name = COALESCE($2, name), subject = COALESCE($3, subject), from_name = COALESCE($4, from_name),
       from_email = COALESCE($5, from_email),
       reply_to = CASE WHEN 'reply_to' = ANY($14::text[]) THEN NULL ELSE COALESCE($6, reply_to) END,
       template_id = COALESCE($7, template_id),
       topic_id = CASE WHEN 'topic' = ANY($14::text[]) THEN NULL ELSE COALESCE($8, topic_id) END,
       headers = COALESCE($9::jsonb, headers), track_opens = COALESCE($10, track_opens),
       track_clicks = COALESCE($11, track_clicks),
       rate_limit = CASE WHEN 'rate_limit' = ANY($14::text[]) THEN NULL ELSE COALESCE($12, rate_limit) END,
       ab = CASE WHEN 'ab' = ANY($14::text[]) THEN NULL ELSE COALESCE($13::jsonb, ab) END,
       segment_id = CASE WHEN 'segment_id' = ANY($14::text[]) THEN NULL ELSE COALESCE($15, segment_id) END,
       updated_at = now()
 WHERE id = $1 AND status IN ('draft', 'scheduled')
RETURNING id

-- name: campaign-delete
DELETE FROM campaigns WHERE id = $1 AND status IN ('draft', 'cancelled', 'sent') RETURNING id

-- name: campaign-transition
-- Moves a campaign from one of the allowed statuses ($3) to $2, setting the timestamps the
-- status needs in the same statement (the table's CHECKs hold them together).
UPDATE campaigns SET
       status = $2,
       scheduled_at = CASE WHEN $2 = 'scheduled' THEN $4 WHEN $2 = 'draft' THEN NULL ELSE scheduled_at END,
       started_at = CASE WHEN $2 = 'sending' THEN COALESCE(started_at, now()) ELSE started_at END,
       finished_at = CASE WHEN $2 IN ('sent', 'cancelled') THEN now() ELSE finished_at END,
       updated_at = now()
 WHERE id = $1 AND status = ANY($3::text[])
RETURNING id

-- name: campaign-status
SELECT status FROM campaigns WHERE id = $1

-- name: campaign-links-record
-- The tracked links of a campaign, recorded once when it starts (repeats are no-ops).
INSERT INTO campaign_links (campaign_id, url)
SELECT $1, url FROM unnest($2::text[]) AS u(url)
ON CONFLICT (campaign_id, url) DO NOTHING

-- name: campaign-links
SELECT id, url FROM campaign_links WHERE campaign_id = $1

-- name: campaign-materialize
-- The audience, in one statement: active people, subscribed to the campaign's topic when it has
-- one, not paused, not suppressed (by address or by the hash an erasure leaves), and, when the
-- campaign targets a segment, among its members ($3, evaluated at start). The UNIQUE
-- (campaign_id, subscriber_id) makes a repeat start harmless: nobody is queued twice.
INSERT INTO messages (campaign_id, subscriber_id)
SELECT $1, s.id
  FROM subscribers s
 WHERE s.status = 'active'
   AND ($3::bigint[] IS NULL OR s.id = ANY($3::bigint[]))
   AND (s.paused_until IS NULL OR s.paused_until <= now())
   AND ($2::bigint IS NULL OR EXISTS (
          SELECT 1 FROM subscriptions sub
           WHERE sub.subscriber_id = s.id AND sub.topic_id = $2 AND sub.status = 'subscribed'))
   AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email IS NOT NULL AND lower(x.email) = lower(s.email))
   AND NOT EXISTS (SELECT 1 FROM suppressions x
                    WHERE x.email_hash IS NOT NULL AND x.email_hash = sha256(convert_to(lower(s.email), 'UTF8')))
ON CONFLICT (campaign_id, subscriber_id) DO NOTHING

-- name: campaign-message-counts
SELECT status, count(*) AS n FROM messages WHERE campaign_id = $1 GROUP BY status

-- name: campaign-send-rate
-- Messages accepted in the last minute, for the rate and ETA of progress.
SELECT count(*) AS n FROM messages WHERE campaign_id = $1 AND status = 'sent' AND sent_at > now() - interval '60 seconds'

-- name: subscriber-render-context
-- Everything a message template may use about one person, in one round trip.
SELECT s.id, s.email, s.name, s.locale, s.timezone, s.score, s.status, s.attributes,
       co.name AS company_name, co.domain AS company_domain, co.industry AS company_industry, co.naics AS company_naics,
       co.employees AS company_employees, co.revenue AS company_revenue, co.region AS company_region
  FROM subscribers s LEFT JOIN companies co ON co.id = s.company_id
 WHERE s.id = $1

-- name: campaign-message-of-subscriber
SELECT id FROM messages WHERE campaign_id = $1 AND subscriber_id = $2

-- name: campaign-ab-split
-- A/B subject test: a random test share of the queued audience gets variants 0..n-1 in turn;
-- the rest is held (next_attempt_at = infinity) until the scheduler chooses the winner after
-- the test's wait and releases it (campaign-ab-release).
WITH audience AS (
    SELECT id, row_number() OVER (ORDER BY random()) AS position, count(*) OVER () AS total
      FROM messages WHERE campaign_id = $1
), tested AS (
    UPDATE messages m SET variant = ((a.position - 1) % $2)::smallint
      FROM audience a
     WHERE m.id = a.id AND a.position <= ceil(a.total * $3::float8)
    RETURNING m.id
)
UPDATE messages SET next_attempt_at = 'infinity'
 WHERE campaign_id = $1 AND id NOT IN (SELECT id FROM tested)

-- name: campaigns-due
-- Scheduled campaigns whose time has come, oldest first.
SELECT id FROM campaigns WHERE status = 'scheduled' AND scheduled_at <= now() ORDER BY scheduled_at, id LIMIT 50

-- name: campaigns-ab-due
-- Sending campaigns with an A/B test whose wait is over and whose winner is not chosen yet.
-- A paused campaign waits: its test is judged after it resumes.
SELECT id FROM campaigns
 WHERE status = 'sending' AND ab IS NOT NULL AND NOT (ab ? 'winner')
   AND started_at + make_interval(secs => (ab->>'wait_seconds')::float8) <= now()
 ORDER BY id

-- name: campaign-ab-results
-- Per subject variant of the test share: messages sent, still to send, and how many of the
-- sent were opened (or clicked, $2) by a person: machine opens from privacy proxies and
-- scanners do not count.
SELECT m.variant,
       count(*) FILTER (WHERE m.status = 'sent') AS sent,
       count(*) FILTER (WHERE m.status IN ('queued', 'sending')) AS pending,
       count(*) FILTER (WHERE m.status = 'sent' AND EXISTS (
           SELECT 1 FROM events e
            WHERE e.campaign_id = $1 AND e.message_id = m.id AND e.type = $2 AND NOT e.machine)) AS engaged
  FROM messages m
 WHERE m.campaign_id = $1 AND m.variant IS NOT NULL
 GROUP BY m.variant ORDER BY m.variant

-- name: campaign-ab-choose
-- Records the winner once (a second scheduler finds it chosen and does nothing).
UPDATE campaigns SET ab = jsonb_set(ab, '{winner}', to_jsonb($2::integer)), updated_at = now()
 WHERE id = $1 AND status = 'sending' AND NOT (ab ? 'winner')
RETURNING id

-- name: campaign-ab-release
-- The rest of the audience (variant NULL, held back by next_attempt_at) becomes due now; the
-- worker gives it the winning subject. The test share keeps its variants for the record.
UPDATE messages SET next_attempt_at = now()
 WHERE campaign_id = $1 AND variant IS NULL AND status = 'queued'

-- name: campaigns-finish
-- Sending campaigns with nothing left to send are sent.
UPDATE campaigns c SET status = 'sent', finished_at = now(), updated_at = now()
 WHERE c.status = 'sending'
   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.status IN ('queued', 'sending'))
RETURNING id

-- name: campaign-link-select
-- A tracked link by id, for the click redirect.
SELECT campaign_id, url FROM campaign_links WHERE id = $1
