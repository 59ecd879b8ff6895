# queryid_of() of the text pg_stat_activity shows for an extended-protocol
# query ("... WHERE id = $1") is the digest the extended protocol records,
# for plain and prepared statements, so an operator can block what they see.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('queryid_of');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
SELECT workload_guard.reset_latency();
});

for my $mode ('extended', 'prepared')
{
	my $alias = "m_$mode";
	# aliases are not part of a digest: one mode at a time
	$node->safe_psql('postgres', 'SELECT workload_guard.reset_latency()');
	$node->pgbench(
		"--no-vacuum -M $mode -c 1 -t 5",
		0, [qr{processed: 5/5}], [qr{^$}],
		"pgbench -M $mode",
		{ "qo_$mode" => qq{\\set id random(1, 100)
SELECT v AS $alias FROM t WHERE id = :id AND v <> :id::text;
} });
	my $text = "SELECT v AS $alias FROM t WHERE id = \$1 AND v <> \$2::text";
	is( $node->safe_psql('postgres', qq{
			SELECT calls || '/' || (queryid = workload_guard.queryid_of(query))
			FROM workload_guard.statement_latency WHERE query = '$text'}),
		'5/true', "-M $mode: queryid_of(the \$n text) is the recorded digest")
	  or diag($node->safe_psql('postgres', 'SELECT calls, query FROM workload_guard.statement_latency'));
}
$node->stop;

done_testing();
