# Per-backend execution slots come back at every end of a statement's life:
# a cursor that fails inside a savepoint (its portal is dropped without
# ExecutorEnd at COMMIT), an execution aborted with its subtransaction,
# transactions committed or rolled back.  After more repetitions than there
# are slots (64), the session still records its statements.
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
$node->stop;

done_testing();
