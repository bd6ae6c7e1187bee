/* Event names and the outbox writer shared by every exit module. */
#include "exit/exit.h"

#include <stdio.h>
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
