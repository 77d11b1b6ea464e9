/* Scan benchmark: the single-threaded detection path over an in-memory corpus of Winlogbeat 8
 * events, with the prefilter and without it (every event parsed in full).
 *
 * The corpus is generated from a seed: Sysmon 1 (process creation), 3 (network connection),
 * 11 (file created) and 13 (registry value set, many keys and every Details form), and Security
 * 4624 logons, shaped as Winlogbeat 8 ships them (before Elastic's ingest pipeline), with varied
 * hosts, users, processes, record ids and times, and no host.os (like the Beats goldens in the
 * corpus). Exactly one event in every block of --hit-rate events (at a seeded position inside the
 * block) is a Sysmon 13 event setting AmsiEnable to 0, carrying host.os as add_host_metadata adds
 * it (host.os.type "windows"), so the number of alerts the elastic profile must raise is known
 * exactly; the benchmark fails (exit status 1) when the detector raises another number. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/detect.h"
#include "pipeline/normalize.h"
#include "pipeline/prefilter.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------
 * Small utilities */

static void die(const char *what)
{
    fprintf(stderr, "bench_scan: %s\n", what);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xoshiro256** seeded with splitmix64: fast, and the same sequence on every machine. */
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

/* A growable output buffer; allocation failure ends the program. */
struct sb {
    char *p;
    size_t len, cap;
};

static void sb_reserve(struct sb *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        die("out of memory");
    b->p = p;
    b->cap = cap;
}

static void sb_add(struct sb *b, const char *s, size_t n)
{
    sb_reserve(b, n);
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
    sb_reserve(b, 512);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("formatting failed");
    if ((size_t)n >= b->cap - b->len) {
        sb_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* S as a JSON string, quotes included. */
static void sb_json(struct sb *b, const char *s)
{
    sb_reserve(b, 2 * strlen(s) + 2);
    char *o = b->p + b->len;
    *o++ = '"';
    for (;;) {
        size_t run = strcspn(s, "\"\\\n\t\r");
        memcpy(o, s, run);
        o += run;
        s += run;
        if (!*s)
            break;
        *o++ = '\\';
        *o++ = *s == '\n' ? 'n' : *s == '\t' ? 't' : *s == '\r' ? 'r' : *s;
        s++;
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
}

/* Per-event string arena: the values of one event, reset before the next. */
struct arena {
    char buf[16384];
    size_t used;
};

__attribute__((format(printf, 2, 3))) static const char *af(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = a->buf + a->used;
    size_t room = sizeof(a->buf) - a->used;
    int n = vsnprintf(out, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        die("event value arena full");
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

struct gen {
    struct rng r;
    struct host hosts[N_HOSTS];
    uint32_t domain_sid[3];
    uint64_t tick; /* 100 ns units since the Unix epoch */
    struct arena a;
    struct sb msg; /* message text before escaping */
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

static void gen_init(struct gen *g, uint64_t seed)
{
    memset(g, 0, sizeof(*g));
    rng_seed(&g->r, seed);
    for (int i = 0; i < 3; i++)
        g->domain_sid[i] = 1000000000u + rng_below(&g->r, 3000000000u);
    for (unsigned i = 0; i < N_HOSTS; i++)
        host_init(g, &g->hosts[i], i);
    /* 2025-03-03T08:00:00Z plus up to a day, in 100 ns units. */
    g->tick = (1740988800ull + rng_below(&g->r, 86400)) * 10000000ull;
}

struct kv {
    const char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* The common head of every event: @timestamp, event, host, log. */
static void emit_head(struct sb *b, const struct host *h, const char *ts, const char *action,
                      const char *code, const char *provider, const char *outcome, bool host_os)
{
    sb_raw(b, "{\"@timestamp\":");
    sb_json(b, ts);
    sb_raw(b, ",\"event\":{\"action\":");
    sb_json(b, action);
    sb_fmt(b, ",\"code\":\"%s\",\"kind\":\"event\",", code);
    if (outcome)
        sb_fmt(b, "\"outcome\":\"%s\",", outcome);
    sb_raw(b, "\"provider\":");
    sb_json(b, provider);
    sb_fmt(b, "},\"host\":{\"name\":\"%s\"", h->name);
    if (host_os)
        sb_raw(b, ",\"os\":{\"type\":\"windows\",\"family\":\"windows\",\"platform\":\"windows\"}");
    sb_raw(b, "},\"log\":{\"level\":\"information\"},\"message\":");
}

/* A Sysmon event. KV is in the order Sysmon renders the message; event_data is sorted. */
static void emit_sysmon(struct gen *g, struct sb *b, struct host *h, const char *ts, int id,
                        const char *title, const char *rule, int version, struct kv *kv, size_t n,
                        bool host_os)
{
    char action[128];
    snprintf(action, sizeof(action), "%s (rule: %s)", title, rule);
    char code[8];
    snprintf(code, sizeof(code), "%d", id);
    emit_head(b, h, ts, action, code, "Microsoft-Windows-Sysmon", NULL, host_os);
    g->msg.len = 0;
    sb_fmt(&g->msg, "%s:", title);
    for (size_t i = 0; i < n; i++)
        sb_fmt(&g->msg, "\n%s: %s", kv[i].k, kv[i].v);
    sb_json(b, g->msg.p);
    sb_raw(b, ",\"winlog\":{\"channel\":\"Microsoft-Windows-Sysmon/Operational\","
              "\"computer_name\":");
    sb_json(b, h->fqdn);
    sb_raw(b, ",\"event_data\":{");
    qsort(kv, n, sizeof(kv[0]), kv_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_raw(b, ",");
        sb_json(b, kv[i].k);
        sb_raw(b, ":");
        sb_json(b, kv[i].v);
    }
    sb_fmt(
        b,
        "},\"event_id\":\"%d\",\"opcode\":\"Info\",\"process\":{\"pid\":%u,\"thread\":{\"id\":%u}"
        "},\"provider_guid\":\"{5770385F-C22A-43E0-BF4C-06F5698FFBD9}\",\"provider_name\":"
        "\"Microsoft-Windows-Sysmon\",\"record_id\":%" PRIu64 ",\"task\":",
        id, h->sysmon_pid, h->sysmon_tid, h->sysmon_record++);
    sb_json(b, action);
    sb_fmt(b,
           ",\"user\":{\"domain\":\"NT AUTHORITY\",\"identifier\":\"S-1-5-18\",\"name\":\"SYSTEM\","
           "\"type\":\"Well Known Group\"},\"version\":%d}}",
           version);
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

/* ---------------------------------------------------------------------------------------------
 * Event kinds */

static void ev_process_create(struct gen *g, struct sb *b, struct host *h, const char *ts,
                              const char *utc)
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
    emit_sysmon(g, b, h, ts, 1, "Process Create", "ProcessCreate", 5, kv, N_ELEMS(kv), false);
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

static void ev_network(struct gen *g, struct sb *b, struct host *h, const char *ts, const char *utc)
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
    emit_sysmon(g, b, h, ts, 3, "Network connection detected", "NetworkConnect", 5, kv, N_ELEMS(kv),
                false);
}

static void ev_file_create(struct gen *g, struct sb *b, struct host *h, const char *ts,
                           const char *utc)
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
    emit_sysmon(g, b, h, ts, 11, "File created", "FileCreate", 2, kv, N_ELEMS(kv), false);
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

static void ev_registry(struct gen *g, struct sb *b, struct host *h, const char *ts,
                        const char *utc, bool amsi)
{
    struct reg_write w;
    if (amsi) {
        static const char *const writers[] = {
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "C:\\Windows\\system32\\reg.exe", "C:\\Windows\\System32\\wscript.exe",
            "C:\\Windows\\System32\\cscript.exe", "C:\\Program Files\\PowerShell\\7\\pwsh.exe"};
        w.image = PICK(&g->r, writers);
        w.system = false;
        if (rng_below(&g->r, 4) == 0)
            w.target = "HKLM\\SOFTWARE\\Microsoft\\Windows Script\\Settings\\AmsiEnable";
        else
            w.target =
                af(&g->a, "HKU\\%s\\Software\\Microsoft\\Windows Script\\Settings\\AmsiEnable",
                   user_sid(g, h->user_rid));
        w.details = "DWORD (0x00000000)";
    } else {
        registry_target(g, h, &w);
    }
    struct kv kv[] = {
        {"RuleName", "-"},
        {"EventType", "SetValue"},
        {"UtcTime", utc},
        {"ProcessGuid", proc_guid(g)},
        {"ProcessId", w.system && strcmp(w.image, "System") == 0 ? "4" : sysmon_pid(g)},
        {"Image", w.image},
        {"TargetObject", w.target},
        {"Details", w.details},
        {"User", w.system ? "NT AUTHORITY\\SYSTEM" : af(&g->a, "CORP\\%s", h->user)},
    };
    emit_sysmon(g, b, h, ts, 13, "Registry value set", "RegistryEvent", 2, kv, N_ELEMS(kv), amsi);
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

static void ev_logon(struct gen *g, struct sb *b, struct host *h, const char *ts)
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
    char upper[32];
    snprintf(upper, sizeof(upper), "%s", h->name);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    const char *subject_user = type == 3 ? "-" : af(&g->a, "%s$", upper);
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
    const char *workstation = type == 3 ? "-" : upper;
    const char *logon_process = kerberos ? "Kerberos" : type == 3 ? "NtLmSsp " : "User32 ";
    const char *guid = kerberos ? proc_guid(g) : "{00000000-0000-0000-0000-000000000000}";
    const char *key_length = kerberos ? "0" : "128";

    emit_head(b, h, ts, "Logon", "4624", "Microsoft-Windows-Security-Auditing", "success", false);
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
    sb_json(b, g->msg.p);
    sb_raw(b, ",\"winlog\":{\"api\":\"wineventlog\",\"channel\":\"Security\",\"computer_name\":");
    sb_json(b, h->fqdn);
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
    sb_raw(b, ",\"event_data\":{");
    for (size_t i = 0; i < N_ELEMS(kv); i++) {
        if (i)
            sb_raw(b, ",");
        sb_json(b, kv[i].k);
        sb_raw(b, ":");
        sb_json(b, kv[i].v);
    }
    sb_fmt(b,
           "},\"event_id\":\"4624\",\"keywords\":[\"Audit Success\"],\"opcode\":\"Info\","
           "\"process\":{\"pid\":%u,\"thread\":{\"id\":%u}},\"provider_guid\":"
           "\"{54849625-5478-4994-a5ba-3e3b0328c30d}\",\"provider_name\":"
           "\"Microsoft-Windows-Security-Auditing\",\"record_id\":%" PRIu64
           ",\"task\":\"Logon\",\"version\":2}}",
           h->lsass_pid, h->eventlog_tid, h->security_record++);
}

/* ---------------------------------------------------------------------------------------------
 * The corpus */

enum kind { K_SYSMON1, K_SYSMON3, K_SYSMON11, K_SYSMON13, K_SECURITY4624, K_AMSI, K_COUNT };

static const char *const kind_names[K_COUNT] = {
    "sysmon-1", "sysmon-3", "sysmon-11", "sysmon-13", "security-4624", "sysmon-13-amsienable"};

/* Share of each background kind, per thousand events; registry events dominate a Sysmon feed. */
static const unsigned kind_weight[K_AMSI] = {50, 120, 300, 500, 30};

struct corpus {
    char *data;
    size_t *off; /* COUNT + 1 offsets into DATA */
    size_t count, bytes, min_len, max_len;
    uint64_t hits;
    uint64_t kinds[K_COUNT];
    bool *is_hit;
};

static enum kind pick_kind(struct rng *r)
{
    unsigned x = rng_below(r, 1000);
    for (int k = 0; k < K_AMSI; k++) {
        if (x < kind_weight[k])
            return (enum kind)k;
        x -= kind_weight[k];
    }
    return K_SYSMON13;
}

static void corpus_build(struct corpus *c, size_t count, uint64_t hit_rate, uint64_t seed)
{
    struct gen *g = calloc(1, sizeof(*g));
    if (!g)
        die("out of memory");
    gen_init(g, seed);
    struct sb out = {0};
    sb_reserve(&out, count * 1600);
    memset(c, 0, sizeof(*c));
    c->off = malloc((count + 1) * sizeof(*c->off));
    c->is_hit = calloc(count ? count : 1, sizeof(*c->is_hit));
    if (!c->off || !c->is_hit)
        die("out of memory");
    /* One hit at a seeded position in every block of HIT_RATE events. */
    struct rng place;
    rng_seed(&place, seed ^ 0xA5A5A5A5DEADBEEFull);
    for (size_t start = 0; start < count; start += hit_rate) {
        size_t pos = start + (size_t)(rng_next(&place) % hit_rate);
        if (pos < count)
            c->is_hit[pos] = true;
    }
    c->min_len = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        g->a.used = 0;
        g->tick += rng_below(&g->r, 20000); /* up to 2 ms between events */
        char ts[96], utc[96];
        fmt_time(g->tick, ts, sizeof(ts), true);
        fmt_time(g->tick - rng_below(&g->r, 40000), utc, sizeof(utc), false);
        struct host *h = &g->hosts[rng_below(&g->r, N_HOSTS)];
        enum kind k = c->is_hit[i] ? K_AMSI : pick_kind(&g->r);
        c->off[i] = out.len;
        switch (k) {
        case K_SYSMON1:
            ev_process_create(g, &out, h, ts, utc);
            break;
        case K_SYSMON3:
            ev_network(g, &out, h, ts, utc);
            break;
        case K_SYSMON11:
            ev_file_create(g, &out, h, ts, utc);
            break;
        case K_SYSMON13:
            ev_registry(g, &out, h, ts, utc, false);
            break;
        case K_SECURITY4624:
            ev_logon(g, &out, h, ts);
            break;
        case K_AMSI:
        default:
            ev_registry(g, &out, h, ts, utc, true);
            c->hits++;
            break;
        }
        c->kinds[k]++;
        size_t len = out.len - c->off[i];
        if (len < c->min_len)
            c->min_len = len;
        if (len > c->max_len)
            c->max_len = len;
    }
    c->off[count] = out.len;
    c->data = out.p;
    c->count = count;
    c->bytes = out.len;
    if (!count)
        c->min_len = 0;
    free(g->msg.p);
    free(g);
}

static void corpus_free(struct corpus *c)
{
    free(c->data);
    free(c->off);
    free(c->is_hit);
}

/* ---------------------------------------------------------------------------------------------
 * Measurements */

struct result {
    const char *name;
    size_t events;
    uint64_t bytes;
    double seconds;     /* median over the repetitions */
    double best, worst; /* fastest and slowest repetition */
    int64_t parsed;     /* -1: not applicable */
    int64_t candidates; /* -1: not applicable */
    int64_t alerts;     /* -1: not applicable */
    int64_t expected;   /* alerts the corpus must raise, -1: not applicable */
    int errors;         /* detector_run failures */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set_times(struct result *res, double *t, int n)
{
    qsort(t, (size_t)n, sizeof(*t), cmp_double);
    res->best = t[0];
    res->worst = t[n - 1];
    res->seconds = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static uint64_t span_bytes(const struct corpus *c, size_t n)
{
    return c->off[n] - c->off[0];
}

static uint64_t hits_in(const struct corpus *c, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h += c->is_hit[i];
    return h;
}

/* The prefilter predicate alone. */
static void bench_prefilter(const struct corpus *c, size_t n, int repeat, bool scalar,
                            struct result *res)
{
    double t[64];
    uint64_t cand = 0;
    for (int r = 0; r < repeat; r++) {
        cand = 0;
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            const char *ev = c->data + c->off[i];
            size_t len = c->off[i + 1] - c->off[i];
            cand += scalar ? prefilter_candidate_scalar(ev, len) : prefilter_candidate(ev, len);
        }
        t[r] = now_s() - t0;
    }
    *res = (struct result){.name = scalar ? "prefilter_candidate_scalar" : "prefilter_candidate",
                           .events = n,
                           .bytes = span_bytes(c, n),
                           .parsed = -1,
                           .candidates = (int64_t)cand,
                           .alerts = -1,
                           .expected = -1};
    set_times(res, t, repeat);
}

/* A pass that only reads every byte (glibc memchr for a byte no event holds): the memory and
 * loop floor any byte scanner pays. */
static void bench_floor(const struct corpus *c, int repeat, struct result *res)
{
    double t[64];
    volatile size_t sink = 0;
    for (int r = 0; r < repeat; r++) {
        size_t found = 0;
        double t0 = now_s();
        for (size_t i = 0; i < c->count; i++)
            found += memchr(c->data + c->off[i], 0x01, c->off[i + 1] - c->off[i]) != NULL;
        t[r] = now_s() - t0;
        sink += found;
    }
    (void)sink;
    *res = (struct result){.name = "memchr (read floor)",
                           .events = c->count,
                           .bytes = span_bytes(c, c->count),
                           .parsed = -1,
                           .candidates = -1,
                           .alerts = -1,
                           .expected = -1};
    set_times(res, t, repeat);
}

/* detector_run over the first N events, as a worker runs it. */
static void bench_detector(const struct corpus *c, size_t n, bool prefilter, int repeat,
                           struct result *res)
{
    double t[64];
    struct detector d;
    /* A fixed detection time, as a worker stamps one per window. */
    int64_t now_ms = 1741000000000;
    int errors = 0;
    for (int r = 0; r < repeat; r++) {
        detector_init(&d, PROFILE_ELASTIC, prefilter, 0);
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            json_t *alert = NULL;
            int rc = detector_run(&d, c->data + c->off[i], c->off[i + 1] - c->off[i], NULL, now_ms,
                                  &alert);
            if (rc < 0) {
                if (errors++ < 5)
                    fprintf(stderr, "bench_scan: event %zu: error %d: %s\n", i, rc, d.error);
            }
            json_decref(alert);
        }
        t[r] = now_s() - t0;
    }
    *res = (struct result){.name = prefilter ? "detector, prefilter on" : "detector, prefilter off",
                           .events = n,
                           .bytes = span_bytes(c, n),
                           .parsed = (int64_t)d.stats.parsed,
                           .candidates = (int64_t)d.stats.candidates,
                           .alerts = (int64_t)d.stats.alerts,
                           .expected = (int64_t)hits_in(c, n),
                           .errors = errors};
    set_times(res, t, repeat);
}

static double eps(const struct result *r)
{
    return r->seconds > 0 ? (double)r->events / r->seconds : 0;
}

static double mbps(const struct result *r)
{
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0;
}

static void print_count(int64_t v)
{
    if (v < 0)
        printf(" %10s", "-");
    else
        printf(" %10" PRId64, v);
}

static void print_row(const struct result *r)
{
    printf("%-28s %9zu %8.3f %12.0f %9.1f", r->name, r->events, r->seconds, eps(r), mbps(r));
    print_count(r->candidates);
    print_count(r->parsed);
    print_count(r->alerts);
    printf("\n");
}

static json_t *result_json(const struct result *r)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f}", "name", r->name, "events",
                          (json_int_t)r->events, "bytes", (json_int_t)r->bytes, "seconds",
                          r->seconds, "seconds_best", r->best, "seconds_worst", r->worst,
                          "events_per_s", eps(r), "mb_per_s", mbps(r));
    if (!o)
        die("out of memory");
    if (r->candidates >= 0)
        json_object_set_new(o, "candidates", json_integer(r->candidates));
    if (r->parsed >= 0)
        json_object_set_new(o, "parsed", json_integer(r->parsed));
    if (r->alerts >= 0)
        json_object_set_new(o, "alerts", json_integer(r->alerts));
    if (r->expected >= 0)
        json_object_set_new(o, "expected_alerts", json_integer(r->expected));
    return o;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: bench_scan [OPTION]...\n"
           "Generates a corpus of Winlogbeat 8 events in memory and runs the AmsiEnable detection\n"
           "path over it on one thread, with the prefilter and without it.\n"
           "\n"
           "  --count N           events in the corpus (default 1000000)\n"
           "  --hit-rate N        one AmsiEnable event in every N (default 10000)\n"
           "  --seed S            generator seed (default 1)\n"
           "  --baseline-count N  events the baseline (every event parsed) runs over, from the\n"
           "                      start of the corpus (default 50000; 0 skips it)\n"
           "  --repeat N          repetitions of each fast measurement, median reported\n"
           "                      (default 3, at most 64)\n"
           "  --write FILE        also write the corpus to FILE as NDJSON\n"
           "  --json              print the results as one JSON object\n"
           "  -h, --help          show this help\n"
           "Exit status: 0 when every run raised exactly the expected alerts, 1 when not,\n"
           "2 on a usage error.\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

enum run { R_FLOOR, R_PREFILTER, R_SCALAR, R_DETECT, R_BASELINE, R_COUNT };

static const char *const run_keys[R_COUNT] = {"floor", "prefilter", "scalar", "detector",
                                              "baseline"};

/* "detector,baseline" to a mask of runs; 0 when a name is unknown. */
static unsigned parse_only(const char *s)
{
    unsigned mask = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int r = 0;
        while (r < R_COUNT && !(strlen(run_keys[r]) == n && strncmp(s, run_keys[r], n) == 0))
            r++;
        if (r == R_COUNT)
            return 0;
        mask |= 1u << r;
        s += n;
        if (*s == ',')
            s++;
    }
    return mask;
}

int main(int argc, char **argv)
{
    uint64_t count = 1000000, hit_rate = 10000, seed = 1, baseline = 50000, repeat = 3;
    const char *write_path = NULL;
    bool as_json = false;
    unsigned only = (1u << R_COUNT) - 1;
    enum { O_COUNT = 256, O_HIT, O_SEED, O_BASE, O_REPEAT, O_WRITE, O_JSON, O_ONLY };
    static const struct option opts[] = {
        {"count", required_argument, NULL, O_COUNT},
        {"hit-rate", required_argument, NULL, O_HIT},
        {"seed", required_argument, NULL, O_SEED},
        {"baseline-count", required_argument, NULL, O_BASE},
        {"repeat", required_argument, NULL, O_REPEAT},
        {"write", required_argument, NULL, O_WRITE},
        {"json", no_argument, NULL, O_JSON},
        {"only", required_argument, NULL, O_ONLY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (o) {
        case O_COUNT:
            ok = parse_u64(optarg, &count) && count > 0;
            break;
        case O_HIT:
            ok = parse_u64(optarg, &hit_rate) && hit_rate > 0;
            break;
        case O_SEED:
            ok = parse_u64(optarg, &seed);
            break;
        case O_BASE:
            ok = parse_u64(optarg, &baseline);
            break;
        case O_REPEAT:
            ok = parse_u64(optarg, &repeat) && repeat >= 1 && repeat <= 64;
            break;
        case O_WRITE:
            write_path = optarg;
            break;
        case O_JSON:
            as_json = true;
            break;
        case O_ONLY:
            ok = (only = parse_only(optarg)) != 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "bench_scan: bad value for --%s: %s\n", opts[o - O_COUNT].name, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (baseline > count)
        baseline = count;
    if (baseline == 0)
        only &= ~((1u << R_BASELINE) | (1u << R_SCALAR));

    double t0 = now_s();
    struct corpus c;
    corpus_build(&c, (size_t)count, hit_rate, seed);
    double gen_s = now_s() - t0;
    if (write_path) {
        FILE *f = fopen(write_path, "w");
        if (!f)
            die("cannot open the --write file");
        for (size_t i = 0; i < c.count; i++) {
            fwrite(c.data + c.off[i], 1, c.off[i + 1] - c.off[i], f);
            fputc('\n', f);
        }
        if (fclose(f) != 0)
            die("cannot write the --write file");
    }

    struct result res[R_COUNT];
    if (only & (1u << R_FLOOR))
        bench_floor(&c, (int)repeat, &res[R_FLOOR]);
    if (only & (1u << R_PREFILTER))
        bench_prefilter(&c, c.count, (int)repeat, false, &res[R_PREFILTER]);
    /* The portable version is ~20 times slower: it runs over the baseline's events, once. */
    if (only & (1u << R_SCALAR))
        bench_prefilter(&c, (size_t)baseline, 1, true, &res[R_SCALAR]);
    if (only & (1u << R_DETECT))
        bench_detector(&c, c.count, true, (int)repeat, &res[R_DETECT]);
    if (only & (1u << R_BASELINE))
        bench_detector(&c, (size_t)baseline, false, 1, &res[R_BASELINE]);
    bool have_ratio = (only & (1u << R_DETECT)) && (only & (1u << R_BASELINE));
    double ratio =
        have_ratio && eps(&res[R_BASELINE]) > 0 ? eps(&res[R_DETECT]) / eps(&res[R_BASELINE]) : 0;

    /* Every detector run must raise exactly one alert per AmsiEnable event it saw. */
    bool ok = true;
    for (int r = R_DETECT; r <= R_BASELINE; r++) {
        if (only & (1u << r))
            ok = ok && res[r].alerts == res[r].expected && res[r].errors == 0;
    }
    if (only & (1u << R_DETECT))
        ok = ok && (uint64_t)res[R_DETECT].expected == c.hits;

    if (as_json) {
        json_t *kinds = json_object();
        for (int k = 0; k < K_COUNT; k++)
            json_object_set_new(kinds, kind_names[k], json_integer((json_int_t)c.kinds[k]));
        json_t *runs = json_array();
        for (int r = 0; r < R_COUNT; r++) {
            if (only & (1u << r))
                json_array_append_new(runs, result_json(&res[r]));
        }
        json_t *doc = json_pack(
            "{s:{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:o, s:f}, s:s, s:I, s:o, s:f, s:b}",
            "corpus", "events", (json_int_t)c.count, "bytes", (json_int_t)c.bytes,
            "mean_event_bytes", (double)c.bytes / (double)c.count, "min_event_bytes",
            (json_int_t)c.min_len, "max_event_bytes", (json_int_t)c.max_len, "hit_rate",
            (json_int_t)hit_rate, "amsienable_events", (json_int_t)c.hits, "seed", (json_int_t)seed,
            "kinds", kinds, "generate_seconds", gen_s, "profile", "elastic", "repeat",
            (json_int_t)repeat, "runs", runs, "ratio_prefilter_over_baseline", ratio, "ok", ok);
        if (!doc)
            die("out of memory");
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(doc);
    } else {
        printf("corpus: %zu events, %.1f MB, mean %.0f bytes (min %zu, max %zu), seed %" PRIu64
               ", generated in %.1f s\n",
               c.count, (double)c.bytes / 1e6, (double)c.bytes / (double)c.count, c.min_len,
               c.max_len, seed, gen_s);
        printf("kinds:");
        for (int k = 0; k < K_COUNT; k++)
            printf(" %s %" PRIu64, kind_names[k], c.kinds[k]);
        printf("\nAmsiEnable events: %" PRIu64 " (1 in %" PRIu64 "); profile elastic; one thread; "
               "median of %" PRIu64 " runs (baseline and scalar: 1 run); MB = 10^6 bytes\n\n",
               c.hits, hit_rate, repeat);
        printf("%-28s %9s %8s %12s %9s %10s %10s %10s\n", "run", "events", "seconds", "events/s",
               "MB/s", "candidates", "parsed", "alerts");
        for (int r = 0; r < R_COUNT; r++) {
            if (only & (1u << r))
                print_row(&res[r]);
        }
        if (have_ratio)
            printf("\nratio prefilter/baseline events/s: %.1fx\n", ratio);
        for (int r = R_DETECT; r <= R_BASELINE; r++) {
            if (only & (1u << r))
                printf("%s: %" PRId64 " alerts, %" PRId64 " expected\n", res[r].name, res[r].alerts,
                       res[r].expected);
        }
        printf("result: %s\n", ok ? "OK" : "MISMATCH");
    }
    if (!ok)
        fprintf(stderr, "bench_scan: the alert count is not the number of AmsiEnable events\n");
    corpus_free(&c);
    return ok ? 0 : 1;
}
