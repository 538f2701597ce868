/*
 * main.c — the traind program: dispatches to a subcommand.
 */
#include "cli_export.h"
#include "cli_train.h"
#include "config.h"
#include "serve.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: traind <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve      run the training server (the default: `traind` alone serves)\n"
            "  train      train a model definition on data files in the terminal\n"
            "\n"
            "  traind <command> --help   options of a command\n"
            "  traind --version          the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argv[1][0] == '-' && strcmp(argv[1], "--help") && strcmp(argv[1], "-h") &&
                     strcmp(argv[1], "--version")))
        return serve_main(argc, argv);   /* traind [options] serves */
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve"))
        return serve_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return cli_train_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "export"))
        return cli_export_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        printf("\n");
        config_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("traind %s\n", TRAIND_VERSION);
        return 0;
    }
    fprintf(stderr, "traind: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
