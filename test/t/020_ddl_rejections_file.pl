# The rejection ring's file is trusted only when intact: a flipped byte, a
# truncated file, garbage, or a file with a correct checksum but a bad field
# (an unterminated string, invalid UTF-8, an entry out of order) is
# discarded with a LOG line at start-up; the server starts clean, with an
# empty ring, and records new rejections as usual.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ddl_rejections_file');
$node->init(extra => ['--encoding=UTF8', '--locale=C']);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION workload_guard;
CREATE TABLE big (id int, v text);
});
my $file = $node->data_dir . '/pg_stat/workload_guard_ddl.stat';
my $count = q{SELECT count(*) FROM workload_guard.ddl_rejections};

# CRC-32C (Castagnoli, reflected), as port/pg_crc32c.h computes it
my @crc_table;
for my $i (0 .. 255)
{
	my $c = $i;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	push @crc_table, $c;
}
sub crc32c
{
	my $crc = 0xFFFFFFFF;
	$crc = $crc_table[($crc ^ $_) & 0xFF] ^ ($crc >> 8) for unpack('C*', $_[0]);
	return $crc ^ 0xFFFFFFFF;
}

sub slurp_bin { open my $fh, '<:raw', $_[0] or die $!; local $/; my $d = <$fh>; return $d; }
sub spew_bin { open my $fh, '>:raw', $_[0] or die $!; print $fh $_[1]; close $fh; }

# a fresh file holding two refusals, written by a clean shutdown
sub fresh_file
{
	$node->safe_psql('postgres', 'SELECT workload_guard.reset_ddl_rejections()');
	$node->psql('postgres', "ALTER TABLE big ALTER COLUMN id TYPE bigint");
	$node->psql('postgres', "ALTER TABLE big ALTER COLUMN v TYPE int USING 1 /* n\xc3\xa4me */");
	$node->stop;
	ok(-s $file, 'the ring file is written at a clean shutdown');
	return slurp_bin($file);
}

# damage the file, start, and check the server came up clean
sub check_discarded
{
	my ($name, $data) = @_;
	spew_bin($file, $data);
	my $offset = -s $node->logfile;
	$node->start;
	is($node->safe_psql('postgres', $count), '0', "$name: the ring starts empty");
	ok($node->log_contains(qr/LOG:  ignoring workload_guard file ".*workload_guard_ddl\.stat"/, $offset),
		"$name: a LOG line says the file was ignored");
	ok(!-e $file, "$name: the file is removed");
	$node->psql('postgres', 'ALTER TABLE big ALTER COLUMN id TYPE bigint');
	is($node->safe_psql('postgres', $count), '1', "$name: new rejections are recorded");
}

# an intact file is loaded
my $good = fresh_file();
$node->start;
is($node->safe_psql('postgres', $count), '2', 'an intact file is loaded');
is($node->safe_psql('postgres',
	q{SELECT statement FROM workload_guard.ddl_rejections ORDER BY rejected_at DESC LIMIT 1}),
	"ALTER TABLE big ALTER COLUMN v TYPE int USING 1 /* n\xc3\xa4me */", 'texts come back intact');

# with the CRC recomputed: the fields themselves are checked
sub with_crc { my $d = substr($_[0], 0, length($_[0]) - 4); return $d . pack('V', crc32c($d)); }
# offsets: header (magic, version), then entry size, count, total
my $entry_size = unpack('V', substr($good, 8, 4));
my $first = 24;

$good = fresh_file();
my $flip = $good;
substr($flip, $first + 100, 1) = chr(ord(substr($flip, $first + 100, 1)) ^ 0x01);
check_discarded('a flipped byte', $flip);

$good = fresh_file();
check_discarded('a truncated file', substr($good, 0, length($good) - 700));

fresh_file();
check_discarded('garbage', join('', map { chr(int(rand(256))) } 1 .. 5000));

fresh_file();
check_discarded('an empty file', '');

# a message without its terminating NUL (valid checksum)
$good = fresh_file();
my $unterminated = $good;
my $m = index($unterminated, 'would rewrite table');
ok($m > $first, 'message found in the file');
$m = rindex($unterminated, 'ALTER TABLE', $m);
substr($unterminated, $m, 384) = 'x' x 384;
check_discarded('an unterminated string', with_crc($unterminated));

# invalid UTF-8 in a statement (valid checksum)
$good = fresh_file();
my $bad_utf8 = $good;
my $s = index($bad_utf8, "n\xc3\xa4me");
ok($s > $first, 'statement found in the file');
substr($bad_utf8, $s + 1, 1) = "\xff";
check_discarded('invalid UTF-8', with_crc($bad_utf8));

# two entries swapped: out of order (valid checksum)
$good = fresh_file();
my $swapped = $good;
my $e1 = substr($swapped, $first, $entry_size);
my $e2 = substr($swapped, $first + $entry_size, $entry_size);
substr($swapped, $first, 2 * $entry_size) = $e2 . $e1;
check_discarded('entries out of order', with_crc($swapped));

# an entry count larger than the file (valid checksum)
$good = fresh_file();
my $long = $good;
substr($long, 12, 4) = pack('V', 3);
check_discarded('a count past the end', with_crc($long));

$node->stop;
done_testing();
