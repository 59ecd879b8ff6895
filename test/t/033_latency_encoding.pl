# Sample texts keep the encoding of the database that ran the statement and
# are converted to the encoding of the database that reads them: a LATIN1
# text read in a UTF8 database is valid UTF8 (a copy of the view can be
# restored), and a UTF8 text that LATIN1 cannot hold shows '?' for the
# characters it cannot convert instead of failing the view.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('encoding');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'workload_guard'");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE DATABASE lat1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
});
$node->safe_psql('lat1', 'CREATE EXTENSION workload_guard');
$node->safe_psql('postgres', 'SELECT workload_guard.reset_latency()');

# "café" as LATIN1 bytes, sent by a LATIN1 client to the LATIN1 database
$node->safe_psql('lat1', qq{SET client_encoding = 'LATIN1';\nSELECT 1 AS "caf\xe9";});
# "日本" as UTF8 bytes, in the UTF8 database
$node->safe_psql('postgres',
	qq{SET client_encoding = 'UTF8';\nSELECT 2 AS "\xe6\x97\xa5\xe6\x9c\xac", 3 AS "caf\xc3\xa9";});

# read in the UTF8 database: valid UTF8, the same characters
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM workload_guard.statement_latency
		WHERE query = 'SELECT $1 AS "caf' || chr(233) || '"'}),
	'1', 'a LATIN1 text read in a UTF8 database is converted');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM workload_guard.statement_latency
		WHERE query = 'SELECT $1 AS "' || chr(26085) || chr(26412) || '", $2 AS "caf' || chr(233) || '"'}),
	'1', 'a UTF8 text read in its own database is unchanged');

# a copy of the view can be dumped and restored
$node->safe_psql('postgres', q{
CREATE TABLE copy AS SELECT query FROM workload_guard.statement_latency;
COPY copy TO '/dev/null';
});
my ($ret, $out, $err) = $node->psql('postgres', q{
	CREATE TEMP TABLE back (q text);
	COPY (SELECT query FROM copy) TO STDOUT});
is($ret, 0, 'the copy can be written out');
my $dump = $out;
($ret, $out, $err) = $node->psql('postgres',
	"CREATE TABLE restored (q text);\nCOPY restored FROM STDIN;\n$dump\n\\.\nSELECT count(*) FROM restored WHERE q LIKE '%caf%';");
is($ret, 0, 'the copy can be restored') or diag($err);
like($out, qr/^2$/m, 'both texts restored');

# read in the LATIN1 database: what LATIN1 holds is converted, the rest is '?'
is( $node->safe_psql('lat1', q{
		SELECT string_agg(query, ' | ' ORDER BY query) FROM workload_guard.statement_latency
		WHERE query LIKE 'SELECT $1 AS %'}),
	$node->safe_psql('lat1', q{SELECT 'SELECT $1 AS "??", $2 AS "caf' || chr(233) || '" | SELECT $1 AS "caf' || chr(233) || '"'}),
	'read in a LATIN1 database: converted, ? for what LATIN1 cannot hold');
$node->stop;

done_testing();
