-- Events: the batch writer and custom events (retention: PartitionMaintenance).

-- name: events-insert
-- One batch of events (group commit). Columns arrive as parallel arrays; $12 is the
-- machine window in seconds: an open or click this soon after the message was sent is a
-- scanner's, not a person's. Tracking events give the message only: subscriber and campaign
-- come from `messages`, and a click whose link ($3 campaign) is not of the message's
-- campaign matches nothing. Idempotency keys are claimed in event_idempotency first; an
-- event whose key was taken (before, or earlier in this batch) is not inserted again.
-- The AFTER INSERT trigger updates engagement and scores in this same statement.
-- Returns one row per input (n, 1-based): the new id, or duplicate, or neither (unmatched).
WITH input AS (
    SELECT r.*, nextval(pg_get_serial_sequence('events', 'id')) AS id
      FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::boolean[],
                  $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::timestamptz[])
           WITH ORDINALITY AS r(type, subscriber_id, campaign_id, message_id, link_id, machine,
                                device, client, properties, idempotency_key, occurred_at, n)
), resolved AS (
    SELECT i.n, i.id, i.type, COALESCE(i.subscriber_id, m.subscriber_id) AS subscriber_id,
           COALESCE(i.campaign_id, m.campaign_id) AS campaign_id, i.message_id, i.link_id,
           i.machine OR (i.type IN ('open', 'click') AND m.sent_at IS NOT NULL
                         AND COALESCE(i.occurred_at, now()) < m.sent_at + make_interval(secs => $12::float8)) AS machine,
           i.device, i.client, i.properties, i.idempotency_key, COALESCE(i.occurred_at, now()) AS occurred_at
      FROM input i
      LEFT JOIN messages m ON m.id = i.message_id
     WHERE (i.message_id IS NULL OR m.id IS NOT NULL)
       AND (i.message_id IS NULL OR i.campaign_id IS NULL OR m.campaign_id = i.campaign_id)
       AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = COALESCE(i.subscriber_id, m.subscriber_id))
), keyed AS (
    INSERT INTO event_idempotency (key, subscriber_id, event_id, occurred_at)
    SELECT idempotency_key, subscriber_id, id, occurred_at FROM resolved
     WHERE idempotency_key IS NOT NULL
     ORDER BY idempotency_key   -- one lock order for every batch
    ON CONFLICT (key) DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO events (id, type, subscriber_id, campaign_id, message_id, link_id, machine, device, client,
                        properties, idempotency_key, occurred_at)
    OVERRIDING SYSTEM VALUE
    SELECT id, type, subscriber_id, campaign_id, message_id, link_id, machine, device, client,
           properties, idempotency_key, occurred_at
      FROM resolved
     WHERE idempotency_key IS NULL OR id IN (SELECT event_id FROM keyed)
    RETURNING id
)
SELECT i.n, ins.id, (r.id IS NOT NULL AND ins.id IS NULL) AS duplicate
  FROM input i
  LEFT JOIN resolved r ON r.n = i.n
  LEFT JOIN inserted ins ON ins.id = i.id
 ORDER BY i.n

-- name: events-resolve-subscribers
-- The ids of the subscribers a batch of custom events names, by id ($1) or address ($2).
SELECT id, lower(email) AS email FROM subscribers WHERE id = ANY($1::bigint[]) OR lower(email) = ANY($2::text[])

-- name: events-of-subscriber
-- One person's events, newest first, in keyset pages of (occurred_at, id) below the cursor;
-- $2 narrows to one type. Served per partition by events_subscriber_idx.
SELECT e.id, e.type, e.campaign_id, e.message_id, e.link_id, e.machine, e.device, e.client, e.properties, e.occurred_at
  FROM events e
 WHERE e.subscriber_id = $1
   AND ($2::text IS NULL OR e.type = $2)
   AND (e.occurred_at, e.id) < ($3, $4)
 ORDER BY e.occurred_at DESC, e.id DESC
 LIMIT $5
