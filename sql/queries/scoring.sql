-- Lead scoring: rules, rebuild, decay.

-- name: scoring-rules-list
SELECT id, name, kind, event_type, condition, points, daily_cap, half_life_days, enabled, created_at, updated_at
  FROM scoring_rules ORDER BY id

-- name: scoring-rule-select
SELECT id, name, kind, event_type, condition, points, daily_cap, half_life_days, enabled, created_at, updated_at
  FROM scoring_rules WHERE id = $1

-- name: scoring-rule-insert
INSERT INTO scoring_rules (name, kind, event_type, condition, points, daily_cap, half_life_days, enabled)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
RETURNING id

-- name: scoring-rule-update
-- The whole rule is replaced (the caller merged the patch into the stored rule and validated it).
UPDATE scoring_rules
   SET name = $2, event_type = $3, condition = $4::jsonb, points = $5, daily_cap = $6, half_life_days = $7,
       enabled = $8, updated_at = now()
 WHERE id = $1
RETURNING id

-- name: scoring-rule-delete
-- The ledger rows go with the rule (cascade); the scores they counted in are refreshed.
WITH affected AS (
    SELECT array_agg(DISTINCT subscriber_id) AS ids FROM score_ledger WHERE rule_id = $1
), deleted AS (
    DELETE FROM scoring_rules WHERE id = $1 RETURNING id
)
SELECT (SELECT id FROM deleted) AS id, (SELECT ids FROM affected) AS ids

-- name: scores-refresh-rule
-- After a rule's points, decay or enabled flag changed: the scores it counts in.
SELECT facteur_scores_refresh(ARRAY(SELECT DISTINCT subscriber_id FROM score_ledger WHERE rule_id = $1)) AS changed

-- name: scores-refresh-ids
SELECT facteur_scores_refresh($1::bigint[]) AS changed

-- name: scores-attribute-refresh
-- $1: one rule, or NULL for all attribute rules.
SELECT facteur_attribute_scores_refresh($1::bigint, NULL::bigint[]) AS changed

-- name: scores-attribute-refresh-subscriber
-- After the API wrote one person's attributes (in its transaction).
SELECT facteur_attribute_scores_refresh(NULL::bigint, ARRAY[$1::bigint]) AS changed

-- name: scores-decay
SELECT facteur_scores_decay() AS changed

-- name: scores-rebuild
SELECT facteur_scores_rebuild() AS changed
