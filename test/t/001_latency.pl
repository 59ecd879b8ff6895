# Latency recording through real client protocols, eviction with a tiny
# table, visibility of query texts, cancels, persistence across a clean
# restart, discard after a crash, and the error when not preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('latency');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
workload_guard.max_statements = 10
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;
SELECT workload_guard.reset_latency();
});

# calls of the digest(s) whose (normalized) sample text is exactly $text
sub calls_like
{
	my ($text) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(sum(calls), 0) FROM workload_guard.statement_latency
		WHERE query = '$text'});
}

# --- extended and prepared protocol: every execution counted exactly
$node->pgbench(
	'--no-vacuum -M extended -c 2 -t 50',
	0, [qr{processed: 100/100}], [qr{^$}],
	'pgbench extended protocol',
	{ 'select_ext' => q{\set id random(1, 1000)
SELECT v FROM t WHERE id = :id;
} });
is(calls_like('SELECT v FROM t WHERE id = $1'), '100', 'extended protocol: 100 calls');

$node->pgbench(
	'--no-vacuum -M prepared -c 2 -t 40',
	0, [qr{processed: 80/80}], [qr{^$}],
	'pgbench prepared protocol',
	{ 'select_prep' => q{\set id random(1, 1000)
SELECT v, id FROM t WHERE id = :id;
} });
is(calls_like('SELECT v, id FROM t WHERE id = $1'), '80', 'prepared statements: 80 calls');

# --- concurrency: 4 clients recording the same digests while reading the
# views; atomics lose nothing
$node->safe_psql('postgres', 'CREATE TABLE hits (id int PRIMARY KEY, n int); INSERT INTO hits SELECT g, 0 FROM generate_series(1, 10) g; SELECT workload_guard.reset_latency()');
$node->pgbench(
	'--no-vacuum -c 4 -j 2 -t 300',
	0, [qr{processed: 1200/1200}], [qr{^$}],
	'pgbench: 4 concurrent clients',
	{ 'concurrent' => q{\set id random(1, 10)
SELECT v FROM t WHERE id = :id * 3;
UPDATE hits SET n = n + 1 WHERE id = :id;
SELECT count(*) FROM workload_guard.statement_latency WHERE p99_ms >= 0;
} });
is( $node->safe_psql('postgres', q{
		SELECT string_agg(calls::text, ',' ORDER BY query) FROM workload_guard.statement_latency
		WHERE query IN ('SELECT v FROM t WHERE id = $1 * $2', 'UPDATE hits SET n = n + $1 WHERE id = $2',
		                'SELECT count(*) FROM workload_guard.statement_latency WHERE p99_ms >= $1')}),
	'1200,1200,1200', 'concurrent recording: every execution counted once');
is($node->safe_psql('postgres', 'SELECT sum(n) FROM hits'), '1200', 'the workload really ran');

# --- cancel with pg_cancel_backend is recorded as a cancel
my $bg = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/started/, q{
\echo started
SELECT pg_sleep(60) AS cancel_me;
});
$node->poll_query_until('postgres',
	"SELECT pg_cancel_backend($pid) FROM pg_stat_activity WHERE pid = $pid AND query LIKE '%cancel_me%'")
  or die "could not cancel";
$bg->quit;
is( $node->safe_psql('postgres', q{
		SELECT calls || '/' || errors || '/' || cancels FROM workload_guard.statement_latency
		WHERE query LIKE 'SELECT pg_sleep($1) AS cancel_me%'}),
	'1/1/1', 'pg_cancel_backend recorded as a cancel');

# --- visibility: a plain role sees its own texts only
$node->safe_psql('postgres', q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
GRANT pg_read_all_stats TO bob;
GRANT SELECT ON t TO alice;
});
$node->safe_psql('postgres', 'SELECT id FROM t WHERE id = 42',
	extra_params => [ '-U', 'alice' ]);
my $seen_by_alice = $node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE query = 'SELECT id FROM t WHERE id = $1' AND queryid IS NOT NULL) || '/' ||
	       count(*) FILTER (WHERE query = 'SELECT v FROM t WHERE id = $1') || '/' ||
	       count(*) FILTER (WHERE query = '<insufficient privilege>' AND queryid IS NULL AND calls > 0)
	FROM workload_guard.statement_latency},
	extra_params => [ '-U', 'alice' ]);
like($seen_by_alice, qr{^1/0/[1-9]\d*$}, 'plain role sees its own query text only');
my $seen_by_bob = $node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE query = 'SELECT id FROM t WHERE id = $1') || '/' ||
	       count(*) FILTER (WHERE query = '<insufficient privilege>' OR queryid IS NULL)
	FROM workload_guard.statement_latency},
	extra_params => [ '-U', 'bob' ]);
is($seen_by_bob, '1/0', 'pg_read_all_stats sees every text');
$node->safe_psql('postgres', 'SELECT v FROM t WHERE id = 43 AND id > 0');
my $hidden_qid = $node->safe_psql('postgres',
	"SELECT queryid FROM workload_guard.statement_latency WHERE query = 'SELECT v FROM t WHERE id = \$1 AND id > \$2'");
is( $node->safe_psql('postgres',
		"SELECT workload_guard.latency_percentile($hidden_qid, 0.5) IS NULL, "
		  . "(SELECT count(*) FROM workload_guard.latency_histogram($hidden_qid))",
		extra_params => [ '-U', 'alice' ]),
	't|0', 'a plain role cannot read the histogram of a digest hidden from it');
isnt($node->safe_psql('postgres', "SELECT workload_guard.latency_percentile($hidden_qid, 0.5)"),
	'', 'its owner can');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT workload_guard.reset_latency()',
	extra_params => [ '-U', 'alice' ]);
like($err, qr/permission denied for function reset_latency/, 'reset is not for plain roles');

# --- eviction: 30 new digests into a 10-entry table, a hot digest survives
$node->safe_psql('postgres', 'SELECT workload_guard.reset_latency()');
my $sql = '';
for my $i (1 .. 30)
{
	# a different target list length gives a different queryid
	$sql .= 'SELECT ' . join(', ', ('1') x $i) . ";\n";
	$sql .= "SELECT v FROM t WHERE id = 7 AND v IS NOT NULL;\n" for 1 .. 3;
}
$node->safe_psql('postgres', $sql);
my $info = $node->safe_psql('postgres',
	'SELECT statements, evictions > 0, dropped FROM workload_guard.latency_info');
is($info, '10|t|0', 'table full: least used digests evicted, nothing dropped');
is(calls_like('SELECT v FROM t WHERE id = $1 AND v IS NOT NULL'), '90', 'hot digest kept all its calls through eviction');

# --- clean restart keeps histograms
my $before = $node->safe_psql('postgres', q{
	SELECT calls || '/' || p99_ms || '/' || stats_since FROM workload_guard.statement_latency
	WHERE query = 'SELECT v FROM t WHERE id = $1 AND v IS NOT NULL'});
$node->restart;
my $after = $node->safe_psql('postgres', q{
	SELECT calls || '/' || p99_ms || '/' || stats_since FROM workload_guard.statement_latency
	WHERE query = 'SELECT v FROM t WHERE id = $1 AND v IS NOT NULL'});
is($after, $before, 'histogram, counters and stats_since survive a clean restart');
ok(!-e $node->data_dir . '/pg_stat/workload_guard.stat', 'stats file consumed at startup');

# --- crash: kill -9 a backend; the server recovers, old data is discarded
$bg = $node->background_psql('postgres');
$pid = $bg->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $pid;
$bg->{run}->kill_kill;
$node->poll_query_until('postgres', 'SELECT true') or die "server did not come back";
is(calls_like('SELECT v FROM t WHERE id = $1 AND v IS NOT NULL'), '0', 'after a crash the histograms are discarded');
$node->safe_psql('postgres', 'SELECT v FROM t WHERE id = 7 AND v IS NOT NULL');
is(calls_like('SELECT v FROM t WHERE id = $1 AND v IS NOT NULL'), '1', 'recording works after crash recovery');
$node->stop;

# --- loaded together with pg_stat_statements, in the order where its hooks
# run first (it zeroes the queryid of utility statements on their way down)
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard,pg_stat_statements'");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_stat_statements;
SELECT workload_guard.reset_latency();
CREATE TABLE after_pgss (a int);
VACUUM after_pgss;
SELECT v FROM t WHERE id = 9;
});
is( $node->safe_psql('postgres', q{
		SELECT string_agg(l.query, ' | ' ORDER BY l.query) FROM workload_guard.statement_latency l
		JOIN pg_stat_statements s USING (queryid, userid, dbid, toplevel)
		WHERE l.query ~ 'after_pgss|WHERE id'}),
	'CREATE TABLE after_pgss (a int) | SELECT v FROM t WHERE id = $1 | VACUUM after_pgss',
	'with pg_stat_statements loaded after it: utility statements still timed, same queryids');
$node->stop;

# --- not preloaded: a clear error with a hint
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION workload_guard');
($ret, $out, $err) = $plain->psql('postgres', 'SELECT * FROM workload_guard.statement_latency');
like($err, qr/workload_guard must be loaded via shared_preload_libraries/, 'not preloaded: error');
like($err, qr/HINT:  Add workload_guard to shared_preload_libraries and restart the server/,
	'not preloaded: hint');
is($plain->safe_psql('postgres', 'SELECT workload_guard.histogram_bucket(1)'), '318',
	'pure histogram functions work without preloading');
$plain->stop;

done_testing();
