-- Engagement rollup: read and rebuild.

-- name: engagement-rebuild-delete
DELETE FROM engagement

-- name: engagement-rebuild
-- The same figures the events trigger maintains (migration 0004), from all events.
WITH human AS (
    SELECT e.subscriber_id, e.device, e.client FROM events e
     WHERE e.type IN ('open', 'click') AND NOT e.machine
), devices AS (
    SELECT subscriber_id, jsonb_object_agg(device, total) AS counts
      FROM (SELECT subscriber_id, device, count(*) AS total FROM human WHERE device IS NOT NULL GROUP BY 1, 2) AS d
     GROUP BY subscriber_id
), clients AS (
    SELECT subscriber_id, jsonb_object_agg(client, total) AS counts
      FROM (SELECT subscriber_id, client, count(*) AS total FROM human WHERE client IS NOT NULL GROUP BY 1, 2) AS c
     GROUP BY subscriber_id
), totals AS (
    SELECT e.subscriber_id,
           max(e.occurred_at) FILTER (WHERE e.type = 'sent') AS last_sent_at,
           max(e.occurred_at) FILTER (WHERE e.type = 'open' AND NOT e.machine) AS last_open_at,
           max(e.occurred_at) FILTER (WHERE e.type = 'click' AND NOT e.machine) AS last_click_at,
           max(e.occurred_at) FILTER (WHERE e.type <> 'sent' AND NOT e.machine) AS last_activity_at,
           count(*) FILTER (WHERE e.type = 'open' AND NOT e.machine)::integer AS opens,
           count(*) FILTER (WHERE e.type = 'click' AND NOT e.machine)::integer AS clicks,
           count(*) FILTER (WHERE e.type = 'sent')::integer AS sends
      FROM events e
     WHERE e.type IN ('sent', 'open', 'click')
        OR (NOT e.machine AND e.type NOT IN (SELECT type FROM facteur_builtin_event_types))
     GROUP BY e.subscriber_id
)
INSERT INTO engagement (subscriber_id, last_sent_at, last_open_at, last_click_at, last_activity_at,
                        opens, clicks, sends, devices, clients, top_device, top_client, updated_at)
SELECT t.subscriber_id, t.last_sent_at, t.last_open_at, t.last_click_at, t.last_activity_at,
       t.opens, t.clicks, t.sends, COALESCE(d.counts, '{}'), COALESCE(c.counts, '{}'),
       facteur_top_key(COALESCE(d.counts, '{}')), facteur_top_key(COALESCE(c.counts, '{}')), now()
  FROM totals t
  LEFT JOIN devices d ON d.subscriber_id = t.subscriber_id
  LEFT JOIN clients c ON c.subscriber_id = t.subscriber_id
 WHERE EXISTS (SELECT 1 FROM subscribers s WHERE s.id = t.subscriber_id)

-- name: engagement-select
SELECT subscriber_id, last_sent_at, last_open_at, last_click_at, last_activity_at, opens, clicks, sends,
       devices, clients, top_device, top_client
  FROM engagement WHERE subscriber_id = $1
