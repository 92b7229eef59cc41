/* cli.c - the command line and the error messages of every lab program. */
#include "socklab.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OPTIONS = 16, EXIT_USAGE = 2 };

static const char *prog = "socklab";

const char *program_name(void)
{
    return prog;
}

static void vreport(const char *fmt, va_list ap, int errnum)
{
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    if (errnum != 0)
        fprintf(stderr, ": %s", strerror(errnum));
    fputc('\n', stderr);
}

void die_errno(const char *fmt, ...)
{
    int errnum = errno; /* before anything below can change it */
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap, errnum);
    va_end(ap);
    exit(EXIT_FAILURE);
}

void warn_errno(const char *fmt, ...)
{
    int errnum = errno;
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap, errnum);
    va_end(ap);
    errno = errnum;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap, 0);
    va_end(ap);
    exit(EXIT_FAILURE);
}

void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap, 0);
    va_end(ap);
}

void todo(int step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: TODO step %d: ", prog, step);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " is not written yet (README.md, step %d)\n", step);
    va_end(ap);
    exit(EXIT_FAILURE);
}

static void print_option(FILE *out, const char *flags, const char *help, const char *def)
{
    fprintf(out, "  %-22s %s", flags, help);
    if (def != NULL)
        fprintf(out, " (default %s)", def);
    fputc('\n', out);
}

static void print_usage(FILE *out, const struct cli *cli)
{
    fprintf(out, "usage: %s [-H HOST] [-p PORT]", prog);
    for (const struct cli_option *o = cli->options; o != NULL && o->key != 0; o++) {
        if (o->arg != NULL)
            fprintf(out, " [-%c %s]", o->key, o->arg);
        else
            fprintf(out, " [-%c]", o->key);
    }
    if (cli->operands != NULL)
        fprintf(out, " %s", cli->operands);
    fprintf(out, "\n%s\n\n", cli->summary);
    print_option(out, "-H, --host HOST", cli->host_help, cli->default_host);
    print_option(out, "-p, --port PORT", cli->port_help, cli->default_port);
    for (const struct cli_option *o = cli->options; o != NULL && o->key != 0; o++) {
        char flags[64];
        snprintf(flags, sizeof flags, "-%c, --%s%s%s", o->key, o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        print_option(out, flags, o->help, NULL);
    }
    print_option(out, "-h, --help", "show this help and exit", NULL);
}

static noreturn void usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static noreturn void usage_error(const struct cli *cli, const char *fmt, ...)
{
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vreport(fmt, ap, 0);
        va_end(ap);
    }
    print_usage(stderr, cli);
    exit(EXIT_USAGE);
}

bool parse_size(const char *text, size_t min, size_t max, size_t *out)
{
    if (text[0] < '0' || text[0] > '9') /* strtoull would accept " 7" and "-7" */
        return false;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max)
        return false;
    *out = (size_t)value;
    return true;
}

bool parse_seconds(const char *text, double max, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value > 0 && value <= max))
        return false;
    *out = value;
    return true;
}

static bool valid_port(const char *text, bool may_be_zero)
{
    size_t port;
    return parse_size(text, may_be_zero ? 0 : 1, 65535, &port);
}

/* Builds getopt_long's tables: "H:p:h" plus one entry per extra option. */
static void build_tables(const struct cli *cli, char *shorts, struct option *longs)
{
    static const struct option common[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
    };
    strcpy(shorts, ":H:p:h"); /* leading ':' : report a missing value as ':' */
    int n = 0;
    for (; n < 3; n++)
        longs[n] = common[n];
    for (const struct cli_option *o = cli->options; o != NULL && o->key != 0; o++, n++) {
        char one[3] = {(char)o->key, o->arg ? ':' : '\0', '\0'};
        strcat(shorts, one);
        longs[n] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->key};
    }
    longs[n] = (struct option){0};
}

void cli_parse(struct cli *cli, int argc, char **argv)
{
    /* stdout is a pipe when the harness runs us, and pipes are fully buffered by default:
     * a "listening on" line could sit in our buffer while the harness waits for it. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    prog = slash != NULL ? slash + 1 : argc > 0 ? argv[0] : prog;

    char shorts[3 * MAX_OPTIONS + 8];
    struct option longs[MAX_OPTIONS + 4];
    build_tables(cli, shorts, longs);

    cli->host = cli->default_host;
    cli->port = cli->default_port;
    opterr = 0; /* we print our own messages */
    int key;
    while ((key = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (key) {
        case 'h':
            print_usage(stdout, cli);
            exit(EXIT_SUCCESS);
        case 'H':
            cli->host = optarg;
            break;
        case 'p':
            if (!valid_port(optarg, cli->port_may_be_zero))
                usage_error(cli, "bad port '%s': expected a number from %d to 65535", optarg,
                            cli->port_may_be_zero ? 0 : 1);
            cli->port = optarg;
            break;
        case ':':
            usage_error(cli, "option '%s' needs a value", argv[optind - 1]);
        case '?':
            usage_error(cli, "unknown option '%s'", argv[optind - 1]);
        default:
            if (!cli->on_option(cli->ctx, key, optarg))
                usage_error(cli, "bad value '%s' for -%c", optarg ? optarg : "", key);
        }
    }
    if (cli->port == NULL)
        usage_error(cli, "the port is required: -p PORT");
    cli->operand = argv + optind;
    cli->operand_count = argc - optind;
    if (cli->operand_count < cli->min_operands || cli->operand_count > cli->max_operands)
        usage_error(cli,
                    cli->operand_count < cli->min_operands ? "missing operand"
                                                           : "unexpected operand '%s'",
                    argv[argc - 1]);
}
