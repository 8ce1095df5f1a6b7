-- analytics.sql - the analytics schema for the performance-indexes runbook:
-- the users table (100,000 rows), 40,000 visitor sessions, 250,000 page
-- views and 100,000 system metric samples, generated, no external data.
-- Loads in a few seconds; random() is seeded so every load is the same.
\ir users.sql

DO $$ BEGIN PERFORM setseed(0.42); END $$;

-- One row per browser session; user_id is set when the visitor is logged in.
CREATE TABLE visitor_sessions (
  id BIGSERIAL PRIMARY KEY,
  visitor_id UUID NOT NULL,
  user_id UUID,
  started_at TIMESTAMP WITH TIME ZONE NOT NULL,
  last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
  ended_at TIMESTAMP WITH TIME ZONE,
  user_agent TEXT,
  country CHAR(2)
);

CREATE TABLE page_views (
  id BIGSERIAL PRIMARY KEY,
  session_id BIGINT NOT NULL,
  path VARCHAR(512) NOT NULL,
  referrer VARCHAR(512),
  "timestamp" TIMESTAMP WITH TIME ZONE NOT NULL,
  duration_ms INTEGER
);

CREATE TABLE system_metrics (
  id BIGSERIAL PRIMARY KEY,
  host VARCHAR(64) NOT NULL,
  metric_name VARCHAR(128) NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  recorded_at TIMESTAMP WITH TIME ZONE NOT NULL
);

-- Sessions over the last 90 days; the newest 2% are still open (ended_at IS NULL).
INSERT INTO visitor_sessions (visitor_id, user_id, started_at, last_seen_at, ended_at, user_agent, country)
SELECT gen_random_uuid(),
       CASE WHEN random() < 0.4 THEN u.id END,
       s.started,
       s.started + s.length,
       CASE WHEN g <= 800 THEN NULL ELSE s.started + s.length END,
       (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64)', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4)',
              'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)', 'Mozilla/5.0 (X11; Linux x86_64)'])[1 + (g % 4)],
       (ARRAY['US', 'DE', 'GB', 'FR', 'IN', 'BR', 'JP', 'CA'])[1 + (g % 8)]
FROM generate_series(1, 40000) AS g
CROSS JOIN LATERAL (
  SELECT now() - (g * interval '194 seconds') AS started,
         (1 + floor(random() * 1800)) * interval '1 second' AS length
) AS s
LEFT JOIN LATERAL (
  SELECT id FROM users WHERE username = 'user' || (1 + (g * 7) % 100000)
) AS u ON true;

-- Page views: about 6 per session, spread over each session's lifetime.
INSERT INTO page_views (session_id, path, referrer, "timestamp", duration_ms)
SELECT 1 + (g % 40000),
       (ARRAY['/', '/dashboard', '/pricing', '/docs', '/docs/getting-started', '/blog',
              '/settings', '/reports', '/login', '/signup'])[1 + floor(random() * 10)::int]
         || CASE WHEN random() < 0.2 THEN '/' || (1 + floor(random() * 500)::int) ELSE '' END,
       (ARRAY[NULL, 'https://www.google.com/', 'https://news.ycombinator.com/', 'https://twitter.com/'])[1 + (g % 4)],
       now() - ((1 + (g % 40000)) * interval '194 seconds') + (g / 40000) * interval '20 seconds',
       (random() * 60000)::int
FROM generate_series(1, 250000) AS g;

-- Metrics: 12 series sampled every minute for the last six days.
INSERT INTO system_metrics (host, metric_name, value, recorded_at)
SELECT 'web-' || (1 + (g % 3)),
       (ARRAY['cpu_percent', 'memory_percent', 'requests_per_second', 'p95_latency_ms'])[1 + ((g / 3) % 4)],
       round((random() * 100)::numeric, 2)::double precision,
       now() - (g / 12) * interval '1 minute'
FROM generate_series(1, 100000) AS g;

-- Constraints and migration 004's indexes (only the foreign-key lookups),
-- added after the load: one validation scan instead of 250,000 lookups.
ALTER TABLE visitor_sessions
  ADD CONSTRAINT visitor_sessions_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE page_views
  ADD CONSTRAINT page_views_session_id_fkey
  FOREIGN KEY (session_id) REFERENCES visitor_sessions(id) ON DELETE CASCADE;
CREATE INDEX idx_page_views_session_id ON page_views(session_id);
CREATE INDEX idx_visitor_sessions_user_id ON visitor_sessions(user_id);

VACUUM ANALYZE visitor_sessions;
VACUUM ANALYZE page_views;
VACUUM ANALYZE system_metrics;
