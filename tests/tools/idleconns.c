/*
 * idleconns: opens COUNT TCP connections to HOST:PORT and holds them for at
 * most SECONDS, for the connection-limit tests (bounded in count and time,
 * loopback only).
 *
 *   idleconns 127.0.0.1 25080 5000 30 [idle|slow]
 *
 * idle: the connections send nothing. slow (slowloris): each sends the
 * start of a request and then one more header byte a second, never ending
 * the headers. Prints "open N" once the connections are up (N: how many
 * connected), then "closed-by-peer M" each second (how many the server has
 * closed so far), and exits after SECONDS or on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: idleconns HOST PORT COUNT SECONDS [idle|slow]\n");
		return 2;
	}
	int count = atoi(argv[3]), seconds = atoi(argv[4]);
	int slow = argc > 5 && strcmp(argv[5], "slow") == 0;
	if (count < 1 || count > 50000 || seconds < 1 || seconds > 600) {
		fprintf(stderr, "idleconns: COUNT 1..50000, SECONDS 1..600\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)count + 64) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)count + 64 ? (rlim_t)count + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "idleconns: HOST must be an IPv4 address\n");
		return 2;
	}
	int *fds = calloc((size_t)count, sizeof(int));
	char *closed = calloc((size_t)count, 1);
	int open = 0;
	for (int i = 0; i < count && !stop; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(fd);
			break;
		}
		fcntl(fd, F_SETFL, O_NONBLOCK);
		if (slow) {
			const char *start = "POST /v1/sms/send HTTP/1.1\r\nHost: x\r\nX-Slow: ";
			ssize_t unused = write(fd, start, strlen(start));
			(void)unused;
		}
		fds[open++] = fd;
	}
	printf("open %d\n", open);
	fflush(stdout);
	time_t end = time(NULL) + seconds;
	while (!stop && time(NULL) < end) {
		sleep(1);
		int gone = 0;
		for (int i = 0; i < open; i++) {
			if (!closed[i]) {
				char b[256];
				ssize_t n = read(fds[i], b, sizeof(b));
				if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
					closed[i] = 1;
				else if (slow && write(fds[i], "a", 1) < 0 && errno != EAGAIN)
					closed[i] = 1;
			}
			gone += closed[i];
		}
		printf("closed-by-peer %d\n", gone);
		fflush(stdout);
	}
	for (int i = 0; i < open; i++)
		close(fds[i]);
	free(fds);
	free(closed);
	return 0;
}
