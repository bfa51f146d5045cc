-- Preference center, one-click unsubscribe and double opt-in (issue 5).

---------------------------------------------------------------------------------------
-- Topics in the subscriber's language
---------------------------------------------------------------------------------------

-- {"fr": {"name": "Lettre d'information", "description": "…"}}: the preference center
-- shows a topic's name and description in the page's language when it has them.
ALTER TABLE topics
    ADD COLUMN translations jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(translations) = 'object');

---------------------------------------------------------------------------------------
-- Double opt-in
---------------------------------------------------------------------------------------

-- When the last confirmation email went out: the public sign-up form sends a pending
-- address at most one an hour, so the form cannot be used to flood someone's mailbox.
ALTER TABLE subscribers ADD COLUMN confirmation_sent_at timestamptz NULL;

---------------------------------------------------------------------------------------
-- Consent log vocabulary
---------------------------------------------------------------------------------------

-- 'locale': the person chose another language on the preference page.
-- 'mailto': an unsubscribe request received by email (List-Unsubscribe's mailto: form).
ALTER TABLE consent_log DROP CONSTRAINT consent_log_action_check;
ALTER TABLE consent_log ADD CONSTRAINT consent_log_action_check
    CHECK (action IN ('subscribe', 'unsubscribe', 'unsubscribe_all', 'confirm', 'pause', 'resume',
                      'frequency', 'erase', 'status', 'locale'));
ALTER TABLE consent_log DROP CONSTRAINT consent_log_source_check;
ALTER TABLE consent_log ADD CONSTRAINT consent_log_source_check
    CHECK (source IN ('api', 'import', 'preference_center', 'one_click', 'double_opt_in', 'bounce',
                      'complaint', 'admin', 'signup', 'mailto'));

---------------------------------------------------------------------------------------
-- Single-use form tokens (CSRF)
---------------------------------------------------------------------------------------

-- A form token is signed (who it was issued for, when, a random nonce) and valid for a
-- few hours; its nonce is claimed here in the same transaction as the change it allows,
-- so a replayed form changes nothing. Rows older than a token's lifetime are useless and
-- are deleted by the hourly maintenance pass.
CREATE TABLE form_tokens_used (
    nonce    bigint PRIMARY KEY,
    used_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX form_tokens_used_used_at_idx ON form_tokens_used (used_at);

---------------------------------------------------------------------------------------
-- Frequency preference
---------------------------------------------------------------------------------------

-- 'weekly' and 'monthly' cap campaign mail at one message in 7 or 30 days: a campaign
-- arriving sooner is skipped for that person, with this reason. The rest is unchanged
-- from 0003 (one definition for the claim and the last check before SMTP).
CREATE OR REPLACE FUNCTION facteur_skip_reason(p_subscriber bigint, p_topic bigint) RETURNS text
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
        WHEN s.frequency <> 'as_sent' AND EXISTS (
                 SELECT 1 FROM engagement e
                  WHERE e.subscriber_id = s.id
                    AND e.last_sent_at > now() - CASE s.frequency WHEN 'weekly' THEN interval '7 days'
                                                                  ELSE interval '30 days' END)
             THEN 'subscriber chose ' || s.frequency || ' emails and had one recently'
    END
      FROM (SELECT p_subscriber AS id) k LEFT JOIN subscribers s ON s.id = k.id
$$;
