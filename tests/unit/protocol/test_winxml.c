/* Windows event XML read by expat: the fields returned for an <Event> document, what is refused
 * (DTDs, entities), the limits, bytes that are not UTF-8 and documents cut short. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/winxml.h"

/* The Sysmon 13 event that set AmsiEnable to 0, as Windows rendered it (shared corpus,
 * evtx/sysmon13-amsienable-real.xml), a few values shortened. */
static const char real_event[] =
    "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>"
    "<Provider Name=\"Microsoft-Windows-Sysmon\" "
    "Guid=\"{5770385f-c22a-43e0-bf4c-06f5698ffbd9}\"></Provider>\n"
    "<EventID Qualifiers=\"\">13</EventID>\n"
    "<Version>2</Version>\n<Level>4</Level>\n<Task>13</Task>\n<Opcode>0</Opcode>\n"
    "<Keywords>0x8000000000000000</Keywords>\n"
    "<TimeCreated SystemTime=\"2025-12-25 10:58:31.890480\"></TimeCreated>\n"
    "<EventRecordID>16031</EventRecordID>\n"
    "<Correlation ActivityID=\"\" RelatedActivityID=\"\"></Correlation>\n"
    "<Execution ProcessID=\"3208\" ThreadID=\"1724\"></Execution>\n"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel>\n"
    "<Computer>swachchhanda</Computer>\n"
    "<Security UserID=\"S-1-5-18\"></Security>\n"
    "</System>\n"
    "<EventData><Data Name=\"RuleName\">-</Data>\n"
    "<Data Name=\"EventType\">SetValue</Data>\n"
    "<Data Name=\"Image\">C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe</Data>\n"
    "<Data Name=\"TargetObject\">HKU\\S-1-5-21-1001\\Software\\Microsoft\\Windows "
    "Script\\Settings\\AmsiEnable</Data>\n"
    "<Data Name=\"Details\">DWORD (0x00000000)</Data>\n"
    "</EventData>\n"
    "</Event>";

struct want {
    enum winxml_field field;
    const char *name; /* WINXML_DATA; NULL: unnamed */
    const char *value;
};

static const struct want real_items[] = {
    {WINXML_PROVIDER_NAME, NULL, "Microsoft-Windows-Sysmon"},
    {WINXML_PROVIDER_GUID, NULL, "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"},
    {WINXML_EVENT_ID, NULL, "13"},
    {WINXML_VERSION, NULL, "2"},
    {WINXML_TIME_CREATED, NULL, "2025-12-25 10:58:31.890480"},
    {WINXML_RECORD_ID, NULL, "16031"},
    {WINXML_PROCESS_ID, NULL, "3208"},
    {WINXML_THREAD_ID, NULL, "1724"},
    {WINXML_CHANNEL, NULL, "Microsoft-Windows-Sysmon/Operational"},
    {WINXML_COMPUTER, NULL, "swachchhanda"},
    {WINXML_USER_ID, NULL, "S-1-5-18"},
    {WINXML_DATA, "RuleName", "-"},
    {WINXML_DATA, "EventType", "SetValue"},
    {WINXML_DATA, "Image", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"},
    {WINXML_DATA, "TargetObject",
     "HKU\\S-1-5-21-1001\\Software\\Microsoft\\Windows Script\\Settings\\AmsiEnable"},
    {WINXML_DATA, "Details", "DWORD (0x00000000)"},
};
#define REAL_COUNT (sizeof(real_items) / sizeof(real_items[0]))

static int parse_str(const char *s, struct winxml_event *ev)
{
    return winxml_parse(s, strlen(s), NULL, ev);
}

static void expect_item(const struct winxml_event *ev, size_t i, const struct want *w)
{
    cr_assert_lt(i, ev->count, "item %zu missing (%zu items)", i, ev->count);
    const struct winxml_item *it = &ev->items[i];
    cr_expect_eq(it->field, w->field, "item %zu: field %d, expected %d", i, it->field, w->field);
    if (w->name) {
        cr_expect(it->name && it->name_len == strlen(w->name) && strcmp(it->name, w->name) == 0,
                  "item %zu: name \"%s\", expected \"%s\"", i, it->name ? it->name : "(none)",
                  w->name);
    } else {
        cr_expect_null(it->name, "item %zu has no name", i);
    }
    cr_expect(it->value_len == strlen(w->value) && strcmp(it->value, w->value) == 0,
              "item %zu: value \"%s\", expected \"%s\"", i, it->value, w->value);
}

static void expect_items(const struct winxml_event *ev, const struct want *w, size_t n)
{
    cr_expect_eq(ev->count, n, "%zu items, expected %zu", ev->count, n);
    for (size_t i = 0; i < n && i < ev->count; i++)
        expect_item(ev, i, &w[i]);
}

/* ---- Fields ------------------------------------------------------------------------------- */

Test(winxml, reads_the_system_fields_and_event_data_of_a_real_event_in_order)
{
    struct winxml_event ev;
    cr_assert_eq(parse_str(real_event, &ev), 0);
    cr_expect_eq(ev.error, WINXML_OK);
    cr_expect_not(ev.mended);
    expect_items(&ev, real_items, REAL_COUNT);
    winxml_event_free(&ev);
    cr_expect_null(ev.items);
    cr_expect_eq(ev.count, 0);
    winxml_event_free(&ev); /* twice is harmless */
    winxml_event_free(NULL);
}

Test(winxml, attributes_come_in_a_fixed_order_whatever_their_order_in_the_tag)
{
    struct winxml_event ev;
    cr_assert_eq(parse_str("<Event><System><Provider Guid=\"{g}\" Name=\"P\"/>"
                           "<Execution ThreadID=\"2\" ProcessID=\"1\"/><Channel/></System></Event>",
                           &ev),
                 0);
    const struct want w[] = {
        {WINXML_PROVIDER_NAME, NULL, "P"}, {WINXML_PROVIDER_GUID, NULL, "{g}"},
        {WINXML_PROCESS_ID, NULL, "1"},    {WINXML_THREAD_ID, NULL, "2"},
        {WINXML_CHANNEL, NULL, ""},
    };
    expect_items(&ev, w, sizeof(w) / sizeof(w[0]));
    winxml_event_free(&ev);
}

Test(winxml, an_empty_attribute_is_an_empty_value)
{
    /* The first text stored is empty: regress-empty-attribute-first-text. */
    struct winxml_event ev;
    cr_assert_eq(parse_str("<Event><System><Provider Name=\"\"/></System></Event>", &ev), 0);
    const struct want w[] = {{WINXML_PROVIDER_NAME, NULL, ""}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

Test(winxml, every_data_element_is_an_item_named_or_not_empty_or_not)
{
    struct winxml_event ev;
    cr_assert_eq(parse_str("<Event><EventData><Data>one &#x263A;</Data><Data/>"
                           "<Data Name=\"\"><![CDATA[a <b> & c]]></Data>"
                           "<Data Name=\"k\">  spaced  </Data><Binary>00</Binary>"
                           "<Data Name=\"n\">x<i>inner</i>y</Data></EventData></Event>",
                           &ev),
                 0);
    const struct want w[] = {
        {WINXML_DATA, NULL, "one \xE2\x98\xBA"},
        {WINXML_DATA, NULL, ""},
        {WINXML_DATA, "", "a <b> & c"},
        {WINXML_DATA, "k", "  spaced  "},
        {WINXML_DATA, "n", "xy"},
    };
    expect_items(&ev, w, sizeof(w) / sizeof(w[0]));
    winxml_event_free(&ev);
}

Test(winxml, decodes_the_predefined_entities_and_character_references)
{
    struct winxml_event ev;
    cr_assert_eq(parse_str("<Event><EventData><Data Name=\"a&amp;b&#x41;\">&lt;&gt;&amp;&quot;"
                           "&apos;&#65;msi&#x45;nable&#x10FFFF;</Data></EventData></Event>",
                           &ev),
                 0);
    const struct want w[] = {
        {WINXML_DATA, "a&bA", "<>&\"'AmsiEnable\xF4\x8F\xBF\xBF"},
    };
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

Test(winxml, leaves_out_what_is_not_system_or_event_data)
{
    struct winxml_event ev;
    cr_assert_eq(
        parse_str("<?xml version=\"1.0\"?><!-- c --><Event><?pi x?>"
                  "<UserData><Data Name=\"u\">no</Data><EventID>9</EventID></UserData>"
                  "<System><Level>4</Level><Data Name=\"s\">no</Data>"
                  "<Provider><Name>no</Name></Provider><EventID>1<b>2</b></EventID></System>"
                  "<EventData><Complex><Data Name=\"deep\">no</Data></Complex></EventData>"
                  "<RenderingInfo><Message>no</Message></RenderingInfo></Event>",
                  &ev),
        0);
    const struct want w[] = {{WINXML_EVENT_ID, NULL, "1"}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

Test(winxml, line_ends_and_attribute_whitespace_as_xml_reads_them)
{
    struct winxml_event ev;
    cr_assert_eq(parse_str("<Event>\r\n<EventData><Data Name=\"a\tb\">1\r\n2\r3</Data>"
                           "</EventData></Event>",
                           &ev),
                 0);
    const struct want w[] = {{WINXML_DATA, "a b", "1\n2\n3"}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

Test(winxml, names_elements_as_written_without_namespaces)
{
    struct winxml_event ev;
    cr_expect_eq(parse_str("<e:Event xmlns:e=\"x\"><e:System><e:EventID>1</e:EventID>"
                           "</e:System></e:Event>",
                           &ev),
                 -EBADMSG);
    cr_expect_eq(ev.error, WINXML_ERR_NOT_EVENT);
    cr_expect_eq(ev.count, 0);
    winxml_event_free(&ev);
    cr_expect_eq(
        parse_str("<Events><Event><System><EventID>1</EventID></System></Event></Events>", &ev),
        -EBADMSG);
    cr_expect_eq(ev.error, WINXML_ERR_NOT_EVENT);
    cr_expect_eq(ev.count, 0);
    winxml_event_free(&ev);
}

Test(winxml, reads_nothing_after_the_end_of_event)
{
    struct winxml_event ev;
    cr_expect_eq(parse_str("<Event><System><EventID>1</EventID></System></Event> trailer <x>"
                           "<Event><System><EventID>2</EventID></System></Event>",
                           &ev),
                 0);
    const struct want w[] = {{WINXML_EVENT_ID, NULL, "1"}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

Test(winxml, reads_utf8_whatever_the_declaration_says)
{
    struct winxml_event ev;
    cr_assert_eq(parse_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Event><System>"
                           "<Computer>caf\xC3\xA9</Computer></System></Event>",
                           &ev),
                 0);
    const struct want w[] = {{WINXML_COMPUTER, NULL, "caf\xC3\xA9"}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
    cr_expect_eq(parse_str("<?xml version=\"1.0\" encoding=\"UTF-16\"?><Event><System>"
                           "<Computer>c</Computer></System></Event>",
                           &ev),
                 0);
    winxml_event_free(&ev);
}

/* ---- Refused: DTDs and entities ---------------------------------------------------------- */

Test(winxml, refuses_a_doctype_before_reading_it)
{
    static const char *const docs[] = {
        "<!DOCTYPE Event><Event><System><EventID>1</EventID></System></Event>",
        /* An internal entity that would spell the value. */
        "<!DOCTYPE Event [<!ENTITY a \"AmsiEnable\">]><Event><EventData>"
        "<Data Name=\"TargetObject\">&a;</Data></EventData></Event>",
        /* External entities: a file and a URL (XXE). */
        "<!DOCTYPE Event [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Event><EventData>"
        "<Data>&x;</Data></EventData></Event>",
        "<!DOCTYPE Event SYSTEM \"http://127.0.0.1:1/evil.dtd\"><Event/>",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Event [<!ENTITY % p SYSTEM "
        "\"http://127.0.0.1:1/\">%p;]>"
        "<Event/>",
        /* Billion laughs. */
        "<!DOCTYPE Event [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d "
        "\"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f "
        "\"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\"><!ENTITY h "
        "\"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">]>"
        "<Event><EventData><Data>&h;</Data></EventData></Event>",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct winxml_event ev;
        cr_expect_eq(parse_str(docs[i], &ev), -EBADMSG, "document %zu", i);
        cr_expect_eq(ev.error, WINXML_ERR_DOCTYPE, "document %zu: %s", i,
                     winxml_error_name(ev.error));
        cr_expect_eq(ev.count, 0, "document %zu: nothing is read", i);
        winxml_event_free(&ev);
    }
}

Test(winxml, an_entity_that_is_not_predefined_stops_the_reading_there)
{
    struct winxml_event ev;
    cr_expect_eq(parse_str("<Event><System><EventID>13</EventID></System><EventData>"
                           "<Data Name=\"a\">1</Data><Data Name=\"b\">&amsi;</Data>"
                           "<Data Name=\"c\">3</Data></EventData></Event>",
                           &ev),
                 -EBADMSG);
    cr_expect_eq(ev.error, WINXML_ERR_ENTITY);
    const struct want w[] = {{WINXML_EVENT_ID, NULL, "13"}, {WINXML_DATA, "a", "1"}};
    expect_items(&ev, w, 2);
    winxml_event_free(&ev);
    cr_expect_eq(parse_str("<Event><System><Provider Name=\"&x;\"/></System></Event>", &ev),
                 -EBADMSG);
    cr_expect_eq(ev.error, WINXML_ERR_ENTITY);
    cr_expect_eq(ev.count, 0);
    winxml_event_free(&ev);
}

/* ---- Limits ----------------------------------------------------------------------------- */

static char *nested(size_t depth, size_t *len)
{
    /* <Event><a><a>...</a></a></Event>: DEPTH elements in all. */
    size_t n = 7 + 8 + (depth - 1) * 7;
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    size_t o = 0;
    o += (size_t)sprintf(s + o, "<Event>");
    for (size_t i = 1; i < depth; i++)
        o += (size_t)sprintf(s + o, "<a>");
    for (size_t i = 1; i < depth; i++)
        o += (size_t)sprintf(s + o, "</a>");
    o += (size_t)sprintf(s + o, "</Event>");
    *len = o;
    return s;
}

Test(winxml, elements_nested_deeper_than_the_limit_stop_the_reading)
{
    struct winxml_limits l;
    winxml_limits_default(&l);
    cr_expect_eq(l.max_depth, 64);
    cr_expect_eq(l.max_bytes, (size_t)16 << 20);
    cr_expect_eq(l.max_memory, (size_t)64 << 20);
    struct winxml_event ev;
    size_t n;
    char *s = nested(64, &n);
    cr_expect_eq(winxml_parse(s, n, &l, &ev), 0);
    winxml_event_free(&ev);
    free(s);
    s = nested(65, &n);
    cr_expect_eq(winxml_parse(s, n, &l, &ev), -EMSGSIZE);
    cr_expect_eq(ev.error, WINXML_ERR_DEPTH);
    winxml_event_free(&ev);
    free(s);
    /* 100,000 deep (1.4 MB): stopped at the limit, no recursion, little more than the bytes. */
    s = nested(100000, &n);
    l.max_memory = 2 * n;
    cr_expect_eq(winxml_parse(s, n, &l, &ev), -EMSGSIZE);
    cr_expect_eq(ev.error, WINXML_ERR_DEPTH);
    winxml_event_free(&ev);
    free(s);
    /* The System fields read before the deep part stay. */
    l.max_depth = 3;
    cr_expect_eq(parse_str("<Event><System><EventID>4</EventID><Execution><x/></Execution>"
                           "</System></Event>",
                           &ev),
                 0, "the default depth allows it");
    winxml_event_free(&ev);
    static const char doc[] = "<Event><System><EventID>4</EventID><Execution><x/></Execution>"
                              "</System></Event>";
    cr_expect_eq(winxml_parse(doc, sizeof(doc) - 1, &l, &ev), -EMSGSIZE);
    const struct want w[] = {{WINXML_EVENT_ID, NULL, "4"}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

Test(winxml, a_document_over_the_size_limit_is_refused_before_anything_is_allocated)
{
    struct winxml_limits l;
    winxml_limits_default(&l);
    l.max_bytes = sizeof(real_event) - 2;
    l.max_memory = 0; /* any allocation would fail with WINXML_ERR_MEMORY */
    struct winxml_event ev;
    cr_expect_eq(winxml_parse(real_event, sizeof(real_event) - 1, &l, &ev), -EMSGSIZE);
    cr_expect_eq(ev.error, WINXML_ERR_SIZE);
    cr_expect_eq(ev.count, 0);
    winxml_event_free(&ev);
    l.max_bytes = sizeof(real_event) - 1;
    l.max_memory = (size_t)64 << 20;
    cr_expect_eq(winxml_parse(real_event, sizeof(real_event) - 1, &l, &ev), 0);
    winxml_event_free(&ev);
}

Test(winxml, every_allocation_counts_against_the_memory_limit)
{
    struct winxml_limits l;
    winxml_limits_default(&l);
    struct winxml_event ev;
    /* Too little for expat's parser: nothing is read. */
    l.max_memory = 64;
    cr_expect_eq(winxml_parse(real_event, sizeof(real_event) - 1, &l, &ev), -EMSGSIZE);
    cr_expect_eq(ev.error, WINXML_ERR_MEMORY);
    winxml_event_free(&ev);
    /* A real event needs well under 64 KiB. */
    l.max_memory = 64 << 10;
    cr_expect_eq(winxml_parse(real_event, sizeof(real_event) - 1, &l, &ev), 0);
    winxml_event_free(&ev);
    /* Huge attribute values and thousands of attributes or names cost memory, within the
     * limit, at every size: a refusal or a document read, never more. */
    size_t big = 1 << 20;
    char *s = malloc(big + 64);
    cr_assert_not_null(s);
    int n = sprintf(s, "<Event><System><Provider Name=\"");
    memset(s + n, 'A', big);
    n += (int)big;
    n += sprintf(s + n, "\"/></System></Event>");
    for (size_t mem = 1 << 10; mem <= (size_t)16 << 20; mem *= 2) {
        l.max_memory = mem;
        int rc = winxml_parse(s, (size_t)n, &l, &ev);
        cr_expect(rc == 0 || (rc == -EMSGSIZE && ev.error == WINXML_ERR_MEMORY),
                  "max_memory %zu: %d %s", mem, rc, winxml_error_name(ev.error));
        if (mem >= (size_t)8 << 20) {
            cr_expect_eq(rc, 0, "max_memory %zu", mem);
            cr_expect_eq(ev.count, 1);
            cr_expect_eq(ev.items[0].value_len, big);
        }
        winxml_event_free(&ev);
    }
    free(s);
}

Test(winxml, attributes_by_the_thousand_and_huge_names)
{
    size_t n = 0, cap = 1 << 20;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    n += (size_t)sprintf(s + n, "<Event><System><Provider");
    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(s + n, " a%d=\"%d\"", i, i);
    n += (size_t)sprintf(s + n, " Name=\"P\"/><");
    memset(s + n, 'N', 100000);
    n += 100000;
    n += (size_t)sprintf(s + n, "/><EventID>7</EventID></System></Event>");
    cr_assert_lt(n, cap);
    struct winxml_event ev;
    cr_expect_eq(winxml_parse(s, n, NULL, &ev), 0);
    const struct want w[] = {{WINXML_PROVIDER_NAME, NULL, "P"}, {WINXML_EVENT_ID, NULL, "7"}};
    expect_items(&ev, w, 2);
    winxml_event_free(&ev);
    /* A duplicate attribute is not well-formed. */
    cr_expect_eq(
        parse_str("<Event><System><Provider Name=\"a\" Name=\"b\"/></System></Event>", &ev),
        -EBADMSG);
    cr_expect_eq(ev.error, WINXML_ERR_SYNTAX);
    cr_expect_eq(ev.count, 0);
    winxml_event_free(&ev);
    free(s);
}

/* ---- Bytes that are not UTF-8 ------------------------------------------------------------- */

Test(winxml, bytes_that_are_not_utf8_or_not_xml_characters_are_read_as_replacement_characters)
{
    struct winxml_event ev;
    static const char doc[] = "<Event><System><Computer>caf\xE9</Computer></System><EventData>"
                              "<Data Name=\"n\xFF\">a\x01"
                              "b\xEF\xBF\xBE"
                              "c\xED\xA0\x80"
                              "d\xC0\xAF"
                              "e</Data><Data>\xF4\x90\x80\x80 \xE2\x82</Data>"
                              "<Data>nul\0x</Data></EventData></Event>";
    cr_assert_eq(winxml_parse(doc, sizeof(doc) - 1, NULL, &ev), 0);
    cr_expect(ev.mended);
#define R "\xEF\xBF\xBD"
    const struct want w[] = {
        {WINXML_COMPUTER, NULL, "caf" R},
        {WINXML_DATA, "n" R, "a" R "b" R "c" R R R "d" R R "e"},
        {WINXML_DATA, NULL, R R R R " " R R},
        {WINXML_DATA, NULL, "nul" R "x"},
    };
#undef R
    expect_items(&ev, w, sizeof(w) / sizeof(w[0]));
    winxml_event_free(&ev);
}

Test(winxml, bad_bytes_in_markup_are_still_errors_not_characters)
{
    struct winxml_event ev;
    static const char doc[] = "<Event><System><EventID>1</EventID></System><Event\xFF>";
    cr_expect_eq(winxml_parse(doc, sizeof(doc) - 1, NULL, &ev), -EBADMSG);
    cr_expect_eq(ev.error, WINXML_ERR_SYNTAX);
    cr_expect(ev.mended);
    const struct want w[] = {{WINXML_EVENT_ID, NULL, "1"}};
    expect_items(&ev, w, 1);
    winxml_event_free(&ev);
}

/* ---- Documents cut short and malformed ------------------------------------------------- */

Test(winxml, a_document_cut_anywhere_keeps_the_items_complete_before_the_cut)
{
    size_t n = sizeof(real_event) - 1;
    for (size_t cut = 0; cut < n; cut++) {
        struct winxml_event ev;
        int rc = winxml_parse(real_event, cut, NULL, &ev);
        cr_assert_eq(rc, -EBADMSG, "cut at %zu", cut);
        cr_assert_eq(ev.error, WINXML_ERR_SYNTAX, "cut at %zu: %s", cut,
                     winxml_error_name(ev.error));
        cr_assert_leq(ev.count, REAL_COUNT);
        for (size_t i = 0; i < ev.count; i++)
            expect_item(&ev, i, &real_items[i]);
        /* Once the last Data's end tag is in, every item is. */
        if (cut >= (size_t)(strstr(real_event, "</Data>\n</EventData>") - real_event) + 7)
            cr_assert_eq(ev.count, REAL_COUNT, "cut at %zu", cut);
        winxml_event_free(&ev);
    }
}

Test(winxml, malformed_documents_are_syntax_errors)
{
    static const char *const docs[] = {
        "",
        "   ",
        "no markup",
        "<Event",
        "<Event><System></Event>",
        "<Event><System><EventID>1</EventID></System>",
        "<Event a=b/>",
        "<Event><![CDATA[x</Event>",
        "<Event>& </Event>",
        "<Event>&#0;</Event>",
        "<Event>&#xD800;</Event>",
        "<Event></Event><?xml version=\"1.0\"?>" /* read: what follows is not */,
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct winxml_event ev;
        int rc = parse_str(docs[i], &ev);
        if (i == sizeof(docs) / sizeof(docs[0]) - 1) {
            cr_expect_eq(rc, 0, "document %zu", i);
        } else {
            cr_expect_eq(rc, -EBADMSG, "document %zu", i);
            cr_expect_eq(ev.error, WINXML_ERR_SYNTAX, "document %zu: %s", i,
                         winxml_error_name(ev.error));
        }
        winxml_event_free(&ev);
    }
    struct winxml_event ev;
    cr_expect_eq(winxml_parse(NULL, 0, NULL, &ev), -EBADMSG);
    winxml_event_free(&ev);
    cr_expect_eq(winxml_parse(NULL, 3, NULL, &ev), -EINVAL);
    winxml_event_free(&ev);
}

Test(winxml, error_names_are_stable)
{
    static const char *const names[] = {"ok",    "syntax", "not-event", "doctype", "entity",
                                        "depth", "size",   "memory",    "nomem"};
    for (int e = WINXML_OK; e <= WINXML_ERR_NOMEM; e++)
        cr_expect_str_eq(winxml_error_name((enum winxml_error)e), names[e]);
}
