-- Why a queued message must not go out now, or NULL when it may: one definition shared by
-- the worker's claim and its last check before handing a message to SMTP, so the two can
-- never disagree. Audience materialization applies the same rules set-wise.
--
-- An unsubscribe, a bounce, a complaint, a pause or a suppression committed after the
-- campaign started is seen here: the worker skips the message with this reason.
CREATE FUNCTION facteur_skip_reason(p_subscriber bigint, p_topic bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN s.id IS NULL THEN 'subscriber erased'
        WHEN s.status <> 'active' THEN 'subscriber is ' || s.status
        WHEN s.paused_until IS NOT NULL AND s.paused_until > now() THEN 'subscriber paused their emails'
        WHEN p_topic IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM subscriptions x
                  WHERE x.subscriber_id = s.id AND x.topic_id = p_topic AND x.status = 'subscribed')
             THEN 'not subscribed to the topic'
        WHEN EXISTS (SELECT 1 FROM suppressions x WHERE x.email IS NOT NULL AND lower(x.email) = lower(s.email))
          OR EXISTS (SELECT 1 FROM suppressions x
                      WHERE x.email_hash IS NOT NULL AND x.email_hash = sha256(convert_to(lower(s.email), 'UTF8')))
             THEN 'address suppressed'
    END
      FROM (SELECT p_subscriber AS id) k LEFT JOIN subscribers s ON s.id = k.id
$$;
