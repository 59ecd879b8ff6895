# Per-backend execution slots come back at every end of a statement's life:
# a cursor that fails inside a savepoint (its portal is dropped without
# ExecutorEnd at COMMIT), an execution aborted with its subtransaction,
# transactions committed or rolled back.  After more repetitions than there
# are slots (64), the session still records its statements.  A statement
# the backend's exit ends (pg_terminate_backend, a fast shutdown) is
# recorded as failed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('slots');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
workload_guard.track = all
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE TABLE t (id int);
INSERT INTO t SELECT generate_series(1, 10);
});

my %pattern = (
	# FETCH BACKWARD fails before the executor runs: the portal is marked
	# failed and COMMIT drops it without ExecutorEnd
	'outer cursor fails in a savepoint, then COMMIT' =>
	  'BEGIN; DECLARE c NO SCROLL CURSOR FOR SELECT id FROM t; FETCH 1 FROM c; '
	  . 'SAVEPOINT s; FETCH BACKWARD 1 FROM c; ROLLBACK TO s; COMMIT;',
	'cursor of the savepoint fails, then COMMIT' =>
	  'BEGIN; SAVEPOINT s; DECLARE c NO SCROLL CURSOR FOR SELECT id FROM t; FETCH 1 FROM c; '
	  . 'FETCH BACKWARD 1 FROM c; ROLLBACK TO s; COMMIT;',
	'cursor fails after a released savepoint, then ROLLBACK TO an outer one' =>
	  'BEGIN; SAVEPOINT a; SAVEPOINT b; DECLARE c NO SCROLL CURSOR FOR SELECT id FROM t; '
	  . 'FETCH 1 FROM c; RELEASE b; FETCH BACKWARD 1 FROM c; ROLLBACK TO a; COMMIT;',
	'cursor fails in a savepoint, then ROLLBACK' =>
	  'BEGIN; DECLARE c NO SCROLL CURSOR FOR SELECT id FROM t; FETCH 1 FROM c; '
	  . 'SAVEPOINT s; FETCH BACKWARD 1 FROM c; ROLLBACK TO s; ROLLBACK;',
	'PL/pgSQL exception block around a failing cursor' =>
	  q{DO $$DECLARE c refcursor; r int; BEGIN OPEN c NO SCROLL FOR SELECT id FROM t; FETCH c INTO r; }
	  . q{BEGIN FETCH PRIOR FROM c INTO r; EXCEPTION WHEN OTHERS THEN NULL; END; END$$;},);

my $i = 0;
for my $name (sort keys %pattern)
{
	$i++;
	# one session: 70 repetitions, then a statement of its own
	my $sql = ($pattern{$name} . "\n") x 70
	  . "SELECT workload_guard.reset_latency();\nSELECT $i AS after_pattern_$i;\n";
	$node->psql('postgres', $sql, on_error_stop => 0);
	is( $node->safe_psql('postgres', qq{
			SELECT calls FROM workload_guard.statement_latency
			WHERE query = 'SELECT \$1 AS after_pattern_$i'}),
		'1', "$name (x70): the session still records");
}
is($node->safe_psql('postgres', 'SELECT dropped FROM workload_guard.latency_info'),
	'0', 'no execution dropped');
my $log = slurp_file($node->logfile);
unlike($log, qr/not recording latency for statements nested/, 'no slot exhaustion logged');

# The backend's exit ends a statement (pg_terminate_backend, a fast
# shutdown): recorded as failed (57P01, not a cancel), with the time it ran.
# psql exits with its connection: quit finds no pipe for its \q.  The two
# statements differ by a cast: an alias alone would not change the digest.
sub start_sleeper
{
	my ($sql, $tag) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_until(qr/started/, "\\echo started\n$sql AS $tag;\n");
	$node->poll_query_until('postgres', qq{
		SELECT true FROM pg_stat_activity
		 WHERE pid = $pid AND query LIKE '%$tag%'
		   AND clock_timestamp() - query_start > interval '300 ms'})
	  or die "$tag never ran";
	return ($s, $pid);
}

sub sleeper_row
{
	my ($text) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT calls || '/' || errors || '/' || cancels || '/' || (max_ms >= 300)
		FROM workload_guard.statement_latency WHERE query = '$text'});
}

my ($sleeper, $pid) = start_sleeper('SELECT pg_sleep(60)', 'terminate_me');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid)")
  or die "the terminated backend did not exit";
eval { $sleeper->quit; };
is(sleeper_row('SELECT pg_sleep($1) AS terminate_me'), '1/1/0/true',
	'pg_terminate_backend: the statement is recorded as failed, with its time');

($sleeper, $pid) = start_sleeper('SELECT pg_sleep(60)::text', 'shut_down');
$node->restart;    # fast: the statement ends with its backend, the file has it
eval { $sleeper->quit; };
is(sleeper_row('SELECT pg_sleep($1)::text AS shut_down'), '1/1/0/true',
	'fast shutdown: the statement is recorded, and saved with the rest');
$node->stop;

done_testing();
