# Time budgets under load (pgbench): a digest with a budget of K = 2
# backends is admitted until K statements of it have run for longer than
# the recent window, refused (53400, the budget and the observed use in
# the message) while over budget, admitted again once the window has
# passed; warn mode lets it run with a WARNING.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('budget');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
workload_guard.recent_window = 1
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION workload_guard');

my $qid = $node->safe_psql('postgres',
	q{SELECT workload_guard.queryid_of('SELECT pg_sleep(3.0)')});
$node->safe_psql('postgres',
	"SELECT workload_guard.budget_digest($qid, 2, 'report: two cores')");

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT pg_sleep(0.0)');
is($ret, 0, 'admitted while nothing was recorded');

# K = 2 long statements at once (3 s each, the window is 1 s)
my $script = $node->basedir . '/long.sql';
open(my $fh, '>', $script) or die;
print $fh "SELECT pg_sleep(3.0);\n";
close $fh;
my ($stdout, $stderr) = run_command([
		'pgbench', '-n', '-c', '2', '-t', '1', '-f', $script,
		'-h', $node->host, '-p', $node->port, 'postgres' ]);
like($stdout, qr/number of transactions actually processed: 2\/2/,
	'the K long statements ran (within the budget when they started)');

($ret, $out, $err) = $node->psql('postgres', 'SELECT pg_sleep(0.0)');
like($err,
	qr/ERROR:  query -?\d+ is over its time budget of 2 backends by workload_guard/,
	'refused once K long statements ran');
like($err,
	qr/HINT:  Its executions used [0-9.]+ backends' worth of server time over the last \d+ seconds on this server\. Retry later, or call workload_guard\.unblock_digest/,
	'the hint gives the observed use and how to lift it');
($ret, $out, $err) = $node->psql('postgres', q{SELECT refused, admitted
	FROM workload_guard.digest_rule_activity});
is($out, '1|3', 'counted: one refused, three admitted');

# the window passes: admitted again
sleep(3);
($ret, $out, $err) = $node->psql('postgres', 'SELECT pg_sleep(0.0)');
is($ret, 0, 'admitted again once the window has passed');

# warn mode
$node->safe_psql('postgres',
	"SELECT workload_guard.budget_digest($qid, 2, dry_run => true)");
run_command([
		'pgbench', '-n', '-c', '2', '-t', '1', '-f', $script,
		'-h', $node->host, '-p', $node->port, 'postgres' ]);
($ret, $out, $err) = $node->psql('postgres', 'SELECT pg_sleep(0.0)');
is($ret, 0, 'warn mode: runs');
like($err, qr/WARNING:  query -?\d+ is over its time budget of 2 backends/,
	'warn mode: the client is told which rule it would have broken');
($ret, $out, $err) = $node->psql('postgres', q{SELECT refused, warned
	FROM workload_guard.digest_rule_activity});
is($out, '0|1', 'warn mode: counted as warned, not refused');

done_testing();
