/* A VFS over SQLite's default one that writes a WAL file's frames in
 * fewer write(2) calls (walbuf.c). */
#ifndef CM_DB_WALBUF_H
#define CM_DB_WALBUF_H

/* The name to pass to sqlite3_open_v2 for a connection that writes: the
 * VFS registered on first use (not as the default), or NULL (SQLite's
 * default VFS) when it could not be. Safe from any thread. It initialises
 * SQLite: any sqlite3_config must come first (sqlite.c's memstatus_off).
 * Only for connections with synchronous=FULL (or EXTRA): the commit's sync
 * is what writes its frames before other connections can see them. */
const char *walbuf_vfs(void);

#endif
