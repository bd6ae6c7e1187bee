/* libpq.so.5, loaded on first use (util/dynlib.h). Modules include this header
 * instead of the library's own and call its functions by their usual names.
 * The callers' first-use check is dl_pq_load(). */
#ifndef CM_UTIL_DL_PQ_H
#define CM_UTIL_DL_PQ_H

#include "util/dynlib.h"
#include "util/err.h"

#include <libpq-fe.h>

/* Every function of the library that certmint (and its tests) calls. */
#define DL_PQ_FUNCS(X)                                                                             \
    X(PQclear)                                                                                     \
    X(PQcmdStatus)                                                                                 \
    X(PQcmdTuples)                                                                                 \
    X(PQconnectdb)                                                                                 \
    X(PQconnectdbParams)                                                                           \
    X(PQconninfoFree)                                                                              \
    X(PQconninfoParse)                                                                             \
    X(PQconsumeInput)                                                                              \
    X(PQenterPipelineMode)                                                                         \
    X(PQerrorMessage)                                                                              \
    X(PQescapeIdentifier)                                                                          \
    X(PQexec)                                                                                      \
    X(PQexecParams)                                                                                \
    X(PQexecPrepared)                                                                              \
    X(PQexitPipelineMode)                                                                          \
    X(PQfinish)                                                                                    \
    X(PQfreemem)                                                                                   \
    X(PQftype)                                                                                     \
    X(PQgetResult)                                                                                 \
    X(PQgetisnull)                                                                                 \
    X(PQgetvalue)                                                                                  \
    X(PQnfields)                                                                                   \
    X(PQnotifies)                                                                                  \
    X(PQntuples)                                                                                   \
    X(PQpipelineStatus)                                                                            \
    X(PQpipelineSync)                                                                              \
    X(PQprepare)                                                                                   \
    X(PQreset)                                                                                     \
    X(PQresultErrorField)                                                                          \
    X(PQresultErrorMessage)                                                                        \
    X(PQresultStatus)                                                                              \
    X(PQsendQueryParams)                                                                           \
    X(PQsendQueryPrepared)                                                                         \
    X(PQsocket)                                                                                    \
    X(PQstatus)                                                                                    \
    X(PQtransactionStatus)                                                                         \
    X(PQunescapeBytea)

struct dl_pq_api {
    DL_PQ_FUNCS(DL_MEMBER)
};

/* Loads libpq.so.5 once for the whole process; CM_OK when it is usable, else
 * one error naming `user` (the module), the soname and the reason. */
cm_err dl_pq_load(const char *user) CM_MUST_USE;

/* The loaded table (aborts if dl_pq_load never succeeded). */
const struct dl_pq_api *dl_pq(void);

#ifndef DL_NO_CALL_NAMES
#define PQclear (dl_pq()->PQclear)
#define PQcmdStatus (dl_pq()->PQcmdStatus)
#define PQcmdTuples (dl_pq()->PQcmdTuples)
#define PQconnectdb (dl_pq()->PQconnectdb)
#define PQconnectdbParams (dl_pq()->PQconnectdbParams)
#define PQconninfoFree (dl_pq()->PQconninfoFree)
#define PQconninfoParse (dl_pq()->PQconninfoParse)
#define PQconsumeInput (dl_pq()->PQconsumeInput)
#define PQenterPipelineMode (dl_pq()->PQenterPipelineMode)
#define PQerrorMessage (dl_pq()->PQerrorMessage)
#define PQescapeIdentifier (dl_pq()->PQescapeIdentifier)
#define PQexec (dl_pq()->PQexec)
#define PQexecParams (dl_pq()->PQexecParams)
#define PQexecPrepared (dl_pq()->PQexecPrepared)
#define PQexitPipelineMode (dl_pq()->PQexitPipelineMode)
#define PQfinish (dl_pq()->PQfinish)
#define PQfreemem (dl_pq()->PQfreemem)
#define PQftype (dl_pq()->PQftype)
#define PQgetResult (dl_pq()->PQgetResult)
#define PQgetisnull (dl_pq()->PQgetisnull)
#define PQgetvalue (dl_pq()->PQgetvalue)
#define PQnfields (dl_pq()->PQnfields)
#define PQnotifies (dl_pq()->PQnotifies)
#define PQntuples (dl_pq()->PQntuples)
#define PQpipelineStatus (dl_pq()->PQpipelineStatus)
#define PQpipelineSync (dl_pq()->PQpipelineSync)
#define PQprepare (dl_pq()->PQprepare)
#define PQreset (dl_pq()->PQreset)
#define PQresultErrorField (dl_pq()->PQresultErrorField)
#define PQresultErrorMessage (dl_pq()->PQresultErrorMessage)
#define PQresultStatus (dl_pq()->PQresultStatus)
#define PQsendQueryParams (dl_pq()->PQsendQueryParams)
#define PQsendQueryPrepared (dl_pq()->PQsendQueryPrepared)
#define PQsocket (dl_pq()->PQsocket)
#define PQstatus (dl_pq()->PQstatus)
#define PQtransactionStatus (dl_pq()->PQtransactionStatus)
#define PQunescapeBytea (dl_pq()->PQunescapeBytea)
DL_PQ_FUNCS(DL_CHECK_CALL_NAME)
#endif

#endif
