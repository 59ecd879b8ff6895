# Digest rules set on the primary are enforced on a standby and on a standby
# cascaded from it as soon as they replay the WAL, for new sessions and for
# statements prepared before the rule; the management functions refuse to
# run on a standby; a cap slot held by a terminated backend comes back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
});

$primary->backup('from_primary');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'from_primary', has_streaming => 1);
$standby->start;
$standby->backup('from_standby');
my $cascade = PostgreSQL::Test::Cluster->new('cascade');
$cascade->init_from_backup($standby, 'from_standby', has_streaming => 1);
$cascade->start;

sub replay
{
	my $lsn = $primary->lsn('insert');
	$primary->wait_for_catchup($standby, 'replay', $lsn);
	$standby->wait_for_catchup($cascade, 'replay', $lsn);
}

sub queryid
{
	my ($node, $sql) = @_;
	my $plan = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $sql");
	$plan =~ /Query Identifier: (-?\d+)/ or die "no queryid in: $plan";
	return $1;
}

sub bg_query
{
	my ($session, $sql) = @_;
	$session->{stderr} = '';
	my ($out, $err) = $session->query($sql);
	return $err ? $session->{stderr} : $out;
}

replay();
my $qid = queryid($primary, 'SELECT v FROM t WHERE id = 1');
is(queryid($cascade, 'SELECT v FROM t WHERE id = 1'), $qid,
	'same digest on the primary and the cascaded standby');

# statements prepared on the standbys before the rule exists
my %sessions;
for my $node ($standby, $cascade)
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	is(bg_query($s, 'PREPARE p AS SELECT v FROM t WHERE id = 1; EXECUTE p'),
		'v1', $node->name . ': prepared statement runs before the block');
	$sessions{ $node->name } = $s;
}

# the management functions refuse to run on a standby
my ($ret, $out, $err) = $standby->psql('postgres',
	"SELECT workload_guard.block_digest($qid, 'from the standby')");
like($err, qr/cannot execute block_digest\(\) during recovery/,
	'block_digest refused on a standby');

$primary->safe_psql('postgres',
	"SELECT workload_guard.block_digest($qid, 'incident 42')");
replay();

for my $node ($standby, $cascade)
{
	my $name = $node->name;
	like(bg_query($sessions{$name}, 'EXECUTE p'),
		qr/query $qid is blocked by workload_guard/,
		"$name: prepared statement refused after replay");
	($ret, $out, $err) = $node->psql('postgres', 'SELECT v FROM t WHERE id = 2');
	like($err, qr/ERROR:  query $qid is blocked by workload_guard.*DETAIL:  Blocked by role "\w+" at \d{4}-\d\d-\d\d [\d:.]+[+-]\d\d: incident 42\..*HINT:  Call workload_guard\.unblock_digest\($qid\) to allow it again\./s,
		"$name: new session refused, with reason and hint");
	is($node->safe_psql('postgres', 'SELECT v FROM t WHERE id > 9'), 'v10',
		"$name: other digests run");
	is($node->safe_psql('postgres',
		"SELECT mode || ' ' || reason || ' ' || blocked FROM workload_guard.blocked_digests"),
		'block incident 42 2', "$name: view shows the rule and this node's hits");
}

$primary->safe_psql('postgres', "SELECT workload_guard.unblock_digest($qid)");
replay();
for my $node ($standby, $cascade)
{
	my $name = $node->name;
	is(bg_query($sessions{$name}, 'EXECUTE p'), 'v1',
		"$name: prepared statement runs again after unblock");
}

# a cap on the cascaded standby; a terminated backend gives its slot back
$primary->safe_psql('postgres', "SELECT workload_guard.cap_digest($qid, 1, 'one at a time')");
replay();
my $holder = $sessions{cascade};
my $pid = bg_query($holder, 'SELECT pg_backend_pid()');
bg_query($holder, 'BEGIN; DECLARE c CURSOR FOR SELECT v FROM t WHERE id = 3');
is($cascade->safe_psql('postgres', 'SELECT running FROM workload_guard.blocked_digests'),
	'1', 'cascade: the open cursor holds the only slot');
($ret, $out, $err) = $cascade->psql('postgres', 'SELECT v FROM t WHERE id = 4');
like($err, qr/query $qid is capped at 1 concurrent execution by workload_guard/,
	'cascade: second execution capped');
$cascade->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($cascade->poll_query_until('postgres',
		'SELECT running = 0 FROM workload_guard.blocked_digests'),
	'cascade: slot given back by the terminated backend');
is($cascade->safe_psql('postgres', 'SELECT v FROM t WHERE id = 5'), 'v5',
	'cascade: runs again once the slot is free');

# latency is recorded on the standbys too (that is where the reads are)
$standby->safe_psql('postgres', 'SELECT v FROM t WHERE id = 6 AND v IS NOT NULL') for 1 .. 3;
is( $standby->safe_psql('postgres', q{
		SELECT calls FROM workload_guard.statement_latency
		WHERE query = 'SELECT v FROM t WHERE id = $1 AND v IS NOT NULL'}),
	'3', 'standby: statement latency recorded on the standby itself');

$sessions{standby}->quit;
eval { $holder->quit };

done_testing();
