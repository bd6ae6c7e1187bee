/* SQLite writes each WAL frame as two write(2) calls (its 24-byte header,
 * then the page), each a costly system call on the writer's thread: a
 * 10,000-request submit made ~7,000 of them (issue 10). This VFS is
 * SQLite's default one ("unix") except for WAL files, whose contiguous
 * writes it gathers in a buffer and writes as one call when anything else
 * touches the file: a sync, a read, a truncate, its size, a file control,
 * its close, a write elsewhere in it, or a full buffer.
 *
 * Nothing gets lost or reordered: writes reach the file in SQLite's order
 * (a non-contiguous write first flushes what is gathered), and a commit
 * syncs the WAL (synchronous=FULL) before it publishes the new frames in
 * the wal-index, so every reader, in this process or another, finds them
 * in the file. Frames of a transaction that rolls back (a big one spills
 * pages into the WAL before its commit) are flushed before its write lock
 * is released (the database file's xShmLock), so they never land on frames
 * that another process writes after it. A failed flush is reported by the
 * call that flushed, as SQLite's own write error would have been: a failed
 * sync fails the commit. Database files are wrapped only for that unlock;
 * other files (journals, temporary files) are the default VFS's own
 * objects, untouched. */
#include "db/walbuf.h"

#include <pthread.h>
#include <stddef.h>
#include <sqlite3.h>
#include <string.h>

/* Gathered bytes at most: a group commit writes a few hundred frames of
 * 8 KiB + 24 bytes; 120 KiB turns ~28 calls into one. The default VFS
 * writes at most 128 KiB - 1 per call (unix's seekAndWriteFd masks the
 * length with 0x1ffff: a longer write would be cut short, SQLITE_FULL). */
#define WALBUF_CAP (120 * 1024)

#define WALBUF_NAME "certmint-walbuf"

struct wb_db;

/* A WAL file. */
struct wb_file {
    sqlite3_file base;  /* first: SQLite sees a sqlite3_file */
    sqlite3_file *real; /* the default VFS's file, after this struct */
    struct wb_db *db;   /* its database file; NULL: writes go straight through */
    unsigned char *buf; /* WALBUF_CAP bytes once written to, else NULL */
    size_t len;         /* gathered bytes */
    sqlite3_int64 off;  /* the file offset of buf[0] */
};

/* A main database file: open ones form a list, which a WAL file's open
 * searches for its database (the same name pointer, one per connection). */
struct wb_db {
    sqlite3_file base;
    sqlite3_file *real;
    const char *name; /* as SQLite passed it to xOpen */
    struct wb_file *wal;
    struct wb_db *next;
};

/* Where the default VFS's object starts in ours: after the bigger of the
 * two wrappers, aligned for anything (a union's size is a multiple of its
 * alignment). */
union wb_any {
    struct wb_file w;
    struct wb_db d;
    max_align_t align;
};
#define WB_REAL_OFF sizeof(union wb_any)

/* SQLite's lock slot of the WAL's one writer (wal.c's WAL_WRITE_LOCK, the
 * first of the -shm locks; part of its file format). */
#define WB_WRITE_LOCK 0

static sqlite3_vfs wb_vfs;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_ok;
static pthread_mutex_t wb_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wb_db *wb_dbs; /* under wb_mu */

#define WB(f) ((struct wb_file *)(void *)(f))
#define REAL_VFS() ((sqlite3_vfs *)wb_vfs.pAppData)

/* Writes what is gathered; drops it either way (SQLite rolls back or
 * retries the frames after an error). */
static int wb_flush(struct wb_file *w)
{
    int rc = SQLITE_OK;
    if (w->len > 0)
        rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
    w->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *f)
{
    struct wb_file *w = WB(f);
    int rc = wb_flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);

    pthread_mutex_lock(&wb_mu);
    if (w->db != NULL)
        w->db->wal = NULL;
    w->db = NULL;
    pthread_mutex_unlock(&wb_mu);
    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 ofst)
{
    struct wb_file *w = WB(f);
    int rc = wb_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, out, amt, ofst);
}

/* Gathers a write that continues the gathered bytes; otherwise flushes
 * them first, and a write as big as the buffer goes straight through. */
static int wb_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 ofst)
{
    struct wb_file *w = WB(f);
    size_t n = (size_t)amt;
    int rc;

    if (w->len > 0 && ofst == w->off + (sqlite3_int64)w->len && w->len + n <= WALBUF_CAP) {
        memcpy(w->buf + w->len, data, n);
        w->len += n;
        return SQLITE_OK;
    }
    rc = wb_flush(w);
    if (rc != SQLITE_OK)
        return rc;
    if (w->buf == NULL && n < WALBUF_CAP && w->db != NULL)
        w->buf = sqlite3_malloc(WALBUF_CAP);
    if (w->buf == NULL || n >= WALBUF_CAP)
        return w->real->pMethods->xWrite(w->real, data, amt, ofst);
    memcpy(w->buf, data, n);
    w->len = n;
    w->off = ofst;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct wb_file *w = WB(f);
    int rc = wb_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
    struct wb_file *w = WB(f);
    int rc = wb_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct wb_file *w = WB(f);
    int rc = wb_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wb_lock(sqlite3_file *f, int level)
{
    return WB(f)->real->pMethods->xLock(WB(f)->real, level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
    return WB(f)->real->pMethods->xUnlock(WB(f)->real, level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
    return WB(f)->real->pMethods->xCheckReservedLock(WB(f)->real, out);
}

/* Flushes first: a file control may look at the file (its size, its
 * descriptor). */
static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
    struct wb_file *w = WB(f);
    int rc = wb_flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
    return WB(f)->real->pMethods->xSectorSize(WB(f)->real);
}

static int wb_device_characteristics(sqlite3_file *f)
{
    return WB(f)->real->pMethods->xDeviceCharacteristics(WB(f)->real);
}

/* Version 1: SQLite maps no shared memory and no pages of a WAL file. */
static const sqlite3_io_methods wb_methods = {
    .iVersion = 1,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
};

/* ---- database files: forwarded, and the WAL flushed at the writer's unlock ---- */

#define DB(f) ((struct wb_db *)(void *)(f))
#define DREAL(f) (DB(f)->real)
#define DM(f) (DB(f)->real->pMethods)

static int wbd_close(sqlite3_file *f)
{
    struct wb_db *d = DB(f), **pp;

    pthread_mutex_lock(&wb_mu);
    for (pp = &wb_dbs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    if (d->wal != NULL)
        d->wal->db = NULL;
    d->wal = NULL;
    pthread_mutex_unlock(&wb_mu);
    return DM(f)->xClose(DREAL(f));
}

static int wbd_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 ofst)
{
    return DM(f)->xRead(DREAL(f), out, amt, ofst);
}

static int wbd_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 ofst)
{
    return DM(f)->xWrite(DREAL(f), data, amt, ofst);
}

static int wbd_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return DM(f)->xTruncate(DREAL(f), size);
}

static int wbd_sync(sqlite3_file *f, int flags)
{
    return DM(f)->xSync(DREAL(f), flags);
}

static int wbd_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return DM(f)->xFileSize(DREAL(f), size);
}

static int wbd_lock(sqlite3_file *f, int level)
{
    return DM(f)->xLock(DREAL(f), level);
}

static int wbd_unlock(sqlite3_file *f, int level)
{
    return DM(f)->xUnlock(DREAL(f), level);
}

static int wbd_check_reserved(sqlite3_file *f, int *out)
{
    return DM(f)->xCheckReservedLock(DREAL(f), out);
}

static int wbd_file_control(sqlite3_file *f, int op, void *arg)
{
    return DM(f)->xFileControl(DREAL(f), op, arg);
}

static int wbd_sector_size(sqlite3_file *f)
{
    return DM(f)->xSectorSize(DREAL(f));
}

static int wbd_device_characteristics(sqlite3_file *f)
{
    return DM(f)->xDeviceCharacteristics(DREAL(f));
}

static int wbd_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return DM(f)->xShmMap(DREAL(f), region, size, extend, out);
}

/* The writer's lock released: its transaction is over, committed (its
 * frames already flushed by the sync) or rolled back (flushed now, while
 * no other writer can append). The connection's own thread: no lock. */
static int wbd_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    struct wb_db *d = DB(f);
    if ((flags & SQLITE_SHM_UNLOCK) && offset <= WB_WRITE_LOCK && offset + n > WB_WRITE_LOCK &&
        d->wal != NULL)
        (void)wb_flush(d->wal);
    return DM(f)->xShmLock(DREAL(f), offset, n, flags);
}

static void wbd_shm_barrier(sqlite3_file *f)
{
    DM(f)->xShmBarrier(DREAL(f));
}

static int wbd_shm_unmap(sqlite3_file *f, int del)
{
    return DM(f)->xShmUnmap(DREAL(f), del);
}

static int wbd_fetch(sqlite3_file *f, sqlite3_int64 ofst, int amt, void **out)
{
    return DM(f)->xFetch(DREAL(f), ofst, amt, out);
}

static int wbd_unfetch(sqlite3_file *f, sqlite3_int64 ofst, void *p)
{
    return DM(f)->xUnfetch(DREAL(f), ofst, p);
}

static const sqlite3_io_methods wbd_methods = {
    .iVersion = 3,
    .xClose = wbd_close,
    .xRead = wbd_read,
    .xWrite = wbd_write,
    .xTruncate = wbd_truncate,
    .xSync = wbd_sync,
    .xFileSize = wbd_file_size,
    .xLock = wbd_lock,
    .xUnlock = wbd_unlock,
    .xCheckReservedLock = wbd_check_reserved,
    .xFileControl = wbd_file_control,
    .xSectorSize = wbd_sector_size,
    .xDeviceCharacteristics = wbd_device_characteristics,
    .xShmMap = wbd_shm_map,
    .xShmLock = wbd_shm_lock,
    .xShmBarrier = wbd_shm_barrier,
    .xShmUnmap = wbd_shm_unmap,
    .xFetch = wbd_fetch,
    .xUnfetch = wbd_unfetch,
};

/* ---- the VFS ---- */

/* The database of a WAL file being opened: the open database file whose
 * name SQLite allocated with the WAL's (sqlite3_filename_database). Not
 * found (a WAL opened some other way): its writes go straight through. */
static void wal_link(struct wb_file *w, const char *name)
{
    const char *dbname = sqlite3_filename_database(name);

    pthread_mutex_lock(&wb_mu);
    for (struct wb_db *d = wb_dbs; d != NULL; d = d->next)
        if (d->name == dbname && d->wal == NULL) {
            d->wal = w;
            w->db = d;
            break;
        }
    pthread_mutex_unlock(&wb_mu);
}

/* Database and WAL files are wrapped (the default VFS's object after
 * ours); any other file is the default VFS's own object, opened in place
 * (szOsFile leaves room for it). */
static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    sqlite3_file *real = (sqlite3_file *)(void *)((unsigned char *)f + WB_REAL_OFF);
    int rc;

    (void)vfs;
    if (name == NULL || !(flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB)))
        return REAL_VFS()->xOpen(REAL_VFS(), name, f, flags, out_flags);
    memset(f, 0, WB_REAL_OFF);
    rc = REAL_VFS()->xOpen(REAL_VFS(), name, real, flags, out_flags);
    /* SQLite calls xClose only on a file whose pMethods is set. */
    if (real->pMethods == NULL)
        return rc;
    if (flags & SQLITE_OPEN_WAL) {
        struct wb_file *w = WB(f);
        w->real = real;
        w->base.pMethods = &wb_methods;
        if (rc == SQLITE_OK)
            wal_link(w, name);
    } else {
        struct wb_db *d = DB(f);
        d->real = real;
        d->name = name;
        d->base.pMethods = &wbd_methods;
        pthread_mutex_lock(&wb_mu);
        d->next = wb_dbs;
        wb_dbs = d;
        pthread_mutex_unlock(&wb_mu);
    }
    return rc;
}

static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return REAL_VFS()->xDelete(REAL_VFS(), name, sync_dir);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return REAL_VFS()->xAccess(REAL_VFS(), name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return REAL_VFS()->xFullPathname(REAL_VFS(), name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return REAL_VFS()->xDlOpen(REAL_VFS(), name);
}

static void wb_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    REAL_VFS()->xDlError(REAL_VFS(), n, out);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return REAL_VFS()->xDlSym(REAL_VFS(), h, sym);
}

static void wb_dl_close(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    REAL_VFS()->xDlClose(REAL_VFS(), h);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return REAL_VFS()->xRandomness(REAL_VFS(), n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return REAL_VFS()->xSleep(REAL_VFS(), us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return REAL_VFS()->xCurrentTime(REAL_VFS(), out);
}

static int wb_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return REAL_VFS()->xGetLastError(REAL_VFS(), n, out);
}

static int wb_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return REAL_VFS()->xCurrentTimeInt64(REAL_VFS(), out);
}

static void wb_register(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);

    /* Only over "unix": its database files have the version 3 methods
     * (shared memory, mapping) that wbd_methods forwards, and its VFS the
     * version 2 ones. */
    if (real == NULL || real->zName == NULL || strcmp(real->zName, "unix") != 0 ||
        real->iVersion < 2)
        return;
    wb_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)WB_REAL_OFF + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = WALBUF_NAME,
        .pAppData = real,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    wb_ok = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *walbuf_vfs(void)
{
    (void)pthread_once(&wb_once, wb_register);
    return wb_ok ? WALBUF_NAME : NULL;
}
