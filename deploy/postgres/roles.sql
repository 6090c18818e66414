-- The job store's database and role, with the least rights the service needs. Run once per database by
-- an administrator (psql as the `postgres` superuser), with psql variables:
--
--   psql -v db=tws -v role=tws -v password="$(cat /etc/tari-wallet-sync/db-password)" -f roles.sql
--
-- `password` may be left out (peer or certificate authentication, or a password set apart with
-- \password). The service then connects as `role` (job_store = postgres://tws@HOST:5432/tws, its
-- password in a PGPASSFILE, never in the URL of a config file others can read).
--
-- What the role may do: log in, connect to `db`, and own one schema in it (`tws`, its search path),
-- where the service creates and migrates its tables at start (every replica migrates, under an advisory
-- lock, so each needs these rights; a second "owner" role would only be a second credential on every
-- replica), and VACUUMs the tables it wiped rows from. Nothing else: not a superuser, no new roles or
-- databases, no other schema (PUBLIC's rights to `public` and to the database are revoked), no
-- replication, and a cap on its connections so a misconfigured pool cannot take the server's.

\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec

ALTER ROLE :"role" CONNECTION LIMIT 64;

\if :{?password}
ALTER ROLE :"role" PASSWORD :'password';
\endif

SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec

REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"role";

\connect :"db"

REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS tws AUTHORIZATION :"role";
ALTER ROLE :"role" IN DATABASE :"db" SET search_path = tws;
