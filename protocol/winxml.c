#include "protocol/winxml.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

#define DEFAULT_MAX_BYTES  ((size_t)16 << 20)
#define DEFAULT_MAX_DEPTH  64
#define DEFAULT_MAX_MEMORY ((size_t)64 << 20)

void winxml_limits_default(struct winxml_limits *l)
{
    l->max_bytes = DEFAULT_MAX_BYTES;
    l->max_depth = DEFAULT_MAX_DEPTH;
    l->max_memory = DEFAULT_MAX_MEMORY;
}

const char *winxml_error_name(enum winxml_error e)
{
    switch (e) {
    case WINXML_OK:
        return "ok";
    case WINXML_ERR_SYNTAX:
        return "syntax";
    case WINXML_ERR_NOT_EVENT:
        return "not-event";
    case WINXML_ERR_DOCTYPE:
        return "doctype";
    case WINXML_ERR_ENTITY:
        return "entity";
    case WINXML_ERR_DEPTH:
        return "depth";
    case WINXML_ERR_SIZE:
        return "size";
    case WINXML_ERR_MEMORY:
        return "memory";
    case WINXML_ERR_NOMEM:
        return "nomem";
    }
    return "unknown";
}

/* ---- Memory: every allocation is counted against the limit before it is made ------------- */

struct budget {
    size_t used, max;
    bool refused; /* an allocation was refused for the limit (not by malloc) */
};

/* expat's allocator takes no context: the budget of the parse running on this thread. */
static _Thread_local struct budget *tl_budget;

/* Each block of expat's starts with its size, in a header that keeps the block aligned. */
#define HDR _Alignof(max_align_t)

static bool budget_take(struct budget *b, size_t n)
{
    if (n > b->max - b->used) {
        b->refused = true;
        return false;
    }
    b->used += n;
    return true;
}

static void *mm_malloc(size_t n)
{
    struct budget *b = tl_budget;
    if (n > SIZE_MAX - HDR || !budget_take(b, n + HDR))
        return NULL;
    unsigned char *p = malloc(n + HDR);
    if (!p) {
        b->used -= n + HDR;
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    return p + HDR;
}

static void mm_free(void *q)
{
    if (!q)
        return;
    unsigned char *p = (unsigned char *)q - HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    tl_budget->used -= n + HDR;
    free(p);
}

static void *mm_realloc(void *q, size_t n)
{
    if (!q)
        return mm_malloc(n);
    struct budget *b = tl_budget;
    unsigned char *p = (unsigned char *)q - HDR;
    size_t old;
    memcpy(&old, p, sizeof(old));
    if (n > SIZE_MAX - HDR || (n > old && !budget_take(b, n - old)))
        return NULL;
    unsigned char *r = realloc(p, n + HDR);
    if (!r) {
        if (n > old)
            b->used -= n - old;
        return NULL;
    }
    if (n < old)
        b->used -= old - n;
    memcpy(r, &n, sizeof(n));
    return r + HDR;
}

/* ---- Characters XML reads ----------------------------------------------------------------- */

/* How many bytes at P (N > 0) make one character XML 1.0 allows, 0 when they do not. */
static size_t xml_char_len(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    if (c < 0x80)
        return c >= 0x20 || c == '\t' || c == '\n' || c == '\r' ? 1 : 0;
    size_t l = utf8_seq_len(p, n);
    if (l == 3 && c == 0xEF && (unsigned char)p[1] == 0xBF && (unsigned char)p[2] >= 0xBE)
        return 0; /* U+FFFE, U+FFFF */
    return l;
}

/* The bytes a position takes when it is not a character: U+FFFE and U+FFFF whole, else one. */
static size_t bad_len(const char *p, size_t n)
{
    return n >= 3 && utf8_seq_len(p, n) == 3 ? 3 : 1;
}

/* The length of the N bytes at P once every bad position is U+FFFD; *BAD says whether any is. */
static size_t mended_len(const char *p, size_t n, bool *bad)
{
    size_t out = 0;
    *bad = false;
    for (size_t i = 0; i < n;) {
        size_t l = xml_char_len(p + i, n - i);
        if (l) {
            out += l;
            i += l;
        } else {
            out += 3;
            i += bad_len(p + i, n - i);
            *bad = true;
        }
    }
    return out;
}

static void mend(char *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = xml_char_len(p + i, n - i);
        if (l) {
            memcpy(out, p + i, l);
            out += l;
            i += l;
        } else {
            memcpy(out, UTF8_REPLACEMENT, 3);
            out += 3;
            i += bad_len(p + i, n - i);
        }
    }
}

/* ---- Reading -------------------------------------------------------------------------------- */

/* An item while the text may still move: offsets into the text. */
struct ritem {
    enum winxml_field field;
    bool has_name;
    size_t name_off, name_len, value_off, value_len;
};

enum section { SEC_NONE, SEC_SYSTEM, SEC_EVENTDATA };

struct reader {
    XML_Parser parser;
    struct budget budget;
    size_t max_depth;
    size_t depth; /* of the element being read: the root is 1 */
    enum section section;
    enum winxml_error error;
    bool stopped, done;
    /* The depth-3 element whose text is read (System's text fields, EventData's Data). */
    bool collecting;
    enum winxml_field leaf;
    bool leaf_has_name;
    size_t leaf_name_off, leaf_name_len, leaf_text_off;
    /* The result, growing; the capacities are counted in BUDGET. */
    struct ritem *items;
    size_t count, items_cap;
    char *text;
    size_t text_len, text_cap;
};

static void stop(struct reader *r, enum winxml_error e)
{
    if (r->stopped)
        return;
    r->stopped = true;
    r->error = e;
    XML_StopParser(r->parser, XML_FALSE);
}

static void stop_nomem(struct reader *r)
{
    stop(r, r->budget.refused ? WINXML_ERR_MEMORY : WINXML_ERR_NOMEM);
}

/* Grows the array at *P (*CAP elements of SIZE bytes) to hold at least NEED, within the budget. */
static bool grow(struct reader *r, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t want = *cap ? *cap : 16;
    while (want < need) {
        if (want > SIZE_MAX / 2 / size)
            return false;
        want *= 2;
    }
    if (!budget_take(&r->budget, (want - *cap) * size))
        return false;
    void *q = realloc(*p, want * size);
    if (!q) {
        r->budget.used -= (want - *cap) * size;
        return false;
    }
    *p = q;
    *cap = want;
    return true;
}

static bool text_append(struct reader *r, const char *s, size_t n)
{
    if (n == 0)
        return true; /* TEXT may still be NULL */
    if (n > SIZE_MAX - r->text_len ||
        !grow(r, (void **)&r->text, &r->text_cap, r->text_len + n, 1)) {
        stop_nomem(r);
        return false;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    return true;
}

/* Ends the string that started at OFF in the text with a NUL; its length in *LEN. */
static bool text_end(struct reader *r, size_t off, size_t *len)
{
    *len = r->text_len - off;
    return text_append(r, "", 1); /* the NUL */
}

static void add_item(struct reader *r, enum winxml_field f, bool has_name, size_t name_off,
                     size_t name_len, size_t value_off, size_t value_len)
{
    if (!grow(r, (void **)&r->items, &r->items_cap, r->count + 1, sizeof(*r->items))) {
        stop_nomem(r);
        return;
    }
    r->items[r->count++] = (struct ritem){f, has_name, name_off, name_len, value_off, value_len};
}

/* A copy of S in the text; its offset and length in *OFF and *LEN. */
static bool text_copy(struct reader *r, const char *s, size_t *off, size_t *len)
{
    *off = r->text_len;
    return text_append(r, s, strlen(s)) && text_end(r, *off, len);
}

static const char *attr(const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2) {
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    }
    return NULL;
}

/* The attribute NAME of ATTS, when there, as an item F. */
static void attr_item(struct reader *r, const XML_Char **atts, const char *name,
                      enum winxml_field f)
{
    const char *v = attr(atts, name);
    size_t off, len;
    if (v && !r->stopped && text_copy(r, v, &off, &len))
        add_item(r, f, false, 0, 0, off, len);
}

/* System's children read for their attributes, and those read for their text. */
static const struct {
    const char *element, *attribute;
    enum winxml_field field;
} system_attrs[] = {
    {"Provider", "Name", WINXML_PROVIDER_NAME},         {"Provider", "Guid", WINXML_PROVIDER_GUID},
    {"TimeCreated", "SystemTime", WINXML_TIME_CREATED}, {"Security", "UserID", WINXML_USER_ID},
    {"Execution", "ProcessID", WINXML_PROCESS_ID},      {"Execution", "ThreadID", WINXML_THREAD_ID},
};

static const struct {
    const char *element;
    enum winxml_field field;
} system_texts[] = {
    {"EventID", WINXML_EVENT_ID},        {"Version", WINXML_VERSION},
    {"EventRecordID", WINXML_RECORD_ID}, {"Channel", WINXML_CHANNEL},
    {"Computer", WINXML_COMPUTER},
};

static void collect(struct reader *r, enum winxml_field f)
{
    r->collecting = true;
    r->leaf = f;
    r->leaf_text_off = r->text_len;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct reader *r = ud;
    if (r->stopped)
        return;
    if (++r->depth > r->max_depth) {
        stop(r, WINXML_ERR_DEPTH);
        return;
    }
    if (r->depth == 1) {
        if (strcmp(name, "Event") != 0)
            stop(r, WINXML_ERR_NOT_EVENT);
    } else if (r->depth == 2) {
        r->section = strcmp(name, "System") == 0      ? SEC_SYSTEM
                     : strcmp(name, "EventData") == 0 ? SEC_EVENTDATA
                                                      : SEC_NONE;
    } else if (r->depth == 3 && r->section == SEC_SYSTEM) {
        for (size_t i = 0; i < sizeof(system_attrs) / sizeof(system_attrs[0]); i++) {
            if (strcmp(name, system_attrs[i].element) == 0)
                attr_item(r, atts, system_attrs[i].attribute, system_attrs[i].field);
        }
        for (size_t i = 0; i < sizeof(system_texts) / sizeof(system_texts[0]); i++) {
            if (strcmp(name, system_texts[i].element) == 0)
                collect(r, system_texts[i].field);
        }
    } else if (r->depth == 3 && r->section == SEC_EVENTDATA && strcmp(name, "Data") == 0) {
        const char *n = attr(atts, "Name");
        r->leaf_has_name = n != NULL;
        if (n && !text_copy(r, n, &r->leaf_name_off, &r->leaf_name_len))
            return;
        collect(r, WINXML_DATA);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct reader *r = ud;
    (void)name;
    if (r->stopped)
        return;
    if (r->depth == 3 && r->collecting) {
        r->collecting = false;
        size_t len;
        if (!text_end(r, r->leaf_text_off, &len))
            return;
        bool named = r->leaf == WINXML_DATA && r->leaf_has_name;
        add_item(r, r->leaf, named, named ? r->leaf_name_off : 0, named ? r->leaf_name_len : 0,
                 r->leaf_text_off, len);
        r->leaf_has_name = false;
    } else if (r->depth == 2) {
        r->section = SEC_NONE;
    }
    if (--r->depth == 0) {
        r->done = true;
        stop(r, WINXML_OK); /* what follows the root is not read */
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct reader *r = ud;
    if (!r->stopped && r->collecting && r->depth == 3 && len > 0)
        text_append(r, s, (size_t)len);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(ud, WINXML_ERR_DOCTYPE);
}

/* Never reached with the DOCTYPE refused; kept so that no entity is ever declared. */
static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    stop(ud, WINXML_ERR_DOCTYPE);
}

static enum winxml_error expat_error(const struct reader *r)
{
    switch (XML_GetErrorCode(r->parser)) {
    case XML_ERROR_NO_MEMORY:
        return r->budget.refused ? WINXML_ERR_MEMORY : WINXML_ERR_NOMEM;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
        return WINXML_ERR_ENTITY;
    default:
        return WINXML_ERR_SYNTAX;
    }
}

/* Runs expat over the N bytes at P (mended when BAD says so). */
static void run(struct reader *r, const char *p, size_t n, size_t m, bool bad)
{
    static const XML_Memory_Handling_Suite mm = {mm_malloc, mm_realloc, mm_free};
    r->parser = XML_ParserCreate_MM("UTF-8", &mm, NULL);
    if (!r->parser) {
        r->error = r->budget.refused ? WINXML_ERR_MEMORY : WINXML_ERR_NOMEM;
        return;
    }
    XML_SetUserData(r->parser, r);
    XML_SetElementHandler(r->parser, on_start, on_end);
    XML_SetCharacterDataHandler(r->parser, on_text);
    XML_SetStartDoctypeDeclHandler(r->parser, on_doctype);
    XML_SetEntityDeclHandler(r->parser, on_entity_decl);
    XML_SetParamEntityParsing(r->parser, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st;
    if (m == 0) {
        st = XML_Parse(r->parser, "", 0, XML_TRUE);
    } else {
        char *buf = XML_GetBuffer(r->parser, (int)m);
        if (!buf) {
            r->error = r->budget.refused ? WINXML_ERR_MEMORY : WINXML_ERR_NOMEM;
            XML_ParserFree(r->parser);
            return;
        }
        if (bad)
            mend(buf, p, n);
        else
            memcpy(buf, p, n);
        st = XML_ParseBuffer(r->parser, (int)m, XML_TRUE);
    }
    if (!r->stopped && st != XML_STATUS_OK)
        r->error = expat_error(r);
    else if (!r->stopped)
        r->error = WINXML_ERR_SYNTAX; /* not reached: a whole document ends in on_end */
    XML_ParserFree(r->parser);
}

static int code(enum winxml_error e)
{
    switch (e) {
    case WINXML_OK:
        return 0;
    case WINXML_ERR_DEPTH:
    case WINXML_ERR_SIZE:
    case WINXML_ERR_MEMORY:
        return -EMSGSIZE;
    case WINXML_ERR_NOMEM:
        return -ENOMEM;
    default:
        return -EBADMSG;
    }
}

int winxml_parse(const char *p, size_t n, const struct winxml_limits *limits,
                 struct winxml_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (!p && n)
        return -EINVAL;
    struct winxml_limits defaults;
    if (!limits) {
        winxml_limits_default(&defaults);
        limits = &defaults;
    }
    if (n > limits->max_bytes) {
        ev->error = WINXML_ERR_SIZE;
        return -EMSGSIZE;
    }
    bool bad;
    size_t m = mended_len(p ? p : "", n, &bad);
    if (m > INT_MAX) {
        ev->error = WINXML_ERR_SIZE;
        return -EMSGSIZE;
    }
    struct reader r = {.budget = {0, limits->max_memory, false}, .max_depth = limits->max_depth};
    struct budget *outer = tl_budget;
    tl_budget = &r.budget;
    run(&r, p, n, m, bad);
    tl_budget = outer;

    ev->error = r.error;
    ev->mended = bad;
    if (r.count) {
        /* Counted like the rest, though expat's memory is already given back. */
        bool room = budget_take(&r.budget, r.count * sizeof(*ev->items));
        ev->items = room ? malloc(r.count * sizeof(*ev->items)) : NULL;
        if (!ev->items) {
            ev->error = room ? WINXML_ERR_NOMEM : WINXML_ERR_MEMORY;
            r.count = 0;
        }
    }
    for (size_t i = 0; i < r.count; i++) {
        const struct ritem *it = &r.items[i];
        ev->items[i] = (struct winxml_item){
            .field = it->field,
            .name = it->has_name ? r.text + it->name_off : NULL,
            .name_len = it->name_len,
            .value = r.text + it->value_off,
            .value_len = it->value_len,
        };
    }
    ev->count = r.count;
    ev->text_ = r.text;
    free(r.items);
    return code(ev->error);
}

void winxml_event_free(struct winxml_event *ev)
{
    if (!ev)
        return;
    free(ev->items);
    free(ev->text_);
    memset(ev, 0, sizeof(*ev));
}
