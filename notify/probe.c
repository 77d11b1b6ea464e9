#include "notify/probe.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

struct sink {
    char *p;
    size_t len, cap;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t bytes = size * n;
    size_t take = s->cap > s->len + 1 ? s->cap - s->len - 1 : 0;
    if (take > bytes)
        take = bytes;
    memcpy(s->p + s->len, data, take);
    s->len += take;
    s->p[s->len] = '\0';
    return bytes; /* the rest is read and left out */
}

long probe_get(const char *url, const struct probe_tls *tls, long timeout_ms, char *body,
               size_t bodylen, char *err, size_t errlen)
{
    struct sink s = {body, 0, bodylen};
    char curl_err[CURL_ERROR_SIZE] = "";
    if (bodylen)
        body[0] = '\0';
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "amsiwatch-health/" AMSIWATCH_VERSION);
    if (tls && tls->ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca);
    if (tls && tls->cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert);
    if (tls && tls->key)
        curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key);
    if (tls && tls->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    return status;
}
