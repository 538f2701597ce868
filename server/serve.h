/*
 * serve.h — `traind serve`: opens the store, starts the workers and the
 * HTTP daemon on the state of app.h, and stops them in order.
 */
#ifndef SERVE_H
#define SERVE_H

/* argv[0] is "serve" (or the program name for a bare `traind`). */
int serve_main(int argc, char **argv);

#endif
