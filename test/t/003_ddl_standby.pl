# Hot standby: the DDL guard stays out of the way, history (replicated by
# WAL) and the rejection view are readable, DDL fails with PostgreSQL's own
# read-only error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('ddl_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int PRIMARY KEY);
	ALTER TABLE t ADD COLUMN v int;
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('ddl_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY t_v ON t (v)');
$primary->wait_for_catchup($standby);

is( $standby->safe_psql('postgres',
		"SELECT string_agg(command_tag, ',' ORDER BY id) FROM workload_guard.ddl_history"),
	'CREATE TABLE,ALTER TABLE,CREATE INDEX',
	'history replicated and readable on the standby');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM workload_guard.ddl_rejections'),
	'0', 'rejection view works on the standby');

my ($ret, $out, $err) = $standby->psql('postgres', 'ALTER TABLE t ALTER COLUMN v TYPE bigint');
like($err, qr/cannot execute ALTER TABLE in a read-only transaction/,
	'DDL on the standby gets PostgreSQL\'s own error');
is( $standby->safe_psql('postgres',
		"SET workload_guard.ddl_lock_timeout = '1s'; SELECT count(*) FROM t; SHOW lock_timeout"),
	"0\n0", 'queries and settings work on the standby');

$standby->stop;
$primary->stop;
done_testing();
