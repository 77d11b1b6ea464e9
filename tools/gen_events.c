/* The event generator: see gen_events.h. Events are built as Windows event log records (the
 * provider's EventData in the order it renders them, and the rendered message), then written in
 * the requested shape or syslog format. */
#include "tools/gen_events.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------
 * Randomness: xoshiro256** seeded with splitmix64, the same sequence on every machine. */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n). The modulo bias is irrelevant here. */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

#define PICK(r, table) ((table)[rng_below((r), (uint32_t)N_ELEMS(table))])

/* A growable text buffer; a failed allocation marks it failed and later appends do nothing. */
struct sb {
    char *p;
    size_t len, cap;
    bool failed;
};

static bool sb_reserve(struct sb *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_raw(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_fmt(struct sb *b, const char *fmt, ...)
{
    if (!sb_reserve(b, 512))
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!sb_reserve(b, (size_t)n))
            return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* S with every character of SPECIAL preceded by a backslash, or replaced as JSON does for
 * control characters (JSON mode). */
static void sb_escaped(struct sb *b, const char *s, const char *special, bool json)
{
    if (!sb_reserve(b, 2 * strlen(s)))
        return;
    char *o = b->p + b->len;
    for (;;) {
        size_t run = strcspn(s, special);
        memcpy(o, s, run);
        o += run;
        s += run;
        if (!*s)
            break;
        *o++ = '\\';
        *o++ = !json ? *s : *s == '\n' ? 'n' : *s == '\t' ? 't' : *s == '\r' ? 'r' : *s;
        s++;
    }
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

/* S as a JSON string, quotes included. */
static void sb_json(struct sb *b, const char *s)
{
    sb_raw(b, "\"");
    sb_escaped(b, s, "\"\\\n\t\r", true);
    sb_raw(b, "\"");
}

/* S as XML character data or attribute text. */
static void sb_xml(struct sb *b, const char *s)
{
    for (;;) {
        size_t run = strcspn(s, "&<>\"");
        sb_add(b, s, run);
        s += run;
        if (!*s)
            break;
        sb_raw(b, *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : "&quot;");
        s++;
    }
}

/* S with every run of line breaks and tabs as one space, as Snare and WinCollect flatten the
 * rendered message. */
static void sb_flat(struct sb *b, const char *s)
{
    for (;;) {
        size_t run = strcspn(s, "\r\n\t");
        sb_add(b, s, run);
        s += run;
        if (!*s)
            break;
        sb_raw(b, " ");
        s += strspn(s, "\r\n\t");
    }
}

/* Per-event string arena: the values of one event, reset before the next. */
struct arena {
    char buf[16384];
    size_t used;
    bool full;
};

__attribute__((format(printf, 2, 3))) static const char *af(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = a->buf + a->used;
    size_t room = sizeof(a->buf) - a->used;
    int n = vsnprintf(out, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        a->full = true;
        return "";
    }
    a->used += (size_t)n + 1;
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Tables the generator draws from */

struct image {
    const char *path, *description, *product, *company, *version, *original, *cmdline;
    const char *parent; /* the parent's image */
    const char *parent_cmdline;
    bool system; /* runs as NT AUTHORITY\SYSTEM */
};

static const struct image images[] = {
    {"C:\\Windows\\System32\\svchost.exe", "Host Process for Windows Services",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "svchost.exe",
     "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
     "C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", true},
    {"C:\\Windows\\System32\\svchost.exe", "Host Process for Windows Services",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "svchost.exe",
     "C:\\Windows\\system32\\svchost.exe -k LocalServiceNetworkRestricted -p -s Dhcp",
     "C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", true},
    {"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "Google Chrome", "Google Chrome",
     "Google LLC", "121.0.6167.161", "chrome.exe",
     "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=utility "
     "--utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none",
     "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
     "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\"", false},
    {"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", "Microsoft Edge",
     "Microsoft Edge", "Microsoft Corporation", "121.0.2277.112", "msedge.exe",
     "\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\" --type=renderer "
     "--lang=en-US --js-flags=--ms-user-locale= --renderer-client-id=7",
     "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
     "\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\" --no-startup-window",
     false},
    {"C:\\Windows\\explorer.exe", "Windows Explorer",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "EXPLORER.EXE", "C:\\Windows\\Explorer.EXE",
     "C:\\Windows\\System32\\userinit.exe", "C:\\Windows\\system32\\userinit.exe", false},
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", "Microsoft Outlook",
     "Microsoft Outlook", "Microsoft Corporation", "16.0.17126.20132", "Outlook.exe",
     "\"C:\\Program Files\\Microsoft Office\\Root\\Office16\\OUTLOOK.EXE\" ",
     "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", false},
    {"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "Windows PowerShell",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3570 (WinBuild.160101.0800)", "PowerShell.EXE",
     "powershell.exe -NoProfile -ExecutionPolicy Bypass -File "
     "C:\\ProgramData\\Inventory\\collect.ps1",
     "C:\\Windows\\System32\\svchost.exe",
     "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", true},
    {"C:\\Windows\\System32\\conhost.exe", "Console Window Host",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "CONHOST.EXE",
     "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
     "C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\system32\\cmd.exe /c \"C:\\ops\\sync.cmd\"",
     true},
    {"C:\\Windows\\System32\\backgroundTaskHost.exe", "Background Task Host",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "backgroundTaskHost.exe",
     "\"C:\\Windows\\system32\\backgroundTaskHost.exe\" "
     "-ServerName:BackgroundTaskHost.WebAccountProvider",
     "C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
     false},
    {"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MsMpEng.exe",
     "Antimalware Service Executable", "Microsoft\xc2\xae Windows\xc2\xae Operating System",
     "Microsoft Corporation", "4.18.23110.3 (WinBuild.160101.0800)", "MsMpEng.exe",
     "\"C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\4.18.23110.3-0\\MsMpEng.exe\"",
     "C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", true},
    {"C:\\Windows\\System32\\taskhostw.exe", "Host Process for Windows Tasks",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "taskhostw.exe",
     "taskhostw.exe {222A245B-E637-4AE9}", "C:\\Windows\\System32\\svchost.exe",
     "C:\\Windows\\system32\\svchost.exe -k netsvcs -p", false},
    {"C:\\Windows\\System32\\SearchIndexer.exe", "Microsoft Windows Search Indexer",
     "Windows\xc2\xae Search", "Microsoft Corporation", "7.0.19041.3636 (WinBuild.160101.0800)",
     "SearchIndexer.exe", "C:\\Windows\\system32\\SearchIndexer.exe /Embedding",
     "C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", true},
    {"C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "WMI Provider Host",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "Wmiprvse.exe",
     "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding",
     "C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
     true},
    {"C:\\Windows\\System32\\RuntimeBroker.exe", "Runtime Broker",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "RuntimeBroker.exe",
     "C:\\Windows\\System32\\RuntimeBroker.exe -Embedding", "C:\\Windows\\System32\\svchost.exe",
     "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", false},
    {"C:\\Windows\\System32\\cmd.exe", "Windows Command Processor",
     "Microsoft\xc2\xae Windows\xc2\xae Operating System", "Microsoft Corporation",
     "10.0.19041.3636 (WinBuild.160101.0800)", "Cmd.Exe",
     "C:\\Windows\\system32\\cmd.exe /c \"C:\\ops\\sync.cmd\"",
     "C:\\Windows\\System32\\svchost.exe",
     "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", true},
    {"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", "Microsoft OneDrive",
     "Microsoft OneDrive", "Microsoft Corporation", "24.010.0114.0003", "OneDrive.exe",
     "\"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe\" /background",
     "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", false},
    {"C:\\Windows\\System32\\msiexec.exe", "Windows\xc2\xae installer",
     "Windows Installer - Unicode", "Microsoft Corporation",
     "5.0.19041.3570 (WinBuild.160101.0800)", "msiexec.exe",
     "C:\\Windows\\system32\\msiexec.exe /V", "C:\\Windows\\System32\\services.exe",
     "C:\\Windows\\system32\\services.exe", true},
    {"C:\\Program Files\\Zoom\\bin\\Zoom.exe", "Zoom Meetings", "Zoom Meetings",
     "Zoom Video Communications, Inc.", "5.17.5.31030", "Zoom.exe",
     "\"C:\\Program Files\\Zoom\\bin\\Zoom.exe\" \"--action=join\"", "C:\\Windows\\explorer.exe",
     "C:\\Windows\\Explorer.EXE", false},
};

static const char *const first_names[] = {
    "jsmith",  "akhan",    "mgarcia", "lchen",    "dpatel",  "okowalski", "rnguyen", "sjohansson",
    "tbrown",  "efischer", "hsato",   "mrossi",   "cdubois", "aolsen",    "bwilson", "kmuller",
    "pmartin", "ysilva",   "nwright", "fmorales", "gkim",    "vpetrov",   "ilopez",  "wzhang",
};

static const char *const service_accounts[] = {"svc_backup", "svc_sccm", "svc_sql",
                                               "administrator"};

static const char *const host_prefixes[] = {"WKS", "LPT", "WKS", "LPT", "SRV",
                                            "DC",  "SQL", "WEB", "FS",  "VDI"};

static const char *const hex_upper = "0123456789ABCDEF";

struct host {
    char name[32]; /* host.name, lower case */
    char fqdn[64]; /* winlog.computer_name */
    char ip[16];
    uint32_t sysmon_pid, sysmon_tid, lsass_pid, eventlog_pid, eventlog_tid;
    uint64_t sysmon_record, security_record;
    const char *user; /* the person logged on */
    uint32_t user_rid;
};

#define N_HOSTS 256

struct kv {
    const char *k, *v;
};

/* One Windows event log record. */
struct wev {
    struct host *h;
    int id, version;
    bool security;     /* the Security channel; else Sysmon's */
    const char *title; /* Sysmon: "Registry value set"; Security: event.action, "Logon" */
    const char *rule;  /* Sysmon's rule name, "RegistryEvent" */
    const char *task;  /* Security: the task, "Logon" */
    unsigned task_num; /* Security: the task's number */
    bool host_os;      /* host.os as add_host_metadata adds it */
    struct kv kv[32];  /* EventData in the order the provider renders it */
    size_t n;
};

enum { RAW_SHAPES = (1u << GEN_SHAPE_WINLOGBEAT8) | (1u << GEN_SHAPE_4657) };

struct gen {
    struct gen_options o;
    struct rng r;     /* the events' contents */
    struct rng place; /* where the hits go */
    struct host hosts[N_HOSTS];
    uint32_t domain_sid[3];
    uint64_t tick; /* 100 ns units since the Unix epoch */
    struct arena a;
    struct sb msg; /* the record's rendered message */
    struct sb ev;  /* the event as written */
    struct wev w;
    enum gen_shape shape_list[GEN_SHAPE_COUNT];
    unsigned nshapes;
    uint64_t index;   /* the next event's position */
    uint64_t planned; /* hits in the whole stream */
    uint64_t block, block_q, block_r, block_end, hit_pos;
    uint64_t shape_ordinal[GEN_SHAPE_COUNT];
    struct gen_totals t;
    bool broken;
};

/* ---------------------------------------------------------------------------------------------
 * Formatting helpers */

static void fmt_time(uint64_t tick, char *out, size_t outlen, bool iso)
{
    time_t secs = (time_t)(tick / 10000000u);
    unsigned frac = (unsigned)(tick % 10000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (iso)
        snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%07uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d.%03u", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 10000u);
}

static const char *hex(struct gen *g, int n)
{
    char tmp[80];
    if (n >= (int)sizeof(tmp))
        n = (int)sizeof(tmp) - 1;
    for (int i = 0; i < n; i++)
        tmp[i] = hex_upper[rng_below(&g->r, 16)];
    tmp[n] = '\0';
    return af(&g->a, "%s", tmp);
}

static const char *hex_lc(struct gen *g, int n)
{
    char *s = (char *)hex(g, n);
    for (char *p = s; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
    return s;
}

/* A Sysmon process GUID: {machine part-time part-...}. */
static const char *proc_guid(struct gen *g)
{
    return af(&g->a, "{%s-%s-%s-%s-%s}", hex(g, 8), hex(g, 4), hex(g, 4), hex(g, 4), hex(g, 12));
}

/* A stable pseudo hash of a name, so one image always carries the same hashes. */
static const char *name_hash(struct gen *g, const char *name, int nhex, uint64_t salt)
{
    uint64_t x = salt;
    for (const char *p = name; *p; p++)
        x = (x ^ (unsigned char)*p) * 0x100000001B3ull;
    char tmp[80];
    for (int i = 0; i < nhex && i < 79; i++) {
        uint64_t v = splitmix64(&x);
        tmp[i] = hex_upper[v & 15];
    }
    tmp[nhex < 79 ? nhex : 79] = '\0';
    return af(&g->a, "%s", tmp);
}

static const char *user_sid(struct gen *g, uint32_t rid)
{
    return af(&g->a, "S-1-5-21-%u-%u-%u-%u", g->domain_sid[0], g->domain_sid[1], g->domain_sid[2],
              rid);
}

static void host_init(struct gen *g, struct host *h, unsigned idx)
{
    const char *prefix = host_prefixes[idx % N_ELEMS(host_prefixes)];
    char upper[32];
    snprintf(upper, sizeof(upper), "%s-%04u", prefix, 100 + rng_below(&g->r, 9000));
    for (size_t i = 0; i <= strlen(upper); i++)
        h->name[i] = (char)((upper[i] >= 'A' && upper[i] <= 'Z') ? upper[i] + 32 : upper[i]);
    snprintf(h->fqdn, sizeof(h->fqdn), "%s.corp.example.com", upper);
    snprintf(h->ip, sizeof(h->ip), "10.%u.%u.%u", 10 + rng_below(&g->r, 40), rng_below(&g->r, 256),
             2 + rng_below(&g->r, 250));
    h->sysmon_pid = 2000 + 4 * rng_below(&g->r, 1000);
    h->sysmon_tid = 2000 + 4 * rng_below(&g->r, 2000);
    h->lsass_pid = 600 + 4 * rng_below(&g->r, 60);
    h->eventlog_pid = 1200 + 4 * rng_below(&g->r, 300);
    h->eventlog_tid = 1200 + 4 * rng_below(&g->r, 300);
    h->sysmon_record = 1000 + rng_below(&g->r, 5000000);
    h->security_record = 1000 + rng_below(&g->r, 50000000);
    h->user = PICK(&g->r, first_names);
    h->user_rid = 1100 + rng_below(&g->r, 8000);
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

static const char *kv_get(const struct wev *w, const char *k)
{
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->kv[i].k, k) == 0)
            return w->kv[i].v;
    }
    return "";
}

static void set_record(struct gen *g, struct host *h, bool security, int id, int version,
                       const char *title, const char *rule_or_task, const struct kv *kv, size_t n)
{
    struct wev *w = &g->w;
    w->h = h;
    w->security = security;
    w->id = id;
    w->version = version;
    w->title = title;
    w->rule = security ? NULL : rule_or_task;
    w->task = security ? rule_or_task : NULL;
    w->host_os = false;
    if (n > N_ELEMS(w->kv))
        n = N_ELEMS(w->kv);
    memcpy(w->kv, kv, n * sizeof(*kv));
    w->n = n;
    if (!security) {
        g->msg.len = 0;
        sb_fmt(&g->msg, "%s:", title);
        for (size_t i = 0; i < n; i++)
            sb_fmt(&g->msg, "\n%s: %s", kv[i].k, kv[i].v);
    }
}

/* A Sysmon record; the message is rendered from KV. */
static void set_sysmon(struct gen *g, struct host *h, int id, const char *title, const char *rule,
                       int version, const struct kv *kv, size_t n)
{
    set_record(g, h, false, id, version, title, rule, kv, n);
}

/* A Security record; the caller rendered the message into g->msg. */
static void set_security(struct gen *g, struct host *h, int id, int version, const char *action,
                         const char *task, unsigned task_num, const struct kv *kv, size_t n)
{
    set_record(g, h, true, id, version, action, task, kv, n);
    g->w.task_num = task_num;
}

/* The user an image runs as, DOMAIN\name. */
static const char *run_as(struct gen *g, const struct host *h, const struct image *im)
{
    if (im->system)
        return "NT AUTHORITY\\SYSTEM";
    return af(&g->a, "CORP\\%s", h->user);
}

static const char *sysmon_pid(struct gen *g)
{
    return af(&g->a, "%u", 4 * (100 + rng_below(&g->r, 6000)));
}

static const char *upper(struct gen *g, const char *s)
{
    char *u = (char *)af(&g->a, "%s", s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    return u;
}

static const char *lower(struct gen *g, const char *s)
{
    char *u = (char *)af(&g->a, "%s", s);
    for (char *p = u; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    return u;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '\\');
    return s ? s + 1 : path;
}

/* ---------------------------------------------------------------------------------------------
 * Background records */

static void ev_process_create(struct gen *g, struct host *h, const char *utc)
{
    const struct image *im = &PICK(&g->r, images);
    const char *logon_id =
        im->system ? "0x3e7" : af(&g->a, "0x%x", 0x10000 + rng_below(&g->r, 0xFFFFFF));
    const char *cwd =
        im->system ? "C:\\Windows\\system32\\" : af(&g->a, "C:\\Users\\%s\\", h->user);
    struct kv kv[] = {
        {"RuleName", "-"},
        {"UtcTime", utc},
        {"ProcessGuid", proc_guid(g)},
        {"ProcessId", sysmon_pid(g)},
        {"Image", im->path},
        {"FileVersion", im->version},
        {"Description", im->description},
        {"Product", im->product},
        {"Company", im->company},
        {"OriginalFileName", im->original},
        {"CommandLine", im->cmdline},
        {"CurrentDirectory", cwd},
        {"User", run_as(g, h, im)},
        {"LogonGuid", proc_guid(g)},
        {"LogonId", logon_id},
        {"TerminalSessionId", im->system ? "0" : "1"},
        {"IntegrityLevel", im->system ? "System" : "Medium"},
        {"Hashes", af(&g->a, "SHA256=%s,IMPHASH=%s", name_hash(g, im->path, 64, 1),
                      name_hash(g, im->path, 32, 2))},
        {"ParentProcessGuid", proc_guid(g)},
        {"ParentProcessId", sysmon_pid(g)},
        {"ParentImage", im->parent},
        {"ParentCommandLine", im->parent_cmdline},
        {"ParentUser", run_as(g, h, im)},
    };
    set_sysmon(g, h, 1, "Process Create", "ProcessCreate", 5, kv, N_ELEMS(kv));
}

static const struct {
    const char *host, *port_name;
    unsigned port;
    bool external;
} destinations[] = {
    {"login.microsoftonline.com", "https", 443, true},
    {"outlook.office365.com", "https", 443, true},
    {"www.google.com", "https", 443, true},
    {"settings-win.data.microsoft.com", "https", 443, true},
    {"wdcp.microsoft.com", "https", 443, true},
    {"dc01.corp.example.com", "ldap", 389, false},
    {"dc02.corp.example.com", "kerberos", 88, false},
    {"fs01.corp.example.com", "microsoft-ds", 445, false},
    {"proxy.corp.example.com", "http-alt", 8080, false},
    {"-", "domain", 53, false},
    {"sccm01.corp.example.com", "http", 80, false},
    {"wsus.corp.example.com", "-", 8530, false},
};

static void ev_network(struct gen *g, struct host *h, const char *utc)
{
    const struct image *im = &PICK(&g->r, images);
    unsigned d = rng_below(&g->r, (uint32_t)N_ELEMS(destinations));
    const char *dip =
        destinations[d].external
            ? af(&g->a, "%u.%u.%u.%u", PICK(&g->r, ((const unsigned[]){13, 20, 40, 52, 142, 172})),
                 rng_below(&g->r, 256), rng_below(&g->r, 256), 1 + rng_below(&g->r, 254))
            : af(&g->a, "10.%u.%u.%u", 10 + rng_below(&g->r, 4), rng_below(&g->r, 4),
                 2 + rng_below(&g->r, 40));
    bool udp = destinations[d].port == 53;
    struct kv kv[] = {
        {"RuleName", "-"},
        {"UtcTime", utc},
        {"ProcessGuid", proc_guid(g)},
        {"ProcessId", sysmon_pid(g)},
        {"Image", im->path},
        {"User", run_as(g, h, im)},
        {"Protocol", udp ? "udp" : "tcp"},
        {"Initiated", "true"},
        {"SourceIsIpv6", "false"},
        {"SourceIp", h->ip},
        {"SourceHostname", h->fqdn},
        {"SourcePort", af(&g->a, "%u", 49152 + rng_below(&g->r, 16000))},
        {"SourcePortName", "-"},
        {"DestinationIsIpv6", "false"},
        {"DestinationIp", dip},
        {"DestinationHostname", destinations[d].host},
        {"DestinationPort", af(&g->a, "%u", destinations[d].port)},
        {"DestinationPortName", destinations[d].port_name},
    };
    set_sysmon(g, h, 3, "Network connection detected", "NetworkConnect", 5, kv, N_ELEMS(kv));
}

static void ev_file_create(struct gen *g, struct host *h, const char *utc)
{
    const struct image *im = &PICK(&g->r, images);
    const char *target;
    switch (rng_below(&g->r, 7)) {
    case 0:
        target = af(&g->a, "C:\\Users\\%s\\AppData\\Local\\Temp\\%s.tmp", h->user, hex(g, 6));
        break;
    case 1:
        target = af(&g->a, "C:\\Windows\\Prefetch\\%s-%s.pf", im->original, hex(g, 8));
        break;
    case 2:
        target = af(&g->a,
                    "C:\\Users\\%s\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default\\Cache\\"
                    "Cache_Data\\f_%06x",
                    h->user, rng_below(&g->r, 0x100000));
        break;
    case 3:
        target = af(&g->a, "C:\\Users\\%s\\Downloads\\Quarterly report %u.pdf", h->user,
                    1 + rng_below(&g->r, 40));
        break;
    case 4:
        target = af(&g->a,
                    "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\Service\\"
                    "DetectionHistory\\%02u\\%s-%s",
                    rng_below(&g->r, 100), hex(g, 8), hex(g, 4));
        break;
    case 5:
        target = af(&g->a, "C:\\Windows\\Temp\\%s\\setup.log", proc_guid(g));
        break;
    default:
        target = af(&g->a,
                    "C:\\Users\\%s\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\"
                    "AutomaticDestinations\\%s.automaticDestinations-ms",
                    h->user, name_hash(g, h->user, 16, rng_below(&g->r, 5)));
        break;
    }
    struct kv kv[] = {
        {"RuleName", "-"},
        {"UtcTime", utc},
        {"ProcessGuid", proc_guid(g)},
        {"ProcessId", sysmon_pid(g)},
        {"Image", im->path},
        {"TargetFilename", target},
        {"CreationUtcTime", utc},
        {"User", run_as(g, h, im)},
    };
    set_sysmon(g, h, 11, "File created", "FileCreate", 2, kv, N_ELEMS(kv));
}

static const char *const services[] = {"BITS",    "wuauserv", "WinDefend", "Spooler",
                                       "W32Time", "CcmExec",  "sshd",      "TermService"};

#define SVCHOST  "C:\\Windows\\system32\\svchost.exe"
#define EXPLORER "C:\\Windows\\Explorer.EXE"
#define MSMPENG                                                                                    \
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MsMpEng.exe"

/* A registry value set, never on AmsiEnable: keys busy on real hosts and look-alikes under the
 * same "Windows Script\Settings" key, with every Details form Sysmon writes, each with the process
 * that typically writes it. */
struct reg_write {
    const char *target, *details, *image;
    bool system;
};

static void registry_target(struct gen *g, struct host *h, struct reg_write *w)
{
    const char *sid = user_sid(g, h->user_rid);
    w->system = false;
    switch (rng_below(&g->r, 14)) {
    case 0:
        w->target =
            af(&g->a,
               "HKU\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\"
               "{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count\\HRZR_PGYFRFFVBA",
               sid);
        w->details = "Binary Data";
        w->image = EXPLORER;
        break;
    case 1:
        w->target =
            af(&g->a,
               "HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\%s\\"
               "\\Device\\HarddiskVolume3\\Windows\\System32\\%s",
               sid,
               PICK(&g->r,
                    ((const char *const[]){"svchost.exe", "notepad.exe", "mmc.exe", "cmd.exe"})));
        w->details = "Binary Data";
        w->image = "System";
        w->system = true;
        break;
    case 2:
        w->target = "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates\\"
                    "SignaturesLastUpdated";
        w->details = af(&g->a, "QWORD (0x01da%s-0x%s)", hex_lc(g, 4), hex_lc(g, 8));
        w->image = MSMPENG;
        w->system = true;
        break;
    case 3:
        w->target = "HKLM\\System\\CurrentControlSet\\Services\\W32Time\\Config\\LastKnownGoodTime";
        w->details = af(&g->a, "QWORD (0x01da6e1%u-0x%s)", rng_below(&g->r, 10), hex_lc(g, 8));
        w->image = SVCHOST;
        w->system = true;
        break;
    case 4:
        w->target = af(&g->a, "HKLM\\System\\CurrentControlSet\\Services\\%s\\Start",
                       PICK(&g->r, services));
        w->details = af(&g->a, "DWORD (0x0000000%u)", 2 + rng_below(&g->r, 3));
        w->image = "C:\\Windows\\system32\\services.exe";
        w->system = true;
        break;
    case 5:
        w->target = af(&g->a,
                       "HKU\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\"
                       "ZoneMap\\ProxyBypass",
                       sid);
        w->details = "DWORD (0x00000001)";
        w->image = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe";
        break;
    case 6:
        /* Same key as the rule's, another value. */
        w->target =
            af(&g->a, "HKU\\%s\\Software\\Microsoft\\Windows Script\\Settings\\TrustPolicy", sid);
        w->details = "DWORD (0x00000000)";
        w->image = "C:\\Windows\\regedit.exe";
        break;
    case 7:
        w->target =
            af(&g->a, "HKU\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDrive", sid);
        w->details = "\"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe\" /background";
        w->image = "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe";
        break;
    case 8:
        w->target = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\"
                    "LastUsedUsername";
        w->details = af(&g->a, "CORP\\%s", h->user);
        w->image = "C:\\Windows\\system32\\winlogon.exe";
        w->system = true;
        break;
    case 9:
        w->target = af(&g->a,
                       "HKLM\\System\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Interfaces\\"
                       "%s\\DhcpIPAddress",
                       proc_guid(g));
        w->details = h->ip;
        w->image = SVCHOST;
        w->system = true;
        break;
    case 10:
        w->target = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection\\"
                    "DisableRealtimeMonitoring";
        w->details = "DWORD (0x00000000)";
        w->image = "C:\\Windows\\system32\\gpupdate.exe";
        w->system = true;
        break;
    case 11:
        w->target = af(&g->a,
                       "HKU\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\"
                       "RecentDocs\\.docx\\MRUListEx",
                       sid);
        w->details = "Binary Data";
        w->image = EXPLORER;
        break;
    case 12:
        w->target = af(&g->a,
                       "HKU\\%s\\Software\\Microsoft\\Office\\16.0\\Common\\Internet\\"
                       "WebServiceCache\\AllUsers\\officeclient.microsoft.com\\LastModified",
                       sid);
        w->details = "(Empty)";
        w->image = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE";
        break;
    default:
        w->target = "HKLM\\SOFTWARE\\Microsoft\\SystemCertificates\\AuthRoot\\AutoUpdate\\"
                    "LastSyncTime";
        w->details = af(&g->a, "QWORD (0x01da%s-0x%s)", hex_lc(g, 4), hex_lc(g, 8));
        w->image = SVCHOST;
        w->system = true;
        break;
    }
}

static const char *user_of(struct gen *g, const struct host *h, bool system)
{
    return system ? "NT AUTHORITY\\SYSTEM" : af(&g->a, "CORP\\%s", h->user);
}

/* Sysmon 13: IMAGE set TARGET to DETAILS. */
static void ev_reg_set(struct gen *g, struct host *h, const char *utc, const char *target,
                       const char *details, const char *image, bool system)
{
    struct kv kv[] = {
        {"RuleName", "-"},
        {"EventType", "SetValue"},
        {"UtcTime", utc},
        {"ProcessGuid", proc_guid(g)},
        {"ProcessId", system && strcmp(image, "System") == 0 ? "4" : sysmon_pid(g)},
        {"Image", image},
        {"TargetObject", target},
        {"Details", details},
        {"User", user_of(g, h, system)},
    };
    set_sysmon(g, h, 13, "Registry value set", "RegistryEvent", 2, kv, N_ELEMS(kv));
}

/* Sysmon 12: a key created or deleted, or a value deleted. */
static void ev_reg_object(struct gen *g, struct host *h, const char *utc, const char *type,
                          const char *target, const char *image, bool system)
{
    struct kv kv[] = {
        {"RuleName", "-"},
        {"EventType", type},
        {"UtcTime", utc},
        {"ProcessGuid", proc_guid(g)},
        {"ProcessId", sysmon_pid(g)},
        {"Image", image},
        {"TargetObject", target},
        {"User", user_of(g, h, system)},
    };
    set_sysmon(g, h, 12, "Registry object added or deleted", "RegistryEvent", 2, kv, N_ELEMS(kv));
}

static void ev_registry(struct gen *g, struct host *h, const char *utc)
{
    struct reg_write w;
    registry_target(g, h, &w);
    ev_reg_set(g, h, utc, w.target, w.details, w.image, w.system);
}

static void ev_registry_object(struct gen *g, struct host *h, const char *utc)
{
    const char *sid = user_sid(g, h->user_rid);
    switch (rng_below(&g->r, 4)) {
    case 0:
        ev_reg_object(g, h, utc, "CreateKey",
                      af(&g->a,
                         "HKU\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\"
                         "SessionInfo\\%u",
                         sid, 1 + rng_below(&g->r, 9)),
                      EXPLORER, false);
        break;
    case 1:
        ev_reg_object(g, h, utc, "DeleteValue",
                      af(&g->a, "HKU\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\%s",
                         sid, PICK(&g->r, ((const char *const[]){"Teams", "Zoom", "Spotify"}))),
                      "C:\\Windows\\System32\\cmd.exe", false);
        break;
    case 2:
        ev_reg_object(g, h, utc, "CreateKey",
                      af(&g->a,
                         "HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\"
                         "UserSettings\\%s",
                         sid),
                      "System", true);
        break;
    default:
        ev_reg_object(g, h, utc, "DeleteKey",
                      af(&g->a,
                         "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Installer\\"
                         "InProgress\\%s",
                         proc_guid(g)),
                      "C:\\Windows\\System32\\msiexec.exe", true);
        break;
    }
}

static const char new_process_explanation[] =
    "Token Elevation Type indicates the type of token that was assigned to the new process in "
    "accordance with User Account Control policy.\n\nType 1 is a full token with no privileges "
    "removed or groups disabled.\n\nType 2 is an elevated token with no privileges removed or "
    "groups disabled.\n\nType 3 is a limited token with administrative privileges removed and "
    "administrative groups disabled.";

/* Security 4688: a process created. */
static void ev_new_process(struct gen *g, struct host *h)
{
    const struct image *im = &PICK(&g->r, images);
    const char *sid = im->system ? "S-1-5-18" : user_sid(g, h->user_rid);
    const char *name = im->system ? af(&g->a, "%s$", upper(g, h->name)) : h->user;
    const char *domain = "CORP";
    const char *logon =
        im->system ? "0x3e7" : af(&g->a, "0x%x", 0x10000 + rng_below(&g->r, 0xFFFFFF));
    const char *pid = af(&g->a, "0x%x", 4 * (100 + rng_below(&g->r, 6000)));
    const char *ppid = af(&g->a, "0x%x", 4 * (100 + rng_below(&g->r, 6000)));
    const char *label = im->system ? "S-1-16-16384" : "S-1-16-8192";
    g->msg.len = 0;
    sb_fmt(&g->msg,
           "A new process has been created.\n\nCreator Subject:\n\tSecurity ID:\t\t%s\n\tAccount "
           "Name:\t\t%s\n\tAccount Domain:\t\t%s\n\tLogon ID:\t\t%s\n\nTarget Subject:\n\t"
           "Security ID:\t\tS-1-0-0\n\tAccount Name:\t\t-\n\tAccount Domain:\t\t-\n\tLogon ID:\t\t"
           "0x0\n\nProcess Information:\n\tNew Process ID:\t\t%s\n\tNew Process Name:\t%s\n\t"
           "Token Elevation Type:\t%%%%1938\n\tMandatory Label:\t\t%s\n\tCreator Process ID:\t%s"
           "\n\tCreator Process Name:\t%s\n\tProcess Command Line:\t%s\n\n%s",
           sid, name, domain, logon, pid, im->path, label, ppid, im->parent, im->cmdline,
           new_process_explanation);
    struct kv kv[] = {
        {"CommandLine", im->cmdline},
        {"MandatoryLabel", label},
        {"NewProcessId", pid},
        {"NewProcessName", im->path},
        {"ParentProcessName", im->parent},
        {"ProcessId", ppid},
        {"SubjectDomainName", domain},
        {"SubjectLogonId", logon},
        {"SubjectUserName", name},
        {"SubjectUserSid", sid},
        {"TargetDomainName", "-"},
        {"TargetLogonId", "0x0"},
        {"TargetUserName", "-"},
        {"TargetUserSid", "S-1-0-0"},
        {"TokenElevationType", "%%1938"},
    };
    set_security(g, h, 4688, 2, "Process Creation", "Process Creation", 13312, kv, N_ELEMS(kv));
}

/* Security 4657: VALUE under OBJECT (\REGISTRY\...) changed from OLD to NEW (REG_DWORD, or
 * REG_SZ when SZ). */
static void ev_value_modified(struct gen *g, struct host *h, const char *object, const char *value,
                              bool sz, const char *old, const char *new_value, const char *process,
                              bool system)
{
    const char *sid = system ? "S-1-5-18" : user_sid(g, h->user_rid);
    const char *name = system ? af(&g->a, "%s$", upper(g, h->name)) : h->user;
    const char *domain = "CORP";
    const char *logon = system ? "0x3e7" : af(&g->a, "0x%x", 0x10000 + rng_below(&g->r, 0xFFFFFF));
    const char *handle = af(&g->a, "0x%x", 4 * (50 + rng_below(&g->r, 1000)));
    const char *pid = af(&g->a, "0x%x", 4 * (100 + rng_below(&g->r, 6000)));
    const char *type = sz ? "REG_SZ" : "REG_DWORD";
    g->msg.len = 0;
    sb_fmt(&g->msg,
           "A registry value was modified.\n\nSubject:\n\tSecurity ID:\t\t%s\n\tAccount Name:\t\t%s"
           "\n\tAccount Domain:\t\t%s\n\tLogon ID:\t\t%s\n\nObject:\n\tObject Name:\t\t%s\n\t"
           "Object Value Name:\t%s\n\tHandle ID:\t\t%s\n\tOperation Type:\t\tExisting registry "
           "value modified\n\nProcess Information:\n\tProcess ID:\t\t%s\n\tProcess Name:\t\t%s\n\n"
           "Change Information:\n\tOld Value Type:\t\t%s\n\tOld Value:\t\t%s\n\tNew Value Type:\t\t"
           "%s\n\tNew Value:\t\t%s",
           sid, name, domain, logon, object, value, handle, pid, process, type, old, type,
           new_value);
    struct kv kv[] = {
        {"HandleId", handle},
        {"NewValue", new_value},
        {"NewValueType", sz ? "%%1873" : "%%1876"},
        {"ObjectName", object},
        {"ObjectValueName", value},
        {"OldValue", old},
        {"OldValueType", sz ? "%%1873" : "%%1876"},
        {"OperationType", "%%1905"},
        {"ProcessId", pid},
        {"ProcessName", process},
        {"SubjectDomainName", domain},
        {"SubjectLogonId", logon},
        {"SubjectUserName", name},
        {"SubjectUserSid", sid},
    };
    set_security(g, h, 4657, 0, "Registry", "Registry", 12801, kv, N_ELEMS(kv));
}

/* Audited values that change on their own. */
static void ev_registry_audit(struct gen *g, struct host *h)
{
    switch (rng_below(&g->r, 3)) {
    case 0:
        ev_value_modified(g, h,
                          "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Services\\W32Time\\Config",
                          "LastKnownGoodTime", false, af(&g->a, "%u", rng_below(&g->r, 1u << 30)),
                          af(&g->a, "%u", rng_below(&g->r, 1u << 30)), SVCHOST, true);
        break;
    case 1:
        ev_value_modified(
            g, h,
            af(&g->a, "\\REGISTRY\\USER\\%s\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
               user_sid(g, h->user_rid)),
            "OneDrive", true, "-",
            "\"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe\" /background",
            "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", false);
        break;
    default:
        ev_value_modified(
            g, h, "\\REGISTRY\\MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender",
            "DisableAntiSpyware", false, "1", "0", "C:\\Windows\\system32\\gpupdate.exe", true);
        break;
    }
}

/* ---------------------------------------------------------------------------------------------
 * AmsiEnable: hits and near misses */

#define SETTINGS "\\Microsoft\\Windows Script\\Settings"

/* Who writes AmsiEnable, and where. */
struct amsi {
    bool machine;    /* HKLM; else the user's hive */
    const char *sid; /* the user's */
    const char *key; /* Sysmon's spelling of the Settings key */
    const char *image;
    bool system;
};

static void amsi_pick(struct gen *g, struct host *h, struct amsi *a, bool allow_hkcu)
{
    static const char *const writers[] = {
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Windows\\system32\\reg.exe", "C:\\Windows\\System32\\wscript.exe",
        "C:\\Windows\\System32\\cscript.exe", "C:\\Program Files\\PowerShell\\7\\pwsh.exe"};
    a->sid = user_sid(g, h->user_rid);
    unsigned w = rng_below(&g->r, 6);
    a->image = w < N_ELEMS(writers) ? writers[w]
                                    : af(&g->a, "C:\\Users\\%s\\AppData\\Local\\Temp\\upd%04u.exe",
                                         h->user, rng_below(&g->r, 10000));
    unsigned where = rng_below(&g->r, 8);
    a->machine = where < 2;
    a->system = a->machine && w == 1;
    if (a->machine)
        a->key = "HKLM\\SOFTWARE" SETTINGS;
    else if (where == 2 && allow_hkcu)
        a->key = "HKCU\\Software" SETTINGS;
    else
        a->key = af(&g->a, "HKU\\%s\\Software" SETTINGS, a->sid);
}

/* Sysmon 13 setting AmsiEnable to DETAILS. */
static void amsi_sysmon(struct gen *g, struct host *h, const char *utc, const struct amsi *a,
                        const char *details)
{
    ev_reg_set(g, h, utc, af(&g->a, "%s\\AmsiEnable", a->key), details, a->image, a->system);
}

/* Security 4657 setting AmsiEnable from OLD to NEW. */
static void amsi_4657(struct gen *g, struct host *h, const struct amsi *a, const char *old,
                      const char *new_value)
{
    const char *object = a->machine ? "\\REGISTRY\\MACHINE\\SOFTWARE" SETTINGS
                                    : af(&g->a, "\\REGISTRY\\USER\\%s\\Software" SETTINGS, a->sid);
    ev_value_modified(g, h, object, "AmsiEnable", false, old, new_value, a->image, a->system);
}

/* A raw record that looks like the rule's and alerts under no profile. */
static void near_miss_raw(struct gen *g, struct host *h, const char *utc, const struct amsi *a)
{
    switch (rng_below(&g->r, 8)) {
    case 0:
        amsi_sysmon(g, h, utc, a, "DWORD (0x00000001)");
        break;
    case 1:
        amsi_sysmon(g, h, utc, a, "QWORD (0x00000000-0x00000001)");
        break;
    case 2:
        ev_reg_object(g, h, utc, "DeleteValue", af(&g->a, "%s\\AmsiEnable", a->key), a->image,
                      a->system);
        break;
    case 3:
        ev_reg_set(g, h, utc,
                   af(&g->a, "%s\\%s", a->key,
                      PICK(&g->r, ((const char *const[]){"AmsiEnabled", "AmsiEnable_old",
                                                         "DisableAmsiEnable"}))),
                   "DWORD (0x00000000)", a->image, a->system);
        break;
    case 4:
        ev_reg_set(g, h, utc, af(&g->a, "%s\\AmsiEnable\\(Default)", a->key), "DWORD (0x00000000)",
                   a->image, a->system);
        break;
    case 5: {
        const char *cmd = af(&g->a, "reg  add \"%s\" /v AmsiEnable /t REG_DWORD /d 0 /f",
                             a->machine ? "HKLM\\SOFTWARE" SETTINGS : "HKCU\\Software" SETTINGS);
        struct kv kv[] = {
            {"RuleName", "-"},
            {"UtcTime", utc},
            {"ProcessGuid", proc_guid(g)},
            {"ProcessId", sysmon_pid(g)},
            {"Image", "C:\\Windows\\System32\\reg.exe"},
            {"FileVersion", "10.0.19041.3636 (WinBuild.160101.0800)"},
            {"Description", "Registry Console Tool"},
            {"Product", "Microsoft\xc2\xae Windows\xc2\xae Operating System"},
            {"Company", "Microsoft Corporation"},
            {"OriginalFileName", "reg.exe"},
            {"CommandLine", cmd},
            {"CurrentDirectory", af(&g->a, "C:\\Users\\%s\\", h->user)},
            {"User", user_of(g, h, false)},
            {"LogonGuid", proc_guid(g)},
            {"LogonId", af(&g->a, "0x%x", 0x10000 + rng_below(&g->r, 0xFFFFFF))},
            {"TerminalSessionId", "1"},
            {"IntegrityLevel", "High"},
            {"Hashes", af(&g->a, "SHA256=%s,IMPHASH=%s", name_hash(g, "reg.exe", 64, 1),
                          name_hash(g, "reg.exe", 32, 2))},
            {"ParentProcessGuid", proc_guid(g)},
            {"ParentProcessId", sysmon_pid(g)},
            {"ParentImage", "C:\\Windows\\System32\\cmd.exe"},
            {"ParentCommandLine", "\"C:\\Windows\\system32\\cmd.exe\" "},
            {"ParentUser", user_of(g, h, false)},
        };
        set_sysmon(g, h, 1, "Process Create", "ProcessCreate", 5, kv, N_ELEMS(kv));
        break;
    }
    case 6: {
        struct kv kv[] = {
            {"RuleName", "-"},
            {"EventType", "RenameKey"},
            {"UtcTime", utc},
            {"ProcessGuid", proc_guid(g)},
            {"ProcessId", sysmon_pid(g)},
            {"Image", a->image},
            {"TargetObject", a->key},
            {"NewName", af(&g->a, "%s.bak", a->key)},
            {"User", user_of(g, h, a->system)},
        };
        set_sysmon(g, h, 14, "Registry object renamed", "RegistryEvent", 2, kv, N_ELEMS(kv));
        break;
    }
    default:
        amsi_4657(g, h, a, "0", "1");
        break;
    }
    g->w.host_os = rng_below(&g->r, 2);
}

static const char logon_explanation[] =
    "This event is generated when a logon session is created. It is generated on the computer "
    "that was accessed.\n\nThe subject fields indicate the account on the local system which "
    "requested the logon. This is most commonly a service such as the Server service, or a local "
    "process such as Winlogon.exe or Services.exe.\n\nThe logon type field indicates the kind of "
    "logon that occurred. The most common types are 2 (interactive) and 3 (network).\n\nThe New "
    "Logon fields indicate the account for whom the new logon was created, i.e. the account that "
    "was logged on.\n\nThe network fields indicate where a remote logon request originated. "
    "Workstation name is not always available and may be left blank in some cases.\n\nThe "
    "impersonation level field indicates the extent to which a process in the logon session can "
    "impersonate.\n\nThe authentication information fields provide detailed information about "
    "this specific logon request.\n\t- Logon GUID is a unique identifier that can be used to "
    "correlate this event with a KDC event.\n\t- Transited services indicate which intermediate "
    "services have participated in this logon request.\n\t- Package name indicates which "
    "sub-protocol was used among the NTLM protocols.\n\t- Key length indicates the length of the "
    "generated session key. This will be 0 if no session key was requested.";

static void ev_logon(struct gen *g, struct host *h)
{
    static const unsigned types[] = {2, 3, 3, 3, 5, 7, 10, 11};
    unsigned type = PICK(&g->r, types);
    bool service = type == 5;
    const char *target_user = service                    ? "SYSTEM"
                              : rng_below(&g->r, 5) == 0 ? PICK(&g->r, service_accounts)
                                                         : h->user;
    const char *target_domain = service ? "NT AUTHORITY" : "CORP";
    const char *target_sid = service ? "S-1-5-18" : user_sid(g, 1000 + rng_below(&g->r, 9000));
    const char *subject_sid = type == 3 ? "S-1-0-0" : "S-1-5-18";
    const char *host = upper(g, h->name);
    const char *subject_user = type == 3 ? "-" : af(&g->a, "%s$", host);
    const char *subject_domain = type == 3 ? "-" : "CORP";
    const char *subject_logon = type == 3 ? "0x0" : "0x3e7";
    const char *target_logon = af(&g->a, "0x%x", 0x10000 + rng_below(&g->r, 0xFFFFFF));
    bool kerberos = type == 3 && rng_below(&g->r, 2);
    const char *package = kerberos ? "Kerberos" : "Negotiate";
    const char *process = type == 3 ? "-" : "C:\\Windows\\System32\\winlogon.exe";
    const char *process_id = type == 3 ? "0x0" : af(&g->a, "0x%x", 0x100 + rng_below(&g->r, 0x400));
    const char *ip = type == 3 || type == 10 ? af(&g->a, "10.%u.%u.%u", 10 + rng_below(&g->r, 40),
                                                  rng_below(&g->r, 256), 2 + rng_below(&g->r, 250))
                                             : "127.0.0.1";
    const char *port = type == 3 ? "0" : af(&g->a, "%u", 49152 + rng_below(&g->r, 16000));
    const char *workstation = type == 3 ? "-" : host;
    const char *logon_process = kerberos ? "Kerberos" : type == 3 ? "NtLmSsp " : "User32 ";
    const char *guid = kerberos ? proc_guid(g) : "{00000000-0000-0000-0000-000000000000}";
    const char *key_length = kerberos ? "0" : "128";

    g->msg.len = 0;
    sb_fmt(&g->msg,
           "An account was successfully logged on.\n\nSubject:\n\tSecurity ID:\t\t%s\n\tAccount "
           "Name:\t\t%s\n\tAccount Domain:\t\t%s\n\tLogon ID:\t\t%s\n\nLogon Information:\n\t"
           "Logon Type:\t\t%u\n\tRestricted Admin Mode:\t-\n\tVirtual Account:\t\tNo\n\tElevated "
           "Token:\t\tYes\n\nImpersonation Level:\t\tImpersonation\n\nNew Logon:\n\tSecurity "
           "ID:\t\t%s\n\tAccount Name:\t\t%s\n\tAccount Domain:\t\t%s\n\tLogon ID:\t\t%s\n\t"
           "Linked Logon ID:\t\t0x0\n\tNetwork Account Name:\t-\n\tNetwork Account Domain:\t-\n\t"
           "Logon GUID:\t\t%s\n\nProcess Information:\n\tProcess ID:\t\t%s\n\tProcess Name:\t\t%s"
           "\n\nNetwork Information:\n\tWorkstation Name:\t%s\n\tSource Network Address:\t%s\n\t"
           "Source Port:\t\t%s\n\nDetailed Authentication Information:\n\tLogon Process:\t\t%s\n\t"
           "Authentication Package:\t%s\n\tTransited Services:\t-\n\tPackage Name (NTLM only):\t"
           "%s\n\tKey Length:\t\t%s\n\n%s",
           subject_sid, subject_user, subject_domain, subject_logon, type, target_sid, target_user,
           target_domain, target_logon, guid, process_id, process, workstation, ip, port,
           logon_process, package, kerberos ? "-" : "NTLM V2", key_length, logon_explanation);
    struct kv kv[] = {
        {"AuthenticationPackageName", package},
        {"ElevatedToken", "%%1842"},
        {"ImpersonationLevel", "%%1833"},
        {"IpAddress", ip},
        {"IpPort", port},
        {"KeyLength", key_length},
        {"LmPackageName", kerberos ? "-" : "NTLM V2"},
        {"LogonGuid", guid},
        {"LogonProcessName", logon_process},
        {"LogonType", af(&g->a, "%u", type)},
        {"ProcessId", process_id},
        {"ProcessName", process},
        {"SubjectDomainName", subject_domain},
        {"SubjectLogonId", subject_logon},
        {"SubjectUserName", subject_user},
        {"SubjectUserSid", subject_sid},
        {"TargetDomainName", target_domain},
        {"TargetLogonId", target_logon},
        {"TargetUserName", target_user},
        {"TargetUserSid", target_sid},
        {"TransmittedServices", "-"},
        {"VirtualAccount", "%%1843"},
        {"WorkstationName", workstation},
    };
    set_security(g, h, 4624, 2, "Logon", "Logon", 12544, kv, N_ELEMS(kv));
}

/* ---------------------------------------------------------------------------------------------
 * Writing records */

#define SYSMON_GUID   "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
#define SECURITY_GUID "{54849625-5478-4994-a5ba-3e3b0328c30d}"
#define SECURITY      "Microsoft-Windows-Security-Auditing"
#define SYSMON        "Microsoft-Windows-Sysmon"
#define SYSMON_CHAN   "Microsoft-Windows-Sysmon/Operational"

/* The times of one event, every way a sender writes them. */
struct times {
    char iso7[80];  /* 2025-03-03T08:00:00.1234567Z */
    char iso3[80];  /* 2025-03-03T08:00:00.123Z */
    char plain[80]; /* 2025-03-03 08:00:00 */
    char bsd[80];   /* Mar  3 08:00:00 */
    char ctime[80]; /* Mon Mar  3 08:00:00 2025 */
    uint64_t epoch; /* seconds */
    uint64_t ms;    /* milliseconds since the epoch */
};

static void times_of(uint64_t tick, struct times *t)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    time_t secs = (time_t)(tick / 10000000u);
    unsigned frac = (unsigned)(tick % 10000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    t->epoch = (uint64_t)secs;
    t->ms = tick / 10000u;
    snprintf(t->iso7, sizeof(t->iso7), "%04d-%02d-%02dT%02d:%02d:%02d.%07uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    snprintf(t->iso3, sizeof(t->iso3), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 10000u);
    snprintf(t->plain, sizeof(t->plain), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(t->bsd, sizeof(t->bsd), "%s %2d %02d:%02d:%02d", mon[tm.tm_mon % 12], tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(t->ctime, sizeof(t->ctime), "%s %s %2d %02d:%02d:%02d %04d", wday[tm.tm_wday % 7],
             mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
}

static const char *w_provider(const struct wev *w)
{
    return w->security ? SECURITY : SYSMON;
}

static const char *w_channel(const struct wev *w)
{
    return w->security ? "Security" : SYSMON_CHAN;
}

/* event.action and the Sysmon task text: "Registry value set (rule: RegistryEvent)". */
static const char *w_action(struct gen *g, const struct wev *w)
{
    return w->security ? w->title : af(&g->a, "%s (rule: %s)", w->title, w->rule);
}

static unsigned w_pid(const struct wev *w)
{
    return w->security ? w->h->lsass_pid : w->h->sysmon_pid;
}

static unsigned w_tid(const struct wev *w)
{
    return w->security ? w->h->eventlog_tid : w->h->sysmon_tid;
}

/* The record as Winlogbeat 8 ships it, before any ingest pipeline. */
static void put_winlogbeat(struct gen *g, struct sb *b, const struct wev *w, const struct times *t,
                           uint64_t rec)
{
    const char *action = w_action(g, w);
    sb_raw(b, "{\"@timestamp\":");
    sb_json(b, t->iso7);
    sb_raw(b, ",\"event\":{\"action\":");
    sb_json(b, action);
    sb_fmt(b, ",\"code\":\"%d\",\"kind\":\"event\",", w->id);
    if (w->security)
        sb_raw(b, "\"outcome\":\"success\",");
    sb_raw(b, "\"provider\":");
    sb_json(b, w_provider(w));
    sb_fmt(b, "},\"host\":{\"name\":\"%s\"", w->h->name);
    if (w->host_os)
        sb_raw(b, ",\"os\":{\"type\":\"windows\",\"family\":\"windows\",\"platform\":\"windows\"}");
    sb_raw(b, "},\"log\":{\"level\":\"information\"},\"message\":");
    sb_json(b, g->msg.p ? g->msg.p : "");
    sb_raw(b, ",\"winlog\":{");
    if (w->security)
        sb_raw(b, "\"api\":\"wineventlog\",");
    sb_raw(b, "\"channel\":");
    sb_json(b, w_channel(w));
    sb_raw(b, ",\"computer_name\":");
    sb_json(b, w->h->fqdn);
    sb_raw(b, ",\"event_data\":{");
    struct kv sorted[N_ELEMS(w->kv)];
    memcpy(sorted, w->kv, w->n * sizeof(*sorted));
    qsort(sorted, w->n, sizeof(sorted[0]), kv_cmp);
    for (size_t i = 0; i < w->n; i++) {
        if (i)
            sb_raw(b, ",");
        sb_json(b, sorted[i].k);
        sb_raw(b, ":");
        sb_json(b, sorted[i].v);
    }
    sb_fmt(b, "},\"event_id\":\"%d\",", w->id);
    if (w->security)
        sb_raw(b, "\"keywords\":[\"Audit Success\"],");
    sb_fmt(b,
           "\"opcode\":\"Info\",\"process\":{\"pid\":%u,\"thread\":{\"id\":%u}},"
           "\"provider_guid\":\"%s\",\"provider_name\":\"%s\",\"record_id\":%" PRIu64 ",\"task\":",
           w_pid(w), w_tid(w), w->security ? SECURITY_GUID : SYSMON_GUID, w_provider(w), rec);
    sb_json(b, w->security ? w->task : action);
    if (!w->security)
        sb_raw(b, ",\"user\":{\"domain\":\"NT AUTHORITY\",\"identifier\":\"S-1-5-18\",\"name\":"
                  "\"SYSTEM\",\"type\":\"Well Known Group\"}");
    sb_fmt(b, ",\"version\":%d}}", w->version);
}

/* ---- Other JSON shapes of a Sysmon 13 AmsiEnable write (the record in g->w). ---- */

/* The hive, the key under it and the value name of a Sysmon TargetObject. */
static void split_target(struct gen *g, const char *target, const char **hive, const char **key,
                         const char **value)
{
    const char *sep = strchr(target, '\\');
    const char *last = strrchr(target, '\\');
    *hive = sep ? af(&g->a, "%.*s", (int)(sep - target), target) : "";
    *key = sep && last > sep ? af(&g->a, "%.*s", (int)(last - sep - 1), sep + 1) : "";
    *value = last ? last + 1 : target;
}

static void put_ecs(struct gen *g, struct sb *b, const struct times *t, uint64_t rec,
                    const char *data)
{
    const struct wev *w = &g->w;
    const char *target = kv_get(w, "TargetObject"), *image = kv_get(w, "Image");
    const char *hive, *key, *value;
    split_target(g, target, &hive, &key, &value);
    sb_raw(b, "{\"@timestamp\":");
    sb_json(b, t->iso3);
    sb_raw(b, ",\"agent\":{\"type\":\"winlogbeat\",\"version\":\"8.12.2\"},\"ecs\":{\"version\":"
              "\"8.0.0\"},\"event\":{\"action\":\"RegistryEvent (Value Set)\",\"category\":["
              "\"configuration\",\"registry\"],\"code\":\"13\",\"created\":");
    sb_json(b, t->iso3);
    sb_fmt(b,
           ",\"ingested\":\"%s\",\"kind\":\"event\",\"module\":\"sysmon\",\"provider\":"
           "\"Microsoft-Windows-Sysmon\",\"type\":[\"change\"]},\"host\":{\"hostname\":\"%s\","
           "\"name\":\"%s\",\"os\":{\"build\":\"19045.4046\",\"family\":\"windows\",\"kernel\":"
           "\"10.0.19041.4046 (WinBuild.160101.0800)\",\"name\":\"Windows 10 Enterprise\","
           "\"platform\":\"windows\",\"type\":\"windows\",\"version\":\"10.0\"}},\"log\":{"
           "\"level\":\"information\"},\"message\":",
           t->iso3, w->h->name, w->h->name);
    sb_json(b, g->msg.p);
    sb_raw(b, ",\"process\":{\"entity_id\":");
    sb_json(b, kv_get(w, "ProcessGuid"));
    sb_raw(b, ",\"executable\":");
    sb_json(b, image);
    sb_raw(b, ",\"name\":");
    sb_json(b, base_name(image));
    sb_fmt(b,
           ",\"pid\":%s},\"registry\":{\"data\":{\"strings\":[\"%s\"],\"type\":\"SZ_DWORD\"},"
           "\"hive\":",
           kv_get(w, "ProcessId"), data);
    sb_json(b, hive);
    sb_raw(b, ",\"key\":");
    sb_json(b, af(&g->a, "%s\\%s", key, value));
    sb_raw(b, ",\"path\":");
    sb_json(b, target);
    sb_raw(b, ",\"value\":");
    sb_json(b, value);
    const char *user = kv_get(w, "User");
    const char *slash = strchr(user, '\\');
    sb_raw(b, "},\"related\":{\"user\":[");
    sb_json(b, slash ? slash + 1 : user);
    sb_raw(b, "]},\"user\":{\"domain\":");
    sb_json(b, slash ? af(&g->a, "%.*s", (int)(slash - user), user) : "");
    sb_raw(b, ",\"id\":\"S-1-5-18\",\"name\":");
    sb_json(b, slash ? slash + 1 : user);
    sb_raw(b, "},\"winlog\":{\"channel\":\"" SYSMON_CHAN "\",\"computer_name\":");
    sb_json(b, w->h->fqdn);
    sb_fmt(b,
           ",\"event_data\":{\"EventType\":\"SetValue\"},\"event_id\":\"13\",\"opcode\":\"Info\","
           "\"process\":{\"pid\":%u,\"thread\":{\"id\":%u}},\"provider_guid\":\"" SYSMON_GUID
           "\",\"provider_name\":\"" SYSMON "\",\"record_id\":\"%" PRIu64
           "\",\"task\":\"Registry value set (rule: RegistryEvent)\",\"user\":{\"domain\":"
           "\"NT AUTHORITY\",\"identifier\":\"S-1-5-18\",\"name\":\"SYSTEM\",\"type\":"
           "\"Well Known Group\"},\"version\":2}}",
           w_pid(w), w_tid(w), rec);
}

/* Elastic Defend; ACTION "modification", "creation" or "query". */
static void put_defend(struct gen *g, struct sb *b, const struct times *t, const struct amsi *a,
                       const char *action, const char *data)
{
    const struct wev *w = &g->w;
    const char *image = kv_get(w, "Image");
    const char *type = strcmp(action, "modification") == 0 ? "change"
                       : strcmp(action, "creation") == 0   ? "creation"
                                                           : "access";
    const char *key = a->machine ? "SOFTWARE" SETTINGS : af(&g->a, "%s\\SOFTWARE" SETTINGS, a->sid);
    sb_raw(b, "{\"@timestamp\":");
    sb_json(b, t->iso3);
    sb_raw(b, ",\"agent\":{\"type\":\"endpoint\",\"version\":\"8.12.2\"},\"event\":{\"action\":");
    sb_json(b, action);
    sb_raw(b, ",\"category\":[\"registry\"],\"created\":");
    sb_json(b, t->iso3);
    sb_fmt(b,
           ",\"dataset\":\"endpoint.events.registry\",\"id\":\"%s\",\"kind\":\"event\",\"module\":"
           "\"endpoint\",\"type\":[\"%s\"]},\"host\":{\"architecture\":\"x86_64\",\"hostname\":"
           "\"%s\",\"id\":\"%s-%s-%s-%s-%s\",\"ip\":[\"%s\"],\"name\":\"%s\",\"os\":{\"family\":"
           "\"windows\",\"full\":\"Windows 10 Enterprise 22H2 (10.0.19045.4046)\",\"kernel\":"
           "\"22H2 (10.0.19045.4046)\",\"name\":\"Windows\",\"platform\":\"windows\",\"type\":"
           "\"windows\",\"version\":\"22H2 (10.0.19045.4046)\"}},\"message\":\"Endpoint registry "
           "event\",\"process\":{\"entity_id\":\"%s\",\"executable\":",
           hex(g, 24), type, w->h->name, name_hash(g, w->h->name, 8, 3),
           name_hash(g, w->h->name, 4, 4), name_hash(g, w->h->name, 4, 5),
           name_hash(g, w->h->name, 4, 6), name_hash(g, w->h->name, 12, 7), w->h->ip, w->h->name,
           hex(g, 40));
    sb_json(b, image);
    sb_raw(b, ",\"name\":");
    sb_json(b, base_name(image));
    sb_fmt(b,
           ",\"pid\":%s},\"registry\":{\"data\":{\"strings\":[\"%s\"],\"type\":\"REG_DWORD\"},"
           "\"hive\":\"%s\",\"key\":",
           kv_get(w, "ProcessId"), data, a->machine ? "HKLM" : "HKU");
    sb_json(b, key);
    sb_raw(b, ",\"path\":");
    sb_json(b,
            af(&g->a, "%s\\%s\\AmsiEnable", a->machine ? "HKEY_LOCAL_MACHINE" : "HKEY_USERS", key));
    sb_fmt(
        b,
        ",\"value\":\"AmsiEnable\"},\"user\":{\"domain\":\"CORP\",\"id\":\"%s\",\"name\":\"%s\"}}",
        a->sid, w->h->user);
}

/* Microsoft 365 Defender DeviceRegistryEvents through the Event Hub export. */
static void put_m365(struct gen *g, struct sb *b, const struct times *t, const struct amsi *a,
                     bool os_platform, const char *old, const char *data)
{
    const struct wev *w = &g->w;
    const char *image = kv_get(w, "Image");
    const char *key = a->machine ? "HKEY_LOCAL_MACHINE\\SOFTWARE" SETTINGS
                                 : af(&g->a, "HKEY_CURRENT_USER\\%s\\Software" SETTINGS, a->sid);
    sb_raw(b, "{\"Tenant\":\"DefaultTenant\",\"category\":\"AdvancedHunting-DeviceRegistryEvents\","
              "\"operationName\":\"Publish\",\"properties\":{\"ActionType\":\"RegistryValueSet\","
              "\"AppGuardContainerId\":\"\",\"DeviceId\":\"");
    sb_raw(b, name_hash(g, w->h->name, 40, 8));
    sb_raw(b, "\",\"DeviceName\":");
    sb_json(b, lower(g, w->h->fqdn));
    sb_fmt(b,
           ",\"InitiatingProcessAccountDomain\":\"corp\",\"InitiatingProcessAccountName\":\"%s\","
           "\"InitiatingProcessAccountSid\":\"%s\",\"InitiatingProcessAccountUpn\":"
           "\"%s@corp.example.com\",\"InitiatingProcessCommandLine\":",
           w->h->user, a->sid, w->h->user);
    sb_json(b, af(&g->a, "%s -nop -ep bypass -f C:\\Users\\Public\\cfg%u.ps1", base_name(image),
                  rng_below(&g->r, 100)));
    sb_raw(b, ",\"InitiatingProcessFileName\":");
    sb_json(b, base_name(image));
    sb_raw(b, ",\"InitiatingProcessFolderPath\":");
    sb_json(b, lower(g, image));
    sb_fmt(b,
           ",\"InitiatingProcessId\":%s,\"InitiatingProcessIntegrityLevel\":\"Medium\","
           "\"InitiatingProcessSHA256\":\"%s\",\"MachineGroup\":\"Workstations\",",
           kv_get(w, "ProcessId"), lower(g, name_hash(g, image, 64, 1)));
    if (os_platform)
        sb_raw(b, "\"OSPlatform\":\"Windows10\",");
    sb_raw(b, "\"PreviousRegistryKey\":");
    sb_json(b, key);
    sb_fmt(b,
           ",\"PreviousRegistryValueData\":\"%s\",\"PreviousRegistryValueName\":\"AmsiEnable\","
           "\"RegistryKey\":",
           old);
    sb_json(b, key);
    sb_fmt(b,
           ",\"RegistryValueData\":\"%s\",\"RegistryValueName\":\"AmsiEnable\","
           "\"RegistryValueType\":\"Dword\",\"ReportId\":%u,\"Timestamp\":\"%s\"},\"tenantId\":"
           "\"7e2c9a14-3b6d-4f08-a1e5-c94d0b7f6a23\",\"time\":\"%s\"}",
           data, 1000 + rng_below(&g->r, 1000000), t->iso7, t->iso7);
}

/* SentinelOne Cloud Funnel; CREATE a value creation, else a modification. */
static void put_s1(struct gen *g, struct sb *b, const struct times *t, const struct amsi *a,
                   bool create, const char *data)
{
    const struct wev *w = &g->w;
    const char *image = kv_get(w, "Image");
    const char *path = a->machine ? "MACHINE\\SOFTWARE" SETTINGS "\\AmsiEnable"
                                  : af(&g->a, "USER\\%s\\Software" SETTINGS "\\AmsiEnable", a->sid);
    sb_fmt(b,
           "{\"timestamp\":\"%.12s\",\"event.category\":\"registry\",\"event.type\":\"%s\","
           "\"meta.event.name\":\"%s\",\"event.time\":%" PRIu64 ",\"event.id\":\"%s_%u\","
           "\"endpoint.name\":\"%s\",\"endpoint.os\":\"windows\",\"endpoint.type\":\"desktop\","
           "\"os.name\":\"Windows 10 Enterprise\",\"agent.version\":\"24.1.4.257\","
           "\"agent.uuid\":\"%s\",\"dataSource.name\":\"SentinelOne\",\"dataSource.category\":"
           "\"security\",\"i.scheme\":\"edr\",\"site.name\":\"Corp HQ\",\"registry.keyPath\":",
           t->iso3 + 11, create ? "Registry Value Create" : "Registry Value Modified",
           create ? "REGVALUECREATE" : "REGVALUEMODIFIED", t->ms, hex(g, 26), rng_below(&g->r, 40),
           upper(g, w->h->name), lower(g, name_hash(g, w->h->name, 32, 9)));
    sb_json(b, path);
    sb_fmt(b, ",\"registry.value\":\"%s\",\"registry.valueType\":\"DWORD\",", data);
    if (!create)
        sb_fmt(b, "\"registry.oldValue\":\"%s\",\"registry.oldValueType\":\"DWORD\",",
               strcmp(data, "0") == 0 ? "1" : "0");
    sb_raw(b, "\"src.process.user\":");
    sb_json(b, af(&g->a, "CORP\\%s", w->h->user));
    sb_raw(b, ",\"src.process.image.path\":");
    sb_json(b, image);
    sb_raw(b, ",\"src.process.name\":");
    sb_json(b, base_name(image));
    sb_fmt(b,
           ",\"src.process.pid\":%s,\"src.process.integrityLevel\":\"MEDIUM\","
           "\"src.process.image.sha1\":\"%s\",\"src.process.storyline.id\":\"%s\","
           "\"src.process.parent.name\":\"cmd.exe\",\"src.process.parent.image.path\":"
           "\"C:\\\\Windows\\\\System32\\\\cmd.exe\",\"src.process.signedStatus\":\"signed\"}",
           kv_get(w, "ProcessId"), lower(g, name_hash(g, image, 40, 10)), hex(g, 16));
}

/* ---- Syslog: the record as Windows forwarders send it. ---- */

static const char *w_user_name(const struct wev *w)
{
    const char *u = w->security ? kv_get(w, "SubjectUserName") : "";
    return *u ? u : "SYSTEM";
}

static void put_syslog(struct gen *g, struct sb *b, const struct wev *w, const struct times *t,
                       uint64_t rec)
{
    const struct host *h = w->h;
    const char *host = upper(g, h->name);
    unsigned pri = w->security ? 13 : 14;
    enum gen_format f = g->o.format;
    switch (f) {
    case GEN_FORMAT_BEATS_JSON_RFC5424:
        sb_fmt(b, "<%u>1 %s %s winlogbeat - - - ", pri, t->iso3, host);
        put_winlogbeat(g, b, w, t, rec);
        break;
    case GEN_FORMAT_NXLOG_JSON_RFC5424:
    case GEN_FORMAT_NXLOG_JSON_RFC3164: {
        if (f == GEN_FORMAT_NXLOG_JSON_RFC5424)
            sb_fmt(b, "<%u>1 %s %s %s %u - - ", pri, t->iso3, host, w_provider(w), w_pid(w));
        else
            sb_fmt(b, "<%u>%s %s nxlog[%u]: ", pri, t->bsd, host, 1000 + h->eventlog_pid);
        const char *et = w->security ? "AUDIT_SUCCESS" : kv_get(w, "EventType");
        sb_fmt(b,
               "{\"EventTime\":\"%s\",\"Hostname\":\"%s\",\"Keywords\":%s,\"EventType\":\"%s\","
               "\"SeverityValue\":2,\"Severity\":\"INFO\",\"EventID\":%d,\"SourceName\":\"%s\","
               "\"ProviderGuid\":\"%s\",\"Version\":%d,\"Task\":%u,\"OpcodeValue\":0,"
               "\"RecordNumber\":%" PRIu64 ",\"ProcessID\":%u,\"ThreadID\":%u,\"Channel\":\"%s\",",
               t->plain, h->fqdn, w->security ? "-9214364837600034816" : "-9223372036854775808",
               *et ? et : "INFO", w->id, w_provider(w), w->security ? SECURITY_GUID : SYSMON_GUID,
               w->version, w->security ? w->task_num : (unsigned)w->id, rec, w_pid(w), w_tid(w),
               w_channel(w));
        if (!w->security)
            sb_raw(b, "\"Domain\":\"NT AUTHORITY\",\"AccountName\":\"SYSTEM\",\"UserID\":"
                      "\"S-1-5-18\",\"AccountType\":\"User\",");
        sb_raw(b, "\"Category\":");
        sb_json(b, w->security ? w->task : w_action(g, w));
        sb_raw(b, ",\"Opcode\":\"Info\"");
        for (size_t i = 0; i < w->n; i++) {
            if (strcmp(w->kv[i].k, "EventType") == 0)
                continue;
            sb_raw(b, ",");
            sb_json(b, w->kv[i].k);
            sb_raw(b, ":");
            sb_json(b, w->kv[i].v);
        }
        sb_fmt(b,
               ",\"EventReceivedTime\":\"%s\",\"SourceModuleName\":\"eventlog\","
               "\"SourceModuleType\":\"im_msvistalog\"}",
               t->plain);
        break;
    }
    case GEN_FORMAT_NXLOG_SD_RFC5424: {
        const char *et = w->security ? "AUDIT_SUCCESS" : kv_get(w, "EventType");
        sb_fmt(b,
               "<%u>1 %s %s %s %u - [NXLOG@14506 EventReceivedTime=\"%s\" SourceModuleName="
               "\"eventlog\" SourceModuleType=\"im_msvistalog\" EventType=\"%s\" EventID=\"%d\" "
               "ProviderGuid=\"%s\" Version=\"%d\" Task=\"%u\" RecordNumber=\"%" PRIu64
               "\" ThreadID=\"%u\" Channel=\"%s\"",
               pri, t->iso3, host, w_provider(w), w_pid(w), t->plain, *et ? et : "INFO", w->id,
               w->security ? SECURITY_GUID : SYSMON_GUID, w->version,
               w->security ? w->task_num : (unsigned)w->id, rec, w_tid(w), w_channel(w));
        if (!w->security)
            sb_raw(b, " Domain=\"NT AUTHORITY\" AccountName=\"SYSTEM\" UserID=\"S-1-5-18\"");
        sb_raw(b, " Category=\"");
        sb_escaped(b, w->security ? w->task : w_action(g, w), "\"\\]", false);
        sb_raw(b, "\"");
        for (size_t i = 0; i < w->n; i++) {
            if (strcmp(w->kv[i].k, "EventType") == 0)
                continue;
            sb_fmt(b, " %s=\"", w->kv[i].k);
            sb_escaped(b, w->kv[i].v, "\"\\]", false);
            sb_raw(b, "\"");
        }
        sb_raw(b, "] ");
        sb_flat(b, g->msg.p);
        break;
    }
    case GEN_FORMAT_SNARE_RFC3164:
        sb_fmt(b, "<%u>%s %s MSWinEventLog\t1\t%s\t%" PRIu64 "\t%s\t%d\t%s\t%s\tUser\t%s\t%s\t",
               pri, t->bsd, host, w_channel(w), rec, t->ctime, w->id, w_provider(w), w_user_name(w),
               w->security ? "Success Audit" : "Information", host);
        sb_raw(b, w->security ? w->task : w_action(g, w));
        sb_raw(b, "\t\t");
        sb_flat(b, g->msg.p);
        sb_fmt(b, "\t%" PRIu64, rec);
        break;
    case GEN_FORMAT_WINCOLLECT_RFC3164:
        sb_fmt(b,
               "<%u>%s %s AgentDevice=WindowsLog\tAgentLogFile=%s\tSource=%s\tComputer=%s\t"
               "OriginatingComputer=%s\tUser=%s\tDomain=%s\tEventID=%d\tEventIDCode=%d\t"
               "EventType=%d\tEventCategory=%u\tRecordNumber=%" PRIu64 "\tTimeGenerated=%" PRIu64
               "\tTimeWritten=%" PRIu64 "\tLevel=Informational\tKeywords=%s\tTask=",
               pri, t->bsd, h->ip, w_channel(w), w_provider(w), h->fqdn, h->ip, w_user_name(w),
               w->security ? "CORP" : "NT AUTHORITY", w->id, w->id, w->security ? 8 : 4,
               w->security ? w->task_num : (unsigned)w->id, rec, t->epoch, t->epoch,
               w->security ? "0x8020000000000000" : "0x8000000000000000");
        sb_raw(b, w->security ? w->task : w_action(g, w));
        sb_raw(b, "\tMessage=");
        sb_flat(b, g->msg.p);
        break;
    case GEN_FORMAT_WINDOWS_XML_RFC5424:
    case GEN_FORMAT_WINDOWS_XML_RFC3164:
        if (f == GEN_FORMAT_WINDOWS_XML_RFC5424)
            sb_fmt(b, "<%u>1 %s %s %s - - - ", pri, t->iso3, host, w_provider(w));
        else
            sb_fmt(b, "<%u>%s %s evtfwd: <?xml version=\"1.0\" encoding=\"utf-8\"?>", pri, t->bsd,
                   host);
        sb_fmt(b,
               "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>"
               "<Provider Name=\"%s\" Guid=\"%s\"/><EventID>%d</EventID><Version>%d</Version>"
               "<Level>%d</Level><Task>%u</Task><Opcode>0</Opcode><Keywords>%s</Keywords>"
               "<TimeCreated SystemTime=\"%s\"/><EventRecordID>%" PRIu64 "</EventRecordID>"
               "<Correlation/><Execution ProcessID=\"%u\" ThreadID=\"%u\"/><Channel>%s</Channel>"
               "<Computer>%s</Computer>%s</System><EventData>",
               w_provider(w), w->security ? SECURITY_GUID : lower(g, SYSMON_GUID), w->id,
               w->version, w->security ? 0 : 4, w->security ? w->task_num : (unsigned)w->id,
               w->security ? "0x8020000000000000" : "0x8000000000000000", t->iso7, rec, w_pid(w),
               w_tid(w), w_channel(w), h->fqdn,
               w->security ? "<Security/>" : "<Security UserID=\"S-1-5-18\"/>");
        for (size_t i = 0; i < w->n; i++) {
            sb_fmt(b, "<Data Name=\"%s\">", w->kv[i].k);
            sb_xml(b, w->kv[i].v);
            sb_raw(b, "</Data>");
        }
        sb_raw(b, "</EventData></Event>");
        break;
    default:
        put_winlogbeat(g, b, w, t, rec);
        break;
    }
}

/* ---------------------------------------------------------------------------------------------
 * The stream */

static const char *const shape_names[GEN_SHAPE_COUNT] = {"winlogbeat8", "ecs", "defend",
                                                         "m365",        "s1",  "4657"};

static const char *const format_names[GEN_FORMAT_COUNT] = {
    "ndjson",
    "syslog-beats-json-rfc5424",
    "syslog-nxlog-json-rfc5424",
    "syslog-nxlog-json-rfc3164",
    "syslog-nxlog-sd-rfc5424",
    "syslog-snare-rfc3164",
    "syslog-wincollect-rfc3164",
    "syslog-windows-xml-rfc5424",
    "syslog-windows-xml-rfc3164",
};

static const char *const kind_names[GEN_KIND_COUNT] = {
    "sysmon-1",      "sysmon-3",      "sysmon-11",     "sysmon-12", "sysmon-13",
    "security-4624", "security-4688", "security-4657", "near-miss", "amsienable"};

/* Share of each background kind, per thousand events; registry events dominate a Sysmon feed. */
static const unsigned kind_weight[GEN_KIND_NEAR_MISS] = {50, 120, 280, 20, 470, 30, 20, 10};

const char *gen_shape_name(enum gen_shape s)
{
    return (unsigned)s < GEN_SHAPE_COUNT ? shape_names[s] : "?";
}

const char *gen_format_name(enum gen_format f)
{
    return (unsigned)f < GEN_FORMAT_COUNT ? format_names[f] : "?";
}

const char *gen_kind_name(enum gen_kind k)
{
    return (unsigned)k < GEN_KIND_COUNT ? kind_names[k] : "?";
}

int gen_parse_shapes(const char *s, unsigned *mask)
{
    unsigned m = 0;
    if (strcmp(s, "all") == 0) {
        *mask = (1u << GEN_SHAPE_COUNT) - 1;
        return 0;
    }
    while (*s) {
        size_t n = strcspn(s, ",");
        int i = 0;
        while (i < GEN_SHAPE_COUNT &&
               !(strlen(shape_names[i]) == n && strncmp(s, shape_names[i], n) == 0))
            i++;
        if (i == GEN_SHAPE_COUNT)
            return -EINVAL;
        m |= 1u << i;
        s += n;
        if (*s == ',')
            s++;
    }
    if (!m)
        return -EINVAL;
    *mask = m;
    return 0;
}

int gen_parse_format(const char *s, enum gen_format *f)
{
    for (int i = 0; i < GEN_FORMAT_COUNT; i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *f = (enum gen_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Up to 10 digits; -1 when S is not that. */
static int64_t parse_digits(const char *s, size_t n)
{
    if (n == 0 || n > 10)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int gen_parse_rate(const char *s, uint64_t *num, uint64_t *den)
{
    int64_t a, b;
    const char *slash = strchr(s, '/');
    const char *dot = strchr(s, '.');
    if (slash) {
        a = parse_digits(s, (size_t)(slash - s));
        b = parse_digits(slash + 1, strlen(slash + 1));
    } else if (dot) {
        size_t frac = strlen(dot + 1);
        int64_t whole = parse_digits(s, (size_t)(dot - s));
        int64_t part = frac ? parse_digits(dot + 1, frac) : 0;
        if (whole < 0 || part < 0 || frac > 9)
            return -EINVAL;
        b = 1;
        for (size_t i = 0; i < frac; i++)
            b *= 10;
        a = whole * b + part;
    } else {
        a = parse_digits(s, strlen(s));
        b = 1;
    }
    if (a < 0 || b <= 0 || a > b || (uint64_t)b > GEN_MAX_RATE_DEN)
        return -EINVAL;
    uint64_t d = a ? gcd((uint64_t)a, (uint64_t)b) : (uint64_t)b;
    *num = (uint64_t)a / d;
    *den = (uint64_t)b / d;
    return 0;
}

static void next_block(struct gen *g, uint64_t start)
{
    uint64_t len = g->block_q + (g->block < g->block_r ? 1 : 0);
    g->hit_pos = start + rng_next(&g->place) % len;
    g->block_end = start + len;
}

struct gen *gen_new(const struct gen_options *o, char *err, size_t errlen)
{
    if (o->count > GEN_MAX_COUNT) {
        snprintf(err, errlen, "at most %llu events", (unsigned long long)GEN_MAX_COUNT);
        return NULL;
    }
    if (o->rate_den == 0 || o->rate_den > GEN_MAX_RATE_DEN || o->rate_num > o->rate_den) {
        snprintf(err, errlen, "the hit rate must be a fraction between 0 and 1");
        return NULL;
    }
    if (!o->shapes || o->shapes >= (1u << GEN_SHAPE_COUNT)) {
        snprintf(err, errlen, "no shape for the AmsiEnable events");
        return NULL;
    }
    if ((unsigned)o->format >= GEN_FORMAT_COUNT) {
        snprintf(err, errlen, "unknown output format");
        return NULL;
    }
    if (o->format != GEN_FORMAT_NDJSON && (o->shapes & ~(unsigned)RAW_SHAPES)) {
        snprintf(err, errlen,
                 "syslog formats carry Windows event log records: shapes winlogbeat8 and 4657 "
                 "only");
        return NULL;
    }
    if (o->near_miss_permil > 1000) {
        snprintf(err, errlen, "at most 1000 near misses per thousand events");
        return NULL;
    }
    struct gen *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->o = *o;
    rng_seed(&g->r, o->seed);
    rng_seed(&g->place, o->seed ^ 0xA5A5A5A5DEADBEEFull);
    for (int i = 0; i < 3; i++)
        g->domain_sid[i] = 1000000000u + rng_below(&g->r, 3000000000u);
    for (unsigned i = 0; i < N_HOSTS; i++)
        host_init(g, &g->hosts[i], i);
    /* 2025-03-03T08:00:00Z plus up to a day, in 100 ns units. */
    g->tick = (1740988800ull + rng_below(&g->r, 86400)) * 10000000ull;
    for (int s = 0; s < GEN_SHAPE_COUNT; s++) {
        if (o->shapes & (1u << s))
            g->shape_list[g->nshapes++] = (enum gen_shape)s;
    }
    /* round(count * num / den), halves up, without overflow (num <= den <= 10^9). */
    g->planned = o->count / o->rate_den * o->rate_num +
                 ((o->count % o->rate_den) * o->rate_num + o->rate_den / 2) / o->rate_den;
    if (g->planned) {
        g->block_q = o->count / g->planned;
        g->block_r = o->count % g->planned;
        next_block(g, 0);
    }
    return g;
}

void gen_free(struct gen *g)
{
    if (!g)
        return;
    free(g->msg.p);
    free(g->ev.p);
    free(g);
}

const struct gen_totals *gen_totals(const struct gen *g)
{
    return &g->t;
}

uint64_t gen_planned_hits(const struct gen *g)
{
    return g->planned;
}

static enum gen_kind pick_kind(struct rng *r)
{
    unsigned x = rng_below(r, 1000);
    for (int k = 0; k < GEN_KIND_NEAR_MISS; k++) {
        if (x < kind_weight[k])
            return (enum gen_kind)k;
        x -= kind_weight[k];
    }
    return GEN_KIND_SYSMON13;
}

/* An AmsiEnable write that alerts under no profile, in one of the JSON shapes asked for. */
static void near_miss_shape(struct gen *g, struct sb *b, const struct times *t, struct host *h,
                            const char *utc, const struct amsi *a, enum gen_shape s)
{
    amsi_sysmon(g, h, utc, a, "DWORD (0x00000001)");
    switch (s) {
    case GEN_SHAPE_ECS:
        put_ecs(g, b, t, h->sysmon_record++, "1");
        break;
    case GEN_SHAPE_DEFEND:
        put_defend(g, b, t, a, "query", "0");
        break;
    case GEN_SHAPE_M365:
        put_m365(g, b, t, a, true, "0", "1");
        break;
    default:
        put_s1(g, b, t, a, false, "1");
        break;
    }
}

/* AmsiEnable set to 0 in shape S; returns the profiles that alert. */
static unsigned hit(struct gen *g, struct sb *b, const struct times *t, struct host *h,
                    const char *utc, enum gen_shape s, bool *raw)
{
    bool syslog = g->o.format != GEN_FORMAT_NDJSON;
    /* Every fourth hit of a shape that has one is the variant only the extended profile reads. */
    bool ext_only = g->shape_ordinal[s]++ % 4 == 3;
    const unsigned both = GEN_ALERT_ELASTIC | GEN_ALERT_EXTENDED;
    struct amsi a;
    amsi_pick(g, h, &a, s == GEN_SHAPE_WINLOGBEAT8);
    *raw = false;
    switch (s) {
    case GEN_SHAPE_WINLOGBEAT8:
        amsi_sysmon(g, h, utc, &a,
                    rng_below(&g->r, 8) == 0 ? "QWORD (0x00000000-0x00000000)"
                                             : "DWORD (0x00000000)");
        *raw = true;
        /* Syslog senders' records get host.os.type from the receiver. */
        if (syslog || !ext_only) {
            g->w.host_os = true;
            return both;
        }
        return GEN_ALERT_EXTENDED;
    case GEN_SHAPE_4657:
        amsi_4657(g, h, &a, "1", "0");
        g->w.host_os = rng_below(&g->r, 2);
        *raw = true;
        return GEN_ALERT_EXTENDED;
    case GEN_SHAPE_ECS:
        amsi_sysmon(g, h, utc, &a, "DWORD (0x00000000)");
        put_ecs(g, b, t, h->sysmon_record++, "0");
        return both;
    case GEN_SHAPE_DEFEND:
        amsi_sysmon(g, h, utc, &a, "DWORD (0x00000000)");
        put_defend(g, b, t, &a, ext_only ? "creation" : "modification", "0");
        return ext_only ? GEN_ALERT_EXTENDED : both;
    case GEN_SHAPE_M365:
        amsi_sysmon(g, h, utc, &a, "DWORD (0x00000000)");
        put_m365(g, b, t, &a, !ext_only, "1", "0");
        return ext_only ? GEN_ALERT_EXTENDED : both;
    default:
        amsi_sysmon(g, h, utc, &a, "DWORD (0x00000000)");
        put_s1(g, b, t, &a, ext_only, "0");
        return ext_only ? GEN_ALERT_EXTENDED : both;
    }
}

int gen_next(struct gen *g, struct buf *out, struct gen_event *ev)
{
    if (g->broken)
        return -ENOMEM;
    if (g->index >= g->o.count)
        return 1;
    g->a.used = 0;
    g->a.full = false;
    g->ev.len = 0;
    g->msg.len = 0;
    if (g->msg.p)
        g->msg.p[0] = '\0';
    g->tick += rng_below(&g->r, 20000); /* up to 2 ms between events */
    struct times t;
    times_of(g->tick, &t);
    char utc[96];
    fmt_time(g->tick - rng_below(&g->r, 40000), utc, sizeof(utc), false);
    struct host *h = &g->hosts[rng_below(&g->r, N_HOSTS)];
    struct gen_event e = {.kind = GEN_KIND_HIT};
    bool raw = true;
    if (g->planned && g->index == g->hit_pos) {
        e.hit = true;
        e.shape = g->shape_list[g->t.hits % g->nshapes];
        e.alerts = hit(g, &g->ev, &t, h, utc, e.shape, &raw);
    } else if (g->o.near_miss_permil && rng_below(&g->r, 1000) < g->o.near_miss_permil) {
        e.kind = GEN_KIND_NEAR_MISS;
        struct amsi a;
        amsi_pick(g, h, &a, true);
        unsigned json_shapes = g->o.format == GEN_FORMAT_NDJSON ? g->o.shapes & ~RAW_SHAPES : 0;
        if (json_shapes && rng_below(&g->r, 2)) {
            enum gen_shape pick[GEN_SHAPE_COUNT];
            unsigned n = 0;
            for (int s = 0; s < GEN_SHAPE_COUNT; s++) {
                if (json_shapes & (1u << s))
                    pick[n++] = (enum gen_shape)s;
            }
            near_miss_shape(g, &g->ev, &t, h, utc, &a, pick[rng_below(&g->r, n)]);
            raw = false;
        } else {
            near_miss_raw(g, h, utc, &a);
        }
    } else {
        e.kind = pick_kind(&g->r);
        switch (e.kind) {
        case GEN_KIND_SYSMON1:
            ev_process_create(g, h, utc);
            break;
        case GEN_KIND_SYSMON3:
            ev_network(g, h, utc);
            break;
        case GEN_KIND_SYSMON11:
            ev_file_create(g, h, utc);
            break;
        case GEN_KIND_SYSMON12:
            ev_registry_object(g, h, utc);
            break;
        case GEN_KIND_SECURITY4624:
            ev_logon(g, h);
            break;
        case GEN_KIND_SECURITY4688:
            ev_new_process(g, h);
            break;
        case GEN_KIND_SECURITY4657:
            ev_registry_audit(g, h);
            break;
        default:
            ev_registry(g, h, utc);
            break;
        }
    }
    if (raw) {
        uint64_t rec = g->w.security ? h->security_record++ : h->sysmon_record++;
        if (g->o.format == GEN_FORMAT_NDJSON)
            put_winlogbeat(g, &g->ev, &g->w, &t, rec);
        else
            put_syslog(g, &g->ev, &g->w, &t, rec);
    }
    if (g->ev.failed || g->msg.failed || g->a.full || !g->ev.p) {
        g->broken = true;
        return -ENOMEM;
    }
    int rc = buf_append(out, g->ev.p, g->ev.len);
    if (rc < 0) {
        g->broken = true;
        return rc;
    }
    g->t.events++;
    g->t.bytes += g->ev.len;
    g->t.kinds[e.kind]++;
    if (e.hit) {
        g->t.hits++;
        g->t.shape_hits[e.shape]++;
    }
    g->t.alerts_elastic += (e.alerts & GEN_ALERT_ELASTIC) != 0;
    g->t.alerts_extended += (e.alerts & GEN_ALERT_EXTENDED) != 0;
    if (g->planned && g->index + 1 == g->block_end && g->block + 1 < g->planned) {
        g->block++;
        next_block(g, g->block_end);
    }
    g->index++;
    if (ev)
        *ev = e;
    return 0;
}
