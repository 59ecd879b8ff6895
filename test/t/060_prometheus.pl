# The real monitoring chain: Debian's prometheus-postgres-exporter (0.11)
# with monitoring/queries.yaml against a test cluster, Debian's prometheus
# (2.42) scraping it every second.  After a workload with a known shape,
# Prometheus's p99 per digest (histogram_quantile over the exported
# buckets) agrees with the view's recent p99 within the width of the coarse
# bucket that holds it; errors, rule hits and DDL rejections arrive as
# counters; every query of monitoring/grafana-dashboard.json runs.
use strict;
use warnings;
use Cwd ();
use File::Temp qw(tempdir);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $exporter_bin = '/usr/bin/prometheus-postgres-exporter';
my $prometheus_bin = '/usr/bin/prometheus';
if (!-x $exporter_bin || !-x $prometheus_bin)
{
	plan skip_all =>
	  'prometheus and prometheus-postgres-exporter are not installed (scripts/deps.sh installs them unless WG_WITH_MONITORING=0)';
}
my ($curl) = grep { -x } map { "$_/curl" } split /:/, $ENV{PATH};
plan skip_all => 'curl is not installed (scripts/deps.sh installs it)' if !$curl;

my $src = $ENV{TESTDIR} // Cwd::getcwd();    # the tree, where prove runs
my $queries = "$src/monitoring/queries.yaml";
my $dashboard_file = "$src/monitoring/grafana-dashboard.json";

# --- the dashboard is valid JSON, and its queries are the ones checked below
my $dashboard = do {
	local $/;
	open my $fh, '<', $dashboard_file or die "$dashboard_file: $!";
	decode_json(<$fh>);
};
my @exprs = map { map { $_->{expr} } @{ $_->{targets} // [] } } @{ $dashboard->{panels} };
ok(@exprs >= 4, 'grafana-dashboard.json parses and has panel queries');
ok( (grep { /histogram_quantile\(0\.99, sum by \(le, queryid\)/ } @exprs),
	'the dashboard has the p99 per digest query');
ok((grep { $_->{type} eq 'heatmap' } @{ $dashboard->{panels} }), 'the dashboard has a heatmap');

# --- a cluster with a workload of known shape
my $node = PostgreSQL::Test::Cluster->new('prom');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE prom_t (a int);
	INSERT INTO prom_t VALUES (0), (1);
	CREATE FUNCTION prom_sleep(ms float8) RETURNS void LANGUAGE sql
	  AS 'SELECT pg_sleep(ms / 1000.0)';
});
# the digest exists before the first scrape, so rate() sees every later call
$node->safe_psql('postgres', 'SELECT prom_sleep(1)');
my $qid = $node->safe_psql('postgres',
	"SELECT queryid FROM workload_guard.statement_latency WHERE query LIKE 'SELECT prom_sleep(%'");
like($qid, qr/^-?\d+$/, 'the sleeping digest is tracked');

# --- exporter and prometheus on their own ports, in their own directories
my $dir = tempdir(CLEANUP => 1);
my $exporter_port = PostgreSQL::Test::Cluster::get_free_port();
my $prom_port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=%s dbname=postgres sslmode=disable',
	$node->host, $node->port, scalar getpwuid($<));
my ($eout, $pout) = ('', '');
my $exporter = IPC::Run::start(
	[
		$exporter_bin, "--extend.query-path=$queries",
		"--web.listen-address=127.0.0.1:$exporter_port",
		'--disable-default-metrics', '--disable-settings-metrics'
	],
	'<', \undef, '>&', "$dir/exporter.log",
	init => sub { $ENV{DATA_SOURCE_NAME} = $dsn });
open my $cfg, '>', "$dir/prometheus.yml" or die;
print $cfg <<"YML";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: workload_guard
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
YML
close $cfg;
my $prometheus = IPC::Run::start(
	[
		$prometheus_bin, "--config.file=$dir/prometheus.yml",
		"--storage.tsdb.path=$dir/data",
		"--web.listen-address=127.0.0.1:$prom_port"
	],
	'<', \undef, '>&', "$dir/prometheus.log");
END { $exporter->kill_kill if $exporter; $prometheus->kill_kill if $prometheus; }

# GET one instant query; returns its result array
sub promql
{
	my ($q) = @_;
	my $out = `$curl -s -G --max-time 5 http://127.0.0.1:$prom_port/api/v1/query --data-urlencode 'query=$q'`;
	my $r = eval { decode_json($out) };
	return undef unless $r && $r->{status} eq 'success';
	return $r->{data}{result};
}

# wait (bounded) until a query returns at least one series
sub wait_series
{
	my ($q, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my $r = promql($q);
		return $r if $r && @$r;
		usleep(250_000);
	}
	return undef;
}

my $count_q = "workload_guard_statement_latency_seconds_count{queryid=\"$qid\"}";
ok(wait_series($count_q, 30), 'prometheus scrapes the digest through the exporter')
  or diag(slurp_file("$dir/exporter.log") . slurp_file("$dir/prometheus.log"));

# --- the workload: 9 in 10 calls sleep 1 ms, 1 in 10 sleeps 12 ms, so p99
# lies among the slow ones; plus errors, a blocked digest, a refused DDL
my $script = '';
for my $i (1 .. 20)
{
	$script .= "SELECT prom_sleep(1);\n" x 9;
	$script .= "SELECT prom_sleep(12);\n";
}
my $t0 = time;
my $rounds = 0;
while (time - $t0 < 8)
{
	$node->safe_psql('postgres', $script);
	$rounds++;
}
$node->psql('postgres', 'SELECT 1 / a FROM prom_t') for 1 .. 2;
my $eqid = $node->safe_psql('postgres',
	q{SELECT queryid FROM workload_guard.statement_latency WHERE query LIKE 'SELECT % / a FROM prom_t'});
$node->safe_psql('postgres', "SELECT count(*) FROM prom_t WHERE a = 42");
my $bqid = $node->safe_psql('postgres',
	"SELECT queryid FROM workload_guard.statement_latency WHERE query LIKE 'SELECT count(*) FROM prom_t WHERE a = %'");
$node->safe_psql('postgres', "SELECT workload_guard.block_digest($bqid, 'test')");
$node->psql('postgres', "SELECT count(*) FROM prom_t WHERE a = 42") for 1 .. 3;
$node->psql('postgres', 'CREATE INDEX ON prom_t (a)');
note "workload: $rounds rounds of 200 calls in " . sprintf('%.1f', time - $t0) . ' s';

# two more scrapes after the workload
sleep 3;

my $view_p99 = $node->safe_psql('postgres',
	"SELECT recent_p99_ms FROM workload_guard.statement_latency WHERE queryid = $qid");
my $res = promql(
	'histogram_quantile(0.99, sum by (le, queryid) (rate(workload_guard_statement_latency_seconds_bucket[30s])))'
);
my ($series) = grep { $_->{metric}{queryid} eq $qid } @{ $res // [] };
ok($series, 'histogram_quantile returns a p99 for the digest');
my $prom_p99 = $series ? $series->{value}[1] * 1000 : -1;
# the coarse bucket [2^k us, 2^(k+1) us) that holds the view's p99
my $lo = 2**int(log($view_p99 * 1000) / log(2)) / 1000;
my $width = $lo;
note sprintf('p99: view %.3f ms, prometheus %.3f ms, coarse bucket [%.3f, %.3f) ms',
	$view_p99, $prom_p99, $lo, 2 * $lo);
ok(abs($prom_p99 - $view_p99) <= $width,
	"prometheus p99 ($prom_p99 ms) within the coarse bucket width ($width ms) of the view's recent p99 ($view_p99 ms)");
ok($view_p99 >= 12 && $view_p99 < 100, "the view's p99 is among the 12 ms calls ($view_p99 ms)");

# counters arrive with the values the server has
my $calls = $node->safe_psql('postgres',
	"SELECT sum(calls) FROM workload_guard.statement_latency WHERE queryid = $qid");
my $c = promql("sum(workload_guard_statement_latency_seconds_count{queryid=\"$qid\"})");
is($c->[0]{value}[1], $calls, '_count is the digest\'s calls');
$c = promql("workload_guard_statement_errors_total{queryid=\"$eqid\"}");
is($c->[0]{value}[1], '2', 'errors_total counts the failed executions');
$c = promql("workload_guard_digest_rule_blocked_total{queryid=\"$bqid\"}");
is($c->[0]{value}[1], '3', 'digest_rule_blocked_total counts the refused executions');
$c = promql('workload_guard_ddl_rejections_total{rule="index"}');
is($c->[0]{value}[1], '1', 'ddl_rejections_total{rule="index"} counts the refused CREATE INDEX');
$c = promql("workload_guard_statement_stats_since_seconds{queryid=\"$qid\"}");
ok($c->[0]{value}[1] > 1e9, 'stats_since_seconds is a Unix time');

# every dashboard query runs and returns data (Grafana's variables filled in)
for my $e (@exprs)
{
	(my $q = $e) =~ s/\$__rate_interval/30s/g;
	$q =~ s/\$__range/1m/g;
	$q =~ s/\$instance/.*/g;
	my $r = promql($q);
	ok($r && @$r, "dashboard query returns data: $e");
}

$node->stop;
done_testing();
