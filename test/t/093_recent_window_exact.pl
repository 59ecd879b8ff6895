# The recent window stays exact when many backends record one digest at
# the same instant, the first of them rotating the window's slot: a
# recorder that finds the slot being cleared waits for it instead of
# leaving its execution out (which made the time budgets of TAP 091 miss
# a statement now and then).  Each round is a digest of its own, seen once
# long enough ago that its slot is stale, then run by 40 clients at once
# (pgbench); read at once, its recent window must hold all 40.  Collisions
# are a matter of microseconds, so this is a stress test: without the wait
# each of three runs lost an execution in 1 to 6 of its 40 rounds.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rounds = 40;
my $clients = 40;

my $node = PostgreSQL::Test::Cluster->new('window');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
workload_guard.recent_window = 1
max_connections = 60
log_statement = none
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION workload_guard');

# one digest per round: the number of output columns tells them apart
my (@script, @qid);
for my $i (1 .. $rounds)
{
	my $q = 'SELECT pg_sleep(0.05)' . (', 0' x $i);
	$node->safe_psql('postgres', $q);
	push @qid, $node->safe_psql('postgres',
		"SELECT workload_guard.queryid_of('$q')");
	my $f = $node->basedir . "/round$i.sql";
	open(my $fh, '>', $f) or die;
	print $fh "$q;\n";
	close $fh;
	push @script, $f;
}
sleep(2.1);    # every digest's recent slot is now stale

my @short;
for my $i (0 .. $rounds - 1)
{
	my ($stdout, $stderr) = run_command([
			'pgbench', '-n', '-c', $clients, '-t', '1', '-f', $script[$i],
			'-h', $node->host, '-p', $node->port, 'postgres' ]);
	$stdout =~ /actually processed: $clients\/$clients/
	  or die "pgbench round $i failed: $stderr";
	my $got = $node->safe_psql('postgres', qq{SELECT recent_calls, calls
		FROM workload_guard.statement_latency WHERE queryid = $qid[$i]});
	push @short, "round $i: $got" if $got ne "$clients|" . ($clients + 1);
}
is(join('; ', @short), '',
	"every round's $clients executions are in its recent window (recent_calls|calls)");

done_testing();
