-- uploads.sql - users (100,000 rows, from users.sql) and the files they
-- uploaded (120,000 rows), for the shadow-column type change runbook.
-- uploads.size_bytes is an INTEGER, and the largest files are already close
-- to its limit of 2,147,483,647 bytes (2 GiB). Generated, no external data;
-- random() is seeded so every load is the same.
\ir users.sql

DO $$ BEGIN PERFORM setseed(0.17); END $$;

CREATE TABLE uploads (
  id BIGSERIAL PRIMARY KEY,
  user_id UUID NOT NULL,
  filename VARCHAR(255) NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  size_bytes INTEGER NOT NULL CONSTRAINT uploads_size_bytes_check CHECK (size_bytes >= 0),
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

-- Mostly small files, a long tail of large videos and archives.
INSERT INTO uploads (user_id, filename, content_type, size_bytes, created_at)
SELECT u.id,
       'file_' || g || f.ext,
       f.content_type,
       CASE WHEN g % 30000 = 0 THEN 2147000000 + g / 30000
            ELSE floor(power(random(), 10) * 2100000000)::integer + 1024
       END,
       now() - (g * interval '157 seconds')
FROM generate_series(1, 120000) AS g
JOIN LATERAL (
  SELECT (ARRAY['.jpg', '.png', '.pdf', '.mp4', '.zip'])[1 + g % 5] AS ext,
         (ARRAY['image/jpeg', 'image/png', 'application/pdf', 'video/mp4', 'application/zip'])[1 + g % 5] AS content_type
) AS f ON true
JOIN users u ON u.username = 'user' || (1 + (g * 13) % 100000);

-- Constraints and indexes after the load: one validation pass, no per-row upkeep.
ALTER TABLE uploads
  ADD CONSTRAINT uploads_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
CREATE INDEX idx_uploads_user_id_created_at ON uploads (user_id, created_at DESC);

VACUUM ANALYZE uploads;
