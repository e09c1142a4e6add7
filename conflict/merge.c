/*
 * merge.c - the column-by-column conflict decision (conflict/merge.h has
 * the rules).  Pure: the only SQLite calls read an sqlite3_value or a
 * changeset iterator the caller holds.
 */
#include "conflict/merge.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conflict/policy.h"

_Static_assert(MERGE_INTEGER == SQLITE_INTEGER && MERGE_FLOAT ==
    SQLITE_FLOAT && MERGE_TEXT == SQLITE_TEXT && MERGE_BLOB == SQLITE_BLOB &&
    MERGE_NULL == SQLITE_NULL, "merge_type follows SQLite's types");
_Static_assert(MERGE_OP_INSERT == SQLITE_INSERT && MERGE_OP_UPDATE ==
    SQLITE_UPDATE && MERGE_OP_DELETE == SQLITE_DELETE,
    "merge_op follows SQLite's ops");
_Static_assert(MERGE_DATA == SQLITE_CHANGESET_DATA && MERGE_NOTFOUND ==
    SQLITE_CHANGESET_NOTFOUND && MERGE_CONFLICT == SQLITE_CHANGESET_CONFLICT &&
    MERGE_CONSTRAINT == SQLITE_CHANGESET_CONSTRAINT && MERGE_FOREIGN_KEY ==
    SQLITE_CHANGESET_FOREIGN_KEY, "merge_conflict follows SQLite's kinds");

/* What happened to one column. */
enum outcome {
	UNTOUCHED,		/* the change does not set it */
	SAME,			/* the change sets what the hub has */
	CLEAN,			/* old matched the hub: the change's applies */
	WON,			/* true conflict, the change's value won */
	LOST,			/* true conflict, the hub's value stays */
};

struct col {
	enum outcome outcome;
	const struct merge_value *final;	/* the value it ends up with */
	int kind;				/* record kind, -1: none */
	int emit;				/* write that record */
};

/* Everything one decision needs, so helpers take one pointer. */
struct merger {
	const struct merge_change *c;
	const struct table_columns *t;
	int insert;			/* CONFLICT: merge from a blank row */
	int hlc_col, del_col;		/* -1: the table has none */
	uint64_t change_hlc, cur_hlc;
	const char *origin, *cur_origin;
	int change_later;		/* the change is the later write */
	struct col col[MERGE_MAX_COLS];
	struct merge_value hlc_value;	/* the merged hlc, owned here */
	struct merge_decision *d;
	size_t key_len;			/* of d->key_text so far */
	int key_overflow;
};

static const struct merge_value null_value = { MERGE_NULL, 0, 0, NULL, 0 };
static const struct merge_value undef_value = { MERGE_UNDEFINED, 0, 0, NULL,
    0 };

static const char *const kind_names[] = {
	[MERGE_REVIEW] = "review",
	[MERGE_LWW_LOST] = "lww_lost",
	[MERGE_STATE_LOST] = "state_lost",
	[MERGE_DELETED_EDIT] = "deleted_edit",
	[MERGE_INSERT_DIFFERS] = "insert_differs",
	[MERGE_UPDATE_MISSING] = "update_missing",
};

const char *
merge_kind_name(enum merge_kind kind)
{
	if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "?";
	return kind_names[kind];
}

const char *
merge_verdict_name(enum merge_verdict v)
{
	switch (v) {
	case MERGE_APPLY: return "apply";
	case MERGE_OMIT: return "omit";
	case MERGE_SET: return "set";
	case MERGE_REFUSE: return "refuse";
	}
	return "?";
}

static const char *
op_name(enum merge_op op)
{
	switch (op) {
	case MERGE_OP_INSERT: return "insert";
	case MERGE_OP_UPDATE: return "update";
	case MERGE_OP_DELETE: return "delete";
	}
	return "change";
}

static const char *
conflict_name(enum merge_conflict k)
{
	static const char *const names[] = { "clean", "data", "notfound",
	    "conflict", "constraint", "foreign_key" };

	if ((unsigned)k >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[k];
}

/* ---- values ------------------------------------------------------------- */

int
merge_value_equal(const struct merge_value *a, const struct merge_value *b)
{
	if (a->type == MERGE_INTEGER && b->type == MERGE_FLOAT)
		return (double)a->i == b->f;
	if (a->type == MERGE_FLOAT && b->type == MERGE_INTEGER)
		return a->f == (double)b->i;
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case MERGE_UNDEFINED:
	case MERGE_NULL:
		return 1;
	case MERGE_INTEGER:
		return a->i == b->i;
	case MERGE_FLOAT:
		return a->f == b->f;
	case MERGE_TEXT:
	case MERGE_BLOB:
		return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p,
		    a->n) == 0);
	}
	return 0;
}

void
merge_value_from_sqlite(sqlite3_value *v, struct merge_value *out)
{
	memset(out, 0, sizeof(*out));
	if (v == NULL)
		return;
	out->type = (enum merge_type)sqlite3_value_type(v);
	switch (out->type) {
	case MERGE_INTEGER:
		out->i = sqlite3_value_int64(v);
		break;
	case MERGE_FLOAT:
		out->f = sqlite3_value_double(v);
		break;
	case MERGE_TEXT:
		/* The pointer first, then its length (SQLite's rule). */
		out->p = sqlite3_value_text(v);
		out->n = (size_t)sqlite3_value_bytes(v);
		break;
	case MERGE_BLOB:
		out->p = sqlite3_value_blob(v);
		out->n = (size_t)sqlite3_value_bytes(v);
		break;
	case MERGE_NULL:
		break;
	default:
		out->type = MERGE_NULL;
		break;
	}
}

int
merge_change_from_iter(sqlite3_changeset_iter *it, int conflict,
    struct merge_rows *rows, struct merge_change *c)
{
	const char *table = NULL;
	int ncol = 0, op = 0, indirect = 0, i, n;

	memset(c, 0, sizeof(*c));
	memset(rows, 0, sizeof(*rows));
	c->conflict = (enum merge_conflict)conflict;
	c->origin = c->cur_origin = "";
	if (conflict == SQLITE_CHANGESET_FOREIGN_KEY) {
		/* The iterator holds only the count of broken keys: no
		 * table, no op, no values. */
		return 0;
	}
	if (sqlite3changeset_op(it, &table, &ncol, &op, &indirect) !=
	    SQLITE_OK || table == NULL || ncol < 0)
		return RK_EDB;
	c->table = table;
	c->op = (enum merge_op)op;
	c->ncol = ncol;
	n = ncol < MERGE_MAX_COLS ? ncol : MERGE_MAX_COLS;
	for (i = 0; i < n; i++) {
		sqlite3_value *v;

		if (op != SQLITE_INSERT) {
			v = NULL;
			if (sqlite3changeset_old(it, i, &v) != SQLITE_OK)
				return RK_EDB;
			merge_value_from_sqlite(v, &rows->old[i]);
		}
		if (op != SQLITE_DELETE) {
			v = NULL;
			if (sqlite3changeset_new(it, i, &v) != SQLITE_OK)
				return RK_EDB;
			merge_value_from_sqlite(v, &rows->new[i]);
		}
		if (conflict == SQLITE_CHANGESET_DATA ||
		    conflict == SQLITE_CHANGESET_CONFLICT) {
			v = NULL;
			if (sqlite3changeset_conflict(it, i, &v) != SQLITE_OK)
				return RK_EDB;
			merge_value_from_sqlite(v, &rows->cur[i]);
		}
	}
	if (op != SQLITE_INSERT)
		c->old = rows->old;
	if (op != SQLITE_DELETE)
		c->new = rows->new;
	if (conflict == SQLITE_CHANGESET_DATA ||
	    conflict == SQLITE_CHANGESET_CONFLICT)
		c->cur = rows->cur;
	return 0;
}

/* ---- small helpers ------------------------------------------------------ */

/* Appends to a fixed buffer; a string that does not fit ends in "...". */
static void RK_PRINTF(3, 4)
addf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	int n;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= len - used && len >= 4)
		memcpy(buf + len - 4, "...", 4);
}

static int
refuse(struct merge_decision *d, const char *fmt, ...) RK_PRINTF(2, 3);

static int
refuse(struct merge_decision *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	d->verdict = MERGE_REFUSE;
	d->nset = 0;
	d->nrecord = 0;
	va_start(ap, fmt);
	n = vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= sizeof(d->reason))
		memcpy(d->reason + sizeof(d->reason) - 4, "...", 4);
	return 0;
}

static int
is_null_or_undef(const struct merge_value *v)
{
	return v->type == MERGE_UNDEFINED || v->type == MERGE_NULL;
}

static int
col_index(const struct table_columns *t, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < t->ncol; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * The rank of a state in an order "a<b<c=d", or -1 if it is not one.  A
 * value must be TEXT and match a whole name.
 */
static int
state_rank(const char *order, const struct merge_value *v)
{
	const char *p = order, *end;
	int rank = 0;

	if (order == NULL || v->type != MERGE_TEXT)
		return -1;
	for (;;) {
		end = p + strcspn(p, "<=");
		if ((size_t)(end - p) == v->n && memcmp(p, v->p, v->n) == 0)
			return rank;
		if (*end == '\0')
			return -1;
		if (*end == '<')
			rank++;
		p = end + 1;
	}
}

/* The change is later than the hub's row: HLC, then device id; a full tie
 * keeps the hub's. */
static int
change_is_later(uint64_t change_hlc, const char *origin, uint64_t cur_hlc,
    const char *cur_origin)
{
	if (change_hlc != cur_hlc)
		return change_hlc > cur_hlc;
	return strcmp(origin, cur_origin) > 0;
}

/* An HLC from an hlc column value, 0 if it is not a usable one. */
static uint64_t
hlc_of(const struct merge_value *v)
{
	if (v->type == MERGE_INTEGER && v->i > 0)
		return (uint64_t)v->i;
	return 0;
}

/* ---- the key ------------------------------------------------------------ */

/*
 * The key text is built by appending to d->key_text, key_len bytes long so
 * far.  Every row a changeset walk or an apply sees gets one, so it is
 * written byte by byte, not through printf.  What does not fit (with its
 * NUL) empties it and sets key_overflow.
 */
static void
key_text_put(struct merger *m, const void *p, size_t n)
{
	char *buf = m->d->key_text;

	if (m->key_overflow)
		return;
	if (n >= MERGE_KEY_MAX - m->key_len) {
		m->key_overflow = 1;
		buf[0] = '\0';
		return;
	}
	memcpy(buf + m->key_len, p, n);
	m->key_len += n;
	buf[m->key_len] = '\0';
}

static void
key_text_str(struct merger *m, const char *s)
{
	key_text_put(m, s, strlen(s));
}

static void
key_text_value(struct merger *m, const struct merge_value *v)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = v->p;
	char tmp[32];
	size_t i, run;
	int n;

	switch (v->type) {
	case MERGE_INTEGER:
		n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->i);
		key_text_put(m, tmp, (size_t)n);
		return;
	case MERGE_FLOAT:
		n = snprintf(tmp, sizeof(tmp), "%.17g", v->f);
		key_text_put(m, tmp, (size_t)n);
		return;
	case MERGE_TEXT:
		/* JSON string: '"' and '\\' escaped, control bytes as \u00XX,
		 * everything else (UTF-8 included) as it is. */
		key_text_put(m, "\"", 1);
		for (i = 0; i < v->n; i += run) {
			for (run = 0; i + run < v->n && s[i + run] >= 0x20 &&
			    s[i + run] != '"' && s[i + run] != '\\'; run++)
				;
			if (run > 0) {
				key_text_put(m, s + i, run);
				continue;
			}
			run = 1;
			if (s[i] == '"' || s[i] == '\\') {
				tmp[0] = '\\';
				tmp[1] = (char)s[i];
				key_text_put(m, tmp, 2);
			} else {
				memcpy(tmp, "\\u00", 4);
				tmp[4] = hex[s[i] >> 4];
				tmp[5] = hex[s[i] & 0xf];
				key_text_put(m, tmp, 6);
			}
		}
		key_text_put(m, "\"", 1);
		return;
	case MERGE_BLOB:
		key_text_put(m, "\"x'", 3);
		for (i = 0; i < v->n; i++) {
			tmp[0] = hex[s[i] >> 4];
			tmp[1] = hex[s[i] & 0xf];
			key_text_put(m, tmp, 2);
		}
		key_text_put(m, "'\"", 2);
		return;
	case MERGE_UNDEFINED:
	case MERGE_NULL:
		key_text_put(m, "null", 4);
		return;
	}
}

/* The key columns and their JSON text, from the row the op names. */
static void
make_key(struct merger *m)
{
	const struct merge_value *row = m->c->op == MERGE_OP_INSERT ?
	    m->c->new : m->c->old;
	struct merge_decision *d = m->d;
	int i;

	key_text_put(m, "{", 1);
	for (i = 0; i < m->t->ncol; i++) {
		if (m->t->cols[i].rule != COL_KEY)
			continue;
		d->key[d->nkey].col = i;
		d->key[d->nkey].name = m->t->cols[i].name;
		d->key[d->nkey].value = row[i];
		key_text_str(m, d->nkey ? ",\"" : "\"");
		key_text_str(m, m->t->cols[i].name);
		key_text_put(m, "\":", 2);
		key_text_value(m, &row[i]);
		d->nkey++;
	}
	key_text_put(m, "}", 1);
}

/* ---- refusals that need no row ------------------------------------------ */

/* A comma-separated list of the columns for which pick() holds. */
static void
list_columns(const struct merger *m, char *buf, size_t len,
    int (*pick)(const struct merger *, int))
{
	int i;

	buf[0] = '\0';
	for (i = 0; i < m->t->ncol; i++)
		if (pick(m, i))
			addf(buf, len, "%s%s", buf[0] ? ", " : "",
			    m->t->cols[i].name);
}

static int
pick_unknown_state(const struct merger *m, int i)
{
	return m->t->cols[i].rule == COL_MONOTONIC && m->c->new != NULL &&
	    m->c->new[i].type != MERGE_UNDEFINED &&
	    state_rank(m->t->cols[i].order, &m->c->new[i]) < 0;
}

static int
pick_changed(const struct merger *m, int i)
{
	return m->t->cols[i].rule != COL_KEY && m->c->new != NULL &&
	    m->c->new[i].type != MERGE_UNDEFINED;
}

static int
pick_null(const struct merger *m, int i)
{
	return m->t->cols[i].rule != COL_KEY && m->c->new != NULL &&
	    m->c->new[i].type == MERGE_NULL;
}

static int
pick_changed_key(const struct merger *m, int i)
{
	return m->t->cols[i].rule == COL_KEY && m->c->new != NULL &&
	    m->c->new[i].type != MERGE_UNDEFINED;
}

/* What an append-only row may change: its deletion and bookkeeping. */
static int
pick_not_appendable(const struct merger *m, int i)
{
	enum column_rule r = m->t->cols[i].rule;

	return pick_changed(m, i) && r != COL_DELETED && r != COL_HLC &&
	    r != COL_BOOK;
}

static int
refuse_constraint(struct merger *m)
{
	const char *tab = m->t->table;
	char cols[160];

	list_columns(m, cols, sizeof(cols), pick_unknown_state);
	if (cols[0])
		return refuse(m->d, "%s.%s: not a known state", tab, cols);
	switch (m->c->op) {
	case MERGE_OP_UPDATE:
		list_columns(m, cols, sizeof(cols), pick_changed);
		return refuse(m->d, "an update of %s breaks a constraint of "
		    "the hub's schema (columns %s)", tab, cols);
	case MERGE_OP_INSERT:
		list_columns(m, cols, sizeof(cols), pick_null);
		if (cols[0])
			return refuse(m->d, "an insert into %s breaks a "
			    "constraint of the hub's schema (NULL in %s)", tab,
			    cols);
		return refuse(m->d, "an insert into %s breaks a constraint of "
		    "the hub's schema", tab);
	case MERGE_OP_DELETE:
		break;
	}
	return refuse(m->d, "a delete from %s breaks a constraint of the hub's "
	    "schema", tab);
}

/* Rule 4 of merge.h; 1 if it refused. */
static int
table_refuses(struct merger *m)
{
	const struct table_policy *tp = policy_for_table(m->t->table);
	const char *tab = m->t->table;
	char cols[160];

	if (m->c->op == MERGE_OP_DELETE && !m->t->hard_delete) {
		refuse(m->d, "rows of %s are never deleted%s", tab,
		    m->del_col >= 0 ? ": set deleted_at instead" : "");
		return 1;
	}
	if (m->c->op == MERGE_OP_UPDATE) {
		list_columns(m, cols, sizeof(cols), pick_changed_key);
		if (cols[0]) {
			refuse(m->d, "%s: an update changes the key (%s)", tab,
			    cols);
			return 1;
		}
		if (tp != NULL && tp->policy == POLICY_APPEND_ONLY) {
			list_columns(m, cols, sizeof(cols),
			    pick_not_appendable);
			if (cols[0]) {
				refuse(m->d, "%s is append-only: an update may "
				    "only set deleted_at, this one changes %s "
				    "(write a new row to correct it)", tab,
				    cols);
				return 1;
			}
		}
	}
	list_columns(m, cols, sizeof(cols), pick_unknown_state);
	if (cols[0]) {
		refuse(m->d, "%s.%s: not a known state", tab, cols);
		return 1;
	}
	return 0;
}

/* ---- records ------------------------------------------------------------ */

static void
add_record(struct merger *m, enum merge_kind kind, int i,
    const struct merge_value *winner, int change_won,
    const struct merge_value *loser)
{
	struct merge_decision *d = m->d;
	struct merge_record *r;

	if (d->nrecord >= MERGE_MAX_RECORDS)
		return;		/* cannot happen: one per column, plus one */
	r = &d->record[d->nrecord++];
	r->kind = kind;
	r->table = m->t->table;
	r->col = i;
	r->column = m->t->cols[i].name;
	r->winner = *winner;
	r->loser = *loser;
	if (change_won) {
		r->winner_hlc = m->change_hlc;
		r->winner_origin = m->origin;
		r->loser_hlc = m->cur_hlc;
		r->loser_origin = m->cur_origin;
	} else {
		r->winner_hlc = m->cur_hlc;
		r->winner_origin = m->cur_origin;
		r->loser_hlc = m->change_hlc;
		r->loser_origin = m->origin;
	}
}

/* ---- the column merge --------------------------------------------------- */

/* The change's value of column i as the merge sees it: a NULL in an
 * insert means "not given". */
static const struct merge_value *
change_value(const struct merger *m, int i)
{
	const struct merge_value *v = &m->c->new[i];

	if (m->insert && v->type == MERGE_NULL)
		return &undef_value;
	return v;
}

/* What the writer saw: an insert saw a blank row. */
static const struct merge_value *
old_value(const struct merger *m, int i)
{
	return m->insert ? &null_value : &m->c->old[i];
}

/*
 * One column by the rule it has (rule may differ from its declared one:
 * a follower decided on its own is LWW).  Sets outcome, final and the
 * pending record.
 */
static void
decide_column(struct merger *m, int i, enum column_rule rule)
{
	struct col *cc = &m->col[i];
	const struct merge_value *nv = change_value(m, i), *cv = &m->c->cur[i];
	int ra, rb;

	cc->final = cv;
	cc->kind = -1;
	cc->emit = 0;
	if (nv->type == MERGE_UNDEFINED) {
		cc->outcome = UNTOUCHED;
		return;
	}
	if (merge_value_equal(nv, cv)) {
		cc->outcome = SAME;
		return;
	}
	if (merge_value_equal(old_value(m, i), cv)) {
		cc->outcome = CLEAN;
		cc->final = nv;
		return;
	}
	/* A true conflict. */
	switch (rule) {
	case COL_REVIEW:
		cc->outcome = m->change_later ? WON : LOST;
		cc->kind = MERGE_REVIEW;
		cc->emit = 1;
		break;
	case COL_MONOTONIC:
		ra = state_rank(m->t->cols[i].order, nv);
		rb = state_rank(m->t->cols[i].order, cv);
		if (ra == rb) {
			cc->outcome = m->change_later ? WON : LOST;
			cc->kind = MERGE_REVIEW;
			cc->emit = 1;
		} else {
			cc->outcome = ra > rb ? WON : LOST;
			cc->kind = MERGE_STATE_LOST;
			cc->emit = (m->c->flags & MERGE_F_HISTORY) != 0;
		}
		break;
	case COL_DELETED:
		cc->outcome = cv->type == MERGE_NULL ? WON : LOST;
		break;
	case COL_ONCE:
		if (m->insert) {
			cc->outcome = LOST;
			break;
		}
		/* FALLTHROUGH */
	case COL_LWW:
	case COL_FOLLOW:
	case COL_BOOK:
	case COL_KEY:
	case COL_HLC:
		cc->outcome = m->change_later ? WON : LOST;
		cc->kind = MERGE_LWW_LOST;
		cc->emit = (m->c->flags & MERGE_F_HISTORY) != 0;
		break;
	}
	if (m->insert && rule != COL_DELETED) {
		cc->kind = MERGE_INSERT_DIFFERS;
		cc->emit = 1;
	}
	if (cc->outcome == WON)
		cc->final = nv;
}

/* A follower (COL_FOLLOW, COL_BOOK with a leader) takes its leader's
 * side. */
static void
decide_follower(struct merger *m, int i, int leader)
{
	struct col *cc = &m->col[i], *lc;
	const struct merge_value *nv, *cv = &m->c->cur[i], *loser;
	enum column_rule rule = m->t->cols[i].rule;

	if (leader < 0 || m->col[leader].outcome == UNTOUCHED ||
	    m->col[leader].outcome == SAME) {
		/* The leader says nothing: decided on its own. */
		decide_column(m, i, COL_LWW);
		if (rule == COL_BOOK) {
			cc->kind = -1;
			cc->emit = 0;
		} else if (cc->kind >= 0 && (cc->outcome == WON ?
		    !is_null_or_undef(cv) :
		    !is_null_or_undef(change_value(m, i)))) {
			cc->emit = 1;	/* user text is never dropped */
		}
		return;
	}
	lc = &m->col[leader];
	/* An insert's follower goes with its leader as a whole, NULL or
	 * not; an update's only if it sets it. */
	nv = m->insert ? &m->c->new[i] : change_value(m, i);
	cc->final = cv;
	cc->kind = -1;
	cc->emit = 0;
	if (nv->type == MERGE_UNDEFINED) {
		cc->outcome = UNTOUCHED;
		return;
	}
	if (merge_value_equal(nv, cv)) {
		cc->outcome = SAME;
		return;
	}
	if (lc->outcome == LOST) {
		cc->outcome = LOST;
		loser = nv;
	} else {
		/* WON when the follower itself was changed meanwhile. */
		cc->outcome = lc->outcome == WON ||
		    !merge_value_equal(old_value(m, i), cv) ? WON : CLEAN;
		cc->final = nv;
		loser = cv;
	}
	if (rule == COL_BOOK)
		return;
	if (lc->kind >= 0) {
		/* The leader truly conflicted: the follower's record goes
		 * with it, and the leader's is kept if text was lost. */
		cc->kind = lc->kind;
		cc->emit = lc->emit;
		if (!is_null_or_undef(loser)) {
			cc->emit = 1;
			lc->emit = 1;
		}
	} else if (cc->outcome == WON && !is_null_or_undef(loser)) {
		/* The leader applied cleanly over a reason someone else
		 * wrote meanwhile. */
		cc->kind = m->insert ? MERGE_INSERT_DIFFERS : MERGE_LWW_LOST;
		cc->emit = 1;
	}
}

/* Whether the change leaves anything of its own in the row. */
static int
contributes(const struct merger *m)
{
	int i;

	for (i = 0; i < m->t->ncol; i++) {
		enum column_rule r = m->t->cols[i].rule;

		if (r == COL_KEY || r == COL_HLC ||
		    (r == COL_BOOK && m->t->cols[i].leader == NULL))
			continue;
		if (!merge_value_equal(m->col[i].final, &m->c->cur[i]))
			return 1;
	}
	return 0;
}

/* An edit that reached a soft-deleted row it did not know was deleted. */
static void
deleted_edit(struct merger *m)
{
	const struct merge_value *cv, *nv;
	int i, edited = 0, undelete_lost;

	if (m->insert || m->del_col < 0)
		return;
	cv = &m->c->cur[m->del_col];
	nv = &m->c->new[m->del_col];
	if (is_null_or_undef(cv) || is_null_or_undef(m->col[m->del_col].final))
		return;
	if (nv->type != MERGE_UNDEFINED && nv->type != MERGE_NULL)
		return;		/* the change deletes it too */
	undelete_lost = nv->type == MERGE_NULL;
	for (i = 0; i < m->t->ncol; i++) {
		enum column_rule r = m->t->cols[i].rule;

		if (r == COL_KEY || r == COL_HLC || r == COL_BOOK ||
		    r == COL_DELETED)
			continue;
		if (m->col[i].outcome == CLEAN || m->col[i].outcome == WON)
			edited = 1;
	}
	if (edited || undelete_lost)
		add_record(m, MERGE_DELETED_EDIT, m->del_col, cv, 0,
		    &null_value);
}

static void
merge_columns(struct merger *m)
{
	const struct merge_change *c = m->c;
	struct merge_decision *d = m->d;
	int i, contrib, as_is = 1;

	for (i = 0; i < m->t->ncol; i++) {
		m->col[i].outcome = UNTOUCHED;
		m->col[i].final = &c->cur[i];
		m->col[i].kind = -1;
		m->col[i].emit = 0;
	}
	/* Leaders first, then what follows them, then the row. */
	for (i = 0; i < m->t->ncol; i++) {
		enum column_rule r = m->t->cols[i].rule;

		if (r != COL_KEY && r != COL_HLC && r != COL_BOOK &&
		    r != COL_FOLLOW)
			decide_column(m, i, r);
	}
	for (i = 0; i < m->t->ncol; i++) {
		const struct column_policy *p = &m->t->cols[i];

		if (p->rule == COL_FOLLOW ||
		    (p->rule == COL_BOOK && p->leader != NULL))
			decide_follower(m, i, col_index(m->t, p->leader));
	}
	contrib = contributes(m);
	for (i = 0; i < m->t->ncol; i++) {
		const struct column_policy *p = &m->t->cols[i];
		const struct merge_value *nv = change_value(m, i);

		if (p->rule == COL_BOOK && p->leader == NULL && contrib &&
		    m->change_later && nv->type != MERGE_UNDEFINED &&
		    !merge_value_equal(nv, &c->cur[i])) {
			m->col[i].outcome = WON;
			m->col[i].final = nv;
		}
	}
	if (m->hlc_col >= 0 && contrib) {
		m->hlc_value.type = MERGE_INTEGER;
		m->hlc_value.i = (int64_t)(m->change_hlc > m->cur_hlc ?
		    m->change_hlc : m->cur_hlc);
		if (!merge_value_equal(&m->hlc_value, &c->cur[m->hlc_col]))
			m->col[m->hlc_col].final = &m->hlc_value;
	}

	/* Records, in column order; the deleted_edit flag last. */
	for (i = 0; i < m->t->ncol; i++) {
		const struct col *cc = &m->col[i];

		if (cc->kind < 0 || !cc->emit ||
		    (cc->outcome != WON && cc->outcome != LOST))
			continue;
		if (cc->outcome == WON)
			add_record(m, (enum merge_kind)cc->kind, i, &c->new[i],
			    1, &c->cur[i]);
		else
			add_record(m, (enum merge_kind)cc->kind, i, &c->cur[i],
			    0, &c->new[i]);
	}
	if (c->conflict == MERGE_DATA)
		deleted_edit(m);

	/* The verdict. */
	for (i = 0; i < m->t->ncol; i++) {
		const struct merge_value *f = m->col[i].final;

		if (m->t->cols[i].rule == COL_KEY)
			continue;
		if (!merge_value_equal(f, &c->cur[i])) {
			d->set[d->nset].col = i;
			d->set[d->nset].name = m->t->cols[i].name;
			d->set[d->nset].value = *f;
			d->nset++;
		}
		/* REPLACE sets the whole row (insert) or the columns the
		 * change sets (update), nothing else. */
		if (m->insert || c->new[i].type != MERGE_UNDEFINED) {
			if (!merge_value_equal(f, &c->new[i]))
				as_is = 0;
		} else if (!merge_value_equal(f, &c->cur[i])) {
			as_is = 0;
		}
	}
	if (d->nset == 0)
		d->verdict = MERGE_OMIT;
	else if (as_is)
		d->verdict = MERGE_APPLY;
	else
		d->verdict = MERGE_SET;
	if (d->verdict != MERGE_SET)
		d->nset = 0;
}

/* ---- the decision ------------------------------------------------------- */

static int
check_contract(const struct merge_change *c)
{
	int need_old = 0, need_new = 0, need_cur = 0;

	if (c->conflict == MERGE_FOREIGN_KEY)
		return 0;
	if (c->ncol < 0)
		return RK_EINVAL;
	switch (c->op) {
	case MERGE_OP_INSERT:
		need_new = 1;
		if (c->conflict == MERGE_DATA || c->conflict == MERGE_NOTFOUND)
			return RK_EINVAL;
		break;
	case MERGE_OP_UPDATE:
		need_old = need_new = 1;
		if (c->conflict == MERGE_CONFLICT)
			return RK_EINVAL;
		break;
	case MERGE_OP_DELETE:
		need_old = 1;
		if (c->conflict == MERGE_CONFLICT)
			return RK_EINVAL;
		break;
	default:
		return RK_EINVAL;
	}
	switch (c->conflict) {
	case MERGE_DATA:
	case MERGE_CONFLICT:
		need_cur = 1;
		break;
	case MERGE_NONE:
	case MERGE_NOTFOUND:
	case MERGE_CONSTRAINT:
		break;
	default:
		return RK_EINVAL;
	}
	if (c->table == NULL || (c->ncol > 0 && ((need_old && c->old == NULL) ||
	    (need_new && c->new == NULL) || (need_cur && c->cur == NULL))))
		return RK_EINVAL;
	return 0;
}

static void
decide(struct merger *m)
{
	const struct merge_change *c = m->c;
	struct merge_decision *d = m->d;
	int i;

	if (c->conflict == MERGE_FOREIGN_KEY) {
		if (c->table != NULL)
			refuse(d, "a change to %.64s breaks a foreign key of "
			    "the hub's schema", c->table);
		else
			refuse(d, "the changeset breaks a foreign key of the "
			    "hub's schema");
		return;
	}
	if ((m->t = policy_columns_for_table(c->table)) == NULL) {
		refuse(d, "table %.64s is not synced", c->table);
		return;
	}
	d->table = m->t->table;
	if (c->ncol != m->t->ncol) {
		refuse(d, "table %s has %d columns, the change %d", d->table,
		    m->t->ncol, c->ncol);
		return;
	}
	m->hlc_col = m->del_col = -1;
	for (i = 0; i < m->t->ncol; i++) {
		if (m->t->cols[i].rule == COL_HLC)
			m->hlc_col = i;
		else if (m->t->cols[i].rule == COL_DELETED)
			m->del_col = i;
	}
	make_key(m);
	if (c->conflict == MERGE_CONSTRAINT) {
		refuse_constraint(m);
		return;
	}
	if (table_refuses(m))
		return;

	/* The two HLCs (merge.h, "HLCs"). */
	m->change_hlc = c->hlc;
	if (m->hlc_col >= 0 && c->new != NULL) {
		uint64_t own = hlc_of(&c->new[m->hlc_col]);

		if (own != 0 && (m->change_hlc == 0 || own < m->change_hlc))
			m->change_hlc = own;
	}
	m->cur_hlc = m->hlc_col >= 0 && c->cur != NULL ?
	    hlc_of(&c->cur[m->hlc_col]) : 0;
	m->change_later = change_is_later(m->change_hlc, m->origin,
	    m->cur_hlc, m->cur_origin);

	switch (c->conflict) {
	case MERGE_NONE:
		d->verdict = MERGE_APPLY;
		break;
	case MERGE_NOTFOUND:
		d->verdict = MERGE_OMIT;
		if (c->op != MERGE_OP_UPDATE)
			break;
		for (i = 0; i < m->t->ncol; i++) {
			enum column_rule r = m->t->cols[i].rule;

			if (r == COL_KEY || r == COL_HLC || r == COL_BOOK ||
			    c->new[i].type == MERGE_UNDEFINED)
				continue;
			add_record(m, MERGE_UPDATE_MISSING, i, &undef_value, 0,
			    &c->new[i]);
		}
		break;
	case MERGE_DATA:
		if (c->op == MERGE_OP_DELETE) {
			d->verdict = m->change_later ? MERGE_APPLY : MERGE_OMIT;
			break;
		}
		merge_columns(m);
		break;
	case MERGE_CONFLICT:
		m->insert = 1;
		merge_columns(m);
		break;
	case MERGE_CONSTRAINT:
	case MERGE_FOREIGN_KEY:
		break;		/* refused above */
	}
	if (d->nrecord > 0 && m->key_overflow)
		refuse(d, "%s: a row's key is too long to record a conflict",
		    d->table);
}

int
merge_decide(const struct merge_change *c, struct merge_decision *out)
{
	struct merger m;
	int rc;

	if (c == NULL || out == NULL)
		return RK_EINVAL;
	if ((rc = check_contract(c)) != 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.c = c;
	m.d = out;
	m.origin = c->origin != NULL ? c->origin : "";
	m.cur_origin = c->cur_origin != NULL ? c->cur_origin : "";
	memset(out, 0, sizeof(*out));
	out->table = c->table != NULL ? c->table : "";
	out->op = c->op;
	out->conflict = c->conflict;
	if (c->ncol > MERGE_MAX_COLS && c->conflict != MERGE_FOREIGN_KEY) {
		refuse(out, "table %.64s: a change of %d columns (at most %d)",
		    out->table, c->ncol, MERGE_MAX_COLS);
		return 0;
	}
	decide(&m);
	return 0;
}

void
merge_decision_release(struct merge_decision *d)
{
	if (d != NULL)
		memset(d, 0, sizeof(*d));
}

void
merge_describe(const struct merge_decision *d, char *buf, size_t len)
{
	int i;

	if (len == 0)
		return;
	buf[0] = '\0';
	addf(buf, len, "%.64s %s (%s): %s", d->table, op_name(d->op),
	    conflict_name(d->conflict), merge_verdict_name(d->verdict));
	if (d->verdict == MERGE_REFUSE) {
		addf(buf, len, ": %s", d->reason);
		return;
	}
	for (i = 0; i < d->nset; i++)
		addf(buf, len, "%s%s", i ? "," : " ", d->set[i].name);
	for (i = 0; i < d->nrecord; i++)
		addf(buf, len, "%s%s:%s", i ? "," : "; records ",
		    merge_kind_name(d->record[i].kind), d->record[i].column);
}
