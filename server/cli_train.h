/*
 * cli_train.h — the `traind train` subcommand.
 */
#ifndef CLI_TRAIN_H
#define CLI_TRAIN_H

/* argv[0] is "train".  Returns the process exit status. */
int cli_train_main(int argc, char **argv);

#endif
