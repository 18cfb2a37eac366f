/* UUIDv7 generation and UUID text checks (see uuid.h). */
#include "lib/uuid.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"

/* Where the rand_a counter starts in a new millisecond: its top bit is 0. */
#define SEED_MASK 0x7ffu
#define COUNTER_MAX 0xfffu

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;  /* timestamp of the last id; guarded by lock */
static unsigned counter;  /* its rand_a; guarded by lock */

static void no_random(const char *what)
{
	fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"no random bytes\",\"detail\":\"%s\"}\n", what);
	abort();
}

static void urandom_fill(unsigned char *p, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		no_random("open /dev/urandom");
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			no_random("read /dev/urandom");
		p += r;
		n -= (size_t)r;
	}
	close(fd);
}

/* getrandom(2); /dev/urandom when the kernel or seccomp policy refuses it. */
static void random_fill(unsigned char *p, size_t n)
{
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			urandom_fill(p, n);
			return;
		}
		p += r;
		n -= (size_t)r;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Monotonicity (RFC 9562 section 6.2, method 1: fixed-length dedicated
 * counter in rand_a). In a new millisecond the 12-bit counter starts at a
 * random value below 0x800, leaving at least 2048 ids of room; each further id
 * in the same millisecond takes the next value. When the counter is spent,
 * or the wall clock is behind the last id, the id keeps the last timestamp
 * (plus one on overflow), so the sequence never goes back. rand_b stays random.
 */
static void next_stamp(unsigned seed, uint64_t *ms, unsigned *rand_a)
{
	uint64_t now = now_ms();

	pthread_mutex_lock(&lock);
	if (now > last_ms) {
		last_ms = now;
		counter = seed & SEED_MASK;
	} else if (counter < COUNTER_MAX) {
		counter++;
	} else {
		last_ms++;
		counter = seed & SEED_MASK;
	}
	*ms = last_ms;
	*rand_a = counter;
	pthread_mutex_unlock(&lock);
}

static void format_uuid(const unsigned char u[16], char out[UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 0xf];
	}
	out[o] = '\0';
}

void uuid7_str(char out[UUID_STR_LEN])
{
	unsigned char rnd[10]; /* 2 bytes counter seed, 8 bytes rand_b */
	unsigned char u[16];
	uint64_t ms;
	unsigned rand_a;

	random_fill(rnd, sizeof(rnd));
	next_stamp((unsigned)rnd[0] << 8 | rnd[1], &ms, &rand_a);

	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | (rand_a >> 8));        /* version 7 */
	u[7] = (unsigned char)rand_a;
	u[8] = (unsigned char)(0x80 | (rnd[2] & 0x3f));      /* variant 10 */
	for (int i = 9; i < 16; i++)
		u[i] = rnd[i - 6];
	format_uuid(u, out);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool uuid_parse_ok(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash_pos ? s[i] != '-' : !is_hex(s[i]))
			return false; /* also stops at a NUL before 36 */
	}
	return s[36] == '\0';
}
