# Soft-disabled indexes replicate: disable_index()/enable_index() on the
# primary take effect on a standby and on a standby cascaded from it once
# they replayed the commit, and a prepared statement (generic plan, made
# before the change) on each standby is replanned.  On a standby the
# management functions refuse with a clear error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard'\n"
	  . "workload_guard.ddl_index = off\n");	# plain CREATE INDEX below
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int, val int);
	INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 10000) g;
	CREATE INDEX t_val_idx ON t (val);
	VACUUM ANALYZE t;
});

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;
$standby->backup('b2');
my $cascade = PostgreSQL::Test::Cluster->new('cascade');
$cascade->init_from_backup($standby, 'b2', has_streaming => 1);
$cascade->start;

sub replay
{
	my $lsn = $primary->lsn('insert');
	$primary->wait_for_catchup($standby, 'replay', $lsn);
	$standby->wait_for_catchup($cascade, 'replay', $lsn);
}
replay();

# one long-lived session per standby, its statement prepared up front
my %session;
for my $node ($standby, $cascade)
{
	my $s = $node->background_psql('postgres');
	$s->query_safe(q{
		SET enable_seqscan = off;
		SET plan_cache_mode = force_generic_plan;
		PREPARE q(int) AS SELECT id FROM t WHERE val = $1;
	});
	$session{ $node->name } = $s;
}

sub plan_of
{
	my ($node) = @_;
	return $session{ $node->name }->query_safe('EXPLAIN (COSTS OFF) EXECUTE q(5)');
}

for my $node ($standby, $cascade)
{
	like(plan_of($node), qr/t_val_idx/, $node->name . ': index used at first');
}

my ($rc, $out, $err) = $standby->psql('postgres',
	"SELECT workload_guard.disable_index('t_val_idx')");
isnt($rc, 0, 'disable_index fails on a standby');
like($err, qr/cannot execute disable_index\(\) during recovery/,
	'with a clear message');

$primary->safe_psql('postgres',
	"SELECT workload_guard.disable_index('t_val_idx', 'replication test')");
replay();
for my $node ($standby, $cascade)
{
	my $plan = plan_of($node);
	unlike($plan, qr/t_val_idx/, $node->name . ': prepared statement replanned without the index');
	like($plan, qr/Seq Scan on t/, $node->name . ': seq scan instead');
	is($node->safe_psql('postgres',
		q{SELECT index || ' ' || reason || ' ' || coalesce(scans_since_disabled::text, 'null')
		    FROM workload_guard.disabled_indexes}),
		't_val_idx replication test null', $node->name . ': rule visible in the view');
}

$primary->safe_psql('postgres', "SELECT workload_guard.enable_index('t_val_idx')");
replay();
for my $node ($standby, $cascade)
{
	like(plan_of($node), qr/t_val_idx/, $node->name . ': index used again after enable');
}

$_->quit for values %session;
$cascade->stop;
$standby->stop;
$primary->stop;
done_testing();
