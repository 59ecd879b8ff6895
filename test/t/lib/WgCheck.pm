# Checks shared by the TAP tests that load the server and then assert that
# nothing went wrong: the server log since an offset shows no crash, no
# assertion failure, no WARNING and only the ERRORs the test expects; no
# cap slot is left taken.  Used by 006_stress.pl and 051_soak.pl.  And
# pgbench_for, the timed pgbench run of the rate-limit tests (090, 092).
package WgCheck;
use strict;
use warnings;
use Test::More;
use PostgreSQL::Test::Utils;
use Exporter 'import';
our @EXPORT = qw(server_log_clean no_leaked_cap_slots pgbench_for);
use Time::HiRes qw(time);

# server_log_clean($node, $offset, %opts): the log written since $offset.
# errors => qr/.../ lists the ERROR messages that are expected (default: any
# ERROR is accepted, as the clients' own checks decide about them).
sub server_log_clean
{
	my ($node, $offset, %opts) = @_;
	my $log = slurp_file($node->logfile, $offset);
	unlike($log, qr/PANIC|TRAP:|terminated by signal|server process .* was terminated/,
		'no crash, no assertion failure');
	my @warnings = grep { /WARNING/ } split /\n/, $log;
	is(scalar(@warnings), 0, 'no warnings in the server log')
	  or diag(join("\n", @warnings[0 .. ($#warnings < 20 ? $#warnings : 20)]));
	if ($opts{errors})
	{
		my @errors = grep { /ERROR:/ && !/$opts{errors}/ } split /\n/, $log;
		is(scalar(@errors), 0, 'no unexpected ERROR in the server log')
		  or diag(join("\n", @errors[0 .. ($#errors < 20 ? $#errors : 20)]));
	}
	return $log;
}

# no_leaked_cap_slots($node, $db): every cap slot came back
sub no_leaked_cap_slots
{
	my ($node, $db) = @_;
	is($node->safe_psql($db,
			'SELECT count(*) FROM workload_guard.digest_rule_counters() WHERE running <> 0'),
		'0', 'no cap slot leaked');
}

# pgbench_for($node, $script, $seconds, $clients): run the script for
# $seconds with $clients clients against database postgres (the caller's
# PGAPPNAME, if any, names the application); returns the transactions
# processed and the wall-clock seconds the run took
sub pgbench_for
{
	my ($node, $script, $seconds, $clients) = @_;
	my $t0 = time();
	my ($stdout, $stderr) = run_command([
			'pgbench', '-n', '-c', $clients, '-T', $seconds, '-f', $script,
			'-h', $node->host, '-p', $node->port, 'postgres' ]);
	my $wall = time() - $t0;
	$stdout =~ /number of transactions actually processed: (\d+)/
	  or die "pgbench failed: $stdout $stderr";
	return ($1, $wall);
}

1;
