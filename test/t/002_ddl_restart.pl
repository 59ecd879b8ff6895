# Refused schema changes survive a clean restart (the rejection ring is
# saved at shutdown) and are discarded after a crash.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ddl_restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE TABLE big (id int, v text);
});

my ($ret, $out, $err) = $node->psql('postgres', 'ALTER TABLE big ALTER COLUMN id TYPE bigint');
like($err, qr/would rewrite table/, 'rewrite refused');
my $q = q{SELECT rule || '/' || sqlstate || '/' || relation FROM workload_guard.ddl_rejections};
is($node->safe_psql('postgres', $q), 'rewrite/2F003/public.big', 'rejection recorded');

$node->restart;
is($node->safe_psql('postgres', $q), 'rewrite/2F003/public.big', 'rejection survives a clean restart');
ok(!-e $node->data_dir . '/pg_stat/workload_guard_ddl.stat', 'saved ring consumed at start-up');

# a crash loses the ring (shared memory is reinitialized, nothing saved)
my $bg = $node->background_psql('postgres');
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $pid;
$bg->{run}->kill_kill;
$node->poll_query_until('postgres', 'SELECT true') or die "server did not come back";
is($node->safe_psql('postgres', 'SELECT count(*) FROM workload_guard.ddl_rejections'), '0',
	'rejections are gone after a crash');
$node->stop;
done_testing();
