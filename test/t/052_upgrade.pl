# Upgrade path: a database created at VERSION '1.0', with rules (block,
# cap, role- and database-scoped, dry run, expired, disabled indexes plain,
# forced and partitioned) and DDL history rows, runs ALTER EXTENSION
# workload_guard UPDATE.  Then every row is intact (the 1.0 columns compared
# value by value), the rules are enforced, the history goes on, and the SQL
# surface equals a fresh CREATE EXTENSION's: every member object, function
# signature and property, view definition, table column, constraint, index,
# trigger, event trigger, ACL, comment and config-dump registration.  Written
# from the catalog, so it keeps passing as sections are appended to
# workload_guard--1.0--1.1.sql, and fails when one of them cannot upgrade a
# database with rows or ends up different from a fresh install.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'workload_guard'
workload_guard.max_statements = 100
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE ROLE upg_app LOGIN');
$node->safe_psql('fresh', 'CREATE EXTENSION workload_guard');
$node->safe_psql('old', q{CREATE EXTENSION workload_guard VERSION '1.0'});
is($node->safe_psql('old',
		q{SELECT extversion FROM pg_extension WHERE extname = 'workload_guard'}),
	'1.0', 'old database starts at 1.0');

# 1.0 state: objects, rules, history (DDL that ran, refused DDL)
my $qid_of = sub {
	my ($db, $sql) = @_;
	my $plan = $node->safe_psql($db, "EXPLAIN (VERBOSE, COSTS OFF) $sql");
	$plan =~ /Query Identifier: (-?\d+)/ or die "no queryid for $sql";
	return $1;
};
$node->safe_psql('old', q{
CREATE TABLE t (id int PRIMARY KEY, v text, n int);
INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 1000) g;
CREATE INDEX CONCURRENTLY t_v ON t (v);
CREATE INDEX CONCURRENTLY t_n ON t (n);
CREATE TABLE p (a int) PARTITION BY RANGE (a);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
CREATE INDEX ON ONLY p (a);
ALTER TABLE t ADD COLUMN w int;
ANALYZE t;
GRANT SELECT ON t TO upg_app;
});
my $blocked = 'SELECT v FROM t WHERE id = 1';
my $capped = 'SELECT pg_sleep(0.01), n FROM t WHERE id = 2';
my $qb = $qid_of->('old', $blocked);
my $qc = $qid_of->('old', $capped);
$node->safe_psql('old', qq{
SELECT workload_guard.block_digest($qb, 'incident 1');
SELECT workload_guard.cap_digest($qc, 1, 'incident 2');
SELECT workload_guard.block_digest(4242, 'app only', role => 'upg_app');
SELECT workload_guard.block_digest(4243, 'here only', database => 'old', dry_run => true);
SELECT workload_guard.cap_digest(4244, 3, expires_in => '1 day');
SELECT workload_guard.disable_index('t_v', reason => 'drop candidate');
SELECT workload_guard.disable_index('t_pkey', force => true);
SELECT workload_guard.disable_index('p_a_idx');
});
# an expired rule (1.0 had no way to write one but time)
$node->safe_psql('old', q{
SELECT workload_guard.block_digest(4245, expires_in => '1 second');
SELECT pg_sleep(1.1);
});
my ($rc, $out, $err) = $node->psql('old', 'CREATE INDEX t_bad ON t (w)');
isnt($rc, 0, '1.0 refuses a blocking CREATE INDEX');

# the 1.0 columns of every table of the extension, and their rows
my $tables_sql = q{
SELECT c.oid::regclass,
       string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
  FROM pg_depend d
  JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'workload_guard')
   AND c.relkind = 'r'
 GROUP BY c.oid ORDER BY 1};
my %cols = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('old', $tables_sql);
ok(scalar(keys %cols) >= 3, 'the 1.0 tables: ' . join(', ', sort keys %cols));
my %before;
for my $tab (sort keys %cols)
{
	$before{$tab} = $node->safe_psql('old',
		"SELECT $cols{$tab} FROM $tab ORDER BY $cols{$tab}");
}
like($before{'workload_guard.digest_rules'}, qr/incident 1/, 'rules written at 1.0');
my $nhist = $node->safe_psql('old', 'SELECT count(*) FROM workload_guard.ddl_history');
cmp_ok($nhist, '>=', 8, "history rows written at 1.0 ($nhist)");

# a session that stays connected across the update
my $bg = $node->background_psql('old', on_error_stop => 0);
$bg->query_safe('SELECT count(*) FROM t');

$node->safe_psql('old', 'ALTER EXTENSION workload_guard UPDATE');
is($node->safe_psql('old',
		q{SELECT extversion = (SELECT default_version FROM pg_available_extensions
                                WHERE name = 'workload_guard')
            FROM pg_extension WHERE extname = 'workload_guard'}),
	't', 'updated to the default version');

# every row is intact (the update may add rows: its own history row)
for my $tab (sort keys %cols)
{
	my %after = map { $_ => 1 } split /\n/,
	  $node->safe_psql('old', "SELECT $cols{$tab} FROM $tab ORDER BY $cols{$tab}");
	my @lost = grep { !$after{$_} } split /\n/, $before{$tab};
	is(join("\n", @lost), '', "$tab: every 1.0 row and column intact");
}

# the rules are enforced, in new sessions and in the one that stayed
($rc, $out, $err) = $node->psql('old', $blocked);
like($err, qr/blocked by workload_guard/, 'a block set at 1.0 is enforced after the update');
$out = $bg->query($blocked);
like($bg->{stderr}, qr/blocked by workload_guard/,
	'... also in a session connected before the update');
$bg->{stderr} = '';
is($node->safe_psql('old', 'SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT v FROM t WHERE v = $$v1$$')
	  =~ /t_v/ ? 'uses t_v' : 'hidden', 'hidden',
	'an index disabled at 1.0 stays hidden');
like($node->safe_psql('old', 'SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT n FROM t WHERE n = 5'),
	qr/t_n/, 'an index not disabled is still used');
# an open cursor holds its cap slot until it is closed
$bg->query_safe("BEGIN; DECLARE c CURSOR FOR $capped; FETCH 1 FROM c;");
($rc, $out, $err) = $node->psql('old', $capped);
like($err, qr/capped at 1 concurrent execution/, 'a cap set at 1.0 is enforced after the update');
$bg->query_safe('COMMIT');
is($node->safe_psql('old',
		'SELECT count(*) FROM workload_guard.digest_rule_counters() WHERE running <> 0'),
	'0', 'the cap slot came back');
($rc, $out, $err) = $node->psql('old', 'CREATE INDEX t_bad ON t (w)');
like($err, qr/without CONCURRENTLY/, 'the DDL guard still refuses');
$node->safe_psql('old', 'ALTER TABLE t ADD COLUMN x int');
is($node->safe_psql('old', qq{SELECT count(*), min(id) > (SELECT max(id) - 1 FROM workload_guard.ddl_history WHERE statement NOT LIKE 'ALTER TABLE t ADD COLUMN x%')
    FROM workload_guard.ddl_history WHERE statement = 'ALTER TABLE t ADD COLUMN x int'}),
	'1|t', 'the history goes on after the update, ids continuing');
$node->safe_psql('old', "SELECT workload_guard.unblock_digest($qb)");
is($node->safe_psql('old', $blocked), 'v1', 'unblock works after the update');
is($node->safe_psql('old', q{SELECT workload_guard.enable_index('t_v')}), 't',
	'enable_index works after the update');
$bg->quit;

# The SQL surface of the updated database equals a fresh install's.  One
# line per property; OIDs rendered as names.
my $surface_sql = q{
WITH m AS (
  SELECT d.classid, d.objid
    FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'workload_guard'))
SELECT line FROM (
  SELECT 'member: ' || pg_describe_object(classid, objid, 0) FROM m
  UNION ALL
  SELECT format('function %s: returns %s%s, %s, kind %s, volatile %s, strict %s, secdef %s, leakproof %s, parallel %s, cost %s, rows %s, lang %s, config %s, acl %s, src %s, bin %s, args (%s), comment %s',
                p.oid::regprocedure, CASE WHEN p.proretset THEN 'setof ' ELSE '' END,
                pg_get_function_result(p.oid), p.prorettype::regtype, p.prokind,
                p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
                p.proparallel, p.procost, p.prorows, l.lanname, p.proconfig,
                p.proacl, md5(p.prosrc), p.probin,
                pg_get_function_arguments(p.oid), obj_description(p.oid, 'pg_proc'))
    FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_language l ON l.oid = p.prolang
  UNION ALL
  SELECT format('relation %s: kind %s, persistence %s, acl %s, options %s, comment %s, owner %s',
                c.oid::regclass, c.relkind, c.relpersistence, c.relacl, c.reloptions,
                obj_description(c.oid, 'pg_class'), c.relowner::regrole)
    FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  SELECT format('view %s: %s', c.oid::regclass, pg_get_viewdef(c.oid))
    FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind IN ('v', 'm')
  UNION ALL
  SELECT format('column %s.%s: position %s, type %s, collation %s, not null %s, default %s, identity %s, generated %s, acl %s, comment %s',
                c.oid::regclass, a.attname,
                row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
                format_type(a.atttypid, a.atttypmod), a.attcollation, a.attnotnull,
                pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                a.attacl, col_description(c.oid, a.attnum))
    FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s.%s: %s', c.oid::regclass, k.conname, pg_get_constraintdef(k.oid))
    FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_constraint k ON k.conrelid = c.oid
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(tg.oid))
    FROM m JOIN pg_trigger tg ON m.classid = 'pg_class'::regclass AND tg.tgrelid = m.objid
  UNION ALL
  SELECT format('event trigger %s: on %s, function %s, enabled %s, tags %s, owner %s',
                e.evtname, e.evtevent, e.evtfoid::regprocedure, e.evtenabled, e.evttags,
                e.evtowner::regrole)
    FROM m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
  UNION ALL
  SELECT format('sequence %s: type %s, start %s, increment %s, max %s, min %s, cycle %s',
                s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement,
                s.seqmax, s.seqmin, s.seqcycle)
    FROM m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
  UNION ALL
  SELECT format('config dump: %s %L', cfg, cond)
    FROM pg_extension e, unnest(e.extconfig::regclass[], e.extcondition) u(cfg, cond)
   WHERE e.extname = 'workload_guard'
  UNION ALL
  SELECT format('extension: version %s, schema %s, relocatable %s, owner %s',
                e.extversion, e.extnamespace::regnamespace, e.extrelocatable, e.extowner::regrole)
    FROM pg_extension e WHERE e.extname = 'workload_guard'
  UNION ALL
  SELECT format('schema %s: owner %s, acl %s, comment %s', n.nspname, n.nspowner::regrole,
                n.nspacl, obj_description(n.oid, 'pg_namespace'))
    FROM pg_namespace n WHERE n.nspname = 'workload_guard'
) s(line) ORDER BY line COLLATE "C"};
my $fresh_surface = $node->safe_psql('fresh', $surface_sql);
my $old_surface = $node->safe_psql('old', $surface_sql);
cmp_ok(scalar(split /\n/, $fresh_surface), '>', 100,
	'the surface has every kind of line');
is($old_surface, $fresh_surface, 'the updated SQL surface equals a fresh install');

# and the update path is the one CREATE EXTENSION takes (1.0 then 1.0--1.1)
# or a base script of the same version: either way no leftover of 1.0
is($node->safe_psql('old',
		q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'workload_guard'::regnamespace
            AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                            AND d.objid = pg_proc.oid AND d.deptype = 'e')}),
	'0', 'no function in the schema outside the extension');

my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|TRAP:|terminated by signal/, 'no crash');
$node->stop;
done_testing();
