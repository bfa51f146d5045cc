-- Campaign statistics, from events_campaign_idx (campaign_id, type, occurred_at) INCLUDE
-- (subscriber_id, machine, link_id): index-only scans of one campaign's events.

-- name: campaign-stats
-- A click counts as an open too (the reader saw the message even with images off), so unique
-- opens are the people with a human open or click. Bounces: 'hard' kind, or 5.x.x from a
-- report, is hard; the rest soft. delivered = sent − the sent messages that bounced later.
-- Only bounces need the heap (their kind is in properties); the rest is index-only.
WITH e AS MATERIALIZED (
    SELECT type, subscriber_id, machine
      FROM events WHERE campaign_id = $1
       AND type IN ('sent', 'open', 'click', 'complaint', 'unsubscribe')
), b AS MATERIALIZED (
    SELECT subscriber_id, properties->>'kind' AS kind, properties->>'source' AS source
      FROM events WHERE campaign_id = $1 AND type = 'bounce'
)
SELECT
    (SELECT count(*) FROM e WHERE type = 'sent') AS sent,
    (SELECT count(DISTINCT subscriber_id) FROM b WHERE kind = 'hard') AS hard_bounces,
    (SELECT count(DISTINCT subscriber_id) FROM b WHERE kind IS DISTINCT FROM 'hard') AS soft_bounces,
    (SELECT count(DISTINCT subscriber_id) FROM b WHERE source IS DISTINCT FROM 'smtp') AS late_bounces,
    (SELECT count(DISTINCT subscriber_id) FROM e WHERE type IN ('open', 'click') AND NOT machine) AS unique_opens,
    (SELECT count(*) FROM e WHERE type = 'open' AND NOT machine) AS opens,
    (SELECT count(*) FROM e WHERE type = 'open' AND machine) AS machine_opens,
    (SELECT count(DISTINCT subscriber_id) FROM e WHERE type = 'click' AND NOT machine) AS unique_clicks,
    (SELECT count(*) FROM e WHERE type = 'click' AND NOT machine) AS clicks,
    (SELECT count(*) FROM e WHERE type = 'click' AND machine) AS machine_clicks,
    (SELECT count(DISTINCT subscriber_id) FROM e WHERE type = 'unsubscribe') AS unsubscribes,
    (SELECT count(DISTINCT subscriber_id) FROM e WHERE type = 'complaint') AS complaints

-- name: campaign-stats-links
-- Human clicks per tracked link, the campaign's links without clicks included.
SELECT l.id, l.url, COALESCE(c.clicks, 0) AS clicks, COALESCE(c.unique_clicks, 0) AS unique_clicks
  FROM campaign_links l
  LEFT JOIN (SELECT link_id, count(*) AS clicks, count(DISTINCT subscriber_id) AS unique_clicks
               FROM events WHERE campaign_id = $1 AND type = 'click' AND NOT machine
              GROUP BY link_id) AS c ON c.link_id = l.id
 WHERE l.campaign_id = $1
 ORDER BY clicks DESC, l.id

-- name: campaign-stats-hourly
-- Human opens and clicks per hour (UTC), every hour from the first event to the last
-- (at most $2 hours), empty hours included so charts need no filling.
WITH e AS (
    SELECT type, date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AS hour
      FROM events WHERE campaign_id = $1 AND type IN ('open', 'click') AND NOT machine
), span AS (
    SELECT min(hour) AS first, LEAST(max(hour), min(hour) + make_interval(hours => $2::integer - 1)) AS last FROM e
)
SELECT h.hour AT TIME ZONE 'UTC' AS hour,
       count(e.type) FILTER (WHERE e.type = 'open') AS opens,
       count(e.type) FILTER (WHERE e.type = 'click') AS clicks
  FROM span, generate_series(span.first, span.last, interval '1 hour') AS h(hour)
  LEFT JOIN e ON e.hour = h.hour
 GROUP BY h.hour
 ORDER BY h.hour
