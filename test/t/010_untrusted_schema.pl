# In a database where the extension is not created, its owner (not a
# superuser) creates a schema workload_guard with tables named like the
# extension's: config tables of other column types, then of the right
# shape, with rows that would block the superuser's query and hide an index,
# and a ddl_history that would capture the superuser's DDL.  The preloaded
# library must read none of them: no crash, no refusal, no hidden index, no
# row written.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE DATABASE mall OWNER mallory;
});

# what the superuser runs in mallory's database
my $probe = 'SELECT v FROM t WHERE id = 1';
my $plan_sql = "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $probe";

sub as_mallory
{
	my ($sql) = @_;
	return $node->safe_psql('mall', "SET ROLE mallory; $sql");
}

sub superuser_runs
{
	my ($what) = @_;
	my ($ret, $out, $err) = $node->psql('mall', $probe);
	is($ret, 0, "$what: the superuser's query runs");
	is($out, 'one', "$what: and returns its row");
	is($err, '', "$what: no error");
	like($node->safe_psql('mall', $plan_sql), qr/Index (Only )?Scan using t_pkey/,
		"$what: the index is not hidden");
	ok($node->safe_psql('postgres', 'SELECT 1') eq '1', "$what: server still up");
}

as_mallory(q{
	CREATE TABLE public.t (id int PRIMARY KEY, v text);
	INSERT INTO public.t VALUES (1, 'one'), (2, 'two');
	ANALYZE public.t;
	CREATE SCHEMA workload_guard;
});
my $qid = ($node->safe_psql('mall',
	"SET compute_query_id = on; EXPLAIN (VERBOSE, COSTS OFF) $probe")
	  =~ /Query Identifier: (-?\d+)/)[0];
ok(defined $qid, 'digest of the probe');

# 1. tables of other column types, with rows: decoded as ours they crash
as_mallory(qq{
	CREATE TABLE workload_guard.digest_rules (
		queryid bigint, role int, database int, mode int, max_running text,
		dry_run int, reason int, created_by int, created_at int, expires_at int);
	INSERT INTO workload_guard.digest_rules
		VALUES ($qid, 1, 1, 1, 'x', 1, 1, 1, 1, 1),
		       ($qid, NULL, 123456, 7, NULL, 0, 42, 99, 5, 6);
	CREATE TABLE workload_guard.disabled_index_rules (indexrelid text, indrelid text);
	INSERT INTO workload_guard.disabled_index_rules
		VALUES ('t_pkey'::regclass::oid::text, 't'::regclass::oid::text);
});
superuser_runs('hostile column types');

# 2. the extension's exact shapes, with rows that block and hide
as_mallory(qq{
	DROP TABLE workload_guard.digest_rules, workload_guard.disabled_index_rules;
	CREATE TABLE workload_guard.digest_rules (
		queryid bigint NOT NULL, role regrole, database name, mode text NOT NULL,
		max_running integer, dry_run boolean NOT NULL DEFAULT false, reason text,
		created_by name NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
		expires_at timestamptz);
	INSERT INTO workload_guard.digest_rules (queryid, mode, reason, created_by)
		VALUES ($qid, 'block', 'planted', 'mallory');
	CREATE TABLE workload_guard.disabled_index_rules (
		indexrelid oid PRIMARY KEY, indrelid oid NOT NULL, index_name text NOT NULL,
		disabled_by name NOT NULL, disabled_at timestamptz NOT NULL DEFAULT now(),
		reason text, forced boolean NOT NULL, scans_at_disable bigint NOT NULL);
	INSERT INTO workload_guard.disabled_index_rules
		VALUES ('t_pkey'::regclass, 't'::regclass, 't_pkey', 'mallory', now(),
		        'planted', true, 0);
	CREATE TABLE workload_guard.ddl_history (
		id bigint GENERATED ALWAYS AS IDENTITY, started_at timestamptz,
		duration_ms float8, lock_wait_ms float8, session_role name,
		effective_role name, database_name name, application_name text,
		client_addr inet, backend_pid int, command_tag text,
		object_types text[], object_identities text[], statement text,
		top_level boolean, rewrote boolean, rewrite_reason text,
		rules text[], bypassed boolean);
});
superuser_runs('the extension\'s shapes');

# DROP ROLE cleans up the rules of dropped roles: not in a planted table
my ($rc_role, $out_role, $err_role) =
  $node->psql('mall', 'CREATE ROLE dropped_soon; DROP ROLE dropped_soon');
is($err_role, '', 'DROP ROLE there touches no planted table');

# a session that loaded the (empty) caches before the rows were planted
my $s = $node->background_psql('mall');
is($s->query_safe($probe), 'one', 'long-lived session runs the probe');
as_mallory(q{UPDATE workload_guard.digest_rules SET reason = 'again'});
is($s->query_safe($probe), 'one', 'long-lived session still runs it after a change');
$s->quit;

# the superuser's DDL writes no history row into mallory's table
$node->safe_psql('mall', 'CREATE TABLE su_table (a int); DROP TABLE su_table');
is(as_mallory('SELECT count(*) FROM workload_guard.ddl_history'), '0',
	'no history row written into a table that is not the extension\'s');

# the same library still obeys the real tables where the extension exists
$node->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'one');
});
my $qid2 = $node->safe_psql('postgres', "SELECT workload_guard.queryid_of('$probe')");
$node->safe_psql('postgres', "SELECT workload_guard.block_digest($qid2, 'real')");
my ($ret, $out, $err) = $node->psql('postgres', $probe);
like($err, qr/query $qid2 is blocked by workload_guard/,
	'where the extension exists its rules apply');
($ret, $out, $err) = $node->psql('mall', $probe);
is($out, 'one', 'and still not in mallory\'s database');

done_testing();
