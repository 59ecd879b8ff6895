# Rules over every digest of an application (and of a role in it) under
# pgbench load, on the primary and, after replay, on a standby:
# - an application-wide cap of K refuses the (K+1)th concurrent statement
#   of that application (application_name in the connection string) and
#   not a statement of another application;
# - an application-wide rate rule (every statement of a role in one
#   application, PGAPPNAME) admits between 80 % and 100 % of
#   rate x seconds + burst and refuses the rest; another application's
#   statements are not counted;
# - SET application_name takes a session in and out of a rule at its next
#   statement.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use WgCheck;
use IPC::Run;

my $RATE = 20;
my $BURST = 10;
my $SECONDS = 5;
my $K = 2;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
	-- the rate rule covers every statement of role batch_owner in
	-- application "batch": the statements of probe(), not the client's
	-- SELECT probe() (a refused top-level statement would end pgbench's
	-- client); 1 if the inner statement ran, 0 if it was refused
	CREATE ROLE batch_owner;
	GRANT SELECT ON t TO batch_owner;
	CREATE FUNCTION probe() RETURNS int LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = public, pg_temp AS $$
	BEGIN
		PERFORM v FROM t WHERE id = 1;
		RETURN 1;
	EXCEPTION WHEN configuration_limit_exceeded THEN
		RETURN 0;
	END $$;
	ALTER FUNCTION probe() OWNER TO batch_owner;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

sub replay
{
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
}

sub script
{
	my ($name, $sql) = @_;
	my $file = $primary->basedir . "/$name.sql";
	open(my $fh, '>', $file) or die;
	print $fh "$sql\n";
	close $fh;
	return $file;
}
my $probe = script('probe', 'SELECT probe();');
my $sleep = script('sleep', 'SELECT pg_sleep(4);');

# psql as application $app; returns (exit code, stdout, stderr)
sub psql_as
{
	my ($node, $app, $sql) = @_;
	local $ENV{PGAPPNAME} = $app;
	my ($out, $err);
	my $ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 0);
	return ($ret, $out, $err);
}

# ---- an application-wide cap: K backends of "nightly-batch"
$primary->safe_psql('postgres', qq{
	SELECT workload_guard.cap_digest(NULL, $K, 'the batch job: $K backends',
	                                 application_name => 'nightly-batch')});
replay();

sub check_cap
{
	my ($node, $label) = @_;
	my ($out, $err) = ('', '');
	my $conn = sprintf("host=%s port=%d dbname=postgres application_name=nightly-batch",
		$node->host, $node->port);
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-c', $K, '-t', '1', '-f', $sleep, $conn ],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres', qq{
		SELECT running = $K FROM workload_guard.digest_rule_activity
		 WHERE queryid IS NULL AND application_name = 'nightly-batch'})
	  or die "$label: the $K statements of the batch never held their slots";
	my ($ret, $o, $e) = psql_as($node, 'nightly-batch', 'SELECT 1');
	like($e, qr/ERROR:  query -?\d+ is capped at $K concurrent executions by workload_guard/,
		"$label: the (K+1)th concurrent statement of the application is refused");
	like($e, qr/DETAIL:  Capped by role "\w+" at .+?: the batch job: $K backends\. The rule covers every statement of application "nightly-batch"\./,
		"$label: the refusal names the rule over every statement of the application");
	like($e, qr/HINT:  Retry when an execution has finished, or call workload_guard\.unblock_digest\(NULL, application_name => 'nightly-batch'\) to lift the cap\./,
		"$label: the hint says how to lift it");
	($ret, $o, $e) = psql_as($node, 'other-app', 'SELECT 1');
	is($o, '1', "$label: a statement of another application runs meanwhile");
	$h->finish;
	like($out, qr/number of transactions actually processed: $K\/$K/,
		"$label: the K statements of the application ran");
	($ret, $o, $e) = psql_as($node, 'nightly-batch', 'SELECT 2');
	is($o, '2', "$label: the application runs again once a slot is free");
}
check_cap($primary, 'primary');
check_cap($standby, 'standby');

# ---- SET application_name takes a session in and out of a rule
$primary->safe_psql('postgres', q{
	SELECT workload_guard.block_digest(NULL, 'broken deploy',
	                                   application_name => 'broken-deploy')});
replay();
for my $node ($primary, $standby)
{
	my $label = $node == $primary ? 'primary' : 'standby';
	my ($ret, $out, $err) = psql_as($node, 'other-app', q{
		SELECT 'a';
		SET application_name = 'broken-deploy';
		SELECT 'b';
		SET application_name = 'other-app';
		SELECT 'c';
		SET application_name = 'broken-deploy';
		SELECT 'd';
	});
	is($out, "a\nc", "$label: out of the rule, into it, out, into it again");
	my @refused = ($err =~ /ERROR:  query -?\d+ is blocked by workload_guard/g);
	is(scalar(@refused), 2, "$label: both statements under the rule refused");
	like($err, qr/DETAIL:  Blocked by role "\w+" at .+?: broken deploy\. The rule covers every statement of application "broken-deploy"\./,
		"$label: the refusal names the application's rule");
}
$primary->safe_psql('postgres',
	q{SELECT workload_guard.unblock_digest(NULL, 'broken-deploy')});

# ---- an application-wide rate rule: every statement of role batch_owner
# in application "batch"
$primary->safe_psql('postgres', qq{
	SELECT workload_guard.rate_limit_digest(NULL, $RATE, $BURST, 'batch storm',
	                                        role => 'batch_owner',
	                                        application_name => 'batch')});
replay();

# run pgbench for $SECONDS as application $app; (transactions, wall seconds)
sub bench
{
	my ($node, $app) = @_;
	local $ENV{PGAPPNAME} = $app;
	return pgbench_for($node, $probe, $SECONDS, 2);
}

sub activity
{
	my ($node) = @_;
	my $row = $node->safe_psql('postgres', q{
		SELECT admitted, refused, warned FROM workload_guard.digest_rule_activity
		 WHERE queryid IS NULL AND mode = 'rate' AND application_name = 'batch'});
	return $row eq '' ? (0, 0, 0) : split /\|/, $row;
}

sub check_rate
{
	my ($node, $label) = @_;
	my ($tx, $wall) = bench($node, 'batch');
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

	# another application's statements: none counted, none refused
	my ($tx2) = bench($node, 'other-app');
	my ($admitted2, $refused2) = activity($node);
	cmp_ok($tx2, '>', 2 * $nominal, "$label: another application ran freely");
	is("$admitted2|$refused2", "$admitted|$refused",
		"$label: another application's statements are not the rule's");
}
check_rate($primary, 'primary');
check_rate($standby, 'standby');

done_testing();
