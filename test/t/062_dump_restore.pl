# Dump and restore into a fresh cluster with the extension preloaded: every
# DDL history row comes back with its id, the restore's own DDL is recorded
# after them and DDL after the restore too; digest rules come back and are
# enforced; disabled-index rules, keyed by OIDs the restore changes, follow
# their index by name (and a rename never hands a rule to a newcomer with
# the old name); a rule whose index is not restored shows as unresolved.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = PostgreSQL::Test::Cluster->new('dump_src');
$src->init;
$src->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$src->start;
$src->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int PRIMARY KEY, v text, n int);
	INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 1000) g;
	ANALYZE t;
	CREATE INDEX CONCURRENTLY t_v ON t (v);
	CREATE INDEX CONCURRENTLY t_n ON t (n);
	CREATE TABLE gone (a int);
	CREATE INDEX CONCURRENTLY gone_a ON gone (a);
	ALTER TABLE t ADD COLUMN w int;
	SELECT workload_guard.disable_index('t_v', 'drop candidate');
	SELECT workload_guard.disable_index('gone_a', 'not dumped');
});
# a digest without relations has the same queryid in every cluster (one
# naming a table does not: queryids contain relation OIDs)
my $qid = $src->safe_psql('postgres', q{SELECT workload_guard.queryid_of('SELECT pg_backend_pid()')});
$src->safe_psql('postgres', "SELECT workload_guard.block_digest($qid, 'kept across dump and restore')");
my $history = $src->safe_psql('postgres',
	'SELECT id, started_at, command_tag, statement FROM workload_guard.ddl_history ORDER BY id');
my $max_old = $src->safe_psql('postgres', 'SELECT max(id) FROM workload_guard.ddl_history');

# the dump leaves out table "gone", so its rule has no index to come back to
my $dump = PostgreSQL::Test::Utils::tempdir . '/src.sql';
$src->command_ok(
	[ 'pg_dump', '-h', $src->host, '-p', $src->port, '-T', 'gone', '-f', $dump, 'postgres' ],
	'pg_dump');
$src->stop;

my $dst = PostgreSQL::Test::Cluster->new('dump_dst');
$dst->init;
$dst->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$dst->start;
$dst->safe_psql('postgres', 'CREATE DATABASE restored');
# one transaction: the restore's CREATE INDEX and ADD PRIMARY KEY are on
# tables it created in the same transaction, which the guard allows
my ($rc, $out, $err) = $dst->psql('restored', undef,
	extra_params => [ '--single-transaction', '-v', 'ON_ERROR_STOP=1', '-f', $dump ]);
is($rc, 0, 'the dump restores in one transaction without error') or diag($err);

is( $dst->safe_psql('restored',
		'SELECT id, started_at, command_tag, statement FROM workload_guard.ddl_history '
		  . "WHERE id <= $max_old ORDER BY id"),
	$history, 'every history row is restored with its id');
ok( $dst->safe_psql('restored',
		"SELECT count(*) > 0 AND min(id) > $max_old FROM workload_guard.ddl_history "
		  . "WHERE statement LIKE 'CREATE TABLE public.t%' OR statement LIKE 'CREATE INDEX t_v ON public.t%'"
	) eq 't',
	"the restore's own DDL is recorded after the restored rows");
$dst->safe_psql('restored', 'ALTER TABLE t ADD COLUMN x int');
is( $dst->safe_psql('restored',
		q{SELECT count(*) FROM workload_guard.ddl_history WHERE statement = 'ALTER TABLE t ADD COLUMN x int'}),
	'1', 'DDL after the restore is recorded');

is($dst->safe_psql('restored', "SELECT reason FROM workload_guard.digest_rules WHERE queryid = $qid"),
	'kept across dump and restore', 'the digest rule is restored');
($rc, $out, $err) = $dst->psql('restored', 'SELECT pg_backend_pid()');
like($err, qr/is blocked by workload_guard/, 'and enforced');

is( $dst->safe_psql('restored',
		'SELECT index_name, index::text, resolved FROM workload_guard.disabled_indexes ORDER BY 1'),
	"public.gone_a||f\npublic.t_v|t_v|t",
	'the restored rule follows its index by name; the one without an index is unresolved');
my $plan = $dst->safe_psql('restored', "EXPLAIN (COSTS OFF) SELECT * FROM t WHERE v = 'v42'");
unlike($plan, qr/t_v/, 'the planner ignores the restored disabled index');
like($dst->safe_psql('restored', 'EXPLAIN (COSTS OFF) SELECT * FROM t WHERE n = 42'),
	qr/t_n/, 'and still uses the others');

# a rename updates the recorded name, so a new index under the old name
# does not take the rule over
$dst->safe_psql('restored', 'ALTER INDEX t_v RENAME TO t_v_old');
$dst->safe_psql('restored', 'CREATE INDEX CONCURRENTLY t_v ON t (v)');
is( $dst->safe_psql('restored',
		"SELECT index_name, index::text FROM workload_guard.disabled_indexes WHERE resolved"),
	'public.t_v_old|t_v_old', 'after a rename the rule stays with its index');
like($dst->safe_psql('restored', "EXPLAIN (COSTS OFF) SELECT * FROM t WHERE v = 'v42'"),
	qr/ t_v$/m, 'the new index of the old name is planned');

$dst->stop;
done_testing();
