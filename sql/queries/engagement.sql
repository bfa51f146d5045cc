-- Engagement rollup: read and rebuild.

-- name: engagement-rebuild-delete
DELETE FROM engagement

-- name: engagement-rebuild
-- The same merge the events trigger runs on each new batch (migration 0004), over all events,
-- into the emptied table. Returns the number of rows written.
SELECT facteur_engagement_merge('events') AS merged

-- name: engagement-select
SELECT subscriber_id, last_sent_at, last_open_at, last_click_at, last_activity_at, opens, clicks, sends,
       devices, clients, top_device, top_client
  FROM engagement WHERE subscriber_id = $1
