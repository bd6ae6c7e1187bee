/* Event names, the outbox writer and event filters (event/event.h). */
#include "event/event.h"

#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const struct {
    int bit;
    const char *name;
} event_names[] = {
    {EXIT_EV_CERTISSUED, "CERTISSUED"},
    {EXIT_EV_CERTPENDING, "CERTPENDING"},
    {EXIT_EV_CERTDENIED, "CERTDENIED"},
    {EXIT_EV_CERTREVOKED, "CERTREVOKED"},
    {EXIT_EV_CERTRETRIEVEPENDING, "CERTRETRIEVEPENDING"},
    {EXIT_EV_CRLISSUED, "CRLISSUED"},
    {EXIT_EV_SHUTDOWN, "SHUTDOWN"},
    {EXIT_EV_STARTUP, "STARTUP"},
    {EXIT_EV_CERTUNREVOKED, "CERTUNREVOKED"},
    {EXIT_EV_CERTIMPORTED, "CERTIMPORTED"},
    {EXIT_EV_CERTEXPIRING, "CERTEXPIRING"},
    {EXIT_EV_EXITPOISONED, "EXITPOISONED"},
    {EXIT_EV_KEYARCHIVED, "KEYARCHIVED"},
    {EXIT_EV_KEYRECOVERYREQUESTED, "KEYRECOVERYREQUESTED"},
    {EXIT_EV_KEYRECOVERED, "KEYRECOVERED"},
};

const char *exit_event_name(int ev)
{
    for (size_t i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++)
        if (event_names[i].bit == ev)
            return event_names[i].name;
    return NULL;
}

int exit_event_parse(const char *name)
{
    /* AD CS's names in certexit.h: EXITEVENT_CERTISSUED. */
    if (strncasecmp(name, "EXITEVENT_", 10) == 0)
        name += 10;
    for (size_t i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++)
        if (strcasecmp(event_names[i].name, name) == 0)
            return event_names[i].bit;
    return 0;
}

cm_err exit_raise(db_t *db, int ev, int64_t request_id, const char *serial, const char *payload)
{
    struct db_event e;

    memset(&e, 0, sizeof(e));
    e.type = ev;
    e.request_id = request_id;
    if (serial)
        snprintf(e.serial, sizeof(e.serial), "%s", serial);
    e.created = (int64_t)time(NULL);
    e.payload = (char *)payload;
    return db_event_enqueue(db, &e);
}

cm_err exit_filter_parse(int *out, const char *old, const char *in)
{
    char buf[1024], *save = NULL, *tok;
    int mask = 0, relative = 0, absolute = 0;

    while (*in == ' ')
        in++;
    if (*in >= '0' && *in <= '9') {
        char *end = NULL;
        long v;
        errno = 0;
        v = strtol(in, &end, 0);
        if (errno != 0 || end == in || *end != '\0' || v < 0 || v > EXIT_EV_ALL)
            return cm_err_set(CM_ERR_CONFIG, "event filter '%s': not a mask of 0..0x%x", in,
                              EXIT_EV_ALL);
        *out = (int)v;
        return CM_OK;
    }
    if (strlen(in) >= sizeof(buf))
        return cm_err_set(CM_ERR_CONFIG, "event filter: too long");
    {
        /* Every comma separates two names: no empty item. */
        const char *p = in;
        int empty = 1;
        for (; *p; p++) {
            if (*p == ',') {
                if (empty)
                    return cm_err_set(CM_ERR_CONFIG, "event filter '%s': empty event name", in);
                empty = 1;
            } else if (*p != ' ') {
                empty = 0;
            }
        }
        if (empty && strchr(in, ',') != NULL)
            return cm_err_set(CM_ERR_CONFIG, "event filter '%s': empty event name", in);
    }
    memcpy(buf, in, strlen(in) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (*tok == '+' || *tok == '-')
            relative = 1;
        else
            absolute = 1;
    if (relative && absolute)
        return cm_err_set(CM_ERR_CONFIG,
                          "event filter '%s': mix of names and +/- edits (use one or the other)",
                          in);
    if (relative && old != NULL && *old != '\0') {
        cm_err rc = exit_filter_parse(&mask, NULL, old);
        if (rc != CM_OK)
            return rc;
    }
    memcpy(buf, in, strlen(in) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int sign = 0, bit;
        if (*tok == '+' || *tok == '-')
            sign = *tok++;
        if (strcasecmp(tok, "ALL") == 0)
            bit = EXIT_EV_ALL;
        else if (strcasecmp(tok, "NONE") == 0 && !sign)
            bit = 0;
        else if ((bit = exit_event_parse(tok)) == 0)
            return cm_err_set(CM_ERR_CONFIG,
                              "event filter: unknown event '%s' (CERTISSUED, CERTPENDING, "
                              "CERTDENIED, CERTREVOKED, CERTRETRIEVEPENDING, CRLISSUED, SHUTDOWN, "
                              "STARTUP, CERTUNREVOKED, CERTIMPORTED, CERTEXPIRING, EXITPOISONED, "
                              "KEYARCHIVED, KEYRECOVERYREQUESTED, KEYRECOVERED, ALL; AD CS's EXITEVENT_ prefix is accepted)",
                              tok);
        if (sign == '-')
            mask &= ~bit;
        else
            mask |= bit;
    }
    *out = mask;
    return CM_OK;
}

void exit_filter_names(char *buf, size_t bufsz, int mask)
{
    size_t n = 0;
    buf[0] = '\0';
    if (mask == 0) {
        snprintf(buf, bufsz, "NONE");
        return;
    }
    for (int bit = 1; bit <= EXIT_EV_ALL; bit <<= 1) {
        if (!(mask & bit))
            continue;
        n = strlen(buf);
        snprintf(buf + n, bufsz - n, "%s%s", n ? "," : "", exit_event_name(bit));
    }
}

/* exit.MODULE.eventfilter: AD CS's EventFilter as a number or event names,
 * edited with +NAME / -NAME (the `certutil -setreg` of certmint). Stored as
 * names so the file reads well. */
cm_err exit_check_eventfilter(char **out, const struct config_key *k, const char *old,
                              const char *in)
{
    char names[512];
    int mask = 0;
    cm_err rc = exit_filter_parse(&mask, old ? old : k->def, in);
    if (rc != CM_OK)
        return rc;
    exit_filter_names(names, sizeof(names), mask);
    *out = strdup(names);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}
