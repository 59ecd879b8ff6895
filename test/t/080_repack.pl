# PostgreSQL 19's REPACK command (the statement CLUSTER and VACUUM FULL
# also arrive as there) falls under the rewrite rule like them: refused, with
# the rewrite SQLSTATE, recorded; allowed with the bypass.  Before 19 there is
# no REPACK: the test is skipped (CLUSTER and VACUUM FULL themselves are
# covered on every major by test/sql/ddl_guard.sql).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('repack');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
});
$node->start;

if ($node->safe_psql('postgres', 'SHOW server_version_num') < 190000)
{
	$node->stop;
	plan skip_all => 'REPACK exists from PostgreSQL 19';
}

$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE TABLE rp (id int PRIMARY KEY, v text);
INSERT INTO rp SELECT g, 'v' FROM generate_series(1, 100) g;
});

my ($ret, $out, $err) = $node->psql('postgres', 'REPACK rp');
isnt($ret, 0, 'REPACK refused');
like($err, qr/REPACK rewrites the table/, 'under the rewrite rule');
is($node->safe_psql('postgres',
		q{SELECT rule || '/' || sqlstate || '/' || relation FROM workload_guard.ddl_rejections}),
	'rewrite/2F003/public.rp', 'rejection recorded');

# the same statement-level classification as CLUSTER and VACUUM FULL
is($node->safe_psql('postgres', q{
	SELECT string_agg(command_tag || '/' || coalesce(rule, '-'), ' ' ORDER BY command_tag)
	FROM workload_guard.ddl_classify('REPACK rp; CLUSTER rp USING rp_pkey; VACUUM FULL rp')}),
	'CLUSTER/rewrite REPACK/rewrite VACUUM/rewrite', 'REPACK, CLUSTER and VACUUM FULL classified alike');

($ret, $out, $err) = $node->psql('postgres',
	q{SET workload_guard.ddl_rewrite = off; REPACK rp});
is($ret, 0, 'REPACK runs when the rule is off') or diag $err;

$node->stop;
done_testing();
