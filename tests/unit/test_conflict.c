/*
 * test_conflict.c - the column-by-column conflict decision (conflict/
 * merge.h) and the per-column rules beside the schema (conflict/
 * columns.c).
 *
 * The rules match the schema column for column; each policy meets each
 * kind of conflict; an update whose columns partly conflict; LWW and its
 * device-id tie-break; monotonic states; insert replays and differing
 * inserts; edits of soft-deleted rows; updates of missing rows; refusals;
 * logs that carry no values.  Last, the decisions drive a real
 * sqlite3changeset_apply_v2 between two in-memory databases, with the
 * merge run as SQL inside the conflict handler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "conflict/merge.h"
#include "conflict/policy.h"
#include "schema/schema.h"

/* ---- building changes by column name ------------------------------------ */

struct tc {
	const struct table_columns *t;
	struct merge_value old[MERGE_MAX_COLS];
	struct merge_value new[MERGE_MAX_COLS];
	struct merge_value cur[MERGE_MAX_COLS];
	struct merge_change c;
	struct merge_decision d;
};

/* A change of table with every value undefined; the arrays the op and
 * conflict call for are attached.  Freed with free(). */
static struct tc *
tc_new(const char *table, enum merge_op op, enum merge_conflict k)
{
	struct tc *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->t = policy_columns_for_table(table);
	assert_non_null(t->t);
	t->c.table = table;
	t->c.op = op;
	t->c.conflict = k;
	t->c.ncol = t->t->ncol;
	if (op != MERGE_OP_INSERT)
		t->c.old = t->old;
	if (op != MERGE_OP_DELETE)
		t->c.new = t->new;
	if (k == MERGE_DATA || k == MERGE_CONFLICT)
		t->c.cur = t->cur;
	t->c.hlc = 1000;
	t->c.origin = "dev-b";
	t->c.cur_origin = "";
	return t;
}

static int
ci(const struct tc *t, const char *name)
{
	int i;

	for (i = 0; i < t->t->ncol; i++)
		if (strcmp(t->t->cols[i].name, name) == 0)
			return i;
	fail_msg("no column %s in %s", name, t->t->table);
	return -1;
}

static void
vtext(struct merge_value *v, const char *s)
{
	memset(v, 0, sizeof(*v));
	if (s == NULL) {
		v->type = MERGE_NULL;
		return;
	}
	v->type = MERGE_TEXT;
	v->p = s;
	v->n = strlen(s);
}

static void
vint(struct merge_value *v, int64_t i)
{
	memset(v, 0, sizeof(*v));
	v->type = MERGE_INTEGER;
	v->i = i;
}

static void
vnull(struct merge_value *v)
{
	memset(v, 0, sizeof(*v));
	v->type = MERGE_NULL;
}

/* Row helpers: set a column of row (old, new or cur) by name. */
#define TXT(t, row, name, s) vtext(&(t)->row[ci((t), (name))], (s))
#define INT(t, row, name, i) vint(&(t)->row[ci((t), (name))], (i))
/* An UPDATE's changed column: old and new. */
#define CHG_T(t, name, o, n)                                                  \
	do {                                                                  \
		TXT(t, old, name, o);                                         \
		TXT(t, new, name, n);                                         \
	} while (0)
#define CHG_I(t, name, o, n)                                                  \
	do {                                                                  \
		INT(t, old, name, o);                                         \
		INT(t, new, name, n);                                         \
	} while (0)

/* Every column of row NULL (a whole row, as cur or an insert's new). */
static void
row_nulls(struct tc *t, struct merge_value *row)
{
	int i;

	for (i = 0; i < t->t->ncol; i++)
		vnull(&row[i]);
}

static void
decide_ok(struct tc *t)
{
	assert_int_equal(merge_decide(&t->c, &t->d), 0);
}

static int
text_is(const struct merge_value *v, const char *s)
{
	if (s == NULL)
		return v->type == MERGE_NULL;
	return v->type == MERGE_TEXT && v->n == strlen(s) &&
	    memcmp(v->p, s, v->n) == 0;
}

/* The set entry for column name, or NULL. */
static const struct merge_column *
set_of(const struct tc *t, const char *name)
{
	int i;

	for (i = 0; i < t->d.nset; i++)
		if (strcmp(t->d.set[i].name, name) == 0)
			return &t->d.set[i];
	return NULL;
}

static const struct merge_record *
record_of(const struct tc *t, enum merge_kind kind, const char *column)
{
	int i;

	for (i = 0; i < t->d.nrecord; i++)
		if (t->d.record[i].kind == kind &&
		    strcmp(t->d.record[i].column, column) == 0)
			return &t->d.record[i];
	return NULL;
}

/* ---- fixtures: rows as the hub has them --------------------------------- */

/* The emergency card of R1 at the hub, last written at hlc 150 by A. */
static void
card_cur(struct tc *t)
{
	row_nulls(t, t->cur);
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "diagnoses", "heart failure");
	TXT(t, cur, "allergies", "latex");		/* A changed it */
	TXT(t, cur, "family_contacts", "daughter 090-1111");
	TXT(t, cur, "updated_by", "staff-a");
	INT(t, cur, "updated_at", 15000);
	INT(t, cur, "hlc", 150);
}

/* B, who last saw allergies "none", changes allergies and contacts. */
static struct tc *
card_update(uint64_t hlc)
{
	struct tc *t = tc_new("emergency_cards", MERGE_OP_UPDATE, MERGE_DATA);

	card_cur(t);
	TXT(t, old, "room_id", "R1");
	CHG_T(t, "allergies", "none", "penicillin");
	CHG_T(t, "family_contacts", "daughter 090-1111", "son 080-2222");
	CHG_T(t, "updated_by", "staff-a", "staff-b");
	CHG_I(t, "updated_at", 10000, 12000);
	CHG_I(t, "hlc", 100, (int64_t)hlc);
	t->c.hlc = hlc;
	return t;
}

/* A request at the hub in status st, last written at hlc. */
static void
request_cur(struct tc *t, const char *st, int64_t hlc)
{
	row_nulls(t, t->cur);
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "id", "Q1");
	TXT(t, cur, "kind", "document");
	TXT(t, cur, "title", "visiting nurse order");
	TXT(t, cur, "requester", "cm-1");
	TXT(t, cur, "assignee", "dr-1");
	INT(t, cur, "created_at", 1);
	TXT(t, cur, "status", st);
	TXT(t, cur, "status_by", "dr-1");
	INT(t, cur, "status_at", 5000);
	INT(t, cur, "hlc", hlc);
}

/* A status change from 'from' to 'to' by nurse ns-1 at hlc. */
static struct tc *
request_status(const char *hub, int64_t hub_hlc, const char *from,
    const char *to, int64_t hlc)
{
	struct tc *t = tc_new("requests", MERGE_OP_UPDATE, MERGE_DATA);

	request_cur(t, hub, hub_hlc);
	TXT(t, old, "room_id", "R1");
	TXT(t, old, "id", "Q1");
	CHG_T(t, "status", from, to);
	CHG_T(t, "status_by", "cm-1", "ns-1");
	CHG_I(t, "status_at", 100, 6000);
	CHG_I(t, "hlc", 90, hlc);
	t->c.hlc = (uint64_t)hlc;
	return t;
}

/* ---- the rules match the schema ---------------------------------------- */

static void
test_columns_match_schema(void **state)
{
	struct rk_why why;
	sqlite3 *db = NULL;
	int i, j;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(schema_migrate(db, &why), 0);
	for (i = 0; policy_tables[i].table != NULL; i++) {
		const struct table_columns *t = &policy_columns[i];
		sqlite3_stmt *st = NULL;
		char *sql;
		int nhlc = 0, ndel = 0;

		assert_non_null(t->table);
		assert_string_equal(t->table, policy_tables[i].table);
		assert_ptr_equal(policy_columns_for_table(t->table), t);
		assert_true(t->ncol > 0 && t->ncol <= MERGE_MAX_COLS);
		sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", t->table);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_free(sql);
		for (j = 0; sqlite3_step(st) == SQLITE_ROW; j++) {
			const struct column_policy *p = &t->cols[j];

			assert_true(j < t->ncol);
			if (strcmp((const char *)sqlite3_column_text(st, 1),
			    p->name) != 0)
				fail_msg("%s column %d: schema %s, rules %s",
				    t->table, j, sqlite3_column_text(st, 1),
				    p->name);
			/* pk > 0 exactly for the key. */
			assert_int_equal(sqlite3_column_int(st, 5) > 0,
			    p->rule == COL_KEY);
			if (p->rule == COL_HLC)
				nhlc++;
			if (p->rule == COL_DELETED) {
				ndel++;
				assert_string_equal(p->name, "deleted_at");
			}
			if (p->rule == COL_MONOTONIC)
				assert_non_null(p->order);
			if (p->rule == COL_FOLLOW)
				assert_non_null(p->leader);
			if (p->leader != NULL) {
				int k, found = 0;

				for (k = 0; k < t->ncol; k++)
					if (strcmp(t->cols[k].name,
					    p->leader) == 0 && k != j)
						found = 1;
				assert_true(found);
			}
		}
		assert_int_equal(j, t->ncol);
		assert_int_equal(nhlc, 1);
		assert_true(ndel <= 1);
		/* An append-only row holds nothing another writer could
		 * win: its content is written once. */
		for (j = 0; policy_tables[i].policy == POLICY_APPEND_ONLY &&
		    j < t->ncol; j++)
			assert_true(t->cols[j].rule == COL_KEY ||
			    t->cols[j].rule == COL_ONCE ||
			    t->cols[j].rule == COL_DELETED ||
			    t->cols[j].rule == COL_BOOK ||
			    t->cols[j].rule == COL_HLC);
		assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	}
	assert_null(policy_columns[i].table);
	assert_null(policy_columns_for_table("local_outbox"));
	assert_null(policy_columns_for_table(NULL));
	sqlite3_close(db);
}

/* ---- each policy meets each kind of conflict --------------------------- */

struct matrix_case {
	const char *what;
	enum merge_conflict k;
	enum merge_verdict verdict;
	int nrecord;
	int kind;		/* of record 0, -1: none */
};

/* LWW: patients.phone; the hub's row changed, the change is later. */
static struct tc *
lww_case(enum merge_conflict k)
{
	enum merge_op op = k == MERGE_CONFLICT ? MERGE_OP_INSERT :
	    MERGE_OP_UPDATE;
	struct tc *t = tc_new("patients", op, k);

	if (t->c.cur != NULL) {
		row_nulls(t, t->cur);
		TXT(t, cur, "room_id", "R1");
		TXT(t, cur, "name", "Yamada Hanako");
		TXT(t, cur, "phone", "03-1111");
		INT(t, cur, "hlc", 100);
	}
	if (op == MERGE_OP_INSERT) {
		row_nulls(t, t->new);
		TXT(t, new, "room_id", "R1");
		TXT(t, new, "name", "Yamada Hanako");
		TXT(t, new, "phone", "03-2222");
		INT(t, new, "hlc", 200);
	} else {
		TXT(t, old, "room_id", "R1");
		CHG_T(t, "phone", "03-0000", "03-2222");
		CHG_I(t, "hlc", 50, 200);
	}
	t->c.hlc = 200;
	return t;
}

/* REVIEW: medications.dose. */
static struct tc *
review_case(enum merge_conflict k)
{
	enum merge_op op = k == MERGE_CONFLICT ? MERGE_OP_INSERT :
	    MERGE_OP_UPDATE;
	struct tc *t = tc_new("medications", op, k);

	if (t->c.cur != NULL) {
		row_nulls(t, t->cur);
		TXT(t, cur, "room_id", "R1");
		TXT(t, cur, "id", "M1");
		TXT(t, cur, "name", "furosemide");
		TXT(t, cur, "dose", "20mg");
		INT(t, cur, "hlc", 100);
	}
	if (op == MERGE_OP_INSERT) {
		row_nulls(t, t->new);
		TXT(t, new, "room_id", "R1");
		TXT(t, new, "id", "M1");
		TXT(t, new, "name", "furosemide");
		TXT(t, new, "dose", "40mg");
		INT(t, new, "hlc", 200);
	} else {
		TXT(t, old, "room_id", "R1");
		TXT(t, old, "id", "M1");
		CHG_T(t, "dose", "10mg", "40mg");
		CHG_I(t, "hlc", 50, 200);
	}
	t->c.hlc = 200;
	return t;
}

/* MONOTONIC: requests.status, acknowledged meets done. */
static struct tc *
mono_case(enum merge_conflict k)
{
	enum merge_op op = k == MERGE_CONFLICT ? MERGE_OP_INSERT :
	    MERGE_OP_UPDATE;
	struct tc *t = tc_new("requests", op, k);

	if (t->c.cur != NULL)
		request_cur(t, "done", 100);
	if (op == MERGE_OP_INSERT) {
		request_cur(t, "done", 100);	/* a whole row to copy */
		memcpy(t->new, t->cur, sizeof(t->new));
		TXT(t, new, "status", "acknowledged");
		INT(t, new, "hlc", 200);
	} else {
		TXT(t, old, "room_id", "R1");
		TXT(t, old, "id", "Q1");
		CHG_T(t, "status", "open", "acknowledged");
		CHG_I(t, "hlc", 50, 200);
	}
	t->c.hlc = 200;
	return t;
}

/* APPEND-ONLY: posts, soft-deleted by the change. */
static struct tc *
append_case(enum merge_conflict k)
{
	enum merge_op op = k == MERGE_CONFLICT ? MERGE_OP_INSERT :
	    MERGE_OP_UPDATE;
	struct tc *t = tc_new("posts", op, k);

	if (t->c.cur != NULL) {
		row_nulls(t, t->cur);
		TXT(t, cur, "room_id", "R1");
		TXT(t, cur, "id", "P1");
		TXT(t, cur, "author", "ns-1");
		INT(t, cur, "created_at", 1);
		TXT(t, cur, "body", "BP 128/76, eating well");
		INT(t, cur, "hlc", 100);
	}
	if (op == MERGE_OP_INSERT) {
		memcpy(t->new, t->cur, sizeof(t->new));
		TXT(t, new, "body", "BP 150/90");
		INT(t, new, "hlc", 200);
	} else {
		TXT(t, old, "room_id", "R1");
		TXT(t, old, "id", "P1");
		if (k == MERGE_DATA)
			INT(t, cur, "deleted_at", 7000);	/* deleted */
		vnull(&t->old[ci(t, "deleted_at")]);
		INT(t, new, "deleted_at", 8000);
		CHG_I(t, "hlc", 50, 200);
	}
	t->c.hlc = 200;
	return t;
}

static void
run_matrix(struct tc *(*make)(enum merge_conflict),
    const struct matrix_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct tc *t = make(cases[i].k);
		char line[512];

		decide_ok(t);
		merge_describe(&t->d, line, sizeof(line));
		if (t->d.verdict != cases[i].verdict ||
		    t->d.nrecord != cases[i].nrecord ||
		    (cases[i].kind >= 0 &&
		    (int)t->d.record[0].kind != cases[i].kind))
			fail_msg("%s: got %s", cases[i].what, line);
		free(t);
	}
}

static void
test_matrix_lww(void **state)
{
	static const struct matrix_case cases[] = {
		{ "lww clean", MERGE_NONE, MERGE_APPLY, 0, -1 },
		{ "lww data, later", MERGE_DATA, MERGE_APPLY, 0, -1 },
		{ "lww notfound", MERGE_NOTFOUND, MERGE_OMIT, 1,
		    MERGE_UPDATE_MISSING },
		{ "lww insert differs", MERGE_CONFLICT, MERGE_APPLY, 1,
		    MERGE_INSERT_DIFFERS },
		{ "lww constraint", MERGE_CONSTRAINT, MERGE_REFUSE, 0, -1 },
		{ "lww foreign key", MERGE_FOREIGN_KEY, MERGE_REFUSE, 0, -1 },
	};

	(void)state;
	run_matrix(lww_case, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_matrix_review(void **state)
{
	static const struct matrix_case cases[] = {
		{ "review clean", MERGE_NONE, MERGE_APPLY, 0, -1 },
		{ "review data", MERGE_DATA, MERGE_APPLY, 1, MERGE_REVIEW },
		{ "review notfound", MERGE_NOTFOUND, MERGE_OMIT, 1,
		    MERGE_UPDATE_MISSING },
		{ "review insert", MERGE_CONFLICT, MERGE_APPLY, 1,
		    MERGE_INSERT_DIFFERS },
		{ "review constraint", MERGE_CONSTRAINT, MERGE_REFUSE, 0, -1 },
		{ "review foreign key", MERGE_FOREIGN_KEY, MERGE_REFUSE, 0,
		    -1 },
	};

	(void)state;
	run_matrix(review_case, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_matrix_monotonic(void **state)
{
	static const struct matrix_case cases[] = {
		{ "mono clean", MERGE_NONE, MERGE_APPLY, 0, -1 },
		/* acknowledged does not undo done, later or not. */
		{ "mono data", MERGE_DATA, MERGE_OMIT, 0, -1 },
		{ "mono notfound", MERGE_NOTFOUND, MERGE_OMIT, 1,
		    MERGE_UPDATE_MISSING },
		{ "mono insert", MERGE_CONFLICT, MERGE_OMIT, 1,
		    MERGE_INSERT_DIFFERS },
		{ "mono constraint", MERGE_CONSTRAINT, MERGE_REFUSE, 0, -1 },
		{ "mono foreign key", MERGE_FOREIGN_KEY, MERGE_REFUSE, 0, -1 },
	};

	(void)state;
	run_matrix(mono_case, cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_matrix_append_only(void **state)
{
	static const struct matrix_case cases[] = {
		{ "append soft delete", MERGE_NONE, MERGE_APPLY, 0, -1 },
		/* Deleted twice: the first time stays. */
		{ "append data", MERGE_DATA, MERGE_OMIT, 0, -1 },
		{ "append notfound", MERGE_NOTFOUND, MERGE_OMIT, 1,
		    MERGE_UPDATE_MISSING },
		/* The first post stays; the other is kept in a record. */
		{ "append insert", MERGE_CONFLICT, MERGE_OMIT, 1,
		    MERGE_INSERT_DIFFERS },
		{ "append constraint", MERGE_CONSTRAINT, MERGE_REFUSE, 0, -1 },
		{ "append foreign key", MERGE_FOREIGN_KEY, MERGE_REFUSE, 0,
		    -1 },
	};

	(void)state;
	run_matrix(append_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- an update whose columns partly conflict ---------------------------- */

static void
test_card_partial_conflict_earlier(void **state)
{
	/* B wrote offline at 120, before A's 150 reached the hub. */
	struct tc *t = card_update(120);
	const struct merge_record *r;
	const struct merge_column *s;

	(void)state;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_SET);
	/* Contacts: only B changed them: they apply. */
	s = set_of(t, "family_contacts");
	assert_non_null(s);
	assert_true(text_is(&s->value, "son 080-2222"));
	/* Allergies: both changed: A's later value stays now, and a review
	 * record keeps both, authors and times. */
	assert_null(set_of(t, "allergies"));
	r = record_of(t, MERGE_REVIEW, "allergies");
	assert_non_null(r);
	assert_true(text_is(&r->winner, "latex"));
	assert_true(text_is(&r->loser, "penicillin"));
	assert_true(r->winner_hlc == 150 && r->loser_hlc == 120);
	assert_string_equal(r->table, "emergency_cards");
	assert_int_equal(r->col, ci(t, "allergies"));
	assert_string_equal(r->loser_origin, "dev-b");
	assert_string_equal(r->winner_origin, "");
	/* hlc and who/when stay A's: max(150, 120), the later writer. */
	assert_null(set_of(t, "hlc"));
	assert_null(set_of(t, "updated_by"));
	assert_null(set_of(t, "updated_at"));
	assert_int_equal(t->d.nset, 1);
	assert_int_equal(t->d.nrecord, 1);
	assert_string_equal(t->d.key_text, "{\"room_id\":\"R1\"}");
	assert_int_equal(t->d.nkey, 1);
	assert_string_equal(t->d.key[0].name, "room_id");
	free(t);
}

static void
test_card_partial_conflict_later(void **state)
{
	/* B is later: its allergies win now, still recorded; the whole
	 * change applies as it is (SQLite's REPLACE). */
	struct tc *t = card_update(200);
	const struct merge_record *r;

	(void)state;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);
	assert_int_equal(t->d.nset, 0);
	r = record_of(t, MERGE_REVIEW, "allergies");
	assert_non_null(r);
	assert_true(text_is(&r->winner, "penicillin"));
	assert_true(text_is(&r->loser, "latex"));
	assert_true(r->winner_hlc == 200 && r->loser_hlc == 150);
	assert_string_equal(r->winner_origin, "dev-b");
	assert_int_equal(t->d.nrecord, 1);
	free(t);
}

static void
test_hlc_is_max_and_clamped(void **state)
{
	/* B's row claims hlc 900 but its envelope says 200: the envelope
	 * bounds it, so the merged hlc is 200, set explicitly. */
	struct tc *t = card_update(900);
	const struct merge_column *s;

	(void)state;
	t->c.hlc = 200;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_SET);
	s = set_of(t, "hlc");
	assert_non_null(s);
	assert_int_equal(s->value.type, MERGE_INTEGER);
	assert_true(s->value.i == 200);
	assert_non_null(set_of(t, "allergies"));
	assert_non_null(set_of(t, "updated_by"));
	assert_true(record_of(t, MERGE_REVIEW, "allergies")->winner_hlc ==
	    200);
	free(t);
}

static void
test_update_replay_omitted(void **state)
{
	/* The hub already holds every value the change sets. */
	struct tc *t = card_update(200);

	(void)state;
	TXT(t, cur, "allergies", "penicillin");
	TXT(t, cur, "family_contacts", "son 080-2222");
	TXT(t, cur, "updated_by", "staff-b");
	INT(t, cur, "updated_at", 12000);
	INT(t, cur, "hlc", 200);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_int_equal(t->d.nrecord, 0);
	free(t);
}

/* ---- last writer wins --------------------------------------------------- */

static void
test_lww_later_wins_and_history(void **state)
{
	struct tc *t = lww_case(MERGE_DATA);
	const struct merge_record *r;

	(void)state;
	/* Earlier: the hub's phone stays, nothing else of it: OMIT. */
	INT(t, new, "hlc", 80);
	t->c.hlc = 80;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_int_equal(t->d.nrecord, 0);
	/* With history the loser is kept as lww_lost. */
	t->c.flags = MERGE_F_HISTORY;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	r = record_of(t, MERGE_LWW_LOST, "phone");
	assert_non_null(r);
	assert_true(text_is(&r->winner, "03-1111"));
	assert_true(text_is(&r->loser, "03-2222"));
	free(t);
}

static void
test_lww_tie_break_by_device(void **state)
{
	struct tc *t = lww_case(MERGE_DATA);

	(void)state;
	/* Same HLC on both sides. */
	INT(t, new, "hlc", 100);
	t->c.hlc = 100;
	t->c.origin = "dev-b";
	t->c.cur_origin = "dev-a";
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);	/* "dev-b" > "dev-a" */
	t->c.cur_origin = "dev-c";
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);	/* "dev-c" wins */
	t->c.cur_origin = "dev-b";
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);	/* a full tie: stays */
	/* An unknown last writer ("") loses a tie to a named device. */
	t->c.cur_origin = "";
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);
	free(t);
}

/* ---- monotonic ---------------------------------------------------------- */

static void
test_monotonic_ack_vs_done(void **state)
{
	/* The nurse acknowledges (later!) what the doctor already did. */
	struct tc *t = request_status("done", 100, "open", "acknowledged",
	    200);
	const struct merge_record *r;

	(void)state;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_int_equal(t->d.nrecord, 0);
	/* status_by and status_at went with status: not set. */
	t->c.flags = MERGE_F_HISTORY;
	decide_ok(t);
	r = record_of(t, MERGE_STATE_LOST, "status");
	assert_non_null(r);
	assert_true(text_is(&r->winner, "done"));
	assert_true(text_is(&r->loser, "acknowledged"));
	assert_int_equal(t->d.nrecord, 1);
	free(t);
}

static void
test_monotonic_done_vs_open(void **state)
{
	struct tc *t;
	const struct merge_column *s;

	(void)state;
	/* Done (earlier) meets a hub that went back to open: done wins,
	 * and its status_by/status_at go with it. */
	t = request_status("open", 200, "acknowledged", "done", 100);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_SET);
	s = set_of(t, "status");
	assert_non_null(s);
	assert_true(text_is(&s->value, "done"));
	assert_true(text_is(&set_of(t, "status_by")->value, "ns-1"));
	assert_non_null(set_of(t, "status_at"));
	assert_null(set_of(t, "hlc"));		/* max(100, 200): the hub's */
	free(t);
	/* Open (later) meets done: done stays. */
	t = request_status("done", 100, "acknowledged", "open", 200);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	free(t);
	/* Reopening what one saw done is deliberate: it applies. */
	t = request_status("done", 100, "done", "open", 200);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);
	free(t);
}

static void
test_monotonic_done_vs_declined(void **state)
{
	/* Same rank: the later wins and the other is kept for review, with
	 * the reason that went with it. */
	struct tc *t = request_status("done", 150, "acknowledged", "declined",
	    120);
	const struct merge_record *r;

	(void)state;
	CHG_T(t, "status_reason", NULL, "patient in hospital");
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	r = record_of(t, MERGE_REVIEW, "status");
	assert_non_null(r);
	assert_true(text_is(&r->winner, "done"));
	assert_true(text_is(&r->loser, "declined"));
	r = record_of(t, MERGE_REVIEW, "status_reason");
	assert_non_null(r);
	assert_true(text_is(&r->loser, "patient in hospital"));
	assert_int_equal(t->d.nrecord, 2);
	free(t);
}

static void
test_monotonic_follower_text_never_lost(void **state)
{
	/* Acknowledged with a note loses to done: the status itself is
	 * history, but the note is user text: both are recorded. */
	struct tc *t = request_status("done", 100, "open", "acknowledged",
	    200);

	(void)state;
	CHG_T(t, "status_reason", NULL, "will visit Tuesday");
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_non_null(record_of(t, MERGE_STATE_LOST, "status"));
	assert_true(text_is(&record_of(t, MERGE_STATE_LOST,
	    "status_reason")->loser, "will visit Tuesday"));
	assert_int_equal(t->d.nrecord, 2);
	free(t);
}

static void
test_follower_alone_is_lww_but_kept(void **state)
{
	/* Status untouched, both rewrote the reason: the later wins, and
	 * the other reason is user text: kept even without history. */
	struct tc *t = request_status("declined", 150, "declined", "declined",
	    120);
	const struct merge_record *r;

	(void)state;
	t->old[ci(t, "status")].type = MERGE_UNDEFINED;
	t->new[ci(t, "status")].type = MERGE_UNDEFINED;
	t->old[ci(t, "status_by")].type = MERGE_UNDEFINED;
	t->new[ci(t, "status_by")].type = MERGE_UNDEFINED;
	t->old[ci(t, "status_at")].type = MERGE_UNDEFINED;
	t->new[ci(t, "status_at")].type = MERGE_UNDEFINED;
	TXT(t, cur, "status_reason", "no capacity this month");
	CHG_T(t, "status_reason", "no capacity", "no nurse free in June");
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	r = record_of(t, MERGE_LWW_LOST, "status_reason");
	assert_non_null(r);
	assert_true(text_is(&r->loser, "no nurse free in June"));
	assert_int_equal(t->d.nrecord, 1);
	free(t);
}

static void
test_unset_hlc_still_bumped(void **state)
{
	/* A change that does not write hlc (a script's raw UPDATE) still
	 * moves the row's hlc to its envelope's: SET, not REPLACE. */
	struct tc *t = lww_case(MERGE_DATA);
	const struct merge_column *s;

	(void)state;
	t->old[ci(t, "hlc")].type = MERGE_UNDEFINED;
	t->new[ci(t, "hlc")].type = MERGE_UNDEFINED;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_SET);
	s = set_of(t, "hlc");
	assert_non_null(s);
	assert_true(s->value.i == 200);
	assert_true(text_is(&set_of(t, "phone")->value, "03-2222"));
	free(t);
}

static void
test_monotonic_rooms_and_members(void **state)
{
	struct tc *t;

	(void)state;
	/* A title edit does not unarchive the room. */
	t = tc_new("rooms", MERGE_OP_UPDATE, MERGE_DATA);
	row_nulls(t, t->cur);
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "kind", "patient");
	TXT(t, cur, "title", "Yamada");
	TXT(t, cur, "status", "archived");
	TXT(t, cur, "created_by", "cm-1");
	INT(t, cur, "created_at", 1);
	INT(t, cur, "hlc", 150);
	TXT(t, old, "room_id", "R1");
	CHG_T(t, "title", "Yamada", "Yamada (Kita)");
	CHG_I(t, "hlc", 100, 200);
	t->c.hlc = 200;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);	/* status untouched */
	free(t);

	/* Two inserts of one room id, one archived: archived stays. */
	t = tc_new("rooms", MERGE_OP_INSERT, MERGE_CONFLICT);
	row_nulls(t, t->cur);
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "kind", "patient");
	TXT(t, cur, "title", "Yamada");
	TXT(t, cur, "status", "archived");
	TXT(t, cur, "archive_reason", "moved away");
	TXT(t, cur, "created_by", "cm-1");
	INT(t, cur, "created_at", 1);
	INT(t, cur, "hlc", 150);
	memcpy(t->new, t->cur, sizeof(t->new));
	TXT(t, new, "status", "active");
	vnull(&t->new[ci(t, "archive_reason")]);
	TXT(t, new, "created_by", "cm-2");
	INT(t, new, "hlc", 200);
	t->c.hlc = 200;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_non_null(record_of(t, MERGE_INSERT_DIFFERS, "status"));
	assert_true(text_is(&record_of(t, MERGE_INSERT_DIFFERS,
	    "created_by")->winner, "cm-1"));	/* the first creator stays */
	free(t);

	/* A membership accepted while it was revoked stays left. */
	t = tc_new("memberships", MERGE_OP_UPDATE, MERGE_DATA);
	row_nulls(t, t->cur);
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "staff_id", "ns-2");
	TXT(t, cur, "role", "member");
	TXT(t, cur, "status", "left");
	TXT(t, cur, "added_by", "cm-1");
	INT(t, cur, "added_at", 1);
	INT(t, cur, "hlc", 100);
	TXT(t, old, "room_id", "R1");
	TXT(t, old, "staff_id", "ns-2");
	CHG_T(t, "status", "invited", "active");
	CHG_I(t, "hlc", 50, 200);
	t->c.hlc = 200;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	free(t);
}

/* ---- inserts of an existing key ----------------------------------------- */

static void
test_insert_identical_replay(void **state)
{
	struct tc *t = append_case(MERGE_CONFLICT);

	(void)state;
	memcpy(t->new, t->cur, sizeof(t->new));
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_int_equal(t->d.nrecord, 0);
	free(t);
}

static void
test_insert_read_receipt_twice(void **state)
{
	/* The same staff reads on a tablet and a PC: the first receipt
	 * stays and nothing is recorded. */
	struct tc *t = tc_new("read_receipts", MERGE_OP_INSERT,
	    MERGE_CONFLICT);

	(void)state;
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "target_id", "P1");
	TXT(t, cur, "staff_id", "ns-1");
	INT(t, cur, "read_at", 1000);
	INT(t, cur, "hlc", 100);
	memcpy(t->new, t->cur, sizeof(t->new));
	INT(t, new, "read_at", 2000);
	INT(t, new, "hlc", 200);
	t->c.hlc = 200;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_int_equal(t->d.nrecord, 0);
	free(t);
}

static void
test_insert_card_twice_merges(void **state)
{
	/* Two nurses create R1's card offline: one writes allergies and the
	 * hospital, the other allergies and the diagnosis. */
	struct tc *t = tc_new("emergency_cards", MERGE_OP_INSERT,
	    MERGE_CONFLICT);
	const struct merge_record *r;

	(void)state;
	row_nulls(t, t->cur);
	TXT(t, cur, "room_id", "R1");
	TXT(t, cur, "allergies", "latex");
	TXT(t, cur, "hospital", "Kita General");
	TXT(t, cur, "updated_by", "ns-1");
	INT(t, cur, "updated_at", 1000);
	INT(t, cur, "hlc", 100);
	row_nulls(t, t->new);
	TXT(t, new, "room_id", "R1");
	TXT(t, new, "allergies", "penicillin");
	TXT(t, new, "diagnoses", "COPD");
	TXT(t, new, "updated_by", "ns-2");
	INT(t, new, "updated_at", 2000);
	INT(t, new, "hlc", 200);
	t->c.hlc = 200;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_SET);
	/* The diagnosis fills in silently; the hospital stays. */
	assert_true(text_is(&set_of(t, "diagnoses")->value, "COPD"));
	assert_null(set_of(t, "hospital"));
	/* Allergies: the later wins, both kept. */
	assert_true(text_is(&set_of(t, "allergies")->value, "penicillin"));
	r = record_of(t, MERGE_INSERT_DIFFERS, "allergies");
	assert_non_null(r);
	assert_true(text_is(&r->loser, "latex"));
	assert_int_equal(t->d.nrecord, 1);
	/* The later writer's who/when go with the hlc. */
	assert_true(text_is(&set_of(t, "updated_by")->value, "ns-2"));
	assert_true(set_of(t, "hlc")->value.i == 200);
	free(t);
}

static void
test_insert_post_differs_keeps_first(void **state)
{
	struct tc *t = append_case(MERGE_CONFLICT);
	const struct merge_record *r;

	(void)state;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	r = record_of(t, MERGE_INSERT_DIFFERS, "body");
	assert_non_null(r);
	assert_true(text_is(&r->winner, "BP 128/76, eating well"));
	assert_true(text_is(&r->loser, "BP 150/90"));
	assert_string_equal(t->d.key_text,
	    "{\"room_id\":\"R1\",\"id\":\"P1\"}");
	free(t);
}

/* ---- soft-deleted rows -------------------------------------------------- */

static struct tc *
medication_on_deleted(void)
{
	struct tc *t = review_case(MERGE_DATA);

	INT(t, cur, "deleted_at", 7000);
	TXT(t, cur, "dose", "10mg");	/* as B saw it: the edit is clean */
	return t;
}

static void
test_edit_of_soft_deleted_row(void **state)
{
	struct tc *t = medication_on_deleted();
	const struct merge_record *r;

	(void)state;
	decide_ok(t);
	/* The edit is kept: dose and hlc, deleted_at untouched. */
	assert_int_equal(t->d.verdict, MERGE_APPLY);
	r = record_of(t, MERGE_DELETED_EDIT, "deleted_at");
	assert_non_null(r);
	assert_int_equal(r->winner.type, MERGE_INTEGER);
	assert_true(r->winner.i == 7000);
	assert_int_equal(r->loser.type, MERGE_NULL);
	assert_true(r->loser_hlc == 200 && r->winner_hlc == 100);
	assert_int_equal(t->d.nrecord, 1);
	free(t);

	/* Earlier than the deletion: the edit still lands (SET). */
	t = medication_on_deleted();
	INT(t, new, "hlc", 90);
	t->c.hlc = 90;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_SET);
	assert_true(text_is(&set_of(t, "dose")->value, "40mg"));
	assert_null(set_of(t, "deleted_at"));
	assert_null(set_of(t, "hlc"));
	assert_non_null(record_of(t, MERGE_DELETED_EDIT, "deleted_at"));
	free(t);
}

static void
test_undelete_loses_to_later_delete(void **state)
{
	/* B undeletes what it saw deleted at 5000; meanwhile it was deleted
	 * again at 7000: the row stays deleted, flagged. */
	struct tc *t = review_case(MERGE_DATA);

	(void)state;
	INT(t, cur, "deleted_at", 7000);
	TXT(t, cur, "dose", "10mg");
	t->old[ci(t, "dose")].type = MERGE_UNDEFINED;
	t->new[ci(t, "dose")].type = MERGE_UNDEFINED;
	INT(t, old, "deleted_at", 5000);
	vnull(&t->new[ci(t, "deleted_at")]);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_non_null(record_of(t, MERGE_DELETED_EDIT, "deleted_at"));
	free(t);
}

static void
test_soft_delete_racing_edit(void **state)
{
	/* B deletes the medication A just edited: the deletion applies, the
	 * edit stays in the row, nothing to record. */
	struct tc *t = review_case(MERGE_DATA);

	(void)state;
	t->old[ci(t, "dose")].type = MERGE_UNDEFINED;
	t->new[ci(t, "dose")].type = MERGE_UNDEFINED;
	vnull(&t->old[ci(t, "deleted_at")]);
	INT(t, new, "deleted_at", 9000);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);
	assert_int_equal(t->d.nrecord, 0);
	free(t);
}

/* ---- missing rows and deletes ------------------------------------------- */

static void
test_update_of_missing_row(void **state)
{
	struct tc *t = card_update(200);
	const struct merge_record *r;

	(void)state;
	t->c.conflict = MERGE_NOTFOUND;
	t->c.cur = NULL;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	/* allergies and contacts kept; updated_by/at and hlc are not. */
	assert_int_equal(t->d.nrecord, 2);
	r = record_of(t, MERGE_UPDATE_MISSING, "allergies");
	assert_non_null(r);
	assert_int_equal(r->winner.type, MERGE_UNDEFINED);
	assert_true(text_is(&r->loser, "penicillin"));
	assert_string_equal(r->loser_origin, "dev-b");
	assert_non_null(record_of(t, MERGE_UPDATE_MISSING, "family_contacts"));
	free(t);
}

static void
test_deletes(void **state)
{
	struct tc *t;
	enum merge_conflict k;

	(void)state;
	/* A read receipt may go: already gone is fine. */
	t = tc_new("read_receipts", MERGE_OP_DELETE, MERGE_NOTFOUND);
	TXT(t, old, "room_id", "R1");
	TXT(t, old, "target_id", "P1");
	TXT(t, old, "staff_id", "ns-1");
	INT(t, old, "read_at", 1000);
	INT(t, old, "hlc", 100);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	assert_int_equal(t->d.nrecord, 0);
	/* Changed since: the later of the delete and the change wins. */
	t->c.conflict = MERGE_DATA;
	t->c.cur = t->cur;
	memcpy(t->cur, t->old, sizeof(t->cur));
	INT(t, cur, "hlc", 1500);
	t->c.hlc = 1000;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	t->c.hlc = 2000;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_APPLY);
	free(t);

	/* A clinical row is never hard-deleted, whatever the conflict. */
	for (k = MERGE_NONE; k <= MERGE_NOTFOUND; k++) {
		t = tc_new("posts", MERGE_OP_DELETE, k);
		row_nulls(t, t->old);
		row_nulls(t, t->cur);
		decide_ok(t);
		assert_int_equal(t->d.verdict, MERGE_REFUSE);
		assert_non_null(strstr(t->d.reason, "posts"));
		assert_non_null(strstr(t->d.reason, "deleted_at"));
		free(t);
	}
	t = tc_new("rooms", MERGE_OP_DELETE, MERGE_NONE);
	row_nulls(t, t->old);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	free(t);
}

/* ---- refusals ----------------------------------------------------------- */

static void
test_append_only_edit_refused(void **state)
{
	struct tc *t;

	(void)state;
	/* Editing a post's body is refused, clean or not. */
	t = append_case(MERGE_NONE);
	t->old[ci(t, "deleted_at")].type = MERGE_UNDEFINED;
	t->new[ci(t, "deleted_at")].type = MERGE_UNDEFINED;
	CHG_T(t, "body", "BP 128/76", "BP 128/76, eating well");
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "posts is append-only"));
	assert_non_null(strstr(t->d.reason, "body"));
	assert_null(strstr(t->d.reason, "eating"));	/* no values */
	t->c.conflict = MERGE_DATA;
	t->c.cur = t->cur;
	row_nulls(t, t->cur);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	free(t);
	/* So is a visit's vitals. */
	t = tc_new("visits", MERGE_OP_UPDATE, MERGE_NONE);
	CHG_I(t, "bp_sys", 128, 182);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "bp_sys"));
	free(t);
}

static void
test_constraint_and_foreign_key_refused(void **state)
{
	struct tc *t = card_update(200);
	struct merge_change fk;
	struct merge_decision *d = calloc(1, sizeof(*d));

	(void)state;
	assert_non_null(d);
	t->c.conflict = MERGE_CONSTRAINT;
	t->c.cur = NULL;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "emergency_cards"));
	assert_non_null(strstr(t->d.reason, "allergies"));
	assert_non_null(strstr(t->d.reason, "family_contacts"));
	assert_null(strstr(t->d.reason, "penicillin"));
	assert_int_equal(t->d.nrecord, 0);
	assert_int_equal(t->d.nset, 0);
	free(t);

	/* An insert's NULLs are the likely culprits. */
	t = tc_new("requests", MERGE_OP_INSERT, MERGE_CONSTRAINT);
	request_cur(t, "open", 1);
	memcpy(t->new, t->cur, sizeof(t->new));
	vnull(&t->new[ci(t, "title")]);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "NULL in"));
	assert_non_null(strstr(t->d.reason, "title"));
	free(t);

	memset(&fk, 0, sizeof(fk));
	fk.conflict = MERGE_FOREIGN_KEY;
	assert_int_equal(merge_decide(&fk, d), 0);
	assert_int_equal(d->verdict, MERGE_REFUSE);
	assert_non_null(strstr(d->reason, "foreign key"));
	merge_decision_release(d);
	assert_int_equal(d->nrecord, 0);
	free(d);
}

static void
test_bad_changes_refused(void **state)
{
	struct tc *t;

	(void)state;
	/* Not a known state. */
	t = request_status("open", 100, "open", "finished", 200);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "requests.status"));
	t->c.conflict = MERGE_NONE;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	free(t);
	/* The key cannot change. */
	t = request_status("open", 100, "open", "done", 200);
	TXT(t, new, "id", "Q2");
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "key"));
	free(t);
	/* Unknown table, wrong column count, too many columns. */
	t = card_update(200);
	t->c.table = "local_outbox";
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	assert_non_null(strstr(t->d.reason, "not synced"));
	t->c.table = "emergency_cards";
	t->c.ncol = 5;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	t->c.ncol = 40;
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	free(t);
}

static void
test_contract_errors(void **state)
{
	struct tc *t = card_update(200);

	(void)state;
	t->d.verdict = MERGE_SET;
	t->c.op = (enum merge_op)1;
	assert_int_equal(merge_decide(&t->c, &t->d), RK_EINVAL);
	assert_int_equal(t->d.verdict, MERGE_SET);	/* untouched */
	t->c.op = MERGE_OP_UPDATE;
	t->c.conflict = MERGE_CONFLICT;	/* SQLite never says so */
	assert_int_equal(merge_decide(&t->c, &t->d), RK_EINVAL);
	t->c.conflict = MERGE_DATA;
	t->c.cur = NULL;
	assert_int_equal(merge_decide(&t->c, &t->d), RK_EINVAL);
	t->c.cur = t->cur;
	t->c.new = NULL;
	assert_int_equal(merge_decide(&t->c, &t->d), RK_EINVAL);
	t->c.new = t->new;
	t->c.table = NULL;
	assert_int_equal(merge_decide(&t->c, &t->d), RK_EINVAL);
	t->c.table = "emergency_cards";
	t->c.conflict = (enum merge_conflict)9;
	assert_int_equal(merge_decide(&t->c, &t->d), RK_EINVAL);
	assert_int_equal(merge_decide(NULL, &t->d), RK_EINVAL);
	t->c.conflict = MERGE_DATA;
	decide_ok(t);
	free(t);
}

/* ---- logs and keys ------------------------------------------------------ */

static void
test_describe_has_no_values(void **state)
{
	struct tc *t = card_update(120);
	char line[512], tiny[16];

	(void)state;
	TXT(t, cur, "room_id", "tanaka-taro");
	TXT(t, old, "room_id", "tanaka-taro");
	decide_ok(t);
	merge_describe(&t->d, line, sizeof(line));
	assert_string_equal(line, "emergency_cards update (data): set "
	    "family_contacts; records review:allergies");
	assert_null(strstr(line, "tanaka"));
	assert_null(strstr(line, "latex"));
	assert_null(strstr(line, "penicillin"));
	/* The key is for the record, not for the log. */
	assert_string_equal(t->d.key_text, "{\"room_id\":\"tanaka-taro\"}");
	merge_describe(&t->d, tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_string_equal(tiny + sizeof(tiny) - 4, "...");
	assert_string_equal(merge_kind_name(MERGE_DELETED_EDIT),
	    "deleted_edit");
	assert_string_equal(merge_verdict_name(MERGE_SET), "set");
	free(t);
}

static void
test_key_text_escapes(void **state)
{
	struct tc *t = append_case(MERGE_CONFLICT);
	char id[MERGE_KEY_MAX + 8];

	(void)state;
	TXT(t, new, "id", "a\"b\\c\n");
	TXT(t, cur, "id", "a\"b\\c\n");
	decide_ok(t);
	assert_string_equal(t->d.key_text,
	    "{\"room_id\":\"R1\",\"id\":\"a\\\"b\\\\c\\u000a\"}");
	/* Other control bytes and UTF-8 as they are. */
	TXT(t, new, "id", "\x1f\xe8\xa8\xaa\x7f");
	TXT(t, cur, "id", "\x1f\xe8\xa8\xaa\x7f");
	decide_ok(t);
	assert_string_equal(t->d.key_text,
	    "{\"room_id\":\"R1\",\"id\":\"\\u001f\xe8\xa8\xaa\x7f\"}");
	/* The longest key that fits with its NUL, then one byte more. */
	memset(id, 'x', sizeof(id));
	id[MERGE_KEY_MAX - 25] = '\0';
	TXT(t, new, "id", id);
	TXT(t, cur, "id", id);
	decide_ok(t);
	assert_int_equal(strlen(t->d.key_text), MERGE_KEY_MAX - 1);
	id[MERGE_KEY_MAX - 25] = 'x';
	id[MERGE_KEY_MAX - 24] = '\0';
	TXT(t, new, "id", id);
	TXT(t, cur, "id", id);
	decide_ok(t);
	assert_string_equal(t->d.key_text, "");
	/* A key too long to record a conflict refuses rather than drop. */
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	TXT(t, new, "id", id);
	TXT(t, cur, "id", id);
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_REFUSE);
	/* ...but a replay that records nothing goes through. */
	memcpy(t->new, t->cur, sizeof(t->new));
	decide_ok(t);
	assert_int_equal(t->d.verdict, MERGE_OMIT);
	free(t);
}

static void
test_value_equal(void **state)
{
	struct merge_value a, b;

	(void)state;
	vint(&a, 3);
	memset(&b, 0, sizeof(b));
	b.type = MERGE_FLOAT;
	b.f = 3.0;
	assert_true(merge_value_equal(&a, &b));
	b.f = 3.5;
	assert_false(merge_value_equal(&a, &b));
	vtext(&a, "3");
	vint(&b, 3);
	assert_false(merge_value_equal(&a, &b));
	vnull(&a);
	memset(&b, 0, sizeof(b));
	assert_false(merge_value_equal(&a, &b));	/* NULL vs undefined */
	vtext(&a, "");
	vtext(&b, "");
	assert_true(merge_value_equal(&a, &b));
	b.type = MERGE_BLOB;
	assert_false(merge_value_equal(&a, &b));
}

/* ---- a real changeset through sqlite3changeset_apply_v2 ----------------- */

/* A conflict record as the hub would store it (values copied). */
struct kept {
	char table[32], column[32], kind[16], key[MERGE_KEY_MAX];
	char winner[64], loser[64];
	uint64_t winner_hlc, loser_hlc;
};

struct handler {
	sqlite3 *db;
	const char *origin;
	uint64_t hlc;
	struct merge_rows rows;
	struct merge_change c;
	struct merge_decision d;
	struct kept kept[16];
	int nkept;
	int calls, sets, applies, omits, refusals;
	char reason[MERGE_REASON_MAX];
};

static void
value_text(const struct merge_value *v, char *out, size_t len)
{
	switch (v->type) {
	case MERGE_INTEGER:
		snprintf(out, len, "%lld", (long long)v->i);
		break;
	case MERGE_TEXT:
		snprintf(out, len, "%.*s", (int)v->n, (const char *)v->p);
		break;
	case MERGE_NULL:
		snprintf(out, len, "NULL");
		break;
	default:
		snprintf(out, len, "?");
		break;
	}
}

static void
bind_value(sqlite3_stmt *st, int i, const struct merge_value *v)
{
	switch (v->type) {
	case MERGE_INTEGER:
		sqlite3_bind_int64(st, i, v->i);
		break;
	case MERGE_FLOAT:
		sqlite3_bind_double(st, i, v->f);
		break;
	case MERGE_TEXT:
		sqlite3_bind_text(st, i, v->p, (int)v->n, SQLITE_TRANSIENT);
		break;
	case MERGE_BLOB:
		sqlite3_bind_blob(st, i, v->p, (int)v->n, SQLITE_TRANSIENT);
		break;
	default:
		sqlite3_bind_null(st, i);
		break;
	}
}

/* MERGE_SET: one UPDATE of exactly the listed columns. */
static int
run_set(sqlite3 *db, const struct merge_decision *d)
{
	sqlite3_stmt *st = NULL;
	char *sql = sqlite3_mprintf("UPDATE \"%w\" SET", d->table), *p;
	int i, rc;

	for (i = 0; i < d->nset; i++) {
		p = sqlite3_mprintf("%s%s \"%w\" = ?%d", sql, i ? "," : "",
		    d->set[i].name, i + 1);
		sqlite3_free(sql);
		sql = p;
	}
	for (i = 0; i < d->nkey; i++) {
		p = sqlite3_mprintf("%s %s \"%w\" = ?%d", sql, i ? "AND" :
		    "WHERE", d->key[i].name, d->nset + i + 1);
		sqlite3_free(sql);
		sql = p;
	}
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return rc;
	for (i = 0; i < d->nset; i++)
		bind_value(st, i + 1, &d->set[i].value);
	for (i = 0; i < d->nkey; i++)
		bind_value(st, d->nset + i + 1, &d->key[i].value);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE && sqlite3_changes(db) != 1)
		rc = SQLITE_NOTFOUND;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The conflict handler a hub would have, around merge_decide. */
static int
on_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	struct handler *h = arg;
	int i;

	h->calls++;
	if (merge_change_from_iter(it, kind, &h->rows, &h->c) != 0)
		return SQLITE_CHANGESET_ABORT;
	h->c.hlc = h->hlc;
	h->c.origin = h->origin;
	h->c.cur_origin = "";
	if (merge_decide(&h->c, &h->d) != 0)
		return SQLITE_CHANGESET_ABORT;
	for (i = 0; i < h->d.nrecord && h->nkept < 16; i++) {
		const struct merge_record *r = &h->d.record[i];
		struct kept *k = &h->kept[h->nkept++];

		snprintf(k->table, sizeof(k->table), "%s", h->d.table);
		snprintf(k->column, sizeof(k->column), "%s", r->column);
		snprintf(k->kind, sizeof(k->kind), "%s",
		    merge_kind_name(r->kind));
		snprintf(k->key, sizeof(k->key), "%s", h->d.key_text);
		value_text(&r->winner, k->winner, sizeof(k->winner));
		value_text(&r->loser, k->loser, sizeof(k->loser));
		k->winner_hlc = r->winner_hlc;
		k->loser_hlc = r->loser_hlc;
	}
	switch (h->d.verdict) {
	case MERGE_APPLY:
		h->applies++;
		return SQLITE_CHANGESET_REPLACE;
	case MERGE_OMIT:
		h->omits++;
		return SQLITE_CHANGESET_OMIT;
	case MERGE_SET:
		h->sets++;
		if (run_set(h->db, &h->d) != SQLITE_OK)
			return SQLITE_CHANGESET_ABORT;
		return SQLITE_CHANGESET_OMIT;
	case MERGE_REFUSE:
		h->refusals++;
		snprintf(h->reason, sizeof(h->reason), "%s", h->d.reason);
		return SQLITE_CHANGESET_ABORT;
	}
	return SQLITE_CHANGESET_ABORT;
}

static int
synced_only(void *arg, const char *table)
{
	(void)arg;
	return policy_for_table(table) != NULL;
}

static void
sql(sqlite3 *db, const char *s)
{
	char *err = NULL;

	if (sqlite3_exec(db, s, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", s, err);
}

static sqlite3 *
open_replica(void)
{
	struct rk_why why;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(schema_migrate(db, &why), 0);
	/* What both replicas hold when B goes offline (hlc 100). */
	sql(db, "INSERT INTO patients (room_id, name, phone, hlc) VALUES "
	    "('R1', 'Yamada Hanako', '03-0000', 100);"
	    "INSERT INTO emergency_cards (room_id, diagnoses, allergies, "
	    "family_contacts, updated_by, updated_at, hlc) VALUES ('R1', "
	    "'heart failure', 'none', 'daughter 090-1111', 'ns-1', 1000, "
	    "100);"
	    "INSERT INTO requests (room_id, id, kind, title, requester, "
	    "assignee, created_at, status, hlc) VALUES ('R1', 'Q1', "
	    "'document', 'nurse order', 'cm-1', 'dr-1', 1, 'acknowledged', "
	    "100);"
	    "INSERT INTO medications (room_id, id, name, dose, hlc) VALUES "
	    "('R1', 'M1', 'furosemide', '20mg', 100);"
	    "INSERT INTO posts (room_id, id, author, created_at, body, hlc) "
	    "VALUES ('R1', 'P0', 'ns-1', 1, 'first visit', 100);");
	return db;
}

static char *
one_text(sqlite3 *db, const char *q)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_non_null(out);
	return out;
}

static void
assert_row(sqlite3 *db, const char *q, const char *want)
{
	char *got = one_text(db, q);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", q, got, want);
	sqlite3_free(got);
}

static const struct kept *
kept_of(const struct handler *h, const char *table, const char *column,
    const char *kind)
{
	int i;

	for (i = 0; i < h->nkept; i++)
		if (strcmp(h->kept[i].table, table) == 0 &&
		    strcmp(h->kept[i].column, column) == 0 &&
		    strcmp(h->kept[i].kind, kind) == 0)
			return &h->kept[i];
	return NULL;
}

/* Applies cs to the hub with the handler and a session recording what
 * the hub actually changed; returns apply_v2's code. */
static int
hub_apply(sqlite3 *hub, struct handler *h, void *cs, int n, void **canon,
    int *ncanon)
{
	sqlite3_session *s = NULL;
	int rc;

	assert_int_equal(sqlite3session_create(hub, "main", &s), SQLITE_OK);
	sqlite3session_table_filter(s, synced_only, NULL);
	assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
	h->db = hub;
	rc = sqlite3changeset_apply_v2(hub, n, cs, synced_only, on_conflict, h,
	    NULL, NULL, 0);
	assert_int_equal(sqlite3session_changeset(s, ncanon, canon),
	    SQLITE_OK);
	sqlite3session_delete(s);
	return rc;
}

/* Whether a changeset holds an UPDATE of table setting column. */
static int
canon_sets(void *cs, int n, const char *table, int col, const char *value)
{
	sqlite3_changeset_iter *it = NULL;
	int found = 0;

	assert_int_equal(sqlite3changeset_start(&it, n, cs), SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		const char *t;
		int ncol, op, ind;
		sqlite3_value *v = NULL;

		sqlite3changeset_op(it, &t, &ncol, &op, &ind);
		if (strcmp(t, table) != 0 || op != SQLITE_UPDATE)
			continue;
		if (sqlite3changeset_new(it, col, &v) == SQLITE_OK &&
		    v != NULL && (value == NULL ||
		    strcmp((const char *)sqlite3_value_text(v), value) == 0))
			found = 1;
	}
	sqlite3changeset_finalize(it);
	return found;
}

static void
test_real_changeset(void **state)
{
	sqlite3 *hub = open_replica(), *dev = open_replica();
	sqlite3_session *s = NULL;
	struct handler *h = calloc(1, sizeof(*h));
	const struct kept *k;
	void *cs = NULL, *canon = NULL;
	int n = 0, ncanon = 0;

	(void)state;
	assert_non_null(h);
	/* Meanwhile at the hub: A changed allergies (150), the doctor
	 * finished the request (150), someone fixed the phone (110) and
	 * stopped the medication (110); another nurse created R2's card. */
	sql(hub, "UPDATE emergency_cards SET allergies = 'latex', "
	    "updated_by = 'ns-a', updated_at = 1500, hlc = 150;"
	    "UPDATE requests SET status = 'done', status_by = 'dr-1', "
	    "status_at = 1500, hlc = 150;"
	    "UPDATE patients SET phone = '03-1111', hlc = 110;"
	    "UPDATE medications SET deleted_at = 1100, hlc = 110;"
	    "INSERT INTO emergency_cards (room_id, allergies, hospital, "
	    "updated_by, updated_at, hlc) VALUES ('R2', 'latex', "
	    "'Kita General', 'ns-a', 1100, 110);");

	/* Device B, offline at 120, in one captured transaction. */
	assert_int_equal(sqlite3session_create(dev, "main", &s), SQLITE_OK);
	sqlite3session_table_filter(s, synced_only, NULL);
	assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
	sql(dev, "UPDATE emergency_cards SET allergies = 'penicillin', "
	    "family_contacts = 'son 080-2222', updated_by = 'ns-b', "
	    "updated_at = 1200, hlc = 120;"
	    "UPDATE requests SET status = 'declined', status_reason = "
	    "'patient in hospital', status_by = 'ns-b', status_at = 1200, "
	    "hlc = 120;"
	    "UPDATE patients SET phone = '03-2222', hlc = 120;"
	    "UPDATE medications SET dose = '40mg', hlc = 120;"
	    "INSERT INTO emergency_cards (room_id, allergies, diagnoses, "
	    "updated_by, updated_at, hlc) VALUES ('R2', 'penicillin', "
	    "'COPD', 'ns-b', 1200, 120);"
	    "INSERT INTO posts (room_id, id, author, created_at, body, hlc) "
	    "VALUES ('R1', 'P1', 'ns-b', 1200, 'BP 128/76', 120);");
	assert_int_equal(sqlite3session_changeset(s, &n, &cs), SQLITE_OK);
	sqlite3session_delete(s);
	assert_true(n > 0);

	h->origin = "dev-b";
	h->hlc = 120;
	assert_int_equal(hub_apply(hub, h, cs, n, &canon, &ncanon), SQLITE_OK);
	assert_int_equal(h->refusals, 0);

	/* The card: B's contacts applied by the handler's own UPDATE, A's
	 * later allergies stay, hlc and who/when stay A's. */
	assert_row(hub, "SELECT allergies || '|' || family_contacts || '|' || "
	    "updated_by || '|' || hlc FROM emergency_cards WHERE room_id = "
	    "'R1'", "latex|son 080-2222|ns-a|150");
	k = kept_of(h, "emergency_cards", "allergies", "review");
	assert_non_null(k);
	assert_string_equal(k->winner, "latex");
	assert_string_equal(k->loser, "penicillin");
	assert_true(k->winner_hlc == 150 && k->loser_hlc == 120);
	assert_string_equal(k->key, "{\"room_id\":\"R1\"}");
	/* The request: done and declined rank alike, done is later; the
	 * decline and its reason are kept for review. */
	assert_row(hub, "SELECT status || '|' || status_by || '|' || "
	    "ifnull(status_reason, '-') || '|' || hlc FROM requests",
	    "done|dr-1|-|150");
	assert_non_null(kept_of(h, "requests", "status", "review"));
	k = kept_of(h, "requests", "status_reason", "review");
	assert_non_null(k);
	assert_string_equal(k->loser, "patient in hospital");
	/* The phone: B (120) is later than the fix (110): REPLACE. */
	assert_row(hub, "SELECT phone || '|' || hlc FROM patients",
	    "03-2222|120");
	/* The stopped medication keeps B's dose, stays stopped, flagged. */
	assert_row(hub, "SELECT dose || '|' || deleted_at || '|' || hlc FROM "
	    "medications", "40mg|1100|120");
	k = kept_of(h, "medications", "deleted_at", "deleted_edit");
	assert_non_null(k);
	assert_string_equal(k->winner, "1100");
	/* R2's card, created twice: merged; allergies kept both ways. */
	assert_row(hub, "SELECT allergies || '|' || diagnoses || '|' || "
	    "hospital || '|' || updated_by || '|' || hlc FROM "
	    "emergency_cards WHERE room_id = 'R2'",
	    "penicillin|COPD|Kita General|ns-b|120");
	k = kept_of(h, "emergency_cards", "allergies", "insert_differs");
	assert_non_null(k);
	assert_string_equal(k->loser, "latex");
	assert_string_equal(k->key, "{\"room_id\":\"R2\"}");
	/* The post applied without a conflict. */
	assert_row(hub, "SELECT count(*) FROM posts", "2");
	assert_int_equal(h->nkept, 5);
	assert_int_equal(h->sets, 2);		/* card R1, card R2 */
	assert_int_equal(h->applies, 2);	/* phone, medication */
	assert_int_equal(h->omits, 1);		/* the request */

	/* The hub's session recorded the handler's UPDATEs: the canonical
	 * changeset holds the merge (column 6 of emergency_cards is
	 * family_contacts, 1 is diagnoses; 9 of requests is status). */
	assert_true(canon_sets(canon, ncanon, "emergency_cards", 6,
	    "son 080-2222"));
	assert_true(canon_sets(canon, ncanon, "emergency_cards", 1, "COPD"));
	assert_false(canon_sets(canon, ncanon, "requests", 9, NULL));
	assert_true(canon_sets(canon, ncanon, "patients", 6, "03-2222"));
	sqlite3_free(canon);
	canon = NULL;

	/* The same changeset again: every change is a replay or loses as
	 * before; the hub's rows do not move.  (Its review records come
	 * again: the hub's (origin, seq) deduplication keeps a replayed
	 * envelope from ever getting here.) */
	memset(h, 0, sizeof(*h));
	h->origin = "dev-b";
	h->hlc = 120;
	assert_int_equal(hub_apply(hub, h, cs, n, &canon, &ncanon), SQLITE_OK);
	assert_int_equal(h->sets + h->applies + h->refusals, 0);
	assert_int_equal(ncanon, 0);
	assert_int_equal(h->nkept, 3);
	assert_row(hub, "SELECT allergies || '|' || family_contacts FROM "
	    "emergency_cards WHERE room_id = 'R1'", "latex|son 080-2222");
	sqlite3_free(canon);

	sqlite3_free(cs);
	free(h);
	sqlite3_close(dev);
	sqlite3_close(hub);
}

static void
test_real_refusal_applies_nothing(void **state)
{
	sqlite3 *hub = open_replica(), *dev = open_replica();
	sqlite3_session *s = NULL;
	struct handler *h = calloc(1, sizeof(*h));
	void *cs = NULL, *canon = NULL;
	int n = 0, ncanon = 0;

	(void)state;
	assert_non_null(h);
	sql(hub, "UPDATE posts SET hlc = 150");		/* so it conflicts */
	assert_int_equal(sqlite3session_create(dev, "main", &s), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
	sql(dev, "UPDATE patients SET phone = '03-9999', hlc = 120;"
	    "UPDATE posts SET body = 'rewritten', hlc = 120;");
	assert_int_equal(sqlite3session_changeset(s, &n, &cs), SQLITE_OK);
	sqlite3session_delete(s);

	h->origin = "dev-b";
	h->hlc = 120;
	assert_int_equal(hub_apply(hub, h, cs, n, &canon, &ncanon),
	    SQLITE_ABORT);
	assert_int_equal(h->refusals, 1);
	assert_non_null(strstr(h->reason, "posts is append-only"));
	/* Nothing partial: the clean phone change is rolled back too. */
	assert_row(hub, "SELECT phone FROM patients", "03-0000");
	assert_row(hub, "SELECT body FROM posts", "first visit");
	sqlite3_free(canon);
	sqlite3_free(cs);
	free(h);
	sqlite3_close(dev);
	sqlite3_close(hub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_match_schema),
		cmocka_unit_test(test_matrix_lww),
		cmocka_unit_test(test_matrix_review),
		cmocka_unit_test(test_matrix_monotonic),
		cmocka_unit_test(test_matrix_append_only),
		cmocka_unit_test(test_card_partial_conflict_earlier),
		cmocka_unit_test(test_card_partial_conflict_later),
		cmocka_unit_test(test_hlc_is_max_and_clamped),
		cmocka_unit_test(test_update_replay_omitted),
		cmocka_unit_test(test_lww_later_wins_and_history),
		cmocka_unit_test(test_lww_tie_break_by_device),
		cmocka_unit_test(test_monotonic_ack_vs_done),
		cmocka_unit_test(test_monotonic_done_vs_open),
		cmocka_unit_test(test_monotonic_done_vs_declined),
		cmocka_unit_test(test_monotonic_follower_text_never_lost),
		cmocka_unit_test(test_follower_alone_is_lww_but_kept),
		cmocka_unit_test(test_unset_hlc_still_bumped),
		cmocka_unit_test(test_monotonic_rooms_and_members),
		cmocka_unit_test(test_insert_identical_replay),
		cmocka_unit_test(test_insert_read_receipt_twice),
		cmocka_unit_test(test_insert_card_twice_merges),
		cmocka_unit_test(test_insert_post_differs_keeps_first),
		cmocka_unit_test(test_edit_of_soft_deleted_row),
		cmocka_unit_test(test_undelete_loses_to_later_delete),
		cmocka_unit_test(test_soft_delete_racing_edit),
		cmocka_unit_test(test_update_of_missing_row),
		cmocka_unit_test(test_deletes),
		cmocka_unit_test(test_append_only_edit_refused),
		cmocka_unit_test(test_constraint_and_foreign_key_refused),
		cmocka_unit_test(test_bad_changes_refused),
		cmocka_unit_test(test_contract_errors),
		cmocka_unit_test(test_describe_has_no_values),
		cmocka_unit_test(test_key_text_escapes),
		cmocka_unit_test(test_value_equal),
		cmocka_unit_test(test_real_changeset),
		cmocka_unit_test(test_real_refusal_applies_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
