/* JSON-lines logger (see log.h). */
#include "lib/log.h"

#include <stdarg.h>
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
