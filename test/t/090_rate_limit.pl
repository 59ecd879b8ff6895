# Rate limits under load (pgbench): a rate rule admits between 80 % and
# 100 % of rate x seconds + burst and refuses the rest, on the primary and,
# after replay, on a standby (each server has its own bucket); in warn mode
# every statement runs and the would-be refusals are counted as warned.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use WgCheck;

my $RATE = 20;
my $BURST = 10;
my $SECONDS = 5;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
	-- one execution of the limited digest: 1 if it ran, 0 if refused
	CREATE FUNCTION probe() RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM v FROM t WHERE id = 1;
		RETURN 1;
	EXCEPTION WHEN configuration_limit_exceeded THEN
		RETURN 0;
	END $$;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

my $script = $primary->basedir . '/probe.sql';
open(my $fh, '>', $script) or die;
print $fh "SELECT probe();\n";
close $fh;

# the digest of the statement inside probe()
my $qid = $primary->safe_psql('postgres',
	q{SELECT workload_guard.queryid_of('SELECT v FROM t WHERE id = 1')});

# run pgbench for $SECONDS; returns (transactions, wall seconds)
sub bench
{
	my ($node) = @_;
	return pgbench_for($node, $script, $SECONDS, 2);
}

sub activity
{
	my ($node) = @_;
	my $row = $node->safe_psql('postgres', qq{
		SELECT admitted, refused, warned FROM workload_guard.digest_rule_activity
		 WHERE queryid = $qid});
	return split /\|/, $row;
}

sub check_rate
{
	my ($node, $label) = @_;
	my ($tx, $wall) = bench($node);
	my ($admitted, $refused, $warned) = activity($node);
	my $max = $RATE * $wall + $BURST;
	my $nominal = $RATE * $SECONDS + $BURST;
	diag(sprintf("%s: %d statements in %.2f s, %d admitted (%.0f %% of %d), %d refused",
			$label, $tx, $wall, $admitted, 100 * $admitted / $nominal, $nominal, $refused));
	cmp_ok($tx, '>', 2 * $nominal, "$label: pgbench offered more than the limit");
	cmp_ok($admitted, '>=', 0.8 * $nominal, "$label: at least 80 % of rate x seconds + burst admitted");
	cmp_ok($admitted, '<=', $max, "$label: at most rate x seconds + burst admitted");
	is($admitted + $refused, $tx, "$label: every other statement refused");
	is($warned, 0, "$label: nothing warned");
}

$primary->safe_psql('postgres',
	"SELECT workload_guard.rate_limit_digest($qid, $RATE, $BURST, 'incident 11')");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

check_rate($primary, 'primary');
check_rate($standby, 'standby');

# the refusal as a client sees it
my ($ret, $out, $err) = $standby->psql('postgres', q{
	SELECT workload_guard.rate_limit_digest(1, 1)});
like($err, qr/cannot execute rate_limit_digest\(\) during recovery/,
	'rate_limit_digest refused on a standby');
$primary->safe_psql('postgres',
	"SELECT workload_guard.rate_limit_digest($qid, 0.001, 1)");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
$standby->safe_psql('postgres', 'SELECT v FROM t WHERE id = 1');
($ret, $out, $err) = $standby->psql('postgres', 'SELECT v FROM t WHERE id = 1');
like($err, qr/ERROR:  query -?\d+ is rate-limited to 0.001 executions per second \(burst 1\)/,
	'standby: the message states the limit');
like($err, qr/HINT:  It was started about [0-9.]+ times per second on this server recently\. Retry later, or call workload_guard\.unblock_digest\(-?\d+\) to lift the limit\./,
	'standby: the hint gives the observed rate and how to lift it');

# warn mode: everything runs, would-be refusals counted as warned
$primary->safe_psql('postgres',
	"SELECT workload_guard.rate_limit_digest($qid, $RATE, $BURST, dry_run => true)");
my ($tx) = bench($primary);
my ($admitted, $refused, $warned) = activity($primary);
is($refused, 0, 'warn mode: nothing refused');
is($admitted + $warned, $tx, 'warn mode: every statement ran, admitted or warned');
cmp_ok($warned, '>', 0, 'warn mode: would-be refusals counted');
done_testing();
