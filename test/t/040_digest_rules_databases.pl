# Caps of one digest in two databases never share slots: each database's
# rule counts the executions of its own sessions only, and each database's
# blocked_digests shows its own rules' counters.  The query names no table,
# so its digest is the same in both databases.  A utility statement's cap
# slot (a CALL) comes back when its backend is terminated.
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
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql($_, 'CREATE EXTENSION workload_guard') for qw(postgres other);

my $q = 'SELECT count(*) FROM generate_series(1, 3) g';
my $qid = $node->safe_psql('postgres', "SELECT workload_guard.queryid_of('$q')");
is($node->safe_psql('other', "SELECT workload_guard.queryid_of('$q')"), $qid,
	'same digest in both databases');
for my $db (qw(postgres other))
{
	$node->safe_psql($db, "SELECT workload_guard.cap_digest($qid, 1, 'one in $db')");
}

# run the query in a new session; 'ok' or the SQLSTATE it failed with
sub run_once
{
	my ($db) = @_;
	my ($rc, $out, $err) = $node->psql($db, "\\set VERBOSITY sqlstate\n$q",
		on_error_stop => 1);
	return $rc == 0 ? 'ok' : ($err =~ /ERROR:\s+(\w+)/ ? $1 : $err);
}

sub running
{
	my ($db) = @_;
	return $node->safe_psql($db,
		'SELECT reason || \': \' || running FROM workload_guard.blocked_digests');
}

# a cursor in postgres holds postgres's only slot
my $holder = $node->background_psql('postgres');
$holder->query_safe("BEGIN; DECLARE c CURSOR FOR $q");
is(running('postgres'), 'one in postgres: 1', 'the cursor holds the slot in postgres');
is(running('other'), 'one in other: 0', 'the other database has its own counters');
is(run_once('postgres'), '53400', 'a second execution in postgres is capped');
is(run_once('other'), 'ok', 'the same digest runs in the other database');

# and one in other holds its slot, independently
my $holder2 = $node->background_psql('other');
$holder2->query_safe("BEGIN; DECLARE c CURSOR FOR $q");
is(run_once('other'), '53400', 'a second execution in other is capped');
is(running('postgres'), 'one in postgres: 1', 'postgres still counts its own only');

$holder->query_safe('COMMIT');
$holder2->query_safe('COMMIT');
is(run_once('postgres'), 'ok', 'slot back in postgres');
is(run_once('other'), 'ok', 'slot back in other');
is(running('postgres') . ' / ' . running('other'),
	'one in postgres: 0 / one in other: 0', 'no slot held anywhere');
$holder->quit;
$holder2->quit;

# a CALL holds its slot while it runs; pg_terminate_backend gives it back
$node->safe_psql('postgres', q{
	CREATE PROCEDURE nap() LANGUAGE plpgsql AS $$
	BEGIN PERFORM pg_sleep(coalesce(current_setting('regress.nap', true), '0')::float8); END $$});
$node->safe_psql('postgres', 'CALL nap()');
my $call_qid = $node->safe_psql('postgres',
	q{SELECT queryid FROM workload_guard.statement_latency WHERE query = 'CALL nap()'});
like($call_qid, qr/^-?\d+$/, 'the CALL has a digest');
$node->safe_psql('postgres', "SELECT workload_guard.cap_digest($call_qid, 1, 'one nap')");

my $napper = $node->background_psql('postgres', on_error_stop => 0);
$napper->query_safe('SET regress.nap = 300');
$napper->query_until(qr/started/, "\\echo started\nCALL nap();\n");
ok($node->poll_query_until('postgres',
	q{SELECT running = 1 FROM workload_guard.blocked_digests WHERE reason = 'one nap'}),
	'the running CALL holds the slot');
my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY sqlstate\nCALL nap();");
like($err, qr/53400/, 'a second CALL is capped while the first runs');
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	 WHERE query LIKE 'CALL nap()%' AND pid <> pg_backend_pid()});
ok($node->poll_query_until('postgres',
	q{SELECT running = 0 FROM workload_guard.blocked_digests WHERE reason = 'one nap'}),
	'the terminated CALL gave its slot back');
is(($node->psql('postgres', 'CALL nap()'))[0], 0, 'the CALL runs again');
eval { $napper->quit };

$node->stop;
done_testing();
