-- bench/segments_data.sql — the data bench/segments.sh segments: :n subscribers (typed attributes,
-- companies, topics) and about 20 events each over the past year, in monthly partitions.
--
-- Run by psql with -v n=N on a freshly migrated database. Everything is random but shaped like a
-- real list: people differ in how much they open and browse, most opens come from one device per
-- person, a share of opens are machine opens, custom events cluster on the most active people.
-- Events are generated into an unlogged staging table, then written month by month into
-- standalone tables that are attached as partitions, so PostgreSQL builds each partition's
-- indexes in one sorted pass instead of row by row (the difference is minutes at this size).
-- The engagement rollup is then built from the events with the rebuild's own SQL.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
SET work_mem = '256MB';
SELECT setseed(0.42);

INSERT INTO fields (key, type, label) VALUES
    ('country', 'text', 'Country'), ('plan', 'text', 'Plan'), ('trial_started_at', 'date', 'Trial started'),
    ('lifetime_value', 'number', 'Lifetime value'), ('beta', 'boolean', 'Beta tester');

-- One company for twenty people. Industry and NAICS code go together.
INSERT INTO companies (name, domain, industry, naics, employees, revenue, region)
SELECT 'Company ' || g, 'co' || g || '.bench.test', v.industry, v.naics,
       (1 + floor(power(random(), 3) * 2000))::integer, round((power(random(), 2) * 20e6)::numeric, 2),
       (ARRAY['QC', 'ON', 'BC', 'NY', 'CA', 'TX', 'IDF', 'BY'])[1 + floor(random() * 8)::integer]
  FROM generate_series(1, greatest(:n / 20, 1)) AS g
  JOIN (VALUES (0, 'Health', '621111'), (1, 'HVAC', '238220'), (2, 'Software', '541511'), (3, 'Retail', '448140'),
               (4, 'Finance', '522110'), (5, 'Education', '611310'), (6, 'Manufacturing', '332710'),
               (7, 'Construction', '236220')) AS v(k, industry, naics) ON v.k = g % 8;

-- People. `bench_activity` (0–1) is how active each one is; it shapes their events below and is
-- dropped at the end.
CREATE UNLOGGED TABLE bench_people AS
SELECT g AS id, power(random(), 1.5) AS activity,
       (ARRAY['mobile', 'mobile', 'mobile', 'desktop', 'desktop', 'tablet'])[1 + floor(random() * 6)::integer] AS device,
       (ARRAY['Apple Mail', 'Apple Mail', 'Gmail', 'Gmail', 'Outlook', 'Thunderbird'])[1 + floor(random() * 6)::integer] AS client
  FROM generate_series(1, :n) AS g;

INSERT INTO subscribers (email, name, status, locale, attributes, score, company_id, created_at, confirmed_at)
SELECT 's' || p.id || '@' || (ARRAY['gmail.com', 'outlook.com', 'yahoo.fr', 'corp.example', 'orange.fr'])[1 + floor(random() * 5)::integer],
       'Person ' || p.id,
       CASE WHEN r < 0.02 THEN 'unsubscribed' WHEN r < 0.03 THEN 'bounced' WHEN r < 0.035 THEN 'pending' ELSE 'active' END,
       (ARRAY['en', 'en', 'fr', 'fr-CA', 'de'])[1 + floor(random() * 5)::integer],
       jsonb_build_object(
           'country', (ARRAY['FR', 'US', 'CA', 'DE', 'GB', 'BE'])[1 + floor(random() * 6)::integer],
           'plan', plan,
           'lifetime_value', round((power(random(), 2) * 3000)::numeric, 2))
       || CASE WHEN plan = 'trial'
               THEN jsonb_build_object('trial_started_at',
                        to_char((now() - random() * interval '90 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
               ELSE '{}' END
       || CASE WHEN random() < 0.1 THEN '{"beta": true}'::jsonb ELSE '{}' END,
       round((120 * power(p.activity, 0.7) * random())::numeric, 1),
       CASE WHEN random() < 0.6 THEN 1 + floor(random() * greatest(:n / 20, 1))::bigint END,
       now() - interval '2 years' * random(), now() - interval '1 year' * random()
  FROM (SELECT p.*, random() AS r,
               (ARRAY['free', 'free', 'free', 'trial', 'pro', 'enterprise'])[1 + floor(random() * 6)::integer] AS plan
          FROM bench_people p) AS p
 ORDER BY p.id;

INSERT INTO topics (key, name) VALUES
    ('newsletter', 'Newsletter'), ('product', 'Product news'), ('events', 'Events'), ('offers', 'Offers'), ('digest', 'Digest');
-- (Each random() sits in a subquery's select list, so it is drawn for every row: a WHERE clause
-- that names only one side of a join would be evaluated once per row of that side.)
INSERT INTO subscriptions (subscriber_id, topic_id, status, source)
SELECT x.subscriber_id, x.topic_id, CASE WHEN x.r2 < 0.85 THEN 'subscribed' ELSE 'unsubscribed' END, 'import'
  FROM (SELECT s.id AS subscriber_id, t.id AS topic_id, t.key, random() AS r, random() AS r2
          FROM subscribers s CROSS JOIN topics t) AS x
 WHERE x.r < CASE x.key WHEN 'newsletter' THEN 0.8 WHEN 'product' THEN 0.45 WHEN 'events' THEN 0.25 WHEN 'offers' THEN 0.35 ELSE 0.15 END;

-- 40 newsletters over the year, the last one two days ago, three links each.
INSERT INTO templates (name, subject, html) VALUES ('bench-segments', 'Bench', '<p>Hello</p>');
INSERT INTO campaigns (name, subject, from_email, template_id, topic_id, status, started_at, finished_at)
SELECT 'Newsletter ' || g, 'Newsletter ' || g, 'news@bench.test', (SELECT min(id) FROM templates),
       (SELECT id FROM topics WHERE key = 'newsletter'), 'sent',
       now() - make_interval(days => 2 + (40 - g) * 9), now() - make_interval(days => 2 + (40 - g) * 9, hours => -2)
  FROM generate_series(1, 40) AS g;
INSERT INTO campaign_links (campaign_id, url)
SELECT c.id, 'https://shop.bench.test/' || v.page || '?c=' || c.id
  FROM campaigns c CROSS JOIN (VALUES ('pricing'), ('blog/news'), ('offer')) AS v(page);

-- --- Events, staged ------------------------------------------------------------------------------
CREATE UNLOGGED TABLE bench_events (
    type text, subscriber_id bigint, campaign_id bigint, link_id bigint, machine boolean,
    device text, client text, properties jsonb, occurred_at timestamptz);

-- Each newsletter goes to a fifth of the people: 8 M `sent`.
INSERT INTO bench_events (type, subscriber_id, campaign_id, machine, properties, occurred_at)
SELECT 'sent', p.id, c.id, false, '{}', c.started_at + interval '1 hour' * random()
  FROM campaigns c CROSS JOIN bench_people p
 WHERE random() < 0.2;

-- Opens: half of what active people receive, a seventh of them machine opens (privacy proxies,
-- within seconds of the send, no device). Clicks: a sixth of human opens, on one of the links.
INSERT INTO bench_events (type, subscriber_id, campaign_id, machine, device, client, properties, occurred_at)
SELECT 'open', o.subscriber_id, o.campaign_id, o.machine,
       CASE WHEN o.machine THEN NULL WHEN random() < 0.8 THEN o.device ELSE 'desktop' END,
       CASE WHEN o.machine THEN NULL WHEN random() < 0.85 THEN o.client ELSE 'Gmail' END,
       '{}', o.occurred_at + CASE WHEN o.machine THEN interval '5 seconds' ELSE interval '3 days' * power(random(), 3) END
  FROM (SELECT e.subscriber_id, e.campaign_id, e.occurred_at, p.device, p.client, random() < 0.14 AS machine
          FROM bench_events e JOIN bench_people p ON p.id = e.subscriber_id
         WHERE e.type = 'sent' AND random() < p.activity * 0.6 + 0.05) AS o;

INSERT INTO bench_events (type, subscriber_id, campaign_id, link_id, machine, device, client, properties, occurred_at)
SELECT 'click', e.subscriber_id, e.campaign_id,
       (SELECT min(l.id) FROM campaign_links l WHERE l.campaign_id = e.campaign_id) + floor(random() * 3)::bigint,
       false, e.device, e.client, '{}', e.occurred_at + interval '1 minute' * random()
  FROM bench_events e
 WHERE e.type = 'open' AND NOT e.machine AND random() < 0.17;

INSERT INTO bench_events (type, subscriber_id, campaign_id, machine, properties, occurred_at)
SELECT v.type, e.subscriber_id, e.campaign_id, false, '{}', e.occurred_at + interval '10 minutes'
  FROM (SELECT e.subscriber_id, e.campaign_id, e.occurred_at, random() AS r FROM bench_events e WHERE e.type = 'sent') AS e
  JOIN (VALUES ('bounce', 0.0, 0.005), ('unsubscribe', 0.005, 0.007), ('complaint', 0.007, 0.0072)) AS v(type, lo, hi)
    ON e.r >= v.lo AND e.r < v.hi;

-- Custom events over the year, most of them from the most active people: 7 M page views,
-- 2 M logins, 400 k purchases, 100 k trial starts.
INSERT INTO bench_events (type, subscriber_id, machine, properties, occurred_at)
SELECT v.type, 1 + floor(power(random(), 2.5) * :n)::bigint, false,
       CASE v.type
           WHEN 'page_view' THEN jsonb_build_object('path',
               (ARRAY['/pricing', '/docs', '/docs', '/blog/launch', '/blog/guide', '/blog/guide', '/features', '/features', '/about',
                      '/careers', '/blog/news', '/changelog'])[1 + floor(random() * 12)::integer])
           WHEN 'login' THEN jsonb_build_object('app', (ARRAY['web', 'web', 'ios', 'android'])[1 + floor(random() * 4)::integer])
           WHEN 'purchase' THEN jsonb_build_object('amount', round((5 + power(random(), 2) * 495)::numeric, 2),
               'product', (ARRAY['starter', 'pro', 'addon'])[1 + floor(random() * 3)::integer])
           ELSE jsonb_build_object('source', 'website')
       END,
       now() - interval '365 days' * random()
  FROM (VALUES ('page_view', 7.0), ('login', 2.0), ('purchase', 0.4), ('trial_started', 0.1)) AS v(type, per_person)
 CROSS JOIN LATERAL generate_series(1, (v.per_person * :n)::bigint) AS g;

-- --- Events, into monthly partitions --------------------------------------------------------------
DO $load$
DECLARE
    lo  timestamp := date_trunc('month', (now() - interval '366 days') AT TIME ZONE 'UTC');
    hi  timestamp;
    part text;
BEGIN
    WHILE lo <= date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months' LOOP
        hi := lo + interval '1 month';
        part := format('events_y%sm%s', to_char(lo, 'YYYY'), to_char(lo, 'MM'));
        -- The months the migration already made partitions for are filled in place.
        IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
        END IF;
        EXECUTE format($ins$
            INSERT INTO %I (id, type, subscriber_id, campaign_id, message_id, link_id, machine, device, client, properties, occurred_at)
            SELECT nextval(pg_get_serial_sequence('events', 'id')), type, subscriber_id, campaign_id, NULL, link_id,
                   machine, device, client, properties, occurred_at
              FROM bench_events WHERE occurred_at >= %L AND occurred_at < %L ORDER BY occurred_at$ins$,
            part, lo || '+00', hi || '+00');
        IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(part)) THEN
            EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo || '+00', hi || '+00');
        END IF;
        lo := hi;
    END LOOP;
END
$load$;

DROP TABLE bench_events;
DROP TABLE bench_people;

TRUNCATE engagement;
SELECT facteur_engagement_merge('events') AS engagement_rows;
