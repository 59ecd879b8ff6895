# The latency stats file: a clean restart keeps the histograms; a file with
# a flipped byte, cut short, or with a consistent checksum over impossible
# counts is ignored with a LOG line and the server starts with an empty
# table; an immediate stop (like a crash) saves nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('stats_file');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
workload_guard.max_statements = 50
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION workload_guard');

my $file = $node->data_dir . '/pg_stat/workload_guard.stat';

# CRC-32C (Castagnoli), as port/pg_crc32c.h computes it
my @crc_table;
for my $i (0 .. 255)
{
	my $c = $i;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	$crc_table[$i] = $c;
}
sub crc32c
{
	my $crc = 0xFFFFFFFF;
	$crc = $crc_table[ ($crc ^ $_) & 0xFF ] ^ ($crc >> 8) for unpack('C*', $_[0]);
	return $crc ^ 0xFFFFFFFF;
}

sub workload
{
	$node->safe_psql('postgres', join('', map { "SELECT $_ AS n, 'x' AS s;\n" } 1 .. 20)
		  . "SELECT 1 AS a, 2 AS b;\n");
}

# digests other than the queries of this test's own reads
sub recorded
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) || '/' || coalesce(sum(calls), 0) FROM workload_guard.statement_latency
		WHERE query LIKE 'SELECT $1 AS %'});
}

sub read_file  { return slurp_file($file); }
sub write_file
{
	open(my $fh, '>:raw', $file) or die "could not write $file: $!";
	print $fh $_[0];
	close($fh);
}

# stop cleanly, let $edit change the saved file, start; returns the new log
sub restart_with_edit
{
	my ($edit) = @_;
	$node->stop;
	ok(-e $file, 'a clean stop writes the stats file');
	write_file($edit->(read_file()));
	my $offset = -s $node->logfile;
	$node->start;
	return slurp_file($node->logfile, $offset);
}

# --- intact file: everything survives a clean restart
$node->safe_psql('postgres', 'SELECT workload_guard.reset_latency()');
workload();
my $before = recorded();
is($before, '2/21', 'workload recorded');
my $log = restart_with_edit(sub { $_[0] });
is(recorded(), $before, 'a clean restart keeps every digest');
unlike($log, qr/ignoring workload_guard file/, 'an intact file is not rejected');
ok(!-e $file, 'the file is removed once loaded');

# --- one flipped byte in the middle of the buckets
$log = restart_with_edit(sub {
	my $c = shift;
	my $at = int(length($c) / 2);
	substr($c, $at, 1) = chr(ord(substr($c, $at, 1)) ^ 0x10);
	return $c;
});
like($log, qr/LOG:  ignoring workload_guard file ".*workload_guard\.stat"\n.*DETAIL:  The file's checksum does not match its contents\./,
	'flipped byte: LOG line names the file and the checksum');
is(recorded(), '0/0', 'flipped byte: the server starts with an empty table');
ok(!-e $file, 'the rejected file is removed');

# --- truncated file
workload();
$log = restart_with_edit(sub { return substr($_[0], 0, int(length($_[0]) * 2 / 3)); });
like($log, qr/ignoring workload_guard file.*\n.*DETAIL:  The file's checksum does not match/,
	'truncated file: rejected');
is(recorded(), '0/0', 'truncated file: empty table');

# --- a checksum that matches, over a call count of 9e18 (a writer's bug, or
# a file from elsewhere): every field is validated, the whole file rejected
workload();
$log = restart_with_edit(sub {
	my $c = shift;
	# magic, version (8), header (16), then the first record: key (24),
	# stats_since (8), calls
	substr($c, 8 + 16 + 24 + 8, 8) = pack('Q<', 9_000_000_000_000_000_000);
	my $body = substr($c, 0, length($c) - 4);
	return $body . pack('V', crc32c($body));
});
like($log, qr/ignoring workload_guard file.*\n.*DETAIL:  A digest's call count does not match its histogram\./,
	'impossible calls under a valid checksum: rejected');
is(recorded(), '0/0', 'impossible calls: empty table, not one digest of the file');

# --- a stats_since in the year 294277 under a valid checksum
workload();
$log = restart_with_edit(sub {
	my $c = shift;
	substr($c, 8 + 16 + 24, 8) = pack('q<', 9_223_371_331_200_000_000);
	my $body = substr($c, 0, length($c) - 4);
	return $body . pack('V', crc32c($body));
});
like($log, qr/DETAIL:  A digest's stats_since is out of range\./,
	'a date far in the future: rejected');
is(recorded(), '0/0', 'a date far in the future: empty table');

# --- immediate stop: like a crash, nothing is saved
workload();
is(recorded(), '2/21', 'workload recorded again');
$node->stop('immediate');
ok(!-e $file, 'an immediate stop writes no stats file');
$node->start;
is(recorded(), '0/0', 'after an immediate stop the histograms are discarded');

# and a clean stop after that saves again
workload();
$node->restart;
is(recorded(), '2/21', 'clean restart after recovery keeps the histograms again');
$node->stop;

done_testing();
