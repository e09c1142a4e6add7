/*
 * vfs.c - the encrypting VFS: a shim over SQLite's default VFS that seals
 * every page image SQLite stores for a database (main file, WAL, rollback
 * journal), refuses temporary files, and forwards everything else to the
 * base VFS unchanged.  It owns the on-disk page format written down below;
 * the interface is vfs.h.
 */

/*
 * renkei page encryption v1
 * =========================
 *
 * Encryption changes no file's size or layout: each 4096-byte page image
 * SQLite writes is replaced by a sealed page of the same size, and every
 * other byte SQLite writes is stored as it is.  A sealed page:
 *
 *	offset	size	content
 *	0	4056	XChaCha20 ciphertext of the page's bytes [0, 4056)
 *	4056	24	nonce, never repeated under a key: 16 random bytes
 *			drawn when the file is opened, then a 64-bit
 *			little-endian count of pages sealed through that
 *			handle (readers take it as opaque)
 *	4080	16	Poly1305 tag
 *
 * (crypto_aead_xchacha20poly1305_ietf, detached mode, 32-byte key.)  The
 * last 40 bytes are the page's reserved space: the database header says
 * so (byte 20 >= 40, set by vfs_prepare_new_db), so SQLite keeps nothing
 * there, and reads return them as zeros.
 *
 * The additional data, 16 bytes, binds a ciphertext to its place:
 *
 *	0	4	"rkp1"
 *	4	1	'D' main database, 'W' WAL, 'J' rollback journal
 *	5	3	zero
 *	8	8	position, little-endian: for 'D' the page number
 *			(page 1 at offset 0); for 'W' and 'J' the byte offset
 *			of the page image within that file
 *
 * so a page moved to another offset, or copied between the database, its
 * WAL and its journal, fails to authenticate.
 *
 * Main database: sealed page N at offset (N-1)*4096, nothing else.  Page 1
 * is sealed whole, header included, so the file carries no "SQLite format 3"
 * magic and tools without the key see random bytes.  SQLite only writes
 * whole pages here; anything else is refused, and so is a page 1 whose
 * header does not say 4096-byte pages with at least 40 reserved bytes.  It
 * reads parts of page 1 (100 bytes at 0, 16 at 24), which are served by
 * opening the whole page.
 *
 * WAL: the 32-byte WAL header and every 24-byte frame header stay clear
 * (magic, page size, salts, checksums, page numbers: no record content);
 * each frame's page data is sealed, with kind 'W' and its own offset:
 *
 *	0		32	WAL header, clear
 *	32+k*4120	24	header of frame k (k from 0), clear
 *	56+k*4120	4096	sealed page data of frame k
 *
 * SQLite's frame checksums cover the clear page, reserved bytes included,
 * so those must be zero when written (they are; writes that are not are
 * refused) for recovery, which reads back zeros, to accept the frame.
 * SQLite writes a frame's header and page separately and reads the page
 * alone, a whole frame (recovery) or the header alone; a write of part of
 * a page is refused.  Hence WAL mode needs powersafe overwrite (the unix
 * VFS's default): without it SQLite pads each commit to a sector boundary
 * and splits a frame write there, so a WAL is then refused when opened.
 *
 * Rollback journal: one 512-byte header sector (the main database reports
 * a 512-byte sector, so the header is never page-sized), then records of a
 * 4-byte page number, the page image and a 4-byte checksum; a long
 * transaction may add further header sectors.  The rule: a write of exactly
 * 4096 bytes is a page image and is sealed (kind 'J', its offset); a read of
 * exactly 4096 bytes is opened; every other read and write (headers, page
 * numbers, checksums, the super-journal name, which is shorter than a page)
 * is clear.  This relies on the pager writing each page image in one write
 * and nothing else of that size, which holds for page-sized pages and a
 * 512-byte sector; it also needs the journal to be a real file from the
 * start, which holds because we never claim atomic writes (with them the
 * pager may buffer a journal in memory and flush it in other-sized pieces).
 *
 * Reading a page that fails authentication (altered, moved, cut short, or
 * the wrong key) never yields its bytes.  What SQLite is told depends on
 * what it would do with a page that was torn by a crash:
 *
 *   - main database: SQLITE_IOERR_DATA.  Except the one read the pager
 *     makes without any lock, a peek at the header when the database is
 *     opened, which it repeats under lock before trusting: that gets zeros,
 *     so a page 1 torn by a crash (and about to be restored from the hot
 *     journal) or being rewritten by another process does not fail the open.
 *   - WAL page data read on its own (a page of an indexed frame):
 *     SQLITE_IOERR_DATA.
 *   - WAL read including a frame's header (recovery reads whole frames):
 *     the frame comes back with page number 0, which SQLite takes as the
 *     end of the log, as it does a frame whose checksum fails after a torn
 *     write.
 *   - journal page image: SQLITE_IOERR_SHORT_READ, which makes the pager
 *     stop playback there, as it does for a record whose checksum fails.
 *
 * The last two only once the key is known to be right: some page of that
 * WAL or journal, or page 1 of its database, has authenticated.  Otherwise
 * they are SQLITE_IOERR_DATA too, so opening a crashed database with the
 * wrong key neither discards its WAL (which the checkpoint on close would
 * then delete) nor abandons its hot journal.
 *
 * Not covered: an old sealed version of a page put back at the same place
 * (per-page sealing has no version to check), nor a page copied between two
 * databases that share a key.
 */

#include "daemon/vfs.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "common/log.h"

#define NONCE_LEN	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN		crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEALED_LEN	(VFS_PAGE_SIZE - VFS_RESERVE)
#define AD_LEN		16

#define WAL_HDR_LEN		32
#define WAL_FRAME_HDR_LEN	24
#define WAL_FRAME_LEN		(WAL_FRAME_HDR_LEN + VFS_PAGE_SIZE)

#define DB_SECTOR_SIZE	512

#define STR_(x)		#x
#define STR(x)		STR_(x)
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

_Static_assert(NONCE_LEN + TAG_LEN == VFS_RESERVE, "nonce+tag = reserve");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == VFS_KEY_LEN,
    "key length");

/* Claims that would let the pager skip the journal or keep it in memory
 * and write it out in pieces of any size. */
#define IOCAP_ATOMIC_ANY (SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_ATOMIC512 | \
	SQLITE_IOCAP_ATOMIC1K | SQLITE_IOCAP_ATOMIC2K | \
	SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_ATOMIC8K | \
	SQLITE_IOCAP_ATOMIC16K | SQLITE_IOCAP_ATOMIC32K | \
	SQLITE_IOCAP_ATOMIC64K | SQLITE_IOCAP_BATCH_ATOMIC)

enum vfs_kind {
	KIND_DB = 'D',
	KIND_WAL = 'W',
	KIND_JOURNAL = 'J',
};

struct vfs_crypt {
	sqlite3_vfs	 vfs;		/* what SQLite sees; pAppData = this */
	sqlite3_vfs	*base;		/* the default VFS doing the I/O */
	uint8_t		*key;		/* sodium_malloc'd, read-only */
	char		*name;		/* vfs.zName; free() */
	atomic_uint	 warned;	/* refusals already logged, by index */
};

struct vfs_file {
	sqlite3_file	 io;		/* first: SQLite's view of the file */
	struct vfs_crypt *vc;
	sqlite3_file	*real;		/* the base VFS's file, after us */
	const char	*name;		/* SQLite keeps it valid until xClose */
	struct vfs_file	*db;		/* WAL, journal: their main database */
	int		 kind;
	int		 lock;		/* lock held, for the header peek */
	int		 authed;	/* a page of this file authenticated */
	sqlite3_int64	 frame_at;	/* WAL: last frame header written... */
	uint32_t	 frame_pgno;	/* ...and its page number */
	uint64_t	 sealed;	/* pages sealed: the nonce's count */
	uint8_t		 nonce_prefix[NONCE_LEN - 8];
	uint8_t		 page[VFS_PAGE_SIZE];	/* scratch, wiped on close */
};

/* Files that would hold database content outside the three kinds above. */
static const struct refusal {
	int		 flag;
	const char	*what;
	const char	*hint;
} refusals[] = {
	{ SQLITE_OPEN_TEMP_DB, "a temporary database",
	    "set PRAGMA temp_store=MEMORY" },
	{ SQLITE_OPEN_TRANSIENT_DB, "a transient database",
	    "set PRAGMA temp_store=MEMORY" },
	{ SQLITE_OPEN_TEMP_JOURNAL, "a temporary journal (sorter, VACUUM)",
	    "set PRAGMA temp_store=MEMORY" },
	{ SQLITE_OPEN_SUBJOURNAL, "a statement journal",
	    "set PRAGMA temp_store=MEMORY" },
	{ SQLITE_OPEN_SUPER_JOURNAL, "a super-journal",
	    "use WAL, or commit attached databases one at a time" },
	{ 0, "an unnamed temporary file", "set PRAGMA temp_store=MEMORY" },
	{ 0, "a file of unknown kind", "only databases, WALs and journals" },
};
#define REFUSE_UNNAMED	5
#define REFUSE_UNKNOWN	6

static const sqlite3_io_methods crypt_io_v1;
static const sqlite3_io_methods crypt_io_v2;

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
ad_encode(uint8_t ad[AD_LEN], int kind, uint64_t where)
{
	int i;

	memcpy(ad, "rkp1", 4);
	ad[4] = (uint8_t)kind;
	ad[5] = ad[6] = ad[7] = 0;
	for (i = 0; i < 8; i++)
		ad[8 + i] = (uint8_t)(where >> (8 * i));
}

/*
 * Seals the clear page in (of f, at where) into out; in's reserved tail is
 * not kept.  The nonce is a per-handle random prefix and a count rather
 * than fresh random bytes: a getrandom(2) per page write added a sixth to
 * the cost of sealing, and 128 random bits keep handles apart as well.
 */
static void
page_seal(struct vfs_file *f, int kind, uint64_t where, uint8_t *out,
    const uint8_t *in)
{
	uint8_t ad[AD_LEN];
	uint8_t *nonce = out + SEALED_LEN;
	uint8_t *tag = nonce + NONCE_LEN;
	uint64_t n = f->sealed++;
	int i;

	ad_encode(ad, kind, where);
	memcpy(nonce, f->nonce_prefix, sizeof(f->nonce_prefix));
	for (i = 0; i < 8; i++)
		nonce[sizeof(f->nonce_prefix) + i] = (uint8_t)(n >> (8 * i));
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out, tag,
	    NULL, in, SEALED_LEN, ad, AD_LEN, NULL, nonce, f->vc->key);
}

/* Opens a sealed page in place: 0, or -1 with the page zeroed. */
static int
page_unseal(const struct vfs_crypt *vc, int kind, uint64_t where,
    uint8_t *page)
{
	uint8_t ad[AD_LEN];
	const uint8_t *nonce = page + SEALED_LEN;
	const uint8_t *tag = nonce + NONCE_LEN;

	ad_encode(ad, kind, where);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(page, NULL,
	    page, SEALED_LEN, tag, ad, AD_LEN, nonce, vc->key) != 0) {
		memset(page, 0, VFS_PAGE_SIZE);
		return -1;
	}
	memset(page + SEALED_LEN, 0, VFS_RESERVE);
	return 0;
}

/*
 * Reads the sealed page at offset off into page and opens it in place.
 * SQLITE_OK; SQLITE_IOERR_SHORT_READ if the page lies wholly past the end
 * of the file (page zero-filled, as the base VFS does); SQLITE_IOERR_DATA
 * if it is cut short or fails authentication (page zeroed); else the base
 * VFS's error.
 */
static int
page_read(struct vfs_file *f, uint8_t *page, sqlite3_int64 off,
    uint64_t where)
{
	sqlite3_int64 size;
	int rc;

	rc = f->real->pMethods->xRead(f->real, page, VFS_PAGE_SIZE, off);
	if (rc == SQLITE_IOERR_SHORT_READ) {
		memset(page, 0, VFS_PAGE_SIZE);
		if ((rc = f->real->pMethods->xFileSize(f->real, &size)) !=
		    SQLITE_OK)
			return rc;
		return size <= off ? SQLITE_IOERR_SHORT_READ :
		    SQLITE_IOERR_DATA;
	}
	if (rc != SQLITE_OK)
		return rc;
	if (page_unseal(f->vc, f->kind, where, page) != 0)
		return SQLITE_IOERR_DATA;
	f->authed = 1;
	return SQLITE_OK;
}

/*
 * Whether the key is known to be right for f's database: a page of f has
 * authenticated, or page 1 of the main database does now.
 */
static int
key_proven(struct vfs_file *f)
{
	uint8_t page[VFS_PAGE_SIZE];
	sqlite3_file *real;
	int ok;

	if (f->authed)
		return 1;
	if (f->db == NULL)
		return 0;
	real = f->db->real;
	ok = real->pMethods->xRead(real, page, sizeof(page), 0) == SQLITE_OK &&
	    page_unseal(f->vc, KIND_DB, 1, page) == 0;
	sodium_memzero(page, sizeof(page));
	return ok;
}

static int
db_read(struct vfs_file *f, uint8_t *buf, int amt, sqlite3_int64 off)
{
	sqlite3_int64 pos = off, end = off + amt, at;
	uint64_t pgno;
	uint8_t *dst, *page;
	int rc, rc_out = SQLITE_OK, skip, n;

	while (pos < end) {
		at = pos - pos % VFS_PAGE_SIZE;
		pgno = (uint64_t)(at / VFS_PAGE_SIZE) + 1;
		skip = (int)(pos - at);
		n = end - pos < VFS_PAGE_SIZE - skip ? (int)(end - pos) :
		    VFS_PAGE_SIZE - skip;
		dst = buf + (pos - off);
		page = skip == 0 && n == VFS_PAGE_SIZE ? dst : f->page;

		rc = page_read(f, page, at, pgno);
		if (rc == SQLITE_IOERR_DATA && pgno == 1 &&
		    f->lock == SQLITE_LOCK_NONE) {
			log_debug("%s: unlocked read of page 1 fails "
			    "authentication; SQLite rereads it under lock",
			    f->name);
			memset(buf, 0, (size_t)amt);
			return SQLITE_OK;
		}
		if (rc == SQLITE_IOERR_DATA) {
			log_warnx("page %llu of %s fails authentication",
			    (unsigned long long)pgno, f->name);
			return rc;
		}
		if (rc == SQLITE_IOERR_SHORT_READ)
			rc_out = rc;
		else if (rc != SQLITE_OK)
			return rc;
		if (page != dst)
			memcpy(dst, page + skip, (size_t)n);
		pos += n;
	}
	return rc_out;
}

static int
db_write(struct vfs_file *f, const uint8_t *buf, int amt, sqlite3_int64 off)
{
	sqlite3_int64 pgno;

	if (amt != VFS_PAGE_SIZE || off % VFS_PAGE_SIZE != 0) {
		log_warnx("%s: refusing a %d-byte write at offset %lld: not "
		    "one %d-byte page (is the page size %d?)", f->name, amt,
		    (long long)off, VFS_PAGE_SIZE, VFS_PAGE_SIZE);
		return SQLITE_IOERR;
	}
	pgno = off / VFS_PAGE_SIZE + 1;
	/* The header of page 1: page size (big-endian at 16) and reserved
	 * bytes per page (at 20).  Without the reserve, SQLite would keep
	 * data where the nonce and tag go. */
	if (pgno == 1 && (get_be32(buf + 16) >> 16 != VFS_PAGE_SIZE ||
	    buf[20] < VFS_RESERVE)) {
		log_warnx("%s: refusing to write a header with page size %u "
		    "and %u reserved bytes (need %d and %d): was "
		    "vfs_prepare_new_db called?", f->name,
		    get_be32(buf + 16) >> 16, buf[20], VFS_PAGE_SIZE,
		    VFS_RESERVE);
		return SQLITE_IOERR;
	}
	page_seal(f, KIND_DB, (uint64_t)pgno, f->page, buf);
	return f->real->pMethods->xWrite(f->real, f->page, VFS_PAGE_SIZE, off);
}

/* The WAL region holding byte pos, [*start, *end): 1 if page data. */
static int
wal_region(sqlite3_int64 pos, sqlite3_int64 *start, sqlite3_int64 *end)
{
	sqlite3_int64 frame;

	if (pos < WAL_HDR_LEN) {
		*start = 0;
		*end = WAL_HDR_LEN;
		return 0;
	}
	frame = WAL_HDR_LEN +
	    (pos - WAL_HDR_LEN) / WAL_FRAME_LEN * WAL_FRAME_LEN;
	if (pos - frame < WAL_FRAME_HDR_LEN) {
		*start = frame;
		*end = frame + WAL_FRAME_HDR_LEN;
		return 0;
	}
	*start = frame + WAL_FRAME_HDR_LEN;
	*end = *start + VFS_PAGE_SIZE;
	return 1;
}

/*
 * The page data at offset at failed, in a read of [off, off+amt) into buf.
 * If the read holds its frame's page number (recovery reads whole frames)
 * and the key is right, the frame was torn or altered: report page number
 * 0, which SQLite takes as the end of the log.
 */
static int
wal_bad_page(struct vfs_file *f, uint8_t *buf, int amt, sqlite3_int64 off,
    sqlite3_int64 at)
{
	sqlite3_int64 frame = at - WAL_FRAME_HDR_LEN;

	if (off <= frame && frame + 4 <= off + amt && key_proven(f)) {
		log_warnx("WAL frame page at offset %lld of %s fails "
		    "authentication; the log ends before it", (long long)at,
		    f->name);
		memset(buf + (frame - off), 0, 4);
		return SQLITE_OK;
	}
	log_warnx("WAL frame page at offset %lld of %s fails authentication",
	    (long long)at, f->name);
	return SQLITE_IOERR_DATA;
}

static int
wal_read(struct vfs_file *f, uint8_t *buf, int amt, sqlite3_int64 off)
{
	sqlite3_int64 pos = off, end = off + amt, start, stop;
	uint8_t *dst, *page;
	int rc, rc_out = SQLITE_OK, skip, n;

	while (pos < end) {
		int is_page = wal_region(pos, &start, &stop);

		n = (int)((stop < end ? stop : end) - pos);
		dst = buf + (pos - off);
		if (!is_page) {
			rc = f->real->pMethods->xRead(f->real, dst, n, pos);
			if (rc == SQLITE_IOERR_SHORT_READ)
				rc_out = rc;
			else if (rc != SQLITE_OK)
				return rc;
			pos += n;
			continue;
		}
		skip = (int)(pos - start);
		page = skip == 0 && n == VFS_PAGE_SIZE ? dst : f->page;
		rc = page_read(f, page, start, (uint64_t)start);
		if (rc == SQLITE_IOERR_DATA)
			rc = wal_bad_page(f, buf, amt, off, start);
		if (rc == SQLITE_IOERR_SHORT_READ)
			rc_out = rc;
		else if (rc != SQLITE_OK)
			return rc;
		if (page != dst)
			memcpy(dst, page + skip, (size_t)n);
		pos += n;
	}
	return rc_out;
}

static int
wal_write(struct vfs_file *f, const uint8_t *buf, int amt, sqlite3_int64 off)
{
	sqlite3_int64 pos = off, end = off + amt, start, stop;
	const uint8_t *src;
	int rc, n;

	while (pos < end) {
		int is_page = wal_region(pos, &start, &stop);

		n = (int)((stop < end ? stop : end) - pos);
		src = buf + (pos - off);
		if (!is_page) {
			/* The WAL header's page size, at 8. */
			if (start == 0 && pos <= 8 && pos + n >= 12 &&
			    get_be32(src + (8 - pos)) != VFS_PAGE_SIZE) {
				log_warnx("%s: refusing a WAL header with page "
				    "size %u", f->name,
				    get_be32(src + (8 - pos)));
				return SQLITE_IOERR;
			}
			/* A frame header's page number, at 0. */
			if (start != 0 && pos == start && n >= 4) {
				f->frame_at = start;
				f->frame_pgno = get_be32(src);
			}
			rc = f->real->pMethods->xWrite(f->real, src, n, pos);
			if (rc != SQLITE_OK)
				return rc;
			pos += n;
			continue;
		}
		if (pos != start || n != VFS_PAGE_SIZE) {
			log_warnx("%s: refusing a write of %d bytes at offset "
			    "%lld: not a whole frame page", f->name, n,
			    (long long)pos);
			return SQLITE_IOERR;
		}
		if (!sodium_is_zero(src + SEALED_LEN, VFS_RESERVE)) {
			log_warnx("%s: refusing a frame page at offset %lld "
			    "with data in its reserved bytes", f->name,
			    (long long)pos);
			return SQLITE_IOERR;
		}
		if (f->frame_at == start - WAL_FRAME_HDR_LEN &&
		    f->frame_pgno == 1 && (get_be32(src + 16) >> 16 !=
		    VFS_PAGE_SIZE || src[20] < VFS_RESERVE)) {
			log_warnx("%s: refusing to write a header with %u "
			    "reserved bytes: was vfs_prepare_new_db called?",
			    f->name, src[20]);
			return SQLITE_IOERR;
		}
		page_seal(f, KIND_WAL, (uint64_t)start, f->page, src);
		rc = f->real->pMethods->xWrite(f->real, f->page, VFS_PAGE_SIZE,
		    start);
		if (rc != SQLITE_OK)
			return rc;
		pos += n;
	}
	return SQLITE_OK;
}

static int
journal_read(struct vfs_file *f, uint8_t *buf, int amt, sqlite3_int64 off)
{
	int rc;

	if (amt != VFS_PAGE_SIZE)
		return f->real->pMethods->xRead(f->real, buf, amt, off);
	if ((rc = page_read(f, buf, off, (uint64_t)off)) != SQLITE_IOERR_DATA)
		return rc;
	if (key_proven(f)) {
		log_warnx("journal page at offset %lld of %s fails "
		    "authentication; rollback stops there", (long long)off,
		    f->name);
		return SQLITE_IOERR_SHORT_READ;
	}
	log_warnx("journal page at offset %lld of %s fails authentication",
	    (long long)off, f->name);
	return SQLITE_IOERR_DATA;
}

static int
journal_write(struct vfs_file *f, const uint8_t *buf, int amt,
    sqlite3_int64 off)
{
	if (amt != VFS_PAGE_SIZE)
		return f->real->pMethods->xWrite(f->real, buf, amt, off);
	page_seal(f, KIND_JOURNAL, (uint64_t)off, f->page, buf);
	return f->real->pMethods->xWrite(f->real, f->page, VFS_PAGE_SIZE, off);
}

static int
crypt_close(sqlite3_file *file)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc;

	rc = f->real->pMethods->xClose(f->real);
	sodium_memzero(f->page, sizeof(f->page));
	return rc;
}

static int
crypt_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct vfs_file *f = (struct vfs_file *)file;

	switch (f->kind) {
	case KIND_DB:
		return db_read(f, buf, amt, off);
	case KIND_WAL:
		return wal_read(f, buf, amt, off);
	default:
		return journal_read(f, buf, amt, off);
	}
}

static int
crypt_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	struct vfs_file *f = (struct vfs_file *)file;

	switch (f->kind) {
	case KIND_DB:
		return db_write(f, buf, amt, off);
	case KIND_WAL:
		return wal_write(f, buf, amt, off);
	default:
		return journal_write(f, buf, amt, off);
	}
}

static int
crypt_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xTruncate(real, size);
}

static int
crypt_sync(sqlite3_file *file, int flags)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xSync(real, flags);
}

static int
crypt_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xFileSize(real, size);
}

static int
crypt_lock(sqlite3_file *file, int level)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc;

	if ((rc = f->real->pMethods->xLock(f->real, level)) == SQLITE_OK)
		f->lock = level;
	return rc;
}

static int
crypt_unlock(sqlite3_file *file, int level)
{
	struct vfs_file *f = (struct vfs_file *)file;
	int rc;

	if ((rc = f->real->pMethods->xUnlock(f->real, level)) == SQLITE_OK)
		f->lock = level;
	return rc;
}

static int
crypt_check_reserved_lock(sqlite3_file *file, int *out)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xCheckReservedLock(real, out);
}

static int
crypt_file_control(sqlite3_file *file, int op, void *arg)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	/* Memory-mapped pages would bypass xRead.  Without xFetch the pager
	 * never maps; saying 0 here also keeps the base VFS from mapping
	 * and PRAGMA mmap_size honest. */
	if (op == SQLITE_FCNTL_MMAP_SIZE) {
		*(sqlite3_int64 *)arg = 0;
		return SQLITE_OK;
	}
	return real->pMethods->xFileControl(real, op, arg);
}

static int
crypt_sector_size(sqlite3_file *file)
{
	struct vfs_file *f = (struct vfs_file *)file;

	/* The journal header is one sector of the main database; at 512 it
	 * can never be mistaken for a page image. */
	if (f->kind == KIND_DB)
		return DB_SECTOR_SIZE;
	return f->real->pMethods->xSectorSize(f->real);
}

static int
crypt_device_characteristics(sqlite3_file *file)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xDeviceCharacteristics(real) & ~IOCAP_ATOMIC_ANY;
}

static int
crypt_shm_map(sqlite3_file *file, int region, int size, int extend,
    void volatile **out)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xShmMap(real, region, size, extend, out);
}

static int
crypt_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xShmLock(real, offset, n, flags);
}

static void
crypt_shm_barrier(sqlite3_file *file)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	real->pMethods->xShmBarrier(real);
}

static int
crypt_shm_unmap(sqlite3_file *file, int delete_flag)
{
	sqlite3_file *real = ((struct vfs_file *)file)->real;

	return real->pMethods->xShmUnmap(real, delete_flag);
}

/* Version 1 for a base file without shared memory (WAL then needs
 * exclusive locking mode); version 2 otherwise.  Never version 3: no
 * xFetch, so SQLite never reads pages through a memory map. */
static const sqlite3_io_methods crypt_io_v1 = {
	.iVersion = 1,
	.xClose = crypt_close,
	.xRead = crypt_read,
	.xWrite = crypt_write,
	.xTruncate = crypt_truncate,
	.xSync = crypt_sync,
	.xFileSize = crypt_file_size,
	.xLock = crypt_lock,
	.xUnlock = crypt_unlock,
	.xCheckReservedLock = crypt_check_reserved_lock,
	.xFileControl = crypt_file_control,
	.xSectorSize = crypt_sector_size,
	.xDeviceCharacteristics = crypt_device_characteristics,
};

static const sqlite3_io_methods crypt_io_v2 = {
	.iVersion = 2,
	.xClose = crypt_close,
	.xRead = crypt_read,
	.xWrite = crypt_write,
	.xTruncate = crypt_truncate,
	.xSync = crypt_sync,
	.xFileSize = crypt_file_size,
	.xLock = crypt_lock,
	.xUnlock = crypt_unlock,
	.xCheckReservedLock = crypt_check_reserved_lock,
	.xFileControl = crypt_file_control,
	.xSectorSize = crypt_sector_size,
	.xDeviceCharacteristics = crypt_device_characteristics,
	.xShmMap = crypt_shm_map,
	.xShmLock = crypt_shm_lock,
	.xShmBarrier = crypt_shm_barrier,
	.xShmUnmap = crypt_shm_unmap,
};

/* Which kind of file an open is for, or 0 with *why set if refused. */
static int
file_kind(int flags, const char *name, size_t *why)
{
	size_t i;

	for (i = 0; i < NITEMS(refusals); i++) {
		if (refusals[i].flag != 0 && (flags & refusals[i].flag)) {
			*why = i;
			return 0;
		}
	}
	if (name == NULL) {
		*why = REFUSE_UNNAMED;
		return 0;
	}
	if (flags & SQLITE_OPEN_MAIN_DB)
		return KIND_DB;
	if (flags & SQLITE_OPEN_WAL)
		return KIND_WAL;
	if (flags & SQLITE_OPEN_MAIN_JOURNAL)
		return KIND_JOURNAL;
	*why = REFUSE_UNKNOWN;
	return 0;
}

static int
crypt_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file,
    int flags, int *out_flags)
{
	struct vfs_crypt *vc = vfs->pAppData;
	struct vfs_file *f = (struct vfs_file *)file;
	const sqlite3_io_methods *m;
	sqlite3_file *dbf;
	size_t why = 0;
	unsigned bit;
	int rc;

	memset(f, 0, sizeof(*f));
	randombytes_buf(f->nonce_prefix, sizeof(f->nonce_prefix));
	f->vc = vc;
	f->real = (sqlite3_file *)(f + 1);
	f->name = name;
	if ((f->kind = file_kind(flags, name, &why)) == 0) {
		bit = 1u << why;
		if ((atomic_fetch_or(&vc->warned, bit) & bit) == 0)
			log_warnx("%s: refusing to open %s, which would hold "
			    "database content unencrypted; %s", vc->name,
			    refusals[why].what, refusals[why].hint);
		return SQLITE_CANTOPEN;
	}

	rc = vc->base->xOpen(vc->base, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls xClose only when our pMethods is set. */
		if (f->real->pMethods != NULL)
			f->real->pMethods->xClose(f->real);
		return rc;
	}
	m = f->real->pMethods;
	if (f->kind != KIND_DB) {
		dbf = sqlite3_database_file_object(name);
		if (dbf != NULL && (dbf->pMethods == &crypt_io_v1 ||
		    dbf->pMethods == &crypt_io_v2) &&
		    ((struct vfs_file *)dbf)->vc == vc)
			f->db = (struct vfs_file *)dbf;
	}
	/* Without powersafe overwrite SQLite pads each commit to a sector
	 * boundary and splits a frame write at it: part of a page, which
	 * cannot be sealed.  Better to say so now than fail every commit. */
	if (f->kind == KIND_WAL && (m->xDeviceCharacteristics(f->real) &
	    (f->db != NULL ? crypt_device_characteristics(&f->db->io) : ~0) &
	    SQLITE_IOCAP_POWERSAFE_OVERWRITE) == 0) {
		log_warnx("%s: refusing WAL mode without powersafe overwrite "
		    "(psow=0?): its padding writes part pages; use a rollback "
		    "journal", name);
		m->xClose(f->real);
		return SQLITE_CANTOPEN;
	}
	f->io.pMethods = m->iVersion >= 2 && m->xShmMap != NULL ?
	    &crypt_io_v2 : &crypt_io_v1;
	return SQLITE_OK;
}

static sqlite3_vfs *
base_of(sqlite3_vfs *vfs)
{
	return ((struct vfs_crypt *)vfs->pAppData)->base;
}

static int
crypt_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xDelete(b, name, sync_dir);
}

static int
crypt_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xAccess(b, name, flags, out);
}

static int
crypt_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xFullPathname(b, name, n, out);
}

static void *
crypt_dl_open(sqlite3_vfs *vfs, const char *name)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xDlOpen(b, name);
}

static void
crypt_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	sqlite3_vfs *b = base_of(vfs);

	b->xDlError(b, n, msg);
}

static void (*crypt_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xDlSym(b, h, sym);
}

static void
crypt_dl_close(sqlite3_vfs *vfs, void *h)
{
	sqlite3_vfs *b = base_of(vfs);

	b->xDlClose(b, h);
}

static int
crypt_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xRandomness(b, n, out);
}

static int
crypt_sleep(sqlite3_vfs *vfs, int usec)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xSleep(b, usec);
}

static int
crypt_current_time(sqlite3_vfs *vfs, double *out)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xCurrentTime(b, out);
}

static int
crypt_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xGetLastError(b, n, out);
}

static int
crypt_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xCurrentTimeInt64(b, out);
}

static int
crypt_set_system_call(sqlite3_vfs *vfs, const char *name,
    sqlite3_syscall_ptr p)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xSetSystemCall(b, name, p);
}

static sqlite3_syscall_ptr
crypt_get_system_call(sqlite3_vfs *vfs, const char *name)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xGetSystemCall(b, name);
}

static const char *
crypt_next_system_call(sqlite3_vfs *vfs, const char *name)
{
	sqlite3_vfs *b = base_of(vfs);

	return b->xNextSystemCall(b, name);
}

static void
vfs_crypt_free(struct vfs_crypt *v)
{
	if (v == NULL)
		return;
	if (v->key != NULL)
		sodium_free(v->key);	/* wipes it */
	free(v->name);
	free(v);
}

int
vfs_crypt_register(const char *name, const uint8_t key[VFS_KEY_LEN],
    struct vfs_crypt **out)
{
	struct vfs_crypt *v = NULL;
	sqlite3_vfs *base;
	int rc, err;

	if (name == NULL || *name == '\0' || key == NULL || out == NULL)
		return RK_EINVAL;
	if (sodium_init() < 0) {
		log_warnx("vfs %s: libsodium failed to initialise", name);
		return RK_ECRYPTO;
	}
	/* Before SQLite initialises (the first call below does): without
	 * memory statistics no allocation takes SQLite's global mutex.  A
	 * later registration finds it initialised; the call then fails
	 * harmlessly, the setting already made. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if ((base = sqlite3_vfs_find(NULL)) == NULL) {
		log_warnx("vfs %s: SQLite has no default VFS", name);
		return RK_EDB;
	}
	if (base->xOpen == crypt_open) {
		log_warnx("vfs %s: the default VFS encrypts already", name);
		return RK_EINVAL;
	}
	if (sqlite3_vfs_find(name) != NULL) {
		log_warnx("vfs %s: already registered", name);
		return RK_EEXIST;
	}

	err = RK_ENOMEM;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		goto out;
	atomic_init(&v->warned, 0);
	if ((v->name = strdup(name)) == NULL)
		goto out;
	if ((v->key = sodium_malloc(VFS_KEY_LEN)) == NULL)
		goto out;
	memcpy(v->key, key, VFS_KEY_LEN);
	(void)sodium_mprotect_readonly(v->key);
	v->base = base;

	v->vfs.iVersion = base->iVersion < 3 ? base->iVersion : 3;
	v->vfs.szOsFile = (int)sizeof(struct vfs_file) + base->szOsFile;
	v->vfs.mxPathname = base->mxPathname;
	v->vfs.zName = v->name;
	v->vfs.pAppData = v;
	v->vfs.xOpen = crypt_open;
	v->vfs.xDelete = crypt_delete;
	v->vfs.xAccess = crypt_access;
	v->vfs.xFullPathname = crypt_full_pathname;
	v->vfs.xDlOpen = base->xDlOpen != NULL ? crypt_dl_open : NULL;
	v->vfs.xDlError = base->xDlError != NULL ? crypt_dl_error : NULL;
	v->vfs.xDlSym = base->xDlSym != NULL ? crypt_dl_sym : NULL;
	v->vfs.xDlClose = base->xDlClose != NULL ? crypt_dl_close : NULL;
	v->vfs.xRandomness = crypt_randomness;
	v->vfs.xSleep = crypt_sleep;
	v->vfs.xCurrentTime = crypt_current_time;
	v->vfs.xGetLastError = crypt_get_last_error;
	if (v->vfs.iVersion >= 2)
		v->vfs.xCurrentTimeInt64 = crypt_current_time_int64;
	if (v->vfs.iVersion >= 3) {
		v->vfs.xSetSystemCall = crypt_set_system_call;
		v->vfs.xGetSystemCall = crypt_get_system_call;
		v->vfs.xNextSystemCall = crypt_next_system_call;
	}

	if ((rc = sqlite3_vfs_register(&v->vfs, 0)) != SQLITE_OK) {
		log_warnx("vfs %s: %s", name, sqlite3_errstr(rc));
		err = RK_EDB;
		goto out;
	}
	*out = v;	/* the caller releases it with vfs_crypt_unregister */
	v = NULL;
	err = 0;
out:
	vfs_crypt_free(v);
	return err;
}

void
vfs_crypt_unregister(struct vfs_crypt *v)
{
	if (v == NULL)
		return;
	sqlite3_vfs_unregister(&v->vfs);
	vfs_crypt_free(v);
}

/* Logs the connection's last error and maps it to an rk_err. */
static int
db_err(sqlite3 *db, const char *what)
{
	int xrc = sqlite3_extended_errcode(db);

	log_warnx("%s: %s", what, sqlite3_errmsg(db));
	if (xrc == SQLITE_IOERR_DATA)
		return RK_ECRYPTO;
	switch (xrc & 0xff) {
	case SQLITE_NOMEM:
		return RK_ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return RK_EBUSY;
	case SQLITE_FULL:
		return RK_EFULL;
	case SQLITE_IOERR:
		return RK_EIO;
	default:
		return RK_EDB;
	}
}

static int
pragma_int(sqlite3 *db, const char *sql, sqlite3_int64 *out)
{
	sqlite3_stmt *st = NULL;
	int err;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		err = db_err(db, sql);
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	err = 0;
out:
	sqlite3_finalize(st);
	return err;
}

int
vfs_prepare_new_db(struct sqlite3 *db)
{
	static const char set_page_size[] =
	    "PRAGMA page_size = " STR(VFS_PAGE_SIZE);
	sqlite3_int64 pages, page_size;
	int reserve, rc, err;

	/* Reading the page count reads page 1 under lock, so what follows
	 * sees the database's real settings (and a wrong key fails here). */
	if ((err = pragma_int(db, "PRAGMA page_count", &pages)) != 0)
		return err;
	if (pages == 0) {
		if (sqlite3_exec(db, set_page_size, NULL, NULL, NULL) !=
		    SQLITE_OK)
			return db_err(db, set_page_size);
		/* Handled by SQLite's core (it sets the btree's reserve for
		 * the first write); it never reaches our xFileControl. */
		reserve = VFS_RESERVE;
		rc = sqlite3_file_control(db, "main",
		    SQLITE_FCNTL_RESERVE_BYTES, &reserve);
		if (rc != SQLITE_OK) {
			log_warnx("setting reserved bytes: %s",
			    sqlite3_errstr(rc));
			return RK_EDB;
		}
	}
	if ((err = pragma_int(db, "PRAGMA page_size", &page_size)) != 0)
		return err;
	reserve = -1;	/* -1 reads without changing */
	rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
	    &reserve);
	if (rc != SQLITE_OK) {
		log_warnx("reading reserved bytes: %s", sqlite3_errstr(rc));
		return RK_EDB;
	}
	if (page_size != VFS_PAGE_SIZE || reserve < VFS_RESERVE) {
		log_warnx("database has page size %lld and %d reserved bytes; "
		    "encryption needs %d and at least %d", (long long)page_size,
		    reserve, VFS_PAGE_SIZE, VFS_RESERVE);
		return pages == 0 ? RK_EDB : RK_EINVAL;
	}
	return 0;
}
