-- 0001_init.sql — Facteur's whole data model (see shared/DESIGN.md, "Data model").
--
-- Conventions used throughout:
--   * The migration runner wraps this file in one transaction: no BEGIN/COMMIT here.
--   * Forward-only: no IF NOT EXISTS; a later change is a new numbered file.
--   * Core PostgreSQL 15 only (no extensions).
--   * Surrogate keys are `bigint GENERATED ALWAYS AS IDENTITY`.
--   * Enumerations are text + CHECK, not enum types: adding a value is a one-line
--     constraint swap in a migration, and the Swift side binds plain strings.
--   * `updated_at` is set by the application's UPDATE statements (`updated_at = now()`),
--     not by triggers: bulk upserts (imports of 1M rows) stay free of per-row trigger cost.
--   * Free-form JSON columns must hold an object (CHECK jsonb_typeof = 'object').
--   * Columns that end up in mail headers reject control characters (CR/LF, NUL …) as a
--     second line of defence behind the application's validation.

---------------------------------------------------------------------------------------
-- Companies (B2B firmographics)
---------------------------------------------------------------------------------------

CREATE TABLE companies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    domain      text NULL,
    industry    text NULL,
    -- NAICS codes are 2 to 6 digits (sector "23" … national industry "238220"); stored as
    -- text so that prefixes keep their meaning ("2382" is a prefix of "238220").
    naics       text NULL CHECK (naics ~ '^[0-9]{2,6}$'),
    employees   integer NULL CHECK (employees >= 0),
    revenue     numeric(18,2) NULL CHECK (revenue >= 0),
    region      text NULL,
    attributes  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX companies_domain_key ON companies (lower(domain)) WHERE domain IS NOT NULL;
-- Segment leaves over companies. NAICS is matched by prefix (`naics LIKE $1 || '%'`):
-- text_pattern_ops makes that an index range scan whatever the database collation.
CREATE INDEX companies_naics_idx ON companies (naics text_pattern_ops);
-- Segment text comparisons are case-insensitive by default, so industry and region are
-- indexed on lower(); text_pattern_ops serves both `=` and `starts_with` (LIKE 'x%').
CREATE INDEX companies_industry_idx ON companies (lower(industry) text_pattern_ops);
CREATE INDEX companies_region_idx ON companies (lower(region) text_pattern_ops);
CREATE INDEX companies_employees_idx ON companies (employees);
CREATE INDEX companies_revenue_idx ON companies (revenue);

---------------------------------------------------------------------------------------
-- Subscribers
---------------------------------------------------------------------------------------

CREATE TABLE subscribers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Full syntax checks (RFC 5321, IDN) live in the application; the database only
    -- refuses what can never be an address and what could inject headers.
    email         text NOT NULL CHECK (strpos(email, '@') > 1 AND email !~ '[[:cntrl:]]'),
    name          text NOT NULL DEFAULT '' CHECK (name !~ '[[:cntrl:]]'),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    -- BCP 47-ish tag: "en", "fr", "fr-CA".
    locale        text NOT NULL DEFAULT 'en' CHECK (locale ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    -- IANA zone name ("Europe/Paris"); validated by the application (a CHECK cannot look
    -- at pg_timezone_names).
    timezone      text NULL,
    -- Custom fields; keys and value types are governed by `fields`.
    attributes    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    -- Lead score. The bounds also refuse NaN (NaN sorts above 'Infinity' in PostgreSQL).
    score         double precision NOT NULL DEFAULT 0
                  CHECK (score > '-Infinity' AND score < 'Infinity'),
    company_id    bigint NULL REFERENCES companies ON DELETE SET NULL,
    frequency     text NOT NULL DEFAULT 'as_sent' CHECK (frequency IN ('as_sent', 'weekly', 'monthly')),
    paused_until  timestamptz NULL,
    confirmed_at  timestamptz NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique case-insensitively. Lookups must use `lower(email) = lower($1)` to hit it.
CREATE UNIQUE INDEX subscribers_email_key ON subscribers (lower(email));
CREATE INDEX subscribers_status_idx ON subscribers (status);
CREATE INDEX subscribers_company_id_idx ON subscribers (company_id);
-- Keyset (cursor) pagination: WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id.
CREATE INDEX subscribers_created_at_id_idx ON subscribers (created_at, id);
CREATE INDEX subscribers_score_idx ON subscribers (score);
-- jsonb_path_ops: smaller and faster than the default opclass for `attributes @> '{"k": v}'`
-- (the only operator it supports, which is what equality leaves compile to).
CREATE INDEX subscribers_attributes_idx ON subscribers USING gin (attributes jsonb_path_ops);

---------------------------------------------------------------------------------------
-- Custom-field registry
---------------------------------------------------------------------------------------

CREATE TABLE fields (
    -- Built-in subscriber fields are reserved so that a segment condition such as
    -- `status = "x"` can never be ambiguous between a built-in and a custom field.
    key         text PRIMARY KEY
                CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$')
                CONSTRAINT fields_key_reserved_check
                CHECK (key NOT IN ('id', 'email', 'name', 'domain', 'status', 'locale',
                                   'timezone', 'score', 'company', 'company_id', 'frequency',
                                   'paused_until', 'confirmed_at', 'created_at', 'updated_at')),
    type        text NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date')),
    label       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

---------------------------------------------------------------------------------------
-- Topics and subscriptions
---------------------------------------------------------------------------------------

CREATE TABLE topics (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key                 text NOT NULL UNIQUE CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name                text NOT NULL,
    description         text NOT NULL DEFAULT '',
    default_subscribed  boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- No row for (subscriber, topic) means "never set" (a segment leaf distinguishes it).
CREATE TABLE subscriptions (
    subscriber_id  bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
    topic_id       bigint NOT NULL REFERENCES topics ON DELETE CASCADE,
    status         text NOT NULL CHECK (status IN ('subscribed', 'unsubscribed')),
    -- How the current status was set (same vocabulary as consent_log.source in practice).
    source         text NOT NULL CHECK (source <> ''),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, topic_id)
);

-- Audience materialization and segment topic leaves: "everyone subscribed to topic T"
-- is an index-only range scan.
CREATE INDEX subscriptions_topic_status_idx ON subscriptions (topic_id, status, subscriber_id);

---------------------------------------------------------------------------------------
-- Consent log (append-only)
---------------------------------------------------------------------------------------

-- subscriber_id and topic_id deliberately have no foreign keys: the log must outlive
-- the rows it talks about (a deleted topic, an unsubscribed-then-deleted person). Only
-- an erasure (GDPR art. 17) removes a person's entries, see the trigger below.
CREATE TABLE consent_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id  bigint NOT NULL,
    topic_id       bigint NULL,
    action         text NOT NULL
                   CHECK (action IN ('subscribe', 'unsubscribe', 'unsubscribe_all', 'confirm',
                                     'pause', 'resume', 'frequency', 'erase', 'status')),
    source         text NOT NULL
                   CHECK (source IN ('api', 'import', 'preference_center', 'one_click',
                                     'double_opt_in', 'bounce', 'complaint', 'admin', 'signup')),
    ip             inet NULL,
    user_agent     text NULL,
    details        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    occurred_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX consent_log_subscriber_idx ON consent_log (subscriber_id, occurred_at);
-- Consent export for a date range.
CREATE INDEX consent_log_occurred_at_idx ON consent_log (occurred_at);

-- Rows are never updated. They are deleted only by the erasure transaction, which runs
-- `SET LOCAL facteur.erasing = 'on'` first (LOCAL: the permission ends with that
-- transaction). This guards against application bugs, not against someone with SQL
-- access, who could set the flag too.
CREATE FUNCTION facteur_consent_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('facteur.erasing', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'consent_log is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = CASE WHEN TG_OP = 'DELETE'
                          THEN 'only an erasure (SET LOCAL facteur.erasing = ''on'') may delete entries'
                          ELSE 'entries are never updated; append a new one' END;
END;
$$;

CREATE TRIGGER consent_log_append_only
    BEFORE UPDATE OR DELETE ON consent_log
    FOR EACH ROW EXECUTE FUNCTION facteur_consent_log_append_only();

-- TRUNCATE bypasses row triggers, so it gets its own (statement-level) guard.
CREATE TRIGGER consent_log_no_truncate
    BEFORE TRUNCATE ON consent_log
    FOR EACH STATEMENT EXECUTE FUNCTION facteur_consent_log_append_only();

---------------------------------------------------------------------------------------
-- API keys
---------------------------------------------------------------------------------------

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    -- SHA-256 of the key; the key itself is shown once and never stored.
    key_hash      bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    -- The key's first characters, shown in listings so people can tell keys apart.
    prefix        text NOT NULL,
    scopes        text[] NOT NULL DEFAULT '{}' CHECK (array_position(scopes, NULL) IS NULL),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NULL,
    revoked_at    timestamptz NULL
);

---------------------------------------------------------------------------------------
-- Suppressions: addresses never to send to
---------------------------------------------------------------------------------------

CREATE TABLE suppressions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NULL CHECK (email !~ '[[:cntrl:]]'),
    -- SHA-256 of lower(email): lets an erased person stay suppressed without keeping
    -- their address. Audience queries check both columns.
    email_hash  bytea NULL CHECK (octet_length(email_hash) = 32),
    reason      text NOT NULL
                CHECK (reason IN ('hard_bounce', 'complaint', 'manual', 'unsubscribe', 'erased',
                                  'soft_bounce')),
    details     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT suppressions_email_or_hash_check CHECK (email IS NOT NULL OR email_hash IS NOT NULL)
);

CREATE UNIQUE INDEX suppressions_email_key ON suppressions (lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX suppressions_email_hash_key ON suppressions (email_hash) WHERE email_hash IS NOT NULL;

---------------------------------------------------------------------------------------
-- Templates, segments, campaigns
---------------------------------------------------------------------------------------

CREATE TABLE templates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    -- subject, html and text are Mustache sources, validated at save time.
    subject     text NOT NULL,
    html        text NOT NULL,
    -- NULL: the text part is generated from the HTML.
    text        text NULL,
    -- Name of a layout under templates/email/ (NULL: none). Restricted to a plain file
    -- name so it can never walk out of that directory.
    layout      text NULL CHECK (layout ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE segments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    -- The rule tree in its JSON form ({"and": [...]}, {"or": [...]}, {"not": {...}}, leaves).
    definition    jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    kind          text NOT NULL DEFAULT 'dynamic' CHECK (kind IN ('dynamic', 'static')),
    -- Static segments: when segment_members was last (re)computed; NULL until then.
    refreshed_at  timestamptz NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Snapshot of a static segment.
CREATE TABLE segment_members (
    segment_id     bigint NOT NULL REFERENCES segments ON DELETE CASCADE,
    subscriber_id  bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
    PRIMARY KEY (segment_id, subscriber_id)
);

-- Serves the ON DELETE CASCADE from subscribers (erasure) without a scan.
CREATE INDEX segment_members_subscriber_idx ON segment_members (subscriber_id);

CREATE TABLE campaigns (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    subject       text NOT NULL CHECK (subject !~ '[[:cntrl:]]'),
    from_name     text NOT NULL DEFAULT '' CHECK (from_name !~ '[[:cntrl:]]'),
    from_email    text NOT NULL CHECK (strpos(from_email, '@') > 1 AND from_email !~ '[[:cntrl:]]'),
    reply_to      text NULL CHECK (strpos(reply_to, '@') > 1 AND reply_to !~ '[[:cntrl:]]'),
    -- Templates, segments and topics in use by a campaign cannot be deleted (RESTRICT):
    -- SET NULL would silently turn a campaign's audience into "everyone" (segment) or
    -- make its one-click unsubscribe mean "from everything" (topic).
    template_id   bigint NOT NULL REFERENCES templates ON DELETE RESTRICT,
    segment_id    bigint NULL REFERENCES segments ON DELETE RESTRICT,   -- NULL: everyone
    topic_id      bigint NULL REFERENCES topics ON DELETE RESTRICT,     -- NULL: no topic
    -- Extra mail headers, {"X-Header": "value"}.
    headers       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'paused', 'cancelled')),
    scheduled_at  timestamptz NULL,   -- UTC instant; the time zone is the API's concern
    started_at    timestamptz NULL,
    finished_at   timestamptz NULL,
    track_opens   boolean NOT NULL DEFAULT true,
    track_clicks  boolean NOT NULL DEFAULT true,
    rate_limit    integer NULL CHECK (rate_limit > 0),   -- messages per second; NULL: no limit
    -- A/B subject test, e.g. {"subjects": ["A", "B"], "test_share": 0.2,
    -- "metric": "open" | "click", "wait_seconds": 14400, "winner": 1}. NULL: no test.
    -- messages.variant is the 0-based index into "subjects".
    ab            jsonb NULL CHECK (jsonb_typeof(ab) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Status invariants; set the timestamp in the same UPDATE as the status.
    CONSTRAINT campaigns_scheduled_at_check CHECK (status <> 'scheduled' OR scheduled_at IS NOT NULL),
    CONSTRAINT campaigns_started_at_check CHECK (status NOT IN ('sending', 'sent') OR started_at IS NOT NULL),
    CONSTRAINT campaigns_finished_at_check CHECK (status <> 'sent' OR finished_at IS NOT NULL)
);

-- The scheduler's "what is due" query.
CREATE INDEX campaigns_scheduled_idx ON campaigns (scheduled_at) WHERE status = 'scheduled';
-- "Any of the last N campaigns" segment leaves order campaigns by start.
CREATE INDEX campaigns_started_at_idx ON campaigns (started_at) WHERE started_at IS NOT NULL;
-- Foreign keys (the RESTRICT checks on delete).
CREATE INDEX campaigns_template_id_idx ON campaigns (template_id);
CREATE INDEX campaigns_segment_id_idx ON campaigns (segment_id) WHERE segment_id IS NOT NULL;
CREATE INDEX campaigns_topic_id_idx ON campaigns (topic_id) WHERE topic_id IS NOT NULL;

-- Every href of a campaign's HTML, recorded at send start. Click URLs carry the row's id
-- and redirect only to the url stored here, so the redirect can't be an open redirect.
CREATE TABLE campaign_links (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    -- Only http(s) links are tracked (never javascript:, data: …). The length cap keeps
    -- the (campaign_id, url) btree entry under PostgreSQL's ~2.7 kB index-row limit, so
    -- an overlong URL is a clear CHECK violation rather than an index error.
    url          text NOT NULL CHECK (url ~* '^https?://' AND octet_length(url) <= 2048),
    UNIQUE (campaign_id, url)
);

---------------------------------------------------------------------------------------
-- Messages: the send queue and its history
---------------------------------------------------------------------------------------

CREATE TABLE messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    -- Erasing a subscriber deletes their messages.
    subscriber_id    bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
    -- A/B subject variant: 0-based index into campaigns.ab->'subjects' (up to 4).
    -- NULL: the campaign's own subject (no test, or the winner's send to the rest).
    variant          smallint NULL CHECK (variant BETWEEN 0 AND 3),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Lease: the worker that claimed the message and until when. An expired lease on a
    -- 'sending' row (worker crash) may be reclaimed by any worker.
    locked_by        text NULL,
    locked_until     timestamptz NULL,
    smtp_reply       text NULL,    -- the server's last reply (queue id on success)
    skip_reason      text NULL,    -- why an ineligible message was skipped at claim time
    -- RFC 5322 Message-ID, stored WITHOUT the angle brackets ("id-left@id-right"), so the
    -- bounce matcher and the worker agree on one form.
    message_id       text NULL CHECK (message_id !~ '[<>[:space:][:cntrl:]]'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz NULL,
    -- One message per (campaign, subscriber): no one gets a campaign twice by construction;
    -- audience materialization relies on it (INSERT … ON CONFLICT DO NOTHING).
    UNIQUE (campaign_id, subscriber_id),
    CONSTRAINT messages_lease_check CHECK (status <> 'sending' OR (locked_by IS NOT NULL AND locked_until IS NOT NULL)),
    CONSTRAINT messages_sent_at_check CHECK (status <> 'sent' OR sent_at IS NOT NULL),
    CONSTRAINT messages_skip_reason_check CHECK (status <> 'skipped' OR skip_reason IS NOT NULL)
);

-- Claiming: the next due queued messages, FOR UPDATE SKIP LOCKED.
CREATE INDEX messages_claim_idx ON messages (next_attempt_at) WHERE status = 'queued';
-- Per-campaign claims (per-campaign rate limits; a paused campaign's queued backlog is
-- never walked over by the global index above when claims name the sending campaigns)
-- and campaign progress (counts per status).
CREATE INDEX messages_campaign_status_idx ON messages (campaign_id, status, next_attempt_at);
-- Lease reclaim: sending rows whose lease expired.
CREATE INDEX messages_lease_idx ON messages (locked_until) WHERE status = 'sending';
-- Erasure cascade and per-subscriber history ("received the last 3 campaigns").
CREATE INDEX messages_subscriber_idx ON messages (subscriber_id);
-- Matching asynchronous bounces (DSN/ARF) to the original message.
CREATE UNIQUE INDEX messages_message_id_key ON messages (message_id) WHERE message_id IS NOT NULL;

---------------------------------------------------------------------------------------
-- Events (range-partitioned by month)
---------------------------------------------------------------------------------------

-- Every engagement and custom event. Built-in types: sent, delivered, open, click, bounce,
-- complaint, unsubscribe; anything else is a custom event name (page_view, purchase …).
--
-- No foreign keys, on purpose:
--   * subscriber_id: a FK check on the hottest insert path would take a FOR KEY SHARE
--     lock on the subscriber row per event; erasure deletes a person's events explicitly
--     (DELETE FROM events WHERE subscriber_id = $1, served by events_subscriber_idx).
--   * campaign_id / message_id / link_id: stats history outlives deleted campaigns.
--   * Nothing can reference events either: on a partitioned table every unique key must
--     contain the partition key, so the only key is (id, occurred_at).
CREATE TABLE events (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    type             text NOT NULL CHECK (type ~ '^[^[:cntrl:]]{1,100}$'),
    subscriber_id    bigint NOT NULL,
    campaign_id      bigint NULL,
    message_id       bigint NULL,     -- messages.id (not the RFC 5322 Message-ID)
    link_id          bigint NULL,     -- campaign_links.id, for clicks
    -- Privacy-proxy / scanner traffic: recorded, but not a human open or click.
    machine          boolean NOT NULL DEFAULT false,
    -- Device class parsed from the user agent; NULL when unknown.
    device           text NULL CHECK (device IN ('mobile', 'tablet', 'desktop', 'other')),
    client           text NULL,       -- email client family: "Apple Mail", "Gmail", "Outlook" …
    properties       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    -- The client's idempotency key, kept for reference. Uniqueness cannot be enforced
    -- here (a unique index would have to include occurred_at, and a retry without an
    -- explicit occurred_at gets a new one): event_idempotency below enforces it.
    idempotency_key  text NULL,
    occurred_at      timestamptz NOT NULL,
    -- PostgreSQL requires the partition key in every unique index of a partitioned table.
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- Events outside every monthly partition (far past or future occurred_at given through
-- the API) land here rather than failing. facteur_ensure_event_partitions moves any rows
-- of a month out of it when it creates that month's partition.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Per subscriber: erasure, "download my data", engagement/score rebuild of one person,
-- segment leaves correlated on one subscriber.
CREATE INDEX events_subscriber_idx ON events (subscriber_id, type, occurred_at);

-- Custom-event segment leaves ("page_view with path /pricing ≥ 5 times in 7 days",
-- sums of purchase amounts): index-only with the properties at hand.
-- Keep the type list in sync with the built-in types (Swift's EventType).
CREATE INDEX events_custom_idx ON events (type, subscriber_id, occurred_at) INCLUDE (properties)
    WHERE type NOT IN ('sent', 'delivered', 'open', 'click', 'bounce', 'complaint', 'unsubscribe');

-- Email-activity segment leaves over a window ("opened within 30d", human only:
-- machine = false) and technographic leaves (device, client): index-only.
CREATE INDEX events_email_activity_idx ON events (type, machine, occurred_at)
    INCLUDE (subscriber_id, campaign_id, link_id, device, client)
    WHERE type IN ('open', 'click');

-- Campaign stats (sent/delivered/bounced/opens/clicks/per link/per hour) and segment
-- leaves naming a campaign ("clicked link X of campaign Y", "received campaign 12").
CREATE INDEX events_campaign_idx ON events (campaign_id, type, occurred_at)
    INCLUDE (subscriber_id, machine, link_id)
    WHERE campaign_id IS NOT NULL;

-- Client idempotency keys of POST /api/events, unique across all partitions.
-- Insert here with ON CONFLICT DO NOTHING in the same transaction as the event; a
-- conflict means the event is a retry and is not inserted again. Old keys can be pruned
-- by created_at along with event retention. Erasure cascades from subscribers.
CREATE TABLE event_idempotency (
    key            text PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 255),
    subscriber_id  bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
    event_id       bigint NOT NULL,
    occurred_at    timestamptz NOT NULL,   -- with event_id, locates the event (its PK)
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX event_idempotency_subscriber_idx ON event_idempotency (subscriber_id);
CREATE INDEX event_idempotency_created_at_idx ON event_idempotency (created_at);

-- Creates the monthly partitions events_yYYYYmMM for the current month and the
-- `months_ahead` following ones (months in UTC, whatever the session's TimeZone).
-- Idempotent: existing partitions are skipped. Returns how many it created.
-- Safe to call concurrently (serialized by a transaction-scoped advisory lock) and
-- while events are being written: a new partition is built as a standalone table,
-- filled with any rows of its month sitting in events_default, then ATTACHed, which
-- takes only a SHARE UPDATE EXCLUSIVE lock on events (CREATE TABLE … PARTITION OF
-- would take ACCESS EXCLUSIVE and fail outright if the default partition held rows of
-- that month). Call it at server/worker start and daily.
CREATE FUNCTION facteur_ensure_event_partitions(months_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    parent     regclass := 'events'::regclass;
    schema     text;
    cols       text;
    first_mon  timestamp;   -- UTC wall-clock time, no time zone
    lo         timestamp;
    hi         timestamp;
    lo_lit     text;
    hi_lit     text;
    part       text;
    created    integer := 0;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120, got %', months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Any constant works; it only has to be the same for every caller.
    PERFORM pg_advisory_xact_lock(hashtext('facteur_ensure_event_partitions'));

    SELECT n.nspname INTO schema
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = parent;

    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute
     WHERE attrelid = parent AND attnum > 0 AND NOT attisdropped;

    -- Month arithmetic on `timestamp` (not timestamptz) so that adding a month never
    -- depends on the session's time zone and DST.
    first_mon := date_trunc('month', now() AT TIME ZONE 'UTC');

    FOR i IN 0 .. months_ahead LOOP
        lo := first_mon + make_interval(months => i);
        hi := lo + interval '1 month';
        part := format('events_y%sm%s', to_char(lo, 'YYYY'), to_char(lo, 'MM'));

        CONTINUE WHEN to_regclass(format('%I.%I', schema, part)) IS NOT NULL;

        -- Explicit UTC offsets: the literals mean the same whatever TimeZone/DateStyle.
        lo_lit := to_char(lo, 'YYYY-MM-DD HH24:MI:SS') || '+00';
        hi_lit := to_char(hi, 'YYYY-MM-DD HH24:MI:SS') || '+00';

        EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       schema, part, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I.events_default'
                       ' WHERE occurred_at >= %L AND occurred_at < %L RETURNING %s)'
                       ' INSERT INTO %I.%I (%s) SELECT %s FROM moved',
                       schema, lo_lit, hi_lit, cols, schema, part, cols, cols);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                       parent, schema, part, lo_lit, hi_lit);
        created := created + 1;
    END LOOP;

    RETURN created;
END;
$$;

---------------------------------------------------------------------------------------
-- Engagement rollup and scoring
---------------------------------------------------------------------------------------

-- One row per subscriber, kept current in the same transaction as the events, so common
-- segment leaves ("opened in the last 6 months", "opens mostly on mobile") need no scan
-- of events. Counts are of human opens/clicks only (machine = false). No row: no activity.
CREATE TABLE engagement (
    subscriber_id     bigint PRIMARY KEY REFERENCES subscribers ON DELETE CASCADE,
    last_sent_at      timestamptz NULL,
    last_open_at      timestamptz NULL,
    last_click_at     timestamptz NULL,
    last_activity_at  timestamptz NULL,   -- latest open, click or custom event
    opens             integer NOT NULL DEFAULT 0 CHECK (opens >= 0),
    clicks            integer NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    sends             integer NOT NULL DEFAULT 0 CHECK (sends >= 0),
    top_device        text NULL CHECK (top_device IN ('mobile', 'tablet', 'desktop', 'other')),
    top_client        text NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX engagement_last_open_idx ON engagement (last_open_at);
CREATE INDEX engagement_last_click_idx ON engagement (last_click_at);
CREATE INDEX engagement_last_activity_idx ON engagement (last_activity_at);

-- Lead-scoring rules. kind = 'event': `points` per event of `event_type` whose properties
-- match `condition` (property filters, same JSON form as segment leaves; {} = any).
-- kind = 'attribute': `points` while the subscriber matches `condition` (a segment rule
-- tree over attributes/company fields).
CREATE TABLE scoring_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('event', 'attribute')),
    event_type      text NULL,
    condition       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(condition) = 'object'),
    -- May be negative. The bounds also refuse NaN and infinities.
    points          double precision NOT NULL CHECK (points <> 0 AND points BETWEEN -1000000 AND 1000000),
    -- Most points (in absolute value) this rule gives one subscriber per UTC day; NULL: no cap.
    daily_cap       double precision NULL CHECK (daily_cap > 0 AND daily_cap <= 1000000),
    -- Decay: points earned by this rule halve every half_life_days; NULL: no decay.
    half_life_days  integer NULL CHECK (half_life_days > 0),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scoring_rules_event_type_check CHECK ((kind = 'event') = (event_type IS NOT NULL))
);

-- Points earned per subscriber, rule and UTC day. It is what makes the daily cap
-- (upsert with LEAST/GREATEST against daily_cap) and decay (points × 0.5^(age/half-life))
-- computable incrementally, and what `facteur scores rebuild` recomputes and compares.
-- subscribers.score = Σ decayed points over this ledger.
CREATE TABLE score_ledger (
    subscriber_id  bigint NOT NULL REFERENCES subscribers ON DELETE CASCADE,
    rule_id        bigint NOT NULL REFERENCES scoring_rules ON DELETE CASCADE,
    day            date NOT NULL,
    points         double precision NOT NULL CHECK (points > '-Infinity' AND points < 'Infinity'),
    PRIMARY KEY (subscriber_id, rule_id, day)
);

-- Deleting a rule (cascade) and per-rule recomputation.
CREATE INDEX score_ledger_rule_idx ON score_ledger (rule_id, day);

---------------------------------------------------------------------------------------
-- Initial event partitions: this month and the next three.
---------------------------------------------------------------------------------------

SELECT facteur_ensure_event_partitions(3);
