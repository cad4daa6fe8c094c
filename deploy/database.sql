-- Förvärv Gateway: the role, database and extensions on an existing PostgreSQL (13 or newer).
-- Run once, as a superuser, with the password of the new role as a psql variable:
--   psql -v ON_ERROR_STOP=1 -v password="$(cat /etc/forvarv/db-password)" -f deploy/database.sql
-- Optional variables: -v role=forvarv -v database=forvarv (the defaults).
-- Running it again changes nothing that exists (the password is set again).
\if :{?role}
\else
\set role forvarv
\endif
\if :{?database}
\else
\set database forvarv
\endif
\if :{?password}
\else
\echo 'set the role password: -v password=...'
\quit
\endif

SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';

SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', :'database', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";

\connect :"database"
-- The search index folds accents (unaccent) and ranks by similarity (pg_trgm). Both are trusted
-- extensions, so migrations could create them as the database owner; creating them here keeps the
-- gateway's role free of any privilege beyond its own database.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER SCHEMA public OWNER TO :"role";
