/* A FastAGI load client that reads and writes as Asterisk 22's res_agi.c does.
 *
 * Why C: the Python client (agi_bench.py --client python) spends 0.5-1.1 ms of CPU per call,
 * which on a 2-core machine it takes from the server it measures, and its own event loop
 * adds to the latencies it reports. Asterisk runs each AGI on the channel's own thread, in C,
 * with blocking I/O; so does this client, one thread per call in progress:
 *
 *   connect (Nagle left on: launch_netscript sets no TCP_NODELAY); write the environment one
 *   line per write() (setup_env); then, as run_agi: wait until the socket is readable (poll),
 *   read one command with fgets() from a line-buffered stdio stream (one read() fills its
 *   buffer with all the socket holds, so a command already in the buffer waits for the socket
 *   to become readable again), answer it with one write(), until end of file; close.
 *
 * Latency is connect to end of file. Built and run by agi_bench.py (--client c), which gives
 * the environment block recorded from Asterisk 22 with the markers @NUMBER@ (agi_arg_1) and
 * @UNIQUEID@ (agi_uniqueid) and prints the figures.
 *
 * usage: agi_client PORT TEMPLATE_FILE closed|open N SECONDS SEED FIRST SPAN TENANT CAMPAIGN
 *   closed N: N threads calling back to back; open N: N calls a second, evenly spaced.
 *   A call dials FIRST + a random number below SPAN.
 * output (stdout): "elapsed S", "errors N", "max_start_lag S", then per call
 *   "call LATENCY_S VERDICT RULE STARTED_S" (an empty rule or a missing verdict is "-").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINES 128
#define LINE_MAX_LEN 2048
#define OPEN_THREADS 128
#define POLL_TIMEOUT_MS 5000 /* a server that never answers is an error, not a hang */

typedef struct {
    double started_s; /* since the run began */
    double latency_s;
    char verdict[16];
    char rule[64];
} result_t;

static int port;
static char *template_lines[MAX_LINES];
static int template_count;
static int open_loop;
static long rate_or_threads;
static double seconds;
static uint64_t seed;
static uint64_t first_number;
static uint64_t number_span;
static const char *tenant;
static const char *campaign;

static struct timespec started;
static double end_at;
static long total_calls; /* open loop */
static atomic_long next_call;
static atomic_long call_counter;
static atomic_long errors;
static result_t *results;
static atomic_long result_count;
static long result_capacity;
static pthread_mutex_t lag_lock = PTHREAD_MUTEX_INITIALIZER;
static double max_start_lag;

static double since_start(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

static uint64_t next_random(uint64_t *state) { /* xorshift64* */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

static int write_all(int fd, const char *data, size_t len) { /* ast_carefulwrite */
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The value of a channel variable the dialler set; unset ones are empty. */
static const char *variable(const char *name, size_t len) {
    if (len == 16 && strncmp(name, "DIALGUARD_TENANT", len) == 0) return tenant;
    if (len == 18 && strncmp(name, "DIALGUARD_CAMPAIGN", len) == 0) return campaign;
    return "";
}

/* GET FULL VARIABLE: substitute every ${NAME} in the expression. */
static void substitute(const char *expr, char *out, size_t cap) {
    size_t used = 0;
    while (*expr && used + 1 < cap) {
        const char *close;
        if (expr[0] == '$' && expr[1] == '{' && (close = strchr(expr + 2, '}')) != NULL) {
            const char *value = variable(expr + 2, (size_t)(close - expr - 2));
            size_t vlen = strlen(value);
            if (used + vlen >= cap) break;
            memcpy(out + used, value, vlen);
            used += vlen;
            expr = close + 1;
        } else {
            out[used++] = *expr++;
        }
    }
    out[used] = '\0';
}

static void unquote_into(const char *value, char *out, size_t cap) {
    size_t len = strcspn(value, "\r\n");
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        value++;
        len -= 2;
    }
    if (len >= cap) len = cap - 1;
    memcpy(out, value, len);
    out[len] = '\0';
}

/* Asterisk's answer to one command line (without its LF); notes the verdict variables. */
static void answer(char *command, char *reply, size_t cap, result_t *res) {
    char expanded[LINE_MAX_LEN - 32]; /* room for the reply around it */
    if (strncmp(command, "GET FULL VARIABLE ", 18) == 0) {
        substitute(command + 18, expanded, sizeof expanded);
        snprintf(reply, cap, "200 result=1 (%s)\n", expanded);
    } else if (strncmp(command, "GET VARIABLE ", 13) == 0) {
        const char *name = command + 13;
        const char *value = variable(name, strcspn(name, " "));
        if (*value)
            snprintf(reply, cap, "200 result=1 (%s)\n", value);
        else
            snprintf(reply, cap, "200 result=0\n");
    } else if (strncmp(command, "SET VARIABLE ", 13) == 0) {
        char *name = command + 13;
        char *space = strchr(name, ' ');
        if (space != NULL) {
            *space = '\0';
            if (strcmp(name, "DIALGUARD_VERDICT") == 0)
                unquote_into(space + 1, res->verdict, sizeof res->verdict);
            else if (strcmp(name, "DIALGUARD_RULE") == 0)
                unquote_into(space + 1, res->rule, sizeof res->rule);
        }
        snprintf(reply, cap, "200 result=1\n");
    } else {
        snprintf(reply, cap, "510 Invalid or unknown command\n");
    }
}

/* One AGI call; returns 0 when it ran to the server's end of file. */
static int one_call(uint64_t *rng, result_t *res) {
    char number[24], uniqueid[48], line[LINE_MAX_LEN], reply[LINE_MAX_LEN];
    snprintf(number, sizeof number, "%llu",
             (unsigned long long)(first_number + next_random(rng) % number_span));
    snprintf(uniqueid, sizeof uniqueid, "cbench-%d.%ld", (int)getpid(),
             atomic_fetch_add(&call_counter, 1) + 1);
    memset(res, 0, sizeof *res);

    double t0 = since_start();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    for (int i = 0; i < template_count; i++) { /* setup_env: one write per line */
        const char *tpl = template_lines[i];
        const char *marker = strchr(tpl, '@');
        const char *value = NULL;
        size_t marker_len = 0;
        if (marker && strncmp(marker, "@NUMBER@", 8) == 0) value = number, marker_len = 8;
        if (marker && strncmp(marker, "@UNIQUEID@", 10) == 0) value = uniqueid, marker_len = 10;
        if (value != NULL)
            snprintf(line, sizeof line, "%.*s%s%s", (int)(marker - tpl), tpl, value,
                     marker + marker_len);
        else
            snprintf(line, sizeof line, "%s", tpl);
        if (write_all(fd, line, strlen(line)) < 0) {
            close(fd);
            return -1;
        }
    }
    FILE *readf = fdopen(fd, "r");
    if (readf == NULL) {
        close(fd);
        return -1;
    }
    setlinebuf(readf);
    int status = -1;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, POLL_TIMEOUT_MS);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break; /* the server went silent: an error */
        if (fgets(line, sizeof line, readf) == NULL) {
            status = ferror(readf) ? -1 : 0; /* end of file: the AGI is over */
            break;
        }
        line[strcspn(line, "\n")] = '\0';
        answer(line, reply, sizeof reply, res);
        if (write_all(fd, reply, strlen(reply)) < 0) break;
    }
    fclose(readf);
    res->started_s = t0;
    res->latency_s = since_start() - t0;
    return status;
}

static void keep(const result_t *res) {
    long at = atomic_fetch_add(&result_count, 1);
    if (at < result_capacity) results[at] = *res;
}

static void *closed_worker(void *arg) {
    uint64_t rng = seed + (uint64_t)(intptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    result_t res;
    while (since_start() < end_at) {
        if (one_call(&rng, &res) == 0)
            keep(&res);
        else
            atomic_fetch_add(&errors, 1);
    }
    return NULL;
}

static void *open_worker(void *arg) {
    uint64_t rng = seed + (uint64_t)(intptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    result_t res;
    for (;;) {
        long i = atomic_fetch_add(&next_call, 1);
        if (i >= total_calls) return NULL;
        double due = (double)i / (double)rate_or_threads;
        double wait = due - since_start();
        if (wait > 0) {
            struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        double lag = since_start() - due;
        pthread_mutex_lock(&lag_lock);
        if (lag > max_start_lag) max_start_lag = lag;
        pthread_mutex_unlock(&lag_lock);
        if (one_call(&rng, &res) == 0)
            keep(&res);
        else
            atomic_fetch_add(&errors, 1);
    }
}

static void load_template(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    char buf[LINE_MAX_LEN];
    while (template_count < MAX_LINES && fgets(buf, sizeof buf, f) != NULL)
        template_lines[template_count++] = strdup(buf); /* each keeps its LF */
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 11) {
        fprintf(stderr,
                "usage: %s PORT TEMPLATE closed|open N SECONDS SEED FIRST SPAN TENANT CAMPAIGN\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* as Asterisk: a write to a closed socket is an error */
    port = atoi(argv[1]);
    load_template(argv[2]);
    open_loop = strcmp(argv[3], "open") == 0;
    rate_or_threads = atol(argv[4]);
    seconds = atof(argv[5]);
    seed = strtoull(argv[6], NULL, 10);
    first_number = strtoull(argv[7], NULL, 10);
    number_span = strtoull(argv[8], NULL, 10);
    tenant = argv[9];
    campaign = argv[10];
    if (rate_or_threads <= 0 || seconds <= 0 || number_span == 0) {
        fprintf(stderr, "N, SECONDS and SPAN must be positive\n");
        return 2;
    }

    long threads = open_loop ? OPEN_THREADS : rate_or_threads;
    total_calls = open_loop ? (long)(rate_or_threads * seconds) : 0;
    result_capacity = open_loop ? total_calls : (long)(seconds * 20000) + 1000;
    results = calloc((size_t)result_capacity, sizeof *results);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    if (results == NULL || ids == NULL) return 2;

    clock_gettime(CLOCK_MONOTONIC, &started);
    end_at = seconds;
    for (long t = 0; t < threads; t++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_create(&ids[t], &attr, open_loop ? open_worker : closed_worker,
                       (void *)(intptr_t)t);
        pthread_attr_destroy(&attr);
    }
    for (long t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    double elapsed = since_start();

    long kept = atomic_load(&result_count);
    if (kept > result_capacity) kept = result_capacity;
    printf("elapsed %.6f\nerrors %ld\nmax_start_lag %.6f\n", elapsed, atomic_load(&errors),
           max_start_lag);
    for (long i = 0; i < kept; i++)
        printf("call %.9f %s %s %.6f\n", results[i].latency_s,
               results[i].verdict[0] ? results[i].verdict : "-",
               results[i].rule[0] ? results[i].rule : "-", results[i].started_s);
    return 0;
}
