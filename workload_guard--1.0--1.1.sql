/* workload_guard--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workload_guard UPDATE TO '1.1'" to load this file. \quit

-- CREATE EXTENSION workload_guard installs 1.0 and then runs this script, so
-- every test exercises the upgrade path.  The C library keeps every symbol
-- that 1.0's script names, so a 1.0 database keeps working until it runs
-- ALTER EXTENSION workload_guard UPDATE.
--
-- One section per concern, in the order of workload_guard--1.0.sql.
