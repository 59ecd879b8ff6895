# Time budgets under load (pgbench): a digest with a budget of K = 2
# backends is admitted until K statements of it have run for longer than
# the recent window, refused (53400, the budget and the observed use in
# the message) while over budget, admitted again once the window has
# passed; warn mode lets it run with a WARNING; a session that stays
# connected and idle after its statement is counted too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

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
	'refused once K long statements ran')
  or diag($node->safe_psql('postgres', qq{SELECT calls, recent_calls,
	recent_seconds, total_ms FROM workload_guard.statement_latency
	WHERE queryid = $qid}));
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

# A session that stays connected after its statements (a pool's
# connection) may hold the last 100 ms of them in its backend's ring, not
# yet merged into the shared histograms: the budget counts them all the
# same.  The budget is set first (setting it merges every ring).
sleep(3);    # the warn-mode executions leave the window
$node->safe_psql('postgres',
	"SELECT workload_guard.budget_digest($qid, 0.01, 'pooled report')");
my $pooled = $node->background_psql('postgres');
$pooled->query_safe(
	'SELECT pg_sleep(0.0); SELECT pg_sleep(0.0); SELECT pg_sleep(0.05)');
usleep(200_000);    # past the 100 ms for which a budget's use is cached
($ret, $out, $err) = $node->psql('postgres', 'SELECT pg_sleep(0.0)');
like($err,
	qr/ERROR:  query -?\d+ is over its time budget of 0.01 backends by workload_guard/,
	'the executions of a session still connected and idle count');
$pooled->quit;

done_testing();
