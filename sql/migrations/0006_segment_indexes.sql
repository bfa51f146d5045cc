-- Indexes for the segment compiler's id sets (see SegmentCompiler and bench/segments.sh).
--
-- The compiler reads a condition on events as a set of subscriber ids over a window,
-- `SELECT subscriber_id FROM events WHERE type = $1 AND occurred_at >= $2 …`, not as a probe
-- per person. A set over a window wants the window in the key and the person in the index.
--
-- Building these takes a pass over every partition of events, during which events cannot be
-- written (CREATE INDEX on a partitioned table cannot run CONCURRENTLY); on a large
-- installation, run the migration at a quiet hour.

-- Custom events ("page_view with path /pricing at least 5 times in 7 days", "purchase amounts
-- summed over 365 days"): by name and time, with the person and the properties at hand, so a
-- windowed condition is an index-only range scan of its partitions. It replaces the index
-- keyed by person, which served per-person probes that the compiler no longer makes (a person's
-- own events are still served by events_subscriber_idx).
-- Keep the type list in sync with the built-in types (Swift's EventType).
DROP INDEX events_custom_idx;
CREATE INDEX events_custom_idx ON events (type, occurred_at) INCLUDE (subscriber_id, properties)
    WHERE type NOT IN ('sent', 'delivered', 'open', 'click', 'bounce', 'complaint', 'unsubscribe');

-- Bounces, complaints and unsubscribes ("never bounced", "unsubscribed within 90d"): rare, so
-- the index is small, and without it such a condition read all of events_subscriber_idx.
CREATE INDEX events_outcome_idx ON events (type, occurred_at) INCLUDE (subscriber_id, campaign_id)
    WHERE type IN ('bounce', 'complaint', 'unsubscribe');

-- What PostgreSQL knows of the values segments compare, so that it can tell a condition that
-- holds for a fifth of the people from one that holds for a handful, and plan accordingly
-- (without them every such condition is guessed at half a percent). Each expression is the
-- very one SegmentCompiler writes; custom fields get theirs when they are registered
-- (SegmentCompiler.statistics(for:), run by `facteur migrate` for older fields).
CREATE STATISTICS subscribers_locale_stats ON (lower(locale)) FROM subscribers;
CREATE STATISTICS subscribers_domain_stats ON (lower(split_part(email, '@', 2))) FROM subscribers;
CREATE STATISTICS companies_employees_stats ON ((employees)::double precision) FROM companies;
CREATE STATISTICS companies_revenue_stats ON ((revenue)::double precision) FROM companies;
