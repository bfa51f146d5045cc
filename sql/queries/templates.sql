-- Campaign templates: Mustache sources, validated before they are stored.

-- name: templates-list
SELECT id, name, subject, html, text, layout, created_at, updated_at FROM templates ORDER BY id

-- name: template-select
SELECT id, name, subject, html, text, layout, created_at, updated_at FROM templates WHERE id = $1

-- name: template-insert
INSERT INTO templates (name, subject, html, text, layout) VALUES ($1, $2, $3, $4, $5) RETURNING id

-- name: template-update
-- $6/$7: whether text/layout were sent (so they can be cleared with null).
UPDATE templates SET name = COALESCE($2, name), subject = COALESCE($3, subject), html = COALESCE($4, html),
       text = CASE WHEN $6::bool THEN $5 ELSE text END,
       layout = CASE WHEN $8::bool THEN $7 ELSE layout END,
       updated_at = now()
 WHERE id = $1
RETURNING id

-- name: template-delete
DELETE FROM templates WHERE id = $1 RETURNING id

-- name: template-sending-campaign
-- A campaign that is sending (or paused mid-send) with this template: its content is frozen, so
-- every recipient of a campaign gets the same message.
SELECT id FROM campaigns WHERE template_id = $1 AND status IN ('sending', 'paused') ORDER BY id LIMIT 1
