/* A VFS over SQLite's default one that writes a WAL file's frames in
 * fewer write(2) calls (walbuf.c). */
#ifndef CM_DB_WALBUF_H
#define CM_DB_WALBUF_H

/* The name to pass to sqlite3_open_v2 for a connection that writes: the
 * VFS registered on first use (not as the default), or NULL (SQLite's
 * default VFS) when it could not be. Safe from any thread. */
const char *walbuf_vfs(void);

#endif
