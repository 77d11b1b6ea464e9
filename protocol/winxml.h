/* Windows event XML: the <Event> document the Windows event log renders (EvtRender, Event
 * Viewer's XML view, NXLog's and WEF's forwarded events), read from untrusted bytes by expat.
 * Only what detection maps is returned, as items in document order:
 *
 *   <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">   the root
 *     <System>
 *       <Provider Name="..." Guid="..."/>          WINXML_PROVIDER_NAME, WINXML_PROVIDER_GUID
 *       <EventID Qualifiers="...">13</EventID>      WINXML_EVENT_ID (its text)
 *       <Version>2</Version>                        WINXML_VERSION
 *       <TimeCreated SystemTime="..."/>             WINXML_TIME_CREATED
 *       <EventRecordID>482210</EventRecordID>       WINXML_RECORD_ID
 *       <Execution ProcessID="..." ThreadID="..."/> WINXML_PROCESS_ID, WINXML_THREAD_ID
 *       <Channel>...</Channel>                      WINXML_CHANNEL
 *       <Computer>...</Computer>                    WINXML_COMPUTER
 *       <Security UserID="..."/>                    WINXML_USER_ID
 *     </System>
 *     <EventData>
 *       <Data Name="TargetObject">...</Data>        WINXML_DATA, one per Data element
 *     </EventData>
 *   </Event>
 *
 * - An attribute gives an item at its element's start tag, when the attribute is there (Name
 *   before Guid, ProcessID before ThreadID, whatever their order in the tag); an element's text
 *   gives one at its end tag, even when empty. Every Data child of EventData gives a
 *   WINXML_DATA item, named by its Name attribute or unnamed, its value possibly empty, so the
 *   caller can number unnamed ones by position (Winlogbeat's param1, param2, ...).
 * - Text is an element's own character data (not its children's), entities and character
 *   references decoded, CDATA sections as they are, line ends as XML reads them (CR LF and CR
 *   become LF; in attribute values TAB, CR and LF become spaces). Nothing is trimmed.
 * - Elements are matched by their name as written (no namespace processing): the root must be
 *   "Event"; System and EventData are its children, the fields theirs. Everything else (Level,
 *   Task, Keywords, UserData, RenderingInfo, other attributes, comments, processing
 *   instructions) is read and left out. Nothing after the root's end tag is read.
 * - Bytes that are not UTF-8, and the characters XML 1.0 forbids (the C0 controls other than
 *   TAB, CR and LF; U+FFFE, U+FFFF), are read as U+FFFD, so values are always well-formed UTF-8
 *   without NUL, and a record is not lost for one bad byte (EV->mended says it happened). The
 *   document is read as UTF-8 whatever its XML declaration says.
 *
 * Hostile input: no DTD is read. A document type declaration stops the parser
 * (WINXML_ERR_DOCTYPE) before any of it is processed, so no entity can be declared, internal or
 * external, and a reference to anything but the five predefined entities and character
 * references is an error (WINXML_ERR_ENTITY); expat's protection against entity amplification
 * stays on. A document longer than LIMITS->max_bytes is refused before anything is allocated;
 * elements nested deeper than max_depth stop the parser; every allocation, expat's own and the
 * result's, is counted against max_memory before it is made.
 *
 * Pure functions: any thread may call them on buffers it owns. */
#ifndef AMSI_PROTOCOL_WINXML_H
#define AMSI_PROTOCOL_WINXML_H

#include <stdbool.h>
#include <stddef.h>

struct winxml_limits {
    size_t max_bytes;  /* of the document (default 16 MiB, the largest syslog message) */
    size_t max_depth;  /* element nesting, the root at depth 1 (default 64) */
    size_t max_memory; /* bytes allocated at once, expat's and the result's (default 64 MiB) */
};

/* The defaults above. */
void winxml_limits_default(struct winxml_limits *l);

enum winxml_field {
    WINXML_PROVIDER_NAME, /* System/Provider @Name */
    WINXML_PROVIDER_GUID, /* System/Provider @Guid */
    WINXML_EVENT_ID,      /* System/EventID text */
    WINXML_VERSION,       /* System/Version text */
    WINXML_TIME_CREATED,  /* System/TimeCreated @SystemTime */
    WINXML_RECORD_ID,     /* System/EventRecordID text */
    WINXML_PROCESS_ID,    /* System/Execution @ProcessID */
    WINXML_THREAD_ID,     /* System/Execution @ThreadID */
    WINXML_CHANNEL,       /* System/Channel text */
    WINXML_COMPUTER,      /* System/Computer text */
    WINXML_USER_ID,       /* System/Security @UserID */
    WINXML_DATA,          /* EventData/Data: NAME its @Name, VALUE its text */
};

struct winxml_item {
    enum winxml_field field;
    const char *name; /* WINXML_DATA: the Name attribute, NUL-terminated; NULL when absent */
    size_t name_len;
    const char *value; /* NUL-terminated UTF-8 */
    size_t value_len;
};

enum winxml_error {
    WINXML_OK = 0,        /* read to the end tag of <Event> */
    WINXML_ERR_SYNTAX,    /* not well-formed (expat's error), or cut short before </Event> */
    WINXML_ERR_NOT_EVENT, /* the root element is not <Event> */
    WINXML_ERR_DOCTYPE,   /* a document type declaration: DTDs are refused */
    WINXML_ERR_ENTITY,    /* a reference to an entity that is not predefined */
    WINXML_ERR_DEPTH,     /* elements nested deeper than max_depth */
    WINXML_ERR_SIZE,      /* the document is longer than max_bytes */
    WINXML_ERR_MEMORY,    /* reading it would allocate more than max_memory */
    WINXML_ERR_NOMEM,     /* out of memory */
};

struct winxml_event {
    struct winxml_item *items; /* in document order; owned, with the text they point to */
    size_t count;
    enum winxml_error error; /* why reading stopped before </Event>; WINXML_OK when it did not */
    bool mended;             /* some bytes were read as U+FFFD (see above) */
    char *text_;             /* private: the storage of names and values */
};

/* Reads the N bytes at P (one document; P may be NULL when N is 0) into *EV, with LIMITS (NULL:
 * the defaults). Reading stops at the first error; the items complete before it stay in EV, so
 * a document cut short keeps the fields before the cut. Returns 0 (WINXML_OK), -EBADMSG (syntax,
 * not an Event, DOCTYPE, entity), -EMSGSIZE (size, depth, memory) or -ENOMEM, EV->error saying
 * which, or -EINVAL (P NULL with N > 0). EV is always filled, to be released with
 * winxml_event_free. */
int winxml_parse(const char *p, size_t n, const struct winxml_limits *limits,
                 struct winxml_event *ev);

/* Releases what winxml_parse filled in EV (and empties it). NULL: no-op. */
void winxml_event_free(struct winxml_event *ev);

/* A short stable name of an error ("doctype"); "ok" for WINXML_OK. Never NULL. */
const char *winxml_error_name(enum winxml_error e);

#endif
