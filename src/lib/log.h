/*
 * Structured logs: one JSON object per line on stderr, written with a single
 * write(2) so lines from several threads never interleave. Fields are
 * key/value string pairs ending with NULL; the macros add the NULL. A pair
 * whose value is NULL is left out of the line.
 *
 *   log_info("migration applied", "version", "3", "file", name);
 *
 * Never pass a secret as a value: there is no redaction at this level (the
 * configuration module redacts URLs before they are logged).
 */
#ifndef ORCH_LIB_LOG_H
#define ORCH_LIB_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* 0 and *out set when name is debug|info|warn|error; -1 otherwise. */
int log_parse_level(const char *name, enum log_level *out);
/* "debug", "info", "warn" or "error"; static. */
const char *log_level_name(enum log_level level);
/* Sets a field added to every line (e.g. the subcommand); borrowed, static. */
void log_set_component(const char *component);

void log_kv(enum log_level level, const char *msg, ...);

/*
 * A line a library wrote itself (libmicrohttpd's error log, libpq's notices
 * and errors, gRPC core, nats.c): logged as {"msg":"library","library":...,
 * "text":...} with the trailing newline cut. Rate-limited per library name
 * (a burst of LOG_LIBRARY_BURST lines, then LOG_LIBRARY_PER_S a second); the
 * next line let through carries "suppressed" with how many were dropped.
 * library: a static string. Thread-safe.
 */
#define LOG_LIBRARY_BURST 20
#define LOG_LIBRARY_PER_S 5
void log_library(enum log_level level, const char *library, const char *text);

#define log_debug(...) log_kv(LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define log_info(...) log_kv(LOG_INFO, __VA_ARGS__, (const char *)0)
#define log_warn(...) log_kv(LOG_WARN, __VA_ARGS__, (const char *)0)
#define log_error(...) log_kv(LOG_ERROR, __VA_ARGS__, (const char *)0)

#endif
