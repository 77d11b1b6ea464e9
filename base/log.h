/* Logging to standard error, one line per record: "LEVEL component: message".
 * Any thread may call log_*; each record is written with a single write(2). */
#ifndef AMSI_BASE_LOG_H
#define AMSI_BASE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Sets the most verbose level written (default LOG_INFO). Call before starting threads. */
void log_set_level(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -EINVAL for any other text. */
int log_parse_level(const char *text, enum log_level *out);

/* Writes one record if LEVEL is enabled. COMPONENT names the module ("scan", "journal"). */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)

#endif
