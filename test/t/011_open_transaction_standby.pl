# A rule set on the primary reaches standby sessions that keep their locks,
# as soon as the standby replayed it: the next execution of the digest in
# an open transaction and in a running DO loop is refused, and a plan made
# (or a cached plan executed) inside an open transaction no longer uses an
# index disabled meanwhile.  The standby replays the invalidations into
# its queue; the sessions read them where the caches are consulted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'workload_guard'\n"
	  . "workload_guard.ddl_index = off\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION workload_guard;
	CREATE TABLE t (id int, val int);
	INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 10000) g;
	CREATE INDEX t_val_idx ON t (val);
	VACUUM ANALYZE t;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

sub replay
{
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
}

my $digest = 'SELECT count(*) FROM t WHERE val = 5';
my $qid = $primary->safe_psql('postgres', "SELECT workload_guard.queryid_of('$digest')");
replay();

# 1. an open transaction on the standby
my $s = $standby->background_psql('postgres', on_error_stop => 0);
$s->query_safe('BEGIN');
is($s->query_safe($digest), '100', 'open transaction: the digest runs');
$primary->safe_psql('postgres', "SELECT workload_guard.block_digest($qid, 'runaway')");
replay();
$s->{stderr} = '';
$s->query($digest);
like($s->{stderr}, qr/query $qid is blocked by workload_guard/,
	'open transaction: the next execution after replay is refused');
$s->query('ROLLBACK');
$s->{stderr} = '';

# 2. a DO loop that keeps executing the digest
$primary->safe_psql('postgres', "SELECT workload_guard.unblock_digest($qid)");
replay();
my $loop = $standby->background_psql('postgres', on_error_stop => 0);
$loop->query_until(qr/looping/, q{
\echo looping
DO $$
DECLARE n bigint := 0; t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    PERFORM count(*) FROM t WHERE val = 5;
    n := n + 1;
    EXIT WHEN clock_timestamp() > t0 + interval '60 s';
  END LOOP;
  RAISE NOTICE 'never refused in % executions', n;
END $$;
});
sleep(0.5);
my $t0 = time();
$primary->safe_psql('postgres', "SELECT workload_guard.block_digest($qid, 'runaway loop')");
replay();
my $t_replayed = time();
$loop->{stderr} = '';
$loop->query('SELECT 1');
my $t_refused = time();
like($loop->{stderr}, qr/query $qid is blocked by workload_guard/,
	'DO loop: refused once the block is replayed');
unlike($loop->{stderr}, qr/never refused/, 'DO loop: did not run to its end');
note(sprintf('commit to replay %.3f s, commit to the loop\'s refusal %.3f s',
		$t_replayed - $t0, $t_refused - $t0));
cmp_ok($t_refused - $t0, '<', 10, 'DO loop: refused within seconds of the commit');
$loop->quit;

# 3. plans inside an open transaction see an index disabled meanwhile
$s->query_safe(q{
	SET enable_seqscan = off;
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(int) AS SELECT id FROM t WHERE val = $1;
	BEGIN;
});
like($s->query_safe('EXPLAIN (COSTS OFF) SELECT id FROM t WHERE val = 7'),
	qr/t_val_idx/, 'open transaction: a new plan uses the index');
like($s->query_safe('EXPLAIN (COSTS OFF) EXECUTE q(7)'),
	qr/t_val_idx/, 'open transaction: the cached plan uses the index');
$primary->safe_psql('postgres', "SELECT workload_guard.disable_index('t_val_idx')");
replay();
unlike($s->query_safe('EXPLAIN (COSTS OFF) EXECUTE q(7)'),
	qr/t_val_idx/, 'open transaction: the cached plan is replanned without it');
unlike($s->query_safe('EXPLAIN (COSTS OFF) SELECT id FROM t WHERE val = 8'),
	qr/t_val_idx/, 'open transaction: a new plan does without it');
$s->query_safe('ROLLBACK');
$s->quit;

done_testing();
