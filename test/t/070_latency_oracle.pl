# The server's own durations are the oracle: with log_min_duration_statement
# = 0 every statement's duration is in the log, and the view must agree with
# it.  A mixed workload: single statements (simple protocol), multi-statement
# strings (one logged duration per string: the statements' recorded times
# add up to it), the extended protocol (pgbench -M extended: parse, bind and
# execute durations added up per execution), and a statement that waits
# for a lock during parse analysis, as a Query and through the extended
# protocol's Parse (another session holds ACCESS EXCLUSIVE; the statement is
# recorded at 400 ms or more, as long as it waited).
# Per digest, the view's p50/p95/p99 are within the bucket bound (1/64) of
# the exact nearest-rank percentiles of the logged durations, plus a slack
# for what the log counts after the statement's end (the commit) and its
# rounding: the median logged duration of a trivial statement, at least
# 20 µs (much more under make test-sanitize).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes;
use List::Util qw(sum);
use POSIX qw(ceil);

my $node = PostgreSQL::Test::Cluster->new('oracle');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
log_min_duration_statement = 0
log_statement = none
log_line_prefix = 'WGLOG %p '
log_parameter_max_length = 0
synchronous_commit = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE oracle_t (a int);
	INSERT INTO oracle_t SELECT generate_series(1, 100);
	SELECT workload_guard.reset_latency();
});
my $log_offset = -s $node->logfile;

# sleeps spread over more than an order of magnitude, deterministic
my @ms = map { 5 + ($_ * 37) % 60 } 1 .. 40;

# single statements: each line is its own Query message
$node->safe_psql('postgres',
	join('', map { "SELECT pg_sleep($_ / 1000.0);\n" } @ms));
# and trivial ones: their logged duration is what the log counts besides
# the statement (the commit, the log line's preparation), a few µs here and
# much more in an assert-enabled, sanitized build: the tolerance's slack
$node->safe_psql('postgres', "SELECT 1 AS oracle_trivial;\n" x 20);

# multi-statement strings: one message, one logged duration for both
for my $i (0 .. 9)
{
	my ($a, $b) = ($ms[$i], $ms[ $i + 10 ]);
	my ($out, $err);
	IPC::Run::run [ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		"SELECT pg_sleep($a / 1000.0), 1; SELECT pg_sleep($b / 1000.0), 1, 2" ],
	  '>', \$out, '2>', \$err
	  or die "psql: $err";
}

# extended protocol
my $script = $node->basedir . '/ext.sql';
open my $fh, '>', $script or die;
print $fh "\\set d random(5, 60)\nSELECT pg_sleep(:d / 1000.0), 1, 2, 3;\n";
close $fh;
$node->command_ok(
	[ 'pgbench', '-n', '-M', 'extended', '-t', '40', '-f', $script,
	  '-d', $node->connstr('postgres') ],
	'pgbench -M extended runs');

# a statement that waits for a lock in parse analysis: another session
# holds ACCESS EXCLUSIVE until the waiter has waited 400 ms for sure (the
# holder is cancelled then, which releases the lock).  Once as a simple
# Query, once through the extended protocol, where the wait is in the Parse
# message (the statement is parsed for this execution: its time starts
# there).
sub wait_for_lock
{
	my ($waiter_cmd, $like) = @_;
	my ($lin, $lout, $lerr, $win, $wout, $werr) = ('', '', '', '', '', '');
	my $holder = IPC::Run::start [ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		"BEGIN; LOCK TABLE oracle_t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT" ],
	  '<', \$lin, '>', \$lout, '2>', \$lerr;
	$node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pg_locks
		 WHERE mode = 'AccessExclusiveLock' AND granted
		   AND relation = (SELECT oid FROM pg_class WHERE relname = 'oracle_t')})
	  or die 'the lock holder did not start';
	my $waiter = IPC::Run::start $waiter_cmd, '<', \$win, '>', \$wout, '2>', \$werr;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pg_stat_activity
		 WHERE wait_event_type = 'Lock' AND query LIKE '$like%'})
	  or die 'the waiter did not wait';
	Time::HiRes::sleep(0.4);
	$node->safe_psql('postgres', q{
		SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		 WHERE query LIKE 'BEGIN; LOCK TABLE oracle_t%'});
	$waiter->finish;
	$holder->finish;
	return $wout;
}

my $wout = wait_for_lock(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', "SELECT count(*) FROM oracle_t" ],
	'SELECT count(*) FROM oracle_t');
is($wout, "100\n", 'the waiter ran once the lock was released');

my $lscript = $node->basedir . '/locked_ext.sql';
open my $lfh, '>', $lscript or die;
print $lfh "SELECT max(a) FROM oracle_t;\n";
close $lfh;
wait_for_lock(
	[ 'pgbench', '-n', '-M', 'extended', '-t', '1', '-f', $lscript,
	  '-d', $node->connstr('postgres') ],
	'SELECT max(a) FROM oracle_t');

# the log, statement by statement
my $log = slurp_file($node->logfile, $log_offset);
my (%logged, %pending);
for my $line (split /\n/, $log)
{
	next unless $line =~
	  /^WGLOG (\d+) LOG:\s+duration: ([\d.]+) ms\s+(statement|parse|bind|execute)[^:]*: (.*)$/;
	my ($pid, $d, $kind, $text) = ($1, $2, $3, $4);
	my $tag =
		$text =~ /^SELECT count\(\*\) FROM oracle_t/ ? 'locked'
	  : $text =~ /^SELECT max\(a\) FROM oracle_t/ ? 'locked_ext'
	  : $text =~ /^SELECT pg_sleep\([^)]*\), 1, 2, 3/ ? 'ext'
	  : $text =~ /^SELECT pg_sleep\([^)]*\), 1;/ ? 'multi'
	  : $text =~ /^SELECT pg_sleep\([^)]*\);?$/ ? 'single'
	  : $text =~ /^SELECT 1 AS oracle_trivial/ ? 'trivial'
	  : next;
	if ($kind eq 'parse' || $kind eq 'bind')
	{
		$pending{$pid} += $d;
		next;
	}
	$d += delete $pending{$pid} // 0;
	push @{ $logged{$tag} }, $d;
}

sub exact_pct
{
	my ($vals, $f) = @_;
	my @s = sort { $a <=> $b } @$vals;
	my $rank = ceil($f * @s - 1e-9);
	$rank = 1 if $rank < 1;
	return $s[ $rank - 1 ];
}

my %shape = (
	single => 'SELECT pg_sleep(1 / 1000.0)',
	multi1 => 'SELECT pg_sleep(1 / 1000.0), 1',
	multi2 => 'SELECT pg_sleep(1 / 1000.0), 1, 2',
	locked => 'SELECT count(*) FROM oracle_t',
	locked_ext => 'SELECT max(a) FROM oracle_t');

sub qid_of
{
	my ($tag) = @_;
	# pgbench's parameter is a Param, not a constant: found by its text
	return $node->safe_psql('postgres', q{
		SELECT queryid FROM workload_guard.statement_latency
		 WHERE query LIKE 'SELECT pg_sleep(%), %, %, %'}) if $tag eq 'ext';
	return $node->safe_psql('postgres',
		"SELECT workload_guard.queryid_of(\$q\$$shape{$tag}\$q\$)");
}

# at least the 20 µs of the log's rounding and commit on a plain build
my $slack = exact_pct($logged{trivial} // [0], 0.5);
$slack = 0.02 if $slack < 0.02;

my %summary;
for my $tag ('single', 'ext')
{
	my $qid = qid_of($tag);
	my $calls = $node->safe_psql('postgres',
		"SELECT sum(calls) FROM workload_guard.statement_latency WHERE queryid = $qid");
	is($calls, scalar @{ $logged{$tag} // [] }, "$tag: every logged execution is counted");
	for my $f (0.5, 0.95, 0.99)
	{
		my $exact = exact_pct($logged{$tag}, $f);
		my $ours = $node->safe_psql('postgres',
			"SELECT workload_guard.latency_percentile($qid, $f)");
		my $tol = $exact / 64 + $slack;
		my $err = $exact ? ($ours - $exact) / $exact * 100 : 0;
		$summary{$tag} .= sprintf(' p%g %.3f/%.3f ms (%+.2f %%)', $f * 100, $ours, $exact, $err);
		ok(abs($ours - $exact) <= $tol,
			sprintf('%s p%g: %.3f ms recorded, %.3f ms logged', $tag, $f * 100, $ours, $exact));
	}
}

# multi-statement strings: both statements together are the logged duration
{
	my $q1 = qid_of('multi1');
	my $q2 = qid_of('multi2');
	my $ours = $node->safe_psql('postgres', qq{
		SELECT sum(total_ms) FROM workload_guard.statement_latency
		 WHERE queryid IN ($q1, $q2)});
	my $exact = sum(@{ $logged{multi} // [0] });
	my $n = scalar @{ $logged{multi} // [] };
	$summary{multi} = sprintf(' total %.3f/%.3f ms', $ours, $exact);
	is($n, 10, 'every multi-statement string is logged once');
	ok(abs($ours - $exact) <= $exact / 64 + $slack * $n,
		sprintf('multi-statement strings: %.3f ms recorded, %.3f ms logged', $ours, $exact));
}

# the lock wait is part of the statement, in the Parse message too
for my $tag ('locked', 'locked_ext')
{
	my $qid = qid_of($tag);
	my $ours = $node->safe_psql('postgres',
		"SELECT max_ms FROM workload_guard.statement_latency WHERE queryid = $qid");
	my $exact = $logged{$tag}[0] // 0;
	$summary{$tag} = sprintf(' %.3f/%.3f ms', $ours, $exact);
	cmp_ok($ours, '>=', 400, "$tag: the lock-waiting statement is recorded at $ours ms");
	ok(abs($ours - $exact) <= $exact / 64 + $slack,
		sprintf('%s lock wait: %.3f ms recorded, %.3f ms logged', $tag, $ours, $exact));
}

diag sprintf('slack (median logged duration of SELECT 1): %.3f ms', $slack);
diag "recorded/logged:$_$summary{$_}" for sort keys %summary;

$node->stop;
done_testing();
