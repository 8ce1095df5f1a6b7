-- users.sql - a realistic users table for the example runbooks:
-- 100,000 rows, generated, no external data.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email VARCHAR(255) UNIQUE NOT NULL,
  username VARCHAR(50) UNIQUE NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);

INSERT INTO users (email, username, password_hash, created_at, updated_at)
SELECT 'user' || g || '@example.com',
       'user' || g,
       md5('pw' || g),
       now() - (g || ' minutes')::interval,
       now() - (g || ' seconds')::interval
FROM generate_series(1, 100000) AS g;

ANALYZE users;
