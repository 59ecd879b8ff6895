# Soak: 32 pgbench clients (simple and prepared protocol, select-only and
# read-write TPC-B) for WG_SOAK_SECONDS (60 here; "make soak" runs 600),
# while one more pgbench client churns the configuration at 12 changes a
# second: block/unblock a digest the workload does not run, cap/uncap a
# workload digest (at 64, which 8 clients never reach, so every execution
# takes and returns a slot), disable/enable an index of the table the
# workload reads (replanning every prepared statement), reset the latency of
# one of its own digests, DDL the guard refuses and DDL that passes.
# Asserted: no client error, a clean server log, exact counts (the calls of
# the workload's digests equal transactions x statements pgbench reports:
# the churn never resets, blocks or refuses them), no leaked cap slot.
# 006_stress.pl covers the corner cases at tiny table sizes; this is the
# steady load.  The figures are printed as notes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use WgCheck;

my $seconds = $ENV{WG_SOAK_SECONDS} || 60;
my $churn_rate = 12;

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
max_connections = 60
workload_guard.track_utility = on
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE soak');
$node->safe_psql('soak', 'CREATE EXTENSION workload_guard');
{
	local $ENV{PGOPTIONS} = '-c workload_guard.ddl_mode=off';
	$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', '-h', $node->host,
		'-p', $node->port, 'soak' ], 'pgbench -i');
}
$node->safe_psql('soak', q{
CREATE ROLE soak_app LOGIN;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO soak_app;
CREATE INDEX CONCURRENTLY soak_accounts_bid ON pgbench_accounts (bid);
CREATE TABLE soak_ddl (a int);
});

# the workload digest the churn caps, and a digest of the churn's own
my $qcap = $node->safe_psql('soak', q{
PREPARE p(int) AS SELECT abalance FROM pgbench_accounts WHERE aid = $1;
CREATE TEMP TABLE qid (plan json);
DO $$ DECLARE j json; BEGIN
  EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE p(1)' INTO j;
  INSERT INTO qid VALUES (j);
END $$;
SELECT plan -> 0 ->> 'Query Identifier' FROM qid;
});
like($qcap, qr/^-?\d+$/, "digest of the prepared select-only statement: $qcap");
my $qchurn = $node->safe_psql('soak',
	q{SELECT workload_guard.queryid_of('SELECT count(*) FROM workload_guard.blocked_digests')});

my $dir = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$dir/churn.sql" or die $!;
print $fh <<'EOS';
\set r random(0, 9)
\if :r = 0
SELECT workload_guard.block_digest(999001, 'soak: a digest nobody runs');
\elif :r = 1
SELECT workload_guard.unblock_digest(999001);
\elif :r = 2
SELECT workload_guard.cap_digest(:qcap, 64, 'soak', role => 'soak_app');
\elif :r = 3
SELECT workload_guard.unblock_digest(:qcap);
\elif :r = 4
SELECT workload_guard.disable_index('soak_accounts_bid');
\elif :r = 5
SELECT workload_guard.enable_index('soak_accounts_bid');
\elif :r = 6
SELECT workload_guard.reset_latency(:qchurn);
\elif :r = 7
DO $$ BEGIN CREATE INDEX soak_ddl_a ON soak_ddl (a); EXCEPTION WHEN prohibited_sql_statement_attempted THEN NULL; END $$;
\elif :r = 8
CREATE TABLE IF NOT EXISTS soak_x (a int);
\else
DROP TABLE IF EXISTS soak_x;
\endif
SELECT count(*) FROM workload_guard.blocked_digests;
EOS
close $fh;

# name => [pgbench options, statements per transaction]
my %work = (
	select_simple => [ [qw(-S -M simple)], 1 ],
	select_prepared => [ [qw(-S -M prepared)], 1 ],
	tpcb_simple => [ [qw(-M simple)], 7 ],
	tpcb_prepared => [ [qw(-M prepared)], 7 ],);

$node->safe_psql('soak', 'SELECT workload_guard.reset_latency()');
my $log_offset = -s $node->logfile;
my @conn = ('-h', $node->host, '-p', $node->port);
my %h;
for my $name (sort keys %work)
{
	$h{$name} = IPC::Run::start(
		[ 'pgbench', '-n', @{ $work{$name}[0] }, '-c', '8', '-j', '1', '-T', $seconds,
			'-U', 'soak_app', @conn, 'soak' ],
		'>', "$dir/$name.out", '2>', "$dir/$name.err",
		IPC::Run::timeout($seconds + $PostgreSQL::Test::Utils::timeout_default));
}
$h{churn} = IPC::Run::start(
	[ 'pgbench', '-n', '-f', "$dir/churn.sql", '-c', '1', '-R', $churn_rate,
		'-T', $seconds, '-D', "qcap=$qcap", '-D', "qchurn=$qchurn", @conn, 'soak' ],
	'>', "$dir/churn.out", '2>', "$dir/churn.err",
	IPC::Run::timeout($seconds + $PostgreSQL::Test::Utils::timeout_default));

my (%txns, $expected);
for my $name (sort keys %h)
{
	$h{$name}->finish;
	my $rc = $h{$name}->result(0);
	my $out = slurp_file("$dir/$name.out");
	my $err = slurp_file("$dir/$name.err");
	is($rc, 0, "$name: pgbench exit status 0")
	  or diag("$name:\n$out\n" . substr($err, 0, 3000));
	my ($n) = $out =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $out =~ /number of failed transactions: (\d+)/;
	$txns{$name} = $n // 0;
	is($failed // 0, 0, "$name: no failed transaction");
	unlike($err, qr/ERROR|aborted|FATAL/, "$name: no client error")
	  or diag(substr($err, 0, 3000));
	$expected += $txns{$name} * $work{$name}[1] if $work{$name};
}
my $executions = $expected;
my $changes = $txns{churn};
diag("soak: $seconds s, 32 clients, $changes configuration changes ("
	  . sprintf('%.1f', $changes / $seconds) . "/s), $executions workload executions ("
	  . join(', ', map { "$_ $txns{$_} txns" } sort keys %work) . ')');
cmp_ok($changes / $seconds, '>=', 5, 'the configuration changed at 5 Hz or more');

# exact counts: every statement pgbench ran is counted once
my $counted = $node->safe_psql('soak', q{
SELECT sum(calls) FROM workload_guard.statement_latency
 WHERE userid = 'soak_app'::regrole
   AND query ~ '^(BEGIN|END|SELECT abalance|UPDATE pgbench_|INSERT INTO pgbench_history)'});
is($counted, $expected, "calls of the workload's digests = transactions x statements ($expected)")
  or diag($node->safe_psql('soak', q{
SELECT calls, errors, left(query, 70) FROM workload_guard.statement_latency
 WHERE userid = 'soak_app'::regrole ORDER BY query}));
is($node->safe_psql('soak', 'SELECT evictions, dropped FROM workload_guard.latency_info'),
	'0|0', 'nothing evicted or dropped');
is($node->safe_psql('soak', q{SELECT sum(errors) FROM workload_guard.statement_latency
                               WHERE userid = 'soak_app'::regrole}),
	'0', 'no workload statement recorded an error');

no_leaked_cap_slots($node, 'soak');
cmp_ok($node->safe_psql('soak',
		q{SELECT count(*) FROM workload_guard.ddl_rejections WHERE statement LIKE '%CREATE INDEX soak_ddl_a%'}),
	'>', 0, 'the refused DDL was refused');
cmp_ok($node->safe_psql('soak',
		q{SELECT count(*) FROM workload_guard.ddl_history WHERE statement LIKE '% soak_x %'}),
	'>', 0, 'the DDL that passes passed, with history');
server_log_clean($node, $log_offset,
	errors => qr/CREATE INDEX on "public.soak_ddl" without CONCURRENTLY/);

$node->stop;
done_testing();
