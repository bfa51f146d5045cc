-- Companies (B2B firmographics).

-- name: company-select
SELECT id, name, domain, industry, naics, employees, revenue, region, attributes, created_at, updated_at,
       (SELECT count(*) FROM subscribers s WHERE s.company_id = c.id) AS subscriber_count
  FROM companies c WHERE id = $1

-- name: companies-list
SELECT id, name, domain, industry, naics, employees, revenue, region, attributes, created_at, updated_at,
       (SELECT count(*) FROM subscribers s WHERE s.company_id = c.id) AS subscriber_count
  FROM companies c
 WHERE id > $1 AND ($2::text IS NULL OR c.name ILIKE '%' || $2 || '%' ESCAPE '\' OR lower(c.domain) = lower($2))
 ORDER BY id LIMIT $3

-- name: company-insert
INSERT INTO companies (name, domain, industry, naics, employees, revenue, region, attributes)
VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8)
RETURNING id

-- name: company-update
-- NULL leaves a column as is; $10 lists the nullable columns to clear.
UPDATE companies SET
       name = COALESCE($2, name),
       domain = CASE WHEN 'domain' = ANY($10::text[]) THEN NULL ELSE COALESCE($3, domain) END,
       industry = CASE WHEN 'industry' = ANY($10::text[]) THEN NULL ELSE COALESCE($4, industry) END,
       naics = CASE WHEN 'naics' = ANY($10::text[]) THEN NULL ELSE COALESCE($5, naics) END,
       employees = CASE WHEN 'employees' = ANY($10::text[]) THEN NULL ELSE COALESCE($6, employees) END,
       revenue = CASE WHEN 'revenue' = ANY($10::text[]) THEN NULL ELSE COALESCE($7::numeric, revenue) END,
       region = CASE WHEN 'region' = ANY($10::text[]) THEN NULL ELSE COALESCE($8, region) END,
       attributes = attributes || $9::jsonb,
       updated_at = now()
 WHERE id = $1
RETURNING id

-- name: company-delete
DELETE FROM companies WHERE id = $1 RETURNING id

-- name: company-link-subscribers
UPDATE subscribers SET company_id = $1, updated_at = now()
 WHERE id = ANY($2::bigint[]) AND company_id IS DISTINCT FROM $1

-- name: subscribers-missing
SELECT x.id FROM unnest($1::bigint[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.id = x.id)
