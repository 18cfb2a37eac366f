/* JSON-lines logger (see log.h). */
#include "lib/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/timeutil.h"
#include "lib/banned.h"

static enum log_level min_level = LOG_INFO;
static const char *component;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level) { min_level = level; }
enum log_level log_get_level(void) { return min_level; }
void log_set_component(const char *c) { component = c; }

const char *log_level_name(enum log_level level)
{
	return level >= LOG_DEBUG && level <= LOG_ERROR ? level_names[level] : "?";
}

int log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i <= LOG_ERROR; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* A field whose value is NULL is left out (a line carries what is known). */
static void add_field(struct buf *b, const char *key, const char *val)
{
	if (!val)
		return;
	buf_adds(b, ",");
	buf_add_json_str(b, key, strlen(key));
	buf_addc(b, ':');
	buf_add_json_str(b, val, strlen(val));
}

void log_kv(enum log_level level, const char *msg, ...)
{
	if (level < min_level)
		return;
	char ts[32];
	rfc3339_ms(wall_ms(), ts, sizeof(ts));
	struct buf b;
	buf_init(&b);
	buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, level_names[level]);
	if (component)
		add_field(&b, "component", component);
	add_field(&b, "msg", msg);
	va_list ap;
	va_start(ap, msg);
	for (const char *key; (key = va_arg(ap, const char *)) != NULL;)
		add_field(&b, key, va_arg(ap, const char *));
	va_end(ap);
	buf_adds(&b, "}\n");
	ssize_t unused = write(STDERR_FILENO, b.data, b.len);
	(void)unused;
	buf_release(&b);
}

/* Per-library token buckets for log_library; a handful of libraries, looked up by name. */
#define LIBRARY_SLOTS 8
static struct {
	const char *name;
	double tokens;
	int64_t last_ms;
	unsigned long suppressed;
} lib_slots[LIBRARY_SLOTS];
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;

/* True when the line may be written; *suppressed: lines dropped since the last one written. */
static bool library_allow(const char *library, unsigned long *suppressed)
{
	int64_t now = mono_ms();
	bool allow = true;
	pthread_mutex_lock(&lib_lock);
	int i = 0;
	while (i < LIBRARY_SLOTS && lib_slots[i].name && strcmp(lib_slots[i].name, library) != 0)
		i++;
	if (i < LIBRARY_SLOTS) {
		if (!lib_slots[i].name) {
			lib_slots[i].name = library;
			lib_slots[i].tokens = LOG_LIBRARY_BURST;
			lib_slots[i].last_ms = now;
		}
		double t = lib_slots[i].tokens + (double)(now - lib_slots[i].last_ms) * LOG_LIBRARY_PER_S / 1000.0;
		lib_slots[i].tokens = t > LOG_LIBRARY_BURST ? LOG_LIBRARY_BURST : t;
		lib_slots[i].last_ms = now;
		if (lib_slots[i].tokens >= 1) {
			lib_slots[i].tokens -= 1;
			*suppressed = lib_slots[i].suppressed;
			lib_slots[i].suppressed = 0;
		} else {
			lib_slots[i].suppressed++;
			allow = false;
		}
	}
	pthread_mutex_unlock(&lib_lock);
	return allow;
}

void log_library(enum log_level level, const char *library, const char *text)
{
	if (level < min_level)
		return;
	unsigned long dropped = 0;
	if (!library_allow(library, &dropped))
		return;
	size_t n = text ? strlen(text) : 0;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	char line[1024];
	snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), text ? text : "");
	char sup[24];
	snprintf(sup, sizeof(sup), "%lu", dropped);
	log_kv(level, "library", "library", library, "text", line, "suppressed", dropped ? sup : NULL, (const char *)NULL);
}
