# No secret reaches the latency stats file: role passwords, user mapping
# options (also of a failing statement), subscription conninfo, DO bodies and
# literals of a failing query are redacted before they reach shared memory,
# so the file written at a clean shutdown does not hold them either.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('secrets_file');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION workload_guard');

$node->safe_psql('postgres', q{
CREATE ROLE regress_r PASSWORD 'sekret01';
ALTER ROLE regress_r PASSWORD 'sekret02';
CREATE FOREIGN DATA WRAPPER regress_fdw;
CREATE SERVER regress_srv FOREIGN DATA WRAPPER regress_fdw OPTIONS (password 'sekret03');
CREATE USER MAPPING FOR regress_r SERVER regress_srv OPTIONS (password 'sekret04');
DO $$BEGIN PERFORM 'sekret05'; END$$;
});
# failing statements, each its own digest
$node->psql('postgres', "CREATE USER MAPPING FOR regress_r SERVER regress_nosuch OPTIONS (password 'sekret06')");
$node->psql('postgres', "ALTER ROLE regress_nosuch PASSWORD 'sekret07'");
$node->psql('postgres', "SELECT 1 / 0, 'sekret08'");

is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE query ~ 'sekret') || '/' || count(*) FILTER (WHERE query ~ 'REDACTED') || '/' || count(*) FILTER (WHERE query = 'SELECT \$1 / \$2, \$3')"
		  . ' FROM workload_guard.statement_latency'),
	'0/8/1', 'eight statements redacted, the failing query normalized, none with its secret');

$node->stop;
my $file = $node->data_dir . '/pg_stat/workload_guard.stat';
ok(-e $file, 'the stats file is written at a clean shutdown');
my $content = slurp_file($file);
like($content, qr/ALTER ROLE <REDACTED>/, 'the file holds the redacted texts');
unlike($content, qr/sekret/, 'no secret in the stats file');

$node->start;
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE query ~ 'sekret') || '/' || count(*) FILTER (WHERE query ~ 'REDACTED') || '/' || count(*) FILTER (WHERE query = 'SELECT \$1 / \$2, \$3')"
		  . ' FROM workload_guard.statement_latency'),
	'0/8/1', 'after the restart: the same redacted digests');
$node->stop;

done_testing();
