-- users_legacy_name.sql - the users table of users.sql as it looks before the
-- rename runbook: with the legacy `name` column (added last, years ago, with
-- its own index). 100,000 rows, generated, no external data; 2% of the users
-- never set a name.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email VARCHAR(255) UNIQUE NOT NULL,
  username VARCHAR(50) UNIQUE NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  name VARCHAR(100)
);

INSERT INTO users (email, username, password_hash, created_at, updated_at, name)
SELECT 'user' || g || '@example.com',
       'user' || g,
       md5('pw' || g),
       now() - (g || ' minutes')::interval,
       now() - (g || ' seconds')::interval,
       CASE WHEN g % 50 = 0 THEN NULL
            ELSE (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret',
                        'Ken', 'Frances', 'Dennis', 'Radia', 'Niklaus', 'Sophie', 'John'])[1 + g % 14]
                 || ' ' ||
                 (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton',
                        'Thompson', 'Allen', 'Ritchie', 'Perlman', 'Wirth', 'Wilson', 'Backus',
                        'Kay', 'Lamport', 'Goldberg'])[1 + (g / 14) % 17]
       END
FROM generate_series(1, 100000) AS g;

-- Indexes after the load: faster than maintaining them row by row.
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_users_name ON users(name);

ANALYZE users;
