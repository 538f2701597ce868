/*
 * version.h — the program's version, reported by --version and written
 * into weight files.
 */
#ifndef TRAIND_VERSION_H
#define TRAIND_VERSION_H

#define TRAIND_VERSION "0.1.0"

#endif
