# ddl_rejections.blockers follows pg_stat_activity's visibility rules with
# real login roles: the blocker's own role sees its state, statement
# duration and queryid; another plain role sees only the pid; so does the
# DDL's author in its error, unless it may see the blocker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ddl_blockers_visibility');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE ROLE wg_author LOGIN;
CREATE ROLE wg_holder LOGIN;
CREATE ROLE wg_other LOGIN;
CREATE ROLE wg_stats LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE wg_holder_member LOGIN IN ROLE wg_holder;
CREATE TABLE t (id int);
ALTER TABLE t OWNER TO wg_author;
GRANT SELECT ON t TO wg_holder;
ALTER ROLE wg_author SET workload_guard.ddl_lock_timeout = '300ms';
});

my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'wg_holder' ]);
is($holder->query_safe('SELECT current_user'), 'wg_holder', 'the holder logs in as its own role');
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT count(*) FROM t');
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');

my ($ret, $out, $err) = $node->psql('postgres', 'ALTER TABLE t ADD COLUMN w int',
	extra_params => [ '-U', 'wg_author' ]);
like($err, qr/gave up waiting for a lock/, 'the DDL gave up waiting');
like($err, qr/Blocking processes: pid $holder_pid \(insufficient privilege\)\./,
	'its author sees only the pid of another role\'s session');

my $q = q{SELECT blockers FROM workload_guard.ddl_rejections};
my $details = qr/^pid $holder_pid \(idle in transaction, statement running [0-9.]+ s, queryid -?\d+\)$/;
sub read_as { return $node->safe_psql('postgres', $q, extra_params => [ '-U', $_[0] ]); }

like(read_as('wg_holder'), $details, 'the blocker\'s own role sees the details');
like(read_as('wg_holder_member'), $details, 'so does a member of that role');
like(read_as('wg_stats'), $details, 'so does a member of pg_read_all_stats');
like(read_as('postgres'), $details, 'so does a superuser');
is(read_as('wg_other'), "pid $holder_pid (insufficient privilege)", 'another role sees only the pid');
is(read_as('wg_author'), "pid $holder_pid (insufficient privilege)", 'and so does the author');

$holder->query_safe('COMMIT');
$holder->quit;
$node->stop;
done_testing();
