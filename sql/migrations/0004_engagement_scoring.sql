-- Engagement rollup and lead scores kept by the database itself, whatever writes events.
--
-- Events reach `events` from several places (the send worker's 'sent' and SMTP-time
-- 'bounce', the tracking endpoints, POST /api/events, bounce and complaint reports). A
-- statement-level trigger with a transition table updates `engagement` and the score
-- ledger in the same transaction as every one of those inserts, once per statement (a
-- batch of a thousand events costs one aggregate, not a thousand row triggers), so no
-- code path can forget to. `facteur engagement rebuild` and `facteur scores rebuild`
-- recompute the same figures from all events; the tests check that both ways agree.

---------------------------------------------------------------------------------------
-- Engagement: device and client counts
---------------------------------------------------------------------------------------

-- Human opens+clicks per device class and per email client, e.g. {"mobile": 12,
-- "desktop": 3}; top_device/top_client are the most frequent key (ties: first by byte order).
ALTER TABLE engagement
    ADD COLUMN devices jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(devices) = 'object'),
    ADD COLUMN clients jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(clients) = 'object');

-- Adds two {key: count} objects key by key. PL/pgSQL (not SQL): called per engagement row,
-- a SQL function would start an executor each time (measured here: 40 % slower batches).
CREATE FUNCTION facteur_add_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    result jsonb := COALESCE(a, '{}');
    k      text;
    v      text;
BEGIN
    IF b IS NULL OR b = '{}' THEN RETURN result; END IF;
    FOR k, v IN SELECT * FROM jsonb_each_text(b) LOOP
        result := jsonb_set(result, ARRAY[k], to_jsonb(COALESCE((result->>k)::bigint, 0) + v::bigint));
    END LOOP;
    RETURN result;
END;
$$;

-- The key with the highest count; ties go to the first key in byte order; NULL when empty.
CREATE FUNCTION facteur_top_key(counts jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    best       text;
    best_count bigint;
    k          text;
    v          text;
BEGIN
    FOR k, v IN SELECT * FROM jsonb_each_text(counts) LOOP
        IF best IS NULL OR v::bigint > best_count OR (v::bigint = best_count AND k COLLATE "C" < best COLLATE "C") THEN
            best := k;
            best_count := v::bigint;
        END IF;
    END LOOP;
    RETURN best;
END;
$$;

-- Device counts have four possible keys (events.device's CHECK), so they add up and pick
-- their top in plain expressions: these SQL functions are inlined where they are used, with no
-- call at all (measured: the PL/pgSQL forms cost a third of a tracking batch's time).
CREATE FUNCTION facteur_add_device_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'desktop', NULLIF(COALESCE((a->>'desktop')::bigint, 0) + COALESCE((b->>'desktop')::bigint, 0), 0),
        'mobile', NULLIF(COALESCE((a->>'mobile')::bigint, 0) + COALESCE((b->>'mobile')::bigint, 0), 0),
        'other', NULLIF(COALESCE((a->>'other')::bigint, 0) + COALESCE((b->>'other')::bigint, 0), 0),
        'tablet', NULLIF(COALESCE((a->>'tablet')::bigint, 0) + COALESCE((b->>'tablet')::bigint, 0), 0)))
$$;

-- The most used device; ties go to the first by name (desktop, mobile, other, tablet).
CREATE FUNCTION facteur_top_device(counts jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE GREATEST(COALESCE((counts->>'desktop')::bigint, 0), COALESCE((counts->>'mobile')::bigint, 0),
                         COALESCE((counts->>'other')::bigint, 0), COALESCE((counts->>'tablet')::bigint, 0))
        WHEN 0 THEN NULL
        WHEN COALESCE((counts->>'desktop')::bigint, 0) THEN 'desktop'
        WHEN COALESCE((counts->>'mobile')::bigint, 0) THEN 'mobile'
        WHEN COALESCE((counts->>'other')::bigint, 0) THEN 'other'
        ELSE 'tablet'
    END
$$;

-- top_device follows the counts by itself. top_client (an open set of names) is kept by the
-- merge below, which knows which client a batch added to.
ALTER TABLE engagement
    DROP COLUMN top_device,
    ADD COLUMN top_device text GENERATED ALWAYS AS (facteur_top_device(devices)) STORED;

-- The built-in event types (the rest are custom events). Keep in sync with Swift's EventType
-- and the events_custom_idx predicate.
CREATE VIEW facteur_builtin_event_types (type) AS
    VALUES ('sent'), ('delivered'), ('open'), ('click'), ('bounce'), ('complaint'), ('unsubscribe');

---------------------------------------------------------------------------------------
-- Property filters (scoring rules today, segment event leaves later)
---------------------------------------------------------------------------------------

-- True when `properties` satisfies every filter of `filters`, a JSON array of
-- {"property": "path" | "a.b", "op": "...", "value": ...}. The Swift type PropertyFilter
-- validates filters before they are stored and evaluates them the same way (the tests
-- compare the two on random data). Semantics:
--   * text comparisons are case-insensitive and apply to string properties only;
--   * gt/gte/lt/lte/between apply to number properties only;
--   * eq/in compare strings (case-insensitively), numbers and booleans by JSON type;
--   * ne/not_in are the negation of eq/in: a missing property is "not equal";
--   * exists: present and not null; not_exists: its negation.
CREATE FUNCTION facteur_filter_match(properties jsonb, filter jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    op     text := filter->>'op';
    value  jsonb := filter->'value';
    actual jsonb := properties #> string_to_array(filter->>'property', '.');
    kind   text := jsonb_typeof(actual);
    item   jsonb;
BEGIN
    CASE op
    WHEN 'exists' THEN RETURN kind IS NOT NULL AND kind <> 'null';
    WHEN 'not_exists' THEN RETURN kind IS NULL OR kind = 'null';
    WHEN 'ne' THEN RETURN NOT facteur_filter_match(properties, jsonb_set(filter, '{op}', '"eq"'));
    WHEN 'not_in' THEN RETURN NOT facteur_filter_match(properties, jsonb_set(filter, '{op}', '"in"'));
    WHEN 'in' THEN
        FOR item IN SELECT * FROM jsonb_array_elements(value) LOOP
            IF facteur_filter_match(properties, jsonb_build_object('property', filter->'property', 'op', 'eq', 'value', item)) THEN
                RETURN true;
            END IF;
        END LOOP;
        RETURN false;
    WHEN 'eq' THEN
        IF kind IS DISTINCT FROM jsonb_typeof(value) THEN RETURN false; END IF;
        IF kind = 'string' THEN RETURN lower(actual #>> '{}') = lower(value #>> '{}'); END IF;
        IF kind = 'number' THEN RETURN (actual #>> '{}')::float8 = (value #>> '{}')::float8; END IF;
        RETURN actual = value;
    WHEN 'contains', 'starts_with', 'ends_with' THEN
        IF kind IS DISTINCT FROM 'string' THEN RETURN false; END IF;
        RETURN CASE op
            WHEN 'contains' THEN strpos(lower(actual #>> '{}'), lower(value #>> '{}')) > 0
            WHEN 'starts_with' THEN starts_with(lower(actual #>> '{}'), lower(value #>> '{}'))
            ELSE right(lower(actual #>> '{}'), length(value #>> '{}')) = lower(value #>> '{}')
        END;
    WHEN 'gt', 'gte', 'lt', 'lte' THEN
        IF kind IS DISTINCT FROM 'number' THEN RETURN false; END IF;
        RETURN CASE op
            WHEN 'gt' THEN (actual #>> '{}')::float8 > (value #>> '{}')::float8
            WHEN 'gte' THEN (actual #>> '{}')::float8 >= (value #>> '{}')::float8
            WHEN 'lt' THEN (actual #>> '{}')::float8 < (value #>> '{}')::float8
            ELSE (actual #>> '{}')::float8 <= (value #>> '{}')::float8
        END;
    WHEN 'between' THEN
        IF kind IS DISTINCT FROM 'number' THEN RETURN false; END IF;
        RETURN (actual #>> '{}')::float8 BETWEEN (value->>0)::float8 AND (value->>1)::float8;
    ELSE
        RAISE EXCEPTION 'unknown property filter operator %', op USING ERRCODE = 'invalid_parameter_value';
    END CASE;
END;
$$;

CREATE FUNCTION facteur_filters_match(properties jsonb, filters jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(bool_and(facteur_filter_match(properties, f)), true)
      FROM jsonb_array_elements(COALESCE(filters, '[]')) AS f
$$;

---------------------------------------------------------------------------------------
-- Scores
---------------------------------------------------------------------------------------

-- The day decayed scores are computed for. subscribers.score is
--   Σ over the ledger rows of enabled rules: points × 0.5 ^ (max(0, as_of − day) / half_life)
-- (weight 1 without decay). The daily pass moves as_of to today and recomputes the scores
-- that decay; between passes, points earned today weigh 1 like the rest of today's.
CREATE TABLE score_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    as_of      date NOT NULL
);
INSERT INTO score_state (as_of) VALUES ((now() AT TIME ZONE 'UTC')::date);

-- Attribute rules earn their points while the subscriber matches, not per day: their
-- ledger rows use day = '-infinity', and decay does not apply to them.
ALTER TABLE scoring_rules
    ADD CONSTRAINT scoring_rules_attribute_no_decay_check CHECK (kind = 'event' OR half_life_days IS NULL);

CREATE FUNCTION facteur_score_weight(day date, as_of date, half_life_days integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- Past ~1000 half-lives power() would underflow (an error, not 0): the points are gone.
    SELECT CASE WHEN half_life_days IS NULL OR day = '-infinity' THEN 1.0
                WHEN GREATEST(0, as_of - day)::float8 / half_life_days > 1000 THEN 0.0
                ELSE power(0.5, GREATEST(0, as_of - day)::float8 / half_life_days) END
$$;

-- A capped ledger value: the sign of the rule's points, at most daily_cap in size.
CREATE FUNCTION facteur_cap(points double precision, daily_cap double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN daily_cap IS NULL THEN points ELSE sign(points) * LEAST(abs(points), daily_cap) END
$$;

-- Sets subscribers.score from the ledger for the given subscribers (NULL: everyone),
-- writing only the rows whose score changes. Returns how many changed.
CREATE FUNCTION facteur_scores_refresh(ids bigint[]) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    as_of   date;
    changed bigint;
BEGIN
    -- Lock the people first, in id order (as the events trigger does), then read the ledger
    -- in a new statement: a trigger that scored them meanwhile has committed by then, so its
    -- points are counted, and two refreshes cannot deadlock. (A full refresh comes from the
    -- rebuild, which holds the ledger exclusively: nothing can score meanwhile.)
    IF ids IS NOT NULL THEN
        PERFORM 1 FROM subscribers WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    END IF;
    as_of := (SELECT s.as_of FROM score_state s);
    WITH totals AS (
        SELECT l.subscriber_id, sum(l.points * facteur_score_weight(l.day, as_of, r.half_life_days)) AS score
          FROM score_ledger l JOIN scoring_rules r ON r.id = l.rule_id AND r.enabled
         WHERE ids IS NULL OR l.subscriber_id = ANY(ids)
         GROUP BY l.subscriber_id
    )
    UPDATE subscribers s SET score = COALESCE(t.score, 0)
      FROM (SELECT s2.id, t2.score
              FROM subscribers s2 LEFT JOIN totals t2 ON t2.subscriber_id = s2.id
             WHERE (ids IS NULL OR s2.id = ANY(ids))) AS t
     WHERE s.id = t.id AND s.score IS DISTINCT FROM COALESCE(t.score, 0);
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END;
$$;

---------------------------------------------------------------------------------------
-- The trigger
---------------------------------------------------------------------------------------

-- The statement that merges the engagement of the events in `source` (a table or a
-- transition table) into `engagement`: the trigger runs it on the statement's new events,
-- the rebuild on all of `events` after emptying the table, so both compute with the same
-- SQL. (The trigger EXECUTEs the text itself: a transition table is visible only to the
-- trigger function's own queries, not to functions it calls.) Rows are written in
-- subscriber order: concurrent batches lock engagement rows in one order.
CREATE FUNCTION facteur_engagement_merge_sql(source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format($sql$
    WITH human AS (
        SELECT n.subscriber_id, n.device, n.client FROM %1$I n
         WHERE n.type IN ('open', 'click') AND NOT n.machine
    ), devices AS (
        SELECT subscriber_id, jsonb_object_agg(device, total) AS counts
          FROM (SELECT subscriber_id, device, count(*) AS total FROM human WHERE device IS NOT NULL GROUP BY 1, 2) AS d
         GROUP BY subscriber_id
    ), clients AS (
        -- top: the batch's most used client (without a call when there is only one, the rule).
        SELECT subscriber_id, jsonb_object_agg(client, total) AS counts,
               CASE WHEN count(*) = 1 THEN min(client) ELSE facteur_top_key(jsonb_object_agg(client, total)) END AS top
          FROM (SELECT subscriber_id, client, count(*) AS total FROM human WHERE client IS NOT NULL GROUP BY 1, 2) AS c
         GROUP BY subscriber_id
    ), totals AS (
        SELECT n.subscriber_id,
               max(n.occurred_at) FILTER (WHERE n.type = 'sent') AS last_sent_at,
               max(n.occurred_at) FILTER (WHERE n.type = 'open' AND NOT n.machine) AS last_open_at,
               max(n.occurred_at) FILTER (WHERE n.type = 'click' AND NOT n.machine) AS last_click_at,
               max(n.occurred_at) FILTER (WHERE n.type <> 'sent' AND NOT n.machine) AS last_activity_at,
               count(*) FILTER (WHERE n.type = 'open' AND NOT n.machine)::integer AS opens,
               count(*) FILTER (WHERE n.type = 'click' AND NOT n.machine)::integer AS clicks,
               count(*) FILTER (WHERE n.type = 'sent')::integer AS sends
          FROM %1$I n
         WHERE n.type IN ('sent', 'open', 'click')
            OR (NOT n.machine AND n.type NOT IN (SELECT type FROM facteur_builtin_event_types))
         GROUP BY n.subscriber_id
    )
    INSERT INTO engagement AS g (subscriber_id, last_sent_at, last_open_at, last_click_at, last_activity_at,
                                 opens, clicks, sends, devices, clients, top_client, updated_at)
    SELECT t.subscriber_id, t.last_sent_at, t.last_open_at, t.last_click_at, t.last_activity_at,
           t.opens, t.clicks, t.sends, COALESCE(d.counts, '{}'), COALESCE(c.counts, '{}'), c.top, now()
      FROM totals t
      LEFT JOIN devices d ON d.subscriber_id = t.subscriber_id
      LEFT JOIN clients c ON c.subscriber_id = t.subscriber_id
     WHERE EXISTS (SELECT 1 FROM subscribers s WHERE s.id = t.subscriber_id)
     ORDER BY t.subscriber_id
    ON CONFLICT (subscriber_id) DO UPDATE SET
        last_sent_at = GREATEST(g.last_sent_at, EXCLUDED.last_sent_at),
        last_open_at = GREATEST(g.last_open_at, EXCLUDED.last_open_at),
        last_click_at = GREATEST(g.last_click_at, EXCLUDED.last_click_at),
        last_activity_at = GREATEST(g.last_activity_at, EXCLUDED.last_activity_at),
        opens = g.opens + EXCLUDED.opens,
        clicks = g.clicks + EXCLUDED.clicks,
        sends = g.sends + EXCLUDED.sends,
        devices = facteur_add_device_counts(g.devices, EXCLUDED.devices),
        -- Counts only grow, so the new top is the old one or a client this batch added to. With
        -- one client in the batch (the rule) that is a comparison of two counts; with more, a
        -- recount. (SET expressions see the row as it was: g.* are the old values.)
        clients = CASE
            WHEN EXCLUDED.top_client IS NULL THEN g.clients
            WHEN EXCLUDED.clients - EXCLUDED.top_client = '{}' THEN
                g.clients || jsonb_build_object(EXCLUDED.top_client,
                    COALESCE((g.clients->>EXCLUDED.top_client)::bigint, 0) + (EXCLUDED.clients->>EXCLUDED.top_client)::bigint)
            ELSE facteur_add_counts(g.clients, EXCLUDED.clients)
        END,
        top_client = CASE
            WHEN EXCLUDED.top_client IS NULL THEN g.top_client
            WHEN EXCLUDED.clients - EXCLUDED.top_client <> '{}' THEN facteur_top_key(facteur_add_counts(g.clients, EXCLUDED.clients))
            WHEN g.top_client IS NULL OR g.top_client = EXCLUDED.top_client THEN EXCLUDED.top_client
            WHEN COALESCE((g.clients->>EXCLUDED.top_client)::bigint, 0) + (EXCLUDED.clients->>EXCLUDED.top_client)::bigint
                 > (g.clients->>g.top_client)::bigint THEN EXCLUDED.top_client
            WHEN COALESCE((g.clients->>EXCLUDED.top_client)::bigint, 0) + (EXCLUDED.clients->>EXCLUDED.top_client)::bigint
                 = (g.clients->>g.top_client)::bigint AND EXCLUDED.top_client COLLATE "C" < g.top_client COLLATE "C"
                THEN EXCLUDED.top_client
            ELSE g.top_client
        END,
        updated_at = now()
    $sql$, source)
$$;

CREATE FUNCTION facteur_engagement_merge(source text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    merged bigint;
BEGIN
    EXECUTE facteur_engagement_merge_sql(source);
    GET DIAGNOSTICS merged = ROW_COUNT;
    RETURN merged;
END;
$$;

-- The trigger function is created from the text of facteur_engagement_merge_sql('new_events')
-- pasted into its body: static SQL in PL/pgSQL is planned once per session, where EXECUTE
-- would plan the merge again for every batch (measured here: 20 % of a batch's cost). The
-- rebuild runs the same text over all events, so the two cannot drift apart.
DO $migration$
BEGIN
    EXECUTE format($create$
CREATE FUNCTION facteur_events_after_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    scored bigint[];
BEGIN
    %s;

    -- Scores: only when an enabled event rule names a type of this batch.
    IF NOT EXISTS (SELECT 1 FROM scoring_rules r WHERE r.enabled AND r.kind = 'event'
                      AND r.event_type IN (SELECT DISTINCT type FROM new_events)) THEN
        RETURN NULL;
    END IF;

    -- The ledger first (the lock every insert into it takes anyway), so a rebuild holding it
    -- exclusively makes us wait here, before we hold any person. Then the subscribers, in id
    -- order, so that two transactions scoring the same person serialize and the refresh below
    -- sees the other's ledger rows.
    LOCK TABLE score_ledger IN ROW EXCLUSIVE MODE;
    SELECT array_agg(id ORDER BY id) INTO scored
      FROM (SELECT s.id FROM subscribers s
             WHERE s.id IN (SELECT n.subscriber_id FROM new_events n
                             JOIN scoring_rules r ON r.enabled AND r.kind = 'event' AND r.event_type = n.type
                            WHERE NOT n.machine)
             ORDER BY s.id FOR NO KEY UPDATE) AS locked;
    IF scored IS NULL THEN RETURN NULL; END IF;

    INSERT INTO score_ledger AS l (subscriber_id, rule_id, day, points)
    SELECT p.subscriber_id, p.rule_id, p.day, facteur_cap(p.points, p.daily_cap)
      FROM (SELECT n.subscriber_id, r.id AS rule_id, (n.occurred_at AT TIME ZONE 'UTC')::date AS day,
                   sum(r.points) AS points, r.daily_cap
              FROM new_events n
              JOIN scoring_rules r ON r.enabled AND r.kind = 'event' AND r.event_type = n.type
             WHERE NOT n.machine AND n.subscriber_id = ANY(scored)
               AND facteur_filters_match(n.properties, r.condition->'where')
             GROUP BY n.subscriber_id, r.id, day, r.daily_cap) AS p
     ORDER BY p.subscriber_id, p.rule_id, p.day
    ON CONFLICT (subscriber_id, rule_id, day) DO UPDATE SET
        points = facteur_cap(l.points + EXCLUDED.points,
                             (SELECT daily_cap FROM scoring_rules WHERE id = EXCLUDED.rule_id));

    PERFORM facteur_scores_refresh(scored);
    RETURN NULL;
END;
$fn$
$create$, facteur_engagement_merge_sql('new_events'));
END;
$migration$;

CREATE TRIGGER events_after_insert
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION facteur_events_after_insert();

---------------------------------------------------------------------------------------
-- Retention
---------------------------------------------------------------------------------------

-- Drops the monthly event partitions that end on or before the start of the month
-- `keep_months` before the current one (UTC), deletes older rows from the default
-- partition and the idempotency keys of events that old. Returns the dropped tables.
-- Engagement and the score ledger are summaries and stay: a later rebuild recomputes
-- them from the events that remain.
CREATE FUNCTION facteur_drop_event_partitions(keep_months integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    cutoff   timestamp;   -- UTC wall-clock time
    part     record;
    dropped  text[] := '{}';
BEGIN
    IF keep_months IS NULL OR keep_months < 1 OR keep_months > 1200 THEN
        RAISE EXCEPTION 'keep_months must be between 1 and 1200, got %', keep_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The same lock as partition creation: the two never interleave.
    PERFORM pg_advisory_xact_lock(hashtext('facteur_ensure_event_partitions'));
    cutoff := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => keep_months);
    -- DROP needs an exclusive lock on events: rather fail (and try again at the next pass) than
    -- queue behind a long query and hold every event insert behind us.
    PERFORM set_config('lock_timeout', '2s', true);

    FOR part IN
        SELECT c.oid::regclass AS rel, c.relname::text AS name
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_y[0-9]{4}m[0-9]{2}$'
         ORDER BY c.relname
    LOOP
        CONTINUE WHEN make_timestamp(substr(part.name, 9, 4)::integer, substr(part.name, 14, 2)::integer, 1, 0, 0, 0)
                      + interval '1 month' > cutoff;
        EXECUTE format('DROP TABLE %s', part.rel);
        dropped := dropped || part.name;
    END LOOP;

    DELETE FROM events_default WHERE occurred_at < cutoff AT TIME ZONE 'UTC';
    DELETE FROM event_idempotency WHERE occurred_at < cutoff AT TIME ZONE 'UTC';
    RETURN dropped;
END;
$$;

---------------------------------------------------------------------------------------
-- Score maintenance: attribute rules, decay, rebuild
---------------------------------------------------------------------------------------

-- Brings the ledger rows of attribute rules (day '-infinity') in line with who matches
-- them now (one rule, or all when only_rule is NULL; the given subscribers, or everyone when
-- only_subscribers is NULL), then refreshes the scores of the subscribers whose rows changed.
-- Returns how many scores changed. The API calls it for the person it just wrote, in the same
-- transaction; the periodic pass catches bulk writes and imports.
CREATE FUNCTION facteur_attribute_scores_refresh(only_rule bigint, only_subscribers bigint[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    touched bigint[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM scoring_rules WHERE kind = 'attribute') THEN RETURN 0; END IF;
    CREATE TEMPORARY TABLE IF NOT EXISTS facteur_wanted (subscriber_id bigint, rule_id bigint, points double precision)
        ON COMMIT DROP;
    TRUNCATE facteur_wanted;
    INSERT INTO facteur_wanted
    SELECT s.id, r.id, r.points
      FROM scoring_rules r JOIN subscribers s ON facteur_filters_match(s.attributes, r.condition->'where')
     WHERE r.kind = 'attribute' AND r.enabled AND (only_rule IS NULL OR r.id = only_rule)
       AND (only_subscribers IS NULL OR s.id = ANY(only_subscribers));

    WITH removed AS (
        DELETE FROM score_ledger l USING scoring_rules r
         WHERE l.rule_id = r.id AND r.kind = 'attribute' AND (only_rule IS NULL OR r.id = only_rule)
           AND (only_subscribers IS NULL OR l.subscriber_id = ANY(only_subscribers))
           AND NOT EXISTS (SELECT 1 FROM facteur_wanted w WHERE w.subscriber_id = l.subscriber_id AND w.rule_id = l.rule_id)
        RETURNING l.subscriber_id
    ), added AS (
        INSERT INTO score_ledger AS l (subscriber_id, rule_id, day, points)
        SELECT w.subscriber_id, w.rule_id, '-infinity', w.points FROM facteur_wanted w
         WHERE NOT EXISTS (SELECT 1 FROM score_ledger x WHERE x.subscriber_id = w.subscriber_id AND x.rule_id = w.rule_id
                              AND x.day = '-infinity' AND x.points = w.points)
         ORDER BY w.subscriber_id, w.rule_id
        ON CONFLICT (subscriber_id, rule_id, day) DO UPDATE SET points = EXCLUDED.points
        RETURNING l.subscriber_id
    )
    SELECT array_agg(DISTINCT id) INTO touched FROM (SELECT subscriber_id AS id FROM removed UNION SELECT subscriber_id FROM added) AS t;
    IF touched IS NULL THEN RETURN 0; END IF;
    RETURN facteur_scores_refresh(touched);
END;
$$;

-- The daily decay pass: moves score_state.as_of to today (UTC) and refreshes the scores
-- that decay. Returns how many changed; 0 when today's pass already ran.
CREATE FUNCTION facteur_scores_decay() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    ids   bigint[];
BEGIN
    UPDATE score_state SET as_of = today WHERE as_of < today;
    IF NOT FOUND THEN RETURN 0; END IF;
    SELECT array_agg(DISTINCT l.subscriber_id) INTO ids
      FROM score_ledger l JOIN scoring_rules r ON r.id = l.rule_id
     WHERE r.half_life_days IS NOT NULL AND r.enabled;
    IF ids IS NULL THEN RETURN 0; END IF;
    RETURN facteur_scores_refresh(ids);
END;
$$;

-- Recomputes the whole ledger from the events that remain and the subscribers' attributes,
-- then every score. Blocks concurrent scoring (EXCLUSIVE lock on the ledger) until it
-- commits, so an event arriving meanwhile is scored after it, on top of the rebuilt rows.
CREATE FUNCTION facteur_scores_rebuild() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE score_ledger IN EXCLUSIVE MODE;
    DELETE FROM score_ledger WHERE day <> '-infinity';
    INSERT INTO score_ledger (subscriber_id, rule_id, day, points)
    SELECT e.subscriber_id, r.id, (e.occurred_at AT TIME ZONE 'UTC')::date, facteur_cap(sum(r.points), r.daily_cap)
      FROM scoring_rules r
      JOIN events e ON e.type = r.event_type AND NOT e.machine
     WHERE r.enabled AND r.kind = 'event'
       AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = e.subscriber_id)
       AND facteur_filters_match(e.properties, r.condition->'where')
     GROUP BY e.subscriber_id, r.id, (e.occurred_at AT TIME ZONE 'UTC')::date, r.daily_cap;
    PERFORM facteur_attribute_scores_refresh(NULL);
    RETURN facteur_scores_refresh(NULL);
END;
$$;

---------------------------------------------------------------------------------------
-- Asynchronous bounces and complaints
---------------------------------------------------------------------------------------

-- Applies one recipient of a bounce or complaint report, once: `report_key` (the report's
-- digest and the recipient) is claimed in event_idempotency, so importing the same report
-- again changes nothing. kind:
--   'hard'      a 5.x.x failure: the person is marked bounced and the address suppressed;
--   'soft'      a 4.x.x failure: suppressed too once soft_limit soft bounces fall within
--               soft_days (this one included);
--   'complaint' a spam report: marked complained, unsubscribed from every topic (each change
--               in consent_log with source 'complaint'), address suppressed.
-- Returns 'duplicate', 'hard_bounce', 'soft_bounce', 'suppressed' (soft limit reached) or
-- 'complaint'.
CREATE FUNCTION facteur_apply_report(
    report_key text, subscriber bigint, campaign bigint, message bigint, kind text, details jsonb,
    soft_limit integer, soft_days integer
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    event_id   bigint := nextval(pg_get_serial_sequence('events', 'id'));
    now_at     timestamptz := now();
    address    text;
    old_status text;
    suppress   text;
BEGIN
    IF kind NOT IN ('hard', 'soft', 'complaint') THEN
        RAISE EXCEPTION 'unknown report kind %', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO event_idempotency (key, subscriber_id, event_id, occurred_at)
    VALUES (report_key, subscriber, event_id, now_at)
    ON CONFLICT (key) DO NOTHING;
    IF NOT FOUND THEN RETURN 'duplicate'; END IF;

    INSERT INTO events (id, type, subscriber_id, campaign_id, message_id, properties, idempotency_key, occurred_at)
    OVERRIDING SYSTEM VALUE
    VALUES (event_id, CASE WHEN kind = 'complaint' THEN 'complaint' ELSE 'bounce' END, subscriber, campaign, message,
            details || jsonb_build_object('kind', kind), report_key, now_at);

    -- Lock the person before counting, so two soft bounces at once cannot both miss the limit.
    SELECT s.email, s.status INTO address, old_status FROM subscribers s WHERE s.id = subscriber FOR NO KEY UPDATE;
    suppress := CASE kind WHEN 'hard' THEN 'hard_bounce' WHEN 'complaint' THEN 'complaint' END;
    IF kind = 'soft' AND (SELECT count(*) FROM events e
                           WHERE e.subscriber_id = subscriber AND e.type = 'bounce'
                             AND e.occurred_at > now_at - make_interval(days => soft_days)
                             AND e.properties->>'kind' = 'soft') >= soft_limit THEN
        suppress := 'soft_bounce';
    END IF;
    IF suppress IS NULL THEN RETURN 'soft_bounce'; END IF;

    IF old_status IN ('active', 'pending') OR (kind = 'complaint' AND old_status IS DISTINCT FROM 'complained') THEN
        UPDATE subscribers SET status = CASE WHEN kind = 'complaint' THEN 'complained' ELSE 'bounced' END, updated_at = now()
         WHERE id = subscriber;
        INSERT INTO consent_log (subscriber_id, action, source, details)
        VALUES (subscriber, 'status', CASE WHEN kind = 'complaint' THEN 'complaint' ELSE 'bounce' END,
                jsonb_build_object('from', old_status, 'to', CASE WHEN kind = 'complaint' THEN 'complained' ELSE 'bounced' END)
                || details);
    END IF;
    IF kind = 'complaint' THEN
        WITH changed AS (
            UPDATE subscriptions SET status = 'unsubscribed', source = 'complaint', updated_at = now()
             WHERE subscriber_id = subscriber AND status = 'subscribed'
            RETURNING topic_id
        )
        INSERT INTO consent_log (subscriber_id, topic_id, action, source, details)
        SELECT subscriber, topic_id, 'unsubscribe', 'complaint', details FROM changed;
    END IF;
    INSERT INTO suppressions (email, reason, details)
    VALUES (address, suppress, COALESCE(details->>'status', '') || ' ' || COALESCE(details->>'diagnostic', ''))
    ON CONFLICT DO NOTHING;
    RETURN CASE suppress WHEN 'hard_bounce' THEN 'hard_bounce' WHEN 'complaint' THEN 'complaint' ELSE 'suppressed' END;
END;
$$;

---------------------------------------------------------------------------------------
-- Backfill: the engagement of the events written before this migration.
---------------------------------------------------------------------------------------

SELECT facteur_engagement_merge('events');
