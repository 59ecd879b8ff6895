-- Scopes of digest rules: a rule applies to the sessions of the database
-- whose table holds it (another database's name is refused), caps of two
-- databases never share slots, and a role-scoped rule never hits a role it
-- was not written for (dropped, renamed, or an OID given to a new role).
-- (Caps of two databases: test/t/040_digest_rules_databases.pl.)
CREATE EXTENSION workload_guard;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1);
CREATE ROLE regress_wg_r1;
CREATE ROLE regress_wg_r2;
GRANT SELECT ON t TO regress_wg_r1, regress_wg_r2;
CREATE FUNCTION qid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT workload_guard.queryid_of(q) $$;

-- database: NULL and this database's name are this database; any other
-- name is refused, since no session there ever reads this table
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), database => 'template1');
SELECT workload_guard.cap_digest(qid('SELECT id FROM t'), 1, database => 'template1');
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), database => current_database());
SELECT database = current_database() AS this_db FROM workload_guard.digest_rules;
SELECT workload_guard.unblock_digest(qid('SELECT id FROM t'));

-- role: applies to that role only
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), 'r1', role => 'regress_wg_r1');
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), 'r2', role => 'regress_wg_r2');
SET ROLE regress_wg_r1;
\set VERBOSITY sqlstate
SELECT id FROM t;
\set VERBOSITY default
RESET ROLE;
SELECT id FROM t;
SELECT b.reason, b.role, r.role_name, b.active
  FROM workload_guard.blocked_digests b
  JOIN workload_guard.digest_rules r USING (queryid, reason) ORDER BY reason;

-- the role's OID now names another role (what DROP ROLE and a later
-- CREATE ROLE can do): the rule no longer applies
UPDATE workload_guard.digest_rules SET role_name = 'regress_wg_gone'
 WHERE reason = 'r1';
SET ROLE regress_wg_r1;
SELECT id FROM t;
RESET ROLE;
-- a renamed role likewise
ALTER ROLE regress_wg_r2 RENAME TO regress_wg_r2b;
SET ROLE regress_wg_r2b;
SELECT id FROM t;
RESET ROLE;
SELECT reason, active FROM workload_guard.blocked_digests ORDER BY reason;

-- DROP ROLE deletes the role's rules in this database
REVOKE SELECT ON t FROM regress_wg_r2b;
DROP ROLE regress_wg_r2b;
SELECT reason, active FROM workload_guard.blocked_digests ORDER BY reason;
-- a rule of a role dropped while connected elsewhere: inactive, and the
-- next rule write in this database deletes it
INSERT INTO workload_guard.digest_rules (queryid, role, mode, created_by, reason, role_name)
VALUES (4242, 999999, 'block', 'x', 'dropped elsewhere', 'regress_wg_ghost');
SELECT reason, active FROM workload_guard.blocked_digests ORDER BY reason;
SELECT workload_guard.block_digest(qid('SELECT 1'), 'any write');
SELECT reason FROM workload_guard.digest_rules ORDER BY reason;
SELECT workload_guard.unblock_digest(qid('SELECT id FROM t'));
SELECT workload_guard.unblock_digest(qid('SELECT 1'));

-- caps of one digest in two databases: test/t/040_digest_rules_databases.pl

DROP EXTENSION workload_guard CASCADE;
DROP TABLE t;
DROP ROLE regress_wg_r1;
DROP FUNCTION qid(text);
